// Package policies holds the gateway's built-in policies. Each is a Go
// program in a subdirectory, written against package abi and compiled to
// Wasm by build.sh; the modules are committed under wasm/ and embedded here,
// so a fresh clone builds without a Wasm step.
package policies

import (
	_ "embed" // the modules are embedded as strings: see Module
	"encoding/json"
	"sort"
	"unsafe"
)

// The modules are embedded as strings, not an embed.FS: a string's bytes
// stay in the binary's read-only data, where Module hands them out without a
// copy (embed.FS.ReadFile copies every call: 2 MB per module per read, kept
// for as long as a policy version lives). TestBuiltins checks that every
// module under wasm/ is listed here.
var (
	//go:embed wasm/dedup.wasm
	dedupWasm string
	//go:embed wasm/diff-first.wasm
	diffFirstWasm string
	//go:embed wasm/judge.wasm
	judgeWasm string
	//go:embed wasm/router.wasm
	routerWasm string
	//go:embed wasm/skills.wasm
	skillsWasm string
	//go:embed wasm/stripper.wasm
	stripperWasm string
)

var modules = map[string]string{
	"dedup":      dedupWasm,
	"diff-first": diffFirstWasm,
	"judge":      judgeWasm,
	"router":     routerWasm,
	"skills":     skillsWasm,
	"stripper":   stripperWasm,
}

//go:embed skills/defaults.json
var defaultSkills []byte

// Module returns the embedded Wasm module of built-in policy name.
//
// # Notes
//
// The bytes are the binary's read-only data, shared by every caller and
// never copied: writing to them faults. Callers that need a mutable copy
// clone it.
func Module(name string) ([]byte, bool) {
	s, ok := modules[name]
	if !ok {
		return nil, false
	}
	return unsafe.Slice(unsafe.StringData(s), len(s)), true
}

// Names lists the built-in policies, sorted.
func Names() []string {
	out := make([]string, 0, len(modules))
	for name := range modules {
		out = append(out, name)
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
