// Command costbench is the cost benchmark (issue 5): it generates a
// deterministic trace of coding-assistant traffic, replays it directly
// against token-counting fake upstreams (the baseline: every request
// unmodified, with the providers' own caching that clients get without a
// gateway) and through gateways started on 127.0.0.1 with the default
// configuration (and, for the ablations, with one technique off), prices
// every run with the catalog's price table, and writes
// bench/results/cost-<date>.{md,json}.
//
// Usage:
//
//	go run ./bench/cost/cmd/costbench [-seed 1] [-small] [-ablations=true] [-gateway bin/gateway] [-out bench/results]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aigateway/gateway/bench/cost"
	"github.com/aigateway/gateway/engine"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/catalog"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "costbench:", err)
		os.Exit(1)
	}
}

func run() error {
	seed := flag.Uint64("seed", 1, "trace seed")
	small := flag.Bool("small", false, "a small trace (a few sessions), for a quick look")
	ablations := flag.Bool("ablations", true, "also run the gateway with each technique off")
	only := flag.String("only", "", "comma-separated ablation runs to make (default: all), e.g. pruning-16k,all-off")
	extraTOML := flag.String("ablation-toml", "", "an extra ablation run named \"custom\" with this gateway.toml text appended (\\n for new lines)")
	gwBin := flag.String("gateway", "", "gateway binary (default: built from ./cmd/gateway into a temporary directory)")
	out := flag.String("out", "bench/results", "directory for cost-<date>.{md,json}; empty: print the markdown only")
	command := flag.String("command", "go run ./bench/cost/cmd/costbench", "the command to record in the results")
	strong := flag.String("strong", "anthropic/claude-sonnet-4-5", "the model \"auto\" stands for without a gateway (the router's strong tier)")
	keep := flag.Bool("keep", false, "keep the temporary directory (gateway configs and logs)")
	simClock := flag.Bool("sim-clock", true, "give the gateway the trace's simulated time (GATEWAY_SIM_CLOCK_FILE) for its cache-lifetime bookkeeping; false: its real clock, as before issue 14's 1-hour TTL")
	dump := flag.String("dump", "", "write the original and the upstream's request body of every differing answer to this directory")
	flag.Parse()

	started := time.Now().UTC()
	dir, err := os.MkdirTemp("", "costbench-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "costbench: temporary directory", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	mix := cost.DefaultMix()
	if *small {
		mix = cost.SmallMix()
	}
	trace := cost.Generate(*seed, mix)
	ts := trace.Summary()
	fmt.Fprintf(os.Stderr, "costbench: trace seed %d: %d requests over %s, %.1f MB\n", *seed, ts.Requests, ts.Span, float64(ts.Bytes)/1e6)

	bin := *gwBin
	if bin == "" {
		bin = filepath.Join(dir, "gateway")
		t0 := time.Now()
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build gateway: %w", err)
		}
		fmt.Fprintf(os.Stderr, "costbench: built the gateway in %s\n", time.Since(t0).Round(time.Millisecond))
	}

	tok, err := cost.NewTokenizer()
	if err != nil {
		return err
	}
	up, err := cost.StartUpstreams(tok)
	if err != nil {
		return err
	}
	defer up.Close()
	up.KeepBodies = true
	if *simClock {
		up.ClockFile = filepath.Join(dir, "clock")
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	durations := map[string]string{}

	gw, err := cost.StartGateway(bin, dir, up, cost.GatewayOptions{Name: "default"})
	if err != nil {
		return err
	}
	prices, err := priceTable(gw)
	if err != nil {
		gw.Stop()
		return err
	}

	t0 := time.Now()
	baseRes, err := cost.Replay(trace, up, cost.Target{Name: "baseline", Strong: *strong}, client)
	if err != nil {
		gw.Stop()
		return err
	}
	durations["baseline"] = time.Since(t0).Round(time.Millisecond).String()
	base := cost.Summarize("baseline", baseRes, prices)
	fmt.Fprintf(os.Stderr, "costbench: baseline $%.4f (%d calls, %d errors) in %s\n", base.CostUSD, base.Calls, base.Errors, durations["baseline"])

	t0 = time.Now()
	gwRes, err := cost.Replay(trace, up, cost.Target{Name: "gateway", GatewayURL: gw.URL, Strong: *strong}, client)
	if err != nil {
		gw.Stop()
		return err
	}
	durations["gateway"] = time.Since(t0).Round(time.Millisecond).String()
	gsum := cost.Summarize("gateway", gwRes, prices)
	usage, repaired, err := gw.SettledUsage()
	gw.Stop()
	if err != nil {
		return err
	}
	gsum.Gateway = &usage
	fmt.Fprintf(os.Stderr, "costbench: gateway $%.4f (%d calls, %d errors, %d differing answers) in %s\n", gsum.CostUSD, gsum.Calls, gsum.Errors, gsum.Differ, durations["gateway"])

	t0 = time.Now()
	bcRes, err := cost.Replay(trace, up, cost.Target{Name: "baseline-client-caching", Strong: *strong, ClientBreakpoints: true}, client)
	if err != nil {
		return err
	}
	durations["baseline-client-caching"] = time.Since(t0).Round(time.Millisecond).String()
	bc := cost.Summarize("baseline-client-caching", bcRes, prices)
	fmt.Fprintf(os.Stderr, "costbench: baseline with client breakpoints $%.4f in %s\n", bc.CostUSD, durations["baseline-client-caching"])

	acct, err := cost.Account(baseRes, gwRes, prices, tok, *strong)
	if err != nil {
		return err
	}
	rep := &cost.Report{
		Date: started.Format("2006-01-02 15:04 UTC"), Command: *command, Machine: machine(), Trace: ts,
		Prices: usedPrices(prices, baseRes, gwRes), Strong: *strong, Baseline: base, Gateway: gsum, BaselineClientCaching: &bc, Accounting: acct, Durations: durations,
	}

	marginal := map[string]*float64{}
	if *ablations {
		runs := ablationRuns(*strong)
		if *extraTOML != "" {
			toml := strings.ReplaceAll(*extraTOML, `\n`, "\n")
			runs = append(runs, ablation{name: "custom", what: "`" + strings.ReplaceAll(toml, "\n", " ") + "`", opts: cost.GatewayOptions{Name: "custom", TOML: toml}})
		}
		for _, ab := range runs {
			if *only != "" && !slices.Contains(strings.Split(*only, ","), ab.name) {
				continue
			}
			g, err := cost.StartGateway(bin, dir, up, ab.opts)
			if err != nil {
				return fmt.Errorf("%s: %w", ab.name, err)
			}
			t0 := time.Now()
			res, err := cost.Replay(trace, up, cost.Target{Name: ab.name, GatewayURL: g.URL, Strong: *strong, Rewrite: ab.rewrite}, client)
			if err != nil {
				g.Stop()
				return fmt.Errorf("%s: %w", ab.name, err)
			}
			durations[ab.name] = time.Since(t0).Round(time.Millisecond).String()
			s := cost.Summarize(ab.name, res, prices)
			u, _, err := g.SettledUsage()
			g.Stop()
			if err != nil {
				return fmt.Errorf("%s: %w", ab.name, err)
			}
			m := s.CostUSD - gsum.CostUSD
			abl := cost.Ablation{Name: ab.name, What: ab.what, CostUSD: s.CostUSD, MarginalUSD: m, PromptMarginalUSD: m - (s.OutputUSD - gsum.OutputUSD), Calls: s.Calls, Differ: s.Differ, Errors: s.Errors, GatewayCost: u.CostUSD,
				ByCategory: map[string]float64{}, ByModel: map[string]float64{}, CachedShare: map[string]float64{}}
			for k, v := range s.ByProvider {
				if v.PromptTokens > 0 {
					abl.CachedShare[k] = float64(v.CachedTokens) / float64(v.PromptTokens)
				}
			}
			for _, r := range res {
				if r.PrunedTokens > 0 {
					abl.Pruned++
					abl.PrunedTokens += r.PrunedTokens
				}
			}
			for k, v := range s.ByCategory {
				abl.ByCategory[k] = v.CostUSD
			}
			for k, v := range s.ByModel {
				abl.ByModel[k] = v.CostUSD
			}
			rep.Ablations = append(rep.Ablations, abl)
			if ab.technique != "" {
				marginal[ab.technique] = &m
			}
			fmt.Fprintf(os.Stderr, "costbench: %s $%.4f (marginal $%.4f, %d differing) in %s\n", ab.name, s.CostUSD, m, s.Differ, durations[ab.name])
			for _, d := range s.Differences {
				fmt.Fprintln(os.Stderr, "  differs:", d)
			}
		}
	}
	rep.Techniques = techniques(usage, acct, marginal)
	rep.Notes = notes(rep)
	for _, tq := range rep.Techniques {
		if tq.Marginal == nil {
			continue
		}
		m := *tq.Marginal
		if d := tq.Reported - m; d > 0.2*max(m, 0.001) || d < -0.2*max(m, 0.001) {
			own := fmt.Sprintf("the own accounting says %s", fmtUSD(tq.Own))
			if tq.Name == accounting.SaveStrip || tq.Name == accounting.SaveDedup {
				own = fmt.Sprintf("the own accounting, stripping and dedup together at the input price, says %s", fmtUSD(acct.PromptEdits.SavedUSD))
			}
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: the gateway reports %s saved; turning it off costs %s more (%s).", tq.Name, fmtUSD(tq.Reported), fmtUSD(m), own))
		}
	}
	if repaired {
		rep.Notes = append(rep.Notes, "GET /admin/usage returned invalid JSON (the opening brace is missing and the total object starts with a comma: engine.Usage.AppendJSON slices the whole buffer with [1:] where it meant to drop the row's leading comma); the harness repaired it before reading it (cost.RepairUsageJSON).")
	}

	for _, d := range gsum.Differences {
		fmt.Fprintln(os.Stderr, "costbench: differs:", d)
	}
	if *dump != "" {
		if err := dumpDiffering(*dump, gwRes); err != nil {
			return err
		}
	}
	md := rep.Markdown()
	if *out == "" {
		fmt.Print(md)
		return nil
	}
	stamp := started.Format("2006-01-02T1504Z")
	if *small {
		stamp += "-small"
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	base2 := filepath.Join(*out, "cost-"+stamp)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base2+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base2+".md", []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintln(os.Stderr, "costbench: wrote", base2+".md", "and", base2+".json")
	return nil
}

// dumpDiffering writes, for every differing answer, the client's body and
// the bodies the upstream received.
func dumpDiffering(dir string, rs []cost.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Diff == "" {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("req-%04d", r.Req.ID))
		if err := os.WriteFile(p+"-client.json", r.Req.Body, 0o644); err != nil {
			return err
		}
		for i, c := range r.Calls {
			if err := os.WriteFile(fmt.Sprintf("%s-upstream-%d-%s.json", p, i, c.Provider), c.Body, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

type ablation struct {
	name, what, technique string
	opts                  cost.GatewayOptions
	rewrite               func(*cost.Request) []byte
}

func ablationRuns(strong string) []ablation {
	_, strongModel := cost.Resolve(strong, strong)
	noAuto := func(r *cost.Request) []byte {
		if r.Model != "auto" {
			return r.Body
		}
		return cost.SetModel(r.Body, "auto", strongModel)
	}
	return []ablation{
		{name: "no-response-cache", what: "`[cache] enabled = false`", technique: accounting.SaveCache, opts: cost.GatewayOptions{Name: "no-response-cache", TOML: "[cache]\nenabled = false\n"}},
		{name: "no-prompt-cache", what: "`ENABLE_ANTHROPIC_CACHE_CONTROL=false`", technique: accounting.SavePrompt, opts: cost.GatewayOptions{Name: "no-prompt-cache", Env: []string{"ENABLE_ANTHROPIC_CACHE_CONTROL=false"}}},
		// Parts of the prompt caching, each alone (no technique column of
		// their own in /admin/usage: provider_prompt_cache credits the
		// ledger's placement; prompt_cache_key is not credited).
		{name: "no-1h-ttl", what: "`[optimize] anthropic_cache_1h = false` (every breakpoint at the 5-minute TTL)", opts: cost.GatewayOptions{Name: "no-1h-ttl", TOML: "[optimize]\nanthropic_cache_1h = false\n"}},
		{name: "no-ledger", what: "`[optimize] anthropic_cache_ledger = false` (breakpoints by the stateless rules)", opts: cost.GatewayOptions{Name: "no-ledger", TOML: "[optimize]\nanthropic_cache_ledger = false\n"}},
		{name: "no-prompt-cache-key", what: "`[optimize] prompt_cache_key = false` (no per-conversation key to OpenAI)", opts: cost.GatewayOptions{Name: "no-prompt-cache-key", TOML: "[optimize]\nprompt_cache_key = false\n"}},
		{name: "no-strip", what: "`STRIP_IDE_BOILERPLATE=false`", technique: accounting.SaveStrip, opts: cost.GatewayOptions{Name: "no-strip", Env: []string{"STRIP_IDE_BOILERPLATE=false"}}},
		{name: "no-dedup", what: "`ENABLE_FILE_HASH_CACHE=false`", technique: accounting.SaveDedup, opts: cost.GatewayOptions{Name: "no-dedup", Env: []string{"ENABLE_FILE_HASH_CACHE=false"}}},
		{name: "no-routing", what: "`auto` replaced by " + strongModel + " in the client's requests", technique: accounting.SaveRouting, opts: cost.GatewayOptions{Name: "no-routing"}, rewrite: noAuto},
		// Opt-in techniques, off by default (they change answers): a
		// negative marginal is their saving.
		{name: "pruning-window", what: "opt-in: `[pruning] mode = \"window\"` (prunes only past the model's window)", opts: cost.GatewayOptions{Name: "pruning-window", TOML: "[pruning]\nmode = \"window\"\n"}},
		{name: "pruning-16k", what: "opt-in: `[pruning] mode = \"budget\", budget_tokens = 16000` (cost-aware)", opts: cost.GatewayOptions{Name: "pruning-16k", TOML: "[pruning]\nmode = \"budget\"\nbudget_tokens = 16000\n"}},
		{name: "pruning-16k-always", what: "opt-in: as above with `cost_aware = false`", opts: cost.GatewayOptions{Name: "pruning-16k-always", TOML: "[pruning]\nmode = \"budget\"\nbudget_tokens = 16000\ncost_aware = false\n"}},
		{name: "all-off", what: "all of the above: the gateway as a plain proxy", opts: cost.GatewayOptions{Name: "all-off", TOML: "[cache]\nenabled = false\n[optimize]\nprompt_cache_key = false\n",
			Env: []string{"ENABLE_ANTHROPIC_CACHE_CONTROL=false", "STRIP_IDE_BOILERPLATE=false", "ENABLE_FILE_HASH_CACHE=false"}}, rewrite: noAuto},
	}
}

func techniques(u cost.UsageTotals, a cost.Accounting, marginal map[string]*float64) []cost.Technique {
	edits := a.PromptEdits.SavedUSD
	return []cost.Technique{
		{Name: accounting.SaveCache, Reported: u.SavedUSD[accounting.SaveCache], Own: a.ResponseCache.SavedUSD, Marginal: marginal[accounting.SaveCache],
			Note: fmt.Sprintf("%d hits (retries and autocomplete revisits); without the gateway the same requests cost %s: a hit is credited at the cost of the call that produced the answer, usually a cheap cache-read call", a.ResponseCache.Hits, fmtUSD(a.ResponseCache.BaselineUSD))},
		{Name: accounting.SavePrompt, Reported: u.SavedUSD[accounting.SavePrompt], Own: a.PromptCache.SavedUSD, Marginal: marginal[accounting.SavePrompt],
			Note: fmt.Sprintf("%d Anthropic calls with gateway-placed breakpoints: %d tokens read, %d written; %d calls net negative (write premium), counting only the positive ones gives %s",
				a.PromptCache.Calls, a.PromptCache.ReadTokens, a.PromptCache.WriteTokens, a.PromptCache.NegativeCalls, fmtUSD(a.PromptCache.PositiveOnlyUSD))},
		{Name: accounting.SaveStrip, Reported: u.SavedUSD[accounting.SaveStrip], Own: edits, Marginal: marginal[accounting.SaveStrip], OwnCell: fmtUSD(edits) + " (with file_dedup)",
			Note: fmt.Sprintf("own column: stripping and dedup together, %d tokens fewer than the original in %d requests, at the input price", a.PromptEdits.TokensRemoved, a.PromptEdits.Requests)},
		{Name: accounting.SaveDedup, Reported: u.SavedUSD[accounting.SaveDedup], Own: 0, Marginal: marginal[accounting.SaveDedup], OwnCell: "in the row above",
			Note: "counted with ide_boilerplate in the own column; removed tokens are priced at the full input price, though in a cached conversation most of them would have been cache reads"},
		{Name: accounting.SaveRouting, Reported: u.SavedUSD[accounting.SaveRouting], Own: a.Routing.SavedUSD, Marginal: marginal[accounting.SaveRouting],
			Note: fmt.Sprintf("%d `auto` requests, %d answered by a cheaper model than the strong tier; versus the baseline's strong-model calls: %s", a.Routing.Requests, a.Routing.RoutedAway, fmtUSD(a.Routing.VsBaselineUSD))},
	}
}

func abs(v float64) float64 { return max(v, -v) }

func fmtUSD(v float64) string { return fmt.Sprintf("$%.4f", v) }

func notes(r *cost.Report) []string {
	var n []string
	if g := r.Gateway.Gateway; g != nil {
		n = append(n, fmt.Sprintf("The gateway's savings add up to %s against a measured %s: its credits are per request and per technique, not a difference with a baseline. Routing is credited at the strong tier's price for the routed call's usage (%s), while without a gateway those requests went to the strong model uncached (%s more than through the gateway).",
			fmtUSD(g.SavedUSD["total"]), fmtUSD(r.Baseline.CostUSD-r.Gateway.CostUSD), fmtUSD(r.Accounting.Routing.SavedUSD), fmtUSD(r.Accounting.Routing.VsBaselineUSD)))
	}
	if a := r.Accounting.PromptCache; a.NegativeCalls > 0 && r.Gateway.Gateway != nil && abs(r.Gateway.Gateway.SavedUSD[accounting.SavePrompt]-a.PositiveOnlyUSD) < abs(r.Gateway.Gateway.SavedUSD[accounting.SavePrompt]-a.SavedUSD) {
		n = append(n, fmt.Sprintf("provider_prompt_cache: the gateway credits only requests whose saving is positive (engine.creditSavings drops negative values), so the write premium of the %d write-only requests (%s) is never debited: it reports %s where reads minus write premiums come to %s.",
			a.NegativeCalls, fmtUSD(a.PositiveOnlyUSD-a.SavedUSD), fmtUSD(a.PositiveOnlyUSD), fmtUSD(a.SavedUSD)))
	}
	if a := r.Accounting.PromptEdits; a.Framing > 0 {
		n = append(n, fmt.Sprintf("%d requests reached the upstream with more tokens than the client's original as the harness renders it for the same model (%d tokens in all): differences in how the gateway and the harness translate OpenAI requests to Anthropic's format.", a.Framing, a.FramingTokens))
	}
	if len(r.Baseline.UnknownPrices)+len(r.Gateway.UnknownPrices) > 0 {
		n = append(n, "Models without a price (counted as $0): "+strings.Join(append(r.Baseline.UnknownPrices, r.Gateway.UnknownPrices...), ", "))
	}
	return n
}

// priceTable reads input, output and cached-input prices from GET
// /v1/models and the cache-write price from the catalog (engine), and
// fails when the two disagree.
func priceTable(gw *cost.Gateway) (cost.Prices, error) {
	env := map[string]string{"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "GEMINI_API_KEY": "x", "DEEPSEEK_API_KEY": "x"}
	cfg, err := engine.Load("", func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	cat, err := engine.NewCatalog(cfg)
	if err != nil {
		return nil, err
	}
	byName := map[string]*catalog.Model{}
	for _, m := range cat.Models() {
		byName[m.Provider+"/"+m.Upstream] = m
	}
	models, err := gw.Models()
	if err != nil {
		return nil, err
	}
	ps := cost.Prices{}
	for _, m := range models {
		key := m.ID
		c := byName[key]
		if c == nil {
			continue
		}
		if c.InputPrice != m.Pricing.Input || c.OutputPrice != m.Pricing.Output || c.CachedPrice != m.Pricing.Cached {
			return nil, fmt.Errorf("price of %s: /v1/models says %v/%v/%v, the catalog %v/%v/%v", key, m.Pricing.Input, m.Pricing.Output, m.Pricing.Cached, c.InputPrice, c.OutputPrice, c.CachedPrice)
		}
		ps[key] = cost.Price{Input: m.Pricing.Input, Output: m.Pricing.Output, CachedInput: m.Pricing.Cached, CacheWrite: c.CacheWritePrice}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no priced model in /v1/models")
	}
	return ps, nil
}

func usedPrices(all cost.Prices, runs ...[]cost.Result) cost.Prices {
	out := cost.Prices{}
	for _, rs := range runs {
		for _, r := range rs {
			for _, c := range r.Calls {
				k := c.Provider + "/" + c.Model
				if p, ok := all[k]; ok {
					out[k] = p
				}
			}
		}
	}
	return out
}

func machine() cost.Machine {
	m := cost.Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.IndexByte(l, ':'); i >= 0 {
					m.CPU = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(b))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += "+dirty"
		}
	}
	return m
}
