package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/openai/openai-go/v3"
)

// gatedUpstream is an OpenAI-format upstream that answers the first open
// chat requests at once and holds the others until release is called; it
// records every prompt it answered.
type gatedUpstream struct {
	srv     *httptest.Server
	mu      sync.Mutex
	open    int
	seen    map[string]int
	arrived int
	gate    chan struct{}
	once    sync.Once
}

func newGatedUpstream(t *testing.T, open int) *gatedUpstream {
	u := &gatedUpstream{open: open, seen: map[string]int{}, gate: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		prompt := ""
		if len(req.Messages) > 0 {
			prompt = req.Messages[len(req.Messages)-1].Content
		}
		u.mu.Lock()
		u.arrived++
		wait := u.arrived > u.open
		u.mu.Unlock()
		if wait {
			<-u.gate
		}
		u.mu.Lock()
		u.seen[prompt]++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-x","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"answer to %s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}`, req.Model, prompt)
	}))
	t.Cleanup(func() { u.release(); u.srv.Close() })
	return u
}

func (u *gatedUpstream) release() { u.once.Do(func() { close(u.gate) }) }

func (u *gatedUpstream) arrivals() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.arrived
}

func (u *gatedUpstream) answered() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for k, v := range u.seen {
		out[k] = v
	}
	return out
}

func gatedConfig(u *gatedUpstream, concurrency int) string {
	return fmt.Sprintf(`
[batch]
concurrency = %d
[reliability]
retry = false
[providers.gated]
kind = "openai"
base_url = "%s/v1"
timeout = "10m"
`, concurrency, u.srv.URL)
}

// waitLong polls cond; the bound only keeps a broken runner from hanging
// the test (a loaded machine under -race is slow to compile policies).
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBatchCancel: a cancel mid-run stops new items at once; the item in
// flight finishes and is in the output; the rest never run.
func TestBatchCancel(t *testing.T) {
	t.Parallel()
	u := newGatedUpstream(t, 2)
	g := startGateway(t, gatedConfig(u, 1), nil)
	c := g.client()
	var lines []string
	for i := range 10 {
		lines = append(lines, chatLine(fmt.Sprintf("c-%d", i), "gated/gpt-4o", fmt.Sprintf("cancel item %d", i)))
	}
	b := createBatch(t, c, uploadBatchFile(t, c, lines).ID)
	waitLong(t, "the third item to reach the upstream", func() bool { return u.arrivals() == 3 })
	cb, err := c.Batches.Cancel(context.Background(), b.ID)
	if err != nil || cb.Status != openai.BatchStatusCancelling || cb.CancellingAt == 0 {
		t.Fatalf("cancel: %+v %v", cb, err)
	}
	u.release()
	b = waitBatch(t, c, b.ID, finished)
	if b.Status != openai.BatchStatusCancelled || b.CancelledAt == 0 {
		t.Fatalf("status %s", b.Status)
	}
	if rc := b.RequestCounts; rc.Total != 10 || rc.Completed != 3 || rc.Failed != 0 {
		t.Fatalf("counts %+v", rc)
	}
	out := downloadLines(t, c, b.OutputFileID)
	if len(out) != 3 || out["c-0"].Response == nil || out["c-2"].Response == nil {
		t.Fatalf("output %v", out)
	}
	if n := u.arrivals(); n != 3 {
		t.Fatalf("%d items reached the upstream after the cancel", n-3)
	}
	// Cancelling again answers the cancelled batch.
	if cb, err := c.Batches.Cancel(context.Background(), b.ID); err != nil || cb.Status != openai.BatchStatusCancelled {
		t.Fatalf("second cancel: %+v %v", cb, err)
	}
}

// TestBatchResume: a gateway closed mid-batch and opened again on the same
// data directory finishes the batch; no item is run twice, and every
// custom_id is in the output once.
func TestBatchResume(t *testing.T) {
	t.Parallel()
	u := newGatedUpstream(t, 4)
	dir := t.TempDir()
	shared := func(c *Config) { c.Store.dir = dir }
	g1 := startGatewayWith(t, gatedConfig(u, 2), nil, shared)
	c := g1.client()
	const n = 12
	var lines []string
	for i := range n {
		lines = append(lines, chatLine(fmt.Sprintf("r-%d", i), "gated/gpt-4o", fmt.Sprintf("resume item %d", i)))
	}
	b := createBatch(t, c, uploadBatchFile(t, c, lines).ID)
	// Four items answered, two held at the upstream: stop dispatching
	// (Close with a done context returns at once), let the two finish,
	// then shut the gateway down.
	waitLong(t, "two items held at the upstream", func() bool { return u.arrivals() == 6 })
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = g1.srv.batches.Close(done)
	u.release()
	g1.stop()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mid, err := st.Batch(context.Background(), "", b.ID)
	st.Close()
	if err != nil || mid.Status != store.BatchInProgress || mid.Completed != 6 {
		t.Fatalf("after the first gateway: %+v %v", mid, err)
	}

	g2 := startGatewayWith(t, gatedConfig(u, 2), nil, shared)
	c2 := g2.client()
	b2 := waitBatch(t, c2, b.ID, finished)
	if b2.Status != openai.BatchStatusCompleted || b2.RequestCounts.Completed != n {
		t.Fatalf("resumed batch %s %+v", b2.Status, b2.RequestCounts)
	}
	out := downloadLines(t, c2, b2.OutputFileID)
	if len(out) != n {
		t.Fatalf("output has %d lines", len(out))
	}
	for prompt, times := range u.answered() {
		if times != 1 {
			t.Fatalf("%q ran %d times", prompt, times)
		}
	}
	if len(u.answered()) != n {
		t.Fatalf("upstream answered %d prompts", len(u.answered()))
	}
}
