//go:build wasip1

package main

import "github.com/aigateway/gateway/abi"

//go:wasmexport gateway_on_route
func onRoute() int32 { return abi.Serve(route) }

//go:wasmexport gateway_on_request
func onRequest() int32 { return abi.Serve(hog) }

//go:wasmexport gateway_on_response
func onResponse() int32 { return abi.Serve(crash) }

func main() {}
