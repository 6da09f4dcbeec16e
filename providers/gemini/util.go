package gemini

// appendCompact appends the validated JSON value v without insignificant
// whitespace: Gemini pretty-prints its answers, and OpenAI clients expect
// the arguments string compact.
func appendCompact(dst, v []byte) []byte {
	in := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if in {
			dst = append(dst, c)
			switch c {
			case '\\':
				if i+1 < len(v) {
					i++
					dst = append(dst, v[i])
				}
			case '"':
				in = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
		case '"':
			in = true
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
