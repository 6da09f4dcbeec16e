//go:build wasip1

package main

import "github.com/aigateway/gateway/abi"

//go:wasmexport gateway_configure
func configureExport() int32 { return abi.Configure(configure) }

//go:wasmexport gateway_on_route
func onRoute() int32 { return abi.Serve(route) }

func main() {}
