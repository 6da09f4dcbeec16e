// Package routing holds what `model: "auto"` needs besides the router
// policy itself: the binding of the four tiers to models, the router
// policy's configuration (tiers, threshold, margin, replacement weights),
// the phase-2 classifier's prompt, answer parsing and cache, and the
// weights file an operator uploads. The engine makes the upstream calls
// (phase 2, cascade attempts) through its one protected call path.
package routing

import (
	"fmt"

	"github.com/aigateway/gateway/engine/catalog"
)

// The tiers, cheapest first.
var order = [...]string{"local", "fast", "strong", "reasoning"}

// preferences are the default models of each tier, best first; the first
// one whose provider is configured wins.
var preferences = map[string][]string{
	"fast":      {"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.0-flash", "groq/llama-3.3-70b-versatile"},
	"strong":    {"anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-pro", "groq/llama-3.3-70b-versatile"},
	"reasoning": {"anthropic/claude-opus-4-5", "openai/o3", "gemini/gemini-2.5-pro"},
}

// DefaultLocalModel is the local tier's model when Ollama is configured and
// gateway.toml binds none.
const DefaultLocalModel = "ollama/qwen2.5-coder"

// Tiers binds tier names to model names. Unbound tiers are absent.
type Tiers map[string]string

// BindTiers binds every tier to a model among the configured providers:
// the [routing] tiers of gateway.toml (explicit; each must resolve), then
// Ollama's default for local, then each tier's preferences. With only the
// mock configured, fast and strong are its echo model, so that `auto`
// works and shows its route reasons.
func BindTiers(explicit map[string]string, cat *catalog.Catalog) (Tiers, error) {
	out := Tiers{}
	for tier, name := range explicit {
		if _, err := cat.Resolve(name); err != nil {
			return nil, fmt.Errorf("routing.tiers.%s: %w", tier, err)
		}
		out[tier] = name
	}
	if _, ok := out["local"]; !ok && cat.Enabled("ollama") {
		out["local"] = DefaultLocalModel
	}
	for tier, prefs := range preferences {
		if _, ok := out[tier]; ok {
			continue
		}
		for _, name := range prefs {
			if _, err := cat.Resolve(name); err == nil {
				out[tier] = name
				break
			}
		}
	}
	if len(out) == 0 {
		out["fast"], out["strong"] = "mock/echo", "mock/echo"
	}
	return out, nil
}

// Model returns the model bound to tier, or to the nearest bound tier above
// it (then below it); "" when no tier is bound.
func (t Tiers) Model(tier string) string {
	at := 0
	for i, name := range order {
		if name == tier {
			at = i
		}
	}
	for i := at; i < len(order); i++ {
		if m := t[order[i]]; m != "" {
			return m
		}
	}
	for i := at - 1; i >= 0; i-- {
		if m := t[order[i]]; m != "" {
			return m
		}
	}
	return ""
}

// Above is the tier a cascade escalates to from tier ("" from the top).
func Above(tier string) string {
	for i := range len(order) - 1 {
		if order[i] == tier {
			return order[i+1]
		}
	}
	return ""
}
