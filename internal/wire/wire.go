// Package wire holds the small JSON and text helpers the translating
// providers share (Anthropic, Gemini, OpenAI): string and number readers over
// validated JSON and offsets of sub-slices. (Key masking lives with the
// Redactor in package providers.)
package wire

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/aigateway/gateway/internal/jsonscan"
)

// Unq returns the unescaped contents of the JSON string v, appending to
// *scratch only when v has escapes. A non-string yields nil.
func Unq(v []byte, scratch *[]byte) []byte {
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

// Str is unq copied into a string, for values kept past the input's life.
func Str(v []byte) string {
	var scratch []byte
	return string(Unq(v, &scratch))
}

// Num parses an integer member value, 0 when it is absent or not a number.
func Num(v []byte) int {
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

// AppendInt appends n in decimal.
func AppendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// OffsetOf returns the offset of sub within b; sub must be a sub-slice of b.
func OffsetOf(b, sub []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// TrimSpace trims JSON whitespace.
func TrimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}
