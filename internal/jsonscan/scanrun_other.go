//go:build !amd64 || purego

package jsonscan

// unquoteCopy is UnquoteAt from the string's first escape, at b[j]: the
// 64-byte block loop, the faster of the two in portable Go.
func unquoteCopy(b []byte, i, j int, scratch []byte) (end int, s, grown []byte, err error) {
	return unquoteBlocks(b, i, j, scratch)
}

// scanRun is scanRunGeneric where there is no assembly kernel (only the
// tests use it).
func scanRun(d, b []byte, j, n int) (int, int) { return scanRunGeneric(d, b, j, n) }

// skipRun skips nothing where there is no assembly kernel: scanString's
// word loop does the work.
func skipRun(_ []byte, j int) int { return j }
