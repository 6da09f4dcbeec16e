//go:build wasip1

package main

import "github.com/aigateway/gateway/abi"

//go:wasmexport gateway_on_request
func onRequest() int32 { return abi.Serve(redact) }

func main() {}
