package routemodel

import (
	"encoding/base64"
	"errors"
	"hash/crc32"
	"math"
)

// Model is a trained router model: a bias and 2^Bits hashed weights.
type Model struct {
	// Bits is the hash width: 2^Bits weights.
	Bits uint8
	// Threshold is the probability above which the strong tier is chosen
	// when the configuration sets none (the trainer picks it for a target
	// strong share).
	Threshold float32
	Bias      float32
	// Note says where the weights come from (data, seed, held-out
	// figures); shown by the admin API.
	Note string
	W    []float32
}

// Weights file layout, little-endian:
//
//	0  "GWRM"            magic
//	4  u8 version (1)
//	5  u8 bits           8..20
//	6  u16 0
//	8  f32 threshold     in (0, 1)
//	12 f32 bias
//	16 u32 note length   at most MaxNote
//	20 note bytes, then 2^bits f32 weights, then u32 CRC-32 (IEEE) of all before
const (
	magic   = "GWRM"
	version = 1
	header  = 20
	// MaxNote bounds the note.
	MaxNote = 4096
	// MinBits and MaxBits bound the hash width.
	MinBits = 8
	MaxBits = 20
)

// Errors of Decode.
var (
	ErrFormat   = errors.New("not a router weights file (want magic GWRM, version 1)")
	ErrSize     = errors.New("router weights: truncated or trailing bytes")
	ErrChecksum = errors.New("router weights: checksum mismatch")
	ErrValues   = errors.New("router weights: bits outside [8, 20], threshold outside (0, 1), or a weight not finite")
)

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func put32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// Encode returns m in the weights file format.
func (m *Model) Encode() []byte {
	n := 1 << m.Bits
	b := make([]byte, header+len(m.Note)+4*n+4)
	copy(b, magic)
	b[4], b[5] = version, m.Bits
	put32(b[8:], math.Float32bits(m.Threshold))
	put32(b[12:], math.Float32bits(m.Bias))
	put32(b[16:], uint32(len(m.Note)))
	copy(b[header:], m.Note)
	o := header + len(m.Note)
	for i := 0; i < n; i++ {
		put32(b[o+4*i:], math.Float32bits(m.W[i]))
	}
	put32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

// Decode parses a weights file.
func Decode(b []byte) (*Model, error) {
	if len(b) < header+4 || string(b[:4]) != magic || b[4] != version {
		return nil, ErrFormat
	}
	m := &Model{Bits: b[5]}
	if m.Bits < MinBits || m.Bits > MaxBits {
		return nil, ErrValues
	}
	note := le32(b[16:])
	if note > MaxNote {
		return nil, ErrSize
	}
	n := 1 << m.Bits
	if uint64(len(b)) != uint64(header)+uint64(note)+uint64(4*n)+4 {
		return nil, ErrSize
	}
	if crc32.ChecksumIEEE(b[:len(b)-4]) != le32(b[len(b)-4:]) {
		return nil, ErrChecksum
	}
	m.Threshold = math.Float32frombits(le32(b[8:]))
	m.Bias = math.Float32frombits(le32(b[12:]))
	m.Note = string(b[header : header+note])
	if !(m.Threshold > 0 && m.Threshold < 1) || !finite(m.Bias) {
		return nil, ErrValues
	}
	m.W = make([]float32, n)
	o := header + int(note)
	for i := range m.W {
		m.W[i] = math.Float32frombits(le32(b[o+4*i:]))
		if !finite(m.W[i]) {
			return nil, ErrValues
		}
	}
	return m, nil
}

// DecodeBase64 decodes the standard base64 of a weights file (the form the
// router's JSON config carries).
func DecodeBase64(s []byte) (*Model, error) {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	if err != nil {
		return nil, ErrFormat
	}
	return Decode(b[:n])
}

func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}
