package wasm

import (
	"bytes"

	"github.com/aigateway/gateway/policies"
)

// Builtin returns the embedded module of a built-in policy ("stripper",
// "dedup", "skills", "diff-first", "router", "judge").
func Builtin(name string) ([]byte, bool) { return policies.Module(name) }

// BuiltinNames lists the built-in policies.
func BuiltinNames() []string { return policies.Names() }

// builtinModule reports whether module is, byte for byte, one of the
// embedded built-ins: those run in the trusted runtime. Only a built-in of
// the same length is compared, and a module that is the embedded bytes
// themselves compares by address, so recognising one reads no module page
// (hashing all six at start-up used to page 12 MB of the binary in).
func builtinModule(module []byte) bool {
	for _, name := range BuiltinNames() {
		if b, _ := Builtin(name); len(b) == len(module) && (len(b) == 0 || &b[0] == &module[0] || bytes.Equal(b, module)) {
			return true
		}
	}
	return false
}

// dropEmbedded lets the kernel take back the pages of module when it is one
// of the embedded built-ins itself (the binary's read-only bytes): after a
// compile or a digest has read it, nothing needs it resident until the next
// compile, which pages it in again.
func dropEmbedded(module []byte) {
	for _, name := range BuiltinNames() {
		if b, _ := Builtin(name); len(b) == len(module) && len(b) > 0 && &b[0] == &module[0] {
			dropPages(module)
			return
		}
	}
}
