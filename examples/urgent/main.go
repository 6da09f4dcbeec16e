// Command urgent is the smallest route-stage policy: a request whose last
// user message says "urgent" goes to the strong tier.
package main

import "github.com/aigateway/gateway/abi"

var (
	model  = []byte("anthropic/claude-sonnet-4-0")
	reason = []byte("urgent request")
)

func route(c *abi.Call) abi.Status {
	last := c.LastIndex("user") // -1 when there is none
	if last >= 0 && abi.ContainsFold(c.Text(last), "urgent") {
		return c.SetRouteTier(model, abi.TierStrong, reason)
	}
	return abi.StatusOK // no decision: the next policy, or the default model, decides
}

//go:wasmexport gateway_on_route
func onRoute() int32 { return abi.Serve(route) }

func main() {}
