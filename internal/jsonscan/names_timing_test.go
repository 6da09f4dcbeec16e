package jsonscan

import "testing"

// BenchmarkNamesCheck: the cost of checking one object's member names, for
// names spelled as listed (the common case), names not listed, and names
// with escapes (the slow path).
func BenchmarkNamesCheck(b *testing.B) {
	for _, bc := range []struct {
		name string
		keys []string
	}{
		{"listed", []string{"model", "messages", "stream", "stream_options"}},
		{"unlisted", []string{"logit_bias", "frequency_penalty", "presence_penalty", "metadata"}},
		{"escaped", []string{`logit\u005fbias`, `fr\u0065quency_penalty`, `x\u0078`, `\ud83d\ude00`}},
	} {
		keys := make([][]byte, len(bc.keys))
		for i, k := range bc.keys {
			keys[i] = []byte(k)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var seen Seen
				for _, k := range keys {
					if _, err := testNames.Check(&seen, k); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
