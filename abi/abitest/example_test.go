package abitest_test

import (
	"fmt"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/abi/abitest"
)

func route(c *abi.Call) abi.Status {
	last := c.LastIndex("user")
	if last >= 0 && abi.ContainsFold(c.Text(last), "urgent") {
		return c.SetRouteTier([]byte("anthropic/claude-sonnet-4-0"), abi.TierStrong, []byte("urgent request"))
	}
	return abi.StatusOK
}

func strip(c *abi.Call) abi.Status {
	for i := 0; i < c.MessageCount(); i++ {
		if t := c.Text(i); len(t) > 0 && t[len(t)-1] == ' ' {
			c.Replace(i, len(t)-1, len(t), nil)
			c.ReportRemoved(abi.RemovedBoilerplate, 1)
		}
	}
	return abi.StatusOK
}

func ExampleRun() {
	res := abitest.Run(abi.StageRoute, abitest.Chat("auto", "user", "URGENT: prod is down"), route)
	fmt.Println(res.Route.Model, res.Route.Tier, res.Route.Reason)

	res = abitest.Run(abi.StageRequest, abitest.Chat("auto", "system", "Be brief. ", "user", "hi"), strip)
	fmt.Printf("%q %v\n", res.Messages[0].Text, res.Removed[abi.RemovedBoilerplate])

	res = abitest.Run(abi.StageRoute, abitest.Chat("auto", "user", "hi"), func(c *abi.Call) abi.Status {
		return c.Fail("no rule matched")
	})
	fmt.Println(res.OK(), res.Error)
	// Output:
	// anthropic/claude-sonnet-4-0 strong urgent request
	// "Be brief." 1
	// false no rule matched
}
