package wasm

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/abi/abitest"
)

// TestAbitestMatchesHost holds abi/abitest, the native harness policy
// authors test with, to this host's implementation: the same calls on the
// same request give the same return values and the same decisions.
func TestAbitestMatchesHost(t *testing.T) {
	t.Parallel()
	b := func(s string) []byte { return []byte(s) }
	req := abitest.Request{
		Model: "auto", Project: "acme", Skill: "quick-fix", Config: `{"k":1}`,
		Messages: []abitest.Message{{Role: "system", Text: "You are helpful."}, {Role: "user", Text: "fix teh bug é", Flags: abi.MsgParts}},
		Tools:    []string{"read_file"},
		Headers:  [][2]string{{"X-Gateway-Skill", "quick-fix"}, {"X-Priority", "high"}},
		Flags:    abi.FlagStream,
		Body:     `{"model":"auto"}`,
		Response: `{"choices":[]}`,
	}
	in := &Input{Model: b(req.Model), Project: b(req.Project), Skill: b(req.Skill), Body: b(req.Body), Response: b(req.Response), Flags: req.Flags}
	for _, m := range req.Messages {
		in.AddMessage(b(m.Role), b(m.Text), m.Flags)
	}
	for _, tool := range req.Tools {
		in.AddTool(b(tool))
	}
	for _, h := range req.Headers {
		in.AddHeader(b(h[0]), b(h[1]))
	}
	buf := make([]byte, 8)
	type script func(i abi.Imports) []int64
	all := func(calls ...func(i abi.Imports) int64) script {
		return func(i abi.Imports) []int64 {
			var out []int64
			for _, c := range calls {
				out = append(out, c(i))
			}
			return out
		}
	}
	getters := all(
		func(i abi.Imports) int64 { return int64(i.Features()) },
		func(i abi.Imports) int64 { return int64(i.Flags()) },
		func(i abi.Imports) int64 { return int64(i.Config(buf)) },
		func(i abi.Imports) int64 { return int64(i.Model(buf)) },
		func(i abi.Imports) int64 { return int64(i.Project(nil)) },
		func(i abi.Imports) int64 { return int64(i.Skill(buf)) },
		func(i abi.Imports) int64 { return int64(i.Body(buf)) },
		func(i abi.Imports) int64 { return int64(i.Response(buf)) },
		func(i abi.Imports) int64 { return int64(i.MessageCount()) },
		func(i abi.Imports) int64 { return int64(i.MessageRole(1, buf)) },
		func(i abi.Imports) int64 { return int64(i.MessageText(1, buf)) },
		func(i abi.Imports) int64 { return int64(i.MessageText(2, buf)) },
		func(i abi.Imports) int64 { return i.MessageFlags(1) },
		func(i abi.Imports) int64 { return i.MessageFlags(-1) },
		func(i abi.Imports) int64 { return int64(i.ToolCount()) },
		func(i abi.Imports) int64 { return int64(i.ToolName(0, buf)) },
		func(i abi.Imports) int64 { return int64(i.HeaderCount()) },
		func(i abi.Imports) int64 { return int64(i.HeaderName(1, buf)) },
		func(i abi.Imports) int64 { return int64(i.HeaderValue(1, buf)) },
		func(i abi.Imports) int64 { return int64(i.Header(b("x-PRIORITY"), buf)) },
		func(i abi.Imports) int64 { return int64(i.Header(b("x-absent"), buf)) },
	)
	tests := []struct {
		name string
		run  script
	}{
		{"getters", getters},
		{"route", all(
			func(i abi.Imports) int64 { return int64(i.SetRoute(0, nil, nil)) },
			func(i abi.Imports) int64 { return int64(i.SetRoute(0, b("a b"), nil)) },
			func(i abi.Imports) int64 { return int64(i.SetRoute(4, b("m"), nil)) },
			func(i abi.Imports) int64 { return int64(i.SetRoute(5<<abi.RouteTierShift, b("m"), nil)) },
			func(i abi.Imports) int64 { return int64(i.SetRoute(0, b("m"), b("x\r\ny"))) },
			func(i abi.Imports) int64 {
				return int64(i.SetRoute(abi.RouteAmbiguous|abi.RouteTier(abi.TierStrong), b("openai/gpt-4o"), b("why")))
			},
			func(i abi.Imports) int64 { return int64(i.AddTag(b("Key"), b("v"))) },
			func(i abi.Imports) int64 { return int64(i.AddTag(b("k.v"), b("v 1"))) },
			func(i abi.Imports) int64 { return int64(i.ReplaceText(0, 0, 1, nil)) },
		)},
		{"edits", all(
			func(i abi.Imports) int64 { return int64(i.ReplaceText(1, 4, 7, b("the"))) },
			func(i abi.Imports) int64 { return int64(i.ReplaceText(1, 5, 6, b("x"))) },   // overlaps
			func(i abi.Imports) int64 { return int64(i.ReplaceText(1, 12, 13, b("x"))) }, // splits é
			func(i abi.Imports) int64 { return int64(i.ReplaceText(1, 0, 0, b("[A] "))) },
			func(i abi.Imports) int64 { return int64(i.ReplaceText(1, 0, 3, b("Fix"))) },
			func(i abi.Imports) int64 { return int64(i.ReplaceText(0, 0, 99, nil)) },
			func(i abi.Imports) int64 { return int64(i.ReplaceText(0, 0, 0, b("\xff"))) },
			func(i abi.Imports) int64 { return int64(i.InsertMessage(2, b("user"), b("appended"))) },
			func(i abi.Imports) int64 { return int64(i.InsertMessage(0, b("system"), b("first"))) },
			func(i abi.Imports) int64 { return int64(i.InsertMessage(0, b("tool"), b("x"))) },
			func(i abi.Imports) int64 { return int64(i.InsertMessage(3, b("user"), b("x"))) },
			func(i abi.Imports) int64 { return int64(i.ReportRemoved(int32(abi.RemovedBoilerplate), 3)) },
			func(i abi.Imports) int64 { return int64(i.ReportRemoved(abi.NumRemovals, 3)) },
			func(i abi.Imports) int64 { return int64(i.SetRoute(0, b("m"), nil)) },
		)},
		{"respond", all(
			func(i abi.Imports) int64 { return int64(i.Respond(99, b(`{}`))) },
			func(i abi.Imports) int64 { return int64(i.Respond(200, b(`nope`))) },
			func(i abi.Imports) int64 { return int64(i.Respond(403, b(`{"error":{"message":"no"}}`))) },
		)},
		{"verdict", all(
			func(i abi.Imports) int64 { return int64(i.SetVerdict(0, 1001, nil)) },
			func(i abi.Imports) int64 { return int64(i.SetVerdict(2, 1, nil)) },
			func(i abi.Imports) int64 { return int64(i.SetVerdict(abi.VerdictEscalate, 120, b("refusal"))) },
		)},
		{"failure discards everything", all(
			func(i abi.Imports) int64 { return int64(i.ReplaceText(1, 0, 3, b("Fix"))) },
			func(i abi.Imports) int64 { return int64(i.AddTag(b("k"), b("v"))) },
			func(i abi.Imports) int64 { return int64(i.SetError(b("gave up"))) },
			func(i abi.Imports) int64 { return int64(abi.StatusError) },
		)},
	}
	for _, tt := range tests {
		for _, stage := range []abi.Stage{abi.StageRequest, abi.StageRoute, abi.StageResponse} {
			t.Run(tt.name+"/"+stage.String(), func(t *testing.T) {
				var hostRets, testRets []int64
				handler := func(rets *[]int64) func(c *abi.Call) abi.Status {
					return func(c *abi.Call) abi.Status {
						*rets = tt.run(c.Imports())
						if last := (*rets)[len(*rets)-1]; last == int64(abi.StatusError) {
							return abi.StatusError
						}
						return abi.StatusOK
					}
				}
				var out Output
				st := RunNative("p", stage, b(req.Config), in, &out, handler(&hostRets))
				res := abitest.Run(stage, req, handler(&testRets))
				if !reflect.DeepEqual(hostRets, testRets) {
					t.Fatalf("return values differ:\nhost    %v\nabitest %v", hostRets, testRets)
				}
				if got, want := describeResult(res), describeOutput(st, &out); got != want {
					t.Fatalf("decisions differ:\nhost    %s\nabitest %s", want, got)
				}
			})
		}
	}
	if msg := abitest.Configure(`{"x":1}`, func(c []byte) string { return "no x: " + string(c) }); msg != `no x: {"x":1}` {
		t.Fatalf("Configure = %q", msg)
	}
}

func describeResult(r abitest.Result) string {
	var s strings.Builder
	fmt.Fprintf(&s, "status=%v", r.Status)
	if r.Status != abi.StatusOK {
		fmt.Fprintf(&s, " error=%q", r.Error)
		return s.String()
	}
	if r.Route.Set {
		fmt.Fprintf(&s, " route=%s/%v/%s/%v", r.Route.Model, r.Route.Tier, r.Route.Reason, r.Route.Ambiguous)
	}
	if r.Respond.Set {
		fmt.Fprintf(&s, " respond=%d %s", r.Respond.Status, r.Respond.Body)
	}
	if r.Verdict.Set {
		fmt.Fprintf(&s, " verdict=%v/%d/%s", r.Verdict.Escalate, r.Verdict.Score, r.Verdict.Reason)
	}
	for _, m := range r.Messages {
		fmt.Fprintf(&s, " [%s %q]", m.Role, m.Text)
	}
	fmt.Fprintf(&s, " removed=%v", r.Removed)
	for _, tag := range r.Tags {
		fmt.Fprintf(&s, " tag=%s=%s", tag[0], tag[1])
	}
	return s.String()
}

func describeOutput(st abi.Status, o *Output) string {
	var s strings.Builder
	fmt.Fprintf(&s, "status=%v", st)
	if st != abi.StatusOK {
		fmt.Fprintf(&s, " error=%q", o.Failures[0].Detail)
		return s.String()
	}
	if o.Route.Set {
		fmt.Fprintf(&s, " route=%s/%v/%s/%v", o.Route.Model, o.Route.Tier, o.Route.Reason, o.Route.Ambiguous)
	}
	if o.Response.Set {
		fmt.Fprintf(&s, " respond=%d %s", o.Response.Status, o.Response.Body)
	}
	if o.Verdict.Set {
		fmt.Fprintf(&s, " verdict=%v/%d/%s", o.Verdict.Escalate, o.Verdict.Score, o.Verdict.Reason)
	}
	for _, m := range o.Messages() {
		fmt.Fprintf(&s, " [%s %q]", m.Role, m.Text)
	}
	removed := [abi.NumRemovals]int{}
	for k := range removed {
		removed[k] = int(o.RemovedBytes(abi.Removal(k)))
	}
	fmt.Fprintf(&s, " removed=%v", removed)
	for _, tag := range o.Tags {
		fmt.Fprintf(&s, " tag=%s=%s", tag.Key, tag.Value)
	}
	return s.String()
}
