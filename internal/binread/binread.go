// Package binread reads the gateway's compact binary encodings (the
// response cache's entries, the ledger journal's records): varints,
// length-prefixed byte strings, fixed-width little-endian words. Reads are
// bounds-checked; the first one that fails sets Bad, and it and every read
// after it return zeros, so a decoder reads a whole record and checks Bad
// once.
package binread

import "encoding/binary"

// Reader reads B from its start; B is what is left.
type Reader struct {
	B   []byte
	Bad bool
}

func (r *Reader) fail() {
	r.Bad, r.B = true, nil
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.B) == 0 {
		r.fail()
		return 0
	}
	c := r.B[0]
	r.B = r.B[1:]
	return c
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed (zig-zag) varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Bytes reads a uvarint length and that many bytes, which alias B (capacity
// capped at their length); nil when empty.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.Bad || n > uint64(len(r.B)) {
		r.fail()
		return nil
	}
	v := r.B[:n:n]
	r.B = r.B[n:]
	if n == 0 {
		return nil
	}
	return v
}

// Uint64 reads a little-endian 64-bit word.
func (r *Reader) Uint64() uint64 {
	if len(r.B) < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.B)
	r.B = r.B[8:]
	return v
}
