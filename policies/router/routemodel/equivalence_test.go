package routemodel

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// corpus is a varied set of requests: empty, short, unicode, digits, maths,
// code, every byte value, and lengths at and around each excerpt limit.
func corpus() []Input {
	code := "func handler(w http.ResponseWriter, r *http.Request) {\n\tid := r.URL.Query().Get(\"id\")\n\tif id == \"\" {\n\t\thttp.Error(w, \"missing id\", 400)\n\t\treturn\n\t}\n}\n"
	texts := []string{
		"", "a", "ab", "abc", "abcd", "?", "   ", "\t\r\n",
		"Write a haiku about autumn.",
		"What is the weather and the local time in Paris?",
		"Solve $x^2 + 3x - 4 = 0$ and explain \\frac{a}{b} = 2 * 3 / 4 < 5 > 1.",
		"Ünïcödé wörds, 日本語のテキスト, emoji 🙂🙂 and ÀÉÎ CAPITALS",
		"Fix this:\n```go\n" + code + "```\nand this ``` unbalanced `` ticks ````",
		"Numbers 0123456789 9876543210 3.14159 1e10 0xFF 42,000",
		"a+b a + b 1+2 x=y x = y <div> a<b 3<4 ;;; [] {} () _ \\ $ ^",
		strings.Repeat("x", HeadBytes+TailBytes),
		strings.Repeat("x ", (HeadBytes+TailBytes)/2) + "y",
		strings.Repeat("word ", 1000),
		strings.Repeat(code, 300),
		strings.Repeat("Ünïcödé ", 700),
		"Why does this fail?\n```go\n" + strings.Repeat(code, 120) + "```\nPlease explain.",
	}
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	texts = append(texts, string(all), strings.Repeat(string(all), 20))
	for _, n := range []int{CharBytes - 1, CharBytes, CharBytes + 1, HeadBytes - 1, HeadBytes, HeadBytes + 1,
		HeadBytes + TailBytes - 1, HeadBytes + TailBytes, HeadBytes + TailBytes + 1, 16 << 10, 256 << 10} {
		texts = append(texts, (strings.Repeat("Mixed text, 12 digits; code() {x=1+2} and a question? ", n/50+1) + strings.Repeat("é", n))[:n])
	}
	// Random texts over an alphabet heavy in separators, punctuation and
	// multi-byte runes, at random lengths around the limits.
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{" ", "\n", "\t", "\r", "a", "Z", "q", "0", "7", "?", "`", "```", "+", "=", "{", "\\", "$", "é", "日", "🙂", "_", "-", "\x00", "\xff"}
	for range 300 {
		n := r.IntN(4 * (HeadBytes + TailBytes))
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		texts = append(texts, b.String())
	}
	var ins []Input
	for i, t := range texts {
		ins = append(ins, Input{
			Intent: []byte(t), System: []byte(strings.Repeat("You are a coding agent. ", i%7*20)),
			TotalChars: len(t) + i*37, Messages: 1 + i%17, UserTurns: 1 + i%9, Tools: i % 11,
			ToolLoop: i%3 == 0, Images: i%5 == 0, JSON: i%4 == 1, IDE: i%6 == 2,
		})
	}
	return ins
}

// models are the shipped weights and random models of the smallest,
// shipped and largest hash widths.
func models(t *testing.T) []*Model {
	b, err := os.ReadFile("../weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	ms := []*Model{shipped}
	r := rand.New(rand.NewPCG(3, 4))
	for _, bits := range []uint8{MinBits, 14, MaxBits} {
		m := &Model{Bits: bits, Threshold: 0.5, Bias: float32(r.NormFloat64()), W: make([]float32, 1<<bits)}
		for i := range m.W {
			m.W[i] = float32(r.NormFloat64())
		}
		ms = append(ms, m)
	}
	return ms
}

// TestFeaturesMatchReference: the table-driven features and the fused
// Logit give exactly the features, hashes and scores of the reference
// implementation (reference_test.go), so the shipped weights stay valid and
// no routing decision changes.
func TestFeaturesMatchReference(t *testing.T) {
	var s Scratch
	for _, m := range models(t) {
		for i, in := range corpus() {
			wantText, wantShape := refFeatures(&in, uint(m.Bits))
			text, shape := s.Features(&in, uint(m.Bits))
			if !slices.Equal(text, wantText) || !slices.Equal(shape, wantShape) {
				t.Fatalf("bits %d, input %d (%d bytes): features differ from the reference", m.Bits, i, len(in.Intent))
			}
			want := refScore(m, wantText, wantShape)
			if got := m.Score(text, shape); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("bits %d, input %d: Score %v, reference %v", m.Bits, i, got, want)
			}
			if got := m.Logit(&in); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("bits %d, input %d (%d bytes): Logit %v, reference %v", m.Bits, i, len(in.Intent), got, want)
			}
			if got := m.Predict(&in, &s); math.Float64bits(got) != math.Float64bits(Prob(want)) {
				t.Fatalf("bits %d, input %d: Predict %v, reference %v", m.Bits, i, got, Prob(want))
			}
			// The system prompt's length alone gives the same.
			byLen := in
			byLen.System, byLen.SystemLen = nil, len(in.System)
			if got := m.Logit(&byLen); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("bits %d, input %d: Logit with SystemLen %v, reference %v", m.Bits, i, got, want)
			}
		}
	}
}

// FuzzFeaturesMatchReference checks the same on arbitrary text.
func FuzzFeaturesMatchReference(f *testing.F) {
	f.Add([]byte("Why does this handler return 400? ```go\nx := 1+2\n```"), 3)
	f.Add([]byte("Ünïcödé 日本語 0123 $x^2$"), 0)
	r := rand.New(rand.NewPCG(5, 6))
	m := &Model{Bits: 12, Threshold: 0.5, Bias: 0.25, W: make([]float32, 1<<12)}
	for i := range m.W {
		m.W[i] = float32(r.NormFloat64())
	}
	f.Fuzz(func(t *testing.T, text []byte, k int) {
		in := Input{Intent: text, System: text[:len(text)/2], TotalChars: len(text) * 2, Messages: k & 31,
			UserTurns: k >> 5 & 15, Tools: k >> 9 & 15, ToolLoop: k&1 != 0, IDE: k&2 != 0}
		wantText, wantShape := refFeatures(&in, uint(m.Bits))
		var s Scratch
		text2, shape := s.Features(&in, uint(m.Bits))
		if !slices.Equal(text2, wantText) || !slices.Equal(shape, wantShape) {
			t.Fatal("features differ from the reference")
		}
		if got, want := m.Logit(&in), refScore(m, wantText, wantShape); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("Logit %v, reference %v", got, want)
		}
	})
}
