package cost

// Price is a model's list price in USD per million tokens.
type Price struct {
	Input, Output, CachedInput, CacheWrite float64
}

// Prices maps "provider/upstream-model" to its price.
type Prices map[string]Price

// Cost prices one call's usage exactly as the gateway does (engine.Cost):
// uncached input at the input price, cache reads at the cached-input price,
// cache writes at the cache-write price (each falling back to the input
// price when the table has none), output at the output price.
func (p Price) Cost(prompt, cached, written, output int) float64 {
	uncached := max(prompt-cached-written, 0)
	c := p.CachedInput
	if c == 0 {
		c = p.Input
	}
	w := p.CacheWrite
	if w == 0 {
		w = p.Input
	}
	return (float64(uncached)*p.Input + float64(cached)*c + float64(written)*w + float64(output)*p.Output) / 1e6
}

// HourWritePremium is what a 1-hour cache write costs over a 5-minute one,
// per token, in input prices: Anthropic bills 1-hour writes at 2× the base
// input price and 5-minute writes at 1.25×
// (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
// "Pricing"), as engine/accounting does.
const HourWritePremium = 2 - 1.25

// CallCost prices one call: Cost, plus the 1-hour writes' premium.
func (p Price) CallCost(c Call) float64 {
	return p.Cost(c.PromptTokens, c.CachedTokens, c.CacheWriteTokens, c.OutputTokens) + p.HourPremium(c)
}

// HourPremium is the extra the call's 1-hour cache writes cost over
// 5-minute ones.
func (p Price) HourPremium(c Call) float64 {
	return float64(c.CacheWrite1hTokens) * HourWritePremium * p.Input / 1e6
}

// CallCost prices a call with the table (0 and false for an unknown model).
func (ps Prices) CallCost(c Call) (float64, bool) {
	p, ok := ps[c.Provider+"/"+c.Model]
	if !ok {
		return 0, false
	}
	return p.CallCost(c), true
}
