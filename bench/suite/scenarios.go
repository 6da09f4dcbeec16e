package suite

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aigateway/gateway/bench/load"
	"github.com/aigateway/gateway/bench/payload"
)

// scenario is one row of the results: issue 6's list, in order.
type scenario struct {
	id, title string
	conns     int
	rate      float64
	stream    bool
	// baseline names the row whose direct run this row compares with; when
	// empty, direct builds this row's own direct load.
	baseline string
	direct   func(e *env) loadSpec
	// gateway builds the gateway load, or returns why it cannot run.
	gateway func(e *env) (loadSpec, string)
	// compare runs the load against the compare target too.
	compare bool
	// floor runs the direct load through the bare reverse proxy too.
	floor bool
	// duration overrides the run's duration for this row.
	duration func(e *env) time.Duration
}

const (
	model      = "gpt-4o-mini"
	codingSize = 100 << 10
)

func scenarios() []scenario {
	direct := func(stream bool, promptBytes int) func(e *env) loadSpec {
		return func(e *env) loadSpec {
			return loadSpec{url: e.mockURL + "/v1/chat/completions", body: payload.Chat(model, stream, promptBytes), stream: stream, expect: expectFor(stream)}
		}
	}
	viaGateway := func(modelName string, stream bool, promptBytes int) func(e *env) (loadSpec, string) {
		return func(e *env) (loadSpec, string) {
			l := loadSpec{url: e.gw.base + "/v1/chat/completions", body: payload.Chat(modelName, stream, promptBytes), stream: stream, expect: expectFor(stream)}
			if why := e.providerMissing(modelName); why != "" {
				return l, why
			}
			skip, _ := probe(l.url, l.body, nil)
			return l, skip
		}
	}
	openDuration := func(e *env) time.Duration {
		if e.cfg.Quick {
			return 3 * time.Second
		}
		return e.cfg.Duration
	}
	slowDuration := func(e *env) time.Duration {
		if e.cfg.Quick {
			return 3 * time.Second
		}
		return e.cfg.Duration
	}
	return []scenario{
		{id: "nonstream-c16", title: "Non-stream passthrough", conns: 16, direct: direct(false, 0), gateway: viaGateway(model, false, 0), compare: true, floor: true},
		{id: "nonstream-c64", title: "Non-stream passthrough", conns: 64, direct: direct(false, 0), gateway: viaGateway(model, false, 0), compare: true, floor: true},
		{id: "stream-c16", title: "Stream passthrough (20 chunks)", conns: 16, stream: true, direct: direct(true, 0), gateway: viaGateway(model, true, 0), compare: true},
		{id: "stream-c64", title: "Stream passthrough (20 chunks)", conns: 64, stream: true, direct: direct(true, 0), gateway: viaGateway(model, true, 0), compare: true, floor: true},
		{id: "anthropic-upstream-stream-c64", title: "Anthropic upstream → OpenAI stream (translated)", conns: 64, stream: true, baseline: "stream-c64",
			gateway: viaGateway("anthropic/claude-3-5-haiku-latest", true, 0)},
		{id: "gemini-upstream-stream-c64", title: "Gemini upstream → OpenAI stream (translated)", conns: 64, stream: true, baseline: "stream-c64",
			gateway: viaGateway("gemini/gemini-2.0-flash", true, 0)},
		{id: "ollama-upstream-stream-c64", title: "Ollama upstream → OpenAI stream (translated)", conns: 64, stream: true, baseline: "stream-c64",
			gateway: viaGateway("ollama/qwen2.5-coder", true, 0)},
		{id: "anthropic-inbound-stream-c64", title: "Anthropic client (/v1/messages) → OpenAI upstream stream", conns: 64, stream: true,
			direct: func(e *env) loadSpec {
				return loadSpec{url: e.mockURL + "/v1/messages", body: payload.Messages("claude-3-5-haiku-latest", true, 0), stream: true, expect: "message_stop"}
			},
			gateway: func(e *env) (loadSpec, string) {
				l := loadSpec{url: e.gw.base + "/v1/messages", body: payload.Messages(model, true, 0), stream: true, expect: "message_stop"}
				skip, _ := probe(l.url, l.body, nil)
				return l, skip
			}},
		{id: "l1-hit-c64", title: "L1 (in-process) cache hit", conns: 64, baseline: "nonstream-c64",
			gateway: func(e *env) (loadSpec, string) {
				return e.cacheLoad(e.gw, "hit")
			}},
		{id: "l2-hit-c64", title: "L2 (Redis) cache hit", conns: 64, baseline: "nonstream-c64", gateway: (*env).l2Load},
		{id: "auto-wasm-c64", title: "model \"auto\" through the Wasm policy chain", conns: 64, baseline: "nonstream-c64",
			gateway: viaGateway("auto", false, 0)},
		{id: "coding-100k-c16", title: "100 KiB coding prompt, non-stream", conns: 16, direct: direct(false, codingSize), gateway: viaGateway(model, false, codingSize), compare: true},
		{id: "slow-streams-1000", title: "1,000 concurrent slow streams (20 events, 50 ms apart)", conns: slowConns, stream: true, duration: slowDuration,
			direct: func(e *env) loadSpec {
				return loadSpec{url: e.slowURL + "/v1/chat/completions", body: payload.Chat(model, true, 0), stream: true, expect: "[DONE]", timeout: 30 * time.Second}
			},
			gateway: func(e *env) (loadSpec, string) {
				l := loadSpec{url: e.gw.base + "/v1/chat/completions", body: payload.Chat("slow/"+model, true, 0), stream: true, expect: "[DONE]", timeout: 30 * time.Second}
				skip, _ := probe(l.url, l.body, nil)
				return l, skip
			}},
		{id: "open-5000", title: "Open loop at 5,000 requests/s, non-stream", conns: openConns, rate: openRate, duration: openDuration,
			direct: direct(false, 0), gateway: viaGateway(model, false, 0), compare: true, floor: true},
	}
}

func expectFor(stream bool) string {
	if stream {
		return "[DONE]"
	}
	return `"choices"`
}

// providerMissing says why a "provider/model" name cannot be served by
// this gateway build.
func (e *env) providerMissing(modelName string) string {
	p, _, ok := strings.Cut(modelName, "/")
	if !ok {
		return ""
	}
	if why, gone := e.missing[p]; gone {
		return "feature not available (provider " + p + ": " + why + ")"
	}
	return ""
}

// cacheLoad primes the cache with one request (temperature 0, so that the
// default cache mode stores it) and checks that an identical one is answered
// from it, with an X-Gateway-Cache value starting with want.
func (e *env) cacheLoad(g *gateway, want string) (loadSpec, string) {
	l := loadSpec{url: g.base + "/v1/chat/completions", body: payload.ChatDeterministic(model, false), expect: `"choices"`, expectHeader: "X-Gateway-Cache: " + want}
	if skip, _ := probe(l.url, l.body, nil); skip != "" {
		return l, skip
	}
	// The store may be asynchronous (the Redis tier writes behind): ask
	// again for up to two seconds before concluding there is no hit.
	var hs map[string]string
	for i := 0; i < 20; i++ {
		var skip string
		skip, hs = probe(l.url, l.body, nil)
		if skip != "" {
			return l, skip
		}
		if strings.HasPrefix(hs["x-gateway-cache"], want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, ok := hs["x-gateway-cache"]
	if !ok {
		return l, "feature not available (a repeated identical request carries no X-Gateway-Cache header)"
	}
	if !strings.HasPrefix(got, want) {
		return l, fmt.Sprintf("feature not available (a repeated identical request answered X-Gateway-Cache: %s, want %s…)", got, want)
	}
	return l, ""
}

// l2Load starts a second gateway with the Redis tier (and the in-process tier
// sized 0, so that hits come from Redis) for the L2 row.
func (e *env) l2Load() (loadSpec, string) {
	if e.redis == nil {
		return loadSpec{}, "redis-server not found in PATH (install the Debian package redis-server)"
	}
	extra := fmt.Sprintf("\n[cache]\nredis_url = %q\nmemory_mb = 0\n", e.redisURL)
	g, err := e.startGateway("gateway-l2", extra)
	if err != nil {
		return loadSpec{}, "feature not available (gateway with [cache] redis_url and memory_mb = 0 did not start: " + clipStr(err.Error(), 200) + ")"
	}
	e.l2 = g
	l, skip := e.cacheLoad(g, "hit-redis")
	// Under load, identical requests in flight together share one Redis
	// lookup ("hit-coalesced"); with the in-process tier off every hit comes
	// from Redis.
	l.expectHeader = "X-Gateway-Cache: hit"
	return l, skip
}

// runScenario runs one row: its baseline, the gateway and the compare
// target.
func (e *env) runScenario(ctx context.Context, sc scenario) {
	row := &Row{ID: sc.id, Title: sc.title, Conns: sc.conns, Rate: sc.rate, Stream: sc.stream}
	e.rows[sc.id] = row
	e.rep.Rows = append(e.rep.Rows, row)
	dur := time.Duration(0)
	if sc.duration != nil {
		dur = sc.duration(e)
	}
	finish := func(l *loadSpec) {
		l.conns, l.rate, l.duration = sc.conns, sc.rate, dur
	}
	// The gateway's feature check comes first, so that a skipped row costs
	// no baseline run.
	gl, skip := sc.gateway(e)
	defer e.stopL2()
	if skip != "" {
		row.Skipped = skip
		row.Gateway = &Trial{Target: "gateway", Skipped: skip}
		e.logf("%-30s skipped: %s", sc.id, skip)
		return
	}
	// dl is the row's direct load: its own, or its baseline row's.
	var dl, floor *loadSpec
	switch {
	case sc.direct != nil:
		d := sc.direct(e)
		finish(&d)
		dl = &d
		if sc.floor && e.floor != nil {
			fl := d
			fl.url = e.floorURL + strings.TrimPrefix(d.url, e.mockURL)
			floor = &fl
		}
	case sc.baseline != "":
		row.Baseline = sc.baseline
		for _, s := range scenarios() {
			if s.id == sc.baseline && s.direct != nil {
				d := s.direct(e)
				d.conns, d.rate = s.conns, s.rate
				dl = &d
			}
		}
	}
	finish(&gl)
	g := e.gw
	if e.l2 != nil {
		g = e.l2
	}
	if n := max(e.cfg.Repeat, 1); n > 1 && dl != nil {
		e.runRounds(ctx, row, n, *dl, gl, floor, g)
	} else {
		e.runOnceEach(ctx, row, dl, gl, floor, g)
	}
	if c := e.cfg.Compare; c != nil && sc.compare {
		cl := gl
		cl.url = strings.TrimRight(c.URL, "/") + "/chat/completions"
		cl.body = payload.Chat(c.Model, sc.stream, 0)
		if sc.id == "coding-100k-c16" {
			cl.body = payload.Chat(c.Model, false, codingSize)
		}
		cl.headers = e.compareHeaders()
		if skip, _ := probe(cl.url, cl.body, cl.headers); skip != "" {
			row.Compare = &Trial{Target: c.Name, Skipped: skip}
		} else {
			e.logf("%-30s %s …", sc.id, c.Name)
			row.Compare = e.runCompare(ctx, cl)
		}
	}
	row.compute()
	e.logf("%-30s %s", sc.id, row.summary())
}

// runOnceEach runs a row's loads one after the other, each e.cfg.Repeat
// times (1, or a row without a direct load of its own to pair with). A row
// whose baseline row already ran reuses that row's direct run.
func (e *env) runOnceEach(ctx context.Context, row *Row, dl *loadSpec, gl loadSpec, floor *loadSpec, g *gateway) {
	id := row.ID
	if b := e.rows[row.Baseline]; row.Baseline != "" && b != nil && b.Direct != nil {
		row.Direct = b.Direct
	} else if dl != nil {
		e.logf("%-30s direct  …", id)
		row.Direct = e.run(ctx, id, "direct", *dl, nil)
	}
	e.logf("%-30s gateway …", id)
	row.Gateway = e.run(ctx, id, "gateway", gl, g)
	if floor != nil {
		e.logf("%-30s floor   …", id)
		row.Floor = e.repeat(*floor, func() *Trial { return e.runFloorOnce(ctx, *floor) })
	}
}

// runRounds runs n paired rounds of a row: direct, gateway and floor back
// to back in each. This machine has moved between speed states minutes
// apart (the direct baseline by 70% between two runs of the same code,
// bench/RESULTS.md): a ratio of loads run minutes apart measures that, a
// ratio within a round much less. A round with an invalid load ends the
// rounds; the row then reports that load.
func (e *env) runRounds(ctx context.Context, row *Row, n int, dl, gl loadSpec, floor *loadSpec, g *gateway) {
	id := row.ID
	var ds, gs, fs []*Trial
	for i := 0; i < n; i++ {
		loads := "direct, gateway"
		if floor != nil {
			loads += ", floor"
		}
		e.logf("%-30s round %d/%d: %s …", id, i+1, n, loads)
		gw0, ld0 := e.probeCPUs()
		d := e.runOnce(ctx, id, "direct", dl, nil)
		gt := e.runOnce(ctx, id, "gateway", gl, g)
		ds, gs = append(ds, d), append(gs, gt)
		var ft *Trial
		if floor != nil {
			ft = e.runFloorOnce(ctx, *floor)
			fs = append(fs, ft)
		}
		gw1, ld1 := e.probeCPUs()
		if !d.ok() || !gt.ok() || (ft != nil && !ft.ok()) || d.Result.RPS <= 0 {
			break
		}
		dr, gr := d.Result, gt.Result
		r := Round{Ratio: round(gr.RPS/dr.RPS, 3), AddedP50: round(gr.Latency.P50-dr.Latency.P50, 1), AddedP99: round(gr.Latency.P99-dr.Latency.P99, 1)}
		r.GatewayCPUNS, r.LoadCPUNS = max(gw0, gw1), max(ld0, ld1)
		r.WaitShare = gt.Usage.waitShare()
		r.Contended = r.WaitShare > ContendedWait
		if ft != nil {
			r.FloorAddedP50 = round(ft.Result.Latency.P50-dr.Latency.P50, 1)
			r.FloorAddedP99 = round(ft.Result.Latency.P99-dr.Latency.P99, 1)
			r.FloorWaitShare = ft.Usage.waitShare()
			r.FloorContended = r.FloorWaitShare > ContendedWait
		}
		row.Rounds = append(row.Rounds, r)
	}
	if len(row.Rounds) < len(gs) {
		row.Rounds = nil // an invalid round: the row reports it, not a median of the others
	}
	for i := range row.Rounds {
		r := &row.Rounds[i]
		r.SlowCPU = r.slowAgainst(e.bestGwNS, e.bestLoadNS)
	}
	row.Direct = e.pick(dl, ds)
	row.Gateway = e.pick(gl, gs)
	if floor != nil {
		row.Floor = e.pick(*floor, fs)
	}
}

func (e *env) compareHeaders() []header {
	var out []header
	for _, h := range e.cfg.Compare.Headers {
		out = append(out, header{Name: h.Name, Value: strings.ReplaceAll(h.Value, "{mock}", e.mockURL)})
	}
	return out
}

func (e *env) stopL2() {
	if e.l2 != nil {
		e.l2.p.stop(5 * time.Second)
		e.l2 = nil
	}
}

// run performs one load; with g set it measures the gateway process.
func (e *env) run(ctx context.Context, id, target string, l loadSpec, g *gateway) *Trial {
	return e.repeat(l, func() *Trial { return e.runOnce(ctx, id, target, l, g) })
}

func (e *env) runOnce(ctx context.Context, id, target string, l loadSpec, g *gateway) *Trial {
	r := &Trial{Target: target}
	if g == nil {
		res, err := e.runLoad(ctx, l)
		if err != nil {
			r.Error = err.Error()
		}
		r.Result = res
		return r
	}
	var prof <-chan profile
	if g.pprof != "" {
		d := l.duration
		if d == 0 {
			d = e.cfg.Duration
		}
		prof = e.profile(g, id, d)
	}
	var err error
	res, u := e.measureGateway(g, func() *load.Result {
		var res *load.Result
		res, err = e.runLoad(ctx, l)
		return res
	})
	if err != nil {
		r.Error = err.Error()
	}
	r.Result, r.Usage = res, u
	if prof != nil {
		p := <-prof
		r.Profile, r.ProfileTop = p.path, p.top
		if p.err != "" {
			r.Profile = "failed: " + p.err
		}
	}
	return r
}

type profile struct {
	path string
	top  []string
	err  string
}

// profile takes a CPU profile of the gateway during the measured part of a
// load and keeps its hottest functions.
func (e *env) profile(g *gateway, id string, d time.Duration) <-chan profile {
	ch := make(chan profile, 1)
	go func() {
		var p profile
		defer func() { ch <- p }()
		time.Sleep(e.cfg.Warmup + 100*time.Millisecond)
		secs := int(d / time.Second)
		if secs < 1 {
			secs = 1
		}
		status, body, _, err := httpDo("GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.pprof, secs), nil, nil, d+30*time.Second)
		if err != nil || status != 200 {
			p.err = fmt.Sprintf("pprof: %v (HTTP %d)", err, status)
			return
		}
		dir := filepath.Join(e.cfg.OutDir, "profiles")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.err = err.Error()
			return
		}
		path := filepath.Join(dir, e.stem()+"-"+id+".pprof")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			p.err = err.Error()
			return
		}
		p.path = rel(e.cfg.Root, path)
		// The cumulative view says which of the gateway's own steps the time
		// goes to; the flat view which leaf functions burn it.
		for _, view := range [][]string{{"-top", "-cum", "-nodecount=40"}, {"-top", "-nodecount=12"}} {
			args := append(append([]string{"tool", "pprof"}, view...), filepath.Join(e.bin, "gatewayprof"), path)
			out, err := exec.Command("go", args...).Output()
			if err != nil {
				p.err = "go tool pprof: " + err.Error()
				return
			}
			p.top = append(p.top, "$ go tool pprof "+strings.Join(view, " "))
			for _, line := range strings.Split(string(out), "\n") {
				// Skip the fasthttp/runtime frames every request shares.
				if strings.Contains(line, "%") && !strings.Contains(line, "workerPool") && !strings.Contains(line, "serveConn") {
					p.top = append(p.top, strings.TrimRight(line, " "))
				}
			}
		}
	}()
	return ch
}

func (e *env) measureGateway(g *gateway, fn func() *load.Result) (*load.Result, *Usage) {
	saved := e.gw
	e.gw = g // measure subtracts this gateway's scrape cost
	defer func() { e.gw = saved }()
	return e.measure(g.p.pid(), g.base+"/metrics", fn)
}

func (e *env) runCompare(ctx context.Context, l loadSpec) *Trial {
	return e.repeat(l, func() *Trial { return e.runCompareOnce(ctx, l) })
}

// repeat runs a load cfg.Repeat times and keeps the median attempt: by
// throughput in a closed loop, by p99 latency in an open loop (whose
// throughput is fixed). Any invalid attempt makes the result that invalid
// attempt: a flaky load is reported, not voted away. Every attempt's
// figures stay in Attempts.
func (e *env) repeat(l loadSpec, once func() *Trial) *Trial {
	n := max(e.cfg.Repeat, 1)
	var trials []*Trial
	for i := 0; i < n; i++ {
		t := once()
		trials = append(trials, t)
		if !t.ok() {
			break
		}
	}
	return e.pick(l, trials)
}

// pick keeps the median of a load's attempts (see repeat), with every
// attempt's figures in its Attempts.
func (e *env) pick(l loadSpec, trials []*Trial) *Trial {
	var atts []Attempt
	for _, t := range trials {
		if t.Result != nil {
			a := Attempt{RPS: t.Result.RPS, P50: t.Result.Latency.P50, P99: t.Result.Latency.P99, Valid: t.Result.Valid}
			if u := t.Usage; u != nil {
				a.CPUPer1k, a.RunWaitSeconds = u.CPUPer1k, u.RunWaitSeconds
			}
			atts = append(atts, a)
		}
	}
	pick := trials[len(trials)-1]
	if pick.ok() && len(trials) > 1 {
		sorted := slices.Clone(trials)
		sort.Slice(sorted, func(i, j int) bool {
			if l.rate > 0 {
				return sorted[i].Result.Latency.P99 < sorted[j].Result.Latency.P99
			}
			return sorted[i].Result.RPS < sorted[j].Result.RPS
		})
		pick = sorted[len(sorted)/2]
	}
	if len(atts) > 1 {
		pick.Attempts = atts
	}
	return pick
}

// runFloorOnce runs l through the floor proxy, measuring its process.
func (e *env) runFloorOnce(ctx context.Context, l loadSpec) *Trial {
	r := &Trial{Target: "floor"}
	var err error
	saved := e.gw
	e.gw = nil
	r.Result, r.Usage = e.measure(e.floor.pid(), "", func() *load.Result {
		var res *load.Result
		res, err = e.runLoad(ctx, l)
		return res
	})
	e.gw = saved
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

func (e *env) runCompareOnce(ctx context.Context, l loadSpec) *Trial {
	r := &Trial{Target: e.cfg.Compare.Name}
	var err error
	fn := func() *load.Result {
		var res *load.Result
		res, err = e.runLoad(ctx, l)
		return res
	}
	if e.cmp != nil {
		saved := e.gw
		e.gw = nil
		r.Result, r.Usage = e.measure(e.cmp.pid(), "", fn)
		e.gw = saved
	} else {
		r.Result = fn()
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// compute fills the row's ratios from valid runs only: the medians of its
// paired rounds when it has them, else from its median attempts.
func (r *Row) compute() {
	if !r.Direct.ok() {
		return
	}
	d := r.Direct.Result
	if r.Gateway.ok() {
		g := r.Gateway.Result
		if d.RPS > 0 {
			r.Ratio = round(g.RPS/d.RPS, 3)
		}
		r.AddedP50 = round(g.Latency.P50-d.Latency.P50, 1)
		r.AddedP99 = round(g.Latency.P99-d.Latency.P99, 1)
	}
	if f := r.Floor; f.ok() {
		r.FloorAddedP50 = round(f.Result.Latency.P50-d.Latency.P50, 1)
		r.FloorAddedP99 = round(f.Result.Latency.P99-d.Latency.P99, 1)
	}
	if len(r.Rounds) > 0 {
		med := func(use []Round, f func(Round) float64) float64 {
			v := make([]float64, len(use))
			for i, x := range use {
				v[i] = f(x)
			}
			return median(v)
		}
		use := r.uncontended(false)
		r.Ratio = med(use, func(x Round) float64 { return x.Ratio })
		r.AddedP50 = med(use, func(x Round) float64 { return x.AddedP50 })
		r.AddedP99 = med(use, func(x Round) float64 { return x.AddedP99 })
		if r.Floor.ok() {
			use = r.uncontended(true)
			r.FloorAddedP50 = med(use, func(x Round) float64 { return x.FloorAddedP50 })
			r.FloorAddedP99 = med(use, func(x Round) float64 { return x.FloorAddedP99 })
		}
	}
	if r.Compare.ok() && d.RPS > 0 {
		r.CompareRatio = round(r.Compare.Result.RPS/d.RPS, 3)
	}
}

func (r *Row) summary() string {
	if r.Skipped != "" {
		return "skipped: " + r.Skipped
	}
	var parts []string
	for _, run := range []*Trial{r.Direct, r.Gateway, r.Compare} {
		if run == nil {
			continue
		}
		parts = append(parts, run.Target+" "+run.short())
	}
	if r.Ratio > 0 {
		parts = append(parts, fmt.Sprintf("ratio %.2f, added p50 %.0f µs", r.Ratio, r.AddedP50))
	}
	return strings.Join(parts, "; ")
}

func (r *Trial) short() string {
	switch {
	case r.Skipped != "":
		return "skipped"
	case r.Result == nil:
		return "error: " + r.Error
	case !r.Result.Valid:
		return "INVALID (" + r.Result.Invalid + ")"
	}
	return fmt.Sprintf("%.0f req/s p50 %.0f µs p99 %.0f µs", r.Result.RPS, r.Result.Latency.P50, r.Result.Latency.P99)
}

// waitTCP waits until rawURL's host accepts connections.
func waitTCP(p *proc, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host += ":80"
	}
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail(2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections at %s within %v", nameOf(p), host, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// median of v (the mean of the middle two for an even count); it sorts v.
func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return round((v[n/2-1]+v[n/2])/2, 3)
}

// uncontended returns the rounds in which the gateway (or, with floor,
// the floor proxy) had its CPU to itself and no CPU of the round ran slow,
// or every round when none did.
func (r *Row) uncontended(floor bool) []Round {
	var out []Round
	for _, x := range r.Rounds {
		contended := x.Contended
		if floor {
			contended = x.FloorContended
		}
		if !contended && !x.SlowCPU {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return r.Rounds
	}
	return out
}

// waitShare is the run-queue wait over the wall time, 0 without figures.
func (u *Usage) waitShare() float64 {
	if u == nil || u.WallSeconds <= 0 {
		return 0
	}
	return round(u.RunWaitSeconds/u.WallSeconds, 3)
}

// slow reports whether a probe's CPU time is over SlowCPU× the best.
func slow(ns, best int64) bool {
	return ns > 0 && best > 0 && float64(ns) > SlowCPU*float64(best)
}

// slowAgainst reports whether a round's CPUs ran slow: a probe over
// SlowCPU× the run's best on its CPU set.
func (r *Round) slowAgainst(bestGw, bestLoad int64) bool {
	return slow(r.GatewayCPUNS, bestGw) || slow(r.LoadCPUNS, bestLoad)
}
