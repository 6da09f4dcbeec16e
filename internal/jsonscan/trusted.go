package jsonscan

import "bytes"

// The *Trusted functions walk input that Validate has already accepted. They
// skip strings with bytes.IndexByte (vectorised) instead of checking every
// byte, so a decoder that validates once and then walks the document several
// times pays for validation once. On input Validate would reject they return
// wrong answers, but never panic or read out of bounds.

// skipStringTrusted returns the offset past the string starting at b[i].
//
// Source code holds a \" every few lines, and each one costs the
// IndexByte loop below a restart: from the first escape on, skipRun (64
// bytes per step on amd64, nothing elsewhere) passes runs and escapes up
// to the closing quote or the last 64 bytes, and the loop does the rest.
func skipStringTrusted(b []byte, i int) int {
	j := i + 1
	for j < len(b) {
		j = skipRun(b, j)
		if j >= len(b) {
			return len(b)
		}
		if c := b[j]; c == '"' {
			return j + 1
		} else if c != '\\' {
			break // the last 64 bytes, or a control byte in invalid input
		}
		j += 2 // a \u escape (its digits are plain bytes) or an invalid one
	}
	for j < len(b) {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return len(b)
}

// SkipTrusted returns the offset past the validated value at b[i].
func SkipTrusted(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipStringTrusted(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); {
			switch b[j] {
			case '"':
				j = skipStringTrusted(b, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return len(b)
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// ObjectEachTrusted is ObjectEach for a validated object.
func ObjectEachTrusted(v []byte, fn func(key, val []byte) error) error {
	if KindOf(v) != Object {
		return syntaxErr(0, "expected object")
	}
	i := SkipSpace(v, 1)
	for i < len(v) && v[i] == '"' {
		kend := skipStringTrusted(v, i)
		if kend < i+2 {
			return nil
		}
		key := v[i+1 : kend-1]
		i = SkipSpace(v, kend)
		i = SkipSpace(v, i+1) // ':'
		if i >= len(v) {
			return nil
		}
		vend := SkipTrusted(v, i)
		if err := fn(key, v[i:vend]); err != nil {
			return err
		}
		i = SkipSpace(v, vend)
		if i >= len(v) || v[i] != ',' {
			return nil
		}
		i = SkipSpace(v, i+1)
	}
	return nil
}

// ArrayEachTrusted is ArrayEach for a validated array.
func ArrayEachTrusted(v []byte, fn func(idx int, elem []byte) error) error {
	if KindOf(v) != Array {
		return syntaxErr(0, "expected array")
	}
	i := SkipSpace(v, 1)
	for n := 0; i < len(v) && v[i] != ']'; n++ {
		end := SkipTrusted(v, i)
		if end <= i {
			return nil
		}
		if err := fn(n, v[i:end]); err != nil {
			return err
		}
		i = SkipSpace(v, end)
		if i >= len(v) || v[i] != ',' {
			return nil
		}
		i = SkipSpace(v, i+1)
	}
	return nil
}

// GetTrusted is Get for a validated object.
func GetTrusted(v []byte, key string) []byte {
	var out []byte
	_ = ObjectEachTrusted(v, func(k, val []byte) error {
		if string(k) == key {
			out = val
			return ErrNotFound
		}
		return nil
	})
	return out
}

// AppendWithout appends the validated object obj to dst without its member
// key (and the separator that went with it); every other byte is kept.
func AppendWithout(dst, obj []byte, key string) []byte {
	start := SkipSpace(obj, 0)
	type member struct{ kstart, vend int }
	var prev, hit member
	found, first := false, true
	var next int = -1
	_ = ObjectEachTrusted(obj[start:], func(k, v []byte) error {
		vstart := int(uintptrOf(v) - uintptrOf(obj))
		kstart := vstart - 1
		for kstart > 0 && obj[kstart] != ':' {
			kstart--
		}
		for kstart > 0 && obj[kstart] != '"' {
			kstart--
		}
		kstart -= len(k) + 1
		m := member{kstart, vstart + len(v)}
		if found && next < 0 {
			next = m.kstart
			return ErrNotFound
		}
		if string(k) == key && !found {
			found, hit = true, m
			if !first {
				return ErrNotFound
			}
		} else {
			prev = m
			first = false
		}
		return nil
	})
	switch {
	case !found:
		return append(dst, obj...)
	case !first: // drop from the end of the previous member to the end of this one
		dst = append(dst, obj[:prev.vend]...)
		return append(dst, obj[hit.vend:]...)
	case next >= 0: // first member: drop up to the next member's key
		dst = append(dst, obj[:hit.kstart]...)
		return append(dst, obj[next:]...)
	default: // the only member
		dst = append(dst, obj[:hit.kstart]...)
		end := len(obj) - 1
		for end > 0 && obj[end] != '}' {
			end--
		}
		return append(dst, obj[end:]...)
	}
}
