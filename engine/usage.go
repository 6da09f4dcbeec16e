package engine

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// Savings techniques, each counted once per request.
const (
	SaveCache    = "response_cache"
	SavePrompt   = "provider_prompt_cache"
	SaveStrip    = "ide_boilerplate"
	SaveDedup    = "file_dedup"
	SaveRouting  = "routing"
	numTechnique = 5
)

var techniques = [numTechnique]string{SaveCache, SavePrompt, SaveStrip, SaveDedup, SaveRouting}

// Indexes into techniques.
const (
	idxCache = iota
	idxPrompt
	idxStrip
	idxDedup
	idxRouting
)

// Cost is the price of one request's real usage, in USD.
func Cost(m *Model, u providers.Usage) float64 {
	if m == nil || !u.Set {
		return 0
	}
	uncached := u.PromptTokens - u.CachedTokens - u.CacheWriteTokens
	if uncached < 0 {
		uncached = 0
	}
	cached := m.CachedPrice
	if cached == 0 {
		cached = m.InputPrice
	}
	write := m.CacheWritePrice
	if write == 0 {
		write = m.InputPrice
	}
	return (float64(uncached)*m.InputPrice + float64(u.CachedTokens)*cached +
		float64(u.CacheWriteTokens)*write + float64(u.CompletionTokens)*m.OutputPrice) / 1e6
}

// usageKey is one row of GET /admin/usage.
type usageKey struct{ day, project, model string }

// usageRow accumulates one (day, project, model).
type usageRow struct {
	Requests         int64
	Errors           int64
	PromptTokens     int64
	CachedTokens     int64
	CompletionTokens int64
	CostUSD          float64
	SavedUSD         [numTechnique]float64
}

// Usage keeps per-day, per-project, per-model totals in memory for the
// admin API, and the matching Prometheus counters.
//
// # Notes
//
// Safe for concurrent use. Totals are per replica; Prometheus aggregates
// across replicas.
type Usage struct {
	mu   sync.Mutex
	rows map[usageKey]*usageRow
}

// NewUsage returns an empty Usage.
func NewUsage() *Usage { return &Usage{rows: map[usageKey]*usageRow{}} }

var (
	costCounters  sync.Map // provider/model → *metrics.FloatCounter
	savedCounters [numTechnique]*metrics.FloatCounter
	// savedNegCounters count what a technique cost (negative savings).
	savedNegCounters [numTechnique]*metrics.FloatCounter
)

func init() {
	for i, t := range techniques {
		savedCounters[i] = metrics.NewFloatCounter(`gateway_saved_usd_total{technique="` + t + `"}`)
		savedNegCounters[i] = metrics.NewFloatCounter(`gateway_technique_cost_usd_total{technique="` + t + `"}`)
	}
}

// Record adds one finished request.
func (u *Usage) Record(now time.Time, project string, m *Model, usage providers.Usage, cost float64, saved *[numTechnique]float64, failed bool) {
	model := "none"
	if m != nil {
		model = m.Name
	}
	u.add(usageKey{day: dayOf(now), project: project, model: model}, now, usage, cost, saved, failed)
	if m != nil && cost > 0 {
		c, ok := costCounters.Load(model)
		if !ok {
			c, _ = costCounters.LoadOrStore(strings.Clone(model), metrics.GetOrCreateFloatCounter(`gateway_cost_usd_total{provider="`+escLabel(m.Provider)+`",model="`+escLabel(model)+`"}`))
		}
		c.(*metrics.FloatCounter).Add(cost)
	}
	if saved != nil {
		for i, v := range saved {
			switch {
			case v > 0:
				savedCounters[i].Add(v)
			case v < 0:
				// Counters only grow: a technique's costs (the Anthropic
				// cache-write premium) are counted separately.
				savedNegCounters[i].Add(-v)
			}
		}
	}
}

// add accumulates one request into its row. k's strings must not alias
// request memory: they become map keys.
func (u *Usage) add(k usageKey, now time.Time, usage providers.Usage, cost float64, saved *[numTechnique]float64, failed bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.rows[k]
	if r == nil {
		r = &usageRow{}
		k.project, k.model = strings.Clone(k.project), strings.Clone(k.model)
		u.rows[k] = r
		// Keep 90 days at most.
		if len(u.rows) > 10000 {
			u.pruneLocked(now.AddDate(0, 0, -90).UTC().Format(time.DateOnly))
		}
	}
	r.Requests++
	if failed {
		r.Errors++
	}
	r.PromptTokens += int64(usage.PromptTokens)
	r.CachedTokens += int64(usage.CachedTokens)
	r.CompletionTokens += int64(usage.CompletionTokens)
	r.CostUSD += cost
	if saved != nil {
		for i, v := range saved {
			r.SavedUSD[i] += v
		}
	}
}

func (u *Usage) pruneLocked(before string) {
	for k := range u.rows {
		if k.day < before {
			delete(u.rows, k)
		}
	}
}

// AppendJSON appends the totals, optionally filtered, as
// {"rows":[{day,project,model,requests,…,saved_usd:{technique:…}}],"total":{…}}.
func (u *Usage) AppendJSON(dst []byte, project, day string) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := make([]usageKey, 0, len(u.rows))
	for k := range u.rows {
		if (project == "" || k.project == project) && (day == "" || k.day == day) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.day != b.day {
			return a.day < b.day
		}
		if a.project != b.project {
			return a.project < b.project
		}
		return a.model < b.model
	})
	var total usageRow
	dst = append(dst, `{"rows":[`...)
	for i, k := range keys {
		r := u.rows[k]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"day":`...)
		dst = jsonscan.AppendQuote(dst, k.day)
		dst = append(dst, `,"project":`...)
		dst = jsonscan.AppendQuote(dst, k.project)
		dst = append(dst, `,"model":`...)
		dst = jsonscan.AppendQuote(dst, k.model)
		dst = appendRow(dst, r)
		dst = append(dst, '}')
		total.Requests += r.Requests
		total.Errors += r.Errors
		total.PromptTokens += r.PromptTokens
		total.CachedTokens += r.CachedTokens
		total.CompletionTokens += r.CompletionTokens
		total.CostUSD += r.CostUSD
		for t := range r.SavedUSD {
			total.SavedUSD[t] += r.SavedUSD[t]
		}
	}
	dst = append(dst, `],"total":{`...)
	mark := len(dst)
	dst = appendRow(dst, &total)
	dst = append(dst[:mark], dst[mark+1:]...) // drop appendRow's leading comma
	dst = append(dst, "}}"...)
	return dst
}

func appendRow(dst []byte, r *usageRow) []byte {
	dst = append(dst, `,"requests":`...)
	dst = strconv.AppendInt(dst, r.Requests, 10)
	dst = append(dst, `,"errors":`...)
	dst = strconv.AppendInt(dst, r.Errors, 10)
	dst = append(dst, `,"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, r.PromptTokens, 10)
	dst = append(dst, `,"cached_tokens":`...)
	dst = strconv.AppendInt(dst, r.CachedTokens, 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, r.CompletionTokens, 10)
	dst = append(dst, `,"cost_usd":`...)
	dst = strconv.AppendFloat(dst, r.CostUSD, 'f', 6, 64)
	dst = append(dst, `,"saved_usd":{`...)
	sum := 0.0
	for i, t := range techniques {
		dst = append(dst, '"')
		dst = append(dst, t...)
		dst = append(dst, `":`...)
		dst = strconv.AppendFloat(dst, r.SavedUSD[i], 'f', 6, 64)
		dst = append(dst, ',')
		sum += r.SavedUSD[i]
	}
	dst = append(dst, `"total":`...)
	dst = strconv.AppendFloat(dst, sum, 'f', 6, 64)
	return append(dst, '}')
}

// dayOf returns now's UTC date as YYYY-MM-DD, formatted once per day.
func dayOf(now time.Time) string {
	y, m, d := now.UTC().Date()
	n := int64(y)*10000 + int64(m)*100 + int64(d)
	if c := lastDay.Load(); c != nil && c.n == n {
		return c.s
	}
	c := &dayCache{n: n, s: now.UTC().Format(time.DateOnly)}
	lastDay.Store(c)
	return c.s
}

type dayCache struct {
	n int64
	s string
}

var lastDay atomic.Pointer[dayCache]
