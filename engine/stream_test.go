package engine

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
)

// waitFor polls cond for up to 10s: a bounded wait for an event, not a timing
// assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: strings.Repeat("word ", 200), Pace: 20 * time.Millisecond}
	up, err := providertest.StartOpenAI(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": up.URL + "/v1"})

	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`
	req, _ := http.NewRequest("POST", g.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	// Read a few events, then hang up.
	buf := make([]byte, 256)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upstream stream to start", func() bool { return up.Active.Load() == 1 })
	conn.Close()
	waitFor(t, "the upstream to see its connection closed", func() bool { return up.Closed.Load() == 1 })
	waitFor(t, "the exchange to finish", func() bool { return strings.Contains(g.logText(), `"client_disconnected":true`) })
	if up.Active.Load() != 0 {
		t.Fatalf("upstream stream still active")
	}
}

func TestUpstreamStallEndsStreamWithError(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "a b c d e f", StallAfter: 2, StallFor: 2 * time.Second}
	up, err := providertest.StartOpenAI(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	toml := `
[providers.stally]
kind = "openai"
base_url = "` + up.URL + `/v1"
idle_timeout = "300ms"
`
	g := startGateway(t, toml, nil)
	req, _ := http.NewRequest("POST", g.url+"/v1/chat/completions", strings.NewReader(`{"model":"stally/m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := sseEvents(t, resp.Body)
	if len(events) < 2 {
		t.Fatalf("events %q", events)
	}
	last, errEv := events[len(events)-1], events[len(events)-2]
	if last != "[DONE]" || !strings.Contains(errEv, `"error"`) || !strings.Contains(errEv, "idle timeout") {
		t.Fatalf("stream did not end with an error event and [DONE]: %q", events)
	}
	// The two words before the stall were relayed.
	if !strings.Contains(strings.Join(events, ""), `"content":"b "`) {
		t.Fatalf("content before the stall lost: %q", events)
	}
}

func TestGracefulShutdownDrainsStreams(t *testing.T) {
	t.Parallel()
	toml := `
[providers.mock]
pace = "20ms"
`
	g := startGateway(t, toml, nil)
	req, _ := http.NewRequest("POST", g.url+"/v1/chat/completions", strings.NewReader(`{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"`+strings.Repeat("tok ", 30)+`"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- g.srv.Shutdown(ctx)
	}()
	waitFor(t, "draining to start", func() bool { return g.srv.draining.Load() })
	// New connections are refused while the stream drains.
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepting during shutdown")
	}
	events := sseEvents(t, resp.Body)
	if events[len(events)-1] != "[DONE]" || len(events) != 33 {
		t.Fatalf("stream cut during drain: %d events, last %q", len(events), events[len(events)-1])
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestStreamReusesUpstreamConnection: a stream that ended cleanly gives its
// upstream connection back to the pool, so sequential streams share one.
func TestStreamReusesUpstreamConnection(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "a b c"})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	for i := 0; i < 5; i++ {
		status, _, body := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
		if status != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Fatalf("%d %s", status, body)
		}
	}
	if n := up.Conns.Load(); n != 1 {
		t.Fatalf("5 sequential streams opened %d upstream connections, want 1", n)
	}
}
