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

// CallCost prices a call with the table (0 and false for an unknown model).
func (ps Prices) CallCost(c Call) (float64, bool) {
	p, ok := ps[c.Provider+"/"+c.Model]
	if !ok {
		return 0, false
	}
	return p.Cost(c.PromptTokens, c.CachedTokens, c.CacheWriteTokens, c.OutputTokens), true
}
