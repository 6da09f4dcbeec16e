package wasm

import "github.com/aigateway/gateway/policies"

// Builtin returns the embedded module of a built-in policy ("stripper",
// "dedup", "skills", "diff-first", "router", "judge").
func Builtin(name string) ([]byte, bool) { return policies.Module(name) }

// BuiltinNames lists the built-in policies.
func BuiltinNames() []string { return policies.Names() }
