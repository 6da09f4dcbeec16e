package cost

import (
	"fmt"
	"sort"
	"strings"
)

// Report is a cost benchmark's outcome, written as JSON and markdown.
type Report struct {
	Date    string       `json:"date"`
	Command string       `json:"command"`
	Machine Machine      `json:"machine"`
	Trace   TraceSummary `json:"trace"`
	Prices  Prices       `json:"prices"`
	Strong  string       `json:"strong_tier"`
	// Baseline is every request sent unmodified to the fakes; Gateway the
	// same trace through a gateway with the default configuration.
	Baseline RunSummary `json:"baseline"`
	Gateway  RunSummary `json:"gateway"`
	// BaselineClientCaching is the sensitivity baseline: as Baseline, but
	// the OpenAI-format clients of Anthropic models place Claude Code's
	// breakpoints themselves (nil when not run).
	BaselineClientCaching *RunSummary `json:"baseline_client_caching,omitempty"`
	// Ablations are gateway runs with one technique turned off.
	Ablations  []Ablation        `json:"ablations,omitempty"`
	Techniques []Technique       `json:"techniques"`
	Accounting Accounting        `json:"own_accounting"`
	Notes      []string          `json:"notes,omitempty"`
	Durations  map[string]string `json:"durations,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Commit  string `json:"commit"`
	LoadAvg string `json:"loadavg"`
}

// TraceSummary describes the replayed trace.
type TraceSummary struct {
	Seed     uint64         `json:"seed"`
	Requests int            `json:"requests"`
	Sessions map[string]int `json:"sessions"`
	ByKind   map[string]int `json:"requests_by_kind"`
	ByModel  map[string]int `json:"requests_by_model"`
	Retries  int            `json:"retries"`
	Revisits int            `json:"revisits"`
	Temp0    int            `json:"temperature_0"`
	Streamed int            `json:"streamed"`
	Bytes    int64          `json:"body_bytes"`
	Span     string         `json:"span"`
	Mix      Mix            `json:"mix"`
}

// Summary describes t.
func (t *Trace) Summary() TraceSummary {
	s := TraceSummary{Seed: t.Seed, Requests: len(t.Requests), Sessions: map[string]int{}, ByKind: map[string]int{}, ByModel: map[string]int{}, Mix: t.Mix}
	sess := map[string]string{}
	for _, r := range t.Requests {
		sess[r.Session] = r.Kind
		s.ByKind[r.Kind]++
		s.ByModel[r.Model]++
		switch r.Repeat {
		case "retry":
			s.Retries++
		case "revisit":
			s.Revisits++
		}
		if r.Temp0 {
			s.Temp0++
		}
		if r.Stream {
			s.Streamed++
		}
		s.Bytes += int64(len(r.Body))
	}
	for _, k := range sess {
		s.Sessions[k]++
	}
	if n := len(t.Requests); n > 0 {
		s.Span = t.Requests[n-1].At.Round(1e9).String()
	}
	return s
}

// Ablation is a gateway run with one technique off.
type Ablation struct {
	Name    string  `json:"name"`
	What    string  `json:"what"`
	CostUSD float64 `json:"cost_usd"`
	// MarginalUSD is this run's cost minus the default gateway run's: what
	// the technique saves given the others.
	MarginalUSD float64 `json:"marginal_usd"`
	// PromptMarginalUSD is MarginalUSD without the output tokens' cost: a
	// run whose answers differ (pruning) also differs in answer lengths,
	// which no prompt technique chooses.
	PromptMarginalUSD float64 `json:"prompt_marginal_usd"`
	Calls             int     `json:"upstream_calls"`
	Differ            int     `json:"differ"`
	Errors            int     `json:"errors"`
	GatewayCost       float64 `json:"gateway_reported_cost_usd"`
	// Pruned is the number of requests context pruning changed, and
	// PrunedTokens the prompt tokens it removed (X-Gateway-Pruned-Tokens).
	Pruned       int `json:"pruned_requests"`
	PrunedTokens int `json:"pruned_tokens"`
	// ByCategory and ByModel are the run's cost per category and per
	// client-named model.
	ByCategory map[string]float64 `json:"by_category,omitempty"`
	ByModel    map[string]float64 `json:"by_model,omitempty"`
	// CachedShare is the run's cache reads over its prompt tokens, per
	// upstream provider.
	CachedShare map[string]float64 `json:"cached_share_by_provider,omitempty"`
}

// Technique is one row of the savings table.
type Technique struct {
	Name string `json:"technique"`
	// Reported is the gateway's /admin/usage saved_usd; Own the harness's
	// accounting from the fakes; Marginal the ablation's (nil when not run).
	Reported float64  `json:"gateway_reported_usd"`
	Own      float64  `json:"own_accounting_usd"`
	Marginal *float64 `json:"marginal_usd,omitempty"`
	Note     string   `json:"note,omitempty"`
	// OwnCell, when set, is shown instead of Own in the markdown table.
	OwnCell string `json:"-"`
}

func usd(v float64) string {
	if v < 0 {
		return "−$" + fmt.Sprintf("%.4f", -v)
	}
	return "$" + fmt.Sprintf("%.4f", v)
}

func pct(part, whole float64) string {
	if whole == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*part/whole)
}

func intc(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	base, gw := r.Baseline, r.Gateway
	w("# Cost benchmark, %s", r.Date)
	w("")
	w("Command: `%s` · commit `%s` · %s, %d cores · %s · load average at start %s", r.Command, r.Machine.Commit, r.Machine.CPU, r.Machine.Cores, r.Machine.Go, r.Machine.LoadAvg)
	w("")
	t := r.Trace
	w("Trace: seed %d, %s requests over %s (%s sessions: %s), %s MB of request bodies; %d retries, %d autocomplete revisits, %d at temperature 0, %d streamed.",
		t.Seed, intc(t.Requests), t.Span, intc(sum(t.Sessions)), kv(t.Sessions), fmt.Sprintf("%.1f", float64(t.Bytes)/1e6), t.Retries, t.Revisits, t.Temp0, t.Streamed)
	w("")
	w("| | baseline (no gateway) | through the gateway | difference |")
	w("| --- | --- | --- | --- |")
	w("| **cost** | **%s** | **%s** | **%s saved (%s)** |", usd(base.CostUSD), usd(gw.CostUSD), usd(base.CostUSD-gw.CostUSD), pct(base.CostUSD-gw.CostUSD, base.CostUSD))
	w("| requests / upstream calls | %s / %s | %s / %s | %s answered from the gateway's cache |", intc(base.Requests), intc(base.Calls), intc(gw.Requests), intc(gw.Calls), intc(gw.CacheHits))
	w("| prompt tokens sent upstream | %s | %s | %s fewer |", intc(base.PromptTokens), intc(gw.PromptTokens), pct(float64(base.PromptTokens-gw.PromptTokens), float64(base.PromptTokens)))
	w("| of which cache reads / writes | %s / %s | %s / %s | |", intc(base.CachedTokens), intc(base.CacheWriteTokens), intc(gw.CachedTokens), intc(gw.CacheWriteTokens))
	w("| output tokens (their cost) | %s (%s) | %s (%s) | no prompt technique reduces output: were every prompt token free, the gateway would save at most %s |", intc(base.OutputTokens), usd(base.OutputUSD), intc(gw.OutputTokens), usd(gw.OutputUSD), pct(base.CostUSD-base.OutputUSD, base.CostUSD))
	w("| errors | %d | %d | |", base.Errors, gw.Errors)
	w("| **answers that differ** from the upstream's answer to the original request | %d | **%d** | semantic cache off |", base.Differ, gw.Differ)
	w("")
	if bc := r.BaselineClientCaching; bc != nil {
		w("Sensitivity: had every OpenAI-format client of a Claude model placed its own cache breakpoints (as Claude Code does: the last system block and the last block of the last two user turns; possible only on Anthropic's native API), the baseline would cost %s and the gateway would save %s (%s).",
			usd(bc.CostUSD), usd(bc.CostUSD-gw.CostUSD), pct(bc.CostUSD-gw.CostUSD, bc.CostUSD))
		w("")
	}
	w("Savings by technique (USD):")
	w("")
	w("| technique | gateway's `/admin/usage` | own accounting (what the fakes received) | marginal (run with it off − default run) | note |")
	w("| --- | --- | --- | --- | --- |")
	var rep, own float64
	for _, tq := range r.Techniques {
		m := "not run"
		if tq.Marginal != nil {
			m = usd(*tq.Marginal)
		}
		oc := usd(tq.Own)
		if tq.OwnCell != "" {
			oc = tq.OwnCell
		}
		w("| %s | %s | %s | %s | %s |", tq.Name, usd(tq.Reported), oc, m, tq.Note)
		rep += tq.Reported
		own += tq.Own
	}
	w("| **total** | %s | %s | measured: %s (baseline − gateway) | |", usd(rep), usd(own), usd(base.CostUSD-gw.CostUSD))
	w("")
	if len(r.Ablations) > 0 {
		var m float64
		for _, tq := range r.Techniques {
			if tq.Marginal != nil {
				m += *tq.Marginal
			}
		}
		w("The marginals add up to %s; the other %s of the measured saving comes from the techniques together: each marginal is measured with the others on, and they overlap (without routing, the `auto` requests go to the strong model, whose prefixes the gateway's breakpoints then cache; without both, they go to it uncached).",
			usd(m), usd(base.CostUSD-gw.CostUSD-m))
		w("")
	}
	if len(r.Ablations) > 0 {
		w("Ablations (the gateway restarted with one switch changed, same trace):")
		w("")
		w("| run | what | cost | marginal | marginal without output | upstream calls | differing answers | errors | requests pruned (tokens) |")
		w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		w("| gateway | default configuration | %s | – | – | %s | %d | %d | 0 |", usd(gw.CostUSD), intc(gw.Calls), gw.Differ, gw.Errors)
		for _, a := range r.Ablations {
			w("| %s | %s | %s | %s | %s | %s | %d | %d | %d (%s) |", a.Name, a.What, usd(a.CostUSD), usd(a.MarginalUSD), usd(a.PromptMarginalUSD), intc(a.Calls), a.Differ, a.Errors, a.Pruned, intc(a.PrunedTokens))
		}
		w("")
	}
	table := func(title, col string, bm, gm map[string]*KindSummary) {
		w("%s", title)
		w("")
		w("| %s | requests | baseline cost | gateway cost | saved | baseline cached-read share | gateway cached-read share | gateway cache-write share | output share of the gateway's cost |", col)
		w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		keys := make([]string, 0, len(bm))
		for k := range bm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			bk, gk := bm[k], gm[k]
			if gk == nil {
				gk = &KindSummary{}
			}
			saved := pct(bk.CostUSD-gk.CostUSD, bk.CostUSD)
			if gk.CostUSD > bk.CostUSD+1e-9 {
				saved = "**" + saved + " (worse)**"
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %s | %s |", k, bk.Requests, usd(bk.CostUSD), usd(gk.CostUSD), saved,
				pct(float64(bk.CachedTokens), float64(bk.PromptTokens)), pct(float64(gk.CachedTokens), float64(gk.PromptTokens)), pct(float64(gk.CacheWriteTokens), float64(gk.PromptTokens)), pct(gk.OutputUSD, gk.CostUSD))
		}
		w("")
	}
	table("By kind of traffic:", "kind", base.ByKind, gw.ByKind)
	table("By category (kind and client):", "category", base.ByCategory, gw.ByCategory)
	w("Where the gateway's cost goes, by category (prompt: uncached input, cache reads and cache writes at their prices; the write premium of each session's last write, which nothing reads; the premium of 1-hour writes over 5-minute ones; output):")
	w("")
	w("| category | gateway cost | uncached input | cache reads | cache writes | of which last-write premium | of which 1-hour premium (tokens) | output |")
	w("| --- | --- | --- | --- | --- | --- | --- | --- |")
	cats := make([]string, 0, len(gw.ByCategory))
	for k := range gw.ByCategory {
		cats = append(cats, k)
	}
	sort.Strings(cats)
	for _, k := range append(cats, "total") {
		g := gw.ByCategory[k]
		if k == "total" {
			g = &gw.KindSummary
		}
		w("| %s | %s | %s | %s | %s | %s | %s (%d) | %s |", k, usd(g.CostUSD), usd(g.UncachedUSD), usd(g.ReadUSD), usd(g.WriteUSD), usd(g.LastWritePremiumUSD),
			usd(g.HourPremiumUSD), g.HourWriteTokens, usd(g.OutputUSD))
	}
	w("")
	table("By model the client named (provider):", "model", base.ByModel, gw.ByModel)
	table("By upstream provider (the calls each one answered; the baseline sends `auto` to the strong tier):", "provider", base.ByProvider, gw.ByProvider)
	if len(r.Ablations) > 0 && len(r.Ablations[0].CachedShare) > 0 {
		provs := make([]string, 0, len(gw.ByProvider))
		for k := range gw.ByProvider {
			provs = append(provs, k)
		}
		sort.Strings(provs)
		w("Cached-token share per provider (cache reads / prompt tokens) in each run:")
		w("")
		w("| run | %s |", strings.Join(provs, " | "))
		w("|%s", strings.Repeat(" --- |", len(provs)+1))
		row := func(name string, share func(p string) string) {
			cells := make([]string, len(provs))
			for i, p := range provs {
				cells[i] = share(p)
			}
			w("| %s | %s |", name, strings.Join(cells, " | "))
		}
		of := func(m map[string]*KindSummary) func(string) string {
			return func(p string) string {
				if k := m[p]; k != nil {
					return pct(float64(k.CachedTokens), float64(k.PromptTokens))
				}
				return "–"
			}
		}
		row("baseline", of(base.ByProvider))
		row("gateway", of(gw.ByProvider))
		for _, a := range r.Ablations {
			row(a.Name, func(p string) string {
				if v, ok := a.CachedShare[p]; ok {
					return fmt.Sprintf("%.1f%%", 100*v)
				}
				return "–"
			})
		}
		w("")
	}
	if len(r.Ablations) > 0 && len(r.Ablations[0].ByCategory) > 0 {
		w("Marginal saving of each technique by category and by model (cost of the run with it off − the default run's, same requests):")
		w("")
		head, sep := "| | ", "| --- | "
		for _, a := range r.Ablations {
			head += a.Name + " | "
			sep += "--- | "
		}
		for _, part := range []struct {
			title string
			gm    map[string]*KindSummary
			get   func(a Ablation) map[string]float64
		}{{"category", gw.ByCategory, func(a Ablation) map[string]float64 { return a.ByCategory }}, {"model", gw.ByModel, func(a Ablation) map[string]float64 { return a.ByModel }}} {
			w("%s", strings.Replace(head, "| |", "| "+part.title+" |", 1))
			w("%s", sep)
			keys := make([]string, 0, len(part.gm))
			for k := range part.gm {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				row := "| " + k + " | "
				for _, a := range r.Ablations {
					row += usd(part.get(a)[k]-part.gm[k].CostUSD) + " | "
				}
				w("%s", row)
			}
			w("")
		}
	}
	if len(gw.Routed) > 0 {
		w("`auto` requests answered by: %s.", kv(gw.Routed))
		w("")
	}
	w("Cross-checks: the gateway reported %s of cost in `/admin/usage` against %s priced from the fakes' usage; over the %d non-streaming answers, `X-Gateway-Cost-USD` sums to %s (fakes: %s) and `X-Gateway-Saved-USD` to %s.",
		usd(gwCost(gw)), usd(gw.CostUSD), gw.HeaderRequests, usd(gw.HeaderCostUSD), usd(gw.OwnCostOfHeaderRequests), usd(gw.HeaderSavedUSD))
	w("")
	if len(r.Notes) > 0 {
		w("Notes:")
		w("")
		for _, n := range r.Notes {
			w("- %s", n)
		}
		w("")
	}
	if gw.Differ > 0 {
		w("Differing answers (gateway run):")
		w("")
		for _, d := range gw.Differences {
			w("- %s", d)
		}
		w("")
	}
	for _, run := range []RunSummary{base, gw} {
		if len(run.Failures) > 0 {
			w("Failed requests (%s):", run.Name)
			w("")
			for _, f := range run.Failures {
				w("- %s", f)
			}
			w("")
		}
	}
	return b.String()
}

func gwCost(s RunSummary) float64 {
	if s.Gateway == nil {
		return 0
	}
	return s.Gateway.CostUSD
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func kv(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
