package abi

import "strconv"

// A small validating JSON reader for guests. Policies parse their config once
// per instance and sometimes a request body; reflection-based encoding/json
// would double a module's size and allocate per field. Every []byte returned
// aliases the input, or the caller's scratch buffer when a string has escapes.

// maxJSONDepth bounds nesting so that hostile config cannot exhaust the stack.
const maxJSONDepth = 128

func jsonSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// JSONValid reports whether b holds exactly one JSON value, optionally
// surrounded by whitespace.
func JSONValid(b []byte) bool {
	i := jsonSpace(b, 0)
	end, ok := jsonSkip(b, i, 0)
	return ok && jsonSpace(b, end) == len(b)
}

// JSONSkip returns the offset just past the value that starts at b[i] (no
// leading whitespace), and whether it is valid.
func JSONSkip(b []byte, i int) (int, bool) { return jsonSkip(b, i, 0) }

func jsonSkip(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return i, false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = jsonSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, false
				}
				end, ok := jsonString(b, i)
				if !ok {
					return end, false
				}
				i = jsonSpace(b, end)
				if i >= len(b) || b[i] != ':' {
					return i, false
				}
				i = jsonSpace(b, i+1)
			}
			end, ok := jsonSkip(b, i, depth+1)
			if !ok {
				return end, false
			}
			i = jsonSpace(b, end)
			if i >= len(b) {
				return i, false
			}
			if b[i] == closer {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = jsonSpace(b, i+1)
		}
	case c == '"':
		return jsonString(b, i)
	case c == 't':
		return jsonLit(b, i, "true")
	case c == 'f':
		return jsonLit(b, i, "false")
	case c == 'n':
		return jsonLit(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return jsonNumber(b, i)
	}
	return i, false
}

func jsonLit(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

func jsonNumber(b []byte, i int) (int, bool) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return start, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return start, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return start, false
		}
	}
	return i, true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func jsonString(b []byte, i int) (int, bool) {
	i++ // opening quote
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

// JSONObjectEach calls fn for each member of the object v (which must start
// with '{'), with the raw key (without quotes, escapes as they are) and the
// raw value. It stops when fn returns false. It reports false if v is not a
// valid object.
func JSONObjectEach(v []byte, fn func(key, val []byte) bool) bool {
	if len(v) == 0 || v[0] != '{' {
		return false
	}
	i := jsonSpace(v, 1)
	if i < len(v) && v[i] == '}' {
		return true
	}
	for i < len(v) {
		if v[i] != '"' {
			return false
		}
		kend, ok := jsonString(v, i)
		if !ok {
			return false
		}
		key := v[i+1 : kend-1]
		i = jsonSpace(v, kend)
		if i >= len(v) || v[i] != ':' {
			return false
		}
		i = jsonSpace(v, i+1)
		vend, ok := jsonSkip(v, i, 1)
		if !ok {
			return false
		}
		if !fn(key, v[i:vend]) {
			return true
		}
		i = jsonSpace(v, vend)
		if i >= len(v) {
			return false
		}
		if v[i] == '}' {
			return true
		}
		if v[i] != ',' {
			return false
		}
		i = jsonSpace(v, i+1)
	}
	return false
}

// JSONArrayEach calls fn with each element of the array v. It stops when fn
// returns false and reports false if v is not a valid array.
func JSONArrayEach(v []byte, fn func(elem []byte) bool) bool {
	if len(v) == 0 || v[0] != '[' {
		return false
	}
	i := jsonSpace(v, 1)
	if i < len(v) && v[i] == ']' {
		return true
	}
	for i < len(v) {
		end, ok := jsonSkip(v, i, 1)
		if !ok {
			return false
		}
		if !fn(v[i:end]) {
			return true
		}
		i = jsonSpace(v, end)
		if i >= len(v) {
			return false
		}
		if v[i] == ']' {
			return true
		}
		if v[i] != ',' {
			return false
		}
		i = jsonSpace(v, i+1)
	}
	return false
}

// JSONGet returns the raw value of key in the object v, or nil.
func JSONGet(v []byte, key string) []byte {
	var out []byte
	JSONObjectEach(v, func(k, val []byte) bool {
		if string(k) == key {
			out = val
			return false
		}
		return true
	})
	return out
}

// JSONUnquote decodes the string value v (with its quotes). Without escapes
// the result aliases v; otherwise it is appended to scratch and the grown
// scratch is returned for reuse. ok is false if v is not a valid string.
func JSONUnquote(v, scratch []byte) (s, grown []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, scratch, false
	}
	if end, valid := jsonString(v, 0); !valid || end != len(v) {
		return nil, scratch, false
	}
	inner := v[1 : len(v)-1]
	esc := -1
	for i, c := range inner {
		if c == '\\' {
			esc = i
			break
		}
	}
	if esc < 0 {
		return inner, scratch, true
	}
	start := len(scratch)
	scratch = append(scratch, inner[:esc]...)
	for i := esc; i < len(inner); {
		c := inner[i]
		if c != '\\' {
			scratch = append(scratch, c)
			i++
			continue
		}
		switch e := inner[i+1]; e {
		case 'b':
			scratch = append(scratch, '\b')
		case 'f':
			scratch = append(scratch, '\f')
		case 'n':
			scratch = append(scratch, '\n')
		case 'r':
			scratch = append(scratch, '\r')
		case 't':
			scratch = append(scratch, '\t')
		case 'u':
			r := rune(hexVal(inner[i+2 : i+6]))
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(inner) && inner[i] == '\\' && inner[i+1] == 'u' {
				if r2 := rune(hexVal(inner[i+2 : i+6])); r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				r = 0xFFFD
			}
			scratch = appendRune(scratch, r)
			continue
		default: // '"', '\\', '/'
			scratch = append(scratch, e)
		}
		i += 2
	}
	return scratch[start:], scratch, true
}

func hexVal(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint32(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint32(c-'a') + 10
		default:
			v |= uint32(c-'A') + 10
		}
	}
	return v
}

func appendRune(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
	case r < 0x10000:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
	return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
}

// JSONBool parses a JSON boolean.
func JSONBool(v []byte) (val, ok bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// JSONFloat parses a JSON number.
func JSONFloat(v []byte) (float64, bool) {
	if end, ok := jsonNumber(v, 0); !ok || end != len(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

// JSONInt parses a JSON number that must be an integer.
func JSONInt(v []byte) (int64, bool) {
	if end, ok := jsonNumber(v, 0); !ok || end != len(v) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// AppendJSONString appends s as a JSON string literal, escaping what JSON
// requires and nothing else.
func AppendJSONString(dst, s []byte) []byte {
	const hexdig = "0123456789abcdef"
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
			dst = append(dst, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
