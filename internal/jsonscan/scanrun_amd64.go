//go:build !purego

package jsonscan

// unquoteCopy is UnquoteAt from the string's first escape, at b[j].
func unquoteCopy(b []byte, i, j int, scratch []byte) (end int, s, grown []byte, err error) {
	return unquoteRuns(b, i, j, scratch, scanRun)
}

// scanRun decodes b from j into d from n, copying plain bytes and
// decoding the two-byte escapes (\n, \t, \", …), and returns where it
// stopped in both: at a '"', a control byte, a \u escape, an invalid
// escape, or where fewer than 80 bytes of b are left (its 16-byte loads
// stay inside b).
//
// # Notes
//
// It stores 16 bytes at a time: d must have room for 16 bytes past n plus
// what is left of b from j (unquoteDst makes sure), and bytes of d past the
// returned n are garbage. Assembly in scanrun_amd64.s.
//
//go:noescape
func scanRun(d, b []byte, j, n int) (j2, n2 int)

// skipRun returns the offset of the first byte of b from j that is a '"',
// a control byte or the '\\' of anything but a two-byte escape (\n, \", …),
// or an offset where fewer than 64 bytes of b are left: what scanString's
// byte loop would stop at, found 64 bytes per step. Assembly in
// scanrun_amd64.s.
//
//go:noescape
func skipRun(b []byte, j int) int
