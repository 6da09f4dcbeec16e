// Package policies holds the gateway's built-in policies. Each is a Go
// program in a subdirectory, written against package abi and compiled to
// Wasm by build.sh; the modules are committed under wasm/ and embedded here,
// so a fresh clone builds without a Wasm step.
package policies

import (
	"embed"
	"encoding/json"
	"io/fs"
	"sort"
	"strings"
)

//go:embed wasm/*.wasm
var modules embed.FS

//go:embed skills/defaults.json
var defaultSkills []byte

// Module returns the embedded Wasm module of built-in policy name.
func Module(name string) ([]byte, bool) {
	if strings.ContainsAny(name, "/.") {
		return nil, false
	}
	b, err := modules.ReadFile("wasm/" + name + ".wasm")
	return b, err == nil
}

// Names lists the built-in policies, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(modules, "wasm")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".wasm"))
	}
	sort.Strings(out)
	return out
}

// Skill is a prompt template the skills policy prepends to the system prompt.
// gateway.toml's [[skills]] tables decode into it, and the skills policy's
// JSON config is {"skills": [Skill...]}.
type Skill struct {
	// ID selects the skill (X-Gateway-Skill, "skill", a leading "@ID");
	// case-insensitive, [a-z0-9-].
	ID string `toml:"id" json:"id"`
	// Description is what GET /v1/skills shows.
	Description string `toml:"description" json:"description"`
	// Template is the text prepended to the system prompt.
	Template string `toml:"template" json:"template"`
	// Tier is a routing hint ("local", "fast", "strong", "reasoning"),
	// reported as a tag; empty for none.
	Tier string `toml:"tier" json:"tier,omitempty"`
}

// DefaultSkills returns the eight built-in skills (a fresh copy).
func DefaultSkills() []Skill {
	var doc struct {
		Skills []Skill `json:"skills"`
	}
	if err := json.Unmarshal(defaultSkills, &doc); err != nil {
		panic("BUG: policies/skills/defaults.json: " + err.Error())
	}
	return doc.Skills
}

// DefaultSkillsJSON returns policies/skills/defaults.json, the skills
// policy's config format.
func DefaultSkillsJSON() []byte { return append([]byte(nil), defaultSkills...) }

//go:embed router/weights.bin
var routerWeights []byte

// RouterWeights returns the built-in router's embedded model (the same
// bytes the router module embeds), for `gateway router eval`.
func RouterWeights() []byte { return routerWeights }
