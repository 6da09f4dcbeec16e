//go:build wasip1

package main

import "github.com/aigateway/gateway/abi"

//go:wasmexport gateway_configure
func configureExport() int32 { return abi.Configure(configure) }

//go:wasmexport gateway_on_response
func onResponseExport() int32 { return abi.Serve(onResponse) }
