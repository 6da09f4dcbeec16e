//go:build !wasip1

package abi

import "embed"

// Source is this SDK's own source: its go.mod, the Go files of abi and
// abi/abitest, and ABI.md. `gateway policy new` writes it beside a new
// policy when no checkout of the gateway is at hand, so that the policy
// builds anywhere with the gateway binary alone. Modules never contain it:
// the file is not part of wasip1 builds.
//
//go:embed go.mod *.go abitest/*.go ABI.md
var Source embed.FS
