package wasm

import (
	"strconv"
	"testing"
)

func BenchmarkInputFromOpenAI(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			body := codingRequest(size)
			var in Input
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := InputFromOpenAI(body, &in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
