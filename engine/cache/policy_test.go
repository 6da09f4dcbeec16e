package cache

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyDecide(t *testing.T) {
	t.Parallel()
	p := Policy{
		Models: map[string]Rule{
			"openai/gpt-4o":  {Mode: ModeAlways, TTL: 10 * time.Minute},
			"openai/o3":      {Mode: ModeNever},
			"mock/echo":      {TTL: 5 * time.Minute},
			"ollama/qwen:7b": {Mode: ModeAuto, TTL: 2 * time.Minute},
		},
		Projects: map[string]Rule{
			"private": {Mode: ModeNever},
			"eager":   {Mode: ModeAlways, TTL: time.Minute},
		},
	}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	const hot = `{"model":"x","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}`
	const cold = `{"model":"x","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	const none = `{"model":"x","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, body, project, provider, model string
		deterministic                        bool
		cache                                bool
		ttl                                  time.Duration
		reason                               string
	}{
		{"temperature 0", cold, "p", "openai", "gpt-4o-mini", false, true, DefaultTTL, ""},
		{"temperature absent, not deterministic", none, "p", "openai", "gpt-4o-mini", false, false, DefaultTTL, "temperature"},
		{"temperature absent, deterministic", none, "p", "mock", "echo", true, true, 5 * time.Minute, ""},
		{"temperature 0.7", hot, "p", "openai", "gpt-4o-mini", true, false, DefaultTTL, "temperature"},
		{"model always", hot, "p", "openai", "gpt-4o", false, true, 10 * time.Minute, ""},
		{"model never", cold, "p", "openai", "o3", false, false, DefaultTTL, "mode"},
		{"project never beats model always", cold, "private", "openai", "gpt-4o", false, false, 10 * time.Minute, "mode"},
		{"project always, shorter TTL wins", hot, "eager", "openai", "gpt-4o", false, true, time.Minute, ""},
		{"project always beats model auto", hot, "eager", "ollama", "qwen:7b", false, true, time.Minute, ""},
		{"n > 1", strings.Replace(cold, `"temperature":0`, `"temperature":0,"n":3`, 1), "p", "openai", "gpt-4o", false, false, 10 * time.Minute, "n"},
		{"logprobs", strings.Replace(cold, `"temperature":0`, `"temperature":0,"logprobs":true`, 1), "p", "openai", "gpt-4o-mini", false, false, DefaultTTL, "logprobs"},
		{"logprobs false", strings.Replace(cold, `"temperature":0`, `"temperature":0,"logprobs":false`, 1), "p", "openai", "gpt-4o-mini", false, true, DefaultTTL, ""},
		{"audio", strings.Replace(cold, `"temperature":0`, `"temperature":0,"modalities":["text","audio"]`, 1), "p", "openai", "gpt-4o-mini", false, false, DefaultTTL, "audio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := p.Decide(decode(t, tt.body), tt.project, tt.provider, tt.model, tt.deterministic)
			if d.Cache != tt.cache || d.TTL != tt.ttl || d.Reason != tt.reason {
				t.Fatalf("Decide = %+v, want cache %v ttl %v reason %q", d, tt.cache, tt.ttl, tt.reason)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{
		{Mode: "sometimes"},
		{Models: map[string]Rule{"gpt-4o": {}}},
		{Projects: map[string]Rule{"p": {Mode: "yes"}}},
	} {
		if err := p.validate(); err == nil {
			t.Errorf("%+v validates", p)
		}
	}
}

func TestParseDirective(t *testing.T) {
	t.Parallel()
	tests := []struct {
		gw, cc string
		want   Directive
	}{
		{"", "", Use},
		{"bypass", "", Bypass},
		{" Refresh ", "", Refresh},
		{"", "no-cache", Refresh},
		{"", "max-age=0, No-Store", NoStore},
		{"", "no-store,no-cache", Bypass},
		{"refresh", "no-store", Bypass},
		{"hit", "private", Use},
	}
	for _, tt := range tests {
		if got := ParseDirective([]byte(tt.gw), []byte(tt.cc)); got != tt.want {
			t.Errorf("ParseDirective(%q, %q) = %d, want %d", tt.gw, tt.cc, got, tt.want)
		}
	}
}

func TestDecideAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	p := Policy{Models: map[string]Rule{"openai/gpt-4o": {Mode: ModeAlways}}}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
	req := decode(t, baseReq)
	hdr, cc := []byte("refresh"), []byte("no-store")
	if n := testing.AllocsPerRun(100, func() {
		p.Decide(req, "acme", "openai", "gpt-4o", false)
		ParseDirective(hdr, cc)
	}); n != 0 {
		t.Fatalf("Decide allocates %.1f times", n)
	}
}
