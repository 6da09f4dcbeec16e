//go:build !wasip1

package main

// main exists so that the package builds natively for its tests; the policy
// only runs as Wasm.
func main() {}
