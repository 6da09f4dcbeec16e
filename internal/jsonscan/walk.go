package jsonscan

// The walkers validate and iterate in one pass. Validate followed by
// ObjectEachTrusted reads every byte twice, and a decoder that descends
// (the members of an object, then the elements of an array that is one of
// them, then the members of each element) re-skips every nested value once
// per level: a 100 KiB message text was read five times. A walker hands its
// callback the offset where a value starts and lets the callback consume the
// value, by decoding it (UnquoteAt, a nested walk) or by skipping it
// (SkipAt); either validates, so each byte is read once.
//
// depth is the nesting depth of the value at b[i] as Validate counts it
// (the top-level value has depth 0) and bounds the walk by MaxDepth as
// Validate does: a document the walkers accept, Validate accepts.

// SkipAt validates the value at b[i] (no leading whitespace), at nesting
// depth depth, and returns the offset just past it.
func SkipAt(b []byte, i, depth int) (int, error) { return skip(b, i, depth) }

// ObjectWalk validates the object at b[i] == '{' (depth as for SkipAt)
// and calls fn for each member in order with the offset of its key's
// opening quote, the raw key (escapes left as they are) and the offset of
// its value. fn must consume the value, validating it at depth+1 (SkipAt,
// UnquoteAt or a nested walk), and return the offset just past it. It
// returns the offset past the object, or the first error, fn's included.
func ObjectWalk(b []byte, i, depth int, fn func(keyStart int, key []byte, val int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return i, syntaxErr(i, "expected object")
	}
	if depth >= MaxDepth {
		return i, ErrDepth
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(i, "expected object key")
		}
		kend, _, err := scanString(b, i)
		if err != nil {
			return kend, err
		}
		ks := i
		i = SkipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(i, "expected ':' after object key")
		}
		if i = SkipSpace(b, i+1); i >= len(b) {
			return i, syntaxErr(i, "unexpected end of input")
		}
		if i, err = fn(ks, b[ks+1:kend-1], i); err != nil {
			return i, err
		}
		if i = SkipSpace(b, i); i >= len(b) {
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

// ArrayWalk validates the array at b[i] == '[' (depth as for SkipAt) and
// calls fn with the index and offset of each element; fn consumes the
// element as ObjectWalk's fn consumes a value.
func ArrayWalk(b []byte, i, depth int, fn func(idx, val int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '[' {
		return i, syntaxErr(i, "expected array")
	}
	if depth >= MaxDepth {
		return i, ErrDepth
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		if i >= len(b) {
			return i, syntaxErr(i, "unexpected end of input")
		}
		var err error
		if i, err = fn(n, i); err != nil {
			return i, err
		}
		if i = SkipSpace(b, i); i >= len(b) {
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
