package engine

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/valyala/fasthttp"
)

// scripted is a fake upstream for the call-path tests. It speaks the
// OpenAI wire format (https://platform.openai.com/docs/api-reference/chat,
// /embeddings) and Anthropic's Messages API
// (https://docs.anthropic.com/en/api/messages) with its token counting
// (https://docs.anthropic.com/en/api/messages-count-tokens), and fails on
// a script: the
// first failFirst requests answer 503 with the provider's error envelope,
// and the first streamFail streams answer 200 whose first event is an
// error (what OpenAI sends when a stream fails after its headers).
type scripted struct {
	failFirst, streamFail int64
	always                bool // every request fails with 503
	delay                 time.Duration
	n, streams            atomic.Int64
}

func (f *scripted) handle(ctx *fasthttp.RequestCtx) {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	path := string(ctx.Path())
	countTokens := strings.HasSuffix(path, "/v1/messages/count_tokens")
	anthropicAPI := strings.HasSuffix(path, "/v1/messages") || countTokens
	if n := f.n.Add(1); f.always || n <= f.failFirst {
		ctx.SetStatusCode(503)
		ctx.SetContentType("application/json")
		if anthropicAPI {
			ctx.SetBodyString(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		} else {
			ctx.SetBodyString(`{"error":{"message":"The server is overloaded","type":"server_error","param":null,"code":null}}`)
		}
		return
	}
	body := ctx.PostBody()
	stream := strings.Contains(string(body), `"stream":true`)
	switch {
	case strings.HasSuffix(path, "/embeddings"):
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}`)
	case countTokens:
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"input_tokens":12}`)
	case anthropicAPI:
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"scripted answer"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":3}}`)
	case stream:
		ctx.SetContentType("text/event-stream")
		if f.streams.Add(1) <= f.streamFail {
			ctx.SetBodyString("data: {\"error\":{\"message\":\"stream broke\",\"type\":\"server_error\",\"param\":null,\"code\":\"server_error\"}}\n\n")
			return
		}
		ctx.SetBodyString(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"scripted answer"},"finish_reason":null}]}` + "\n\n" +
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
			`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}}` + "\n\n" +
			"data: [DONE]\n\n")
	default:
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"scripted answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}}`)
	}
}

func startScripted(t *testing.T, f *scripted) *providertest.Server {
	t.Helper()
	s, err := providertest.Start(f.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// callSite is one way a client request reaches an upstream.
type callSite struct {
	name, path, body string
	stream           bool
}

func callSites(kind string) []callSite {
	if kind == "anthropic" {
		return []callSite{
			{"messages passthrough", "/v1/messages", `{"model":"up/claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, false},
			{"count_tokens passthrough", "/v1/messages/count_tokens", `{"model":"up/claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`, false},
			{"chat translated to messages", "/v1/chat/completions", `{"model":"up/claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`, false},
		}
	}
	return []callSite{
		{"chat", "/v1/chat/completions", `{"model":"up/m","messages":[{"role":"user","content":"hi"}]}`, false},
		{"chat stream", "/v1/chat/completions", `{"model":"up/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, true},
		{"embeddings", "/v1/embeddings", `{"model":"up/e","input":"hi"}`, false},
	}
}

func upstreamTOML(kind, url string, extra string) string {
	base := url + "/v1"
	if kind == "anthropic" {
		base = url
	}
	return `
[reliability]
retry_backoff_base = "1ms"
retry_backoff_max = "2ms"
` + extra + `
[providers.up]
kind = "` + kind + `"
base_url = "` + base + `"
api_key = "k"
`
}

// Every call site retries an upstream failure (and a stream that fails
// before its first event), and answers from the second attempt.
func TestCallSitesRetry(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		for _, cs := range callSites(kind) {
			t.Run(cs.name, func(t *testing.T) {
				t.Parallel()
				f := &scripted{failFirst: 1}
				if cs.stream {
					f.streamFail = 1
				}
				up := startScripted(t, f)
				g := startGateway(t, upstreamTOML(kind, up.URL, "retry_max_attempts = 3"), nil)
				status, _, body := g.post(t, cs.path, cs.body, nil)
				want := int64(2)
				if cs.stream {
					want = 3 // a 503, a stream failing at its first event, a good stream
				}
				if status != 200 || up.Hits.Load() != want {
					t.Fatalf("%d after %d upstream hits (want %d): %s", status, up.Hits.Load(), want, body)
				}
				if strings.Contains(body, "stream broke") {
					t.Fatalf("the failed first event reached the client: %s", body)
				}
			})
		}
	}
}

// Every call site opens the breaker after repeated failures: the next
// request fails fast without reaching the upstream.
func TestCallSitesBreaker(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		for _, cs := range callSites(kind) {
			t.Run(cs.name, func(t *testing.T) {
				t.Parallel()
				up := startScripted(t, &scripted{always: true})
				g := startGateway(t, upstreamTOML(kind, up.URL, "retry_max_attempts = 1\nbreaker_failures = 2\nbreaker_cooldown = \"1h\""), nil)
				for i := range 2 {
					if status, _, body := g.post(t, cs.path, cs.body, nil); status < 500 {
						t.Fatalf("request %d: %d %s", i, status, body)
					}
				}
				hits := up.Hits.Load()
				status, _, body := g.post(t, cs.path, cs.body, nil)
				if status != 503 || up.Hits.Load() != hits {
					t.Fatalf("open breaker: %d, upstream hits %d → %d: %s", status, hits, up.Hits.Load(), body)
				}
			})
		}
	}
}

// Every call site takes the provider's in-flight slot: with one slot and a
// slow upstream, a concurrent request is refused with 503 provider_busy.
func TestCallSitesSlot(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"openai", "anthropic"} {
		for _, cs := range callSites(kind) {
			t.Run(cs.name, func(t *testing.T) {
				t.Parallel()
				up := startScripted(t, &scripted{delay: 700 * time.Millisecond})
				toml := upstreamTOML(kind, up.URL, "retry_max_attempts = 1") + "max_in_flight = 1\n"
				toml = "queue_timeout = \"20ms\"\n" + toml
				g := startGateway(t, toml, nil)
				var wg sync.WaitGroup
				statuses := make([]int, 2)
				bodies := make([]string, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if i == 1 {
							time.Sleep(200 * time.Millisecond)
						}
						statuses[i], _, bodies[i] = g.post(t, cs.path, cs.body, nil)
					}()
				}
				wg.Wait()
				// Whichever reached the slot first answers; the other is
				// refused (the start delay only makes the usual order likely).
				ok, busy := 0, 0
				for i := range statuses {
					switch {
					case statuses[i] == 200:
						ok++
					case statuses[i] == 503 && strings.Contains(bodies[i], "requests in flight"):
						busy++
					}
				}
				if ok != 1 || busy != 1 {
					t.Fatalf("statuses %v: %v", statuses, bodies)
				}
			})
		}
	}
}

// The phase-2 classifier is an upstream call like any other: retried, and
// charged to the request that needed it.
func TestClassifierCallIsRetriedAndCharged(t *testing.T) {
	t.Parallel()
	f := &scripted{failFirst: 1}
	up := startScripted(t, f)
	toml := upstreamTOML("openai", up.URL, "retry_max_attempts = 2") + `
[[models]]
name = "up/cls"
provider = "up"
upstream = "cls"
input_price = 1000
output_price = 1000
[routing]
classifier_model = "up/cls"
threshold = 0.5
ambiguous_margin = 0.5
[routing.tiers]
fast = "up/m"
strong = "up/m"
`
	g := startGateway(t, toml, nil)
	// Every request is within the margin: phase 2 decides.
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"Tell me about the trade-offs in our approach here."}]}`, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	// The scripted upstream's answer is no classification, so the router's
	// tier stands; the call was made all the same.
	if !strings.Contains(hdr.Get("X-Gateway-Route-Reason"), "ambiguous") {
		t.Fatalf("the router decided without the classifier: %q", hdr.Get("X-Gateway-Route-Reason"))
	}
	cost, _ := strconv.ParseFloat(hdr.Get("X-Gateway-Cost-USD"), 64)
	if cost < 1 { // 1,100 tokens at $1,000 per million
		t.Fatalf("classifier call not charged: cost %v", cost)
	}
	// The ledger row keeps the classifier's part apart (the routing page's
	// extra-call cost): here all of it, as up/m has no price.
	rows := g.ledgerRows(t)
	if len(rows) != 1 || rows[0].ClassifierCostUSD < 1 || math.Abs(rows[0].ClassifierCostUSD-rows[0].CostUSD) > 1e-9 || rows[0].CascadeExtraCostUSD != 0 {
		t.Fatalf("ledger row: %+v", rows)
	}
	if up.Hits.Load() < 3 {
		t.Fatalf("classifier not retried: %d upstream hits", up.Hits.Load())
	}
}

// A cascade's cheap attempt is an upstream call like any other: retried,
// and, when the judge rejects its answer and the request escalates,
// charged to the request all the same.
func TestCascadeAttemptIsRetriedAndCharged(t *testing.T) {
	t.Parallel()
	cheap, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "I'm sorry, I can't help with that.", FailFirst: 1, PromptTokens: 1000})
	t.Cleanup(func() { _ = cheap.Close() })
	strong, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Strong answer."})
	t.Cleanup(func() { _ = strong.Close() })
	toml := `
[reliability]
retry_backoff_base = "1ms"
retry_backoff_max = "2ms"
retry_max_attempts = 2
[routing]
cascade = true
[routing.tiers]
fast = "cheap/m"
strong = "strong/m"
[providers.cheap]
kind = "openai"
base_url = "` + cheap.URL + `/v1"
[providers.strong]
kind = "openai"
base_url = "` + strong.URL + `/v1"
[[models]]
name = "cheap/m"
provider = "cheap"
upstream = "m"
input_price = 1000
output_price = 1000
[[models]]
name = "strong/m"
provider = "strong"
upstream = "m"
input_price = 0
output_price = 0
`
	g := startGateway(t, toml, nil)
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"what is a goroutine?"}]}`, nil)
	if status != 200 || !strings.Contains(hdr.Get("X-Gateway-Route-Reason"), "cascade: escalated") || hdr.Get("X-Gateway-Provider") != "strong" {
		t.Fatalf("%d %v %s", status, hdr, body)
	}
	if n := cheap.Hits.Load(); n != 2 {
		t.Fatalf("the cheap attempt reached its upstream %d times, want 2 (a 503, then the retry)", n)
	}
	// The strong model is free: all of the cost is the rejected attempt's
	// (1,000 prompt tokens at $1,000 per million, and its completion).
	if cost, _ := strconv.ParseFloat(hdr.Get("X-Gateway-Cost-USD"), 64); cost < 1 {
		t.Fatalf("the rejected cheap attempt was not charged: X-Gateway-Cost-USD %q", hdr.Get("X-Gateway-Cost-USD"))
	}
	// The ledger row names that cost as the cascade's extra call.
	rows := g.ledgerRows(t)
	if len(rows) != 1 || rows[0].CascadeExtraCostUSD < 1 || math.Abs(rows[0].CascadeExtraCostUSD-rows[0].CostUSD) > 1e-9 || rows[0].ClassifierCostUSD != 0 {
		t.Fatalf("ledger row: %+v", rows)
	}
}

// A first event that is an error fails the attempt, with a status that
// tells the runner whether to retry; any other first event is relayed.
func TestFirstEventError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, event string
		status      int // 0: not an error
	}{
		{"openai server error", `data: {"error":{"message":"boom","type":"server_error","param":null,"code":"server_error"}}` + "\n\n", 502},
		{"openai rate limit", `data: {"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}` + "\n\n", 429},
		{"anthropic overloaded", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", 529},
		{"a content chunk", `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"error"}}]}` + "\n\n", 0},
		{"anthropic message_start", "event: message_start\ndata: {\"type\":\"message_start\"}\n\n", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ue := firstEventError([]byte(tc.event))
			switch {
			case tc.status == 0 && ue != nil:
				t.Fatalf("not an error, got %+v", ue)
			case tc.status != 0 && (ue == nil || ue.Status != tc.status):
				t.Fatalf("want status %d, got %+v", tc.status, ue)
			}
		})
	}
}
