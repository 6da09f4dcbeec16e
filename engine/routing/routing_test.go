package routing

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/providers"
)

func TestParseClassification(t *testing.T) {
	tests := []struct{ in, tier string }{
		{`{"tier":"local","reason":"simple"}`, "local"},
		{"Sure!\n```json\n{\"tier\": \"opus\", \"reason\": \"architecture\"}\n```", "reasoning"},
		{`{"tier":"Sonnet"}`, "strong"},
		{`{"tier":"giant"}`, ""},
		{`no json here`, ""},
		{`{"tier":`, ""},
	}
	for _, tc := range tests {
		tier, _, ok := ParseClassification([]byte(tc.in))
		if tier != tc.tier || ok != (tc.tier != "") {
			t.Errorf("%q: %q %v", tc.in, tier, ok)
		}
	}
	// From a whole completion; the reason is made header-safe.
	tier, reason, ok := ParseAnswer([]byte(`{"choices":[{"message":{"role":"assistant","content":"{\"tier\":\"fast\",\"reason\":\"short\\r\\nX-Injected: 1\"}"}}]}`))
	if !ok || tier != "fast" || strings.ContainsAny(reason, "\r\n") {
		t.Errorf("ParseAnswer = %q, %q, %v", tier, reason, ok)
	}
}

func TestClassifierRequest(t *testing.T) {
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	long := strings.Repeat("x", 3000)
	if err := r.Decode([]byte(`{"messages":[{"role":"system","content":"ignored"},{"role":"user","content":"first"},{"role":"assistant","content":"ok"},{"role":"user","content":"` + long + `"}]}`)); err != nil {
		t.Fatal(err)
	}
	body, key := ClassifierRequest(r)
	var doc struct {
		Messages []struct{ Role, Content string }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("classifier body is not JSON: %v\n%s", err, body)
	}
	user := doc.Messages[1].Content
	if len(doc.Messages) != 2 || doc.Messages[0].Role != "system" || strings.Contains(user, "ignored") || strings.Contains(user, "first") {
		t.Fatalf("classifier request: %+v", doc)
	}
	// The last message always goes, cut to the excerpt's bound.
	if !strings.Contains(user, "user: xxx") || len(user) > classifierInputChars+100 {
		t.Fatalf("excerpt of %d bytes: %.80q", len(user), user)
	}
	if _, key2 := ClassifierRequest(r); key2 != key {
		t.Fatal("the same conversation has two cache keys")
	}
}

func TestClassifierCacheBounded(t *testing.T) {
	var c ClassifierCache
	for i := range uint64(classifierCacheSize + 10) {
		c.Put(i, "local", "r")
	}
	if _, _, ok := c.Get(0); ok {
		t.Fatal("the oldest answer was kept past the bound")
	}
	if tier, _, ok := c.Get(classifierCacheSize + 9); !ok || tier != "local" {
		t.Fatal("the newest answer is missing")
	}
	c.Put(classifierCacheSize+9, "strong", "again") // an update takes no new slot
	if len(c.order) != classifierCacheSize || len(c.byKey) != classifierCacheSize {
		t.Fatalf("cache holds %d keys, %d in order; bound %d", len(c.byKey), len(c.order), classifierCacheSize)
	}
}

func TestTiers(t *testing.T) {
	mockOnly, _ := catalog.New(map[string]bool{"mock": true}, nil)
	tiers, err := BindTiers(nil, mockOnly)
	if err != nil || tiers["fast"] != "mock/echo" || tiers["strong"] != "mock/echo" {
		t.Fatalf("mock only: %v %v", tiers, err)
	}
	cat, _ := catalog.New(map[string]bool{"mock": true, "openai": true, "ollama": true}, nil)
	tiers, err = BindTiers(map[string]string{"strong": "mock/lorem"}, cat)
	if err != nil {
		t.Fatal(err)
	}
	want := Tiers{"local": DefaultLocalModel, "fast": "openai/gpt-4o-mini", "strong": "mock/lorem", "reasoning": "openai/o3"}
	for k, v := range want {
		if tiers[k] != v {
			t.Errorf("tier %s = %q, want %q", k, tiers[k], v)
		}
	}
	if _, err := BindTiers(map[string]string{"fast": "gemini/gemini-2.0-flash"}, cat); err == nil || !strings.Contains(err.Error(), "routing.tiers.fast") {
		t.Fatalf("a tier bound to an unconfigured provider: %v", err)
	}
	partial := Tiers{"fast": "f", "reasoning": "r"}
	for tier, want := range map[string]string{"local": "f", "fast": "f", "strong": "r", "reasoning": "r", "bogus": "f"} {
		if got := partial.Model(tier); got != want {
			t.Errorf("Model(%q) = %q, want %q", tier, got, want)
		}
	}
	if (Tiers{}).Model("strong") != "" {
		t.Error("no tier bound, yet a model")
	}
	for from, to := range map[string]string{"local": "fast", "fast": "strong", "strong": "reasoning", "reasoning": ""} {
		if Above(from) != to {
			t.Errorf("Above(%q) = %q, want %q", from, Above(from), to)
		}
	}
}

func TestPolicyConfig(t *testing.T) {
	cat, _ := catalog.New(map[string]bool{"mock": true, "openai": true}, nil)
	tiers := Tiers{"fast": "openai/gpt-4o-mini", "strong": "gpt-4.1"}
	doc, err := PolicyConfig(tiers, cat, Knobs{Threshold: 0.4, AmbiguousMargin: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	if got["mode"] != "local_first" || got["threshold"] != 0.4 || got["ambiguous_margin"] != nil || got["weights"] != nil {
		t.Fatalf("config without phase 2: %s", doc)
	}
	strong := got["tiers"].(map[string]any)["strong"].(map[string]any)
	if strong["model"] != "gpt-4.1" || strong["context_window"] != float64(1047576) || strong["tools"] != true {
		t.Fatalf("strong tier: %v", strong)
	}
	doc, err = PolicyConfig(tiers, cat, Knobs{Mode: "cost", AmbiguousMargin: 0.1, Phase2: true, Weights: policies.RouterWeights()})
	if err != nil || !strings.Contains(doc, `"ambiguous_margin":0.1`) || !strings.Contains(doc, `"weights":"`) || !strings.Contains(doc, `"mode":"cost"`) {
		t.Fatalf("config with phase 2 and weights: %s %v", doc, err)
	}
	if _, err := PolicyConfig(tiers, cat, Knobs{Weights: []byte("junk")}); err == nil {
		t.Fatal("junk weights accepted")
	}
}

func TestWeightsFiles(t *testing.T) {
	dir := t.TempDir()
	if b, src, err := LoadWeights(dir, ""); b != nil || src != FromBuiltin || err != nil {
		t.Fatalf("nothing configured: %d bytes from %q, %v", len(b), src, err)
	}
	configured := filepath.Join(dir, "w.bin")
	w := policies.RouterWeights()
	if err := os.WriteFile(configured, w, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, src, _ := LoadWeights(dir, configured); len(b) != len(w) || src != FromConfig {
		t.Fatalf("configured weights: %d bytes from %q", len(b), src)
	}
	if _, _, err := LoadWeights(dir, filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing configured file is no error")
	}
	if _, err := SaveUpload(dir, []byte("junk")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("junk upload: %v", err)
	}
	if _, err := SaveUpload(dir, make([]byte, MaxWeightsBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large upload: %v", err)
	}
	if _, err := SaveUpload("", w); !errors.Is(err, ErrNoDataDir) {
		t.Fatalf("upload without data_dir: %v", err)
	}
	prev, err := SaveUpload(dir, w)
	if err != nil || prev != nil {
		t.Fatalf("first upload: %v, previous %d bytes", err, len(prev))
	}
	if _, src, _ := LoadWeights(dir, configured); src != FromUpload {
		t.Fatalf("an upload does not win over the configured file: %q", src)
	}
	if prev, _ := SaveUpload(dir, w); len(prev) != len(w) {
		t.Fatal("the second upload did not return the first")
	}
	if err := RestoreUpload(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, src, _ := LoadWeights(dir, ""); src != FromBuiltin {
		t.Fatalf("restored to no upload, yet %q", src)
	}
	info := WeightsInfo(nil, FromBuiltin)
	if info["bytes"] != len(w) || info["bits"] == nil {
		t.Fatalf("builtin weights info: %v", info)
	}
}
