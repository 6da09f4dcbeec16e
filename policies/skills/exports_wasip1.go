//go:build wasip1

package main

import "github.com/aigateway/gateway/abi"

//go:wasmexport gateway_configure
func configureExport() int32 { return abi.Serve(configureCall) }

//go:wasmexport gateway_on_request
func onRequestExport() int32 { return abi.Serve(onRequest) }
