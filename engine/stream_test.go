package engine

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
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

// TestUpstreamConnectionReuse: through the gateway, 100 sequential calls to
// each provider kind share one upstream connection after a clean end,
// streamed or not, translated or passed through (/v1/messages).
func TestUpstreamConnectionReuse(t *testing.T) {
	t.Parallel()
	start := func(s *providertest.Server, err error) *providertest.Server {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	const reply = "one two three four"
	ups := map[string]*providertest.Server{
		"openai":    start(providertest.StartOpenAI(&providertest.OpenAI{Reply: reply})),
		"anthropic": start(providertest.StartAnthropic(&providertest.Anthropic{Reply: reply})),
		"gemini":    start(providertest.StartGemini(&providertest.Gemini{Reply: reply})),
		"ollama":    start(providertest.StartOllama(&providertest.Ollama{Reply: reply})),
	}
	g := startGateway(t, "", map[string]string{
		"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": ups["openai"].URL + "/v1",
		"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": ups["anthropic"].URL,
		"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": ups["gemini"].URL,
		"LOCAL_LLM_BASE_URL": ups["ollama"].URL,
	})
	routes := []struct {
		provider, path, model string
	}{
		{"openai", "/v1/chat/completions", "openai/gpt-4o"},
		{"anthropic", "/v1/chat/completions", "anthropic/claude-sonnet-4-0"},
		{"gemini", "/v1/chat/completions", "gemini/gemini-2.0-flash"},
		{"ollama", "/v1/chat/completions", "ollama/llama3.2"},
		{"anthropic", "/v1/messages", "anthropic/claude-sonnet-4-0"},
		{"gemini", "/v1/messages", "gemini/gemini-2.0-flash"},
		{"openai", "/v1/messages", "openai/gpt-4o"},
		{"ollama", "/v1/messages", "ollama/llama3.2"},
	}
	const n = 100
	for _, stream := range []bool{true, false} {
		for _, r := range routes {
			up := ups[r.provider]
			before := up.Conns.Load()
			for i := 0; i < n; i++ {
				// A distinct prompt each time: no cache hit spares the upstream.
				body := `{"model":"` + r.model + `","max_tokens":64,"stream":` + strconv.FormatBool(stream) +
					`,"messages":[{"role":"user","content":"call ` + strconv.Itoa(i) + `"}]}`
				status, _, out := g.post(t, r.path, body, nil)
				if status != 200 || !strings.Contains(out, "four") {
					t.Fatalf("%s %s: %d %s", r.path, r.model, status, out)
				}
			}
			// The connection may be the one an earlier route left in the
			// pool: the upstream's total is what must stay small.
			got := up.Conns.Load()
			t.Logf("%s %s stream=%v: %d new upstream connections for %d calls, %d in all", r.path, r.model, stream, got-before, n, got)
			if got > 2 {
				t.Errorf("%s %s stream=%v: %d upstream connections after %d more sequential calls, want ≤ 2", r.path, r.model, stream, got, n)
			}
		}
	}
}
