//go:build soak

// Package batchsoak is the batch durability soak (make batch-soak): a
// 1,000-item batch through the real binary, killed with SIGKILL half way
// and restarted, must end with every custom_id exactly once in its output;
// and interactive latency is measured with and without a batch running.
// It prints its figures; it asserts no timing.
package batchsoak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/proctest"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/valyala/fasthttp"
)

const (
	items       = 1000
	concurrency = 8
	// upstreamDelay is the fake upstream's answer time.
	upstreamDelay = 20 * time.Millisecond
)

// upstream is a fake OpenAI chat completions server on loopback that
// counts the calls per item marker ("item-N" in the prompt) and answers
// after upstreamDelay.
type upstream struct {
	mu    sync.Mutex
	calls map[string]int
	srv   *fasthttp.Server
	url   string
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{calls: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.url = "http://" + ln.Addr().String() + "/v1"
	u.srv = &fasthttp.Server{Handler: u.handle}
	go func() { _ = u.srv.Serve(ln) }()
	t.Cleanup(func() { _ = u.srv.Shutdown() })
	return u
}

func (u *upstream) handle(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	marker := ""
	if i := bytes.Index(body, []byte("item-")); i >= 0 {
		j := i + 5
		for j < len(body) && body[j] >= '0' && body[j] <= '9' {
			j++
		}
		marker = string(body[i:j])
		u.mu.Lock()
		u.calls[marker]++
		u.mu.Unlock()
	}
	time.Sleep(upstreamDelay)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"id":"chatcmpl-soak","object":"chat.completion","created":1741569952,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"done ` +
		marker + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`)
}

// gateway is the built binary running on one data directory.
type gateway struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	logs *os.File
}

func (g *gateway) start(upstreamURL string) {
	g.t.Helper()
	cfg := fmt.Sprintf(`data_dir = %q
[providers.fake]
kind = "openai"
base_url = %q
api_key = "soak-key"
[batch]
concurrency = %d
`, filepath.Join(g.dir, "data"), upstreamURL, concurrency)
	path := filepath.Join(g.dir, "gateway.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		g.t.Fatal(err)
	}
	logs, err := os.OpenFile(filepath.Join(g.dir, "stderr.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		g.t.Fatal(err)
	}
	g.logs = logs
	g.cmd = proctest.Start(g.t, g.bin, path, g.addr,
		append(os.Environ(), "GATEWAY_API_KEY=", "OPENAI_API_KEY=", "ANTHROPIC_API_KEY=", "GEMINI_API_KEY=", "GROQ_API_KEY="), logs, "gateway")
}

func (g *gateway) kill() {
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	_ = g.cmd.Wait()
	_ = g.logs.Close()
}

// latencies sends n interactive chat completions from `clients` goroutines
// and returns their latencies, sorted.
func latencies(t *testing.T, addr string, clients, n int) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 30 * time.Second}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				body := `{"model":"fake/gpt-4o-mini","messages":[{"role":"user","content":"interactive ` + strconv.FormatInt(i, 10) + `"}]}`
				t0 := time.Now()
				resp, err := hc.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				mu.Lock()
				out = append(out, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d interactive requests failed", failed.Load())
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func TestBatchSoak(t *testing.T) {
	bin := proctest.Build(t)
	up := startUpstream(t)
	g := &gateway{t: t, bin: bin, dir: t.TempDir(), addr: proctest.FreeAddr(t)}
	g.start(up.url)
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			g.kill()
		}
	})
	c := openai.NewClient(option.WithBaseURL("http://"+g.addr+"/v1"), option.WithAPIKey("none"), option.WithMaxRetries(0))
	ctx := context.Background()

	// Interactive latency alone.
	const clients, interactive = 4, 400
	_ = latencies(t, g.addr, clients, 40) // warm-up
	quiet := latencies(t, g.addr, clients, interactive)

	var in bytes.Buffer
	for i := range items {
		fmt.Fprintf(&in, `{"custom_id":"c-%d","method":"POST","url":"/v1/chat/completions","body":{"model":"fake/gpt-4o-mini","messages":[{"role":"user","content":"item-%d"}]}}`+"\n", i, i)
	}
	f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(bytes.NewReader(in.Bytes()), "soak.jsonl", "application/jsonl"), Purpose: openai.FilePurposeBatch})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Batches.New(ctx, openai.BatchNewParams{InputFileID: f.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
	if err != nil {
		t.Fatal(err)
	}
	// Interactive latency while the batch runs (it is far from done when
	// this ends: 1,000 items at 20 ms, 8 at a time, take 2.5 s at best).
	busy := latencies(t, g.addr, clients, interactive)
	t.Logf("interactive chat completions, %d clients, %d requests, upstream %v:", clients, interactive, upstreamDelay)
	t.Logf("| | p50 | p90 | p99 | max |")
	t.Logf("| --- | --- | --- | --- | --- |")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"no batch", quiet}, {"batch running", busy}} {
		t.Logf("| %s | %v | %v | %v | %v |", row.name, pct(row.d, .5).Round(10*time.Microsecond), pct(row.d, .9).Round(10*time.Microsecond),
			pct(row.d, .99).Round(10*time.Microsecond), row.d[len(row.d)-1].Round(10*time.Microsecond))
	}

	// Kill it half way.
	for {
		bb, err := c.Batches.Get(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bb.RequestCounts.Completed >= items/2 {
			t.Logf("SIGKILL at %d/%d completed", bb.RequestCounts.Completed, items)
			break
		}
		if bb.Status == openai.BatchStatusCompleted {
			t.Fatal("the batch completed before the kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.kill()
	killedAt := time.Now()
	g.start(up.url)
	var done *openai.Batch
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		bb, err := c.Batches.Get(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if bb.Status == openai.BatchStatusCompleted || bb.Status == openai.BatchStatusFailed || bb.Status == openai.BatchStatusCancelled || bb.Status == openai.BatchStatusExpired {
			done = bb
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if done == nil || done.Status != openai.BatchStatusCompleted {
		t.Fatalf("batch not completed after the restart: %+v", done)
	}
	t.Logf("completed %v after the kill (the killed runner's lease must run out first)", time.Since(killedAt).Round(time.Second))
	if done.ErrorFileID != "" || done.RequestCounts.Completed != items || done.RequestCounts.Failed != 0 {
		t.Fatalf("counts %+v, error file %q", done.RequestCounts, done.ErrorFileID)
	}
	resp, err := c.Files.Content(ctx, done.OutputFileID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			CustomID string `json:"custom_id"`
			Response struct {
				StatusCode int `json:"status_code"`
				Body       struct {
					Choices []struct {
						Message struct {
							Content string `json:"content"`
						} `json:"message"`
					} `json:"choices"`
				} `json:"body"`
			} `json:"response"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		seen[line.CustomID]++
		want := "done item-" + strings.TrimPrefix(line.CustomID, "c-")
		if line.Response.StatusCode != 200 || len(line.Response.Body.Choices) != 1 || line.Response.Body.Choices[0].Message.Content != want {
			t.Fatalf("output line for %s: %s", line.CustomID, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != items {
		t.Fatalf("%d custom_ids in the output, want %d", len(seen), items)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("custom_id %s appears %d times", id, n)
		}
	}
	// At least once upstream: an item in flight at the kill (at most
	// `concurrency` of them) may have been sent twice; no other.
	up.mu.Lock()
	defer up.mu.Unlock()
	twice := 0
	for i := range items {
		switch n := up.calls["item-"+strconv.Itoa(i)]; {
		case n == 0:
			t.Fatalf("item-%d never reached the upstream", i)
		case n > 2:
			t.Fatalf("item-%d reached the upstream %d times", i, n)
		case n == 2:
			twice++
		}
	}
	if twice > concurrency {
		t.Fatalf("%d items ran twice; at most %d were in flight at the kill", twice, concurrency)
	}
	t.Logf("%d items, each custom_id once in the output; %d items sent upstream twice (in flight at the kill, at most %d)", items, twice, concurrency)
}
