package jsonscan

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkUnquoteAt decodes a 100 KiB string of Go source as a JSON
// encoder writes it (an escape every ten bytes or so: \n, \t, \"), the
// same amount of prose without escapes (the word-at-a-time scan alone), and
// of Chinese prose as an ASCII-only encoder writes it (Python's json.dumps
// by default: a \u escape per character).
func BenchmarkUnquoteAt(b *testing.B) {
	var code, prose strings.Builder
	for code.Len() < 100<<10 {
		code.WriteString("func handler(w http.ResponseWriter, r *http.Request) {\n\tmu.Lock()\n\tv, ok := cache[\"item\"]\n\tmu.Unlock()\n}\n\n")
	}
	for prose.Len() < 100<<10 {
		prose.WriteString("The quick brown fox jumps over the lazy dog, again and again. ")
	}
	var cjk strings.Builder
	cjk.WriteByte('"')
	for cjk.Len() < 100<<10 {
		for _, r := range "敏捷的棕色狐狸跳过了懒狗，一次又一次。\n" {
			if r < 0x80 {
				cjk.WriteString(`\n`)
				continue
			}
			cjk.WriteString(`\u` + strconv.FormatInt(int64(r), 16))
		}
	}
	cjk.WriteByte('"')
	for _, tc := range []struct{ name, text string }{{"code-100KiB", code.String()}, {"prose-100KiB", prose.String()}, {"cjk-ascii-100KiB", ""}} {
		doc, _ := json.Marshal(tc.text)
		if tc.text == "" {
			doc = []byte(cjk.String())
		}
		b.Run(tc.name, func(b *testing.B) {
			var scratch []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			cpu0 := cpuTime()
			for b.Loop() {
				end, _, grown, err := UnquoteAt(doc, 0, scratch[:0])
				if err != nil || end != len(doc) {
					b.Fatal(err)
				}
				scratch = grown
			}
			// The process's CPU time: on a shared machine ns/op also
			// measures the time spent waiting for a CPU.
			b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}

// BenchmarkSkipTrusted skips a validated 100 KiB string of JSON text as
// another JSON string carries it (tool arguments, a pasted payload: a \"
// every few bytes), and of Go source.
func BenchmarkSkipTrusted(b *testing.B) {
	var nested, code strings.Builder
	for nested.Len() < 100<<10 {
		nested.WriteString(`{"id":"call_1","name":"read_file","arguments":{"path":"cart.go","line":12}},`)
	}
	for code.Len() < 100<<10 {
		code.WriteString("func handler(w http.ResponseWriter, r *http.Request) {\n\tmu.Lock()\n\tv, ok := cache[\"item\"]\n\tmu.Unlock()\n}\n\n")
	}
	for _, tc := range []struct{ name, text string }{{"json-in-string-100KiB", nested.String()}, {"code-100KiB", code.String()}} {
		doc, _ := json.Marshal(tc.text)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			cpu0 := cpuTime()
			for b.Loop() {
				if SkipTrusted(doc, 0) != len(doc) {
					b.Fatal("wrong end")
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}
