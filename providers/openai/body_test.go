package openai

import (
	"encoding/json"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// TestAppendBodyPromptCacheKey: the key is added after the client's members
// when the client sent none, and never replaces the client's.
func TestAppendBodyPromptCacheKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, key, want string }{
		{"added last", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, "proj-7f3a",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"prompt_cache_key":"proj-7f3a"}`},
		{"client's kept", `{"model":"gpt-4o","prompt_cache_key":"mine","messages":[{"role":"user","content":"x"}]}`, "proj-7f3a",
			`{"model":"gpt-4o","prompt_cache_key":"mine","messages":[{"role":"user","content":"x"}]}`},
		{"client's null kept", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"prompt_cache_key":null}`, "proj-7f3a",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"prompt_cache_key":null}`},
		{"no key: unchanged", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, "",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`},
		{"with model and stream options inserted", `{"stream":true,"messages":[{"role":"user","content":"x"}] }`, "p\"q",
			`{"stream":true,"messages":[{"role":"user","content":"x"}] ,"model":"gpt-4o","stream_options":{"include_usage":true},"prompt_cache_key":"p\"q"}`},
		{"after a dropped gateway member", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"skill":"s"}`, "k",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"prompt_cache_key":"k"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			got := AppendBodyWith(nil, r, "gpt-4o", BodyOptions{PromptCacheKey: tc.key})
			if string(got) != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
		})
	}
}

// TestAppendBodyNoReasoning: for a model that does not reason, the
// client's reasoning_effort is left out wherever it stands; otherwise it
// passes.
func TestAppendBodyNoReasoning(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		name, in, want string
		drop           bool
	}{
		{"first", `{"reasoning_effort":"high","model":"m",` + msgs + `}`, `{"model":"gpt-4o",` + msgs + `}`, true},
		{"middle", `{"model":"m", "reasoning_effort":"low", ` + msgs + `}`, `{"model":"gpt-4o", ` + msgs + `}`, true},
		{"last", `{"model":"m",` + msgs + `,"reasoning_effort":"medium"}`, `{"model":"gpt-4o",` + msgs + `}`, true},
		{"after a gateway member", `{"model":"m",` + msgs + `,"skill":"s","reasoning_effort":"medium"}`, `{"model":"gpt-4o",` + msgs + `}`, true},
		{"before a gateway member", `{"reasoning_effort":"medium","skill":"s","model":"m",` + msgs + `}`, `{"model":"gpt-4o",` + msgs + `}`, true},
		{"kept for a reasoning model", `{"model":"m",` + msgs + `,"reasoning_effort":"high"}`, `{"model":"gpt-4o",` + msgs + `,"reasoning_effort":"high"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			if r.ReasoningEffort == "" {
				t.Fatal("reasoning_effort not decoded")
			}
			got := AppendBodyWith(nil, r, "gpt-4o", BodyOptions{NoReasoning: tc.drop})
			if string(got) != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestAppendBodyCapMaxTokens: BodyOptions.CapMaxTokens rewrites a
// max_tokens or max_completion_tokens above it in place, every other byte
// (member order, whitespace) kept; smaller values and other members pass.
func TestAppendBodyCapMaxTokens(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		name, in, want string
		capAt          int
	}{
		{"max_tokens", `{"model":"m", "max_tokens" : 32000 ,` + msgs + `}`, `{"model":"gpt-4o", "max_tokens" : 16384 ,` + msgs + `}`, 16384},
		{"both, last", `{"max_completion_tokens":40000,` + msgs + `,"model":"m","max_tokens":20000}`, `{"max_completion_tokens":16384,` + msgs + `,"model":"gpt-4o","max_tokens":16384}`, 16384},
		{"below the cap", `{"model":"m","max_tokens":100,` + msgs + `}`, `{"model":"gpt-4o","max_tokens":100,` + msgs + `}`, 16384},
		{"at the cap", `{"model":"m","max_completion_tokens":16384,` + msgs + `}`, `{"model":"gpt-4o","max_completion_tokens":16384,` + msgs + `}`, 16384},
		{"no cap", `{"model":"m","max_tokens":32000,` + msgs + `}`, `{"model":"gpt-4o","max_tokens":32000,` + msgs + `}`, 0},
		{"null", `{"model":"m","max_tokens":null,` + msgs + `}`, `{"model":"gpt-4o","max_tokens":null,` + msgs + `}`, 16384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			got := AppendBodyWith(nil, r, "gpt-4o", BodyOptions{CapMaxTokens: tc.capAt})
			if string(got) != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}
