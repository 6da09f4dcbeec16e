package main

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/wasm"
)

// TestReasoningAtLeast: the lazy comparison gives reasoningScore(f) >= th
// for every request and threshold, including thresholds exactly at the
// score and at the score before and after the source-file part, and
// computes the whole-text pass only when the answer depends on it.
func TestReasoningAtLeast(t *testing.T) {
	files := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(" see f")
			b.WriteByte(byte('a' + i))
			b.WriteString(".go")
		}
		return b.String()
	}
	var texts []string
	for _, kw := range []string{"", "architect the security migration", "a simple quick typo", "kubernetes terraform infrastructure design", "what is this"} {
		for _, n := range []int{0, 3, 6, 11} {
			for _, size := range []int{10, 2500, 6000} {
				texts = append(texts, long(kw+files(n), size))
			}
		}
	}
	skipped := 0
	for _, text := range texts {
		for _, tools := range []int{0, 5, 9} {
			in := &wasm.Input{Model: []byte("auto")}
			in.AddMessage([]byte("user"), []byte(text), 0)
			for range tools {
				in.AddTool([]byte("tool"))
			}
			var base, score float64
			wasm.RunNative("router", abi.StageRoute, nil, in, new(wasm.Output), func(c *abi.Call) abi.Status {
				var f features
				f.load(c)
				base, score = reasoningBase(&f), reasoningScore(&f)
				return abi.StatusOK
			})
			ths := []float64{0, 0.3, 0.5, 0.7, base, base + .06, base + filesMaxBonus, score, score - 1e-9, score + 1e-9}
			for _, th := range ths {
				var got, whole bool
				wasm.RunNative("router", abi.StageRoute, nil, in, new(wasm.Output), func(c *abi.Call) abi.Status {
					var f features
					f.load(c)
					got = reasoningAtLeast(&f, th)
					whole = f.wholeDone
					return abi.StatusOK
				})
				if want := score >= th; got != want {
					t.Fatalf("%.40q tools %d th %v: reasoningAtLeast %v, reasoningScore %v >= th %v", text, tools, th, got, score, want)
				}
				if !whole {
					skipped++
				}
			}
		}
	}
	if skipped == 0 {
		t.Fatal("the whole-text pass ran for every threshold")
	}
}
