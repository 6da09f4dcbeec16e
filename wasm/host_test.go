package wasm

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
)

func TestEchoThroughWasm(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{})
	err := h.Configure([]PolicyConfig{{Name: "echo", Module: testdata("echo.wasm")}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := chatInput("user", "hello world", "user", "openai/gpt-4o")
	in.Response = []byte(`{"choices":[]}`)
	var out Output
	for _, st := range []abi.Stage{abi.StageRequest, abi.StageRoute, abi.StageResponse} {
		if err := h.Run(ctx, st, in, &out); err != nil {
			t.Fatalf("Run(%s): %v", st, err)
		}
	}
	if len(out.Failures) != 0 {
		t.Fatalf("failures: %s", out.AppendText(nil))
	}
	// The request stage inserted a system message before message 0, so the
	// route stage's last message is still "openai/gpt-4o".
	if !out.Route.Set || string(out.Route.Model) != "openai/gpt-4o" || string(out.Route.Reason) != "echo" {
		t.Fatalf("route = %+v", out.Route)
	}
	msgs := out.Messages()
	if len(msgs) != 3 || msgs[0].Orig != -1 || string(msgs[0].Role) != "system" || string(msgs[0].Text) != "injected" {
		t.Fatalf("messages = %+v", msgs)
	}
	if string(msgs[1].Text) != "HELLO world" || !msgs[1].Changed || msgs[1].Orig != 0 {
		t.Fatalf("message 1 = %+v", msgs[1])
	}
	if msgs[2].Changed || msgs[2].Orig != 1 {
		t.Fatalf("message 2 = %+v", msgs[2])
	}
	if string(out.TagValue("echo.ran")) != "yes" {
		t.Fatalf("tags = %+v", out.Tags)
	}
	if !out.Verdict.Set || !out.Verdict.Escalate || out.Verdict.Score != 250 {
		t.Fatalf("verdict = %+v", out.Verdict)
	}
	info, ok := h.Get("echo")
	if !ok || info.Calls != 3 || info.Errors != 0 || !info.Sandboxed || info.Origin != "file" || len(info.Stages) != 3 {
		t.Fatalf("info = %+v", info)
	}
	// Three real calls: the quantiles come from the histogram they filled.
	if info.P50MS <= 0 || info.P99MS < info.P50MS || info.P99MS > 1e3*durationBuckets[numDurationBuckets-1] {
		t.Fatalf("p50 = %v ms, p99 = %v ms", info.P50MS, info.P99MS)
	}
}

func TestConfigureValidation(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{})
	echo := testdata("echo.wasm")
	tests := []struct {
		name    string
		cfg     []PolicyConfig
		wantErr string
	}{
		{"bad name", []PolicyConfig{{Name: "Bad Name", Module: echo}}, "name must match"},
		{"no module", []PolicyConfig{{Name: "a"}}, "module is required"},
		{"missing file", []PolicyConfig{{Name: "a", Module: "testdata/none.wasm"}}, "no such file"},
		{"unknown builtin", []PolicyConfig{{Name: "a", Module: "builtin:nope"}}, "unknown built-in"},
		{"bad stage", []PolicyConfig{{Name: "a", Module: echo, Stages: []string{"routing"}}}, "unknown stage"},
		{"bad json", []PolicyConfig{{Name: "a", Module: echo, Config: "{"}}, "not valid JSON"},
		{"bad fail", []PolicyConfig{{Name: "a", Module: echo, Fail: "maybe"}}, "fail must be"},
		{"memory", []PolicyConfig{{Name: "a", Module: echo, MemoryMB: 1 << 20}}, "memory_mb"},
		{"duplicate", []PolicyConfig{{Name: "a", Module: echo}, {Name: "a", Module: echo}}, "defined twice"},
		{"stage not exported", []PolicyConfig{{Name: "a", Module: testdata("hostile/grow.wasm"), Stages: []string{"request"}}}, "does not export"},
		{"refused module", []PolicyConfig{{Name: "a", Module: testdata("hostile/noabi.wasm")}}, "missing ABI marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Configure(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Configure = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	// Atomic: a good policy followed by a bad one changes nothing.
	if err := h.Configure([]PolicyConfig{{Name: "good", Module: echo}}); err != nil {
		t.Fatal(err)
	}
	err := h.Configure([]PolicyConfig{{Name: "other", Module: echo}, {Name: "bad", Module: testdata("hostile/noabi.wasm")}})
	if !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Configure = %v, want ErrInvalidModule", err)
	}
	if got := h.Chain(abi.StageRoute); len(got) != 1 || got[0] != "good" {
		t.Fatalf("chain after refused Configure = %v, want [good]", got)
	}
}

// TestConfigWithoutSelfCheck: a module without gateway_configure loads with
// a config, with a warning, so that it can replace a configured policy (the
// built-in router and its tiers) under the same name.
func TestConfigWithoutSelfCheck(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{})
	if err := h.Configure([]PolicyConfig{{Name: "router", Module: testdata("echo.wasm"), Config: `{"tiers":{}}`}}); err != nil {
		t.Fatal(err)
	}
	info, _ := h.Get("router")
	if len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "no gateway_configure export") {
		t.Fatalf("warnings after Configure = %q", info.Warnings)
	}
	info, err := h.Upload("router", readTestdata(t, "fixed.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Warnings) != 1 || routeModel(t, h) != "fixed/model" {
		t.Fatalf("upload over a configured policy: %+v", info)
	}
	if info, _ = h.Upload("other", readTestdata(t, "fixed.wasm")); len(info.Warnings) != 0 {
		t.Fatalf("warnings without a config = %q", info.Warnings)
	}
}

// TestRecentFailures: a failed call's reason reaches the operator: the
// policy's last failures with time, request id and message (Get), the newest
// one in List, a counter by reason, and the OnFailure hook; calls a
// quarantine only skips are counted but do not push the reasons out.
func TestRecentFailures(t *testing.T) {
	t.Parallel()
	set := metrics.NewSet()
	h := newHost(t, Options{Metrics: set, QuarantineAfter: 3, RecentFailures: 2})
	if err := h.Configure([]PolicyConfig{{Name: "failp", Module: testdata("hostile/failing.wasm")}}); err != nil {
		t.Fatal(err)
	}
	var hooked []string
	var mu sync.Mutex
	h.OnFailure(func(policy string, r FailureRecord) {
		mu.Lock()
		hooked = append(hooked, policy+" "+r.RequestID+" "+r.Reason+" "+r.Message)
		mu.Unlock()
	})
	for _, id := range []string{"req-1", "req-2", "req-3", "req-4"} {
		in := chatInput("user", "hi")
		in.RequestID = []byte(id)
		var out Output
		if err := h.Run(context.Background(), abi.StageRoute, in, &out); err != nil || len(out.Failures) != 1 {
			t.Fatalf("%s: %v %s", id, err, out.AppendText(nil))
		}
	}
	info, _ := h.Get("failp")
	if len(info.RecentFailures) != 2 {
		t.Fatalf("recent failures = %+v, want the last 2", info.RecentFailures)
	}
	got := info.RecentFailures[0]
	if got.RequestID != "req-3" || got.Reason != "error_status" || got.Status != "error" || got.Message != "policy gave up" ||
		got.Stage != "route" || got.Digest != info.Digest || time.Since(got.Time) > time.Minute {
		t.Fatalf("newest failure = %+v", got)
	}
	if info.RecentFailures[1].RequestID != "req-2" {
		t.Fatalf("failures not newest first: %+v", info.RecentFailures)
	}
	list := h.List()
	if len(list) != 1 || list[0].LastFailure == nil || list[0].LastFailure.RequestID != "req-3" || list[0].RecentFailures != nil {
		t.Fatalf("List = %+v", list)
	}
	mu.Lock()
	if len(hooked) != 3 || hooked[0] != "failp req-1 error_status policy gave up" {
		t.Fatalf("OnFailure calls = %q", hooked)
	}
	mu.Unlock()
	var b strings.Builder
	set.WritePrometheus(&b)
	for _, want := range []string{
		`gateway_policy_failures_total{policy="failp",reason="error_status"} 3`,
		`gateway_policy_failures_total{policy="failp",reason="quarantined"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("metrics lack %s:\n%s", want, b.String())
		}
	}
}
