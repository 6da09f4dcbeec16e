package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// unquoteRuns is UnquoteAt from the string's first escape, at b[j], built
// on scan (scanRun; the tests pass scanRunGeneric too): a kernel that
// copies plain bytes and decodes two-byte escapes without returning, in
// 64-byte blocks on amd64 (scanrun_amd64.s). What it stops at (the closing
// quote, a \u escape, a fault, the last 80 bytes) is handled here, one
// byte or escape at a time, exactly as unquoteBlocks handles it.
//
// On amd64 the Go compiler keeps unquoteBlocks' loop state on the stack
// (eleven live values), and its SWAR block mask was 37% of the time: the
// kernel in assembly decodes the bench's 100 KiB prompt of source code in
// about a quarter of the CPU time (bench/RESULTS.md, session 9).
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
		} else if r, ok := hexRune(b, j); ok {
			n += putRune(d[n:], r)
			j += 6
		} else { // a surrogate, or an invalid escape; at most 4 bytes out
			var out []byte
			if out, j, err = appendEscape(d[:n], b, j); err != nil {
				return j, nil, d[:n], err
			}
			n = len(out)
		}
		if j < len(b) && (b[j] == '\\' || b[j] == '"') {
			// Another escape (text that an ASCII-only encoder wrote has
			// one per character) or the end: scan would stop at once.
			continue
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

// hexDigit maps a byte to its value as a hex digit, 0xff for the others.
var hexDigit = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// hexRune decodes the escape at b[j] == '\\' if it is a \u escape of a
// code point outside the surrogates: appendEscape decodes the others (and
// reports the faults).
func hexRune(b []byte, j int) (rune, bool) {
	if j+6 > len(b) || b[j+1] != 'u' {
		return 0, false
	}
	h0, h1, h2, h3 := hexDigit[b[j+2]], hexDigit[b[j+3]], hexDigit[b[j+4]], hexDigit[b[j+5]]
	if (h0|h1|h2|h3)&0xf0 != 0 {
		return 0, false
	}
	r := rune(h0)<<12 | rune(h1)<<8 | rune(h2)<<4 | rune(h3)
	return r, r < 0xd800 || r > 0xdfff
}

// putRune writes r (below 0x10000, not a surrogate) as UTF-8 at d[0:] and
// returns its length; d has room (unquoteDst).
func putRune(d []byte, r rune) int {
	switch {
	case r < 0x80:
		d[0] = byte(r)
		return 1
	case r < 0x800:
		_ = d[1]
		d[0] = 0xc0 | byte(r>>6)
		d[1] = 0x80 | byte(r)&0x3f
		return 2
	}
	_ = d[2]
	d[0] = 0xe0 | byte(r>>12)
	d[1] = 0x80 | byte(r>>6)&0x3f
	d[2] = 0x80 | byte(r)&0x3f
	return 3
}
