package engine

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"

	"github.com/aigateway/gateway/providers/anthropic"
	"github.com/aigateway/gateway/wasm"
	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
)

// Token counting for the savings of prompt-editing policies uses a real BPE
// tokenizer (o200k_base, GPT-4o's), loaded from the ranks embedded in the
// binary on the first count: no network, and none of its 22 MB of rank
// tables until a policy first removes text. It runs only on requests a
// policy changed (only on the changed messages), and never before the answer
// leaves: the texts are copied when the edits are applied (removedText.note)
// and counted by the accountant after the answer was sent.
var (
	tokOnce sync.Once
	tok     *tiktoken.Tiktoken
)

func tokenizer() *tiktoken.Tiktoken {
	tokOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
		if enc, err := tiktoken.GetEncoding("o200k_base"); err == nil {
			tok = enc
		}
	})
	return tok
}

func countTokens(s string) int {
	t := tokenizer()
	if t == nil {
		return (len(s) + 3) / 4
	}
	return len(t.Encode(s, nil, nil))
}

// removedText keeps what the token count of the request-stage policies'
// removals needs, copied: the request is decoded again from the edited body
// and the policies' output is reset before the route stage, so neither the
// original texts nor the edited ones outlive the edit where they are.
type removedText struct {
	// buf holds, for each changed message, its original text then its
	// edited text; ends are their end offsets, two per message.
	buf  []byte
	ends []int
	// strip and dedup are the bytes the policies reported removing of each
	// kind (report_removed, ABI v1.1): they split the tokens between the two
	// techniques, whichever policy reported them, built-in or uploaded.
	strip, dedup int64
}

// removedTextKeep bounds the buffer a pooled exchange keeps between requests.
const removedTextKeep = 256 << 10

func (r *removedText) reset() {
	if cap(r.buf) > removedTextKeep {
		r.buf = nil
	}
	r.buf, r.ends, r.strip, r.dedup = r.buf[:0], r.ends[:0], 0, 0
}

// pending reports whether there are tokens to count.
func (r *removedText) pending() bool { return len(r.ends) > 0 }

// countsRemoved reports whether x's savings need the token count: a policy
// removed text, and an upstream answered with usage (a failed request or a
// cache hit credits no stripping or dedup).
func (x *exchange) countsRemoved() bool { return x.removed.pending() && x.usage.Set && !x.hit }

// note copies the original and the edited text of every message the
// request-stage policies changed, before applyEdits rebuilds the request.
// Nothing is kept when the policies reported removing nothing (a skill's
// template only adds text): there is no saving to count.
func (r *removedText) note(x *exchange, finals []wasm.FinalMessage) {
	r.reset()
	r.strip = x.out.RemovedBytes(abi.RemovedBoilerplate)
	r.dedup = x.out.RemovedBytes(abi.RemovedDuplicate)
	if r.strip+r.dedup <= 0 {
		return
	}
	for _, fm := range finals {
		if fm.Orig < 0 || !fm.Changed {
			continue
		}
		before, after := changedLines(unsafeconv.Bytes(x.req.Messages[fm.Orig].Text()), fm.Text)
		r.buf = append(r.buf, before...)
		r.ends = append(r.ends, len(r.buf))
		r.buf = append(r.buf, after...)
		r.ends = append(r.ends, len(r.buf))
	}
}

// changedLines trims the lines before and after share at their start and
// at their end, and returns what is left of each: the lines an edit touched.
// BPE pre-tokenisation never joins text across a line break into one token,
// so the token counts of the two remainders differ by what the two texts'
// counts differ by (to a token at each cut), while the tokenizer, at about
// 10 µs a token, reads only the edited lines: stripping a marker from a
// 100 KiB prompt counts a few tokens, not 2 × 34,000.
func changedLines(before, after []byte) ([]byte, []byte) {
	n := min(len(before), len(after))
	p := 0
	for p < n && before[p] == after[p] {
		p++
	}
	if p == len(before) && p == len(after) {
		return nil, nil
	}
	s := 0
	for s < n-p && before[len(before)-1-s] == after[len(after)-1-s] {
		s++
	}
	// Back to the start of the line the first difference is on.
	for p > 0 && before[p-1] != '\n' {
		p--
	}
	// Forward to the end of the line the last difference is on: the
	// shared tail starts after a line break.
	tail := before[len(before)-s:]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		s -= i + 1
	} else {
		s = 0
	}
	return before[p : len(before)-s], after[p : len(after)-s]
}

// count returns the tokens the policies removed, attributed to boilerplate
// stripping and to file dedup: for every changed message, the original's
// tokens minus the edited text's (never negative: added text is not a
// saving), split by the bytes reported removed of each kind.
func (r *removedText) count() (strip, dedup int) {
	total, start := 0, 0
	for i := 0; i+1 < len(r.ends); i += 2 {
		before := countTokens(unsafeconv.String(r.buf[start:r.ends[i]]))
		after := countTokens(unsafeconv.String(r.buf[r.ends[i]:r.ends[i+1]]))
		start = r.ends[i+1]
		if before > after {
			total += before - after
		}
	}
	sb, db := r.strip, r.dedup
	switch {
	case total == 0 || sb+db <= 0:
		return 0, 0
	case db == 0:
		return total, 0
	case sb == 0:
		return 0, total
	}
	strip = int(int64(total) * sb / (sb + db))
	return strip, total - strip
}

// accountant finishes, on its own goroutine, the requests whose savings
// need a token count: tiktoken costs about 10 µs a token on a 2-core EPYC
// (0.33 s for a whole 100 KiB prompt), and its first use loads 22 MB of rank
// tables in 0.9 s; no answer waits for either.
// The metrics and the upstream slot are done when the answer is; the cost,
// savings, ledger row, usage and access-log line follow a moment later.
//
// # Notes
//
// submit is safe for concurrent use; after close it refuses, and the caller
// accounts inline.
type accountant struct {
	mu     sync.RWMutex // guards closed against submit
	closed bool
	jobs   chan accountJob
	wg     sync.WaitGroup // submitted, not yet accounted
	done   chan struct{}
}

type accountJob struct {
	x     *exchange
	total time.Duration
}

// accountQueue bounds the requests waiting for their count; past it the
// answer's goroutine counts (the machine is behind on counting anyway).
const accountQueue = 1024

func newAccountant() *accountant {
	a := &accountant{jobs: make(chan accountJob, accountQueue), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *accountant) run() {
	defer close(a.done)
	for j := range a.jobs {
		j.x.account(j.total)
		a.wg.Done()
	}
}

// submit hands x over; false when the accountant is closed or full.
func (a *accountant) submit(x *exchange, total time.Duration) bool {
	if a == nil {
		return false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return false
	}
	// The handler's request memory is reused once it returns: the one
	// string of the row that may view it (a translated request's model
	// name) is copied.
	x.ten.requested = strings.Clone(x.ten.requested)
	a.wg.Add(1)
	select {
	case a.jobs <- accountJob{x, total}:
		return true
	default:
		a.wg.Done()
		return false
	}
}

// wait returns once every submitted request is accounted.
func (a *accountant) wait() { a.wg.Wait() }

// close accounts what was submitted and stops the goroutine.
func (a *accountant) close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.jobs)
	}
	a.mu.Unlock()
	<-a.done
}

// creditSavings fills x.saved for a finished, non-cached request:
//   - stripped and deduplicated tokens at the model's input price;
//   - Anthropic prompt caching the gateway added (the client set no
//     breakpoints): reads at the input minus cached price, less the write
//     premium;
//   - routing: the price of the baseline (the strong tier) minus the routed
//     model's, for the same usage.
func (s *Server) creditSavings(x *exchange) {
	m := x.model
	if m == nil || !x.usage.Set {
		return
	}
	// Removed tokens are priced at this request's blended prompt price:
	// had they been sent, they would have been cache reads, writes or plain
	// input in the same proportions as the rest of the prompt.
	price := m.InputPrice
	if x.usage.PromptTokens > 0 {
		prompt := Cost(m, providers.Usage{PromptTokens: x.usage.PromptTokens, CachedTokens: x.usage.CachedTokens, CacheWriteTokens: x.usage.CacheWriteTokens, Set: true})
		price = prompt * 1e6 / float64(x.usage.PromptTokens)
	}
	x.saved[idxStrip] = float64(x.stripTokens) * price / 1e6
	x.saved[idxDedup] = float64(x.dedupTokens) * price / 1e6
	if x.gatewayBreakpoints {
		read := m.CachedPrice
		write := m.CacheWritePrice
		if write == 0 {
			write = m.InputPrice
		}
		// Negative when a request only wrote to the cache: the write premium
		// is a cost of the technique and is counted against it.
		x.saved[idxPrompt] = (float64(x.usage.CachedTokens)*(m.InputPrice-read) - float64(x.usage.CacheWriteTokens)*(write-m.InputPrice)) / 1e6
	}
	if x.tier != "" {
		if base, err := s.catalog.Resolve(s.tiers["strong"]); err == nil && base.Name != m.Name {
			if d := Cost(base, x.usage) - Cost(m, x.usage); d > 0 {
				x.saved[idxRouting] = d
			}
		}
	}
}

// noteBreakpoints records whether the gateway's breakpoints (not the
// client's) drive Anthropic caching for x.
func (s *Server) noteBreakpoints(x *exchange) {
	if x.model != nil && s.cfg.Optimize.AnthropicCacheControl && s.upstreams[x.model.Provider] != nil && s.upstreams[x.model.Provider].cfg.Kind == "anthropic" {
		x.gatewayBreakpoints = !anthropic.RequestHasBreakpoints(x.req)
	}
}
