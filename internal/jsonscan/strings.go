package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// Strings are most of a large request's bytes (a 100 KiB prompt is one
// string), so they are scanned a word at a time: eight bytes per step while
// none of them is '"', '\\' or a control byte, one byte at a time only
// around those. JSON text needs no other check inside a string: bytes of
// 0x80 and above pass as they are (encoding/json accepts them too).

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special returns a mask with the high bit set in each byte of the
// little-endian word x that may be '"', '\\' or below 0x20. The lowest set
// bit is exact (bytes.IndexByte's word trick: a borrow only propagates
// upwards, so the first flagged byte is a real one); bits above it may be
// false positives, which callers never look at.
func special(x uint64) uint64 {
	q := x ^ (lsb * '"')
	s := x ^ (lsb * '\\')
	return ((q-lsb)&^q | (s-lsb)&^s | (x-lsb*0x20)&^x) & msb
}

// nextSpecial returns the offset of the first '"', '\\' or control byte in
// b at or after i, or len(b).
func nextSpecial(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// scanString validates the string starting at b[i] == '"' and returns the
// offset past its closing quote and whether it contains escapes.
func scanString(b []byte, i int) (int, bool, error) {
	start := i
	escaped := false
	for i = nextSpecial(b, i+1); i < len(b); i = nextSpecial(b, i) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			n, err := escapeLen(b, i)
			if err != nil {
				return i, false, err
			}
			// Escapes are dense in source code: from the first one on,
			// skip runs and two-byte escapes 64 bytes per step.
			i = skipRun(b, i+n)
		default:
			return i, false, syntaxErr(i, "control character in string")
		}
	}
	return i, false, syntaxErr(start, "unterminated string")
}

// escapeLen validates the escape at b[i] == '\\' and returns its length.
func escapeLen(b []byte, i int) (int, error) {
	if i+1 >= len(b) {
		return 0, syntaxErr(i, "unterminated escape")
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
			return 0, syntaxErr(i, "invalid \\u escape")
		}
		return 6, nil
	}
	return 0, syntaxErr(i, "invalid escape")
}

// appendEscape decodes the escape at s[i] == '\\' (a \u escape together
// with the low surrogate that follows it, if any) onto dst and returns the
// offset past it. A lone or mismatched surrogate decodes to U+FFFD.
func appendEscape(dst, s []byte, i int) ([]byte, int, error) {
	if i+1 >= len(s) {
		return dst, i, syntaxErr(i, "unterminated escape")
	}
	switch s[i+1] {
	case '"', '\\', '/':
		return append(dst, s[i+1]), i + 2, nil
	case 'b':
		return append(dst, '\b'), i + 2, nil
	case 'f':
		return append(dst, '\f'), i + 2, nil
	case 'n':
		return append(dst, '\n'), i + 2, nil
	case 'r':
		return append(dst, '\r'), i + 2, nil
	case 't':
		return append(dst, '\t'), i + 2, nil
	case 'u':
		if i+6 > len(s) || !isHex4(s[i+2:i+6]) {
			return dst, i, syntaxErr(i, "invalid \\u escape")
		}
		r := rune(hex4(s[i+2 : i+6]))
		i += 6
		if utf16.IsSurrogate(r) {
			if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' && isHex4(s[i+2:i+6]) {
				r2 := rune(hex4(s[i+2 : i+6]))
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(dst, r), i, nil
	}
	return dst, i, syntaxErr(i, "invalid escape")
}

// UnquoteAt validates the string starting at b[i] == '"' and decodes it in
// the same pass: it returns the offset past the closing quote and the
// decoded text, which aliases b when the string has no escapes and is
// otherwise appended to scratch (the grown scratch is returned for reuse).
// It decodes exactly as Unquote does.
func UnquoteAt(b []byte, i int, scratch []byte) (end int, s, grown []byte, err error) {
	if i >= len(b) || b[i] != '"' {
		return i, nil, scratch, syntaxErr(i, "expected string")
	}
	j := nextSpecial(b, i+1)
	switch {
	case j >= len(b):
		return j, nil, scratch, syntaxErr(i, "unterminated string")
	case b[j] == '"':
		return j + 1, b[i+1 : j], scratch, nil
	case b[j] == '\\':
		return unquoteCopy(b, i, j, scratch)
	}
	return j, nil, scratch, syntaxErr(j, "control character in string")
}

// unquoteDst returns scratch with room for decoding the rest of b from the
// string at b[i] == '"' (i is -1 when b is a string's inside, as for
// Unquote), with the string's plain prefix b[i+1:j] copied after
// scratch's bytes, and the offset past that prefix.
//
// Decoded text is never longer than the raw bytes it comes from, so room
// for the rest of the body (the decoder appends in body order: scratch
// never outgrows the body) means no growth inside the decoding loop; 16
// more for the 4 bytes a \u escape may write and for the 16-byte stores of
// scanRun, which may write past what it decodes.
func unquoteDst(b []byte, i, j int, scratch []byte) (d []byte, n int) {
	d = scratch[:cap(scratch)]
	if need := len(scratch) + len(b) - i + 16; len(d) < need {
		d = make([]byte, need, need+need/4)
		copy(d, scratch)
	}
	return d, len(scratch) + copy(d[len(scratch):], b[i+1:j])
}

// unquoteBlocks is UnquoteAt from the string's first escape, at b[j], in
// portable Go. Escapes are dense in the text that matters (source code: a
// \n, \t or \" every ten bytes), so the cost is per escape: the string is
// read in blocks of 64 bytes, each turned into one 64-bit mask of its '"',
// '\\' and control bytes (blockMask), and each escape costs a count of
// trailing zeros, a copy of the run before it and its decoding, with no
// byte-wise loop and no branch per word in between.
func unquoteBlocks(b []byte, i, j int, scratch []byte) (end int, s, grown []byte, err error) {
	start := len(scratch)
	d, n := unquoteDst(b, i, j, scratch)
	bs, mask := j, uint64(0) // the current block and its specials not yet handled
	if j+64 <= len(b) {
		mask = blockMask(b[j : j+64])
	}
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
		// Find the next special byte, copying the plain ones before it.
		for {
			if j < bs+64 && bs+64 <= len(b) {
				mask &^= 1<<uint(j-bs) - 1 // bits below j are handled
				if mask != 0 {
					p := bs + bits.TrailingZeros64(mask)
					if run := p - j; run <= 16 && j+16 <= len(b) {
						// Most runs are short: two word stores (d has
						// room, see above) instead of a call to memmove.
						binary.LittleEndian.PutUint64(d[n:], binary.LittleEndian.Uint64(b[j:]))
						binary.LittleEndian.PutUint64(d[n+8:], binary.LittleEndian.Uint64(b[j+8:]))
						n += run
					} else {
						n += copy(d[n:], b[j:p])
					}
					j = p
					break
				}
				n += copy(d[n:], b[j:bs+64])
				j = bs + 64
			}
			if bs = j; j+64 <= len(b) {
				mask = blockMask(b[j : j+64])
				continue
			}
			// The tail: fewer than 64 bytes left.
			p := nextSpecial(b, j)
			n += copy(d[n:], b[j:p])
			if j = p; j >= len(b) {
				return len(b), nil, d[:n], syntaxErr(i, "unterminated string")
			}
			break
		}
	}
}

// blockMask returns the positions of the '"', '\\' and control bytes of
// the 64 bytes of b as the bits of a word (bit k for b[k]).
func blockMask(b []byte) uint64 {
	_ = b[63]
	var m uint64
	for k := 0; k < 64; k += 8 {
		x := binary.LittleEndian.Uint64(b[k:])
		// Exact per byte (no borrow between bytes, unlike special):
		// a byte's high bit is set when it is 0 in one of the three.
		q, s, c := x^(lsb*'"'), x^(lsb*'\\'), x&(lsb*0xe0)
		z := ^((((q&lo7)+lo7)|q)&(((s&lo7)+lo7)|s)&(((c&lo7)+lo7)|c) | lo7)
		// Gather the eight high bits into one byte.
		m |= ((z >> 7) * 0x0102040810204080 >> 56) << uint(k)
	}
	return m
}

const lo7 = 0x7f7f7f7f7f7f7f7f

// unescapeByte maps the byte after a '\\' to what a two-byte escape stands
// for, 0 for 'u' and for bytes that make no escape.
var unescapeByte = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
