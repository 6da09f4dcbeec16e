package binread

import (
	"encoding/binary"
	"testing"
)

// Every read of a well-formed buffer gives back what was written; a short
// or malformed one sets Bad, and every read after it returns zero.
func TestReader(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	b = binary.AppendUvarint(b, 0)
	b = binary.LittleEndian.AppendUint64(b, 1<<60)
	r := Reader{B: b}
	if r.Byte() != 7 || r.Uvarint() != 300 || r.Varint() != -5 || string(r.Bytes()) != "abc" || r.Bytes() != nil || r.Uint64() != 1<<60 || r.Bad || len(r.B) != 0 {
		t.Fatalf("round trip failed: %+v", r)
	}
	for _, bad := range [][]byte{
		{},                 // nothing to read
		{0x80},             // a varint cut short
		{5, 'a', 'b'},      // a length past the end
		{1, 2, 3, 4, 5, 6}, // a word cut short (read as Uint64)
	} {
		r := Reader{B: bad}
		if len(bad) == 6 {
			r.Uint64()
		} else {
			r.Bytes()
		}
		if !r.Bad || r.Uvarint() != 0 || r.Byte() != 0 || r.Bytes() != nil {
			t.Fatalf("%v: Bad %v after a failed read, or a read after it returned data", bad, r.Bad)
		}
	}
}
