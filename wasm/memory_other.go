//go:build !linux

package wasm

// mappedMemory is Linux-only (memory_linux.go); elsewhere guests' memories
// live on the Go heap (heapMemory).
type mappedMemory = heapMemory

func newMappedMemory(uint64) *mappedMemory { return nil }

// dropPages is a no-op where madvise is not used.
func dropPages([]byte) {}
