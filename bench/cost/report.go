package cost

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// KindSummary totals one kind of traffic in a run.
type KindSummary struct {
	Requests         int     `json:"requests"`
	Calls            int     `json:"upstream_calls"`
	PromptTokens     int     `json:"prompt_tokens"`
	CachedTokens     int     `json:"cached_tokens"`
	CacheWriteTokens int     `json:"cache_write_tokens"`
	OutputTokens     int     `json:"output_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	// OutputUSD is the part of CostUSD paid for output tokens, which no
	// prompt technique reduces.
	OutputUSD float64 `json:"output_usd"`
	// UncachedUSD, ReadUSD and WriteUSD split the prompt's part of CostUSD:
	// uncached input, cache reads and cache writes, each at its price.
	UncachedUSD float64 `json:"uncached_usd"`
	ReadUSD     float64 `json:"read_usd"`
	WriteUSD    float64 `json:"write_usd"`
	// LastWritePremiumUSD is the write premium (write − input price) of the
	// tokens each session's last call wrote: the session reads them never.
	LastWritePremiumUSD float64 `json:"last_write_premium_usd"`
	// HourWriteTokens are the cache writes made with Anthropic's 1-hour
	// TTL; HourPremiumUSD what they cost over 5-minute writes (part of
	// WriteUSD).
	HourWriteTokens int     `json:"hour_write_tokens"`
	HourPremiumUSD  float64 `json:"hour_premium_usd"`
}

func (k *KindSummary) addCall(c Call, cost, output float64) {
	k.OutputUSD += output
	k.Calls++
	k.PromptTokens += c.PromptTokens
	k.CachedTokens += c.CachedTokens
	k.CacheWriteTokens += c.CacheWriteTokens
	k.HourWriteTokens += c.CacheWrite1hTokens
	k.OutputTokens += c.OutputTokens
	k.CostUSD += cost
}

// RunSummary totals one replay, priced from what the fakes received.
type RunSummary struct {
	Name string `json:"name"`
	KindSummary
	Errors int                     `json:"errors"`
	ByKind map[string]*KindSummary `json:"by_kind"`
	// ByCategory splits ByKind by client (Request.Category); ByModel by
	// the model the client named (Request.Model, "auto" included).
	ByCategory map[string]*KindSummary `json:"by_category"`
	ByModel    map[string]*KindSummary `json:"by_model"`
	// ByProvider totals the upstream calls by the provider that answered
	// (its requests count is the requests with a call there).
	ByProvider map[string]*KindSummary `json:"by_provider"`
	// CacheHits counts answers the gateway served without an upstream call.
	CacheHits int `json:"cache_hits"`
	// Differ counts answers that differ from what the upstream returns for
	// the original request; Differences lists them.
	Differ      int      `json:"differ"`
	Differences []string `json:"differences,omitempty"`
	Failures    []string `json:"failures,omitempty"`
	// Routed counts "auto" requests by the model that answered them.
	Routed map[string]int `json:"routed,omitempty"`
	// HeaderCostUSD and HeaderSavedUSD sum X-Gateway-Cost-USD and
	// X-Gateway-Saved-USD over the HeaderRequests non-streaming answers;
	// OwnCostOfHeaderRequests is the fakes' price of the same requests.
	HeaderRequests          int          `json:"header_requests,omitempty"`
	HeaderCostUSD           float64      `json:"header_cost_usd,omitempty"`
	HeaderSavedUSD          float64      `json:"header_saved_usd,omitempty"`
	OwnCostOfHeaderRequests float64      `json:"own_cost_of_header_requests_usd,omitempty"`
	Gateway                 *UsageTotals `json:"gateway_usage,omitempty"`
	UnknownPrices           []string     `json:"unknown_prices,omitempty"`
}

// Summarize totals a replay's results.
func Summarize(name string, results []Result, prices Prices) RunSummary {
	s := RunSummary{Name: name, ByKind: map[string]*KindSummary{}, ByCategory: map[string]*KindSummary{}, ByModel: map[string]*KindSummary{}, ByProvider: map[string]*KindSummary{}}
	get := func(m map[string]*KindSummary, key string) *KindSummary {
		k := m[key]
		if k == nil {
			k = &KindSummary{}
			m[key] = k
		}
		return k
	}
	unknown := map[string]bool{}
	type lastWrite struct {
		k       *KindSummary
		premium float64
	}
	last := map[string]lastWrite{} // session → its latest call's write, while no later call followed
	for _, r := range results {
		k := get(s.ByKind, r.Req.Kind)
		kc, km := get(s.ByCategory, r.Req.Category()), get(s.ByModel, r.Req.Model)
		k.Requests++
		kc.Requests++
		km.Requests++
		s.Requests++
		if r.Err != "" || r.Status != 200 {
			s.Errors++
			s.Failures = append(s.Failures, fmt.Sprintf("request %d (%s %s %s): %s", r.Req.ID, r.Req.Session, r.Req.Kind, r.Req.Model, r.Err))
		}
		if strings.HasPrefix(r.Cache, "hit") {
			s.CacheHits++
		}
		if r.Diff != "" {
			s.Differ++
			s.Differences = append(s.Differences, fmt.Sprintf("request %d (%s, %s, model %s → %s/%s, cache %q): %s", r.Req.ID, r.Req.Session, r.Req.Kind, r.Req.Model, r.Provider, r.Model, r.Cache, r.Diff))
		}
		if r.Req.Model == "auto" && r.Status == 200 {
			if s.Routed == nil {
				s.Routed = map[string]int{}
			}
			s.Routed[r.Provider+"/"+r.Model]++
		}
		own := 0.0
		counted := map[string]bool{}
		for _, c := range r.Calls {
			cost, ok := prices.CallCost(c)
			if !ok {
				unknown[c.Provider+"/"+c.Model] = true
			}
			p := prices[c.Provider+"/"+c.Model]
			out := float64(c.OutputTokens) * p.Output / 1e6
			kp := get(s.ByProvider, c.Provider)
			un, rd, wr := p.Cost(c.PromptTokens-c.CachedTokens-c.CacheWriteTokens, 0, 0, 0), p.Cost(c.CachedTokens, c.CachedTokens, 0, 0), p.Cost(c.CacheWriteTokens, 0, c.CacheWriteTokens, 0)+p.HourPremium(c)
			for _, ks := range []*KindSummary{k, kc, km, kp, &s.KindSummary} {
				ks.addCall(c, cost, out)
				ks.UncachedUSD += un
				ks.ReadUSD += rd
				ks.WriteUSD += wr
				ks.HourPremiumUSD += p.HourPremium(c)
			}
			if c.CacheWriteTokens > 0 && p.CacheWrite > p.Input {
				last[r.Req.Session] = lastWrite{kc, float64(c.CacheWriteTokens)*(p.CacheWrite-p.Input)/1e6 + p.HourPremium(c)}
			} else if c.Provider == "anthropic" {
				delete(last, r.Req.Session)
			}
			if !counted[c.Provider] {
				counted[c.Provider] = true
				kp.Requests++
			}
			own += cost
		}
		if r.HasCost {
			s.HeaderRequests++
			s.HeaderCostUSD += r.CostHeader
			s.HeaderSavedUSD += r.SavedHeader
			s.OwnCostOfHeaderRequests += own
		}
	}
	for _, lw := range last {
		lw.k.LastWritePremiumUSD += lw.premium
		s.LastWritePremiumUSD += lw.premium
	}
	for m := range unknown {
		s.UnknownPrices = append(s.UnknownPrices, m)
	}
	sort.Strings(s.UnknownPrices)
	return s
}

// Accounting is the harness's own attribution of the gateway's savings,
// computed from what the fakes received, independently of the gateway's
// bookkeeping.
type Accounting struct {
	// ResponseCache: answers served from the gateway's cache, priced at the
	// cost of the upstream call that produced the cached answer (the
	// gateway's rule); BaselineUSD is what the same requests cost without
	// the gateway.
	ResponseCache struct {
		Hits        int     `json:"hits"`
		SavedUSD    float64 `json:"saved_usd"`
		BaselineUSD float64 `json:"baseline_usd"`
		Unmatched   int     `json:"unmatched"`
	} `json:"response_cache"`
	// PromptCache: Anthropic calls that carried breakpoints the gateway
	// placed (the client sent none): reads at input − cached-input price,
	// minus writes at cache-write − input price, per call. PositiveOnlyUSD
	// drops the calls whose result is negative (write-only calls).
	PromptCache struct {
		Calls           int     `json:"calls"`
		ReadTokens      int     `json:"read_tokens"`
		WriteTokens     int     `json:"write_tokens"`
		SavedUSD        float64 `json:"saved_usd"`
		PositiveOnlyUSD float64 `json:"positive_only_usd"`
		NegativeCalls   int     `json:"negative_calls"`
	} `json:"provider_prompt_cache"`
	// PromptEdits: tokens of the original request (as a client without the
	// gateway sends it to the same model) minus the tokens the upstream
	// received, at the model's input price. Framing counts the requests
	// whose difference was negative (the gateway's rendering is larger).
	PromptEdits struct {
		Requests      int     `json:"requests"`
		TokensRemoved int     `json:"tokens_removed"`
		SavedUSD      float64 `json:"saved_usd"`
		Framing       int     `json:"framing_requests"`
		FramingTokens int     `json:"framing_tokens"`
	} `json:"prompt_edits"`
	// Routing: "auto" requests, priced at the strong tier's price for the
	// same usage minus the routed model's price (the gateway's rule), and
	// versus the baseline (the strong model, with its own caching).
	Routing struct {
		Requests      int     `json:"requests"`
		RoutedAway    int     `json:"routed_away"`
		SavedUSD      float64 `json:"saved_usd"`
		VsBaselineUSD float64 `json:"vs_baseline_usd"`
	} `json:"routing"`
}

// Account attributes the gateway run's savings by technique. base and gw
// are the results of the same trace, directly and through the gateway.
func Account(base, gw []Result, prices Prices, tok *Tokenizer, strong string) (Accounting, error) {
	var a Accounting
	last := map[string]float64{}
	callsCost := func(cs []Call) float64 {
		t := 0.0
		for _, c := range cs {
			v, _ := prices.CallCost(c)
			t += v
		}
		return t
	}
	for i, r := range gw {
		if r.Status != 200 {
			continue
		}
		_, digest, err := Meaning(r.Req.Format, r.Req.Body)
		if err != nil {
			return a, err
		}
		key := r.Provider + "/" + r.Model + "/" + fmt.Sprintf("%x", digest)
		if strings.HasPrefix(r.Cache, "hit") && len(r.Calls) == 0 {
			a.ResponseCache.Hits++
			if v, ok := last[key]; ok {
				a.ResponseCache.SavedUSD += v
			} else {
				a.ResponseCache.Unmatched++
			}
			a.ResponseCache.BaselineUSD += callsCost(base[i].Calls)
		}
		if len(r.Calls) > 0 {
			last[key] = callsCost(r.Calls)
		}
		for ci, c := range r.Calls {
			p := prices[c.Provider+"/"+c.Model]
			if c.Provider == "anthropic" && r.Req.Format == FormatOpenAI && c.Breakpoints > 0 {
				a.PromptCache.Calls++
				a.PromptCache.ReadTokens += c.CachedTokens
				a.PromptCache.WriteTokens += c.CacheWriteTokens
				w := p.CacheWrite
				if w == 0 {
					w = p.Input
				}
				v := (float64(c.CachedTokens)*(p.Input-p.CachedInput)-float64(c.CacheWriteTokens)*(w-p.Input))/1e6 - p.HourPremium(c)
				a.PromptCache.SavedUSD += v
				if v > 0 {
					a.PromptCache.PositiveOnlyUSD += v
				} else if v < 0 {
					a.PromptCache.NegativeCalls++
				}
			}
			if ci == 0 {
				orig, err := OriginalTokens(tok, r.Req, c.Provider, c.Model)
				if err != nil {
					return a, err
				}
				switch d := orig - c.PromptTokens; {
				case d > 0:
					a.PromptEdits.Requests++
					a.PromptEdits.TokensRemoved += d
					a.PromptEdits.SavedUSD += float64(d) * p.Input / 1e6
				case d < 0:
					a.PromptEdits.Framing++
					a.PromptEdits.FramingTokens -= d
				}
			}
		}
		if r.Req.Model == "auto" {
			a.Routing.Requests++
			if r.Provider+"/"+r.Model != strong {
				a.Routing.RoutedAway++
			}
			sp := prices[strong]
			for _, c := range r.Calls {
				own, _ := prices.CallCost(c)
				if d := sp.CallCost(c) - own; d > 0 {
					a.Routing.SavedUSD += d
				}
			}
			a.Routing.VsBaselineUSD += callsCost(base[i].Calls) - callsCost(r.Calls)
		}
	}
	return a, nil
}

// OriginalTokens counts the prompt tokens of r as a client without the
// gateway sends it to provider/model.
func OriginalTokens(tok *Tokenizer, r *Request, provider, model string) (int, error) {
	body := r.Body
	if r.Format == FormatOpenAI && provider == "gemini" {
		gb, err := ToGemini(body)
		if err != nil {
			return 0, err
		}
		var gr gmRequest
		if err := json.Unmarshal(gb, &gr); err != nil {
			return 0, err
		}
		n := 0
		for _, s := range GeminiSegments(tok, &gr) {
			n += len(s)
		}
		return n, nil
	}
	if r.Format == FormatOpenAI && provider == "anthropic" {
		var err error
		if body, err = ToAnthropic(body, model, false); err != nil {
			return 0, err
		}
	}
	if r.Format == FormatAnthropic || provider == "anthropic" {
		blocks, _, err := AnthropicBlocks(tok, body)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, b := range blocks {
			n += b.Tokens
		}
		return n, nil
	}
	var or oaRequest
	if err := json.Unmarshal(body, &or); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range OpenAISegments(tok, &or) {
		n += len(s)
	}
	return n, nil
}
