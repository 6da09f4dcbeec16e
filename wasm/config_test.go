package wasm

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestPolicyConfigTOML pins the contract with the engine's gateway.toml
// decoder: every field has a toml tag, durations are strings.
func TestPolicyConfigTOML(t *testing.T) {
	t.Parallel()
	var doc struct {
		Policies []PolicyConfig `toml:"policies"`
	}
	md, err := toml.Decode(`
[[policies]]
name = "router"
module = "builtin:router"
stages = ["route"]
config = '{"mode":"balanced"}'
timeout = "250ms"
memory_mb = 32
fail = "closed"
enabled = false
`, &doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Undecoded()) != 0 || len(doc.Policies) != 1 {
		t.Fatalf("undecoded keys %v", md.Undecoded())
	}
	p := doc.Policies[0]
	if p.Name != "router" || p.Module != "builtin:router" || len(p.Stages) != 1 || p.Config != `{"mode":"balanced"}` ||
		p.Timeout != 250*time.Millisecond || p.MemoryMB != 32 || p.Fail != "closed" || p.Enabled == nil || *p.Enabled {
		t.Fatalf("decoded %+v", p)
	}
	opts := Options{}.withDefaults()
	if _, err := opts.spec(p); err != nil {
		t.Fatalf("a decoded config does not validate: %v", err)
	}
}

func TestDefaultPolicies(t *testing.T) {
	t.Parallel()
	opts := Options{}.withDefaults()
	names := map[string]bool{}
	for _, p := range DefaultPolicies() {
		if _, err := opts.spec(p); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		names[p.Name] = p.Enabled == nil || *p.Enabled
	}
	if !names["router"] || !names["stripper"] || !names["skills"] || names["diff-first"] {
		t.Fatalf("defaults = %v, want router, stripper, skills on and diff-first off", names)
	}
}
