package suite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/bench/hist"
	"github.com/aigateway/gateway/bench/load"
)

func res(rps, p50, p99 float64, valid bool) *load.Result {
	r := &load.Result{RPS: rps, Requests: 100, Latency: hist.Summary{P50: p50, P99: p99}, Valid: valid}
	if !valid {
		r.Invalid = "1 errors, 0 non-2xx answers"
	}
	return r
}

func TestRowComputeIgnoresInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		row       Row
		wantRatio float64
		wantAdded float64
	}{
		{name: "valid", row: Row{Direct: &Trial{Result: res(1000, 100, 300, true)}, Gateway: &Trial{Result: res(400, 150, 500, true)}}, wantRatio: 0.4, wantAdded: 50},
		{name: "gateway-invalid", row: Row{Direct: &Trial{Result: res(1000, 100, 300, true)}, Gateway: &Trial{Result: res(900, 110, 500, false)}}},
		{name: "direct-invalid", row: Row{Direct: &Trial{Result: res(1000, 100, 300, false)}, Gateway: &Trial{Result: res(900, 110, 500, true)}}},
		{name: "gateway-skipped", row: Row{Direct: &Trial{Result: res(1000, 100, 300, true)}, Gateway: &Trial{Skipped: "feature not available (HTTP 404: x)"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.row.compute()
			if tc.row.Ratio != tc.wantRatio || tc.row.AddedP50 != tc.wantAdded {
				t.Errorf("ratio %v added %v, want %v %v", tc.row.Ratio, tc.row.AddedP50, tc.wantRatio, tc.wantAdded)
			}
		})
	}
}

func TestTargetsAndMarkdown(t *testing.T) {
	t.Parallel()
	rows := map[string]*Row{
		"nonstream-c64": {ID: "nonstream-c64", Title: "Non-stream", Conns: 64, Direct: &Trial{Target: "direct", Result: res(40000, 100, 300, true)}, Gateway: &Trial{Target: "gateway", Result: res(8000, 700, 2000, true), Usage: &Usage{AllocsPerReq: 30}}},
		"stream-c64":    {ID: "stream-c64", Title: "Stream", Conns: 64, Stream: true, Direct: &Trial{Target: "direct", Result: res(10000, 100, 300, true)}, Gateway: &Trial{Target: "gateway", Result: res(9000, 120, 400, false)}},
		"l1-hit-c64":    {ID: "l1-hit-c64", Title: "L1", Conns: 64, Skipped: "feature not available (HTTP 404: nope)", Gateway: &Trial{Skipped: "feature not available (HTTP 404: nope)"}},
	}
	for _, r := range rows {
		r.compute()
	}
	ts := targets(rows, &Footprint{RSSMB: 52.5, AnonMB: 20, FileMB: 32.5})
	byName := map[string]Target{}
	for _, tg := range ts {
		byName[tg.Name] = tg
	}
	if tg := byName["Non-stream throughput, 64 connections"]; tg.Status != "missed" || !strings.Contains(tg.Detail, "2.50×") {
		t.Errorf("non-stream target %+v", tg)
	}
	if tg := byName["Stream throughput, 64 connections"]; tg.Status != "not measured" || !strings.Contains(tg.Detail, "INVALID") {
		t.Errorf("stream target should not be measured from an invalid run: %+v", tg)
	}
	if tg := byName["RSS after start + 1 request, empty config"]; tg.Status != "missed" || !strings.Contains(tg.Detail, "12.5 MB") {
		t.Errorf("empty-config footprint target %+v", tg)
	}
	if tg := byName["Allocations per L1 cache hit"]; tg.Status != "not measured" || !strings.Contains(tg.Detail, "HTTP 404") {
		t.Errorf("L1 target %+v", tg)
	}
	rep := &Report{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Mode: "quick", Command: "make bench-quick", Targets: ts,
		Rows: []*Row{rows["nonstream-c64"], rows["stream-c64"], rows["l1-hit-c64"]}}
	md := Markdown(rep)
	for _, want := range []string{"| Non-stream | c=64 | 40000 | 8000 | 0.20 |", "INVALID", "skipped: feature not available (HTTP 404: nope)", "`make bench-quick`"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestUpdateResultsKeepsOtherSections(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	other := "## Wasm policies\n\nFigures by the Wasm team.\n"
	if err := os.WriteFile(path, []byte(resultsSkeleton+"\n"+other), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := &Report{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Mode: "quick", Command: "make bench-quick"}
	for i := 0; i < 2; i++ {
		if err := UpdateResults(path, rep, "results/x-quick.md"); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	text := string(b)
	if !strings.Contains(text, other) {
		t.Errorf("other section lost:\n%s", text)
	}
	if strings.Count(text, "<!-- bench:latest-quick:begin -->") != 1 {
		t.Errorf("latest section duplicated:\n%s", text)
	}
	if strings.Count(text, "- 2026-01-02 03:04 UTC · quick") != 2 {
		t.Errorf("history should have two lines:\n%s", text)
	}
	hist := strings.Index(text, historyHeading)
	wasm := strings.Index(text, "## Wasm policies")
	if line := strings.LastIndex(text, "- 2026-01-02 03:04 UTC"); !(hist < line && line < wasm) {
		t.Errorf("history line not inside its section:\n%s", text)
	}
}

func TestParseBench(t *testing.T) {
	t.Parallel()
	out := `goos: linux
pkg: github.com/aigateway/gateway/providers/anthropic
BenchmarkStreamTextDelta-2   	 5000000	       230.5 ns/op	  52.06 MB/s	       0 B/op	       0 allocs/op
BenchmarkRequest-2           	  300000	      4012 ns/op	    1024 B/op	       3 allocs/op
ok  	github.com/aigateway/gateway/providers/anthropic	3.1s
FAIL	github.com/aigateway/gateway/wasm [build failed]
`
	bs, fails := ParseBench(out)
	if len(bs) != 2 || bs[0].Pkg != "providers/anthropic" || bs[0].MBs != "52.06" || bs[0].Aop != "0" || bs[1].BOp != "1024" || bs[1].MBs != "" {
		t.Errorf("benches %+v", bs)
	}
	if len(fails) != 1 || !strings.Contains(fails[0], "wasm") {
		t.Errorf("fails %v", fails)
	}
}

func TestRepeatKeepsMedianAndInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rps       []float64
		valid     []bool
		open      bool
		wantRPS   float64
		wantValid bool
		wantAtts  int
	}{
		{name: "median", rps: []float64{100, 300, 200}, valid: []bool{true, true, true}, wantRPS: 200, wantValid: true, wantAtts: 3},
		{name: "invalid-stops", rps: []float64{100, 50, 200}, valid: []bool{true, false, true}, wantRPS: 50, wantAtts: 2},
		{name: "single", rps: []float64{100}, valid: []bool{true}, wantRPS: 100, wantValid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &env{cfg: Config{Repeat: len(tc.rps)}}
			i := 0
			got := e.repeat(loadSpec{}, func() *Trial {
				r := &Trial{Result: res(tc.rps[i], 1, 2, tc.valid[i])}
				i++
				return r
			})
			if got.Result.RPS != tc.wantRPS || got.Result.Valid != tc.wantValid || len(got.Attempts) != tc.wantAtts {
				t.Errorf("got rps %v valid %v attempts %d", got.Result.RPS, got.Result.Valid, len(got.Attempts))
			}
		})
	}
}

// TestFloorTable: the floor row splits the added latency into the bare
// hop's share and the gateway's own, and the p50 target says both; a row
// whose floor run was invalid shows dashes, not figures.
func TestFloorTable(t *testing.T) {
	t.Parallel()
	row := &Row{ID: "nonstream-c16", Title: "Non-stream", Conns: 16,
		Direct:  &Trial{Result: res(40000, 300, 700, true)},
		Gateway: &Trial{Result: res(20000, 480, 3000, true)},
		Floor:   &Trial{Result: res(30000, 390, 1500, true), Usage: &Usage{CPUPer1k: 0.021}}}
	bad := &Row{ID: "nonstream-c64", Title: "Non-stream", Conns: 64,
		Direct:  &Trial{Result: res(40000, 300, 700, true)},
		Gateway: &Trial{Result: res(20000, 480, 3000, true)},
		Floor:   &Trial{Result: res(30000, 390, 1500, false)}}
	row.compute()
	bad.compute()
	got := FloorTable(&Report{Floor: "floorproxy", Rows: []*Row{row, bad}})
	for _, want := range []string{
		"| Non-stream | c=16 | 30000 | 0.75 | 0.67 | +90 | +180 | +90 | +800 | +2300 | +1500 | 0.021 |",
		"| Non-stream | c=64 | INVALID | — | — | — | +180 | — | — | +2300 | — | — |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("floor table lacks\n%s\ngot\n%s", want, got)
		}
	}
	if FloorTable(&Report{Rows: []*Row{{ID: "x", Direct: row.Direct, Gateway: row.Gateway}}}) != "" {
		t.Error("a run without a floor has a floor table")
	}
	for _, tg := range targets(map[string]*Row{"nonstream-c16": row}, nil) {
		if strings.HasPrefix(tg.Name, "Added latency p50") && !strings.Contains(tg.Detail, "the bare proxy (floor) adds 90 µs, the gateway 90 µs over it") {
			t.Errorf("p50 target detail %q", tg.Detail)
		}
	}
}

// TestPairedRounds: a row with paired rounds reports the medians of the
// rounds' own ratios and added latencies, not the ratio of the median
// attempts, which can come from different rounds (here a slow round's
// direct against a fast round's gateway would read 100%).
func TestPairedRounds(t *testing.T) {
	t.Parallel()
	row := &Row{ID: "nonstream-c64", Title: "Non-stream", Conns: 64,
		Direct:  &Trial{Result: res(30000, 300, 700, true)},
		Gateway: &Trial{Result: res(30000, 420, 900, true)},
		Floor:   &Trial{Result: res(35000, 350, 800, true)},
		Rounds: []Round{
			{Ratio: 0.5, AddedP50: 100, AddedP99: 300, FloorAddedP50: 60, FloorAddedP99: 200},
			{Ratio: 0.7, AddedP50: 140, AddedP99: 100, FloorAddedP50: 40, FloorAddedP99: 90},
			{Ratio: 0.6, AddedP50: 120, AddedP99: 200, FloorAddedP50: 50, FloorAddedP99: 100},
		}}
	row.compute()
	if row.Ratio != 0.6 || row.AddedP50 != 120 || row.AddedP99 != 200 || row.FloorAddedP50 != 50 || row.FloorAddedP99 != 100 {
		t.Fatalf("row %+v", row)
	}
	var seen int
	for _, tg := range targets(map[string]*Row{"nonstream-c64": row}, nil) {
		if strings.HasPrefix(tg.Name, "Non-stream throughput") {
			seen++
			if tg.Status != "met" || !strings.Contains(tg.Measured, "60.0% (median of 3 paired rounds: 50.0%, 70.0%, 60.0%)") {
				t.Errorf("target %+v", tg)
			}
		}
	}
	if seen != 1 {
		t.Fatalf("no non-stream target")
	}
	if got := FloorTable(&Report{Floor: "floorproxy", Rows: []*Row{row}}); !strings.Contains(got, "| +50 | +120 | +70 | +100 | +200 | +100 |") {
		t.Errorf("floor table does not use the paired medians:\n%s", got)
	}
	even := &Row{Direct: row.Direct, Gateway: row.Gateway, Rounds: []Round{{Ratio: 0.5}, {Ratio: 0.6}}}
	even.compute()
	if even.Ratio != 0.55 {
		t.Errorf("even count: ratio %v, want the mean of the middle two", even.Ratio)
	}
}

// TestContendedRoundsLeftOut: a round in which the gateway waited for its
// core (another process had it) is listed but left out of the medians,
// unless every round was contended.
func TestContendedRoundsLeftOut(t *testing.T) {
	t.Parallel()
	d, g := &Trial{Result: res(40000, 300, 700, true)}, &Trial{Result: res(20000, 400, 900, true)}
	row := &Row{ID: "stream-c64", Direct: d, Gateway: g, Rounds: []Round{
		{Ratio: 0.8, WaitShare: 0.02}, {Ratio: 0.3, WaitShare: 0.76, Contended: true}, {Ratio: 0.7, WaitShare: 0.03}, {Ratio: 0.35, WaitShare: 0.4, Contended: true},
	}}
	row.compute()
	if row.Ratio != 0.75 {
		t.Errorf("ratio %v, want 0.75 (the two uncontended rounds)", row.Ratio)
	}
	var tg Target
	for _, x := range targets(map[string]*Row{"stream-c64": row}, nil) {
		if strings.HasPrefix(x.Name, "Stream throughput") {
			tg = x
		}
	}
	if want := "75.0% (median of the 2 clean of 4 paired rounds: 80.0%, 30.0% (contended: waited 76%), 70.0%, 35.0% (contended: waited 40%))"; tg.Measured != want || tg.Status != "met" {
		t.Errorf("target %+v\nwant measured %s", tg, want)
	}
	all := &Row{ID: "stream-c64", Direct: d, Gateway: g, Rounds: []Round{{Ratio: 0.3, Contended: true}, {Ratio: 0.4, Contended: true}, {Ratio: 0.5, Contended: true}}}
	all.compute()
	if all.Ratio != 0.4 || !strings.Contains(all.roundsLabel(), "every one contended or slow") {
		t.Errorf("all contended: ratio %v, label %q", all.Ratio, all.roundsLabel())
	}
	// The floor's figures leave out the rounds the floor waited in, not
	// the gateway's: each process's contention is its own.
	fl := &Row{ID: "nonstream-c16", Direct: d, Gateway: g, Floor: &Trial{Result: res(30000, 350, 800, true)}, Rounds: []Round{
		{Ratio: 0.5, AddedP50: 100, FloorAddedP50: 90, FloorContended: true},
		{Ratio: 0.6, AddedP50: 120, FloorAddedP50: 40},
		{Ratio: 0.2, AddedP50: 900, FloorAddedP50: 50, Contended: true},
	}}
	fl.compute()
	if fl.Ratio != 0.55 || fl.AddedP50 != 110 || fl.FloorAddedP50 != 45 {
		t.Errorf("floor separation: ratio %v added %v floor added %v, want 0.55 110 45", fl.Ratio, fl.AddedP50, fl.FloorAddedP50)
	}
	// A round whose CPU ran slow (the speed probe needed more than
	// SlowCPU× the run's best) is left out like a contended one.
	sl := &Row{ID: "stream-c64", Direct: d, Gateway: g, Rounds: []Round{
		{Ratio: 0.8}, {Ratio: 0.35, SlowCPU: true, GatewayCPUNS: 150000, LoadCPUNS: 75000}, {Ratio: 0.7},
	}}
	sl.compute()
	if sl.Ratio != 0.75 || !strings.Contains(roundList(sl.Rounds, func(x Round) string { return fmt.Sprint(x.Ratio) }), "0.35 (slow CPU: probe 150/75 µs)") {
		t.Errorf("slow round: ratio %v, rounds %s", sl.Ratio, roundList(sl.Rounds, func(x Round) string { return fmt.Sprint(x.Ratio) }))
	}
	if !slow(94000, 75000) || slow(93000, 75000) || slow(0, 75000) || slow(94000, 0) {
		t.Error("slow: the 1.25× rule")
	}
	for _, tc := range []struct {
		r    Round
		want bool
	}{
		{Round{GatewayCPUNS: 75000, LoadCPUNS: 76000}, false},
		{Round{GatewayCPUNS: 95000, LoadCPUNS: 76000}, true},
		{Round{GatewayCPUNS: 75000, LoadCPUNS: 96000}, true},
		{Round{}, false},
	} {
		if got := tc.r.slowAgainst(75000, 75000); got != tc.want {
			t.Errorf("%+v slow = %v, want %v", tc.r, got, tc.want)
		}
	}
	if (&Usage{RunWaitSeconds: 0.5, WallSeconds: 2.5}).waitShare() != 0.2 || (*Usage)(nil).waitShare() != 0 {
		t.Error("waitShare")
	}
}

// TestLittleAdded: a closed-loop row's added latency from the gateway's
// CPU per request alone (the 10:12 run's figures: 0.051 ms per request,
// 16 in flight, 40,843 req/s direct: +424 µs), and nothing for an open
// loop or without the CPU figure.
func TestLittleAdded(t *testing.T) {
	t.Parallel()
	row := &Row{ID: "nonstream-c16", Conns: 16,
		Direct:  &Trial{Result: res(40843, 371, 1000, true)},
		Gateway: &Trial{Result: res(19600, 700, 3000, true), Usage: &Usage{CPUPer1k: 0.051}}}
	got, ok := littleAdded(row)
	if !ok || !strings.Contains(got, "sustains at most 19608 req/s") || !strings.Contains(got, "424 µs added") {
		t.Errorf("littleAdded = %q, %v", got, ok)
	}
	open := *row
	open.Rate = 5000
	if _, ok := littleAdded(&open); ok {
		t.Error("an open loop has no Little's-law bound here")
	}
	none := *row
	none.Gateway = &Trial{Result: row.Gateway.Result}
	if _, ok := littleAdded(&none); ok {
		t.Error("no CPU figure, no bound")
	}
}
