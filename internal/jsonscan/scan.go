// Package jsonscan is a validating, allocation-free JSON scanner that reports
// byte offsets.
//
// The gateway decodes every request once and must be able to rewrite a single
// value (the model name, one message's text) while leaving every other byte of
// the body as the client sent it: provider prompt caches key on byte-stable
// prefixes. Reflection-based decoders lose the offsets and allocate per field;
// this scanner walks the bytes in place, hands back sub-slices of the input,
// and unescapes strings only when they contain escapes, into a caller-owned
// buffer.
//
// # Notes
//
// Every []byte returned aliases either the input or the caller's scratch
// buffer; neither is copied. The scanner holds no state between calls and is
// safe for concurrent use on distinct inputs.
package jsonscan

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const MaxDepth = 256

// Sentinel errors. Callers wrap them with the offending field.
var (
	ErrSyntax   = errors.New("invalid JSON")
	ErrDepth    = errors.New("JSON nested too deeply")
	ErrNotFound = errors.New("key not found")
)

// SyntaxError reports where the input stopped being valid JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

func (e *SyntaxError) Unwrap() error { return ErrSyntax }

func syntaxErr(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }

// Kind is the first byte of a JSON value: '{', '[', '"', 't', 'f', 'n', or '0'
// for numbers.
type Kind byte

// Value kinds.
const (
	Invalid Kind = 0
	Object  Kind = '{'
	Array   Kind = '['
	String  Kind = '"'
	Number  Kind = '0'
	True    Kind = 't'
	False   Kind = 'f'
	Null    Kind = 'n'
)

// String names a kind for error messages.
func (k Kind) String() string {
	switch k {
	case Object:
		return "object"
	case Array:
		return "array"
	case String:
		return "string"
	case Number:
		return "number"
	case True, False:
		return "boolean"
	case Null:
		return "null"
	}
	return "invalid"
}

// KindOf reports the kind of the value that starts at b[0] (no leading space).
func KindOf(b []byte) Kind {
	if len(b) == 0 {
		return Invalid
	}
	switch c := b[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return Kind(c)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return Number
	}
	return Invalid
}

// SkipSpace returns the offset of the first non-whitespace byte at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Validate checks that b holds exactly one JSON value, optionally surrounded
// by whitespace.
func Validate(b []byte) error {
	i := SkipSpace(b, 0)
	end, err := Skip(b, i)
	if err != nil {
		return err
	}
	if j := SkipSpace(b, end); j != len(b) {
		return syntaxErr(j, "unexpected data after top-level value")
	}
	return nil
}

// Skip validates the value starting at b[i] (no leading whitespace) and returns
// the offset just past it.
func Skip(b []byte, i int) (int, error) { return skip(b, i, 0) }

func skip(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '{':
		if depth >= MaxDepth {
			return i, ErrDepth
		}
		return skipObject(b, i, depth+1)
	case c == '[':
		if depth >= MaxDepth {
			return i, ErrDepth
		}
		return skipArray(b, i, depth+1)
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return i, syntaxErr(i, "unexpected character "+quoteByte(b[i]))
}

// quoteByte quotes a byte that cannot start a value: an ASCII one as a
// character ('x', '\x1f'), any other as its hex escape ('\xef'), since
// it is a byte of a UTF-8 sequence, not a character of its own.
func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRuneToASCII(rune(c))
	}
	return `'\x` + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16) + `'`
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, syntaxErr(start, "invalid number")
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	return i, nil
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func skipObject(b []byte, i, depth int) (int, error) {
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(i, "expected object key")
		}
		end, _, err := scanString(b, i)
		if err != nil {
			return end, err
		}
		i = SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(i, "expected ':' after object key")
		}
		i = SkipSpace(b, i+1)
		if i, err = skip(b, i, depth); err != nil {
			return i, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated object")
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, syntaxErr(i, "expected ',' or '}' in object")
		}
		i = SkipSpace(b, i+1)
	}
}

func skipArray(b []byte, i, depth int) (int, error) {
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skip(b, i, depth); err != nil {
			return i, err
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated array")
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, syntaxErr(i, "expected ',' or ']' in array")
		}
		i = SkipSpace(b, i+1)
	}
}

// ObjectEach calls fn for each member of the already-validated object value
// v (v must start with '{'). key is the raw key without quotes (escapes left
// as they are: gateway keys never need them); val is the raw member value.
// It stops at the first error fn returns.
func ObjectEach(v []byte, fn func(key, val []byte) error) error {
	if KindOf(v) != Object {
		return syntaxErr(0, "expected object")
	}
	i := SkipSpace(v, 1)
	if i < len(v) && v[i] == '}' {
		return nil
	}
	for i < len(v) {
		if v[i] != '"' {
			return syntaxErr(i, "expected object key")
		}
		kend, _, err := scanString(v, i)
		if err != nil {
			return err
		}
		key := v[i+1 : kend-1]
		i = SkipSpace(v, kend)
		if i >= len(v) || v[i] != ':' {
			return syntaxErr(i, "expected ':' after object key")
		}
		i = SkipSpace(v, i+1)
		vend, err := Skip(v, i)
		if err != nil {
			return err
		}
		if err := fn(key, v[i:vend]); err != nil {
			return err
		}
		i = SkipSpace(v, vend)
		if i >= len(v) || v[i] == '}' {
			return nil
		}
		if v[i] != ',' {
			return syntaxErr(i, "expected ',' or '}' in object")
		}
		i = SkipSpace(v, i+1)
	}
	return nil
}

// ArrayEach calls fn with the index and raw bytes of each element of the
// already-validated array value v.
func ArrayEach(v []byte, fn func(idx int, elem []byte) error) error {
	if KindOf(v) != Array {
		return syntaxErr(0, "expected array")
	}
	i := SkipSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return nil
	}
	for n := 0; i < len(v); n++ {
		end, err := Skip(v, i)
		if err != nil {
			return err
		}
		if err := fn(n, v[i:end]); err != nil {
			return err
		}
		i = SkipSpace(v, end)
		if i >= len(v) || v[i] == ']' {
			return nil
		}
		if v[i] != ',' {
			return syntaxErr(i, "expected ',' or ']' in array")
		}
		i = SkipSpace(v, i+1)
	}
	return nil
}

// Get returns the raw value of key in the validated object v, or nil.
func Get(v []byte, key string) []byte {
	var out []byte
	_ = ObjectEach(v, func(k, val []byte) error {
		if string(k) == key {
			out = val
			return ErrNotFound // stop early; not an error for Get
		}
		return nil
	})
	return out
}

// Unquote decodes the validated string value v (with its quotes). When v has
// no escapes the result aliases v; otherwise it is appended to scratch, and the
// grown scratch is returned so that the caller can reuse it.
//
// From the first escape on it decodes with the kernel UnquoteAt uses
// (scanRun), so a long string costs per escape what it costs UnquoteAt. v
// is not validated again: a '"' or control byte inside it is copied as it
// is, and only a malformed escape is an error.
func Unquote(v []byte, scratch []byte) (s, grown []byte, err error) {
	if KindOf(v) != String || len(v) < 2 {
		return nil, scratch, syntaxErr(0, "expected string")
	}
	inner := v[1 : len(v)-1]
	esc := bytes.IndexByte(inner, '\\')
	if esc < 0 {
		return inner, scratch, nil
	}
	start := len(scratch)
	d, n := unquoteDst(inner, -1, esc, scratch)
	for j := esc; j < len(inner); {
		switch c := inner[j]; {
		case c != '\\':
			d[n] = c
			n++
			j++
		case j+1 < len(inner) && unescapeByte[inner[j+1]] != 0:
			d[n] = unescapeByte[inner[j+1]]
			n++
			j += 2
		default:
			if r, ok := hexRune(inner, j); ok {
				n += putRune(d[n:], r)
				j += 6
				break
			}
			var out []byte
			if out, j, err = appendEscape(d[:n], inner, j); err != nil {
				return nil, d[:n], err
			}
			n = len(out)
		}
		j, n = scanRun(d, inner, j, n)
		p := nextSpecial(inner, j)
		n += copy(d[n:], inner[j:p])
		j = p
	}
	return d[start:n], d[:n], nil
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}

// ParseFloat parses a validated number value without allocating.
func ParseFloat(v []byte) (float64, error) {
	return strconv.ParseFloat(B2S(v), 64)
}

// ParseInt parses a validated integer value without allocating.
func ParseInt(v []byte) (int64, error) {
	return strconv.ParseInt(B2S(v), 10, 64)
}

// B2S returns a string that shares b's memory. b must not change afterwards
// for as long as the string is used.
func B2S(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// AppendQuote appends s as a JSON string literal (with quotes) to dst,
// escaping what JSON requires and nothing else.
func AppendQuote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hexdig = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendQuoteBytes is AppendQuote for a byte slice.
func AppendQuoteBytes(dst, s []byte) []byte { return AppendQuote(dst, B2S(s)) }

// AppendReplaced appends the object obj to dst with the value of member key
// replaced by value (raw JSON), or the member added at the end when absent.
// Every other byte is kept as it was. obj must be a validated object.
func AppendReplaced(dst, obj []byte, key string, value []byte) []byte {
	start := SkipSpace(obj, 0)
	found := false
	pos := 0
	_ = ObjectEach(obj[start:], func(k, v []byte) error {
		if string(k) != key || found {
			return nil
		}
		found = true
		off := int(uintptrOf(v) - uintptrOf(obj))
		dst = append(dst, obj[:off]...)
		dst = append(dst, value...)
		pos = off + len(v)
		return nil
	})
	if found {
		return append(dst, obj[pos:]...)
	}
	end := len(obj) - 1
	for end > 0 && obj[end] != '}' {
		end--
	}
	inner := obj[start+1 : end]
	dst = append(dst, obj[:end]...)
	if len(trimSpace(inner)) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	dst = append(dst, value...)
	return append(dst, obj[end:]...)
}

func trimSpace(b []byte) []byte {
	i := SkipSpace(b, 0)
	b = b[i:]
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
