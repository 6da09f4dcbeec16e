// Command garbage is a test guest written in Go against the SDK. The route
// stage allocates and drops garbage on every call, as a real Go policy does
// (the soak test runs it 100,000 times); the request stage keeps everything
// it allocates until the runtime runs out of memory; the response stage
// panics.
package main

import "github.com/aigateway/gateway/abi"

var (
	sink  [][]byte
	churn map[int][]byte
	hoard [][]byte
	model = []byte("mock/echo")
)

func route(c *abi.Call) abi.Status {
	sink = append(sink[:0], make([]byte, 64<<10))
	for i := 0; i < 50; i++ {
		sink = append(sink, make([]byte, 100))
	}
	if churn == nil || len(churn) > 100 {
		churn = map[int][]byte{}
	}
	churn[len(churn)] = make([]byte, 3000)
	_ = c.Text(c.MessageCount() - 1)
	return c.SetRoute(model, nil)
}

func hog(c *abi.Call) abi.Status {
	for {
		hoard = append(hoard, make([]byte, 1<<20))
	}
}

func crash(c *abi.Call) abi.Status {
	var m map[string]int
	m["boom"]++ // assignment to entry in nil map
	return abi.StatusOK
}
