//go:build !wasip1

package abi

// Serve and Configure exist outside Wasm so that a policy package, exports
// included, builds and tests natively (go vet, go test with abi/abitest).
// Natively nothing calls the exports; calling them is a mistake.

// Serve runs handler for the current stage call of a Wasm module. Natively
// it panics: test handlers with abi/abitest.
func Serve(handler func(*Call) Status) int32 {
	panic("abi.Serve runs only in a Wasm module (GOOS=wasip1); test the handler with abi/abitest.Run")
}

// Configure runs the self-check of a Wasm module. Natively it panics: test
// the config parser with abi/abitest.Configure.
func Configure(parse func(config []byte) string) int32 {
	panic("abi.Configure runs only in a Wasm module (GOOS=wasip1); test the parser with abi/abitest.Configure")
}
