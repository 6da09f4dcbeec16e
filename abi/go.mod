module github.com/aigateway/gateway/abi

// The guest SDK is its own module so that a policy outside this repository
// can require it (with a replace to a checkout, or to the copy `gateway
// policy new` writes) without pulling in the gateway. It imports nothing but
// the standard library.
go 1.24
