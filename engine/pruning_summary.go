package engine

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/prune"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// Summaries of pruned tool output ([pruning] summarize = true): a cheap
// model writes a few lines about each output pruning removes, through the
// one upstream path (retries, breakers, slots, metrics), and the request's
// project pays for it (x.extraCost).
//
// A stub must be the same bytes on every later turn, or the provider's
// cached prefix moves each turn: the stub each output got is remembered
// (stubMemory), the plain one included when the summary failed or the
// request had used its summaries up. A restart or another replica may
// summarise an output again; at temperature 0 the text is usually, not
// always, the same.

const (
	summaryMaxTokens     = 200
	summaryMaxPerRequest = 4
	summaryInputBytes    = 32 << 10
	summaryTimeout       = 10 * time.Second
	stubMemoryEntries    = 1 << 14
)

var summaryErrors = metrics.NewCounter(`gateway_prune_summary_errors_total`)

const summaryPrompt = "Summarise this tool output for a coding agent that may need it later, in at most five short lines: " +
	"keep file paths, symbol names, error messages and numbers; no preamble."

// stubMemory maps an output (project, summariser, call, content) to its stub.
type stubMemory struct {
	mu    sync.Mutex
	m     map[[32]byte]string
	order [][32]byte // insertion order, for eviction
}

func (sm *stubMemory) get(k [32]byte) (string, bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	s, ok := sm.m[k]
	return s, ok
}

func (sm *stubMemory) put(k [32]byte, s string) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.m == nil {
		sm.m = map[[32]byte]string{}
	}
	if _, ok := sm.m[k]; ok {
		return
	}
	if len(sm.order) >= stubMemoryEntries {
		delete(sm.m, sm.order[0])
		sm.order = sm.order[1:]
	}
	sm.m[k] = s
	sm.order = append(sm.order, k)
}

// summarizeEdits replaces the plain stubs of res with summarised ones.
func (s *Server) summarizeEdits(ctx context.Context, x *exchange, res *prune.Result) {
	name := s.cfg.Pruning.summaryModel(x.project)
	if name == "" {
		name = s.tiers.Model("fast")
	}
	m, err := s.catalog.Resolve(name)
	if err != nil || s.upstreams[m.Provider] == nil {
		return
	}
	calls := 0
	for i := range res.Edits {
		e := &res.Edits[i]
		call, text := prune.Call(x.req, e.Index), x.req.Messages[e.Index].Text()
		h := sha256.New()
		for _, p := range [...]string{x.project, m.Provider, m.Upstream, call, text} {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
		var k [32]byte
		h.Sum(k[:0])
		stub, ok := s.stubs.get(k)
		if !ok {
			stub = e.Text
			if calls < summaryMaxPerRequest {
				calls++
				if sum, ok := s.summarize(ctx, x, m, call, text); ok {
					stub = prune.Stub(x.req, e.Index, sum)
				}
			}
			s.stubs.put(k, stub)
		}
		res.Removed -= prune.Tokens(len(stub)) - prune.Tokens(len(e.Text))
		e.Text = stub
	}
	res.After = res.Before - res.Removed
}

// summarize asks m for a summary of one tool output.
func (s *Server) summarize(ctx context.Context, x *exchange, m *catalog.Model, call, text string) (string, bool) {
	if len(text) > summaryInputBytes {
		cut := summaryInputBytes
		for cut > 0 && text[cut]&0xc0 == 0x80 {
			cut--
		}
		text = text[:cut]
	}
	b := append([]byte(nil), `{"model":`...)
	b = jsonscan.AppendQuote(b, m.Name)
	b = append(b, `,"temperature":0,"max_tokens":`...)
	b = appendInt(b, summaryMaxTokens)
	b = append(b, `,"messages":[{"role":"system","content":`...)
	b = jsonscan.AppendQuote(b, summaryPrompt)
	b = append(b, `},{"role":"user","content":`...)
	b = jsonscan.AppendQuote(b, "Tool call: "+call+"\n\nOutput:\n"+text)
	b = append(b, "}]}"...)
	req := providers.AcquireRequest()
	defer providers.ReleaseRequest(req)
	if err := req.Decode(b); err != nil {
		return "", false
	}
	pc := providers.Call{Req: req, ID: "chatcmpl-prune-summary", Created: time.Now().Unix()}
	uc := upstreamCall{kind: callSummary, models: []*catalog.Model{m}, call: &pc}
	cctx, cancel := context.WithTimeout(ctx, summaryTimeout)
	defer cancel()
	if err := s.callUpstream(cctx, x, &uc, []limits.Target{{Provider: m.Provider, Model: m.Upstream}}); err != nil {
		summaryErrors.Inc()
		return "", false
	}
	resp := uc.resp
	defer resp.Close()
	x.extraCost += accounting.Cost(uc.model, resp.Usage) // the request's project pays
	var content []byte
	_ = jsonscan.ArrayEach(jsonscan.Get(resp.Body, "choices"), func(i int, c []byte) error {
		if i == 0 {
			content = jsonscan.Get(jsonscan.Get(c, "message"), "content")
		}
		return nil
	})
	out, _, err := jsonscan.Unquote(content, nil)
	if err != nil || len(out) == 0 {
		summaryErrors.Inc()
		return "", false
	}
	return string(out), true
}

func appendInt(b []byte, v int) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
