package semantic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/providers"
)

func TestEligibility(t *testing.T) {
	t.Parallel()
	user := func(c any) msg { return msg{Role: "user", Content: c} }
	cases := []struct {
		name  string
		msgs  []msg
		extra map[string]any
		want  string
	}{
		{"short user turn", []msg{user("hi there, what is Go?")}, nil, ""},
		{"text parts", []msg{user([]any{map[string]any{"type": "text", "text": "what is"}, map[string]any{"type": "text", "text": "Go?"}})}, nil, ""},
		{"image part", []msg{user([]any{map[string]any{"type": "text", "text": "what is this?"}, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "https://x/y.png"}}})}, nil, ReasonNonText},
		{"assistant last", []msg{user("hi"), {Role: "assistant", Content: "Hello"}}, nil, ReasonNoUserTurn},
		{"system only", []msg{{Role: "system", Content: "be brief"}}, nil, ReasonNoUserTurn},
		{"tool result last", []msg{user("run it"), {Role: "tool", ToolCallID: "c1", Content: "ok"}}, map[string]any{"tools": runTool}, ReasonToolResult},
		{"function result last", []msg{user("run it"), {Role: "function", Name: "run", Content: "ok"}}, nil, ReasonToolResult},
		{"punctuation only", []msg{user(" ?! ")}, nil, ReasonEmpty},
		{"too long", []msg{user(strings.Repeat("word ", 101))}, nil, ReasonLong},
		{"500 characters", []msg{user(strings.Repeat("é", 500))}, nil, ""},
		{"501 characters", []msg{user(strings.Repeat("é", 501))}, nil, ReasonLong},
		{"n=2", []msg{user("hi")}, map[string]any{"n": 2}, ReasonChoices},
		{"logprobs", []msg{user("hi")}, map[string]any{"logprobs": true}, ReasonChoices},
		{"audio", []msg{user("hi")}, map[string]any{"modalities": []string{"text", "audio"}}, ReasonChoices},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, got := finalTurn(chatReq(t, tc.msgs, tc.extra), DefaultMaxTurnChars)
			if got != tc.want {
				t.Errorf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScope(t *testing.T) {
	t.Parallel()
	seed := scopeSeed("test")
	base := side{system: "sys", history: []msg{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}}, final: "question"}
	scope := func(s side, seed [32]byte) scopeID {
		r, p, prov, m := s.req(t)
		return scopeOf(&seed, r, p, prov, m)
	}
	b := scope(base, seed)
	same := base
	same.final = "a completely different question"
	if scope(same, seed) != b {
		t.Error("the final turn's text changed the scope")
	}
	if scope(base, scopeSeed("other embedder")) == b {
		t.Error("the embedder's ID is not in the scope")
	}
	for name, change := range map[string]func(*side){
		"system":      func(s *side) { s.system = "sys2" },
		"history":     func(s *side) { s.history = []msg{{Role: "user", Content: "a"}, {Role: "assistant", Content: "c"}} },
		"temperature": func(s *side) { s.extra = map[string]any{"temperature": 0.5} },
		"seed":        func(s *side) { s.extra = map[string]any{"seed": 7} },
		"stop":        func(s *side) { s.extra = map[string]any{"stop": "\n"} },
		"tools":       func(s *side) { s.extra = map[string]any{"tools": runTool} },
		"project":     func(s *side) { s.project = "p2" },
		"model":       func(s *side) { s.model = "m2" },
		"unknown":     func(s *side) { s.extra = map[string]any{"reasoning_effort": "high"} },
	} {
		s := base
		change(&s)
		if scope(s, seed) == b {
			t.Errorf("%s does not change the scope", name)
		}
	}
	// What the exact cache ignores, the scope ignores too.
	s := base
	s.extra = map[string]any{"stream": true, "user": "u-1"}
	if scope(s, seed) != b {
		t.Error("stream or user changed the scope")
	}
}

func TestStoreLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, Config{})
	r := turn(t, "sys", "How do I enable logging?")
	if _, _, ok := c.Lookup(ctx, r, "acme", "openai", "gpt-4o"); ok {
		t.Fatal("hit in an empty cache")
	}
	if err := c.Store(ctx, r, "acme", "openai", "gpt-4o", answer(t, "Set LOG=1.")); err != nil {
		t.Fatal(err)
	}
	e, sim, ok := c.Lookup(ctx, turn(t, "sys", "please, how do I enable logging"), "acme", "openai", "gpt-4o")
	if !ok || string(e.Content) != "Set LOG=1." || sim < 0.95 || sim > 1 {
		t.Fatalf("lookup: ok=%v sim=%v", ok, sim)
	}
	if got := string(AppendSimilarity(nil, sim)); len(got) != 6 || !strings.HasPrefix(got, "0.9") && got != "1.0000" {
		t.Errorf("similarity header %q", got)
	}
	// The replayed answer renders like an exact-cache hit.
	resp := e.Response("chatcmpl-x", false, false)
	if !json.Valid(resp.Body) || !strings.Contains(string(resp.Body), "Set LOG=1.") {
		t.Errorf("response body %s", resp.Body)
	}
	resp.Close()
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 1 || st.Stores != 1 || st.Entries != 1 || st.Scopes != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, _, ok := c.Lookup(ctx, turn(t, "sys", "How do I disable logging?"), "acme", "openai", "gpt-4o"); ok {
		t.Error("disable hit enable")
	}
	c.Lookup(ctx, chatReq(t, []msg{{Role: "user", Content: "x"}, {Role: "tool", ToolCallID: "c", Content: "y"}}, nil), "acme", "openai", "gpt-4o")
	if got := c.Stats().Ineligible[ReasonToolResult]; got != 1 {
		t.Errorf("ineligible tool-result %d", got)
	}
}

func toolCallEntry(t testing.TB) *cache.Entry {
	b := `{"id":"x","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"finish_reason":"tool_calls",
		"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}]}`
	e, err := cache.ParseCompletion([]byte(b), "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestStorable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := side{system: "s", final: "What's the weather in Paris?", extra: map[string]any{"tools": weatherTool}}
	req, p, prov, m := r.req(t)
	c := newTestCache(t, Config{})
	if err := c.Store(ctx, req, p, prov, m, toolCallEntry(t)); !errors.Is(err, ErrNotStorable) {
		t.Errorf("tool-call answer: %v", err)
	}
	c = newTestCache(t, Config{StoreToolCalls: true})
	if err := c.Store(ctx, req, p, prov, m, toolCallEntry(t)); err != nil {
		t.Errorf("tool-call answer with StoreToolCalls: %v", err)
	}
	c = newTestCache(t, Config{MaxEntryBytes: 10})
	if err := c.Store(ctx, req, p, prov, m, answer(t, "a long answer that is too large")); !errors.Is(err, ErrNotStorable) {
		t.Errorf("large answer: %v", err)
	}
	long := turn(t, "s", strings.Repeat("why ", 200))
	if err := c.Store(ctx, long, p, prov, m, answer(t, "x")); !errors.Is(err, ErrIneligible) {
		t.Errorf("long turn: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, Config{TTL: time.Minute})
	now := time.Now()
	c.now = func() time.Time { return now }
	r := turn(t, "s", "what is a goroutine")
	if err := c.Store(ctx, r, "p", "openai", "gpt-4o", answer(t, "a")); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := c.Lookup(ctx, r, "p", "openai", "gpt-4o"); !ok {
		t.Fatal("miss before expiry")
	}
	now = now.Add(2 * time.Minute)
	if _, _, ok := c.Lookup(ctx, r, "p", "openai", "gpt-4o"); ok {
		t.Fatal("hit after expiry")
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := func(c *Cache, system string, i int) {
		t.Helper()
		if err := c.Store(ctx, turn(t, system, fmt.Sprintf("question number %d", i)), "p", "openai", "gpt-4o", answer(t, "a")); err != nil {
			t.Fatal(err)
		}
	}
	hit := func(c *Cache, system string, i int) bool {
		_, _, ok := c.Lookup(ctx, turn(t, system, fmt.Sprintf("question number %d", i)), "p", "openai", "gpt-4o")
		return ok
	}
	t.Run("per scope", func(t *testing.T) {
		c := newTestCache(t, Config{MaxEntriesPerScope: 3})
		for i := range 3 {
			store(c, "s", i)
		}
		hit(c, "s", 0) // 0 is now the most recently used; 1 the least
		store(c, "s", 3)
		if hit(c, "s", 1) || !hit(c, "s", 0) || !hit(c, "s", 2) || !hit(c, "s", 3) {
			t.Error("per-scope eviction is not LRU")
		}
		store(c, "other", 0)
		if st := c.Stats(); st.Entries != 4 || st.Scopes != 2 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("total", func(t *testing.T) {
		c := newTestCache(t, Config{MaxEntries: 5})
		for i := range 20 {
			store(c, fmt.Sprintf("s%d", i), i)
		}
		st := c.Stats()
		if st.Entries != 5 || st.Scopes != 5 || st.Evicted != 15 {
			t.Errorf("stats %+v", st)
		}
		if !hit(c, "s19", 19) || hit(c, "s0", 0) {
			t.Error("total eviction is not LRU")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		c := newTestCache(t, Config{MaxBytes: 40 << 10}) // about 8 records of 4 KiB vectors
		for i := range 50 {
			store(c, "s", i)
		}
		if st := c.Stats(); st.Bytes > 40<<10 || st.Entries < 5 || st.Entries > 10 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("replace", func(t *testing.T) {
		c := newTestCache(t, Config{})
		store(c, "s", 1)
		store(c, "s", 1)
		if st := c.Stats(); st.Entries != 1 {
			t.Errorf("a second store of one turn made %d entries", st.Entries)
		}
	})
}

// fakeEmbeddings is a providers.Embedder that answers OpenAI embeddings JSON
// with local-embedder vectors (as base64 when b64), counting calls.
type fakeEmbeddings struct {
	calls atomic.Int64
	b64   bool
	fail  atomic.Bool
	delay time.Duration
	mu    sync.Mutex
	last  []byte
}

func (f *fakeEmbeddings) Embed(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.last = append([]byte(nil), body...)
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.fail.Load() {
		return nil, &providers.UpstreamError{Status: 503, Message: "upstream down"}
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model != model {
		return nil, fmt.Errorf("bad request %s", body)
	}
	vecs, _ := NewLocal(256).Embed(context.Background(), req.Input)
	var data []map[string]any
	for i := len(vecs) - 1; i >= 0; i-- { // out of order: index decides
		var emb any = vecs[i]
		if f.b64 {
			emb = b64floats(vecs[i])
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": emb})
	}
	b, _ := json.Marshal(map[string]any{"object": "list", "data": data, "model": model})
	r := providers.NewResponse(nil)
	r.Body = b
	return r, nil
}

func TestProviderEmbedder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, b64 := range []bool{false, true} {
		f := &fakeEmbeddings{b64: b64}
		p := NewProvider(f, "openai", "text-embedding-3-small")
		vs, err := p.Embed(ctx, []string{"what is a goroutine", `say "hi"`})
		if err != nil || len(vs) != 2 || len(vs[0]) != 256 {
			t.Fatalf("b64=%v: %v %d", b64, err, len(vs))
		}
		want, _ := NewLocal(256).Embed(ctx, []string{"what is a goroutine"})
		if s := dot(vs[0], want[0]); s < 0.9999 {
			t.Errorf("b64=%v: vector 0 is not text 0's (%v)", b64, s)
		}
		if string(f.last) != `{"model":"text-embedding-3-small","input":["what is a goroutine","say \"hi\""]}` {
			t.Errorf("request body %s", f.last)
		}
	}
	if p := NewProvider(&fakeEmbeddings{}, "openai", "m"); p.ID() != "provider:openai/m" {
		t.Errorf("ID %q", p.ID())
	}
	slow := &fakeEmbeddings{delay: 200 * time.Millisecond}
	c, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := NewProvider(slow, "o", "m").Embed(c, []string{"x"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow embedder: %v", err)
	}
}

func TestParseEmbeddings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		n          int
		ok         bool
	}{
		{"plain", `{"data":[{"index":0,"embedding":[0.1,-2e-3,3]}]}`, 1, true},
		{"leading space, no index", ` {"data":[{"embedding":[1]},{"embedding":[2]}]}`, 2, true},
		{"missing vector", `{"data":[{"index":0,"embedding":[1]}]}`, 2, false},
		{"repeated index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`, 2, false},
		{"index out of range", `{"data":[{"index":5,"embedding":[1]}]}`, 1, false},
		{"dimensions differ", `{"data":[{"embedding":[1]},{"embedding":[1,2]}]}`, 2, false},
		{"not numbers", `{"data":[{"embedding":["a"]}]}`, 1, false},
		{"too large", `{"data":[{"embedding":[1e300]}]}`, 1, false},
		{"empty", `{"data":[{"embedding":[]}]}`, 1, false},
		{"error body", `{"error":{"message":"nope"}}`, 1, false},
		{"bad base64", `{"data":[{"embedding":"!!"}]}`, 1, false},
		{"not json", `{"data":[`, 1, false},
	} {
		_, err := parseEmbeddings([]byte(tc.body), tc.n)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}

// TestProviderInCache: with a remote embedder, a missed lookup's vector is
// reused by the store that follows (one embeddings call per new turn), a
// hit costs one call, and a failing embedder reads as a miss, is skipped
// during its back-off, and never fails the request.
func TestProviderInCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &fakeEmbeddings{}
	c := newTestCache(t, Config{Embedder: NewProvider(f, "openai", "te3"), RedisBackoff: time.Hour})
	store := turn(t, "s", "what is a goroutine")
	if err := c.Store(ctx, store, "p", "openai", "gpt-4o", answer(t, "a")); err != nil {
		t.Fatal(err)
	}
	flush(t, c) // the embedding is queued: Store does not wait for the upstream
	if f.calls.Load() != 1 {
		t.Fatalf("%d calls for a store", f.calls.Load())
	}
	other := turn(t, "s", "What's a goroutine?")
	if _, _, ok := c.Lookup(ctx, other, "p", "openai", "gpt-4o"); !ok {
		t.Fatal("miss")
	}
	miss := turn(t, "s", "what is a channel")
	c.Lookup(ctx, miss, "p", "openai", "gpt-4o") // no candidate passes the prefilter: no call
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d calls after a hit and a prefiltered miss, want 2", n)
	}
	c2 := newTestCache(t, Config{Embedder: NewProvider(f, "openai", "te3"), MaxWordDiff: -1})
	_ = c2.Store(ctx, store, "p", "openai", "gpt-4o", answer(t, "a"))
	flush(t, c2)
	f.calls.Store(0)
	c2.Lookup(ctx, miss, "p", "openai", "gpt-4o")
	_ = c2.Store(ctx, miss, "p", "openai", "gpt-4o", answer(t, "b"))
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("lookup then store made %d embeddings calls, want 1", n)
	}
	if _, _, ok := c2.Lookup(ctx, miss, "p", "openai", "gpt-4o"); !ok {
		t.Fatal("the store that reused the lookup's vector is not indexed at once")
	}
	f.fail.Store(true)
	for range 3 {
		if _, _, ok := c.Lookup(ctx, other, "p", "openai", "gpt-4o"); ok {
			t.Fatal("hit with a failing embedder")
		}
	}
	st := c.Stats()
	if st.EmbedErrors != 1 || st.EmbedSkipped != 2 {
		t.Errorf("embed errors %d, skipped %d: want 1 and 2 (back-off)", st.EmbedErrors, st.EmbedSkipped)
	}
	before := c.Stats().NotStored
	if err := c.Store(ctx, turn(t, "s", "new"), "p", "openai", "gpt-4o", answer(t, "a")); err != nil {
		t.Errorf("store with a failing embedder: %v", err)
	}
	flush(t, c)
	if got := c.Stats().NotStored; got != before+1 {
		t.Errorf("not stored %d, want %d", got, before+1)
	}

	// A full queue drops the store instead of blocking.
	slow := &fakeEmbeddings{delay: 50 * time.Millisecond}
	c3 := newTestCache(t, Config{Embedder: NewProvider(slow, "openai", "te3"), EmbedQueue: 1})
	var full int
	for i := range 5 {
		if err := c3.Store(ctx, turn(t, "s", fmt.Sprintf("q %d", i)), "p", "openai", "gpt-4o", answer(t, "a")); errors.Is(err, ErrNotStorable) {
			full++
		}
	}
	if full == 0 {
		t.Error("a full embedding queue blocked or queued everything")
	}
}

func TestPurgeAndClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, Config{})
	for _, p := range []string{"a", "b"} {
		for _, m := range []string{"m1", "m2"} {
			if err := c.Store(ctx, turn(t, "s", "hello world"), p, "openai", m, answer(t, "x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, _ := c.Purge(ctx, "a", "openai/m1"); got.Memory != 1 {
		t.Errorf("purge a, m1: %+v", got)
	}
	if got, _ := c.Purge(ctx, "", "openai/m2"); got.Memory != 2 {
		t.Errorf("purge m2: %+v", got)
	}
	if got, _ := c.Purge(ctx, "", ""); got.Memory != 1 {
		t.Errorf("purge all: %+v", got)
	}
	_ = c.Close()
	if _, _, ok := c.Lookup(ctx, turn(t, "s", "hello world"), "a", "openai", "m1"); ok {
		t.Error("hit after Close")
	}
	if err := c.Store(ctx, turn(t, "s", "x"), "a", "openai", "m1", answer(t, "x")); !errors.Is(err, ErrClosed) {
		t.Errorf("store after Close: %v", err)
	}
	var nilCache *Cache
	if _, _, ok := nilCache.Lookup(ctx, turn(t, "s", "x"), "a", "b", "c"); ok {
		t.Error("nil cache hit")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, th := range []float64{-0.1, 1.5} {
		if _, err := New(Config{Threshold: th}); err == nil {
			t.Errorf("threshold %v accepted", th)
		}
	}
	if _, err := New(Config{RedisURL: "mysql://x"}); err == nil {
		t.Error("bad redis url accepted")
	}
	c := newTestCache(t, Config{})
	if c.Threshold() != DefaultThreshold || c.cfg.MaxTurnChars != 500 || c.local == nil || c.local.Dims() != DefaultDims {
		t.Errorf("defaults: %+v", c.cfg)
	}
}

// TestConcurrent: lookups, stores and evictions from many goroutines (run
// with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestCache(t, Config{MaxEntries: 50, MaxEntriesPerScope: 10})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := turn(t, fmt.Sprintf("s%d", i%7), fmt.Sprintf("question %d", (i*g)%23))
				if _, _, ok := c.Lookup(ctx, r, "p", "openai", "m"); !ok {
					_ = c.Store(ctx, r, "p", "openai", "m", answer(t, "x"))
				}
				if i%50 == 0 {
					_, _ = c.Purge(ctx, "p", "")
				}
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.Entries > 50 {
		t.Errorf("%d entries above the bound", st.Entries)
	}
}
