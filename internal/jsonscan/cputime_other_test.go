//go:build !unix

package jsonscan

// cpuTime is not measured here: the cpu-us/op metric reads 0.
func cpuTime() int64 { return 0 }
