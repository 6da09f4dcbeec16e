package gemini

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/aigateway/gateway/providers/jsonscan"
)

// unq returns the unescaped contents of the JSON string v, appending to
// *scratch only when v has escapes. A non-string yields nil.
func unq(v []byte, scratch *[]byte) []byte {
	if jsonscan.KindOf(v) != jsonscan.String {
		return nil
	}
	s, grown, err := jsonscan.Unquote(v, *scratch)
	*scratch = grown
	if err != nil {
		return nil
	}
	return s
}

// str is unq copied into a string, for values kept past the input's life.
func str(v []byte) string {
	var scratch []byte
	return string(unq(v, &scratch))
}

// num parses an integer member value, 0 when it is absent or not a number.
func num(v []byte) int {
	if jsonscan.KindOf(v) != jsonscan.Number {
		return 0
	}
	n, err := jsonscan.ParseInt(v)
	if err != nil {
		f, ferr := jsonscan.ParseFloat(v)
		if ferr != nil {
			return 0
		}
		return int(f)
	}
	return int(n)
}

// appendInt appends n in decimal.
func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// offsetOf returns the offset of sub within b; sub must be a sub-slice of b.
func offsetOf(b, sub []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// trimSpace trims JSON whitespace.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// redactKeys masks anything that looks like an API key in an upstream
// message: providers echo a masked prefix of a refused key, and the gateway
// never lets even that reach a client.
func redactKeys(msg string) string {
	b := []byte(msg)
	changed := false
	for _, prefix := range [...]string{"sk-ant-", "sk-", "AIza", "gsk_"} {
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(prefix))
			if j < 0 {
				break
			}
			j += i
			k := j + len(prefix)
			for k < len(b) && isKeyByte(b[k]) {
				b[k] = '*'
				k++
			}
			changed = changed || k > j+len(prefix)
			i = k
		}
	}
	if !changed {
		return msg
	}
	return string(b)
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

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
