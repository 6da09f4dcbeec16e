package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// targets checks the figures to beat against the rows: issue 16's
// (footprint and latency), which tightened issue 6's, plus issue 6's
// allocation targets.
func targets(rows map[string]*Row, fp *Footprint) []Target {
	var out []Target
	get := func(id string) *Row { return rows[id] }
	notMeasured := func(name, goal string, r *Row) Target {
		why := "scenario not run"
		if r != nil {
			switch {
			case r.Skipped != "":
				why = r.Skipped
			case !r.Direct.ok():
				why = "direct run " + r.Direct.short()
			case !r.Gateway.ok():
				why = "gateway run " + r.Gateway.short()
			}
		}
		return Target{Name: name, Goal: goal, Status: "not measured", Detail: why}
	}
	ratio := func(id, name string, goal float64) {
		g := fmt.Sprintf("≥ %.0f%% of direct", goal*100)
		r := get(id)
		if r == nil || r.Ratio == 0 {
			out = append(out, notMeasured(name, g, r))
			return
		}
		t := Target{Name: name, Goal: g, Measured: fmt.Sprintf("%.1f%% (%.0f vs %.0f req/s)", r.Ratio*100, r.Gateway.Result.RPS, r.Direct.Result.RPS)}
		if len(r.Rounds) > 1 {
			t.Measured = fmt.Sprintf("%.1f%% (%s: %s)", r.Ratio*100, r.roundsLabel(), roundList(r.Rounds, func(x Round) string { return fmt.Sprintf("%.1f%%", x.Ratio*100) }))
		}
		if r.Ratio >= goal {
			t.Status = "met"
		} else {
			t.Status = "missed"
			t.Detail = fmt.Sprintf("short by %.1f points: the gateway needs %.2f× its throughput", (goal-r.Ratio)*100, goal/r.Ratio)
		}
		out = append(out, t)
	}
	ratio("nonstream-c64", "Non-stream throughput, 64 connections", 0.50)
	ratio("stream-c64", "Stream throughput, 64 connections", 0.75)
	ratio("coding-100k-c16", "100 KiB prompt, non-stream, 16 connections", 0.40)
	ratio("auto-wasm-c64", "model \"auto\" (built-in router), 64 connections", 0.40)

	added := func(id, name, which string, limit float64) {
		g := fmt.Sprintf("≤ %s", us(limit))
		r := get(id)
		if r == nil || !r.Direct.ok() || !r.Gateway.ok() {
			out = append(out, notMeasured(name, g, r))
			return
		}
		v, d, gw := r.AddedP50, r.Direct.Result.Latency.P50, r.Gateway.Result.Latency.P50
		if which == "p99" {
			v, d, gw = r.AddedP99, r.Direct.Result.Latency.P99, r.Gateway.Result.Latency.P99
		}
		t := Target{Name: name, Goal: g, Measured: fmt.Sprintf("%s (%s vs %s direct)", us(v), us(gw), us(d))}
		if len(r.Rounds) > 1 {
			t.Measured = fmt.Sprintf("%s (%s: %s)", us(v), r.roundsLabel(), roundList(r.Rounds, func(x Round) string {
				if which == "p99" {
					return us(x.AddedP99)
				}
				return us(x.AddedP50)
			}))
		}
		if v <= limit {
			t.Status = "met"
		} else {
			t.Status = "missed"
			t.Detail = "over by " + us(v-limit)
		}
		if r.Floor.ok() {
			fa := r.FloorAddedP50
			if which == "p99" {
				fa = r.FloorAddedP99
			}
			t.Detail += fmt.Sprintf("; the bare proxy (floor) adds %s, the gateway %s over it", us(fa), us(v-fa))
			t.Detail = strings.TrimPrefix(t.Detail, "; ")
		}
		if l, ok := littleAdded(r); ok && which == "p50" {
			t.Detail += "; " + l
			t.Detail = strings.TrimPrefix(t.Detail, "; ")
		}
		out = append(out, t)
	}
	added("nonstream-c16", "Added latency p50, non-stream, 16 connections", "p50", 50)
	added("open-5000", "Added latency p99, open loop 5,000 req/s", "p99", 500)

	const idleGoal = "≤ 40 MB"
	switch {
	case fp == nil:
		out = append(out, Target{Name: "RSS after start + 1 request, empty config", Goal: idleGoal, Status: "not measured", Detail: "not run"})
	case fp.Error != "":
		out = append(out, Target{Name: "RSS after start + 1 request, empty config", Goal: idleGoal, Status: "not measured", Detail: fp.Error})
	default:
		t := Target{Name: "RSS after start + 1 request, empty config", Goal: idleGoal,
			Measured: fmt.Sprintf("%.1f MB (%.1f MB anonymous, %.1f MB of the binary's pages)", fp.RSSMB, fp.AnonMB, fp.FileMB)}
		if fp.RSSMB <= 40 {
			t.Status = "met"
		} else {
			t.Status, t.Detail = "missed", fmt.Sprintf("over by %.1f MB", fp.RSSMB-40)
		}
		out = append(out, t)
	}

	if r := get("slow-streams-1000"); r != nil && r.Gateway.ok() && r.Gateway.Usage != nil {
		t := Target{Name: "Peak RSS, 1,000 concurrent streams", Goal: "≤ 100 MB", Measured: fmt.Sprintf("%.1f MB", r.Gateway.Usage.PeakRSSMB)}
		if r.Gateway.Usage.PeakRSSMB <= 100 {
			t.Status = "met"
		} else {
			t.Status, t.Detail = "missed", fmt.Sprintf("over by %.1f MB", r.Gateway.Usage.PeakRSSMB-100)
		}
		out = append(out, t)
	} else {
		out = append(out, notMeasured("Peak RSS, 1,000 concurrent streams", "≤ 100 MB", r))
	}

	if r := get("l1-hit-c64"); r != nil && r.Gateway.ok() && r.Gateway.Usage != nil {
		a := r.Gateway.Usage.AllocsPerReq
		t := Target{Name: "Allocations per L1 cache hit", Goal: "0", Measured: fmt.Sprintf("%.1f per request (whole request, HTTP included)", a)}
		if a < 0.5 {
			t.Status = "met"
		} else {
			t.Status, t.Detail = "missed", "the cache-hit path itself is measured by the micro-benchmarks"
		}
		out = append(out, t)
	} else {
		out = append(out, notMeasured("Allocations per L1 cache hit", "0", get("l1-hit-c64")))
	}

	s, n := get("stream-c64"), get("nonstream-c64")
	if s != nil && n != nil && s.Gateway.ok() && n.Gateway.ok() && s.Gateway.Usage != nil && n.Gateway.Usage != nil {
		ev := s.Gateway.Result.EventsPerReply
		diff := s.Gateway.Usage.AllocsPerReq - n.Gateway.Usage.AllocsPerReq
		t := Target{Name: "Allocations per relayed SSE chunk", Goal: "0",
			Measured: fmt.Sprintf("%.1f allocs per stream request vs %.1f non-stream, over %.0f events: ≤ %.2f per event", s.Gateway.Usage.AllocsPerReq, n.Gateway.Usage.AllocsPerReq, ev, max(diff, 0)/max(ev, 1))}
		if diff < 1 {
			t.Status = "met"
			t.Detail = "a stream costs less than one allocation more than a non-stream request"
		} else {
			t.Status = "check"
			t.Detail = "streams cost more allocations than non-stream requests; the per-chunk figure is in the micro-benchmarks"
		}
		out = append(out, t)
	} else {
		out = append(out, notMeasured("Allocations per relayed SSE chunk", "0", s))
	}
	return out
}

func us(v float64) string {
	if v >= 1000 || v <= -1000 {
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

// write saves the run's JSON and markdown and refreshes the README section
// and RESULTS.md.
func (e *env) write() error {
	r := e.rep
	if err := os.MkdirAll(e.cfg.OutDir, 0o755); err != nil {
		return err
	}
	stem := e.stem()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(e.cfg.OutDir, stem+".json")
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := Markdown(r)
	mdPath := filepath.Join(e.cfg.OutDir, stem+".md")
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	e.logf("wrote %s and %s", rel(e.cfg.Root, mdPath), rel(e.cfg.Root, jsonPath))
	if e.cfg.ReadmeSection != "" {
		if err := os.WriteFile(e.cfg.ReadmeSection, []byte(ReadmeSection(r, rel(e.cfg.Root, mdPath))), 0o644); err != nil {
			return err
		}
		e.logf("regenerated %s", rel(e.cfg.Root, e.cfg.ReadmeSection))
	}
	if e.cfg.ResultsFile != "" {
		if err := UpdateResults(e.cfg.ResultsFile, r, rel(filepath.Dir(e.cfg.ResultsFile), mdPath)); err != nil {
			return err
		}
		e.logf("updated %s", rel(e.cfg.Root, e.cfg.ResultsFile))
	}
	return nil
}

// stem names this run's files.
func (e *env) stem() string { return e.rep.Date.Format("2006-01-02T1504Z") + "-" + e.rep.Mode }

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}

func loadLabel(r *Row) string {
	if r.Rate > 0 {
		return fmt.Sprintf("open %.0f/s", r.Rate)
	}
	return fmt.Sprintf("c=%d", r.Conns)
}

func cellRPS(run *Trial) string {
	switch {
	case run == nil:
		return "—"
	case run.Skipped != "":
		return "skipped"
	case run.Result == nil:
		return "error"
	case !run.Result.Valid:
		return "INVALID"
	}
	return fmt.Sprintf("%.0f", run.Result.RPS)
}

func cellLat(run *Trial, p99 bool) string {
	if !run.ok() {
		return "—"
	}
	if p99 {
		return fmt.Sprintf("%.0f", run.Result.Latency.P99)
	}
	return fmt.Sprintf("%.0f", run.Result.Latency.P50)
}

func cellNum(ok bool, format string, v float64) string {
	if !ok {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

// Header is the run's provenance: command, commit, machine, date.
func Header(r *Report) string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "- **Command:** `%s` (%s run, %s per load after a %s warm-up; %.0f s in all)\n", r.Command, r.Mode, r.Duration, r.Warmup, r.Seconds)
	fmt.Fprintf(&b, "- **Date:** %s · **commit** `%s`\n", r.Date.Format("2006-01-02 15:04 UTC"), r.Commit)
	fmt.Fprintf(&b, "- **Machine:** %s, %d cores, %d MB RAM, Linux %s, %s; load average %.2f at the start, %.2f at the end\n", m.CPUModel, m.Cores, m.MemoryMB, m.Kernel, m.GoVersion, m.LoadStart[0], m.LoadEnd[0])
	fmt.Fprintf(&b, "- **Pinning:** %s\n", r.Pinning)
	fmt.Fprintf(&b, "- **Upstream:** %s\n", r.Mock)
	fmt.Fprintf(&b, "- **Gateway:** %s; answered /healthz %.1f s after start, resident set then %.1f MB\n", r.Gateway, r.StartSeconds, r.IdleRSSMB)
	if fp := r.EmptyConfig; fp != nil && fp.Error == "" {
		fmt.Fprintf(&b, "- **Empty configuration:** bin/gateway with no -config (pinned like the gateway), one request to mock/echo, 1 s later: resident set %.1f MB (%.1f MB anonymous, %.1f MB of the binary's file pages)\n", fp.RSSMB, fp.AnonMB, fp.FileMB)
	}
	if r.Repeat > 1 {
		fmt.Fprintf(&b, "- **Paired rounds:** every row ran %d rounds, each its direct load then the gateway's (and the floor's) back to back; a row's ratio and added latencies are the medians of its rounds' own (the targets list each round), the gateway's over the rounds in which it waited for its CPU at most %.0f%% of the time when there is one (a round another process shared its core in measures that process), the floor's likewise, the tables' req/s and latencies each target's median attempt (by throughput, or by p99 in the open loop), the JSON every attempt\n", r.Repeat, ContendedWait*100)
	}
	if r.Compare != "" {
		fmt.Fprintf(&b, "- **Compared with:** %s\n", r.Compare)
	}
	b.WriteString("- **Method:** the same load generator (bench/cmd/loadgen, fasthttp) drives the mock directly (the baseline) and through the gateway, one load after the other in this run. Latency runs from the send (closed loop) or the scheduled send (open loop) to the answer's last byte; a load with any error or non-2xx answer is INVALID and left out of every ratio.\n")
	return b.String()
}

// Markdown renders the whole report.
func Markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Gateway benchmark: %s run, %s\n\n", r.Mode, r.Date.Format("2006-01-02 15:04 UTC"))
	b.WriteString(Header(r))
	b.WriteString("\n## Throughput and latency (µs)\n\n")
	b.WriteString(MainTable(r))
	if ft := FloorTable(r); ft != "" {
		b.WriteString("\n## The floor: a bare reverse proxy (µs)\n\n")
		b.WriteString(ft)
	}
	b.WriteString("\n## Gateway costs\n\n")
	b.WriteString("CPU time and peak RSS from /proc (the process tree, peak reset before each load); allocations from the gateway's own `go_memstats_mallocs_total` (the cost of the /metrics scrape subtracted), divided by every request of the load, warm-up included; overhead is the mean of the gateway's `gateway_overhead_seconds`. The one-core ceiling is 1000 ÷ (CPU s per 1,000 requests): what the gateway could serve on a core of its own at this cost, a figure that other load on the machine does not distort. Run-queue wait (from schedstat, summed over threads) is time the gateway's threads were ready to run and did not get a CPU, whether other processes or its own threads held it: when it grows with the machine's load average, the throughput above is the machine's, not the gateway's.\n\n")
	b.WriteString("| scenario | load | CPU s per 1,000 req | one-core ceiling req/s | CPU s / run-queue wait s | allocs/req | bytes/req | RSS at start MB | peak RSS MB | reported overhead µs (mean) | upstream requests |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		g := row.Gateway
		if g == nil || g.Usage == nil || g.Result == nil {
			continue
		}
		u := g.Usage
		fmt.Fprintf(&b, "| %s | %s | %.3f | %.0f | %.1f / %.1f | %.1f | %.0f | %.1f | %.1f | %s | %d |\n", row.ID, loadLabel(row), u.CPUPer1k, u.CeilingRPS, u.CPUSeconds, u.RunWaitSeconds, u.AllocsPerReq, u.BytesPerReq, u.StartRSSMB, u.PeakRSSMB, cellNum(u.OverheadUS > 0, "%.1f", u.OverheadUS), u.Upstream)
	}
	b.WriteString("\n## Streams (µs)\n\n")
	b.WriteString("| scenario | load | direct TTFB p50 | gateway TTFB p50 | added TTFB p50 | gateway TTFB p99 | direct gap p99 | gateway gap p99 | events per stream |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		if !row.Stream || !row.Gateway.ok() {
			continue
		}
		g := row.Gateway.Result
		dT, dG, added := "—", "—", "—"
		if row.Direct.ok() && row.Direct.Result.TTFB != nil {
			d := row.Direct.Result
			dT = fmt.Sprintf("%.0f", d.TTFB.P50)
			dG = fmt.Sprintf("%.0f", d.Gap.P99)
			added = fmt.Sprintf("%.0f", g.TTFB.P50-d.TTFB.P50)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %s | %.0f | %s | %.0f | %.1f |\n", row.ID, loadLabel(row), dT, g.TTFB.P50, added, g.TTFB.P99, dG, g.Gap.P99, g.EventsPerReply)
	}
	if r.Compare != "" {
		b.WriteString("\n## Compared with another gateway\n\n")
		b.WriteString(CompareTable(r))
	}
	b.WriteString("\n## Targets (issues 16 and 6)\n\n")
	b.WriteString(TargetsTable(r))
	var skipped, invalid []string
	for _, row := range r.Rows {
		if row.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("- `%s` (%s): skipped: %s", row.ID, row.Title, row.Skipped))
		}
		for _, run := range []*Trial{row.Direct, row.Gateway, row.Compare} {
			switch {
			case run == nil || run.Skipped != "":
			case run.Result == nil:
				invalid = append(invalid, fmt.Sprintf("- `%s` %s: error: %s", row.ID, run.Target, run.Error))
			case !run.Result.Valid:
				invalid = append(invalid, fmt.Sprintf("- `%s` %s: INVALID: %s", row.ID, run.Target, run.Result.Invalid))
			}
		}
	}
	if len(skipped) > 0 {
		b.WriteString("\n## Skipped\n\n" + strings.Join(skipped, "\n") + "\n")
	}
	if len(invalid) > 0 {
		b.WriteString("\n## Invalid runs\n\n" + strings.Join(uniq(invalid), "\n") + "\n")
	}
	var profs []string
	for _, row := range r.Rows {
		if g := row.Gateway; g != nil && g.Profile != "" {
			var pb strings.Builder
			fmt.Fprintf(&pb, "### %s (%s)\n\n`%s`\n\n", row.ID, loadLabel(row), g.Profile)
			if len(g.ProfileTop) > 0 {
				pb.WriteString("```\n" + strings.Join(g.ProfileTop, "\n") + "\n```\n")
			}
			profs = append(profs, pb.String())
		}
	}
	if len(profs) > 0 {
		b.WriteString("\n## Gateway CPU profiles\n\nTaken with bin/gatewayprof (the gateway plus a pprof listener) during the measured part of each load; open one with `go tool pprof -http : bin/gatewayprof FILE`.\n\n")
		b.WriteString(strings.Join(profs, "\n"))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// MainTable is the throughput and latency table.
func MainTable(r *Report) string {
	var b strings.Builder
	b.WriteString("| scenario | load | direct req/s | gateway req/s | gateway ÷ direct | direct p50 | gateway p50 | added p50 | direct p99 | gateway p99 | added p99 |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		if row.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | skipped: %s |||||||||\n", row.Title, loadLabel(row), row.Skipped)
			continue
		}
		base := ""
		if row.Baseline != "" {
			base = " ¹"
		}
		ok := row.Direct.ok() && row.Gateway.ok()
		fmt.Fprintf(&b, "| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Title, loadLabel(row),
			cellRPS(row.Direct), base, cellRPS(row.Gateway), cellNum(ok && row.Ratio > 0, "%.2f", row.Ratio),
			cellLat(row.Direct, false), cellLat(row.Gateway, false), cellNum(ok, "%+.0f", row.AddedP50),
			cellLat(row.Direct, true), cellLat(row.Gateway, true), cellNum(ok, "%+.0f", row.AddedP99))
	}
	for _, row := range r.Rows {
		if row.Baseline != "" && row.Skipped == "" {
			b.WriteString("\n¹ baseline: the direct run of the row above with the same load (the mock answering the OpenAI format directly).\n")
			break
		}
	}
	return b.String()
}

// FloorTable puts the bare reverse proxy beside the gateway: what the extra
// hop costs alone, and what the gateway adds on top of it. Empty when the
// run had no floor.
func FloorTable(r *Report) string {
	var b strings.Builder
	for _, row := range r.Rows {
		if row.Floor == nil || !row.Direct.ok() {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("The same load as the direct run, through " + r.Floor + ". Floor added = floor − direct; gateway over floor = gateway − floor: the gateway's own share of the added latency.\n\n")
			b.WriteString("| scenario | load | floor req/s | floor ÷ direct | gateway ÷ floor | floor added p50 | gateway added p50 | gateway over floor p50 | floor added p99 | gateway added p99 | gateway over floor p99 | floor CPU s per 1,000 req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		}
		f, d := row.Floor, row.Direct.Result
		ok, gok := f.ok(), f.ok() && row.Gateway.ok()
		var fr, gf, fa50, fa99, go50, go99 float64
		// The added latencies are the row's (medians of paired rounds when
		// it has them), so that the columns add up.
		if ok {
			fr, fa50, fa99 = f.Result.RPS/d.RPS, row.FloorAddedP50, row.FloorAddedP99
		}
		if gok {
			gf, go50, go99 = row.Gateway.Result.RPS/f.Result.RPS, row.AddedP50-fa50, row.AddedP99-fa99
		}
		cpu := "—"
		if ok && f.Usage != nil {
			cpu = fmt.Sprintf("%.3f", f.Usage.CPUPer1k)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Title, loadLabel(row),
			cellRPS(f), cellNum(ok, "%.2f", fr), cellNum(gok, "%.2f", gf),
			cellNum(ok, "%+.0f", fa50), cellNum(row.Gateway.ok(), "%+.0f", row.AddedP50), cellNum(gok, "%+.0f", go50),
			cellNum(ok, "%+.0f", fa99), cellNum(row.Gateway.ok(), "%+.0f", row.AddedP99), cellNum(gok, "%+.0f", go99), cpu)
	}
	return b.String()
}

// CompareTable puts the compare target beside the gateway.
func CompareTable(r *Report) string {
	var b strings.Builder
	name := strings.SplitN(r.Compare, " ", 2)[0]
	fmt.Fprintf(&b, "| scenario | load | direct req/s | ours req/s | %s req/s | ours ÷ direct | %s ÷ direct | ours p50 | %s p50 | ours p99 | %s p99 | %s CPU s per 1,000 req | %s peak RSS MB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", name, name, name, name, name, name)
	for _, row := range r.Rows {
		if row.Compare == nil {
			continue
		}
		c := row.Compare
		if c.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | skipped: %s |||||||||||\n", row.Title, loadLabel(row), c.Skipped)
			continue
		}
		cpu, rss := "—", "—"
		if c.Usage != nil && c.ok() {
			cpu, rss = fmt.Sprintf("%.3f", c.Usage.CPUPer1k), fmt.Sprintf("%.1f", c.Usage.PeakRSSMB)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Title, loadLabel(row),
			cellRPS(row.Direct), cellRPS(row.Gateway), cellRPS(c), cellNum(row.Ratio > 0, "%.2f", row.Ratio), cellNum(row.CompareRatio > 0, "%.3f", row.CompareRatio),
			cellLat(row.Gateway, false), cellLat(c, false), cellLat(row.Gateway, true), cellLat(c, true), cpu, rss)
	}
	return b.String()
}

// TargetsTable lists the targets with their status.
func TargetsTable(r *Report) string {
	var b strings.Builder
	b.WriteString("| target | goal | measured | status |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		st := t.Status
		if t.Detail != "" {
			st += ": " + t.Detail
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Goal, orDash(t.Measured), st)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// ReadmeSection is the README's benchmark section, from this run.
func ReadmeSection(r *Report, mdPath string) string {
	var b strings.Builder
	b.WriteString("## Benchmarks\n\n")
	b.WriteString("One command measures the gateway against the same mock upstream reached directly, in the same run, with the same load generator: `make bench` (about fifteen minutes) or `make bench-quick` (about five). Each row runs three paired rounds, its direct load and the gateway's back to back, and reports the median of the rounds' ratios. It builds `bin/gateway`, a mock upstream and a load generator, pins the gateway to one CPU and the rest to the others when it can, and writes a markdown table and a JSON file per run under `bench/results/`. `make bench-micro` runs the Go micro-benchmarks and keeps their history in [bench/RESULTS.md](bench/RESULTS.md). How it works, the scenarios, and how to put another gateway (LiteLLM, Portkey, Bifrost…) beside ours on your own machine: [bench/README.md](bench/README.md).\n\n")
	fmt.Fprintf(&b, "Latest run (%s, from [%s](%s)):\n\n", r.Date.Format("2006-01-02"), filepath.Base(mdPath), mdPath)
	b.WriteString(Header(r))
	b.WriteString("\n")
	b.WriteString(MainTable(r))
	if line := costsLine(r); line != "" {
		b.WriteString("\n" + line + "\n")
	}
	b.WriteString("\nAgainst the targets of issues 16 and 6 (default configuration, cache-miss path):\n\n")
	b.WriteString(TargetsTable(r))
	if r.Compare != "" {
		b.WriteString("\n")
		b.WriteString(CompareTable(r))
	}
	for _, n := range r.Notes {
		b.WriteString("\n" + n + "\n")
	}
	b.WriteString("\nWhy the targets are missed and what to change: the analysis in [bench/RESULTS.md](bench/RESULTS.md).\n")
	return b.String()
}

// costsLine summarizes the gateway's per-request costs, which other load on
// the machine does not distort.
func costsLine(r *Report) string {
	var parts []string
	for _, row := range r.Rows {
		g := row.Gateway
		if g == nil || g.Usage == nil || g.Result == nil || g.Usage.CPUPer1k == 0 {
			continue
		}
		switch row.ID {
		case "nonstream-c64", "stream-c64", "l1-hit-c64":
			parts = append(parts, fmt.Sprintf("%s: %.3f CPU s per 1,000 requests (one-core ceiling %.0f req/s), %.1f allocations and %.0f bytes per request", row.ID, g.Usage.CPUPer1k, g.Usage.CeilingRPS, g.Usage.AllocsPerReq, g.Usage.BytesPerReq))
		case "slow-streams-1000":
			parts = append(parts, fmt.Sprintf("%s: peak RSS %.1f MB", row.ID, g.Usage.PeakRSSMB))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("Gateway costs (idle RSS %.1f MB): ", r.IdleRSSMB) + strings.Join(parts, "; ") + "."
}

// Markers delimit the generated parts of RESULTS.md; everything else in the
// file (sections other people add) is kept as it is.
const (
	historyHeading = "## Run history"
	microHeading   = "## Micro-benchmarks"
)

func latestMarkers(mode string) (begin, end string) {
	return "<!-- bench:latest-" + mode + ":begin -->", "<!-- bench:latest-" + mode + ":end -->"
}

// UpdateResults puts r into RESULTS.md: its latest-run section is replaced,
// a line is added to the run history, and every other section is kept.
func UpdateResults(path string, r *Report, mdRel string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(b)
	if strings.TrimSpace(text) == "" {
		text = resultsSkeleton
	}
	if strings.HasSuffix(r.Mode, "-partial") {
		line := fmt.Sprintf("- %s · %s · `%s` · commit `%s` · %s · [%s](%s)", r.Date.Format("2006-01-02 15:04 UTC"), r.Mode, r.Command, r.Commit, headline(r), filepath.Base(mdRel), mdRel)
		return os.WriteFile(path, []byte(appendToSection(text, historyHeading, line)), 0o644)
	}
	begin, end := latestMarkers(r.Mode)
	var sec strings.Builder
	sec.WriteString(begin + "\n")
	fmt.Fprintf(&sec, "Generated by `%s` on %s from [%s](%s).\n\n", r.Command, r.Date.Format("2006-01-02 15:04 UTC"), filepath.Base(mdRel), mdRel)
	sec.WriteString(Header(r))
	sec.WriteString("\n")
	sec.WriteString(MainTable(r))
	sec.WriteString("\n")
	if ft := FloorTable(r); ft != "" {
		sec.WriteString(ft)
		sec.WriteString("\n")
	}
	sec.WriteString(TargetsTable(r))
	sec.WriteString(end)
	text = replaceBetween(text, begin, end, sec.String(), "## Latest "+r.Mode+" run")
	line := fmt.Sprintf("- %s · %s · `%s` · commit `%s` · %s", r.Date.Format("2006-01-02 15:04 UTC"), r.Mode, r.Command, r.Commit, headline(r))
	line += fmt.Sprintf(" · [%s](%s)", filepath.Base(mdRel), mdRel)
	text = appendToSection(text, historyHeading, line)
	return os.WriteFile(path, []byte(text), 0o644)
}

func headline(r *Report) string {
	var parts []string
	for _, id := range []string{"nonstream-c64", "stream-c64", "nonstream-c16", "open-5000"} {
		for _, row := range r.Rows {
			if row.ID != id || row.Ratio == 0 {
				continue
			}
			switch id {
			case "nonstream-c64", "stream-c64":
				parts = append(parts, fmt.Sprintf("%s %.0f%% of direct", id, row.Ratio*100))
			case "nonstream-c16":
				parts = append(parts, fmt.Sprintf("added p50 %s", us(row.AddedP50)))
			case "open-5000":
				parts = append(parts, fmt.Sprintf("open-loop added p99 %s", us(row.AddedP99)))
			}
		}
	}
	if len(parts) == 0 {
		return "no valid gateway figures"
	}
	return strings.Join(parts, ", ")
}

// replaceBetween replaces begin…end in text by repl; when the markers are
// missing, repl goes under a new heading before the run history.
func replaceBetween(text, begin, end, repl, heading string) string {
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	if i >= 0 && j > i {
		return text[:i] + repl + text[j+len(end):]
	}
	block := heading + "\n\n" + repl + "\n\n"
	if k := strings.Index(text, historyHeading); k >= 0 {
		return text[:k] + block + text[k:]
	}
	return strings.TrimRight(text, "\n") + "\n\n" + block
}

// appendToSection adds line at the end of the section under heading (before
// the next "## " heading), creating the section at the end when missing.
func appendToSection(text, heading, line string) string {
	i := strings.Index(text, heading+"\n")
	if i < 0 {
		return strings.TrimRight(text, "\n") + "\n\n" + heading + "\n\n" + strings.TrimLeft(line, "\n") + "\n"
	}
	start := i + len(heading) + 1
	next := strings.Index(text[start:], "\n## ")
	if next < 0 {
		return strings.TrimRight(text, "\n") + "\n" + line + "\n"
	}
	cut := start + next
	body := strings.TrimRight(text[start:cut], "\n")
	return text[:start] + body + "\n" + line + "\n" + text[cut:]
}

const resultsSkeleton = `# Benchmark results

Every figure here was produced on this repository's machine by the command
written beside it; per-run markdown and JSON live in [results/](results/).
How the harness works: [README.md](README.md).

## Run history

`

// roundList formats each round's figure, in the order the rounds ran, a
// contended round's marked with its run-queue wait share.
func roundList(rs []Round, f func(Round) string) string {
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = f(x)
		switch {
		case x.Contended:
			parts[i] += fmt.Sprintf(" (contended: waited %.0f%%)", x.WaitShare*100)
		case x.SlowCPU:
			parts[i] += fmt.Sprintf(" (slow CPU: probe %.0f/%.0f µs)", float64(x.GatewayCPUNS)/1e3, float64(x.LoadCPUNS)/1e3)
		}
	}
	return strings.Join(parts, ", ")
}

// roundsLabel says which rounds a row's gateway medians are over.
func (r *Row) roundsLabel() string {
	use := r.uncontended(false)
	switch {
	case len(use) == len(r.Rounds) && (use[0].Contended || use[0].SlowCPU):
		return fmt.Sprintf("median of %d paired rounds, every one contended or slow", len(r.Rounds))
	case len(use) < len(r.Rounds):
		return fmt.Sprintf("median of the %d clean of %d paired rounds", len(use), len(r.Rounds))
	}
	return fmt.Sprintf("median of %d paired rounds", len(r.Rounds))
}

// littleAdded says what a closed-loop row's added latency is bound to be
// from the gateway's CPU per request alone, by Little's law: with c
// requests in flight a server that sustains X req/s answers in c ÷ X. The
// gateway's one pinned core sustains at most 1000 ÷ (CPU s per 1,000
// requests); the direct load ran at the direct run's rate.
func littleAdded(r *Row) (string, bool) {
	if r.Rate > 0 || r.Conns <= 0 || !r.Direct.ok() || !r.Gateway.ok() || r.Gateway.Usage == nil || r.Gateway.Usage.CPUPer1k <= 0 || r.Direct.Result.RPS <= 0 {
		return "", false
	}
	ceiling := 1000 / r.Gateway.Usage.CPUPer1k
	c := float64(r.Conns)
	gw, d := c/ceiling*1e6, c/r.Direct.Result.RPS*1e6
	return fmt.Sprintf("at %.3f ms of CPU per request the gateway's core sustains at most %.0f req/s, so with %d requests in flight Little's law puts its latency at %s or more against %s direct: %s added by its CPU per request alone",
		r.Gateway.Usage.CPUPer1k, ceiling, r.Conns, us(gw), us(d), us(gw-d)), true
}
