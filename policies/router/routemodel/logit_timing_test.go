package routemodel

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// codingIntent is a question and pasted Go code of about size bytes, the
// shape of the router's benchmarks (wasm.BenchmarkRouterCPU).
func codingIntent(size int) []byte {
	code := "func handler(w http.ResponseWriter, r *http.Request) {\n\tid := r.URL.Query().Get(\"id\")\n\tif id == \"\" {\n\t\thttp.Error(w, \"missing id\", 400)\n\t\treturn\n\t}\n}\n"
	var b strings.Builder
	b.WriteString("Why does this handler return 400 for valid ids? Fix it in server.go.\n```go\n")
	for b.Len() < size-300 {
		b.WriteString(code)
	}
	b.WriteString("```")
	return []byte(b.String())
}

// BenchmarkLogit is the guest's model pass alone with the shipped weights.
// It also runs in the guest's own terms (Go's Wasm backend under wazero):
//
//	GOOS=wasip1 GOARCH=wasm GOWASIRUNTIME=wazero go test \
//	  -exec "$(go env GOROOT)/lib/wasm/go_wasip1_wasm_exec" \
//	  ./policies/router/routemodel -run '^$' -bench Logit
//
// (wazero on PATH: go install github.com/tetratelabs/wazero/cmd/wazero).
func BenchmarkLogit(b *testing.B) {
	raw, err := os.ReadFile("../weights.bin")
	if err != nil {
		b.Fatal(err)
	}
	m, err := Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 10, 16 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			in := &Input{Intent: codingIntent(size), SystemLen: 29, Messages: 2, UserTurns: 1, TotalChars: size}
			b.SetBytes(int64(min(size, HeadBytes+TailBytes)))
			b.ReportAllocs()
			// The fastest batch of 100 calls is the figure a busy machine
			// leaves least changed (a preempted batch is slower, never faster).
			best, k, start := time.Duration(1<<62), 0, time.Now()
			for b.Loop() {
				m.Logit(in)
				if k++; k == 100 {
					best, k = min(best, time.Since(start)), 0
					start = time.Now()
				}
			}
			if best < 1<<62 {
				b.ReportMetric(float64(best.Nanoseconds())/100, "min-ns/op")
			}
		})
	}
}
