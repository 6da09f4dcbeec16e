package engine

import (
	"sync"

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
// binary: no network. It runs only on requests a policy changed, and only on
// the changed messages.
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

// removedTokens counts the tokens the request-stage policies removed: for
// every message they changed, the original's tokens minus the new text's
// (never negative: added text, such as a skill's template, is not a saving).
// It returns the count attributed to boilerplate stripping and to file dedup,
// split by the bytes the policies reported removing of each kind
// (report_removed, ABI v1.1): whichever policy reported them, built-in or
// uploaded.
func removedTokens(x *exchange, finals []wasm.FinalMessage) (strip, dedup int) {
	total := 0
	for _, fm := range finals {
		if fm.Orig < 0 || !fm.Changed {
			continue
		}
		before := countTokens(x.req.Messages[fm.Orig].Text())
		after := countTokens(unsafeconv.String(fm.Text))
		if before > after {
			total += before - after
		}
	}
	if total == 0 {
		return 0, 0
	}
	sb := int(x.out.RemovedBytes(abi.RemovedBoilerplate))
	db := int(x.out.RemovedBytes(abi.RemovedDuplicate))
	switch {
	case sb+db == 0:
		return 0, 0
	case db == 0:
		return total, 0
	case sb == 0:
		return 0, total
	}
	strip = total * sb / (sb + db)
	return strip, total - strip
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
