package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

func noConfig(*abi.Call) abi.Status { return abi.StatusOK }

func TestGolden(t *testing.T) {
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			got := policytest.RunNative(t, "stripper", abi.StageRequest, c, nil, noConfig, onRequest)
			policytest.Golden(t, "testdata", c.Name, got)
		})
	}
}

// finalTexts runs the stripper on in and returns every message's text
// afterwards.
func finalTexts(in *wasm.Input) [][]byte {
	var out wasm.Output
	if st := wasm.RunNative("stripper", abi.StageRequest, nil, in, &out, onRequest); st != abi.StatusOK {
		panic(st.String())
	}
	texts := make([][]byte, len(in.Messages))
	for i := range in.Messages {
		texts[i] = in.Messages[i].Text
	}
	for _, m := range out.Messages() {
		if m.Orig >= 0 {
			texts[m.Orig] = m.Text
		}
	}
	return texts
}

// TestPrefixStable checks the property that keeps provider prompt caches
// hitting: stripping the first k messages of a conversation gives exactly
// the first k results of stripping the whole conversation, for every k. A
// client that resends the history with one more turn therefore sends the
// upstream the same prefix as last time.
func TestPrefixStable(t *testing.T) {
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			full := c.Input(t)
			want := finalTexts(full)
			for k := 1; k < len(full.Messages); k++ {
				var req map[string]json.RawMessage
				if err := json.Unmarshal(c.Request, &req); err != nil {
					t.Fatal(err)
				}
				var msgs []json.RawMessage
				json.Unmarshal(req["messages"], &msgs)
				req["messages"], _ = json.Marshal(msgs[:k])
				c2 := c
				c2.Request, _ = json.Marshal(req)
				got := finalTexts(c2.Input(t))
				for i := 0; i < k; i++ {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("prefix of %d messages: message %d is\n%q\nalone but\n%q\nin the full conversation", k, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestFences(t *testing.T) {
	text := []byte("a\n```go\nx\n```\nb\n  ~~~\ny\n  ~~~\n```\nunclosed")
	s := stripper{text: text}
	if !s.inFence(bytes.Index(text, []byte("x")), bytes.Index(text, []byte("x"))+1) || s.inFence(0, 1) {
		t.Fatal("inFence wrong")
	}
	if !s.inFence(len(text)-2, len(text)) {
		t.Fatal("an unclosed fence must protect the rest of the text")
	}
	if len(s.fences) != 3 {
		t.Fatalf("fences = %v", s.fences)
	}
}

// FuzzStrip checks that stripping never panics, never fails the request
// and never grows a message, whatever the bytes (invalid UTF-8 included).
func FuzzStrip(f *testing.F) {
	for _, s := range []string{
		"<|im_start|>user\nhi<|im_end|>",
		"<attached_files>\n</attached_files>\n\ntext",
		"<environment_details>\n# A\nlong enough body here\n</environment_details>",
		"```\n<|im_end|>\n```",
		"You are Continue.\n\n\n\nx",
	} {
		f.Add([]byte(s), []byte(s))
	}
	f.Fuzz(func(t *testing.T, sys, user []byte) {
		in := &wasm.Input{}
		in.AddMessage([]byte("system"), sys, 0)
		in.AddMessage([]byte("user"), user, 0)
		in.AddMessage([]byte("user"), user, 0)
		for i, txt := range finalTexts(in) {
			if len(txt) > len(in.Messages[i].Text) {
				t.Fatalf("message %d grew: %q -> %q", i, in.Messages[i].Text, txt)
			}
		}
	})
}
