package catalog

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/unsafeconv"
)

func ptr[T any](v T) *T { return &v }

func TestResolve(t *testing.T) {
	c, err := New(map[string]bool{"openai": true, "anthropic": true, "mock": true, "gemini": false, "vllm": true},
		[]ModelConfig{
			{Name: "vllm/qwen", Provider: "vllm", ContextWindow: 32768, InputPrice: 0.1, Aliases: []string{"qwen"}},
			{Name: "openai/gpt-4o", Provider: "openai", InputPrice: 9, Tools: ptr(false)},
		})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want, err string
	}{
		{"mock/echo", "mock/echo", ""},
		{"gpt-4o", "openai/gpt-4o", ""},
		{"sonnet", "anthropic/claude-sonnet-4-5", ""},
		{"qwen", "vllm/qwen", ""},
		{"openai/gpt-9-preview", "openai/gpt-9-preview", ""},
		{"gpt-9", "openai/gpt-9", ""},
		{"gemini/gemini-2.5-pro", "", "needs provider `gemini`"},
		{"gemini-2.5-flash", "", "needs provider `gemini`"},
		{"nobody/x", "", "no provider named `nobody`"},
		{"openai/", "", "empty model name"},
		{"llama", "", "does not exist"},
	}
	for _, tt := range tests {
		m, err := c.Resolve(tt.name)
		if tt.err != "" {
			var re *ResolveError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) = %v, %v; want an error with %q", tt.name, m, err, tt.err)
			}
			continue
		}
		if err != nil || m.Name != tt.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tt.name, m, err, tt.want)
		}
	}
	m, _ := c.Resolve("openai/gpt-4o")
	if m.InputPrice != 9 || m.Tools || !m.Vision || m.OutputPrice != 10 {
		t.Errorf("override: %+v", m)
	}
	if q, _ := c.Resolve("qwen"); q.ContextWindow != 32768 || !q.Known {
		t.Errorf("added model: %+v", q)
	}
	if !c.Enabled("vllm") || c.Enabled("gemini") || c.Enabled("nobody") {
		t.Error("Enabled disagrees with the configuration")
	}
	for _, m := range c.Models() {
		if m.Provider == "gemini" {
			t.Errorf("Models lists %s of a disabled provider", m.Name)
		}
	}
}

// TestDynamicModelsOwnTheirStrings: a name outside the catalog usually points
// into a pooled request body; the model it resolves to must not change when
// those bytes are reused, and invented names are bounded.
func TestDynamicModelsOwnTheirStrings(t *testing.T) {
	c, err := New(map[string]bool{"openai": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("openai/custom-model")
	m, err := c.Resolve(string(buf[:])) // a copy, as a handler's unsafe view would not be
	if err != nil {
		t.Fatal(err)
	}
	view := unsafeString(buf)
	m2, _ := c.Resolve(view)
	copy(buf, "xxxxxxxxxxxxxxxxxxx")
	if m2.Name != "openai/custom-model" || m2.Upstream != "custom-model" || m2.Provider != "openai" || m != m2 {
		t.Fatalf("dynamic model changed with its name's bytes: %+v", m2)
	}
	for i := range maxDynamic + 10 {
		if _, err := c.Resolve(fmt.Sprintf("openai/m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.nDynamic.Load(); n > maxDynamic {
		t.Fatalf("%d dynamic models cached, bound %d", n, maxDynamic)
	}
}

func TestAliasClash(t *testing.T) {
	_, err := New(map[string]bool{"openai": true}, []ModelConfig{
		{Name: "openai/a", Provider: "openai", Aliases: []string{"x"}},
		{Name: "openai/b", Provider: "openai", Aliases: []string{"x"}},
	})
	if err == nil || !strings.Contains(err.Error(), `alias "x"`) {
		t.Fatalf("clashing aliases: %v", err)
	}
}

func TestLarger(t *testing.T) {
	c, err := New(map[string]bool{"groq": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := c.Resolve("groq/gemma2-9b-it")
	big := c.Larger(small)
	if big == nil || big.ContextWindow <= small.ContextWindow || big.Provider != "groq" {
		t.Fatalf("Larger(%s) = %+v", small.Name, big)
	}
	tools, _ := c.Resolve("groq/llama-3.3-70b-versatile")
	if l := c.Larger(tools); l != nil && !l.Tools {
		t.Fatalf("Larger(%s) = %s, which lacks tools", tools.Name, l.Name)
	}
}

func unsafeString(b []byte) string { return unsafeconv.String(b) }
