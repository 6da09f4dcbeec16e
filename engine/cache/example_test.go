package cache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/mock"
)

// serve is what the engine does between model resolution and the provider
// call; it returns what the client would receive and the X-Gateway-Cache
// header.
func serve(c *cache.Cache, p providers.Provider, body, project string) (string, string, error) {
	req := providers.AcquireRequest()
	defer providers.ReleaseRequest(req)
	if err := req.Decode([]byte(body)); err != nil {
		return "", "", err
	}
	provider, upstream := "mock", "echo" // resolved from the catalog
	k := cache.KeyFor(req, project, provider, upstream)
	d := c.Policy().Decide(req, project, provider, upstream, true /* the model is deterministic */)
	r := c.Begin(k, d, cache.ParseDirective(nil /* X-Gateway-Cache */, nil /* Cache-Control */))
	id := "chatcmpl-req1"

	var resp *providers.Response
	switch {
	case r.Entry != nil: // hit: serve it like an upstream answer
		resp = r.Entry.Response(id, req.Stream, req.IncludeUsage)
	case r.Err != nil: // the identical request we waited for failed upstream
		return "", r.Header(), r.Err
	default: // go upstream; r.Flight is nil when the cache stays out of it
		var err error
		resp, err = p.Chat(context.Background(), &providers.Call{Req: req, Model: upstream, ID: id, Created: time.Now().Unix()})
		if err != nil {
			r.Flight.Done(nil, err) // every path ends the flight
			return "", r.Header(), err
		}
		if resp.Stream != nil {
			resp.Stream = r.Flight.Record(resp.Stream, upstream) // done at the end of the stream
		} else {
			r.Flight.Done(cache.ParseCompletion(resp.Body, upstream))
		}
	}
	defer resp.Close()
	if resp.Stream == nil {
		var c struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.Unmarshal(resp.Body, &c); err != nil {
			return "", "", err
		}
		return "content: " + c.Choices[0].Message.Content, r.Header(), nil
	}
	var out []byte
	for {
		ev, err := resp.Stream.Next()
		if err == io.EOF {
			break
		}
		out = append(out, ev...)
	}
	return fmt.Sprintf("%d bytes of SSE", len(out)), r.Header(), nil
}

// Example shows a streamed answer stored by the first request and served to
// a non-streaming request, then to a streaming one, from the same entry.
func Example() {
	c, err := cache.New(cache.Config{MemoryMB: 8})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	p := mock.New(mock.Config{})
	for _, body := range []string{
		`{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"hello cache"}]}`,
		`{"model":"mock/echo","messages":[{"role":"user","content":"hello cache"}]}`,
		`{"model":"mock/echo","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello cache"}]}`,
	} {
		out, hdr, err := serve(c, p, body, "acme")
		if err != nil {
			panic(err)
		}
		fmt.Println(hdr, out)
	}
	// Output:
	// miss 766 bytes of SSE
	// hit-memory content: hello cache
	// hit-memory 857 bytes of SSE
}
