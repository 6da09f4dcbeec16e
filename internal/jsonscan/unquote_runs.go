package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// unquoteRuns is UnquoteAt from the string's first escape, at b[j], built
// on scan (scanRun; the tests pass scanRunGeneric too): a kernel that copies plain bytes and decodes two-byte escapes
// without returning, 16 bytes per step on amd64 (scanrun_amd64.s). What it
// stops at (the closing quote, a \u escape, a fault, the last 15 bytes) is
// handled here, one byte or escape at a time, exactly as unquoteBlocks
// handles it.
//
// On amd64 the Go compiler keeps unquoteBlocks' loop state on the stack
// (eleven live values), and its SWAR block mask was 37% of the time: the
// kernel in assembly decodes the bench's 100 KiB prompt of source code in
// about half the CPU time (bench/RESULTS.md, session 9).
func unquoteRuns(b []byte, i, j int, scratch []byte, scan func(d, b []byte, j, n int) (int, int)) (end int, s, grown []byte, err error) {
	start := len(scratch)
	d, n := unquoteDst(b, i, j, scratch)
	for {
		// b[j] is '"', '\\' or a control byte.
		switch c := b[j]; {
		case c == '"':
			return j + 1, d[start:n], d[:n], nil
		case c != '\\':
			return j, nil, d[:n], syntaxErr(j, "control character in string")
		case j+1 >= len(b):
			return j, nil, d[:n], syntaxErr(j, "unterminated escape")
		}
		if e := unescapeByte[b[j+1]]; e != 0 {
			d[n] = e
			n++
			j += 2
		} else { // \u or an invalid escape; at most 4 bytes out
			var out []byte
			if out, j, err = appendEscape(d[:n], b, j); err != nil {
				return j, nil, d[:n], err
			}
			n = len(out)
		}
		j, n = scan(d, b, j, n)
		// scanRun stops at a byte it does not decode, or where fewer
		// than 16 bytes are left: copy the plain bytes up to the next
		// special one (none when it stopped at one).
		p := nextSpecial(b, j)
		n += copy(d[n:], b[j:p])
		if j = p; j >= len(b) {
			return len(b), nil, d[:n], syntaxErr(i, "unterminated string")
		}
	}
}

// scanRunGeneric is scanRun in portable Go, eight bytes per step.
func scanRunGeneric(d, b []byte, j, n int) (int, int) {
	for j+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[j:])
		binary.LittleEndian.PutUint64(d[n:], x)
		m := special(x)
		if m == 0 {
			j, n = j+8, n+8
			continue
		}
		k := bits.TrailingZeros64(m) >> 3 // exact for the lowest flagged byte
		j, n = j+k, n+k
		if b[j] != '\\' || j+1 >= len(b) {
			return j, n
		}
		e := unescapeByte[b[j+1]]
		if e == 0 {
			return j, n
		}
		d[n] = e
		j, n = j+2, n+1
	}
	return j, n
}
