package engine

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/prune"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/wasm"
)

// randConv writes a random agent conversation whose JSON varies the way
// clients' does: member order (messages before model, or after), white
// space, unknown members at every level, unicode escapes, string or
// parts content, parallel tool calls answered in any order.
func randConv(rng *rand.Rand) string {
	ws := func() string { return []string{"", " ", "\n  ", "\t"}[rng.Intn(4)] }
	obj := func(members ...string) string {
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		return "{" + ws() + strings.Join(members, ","+ws()) + ws() + "}"
	}
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString([]string{"func main() {", `\u00e9t\u00e9`, `\ud83d\ude00`, `\"quoted\"`, `\n`, "x := 1", `\\path`}[rng.Intn(7)])
		}
		return `"` + b.String() + `"`
	}
	content := func(n int) string {
		if rng.Intn(3) == 0 {
			return `"content":` + ws() + `[{"type":"text","text":` + text(n) + `}]`
		}
		return `"content":` + ws() + text(n)
	}
	unknown := func() []string {
		if rng.Intn(2) == 0 {
			return nil
		}
		return []string{`"x_meta":{"k":[1,2,{"z":null}]}`}
	}
	msgs := []string{obj(append(unknown(), `"role":"system"`, content(200))...), obj(`"role":"user"`, content(100))}
	turns := 2 + rng.Intn(8)
	for t := 0; t < turns; t++ {
		n := 1 + rng.Intn(3)
		var calls []string
		var ids []string
		for c := 0; c < n; c++ {
			id := fmt.Sprintf("call_%d_%d", t, c)
			ids = append(ids, id)
			args := fmt.Sprintf(`{\"path\":\"f%d.go\"}`, rng.Intn(4))
			calls = append(calls, obj(`"id":"`+id+`"`, `"type":"function"`, `"function":`+obj(`"name":"read_file"`, `"arguments":"`+args+`"`)))
		}
		am := []string{`"role":"assistant"`, `"tool_calls":[` + strings.Join(calls, ",") + `]`}
		if rng.Intn(2) == 0 {
			am = append(am, `"content":null`)
		}
		msgs = append(msgs, obj(am...))
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		for _, id := range ids {
			msgs = append(msgs, obj(append(unknown(), `"role":"tool"`, `"tool_call_id":"`+id+`"`, content(200+rng.Intn(3000)))...))
		}
		if rng.Intn(4) == 0 {
			msgs = append(msgs, obj(`"role":"user"`, content(50)))
		}
	}
	top := []string{`"messages":` + ws() + "[" + strings.Join(msgs, ","+ws()) + "]", `"model":"gpt-4o"`, `"temperature":0`, `"metadata":{"\u0061":"b"}`}
	return obj(top...)
}

// TestPruneKeepsToolCallIntegrity: over random conversations and settings,
// pruning through the engine's body rewrite keeps every message, role and
// tool_call_id, answers every tool call and calls every tool result, keeps
// every other member's bytes, and changes nothing before the first pruned
// message (the provider's cached prefix).
func TestPruneKeepsToolCallIntegrity(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(14))
	pruned := 0
	for iter := 0; iter < 300; iter++ {
		body := randConv(rng)
		cfg := prune.Config{Mode: prune.Budget, BudgetTokens: 200 + rng.Intn(3000), Target: 0.5 + rng.Float64()/2,
			KeepTurns: rng.Intn(3), MinTokens: rng.Intn(200)}
		x := &exchange{req: providers.AcquireRequest()}
		if err := x.req.Decode([]byte(body)); err != nil {
			t.Fatalf("iter %d: decode: %v\n%s", iter, err, body)
		}
		orig := bytes.Clone(x.req.Body)
		type msg struct {
			role, id, raw string
			calls         []string
		}
		var before []msg
		for _, m := range x.req.Messages {
			mm := msg{role: m.Role, id: m.ToolCallID, raw: string(orig[m.Span.Start:m.Span.End])}
			for _, c := range m.ToolCalls {
				mm.calls = append(mm.calls, c.ID+"/"+c.Name+"/"+c.Arguments)
			}
			before = append(before, mm)
		}
		res := prune.Plan(x.req, cfg, prune.Model{}, nil)
		if len(res.Edits) == 0 {
			providers.ReleaseRequest(x.req)
			continue
		}
		pruned++
		firstStart := x.req.Messages[res.Edits[0].Index].Span.Start
		finals := make([]wasm.FinalMessage, len(x.req.Messages))
		for i := range finals {
			finals[i] = wasm.FinalMessage{Orig: i}
		}
		edited := map[int]string{}
		for _, e := range res.Edits {
			finals[e.Index].Changed, finals[e.Index].Text = true, []byte(e.Text)
			edited[e.Index] = e.Text
		}
		if err := applyEdits(x, finals); err != nil {
			t.Fatalf("iter %d: %v\n%s", iter, err, body)
		}
		r := x.req
		if !bytes.Equal(r.Body[:firstStart], orig[:firstStart]) {
			t.Fatalf("iter %d: the prefix before the first pruned message changed", iter)
		}
		if len(r.Messages) != len(before) {
			t.Fatalf("iter %d: %d messages, want %d", iter, len(r.Messages), len(before))
		}
		calls, results := map[string]int{}, map[string]int{}
		for i, m := range r.Messages {
			b := before[i]
			if m.Role != b.role || m.ToolCallID != b.id {
				t.Fatalf("iter %d message %d: %s/%s, was %s/%s", iter, i, m.Role, m.ToolCallID, b.role, b.id)
			}
			var got []string
			for _, c := range m.ToolCalls {
				got = append(got, c.ID+"/"+c.Name+"/"+c.Arguments)
				calls[c.ID] = i
			}
			if strings.Join(got, "|") != strings.Join(b.calls, "|") {
				t.Fatalf("iter %d message %d: tool calls %v, were %v", iter, i, got, b.calls)
			}
			if m.Role == "tool" {
				results[m.ToolCallID] = i
			}
			raw := string(r.Body[m.Span.Start:m.Span.End])
			if s, ok := edited[i]; ok {
				if m.Role != "tool" || m.Text() != s {
					t.Fatalf("iter %d message %d: %s %q", iter, i, m.Role, m.Text())
				}
			} else if raw != b.raw {
				t.Fatalf("iter %d message %d changed:\n%s\n%s", iter, i, raw, b.raw)
			}
		}
		for id, ci := range calls {
			if ri, ok := results[id]; !ok || ri < ci {
				t.Fatalf("iter %d: call %s has no result after it", iter, id)
			}
		}
		for id, ri := range results {
			if ci, ok := calls[id]; !ok || ci > ri {
				t.Fatalf("iter %d: result %s has no call before it", iter, id)
			}
		}
		for _, f := range r.Fields {
			if f.Key == "messages" {
				continue
			}
			v := r.Body[f.ValStart:f.End]
			if !bytes.Contains(orig, append([]byte(`"`+f.Key+`":`), v...)) {
				t.Fatalf("iter %d: member %s = %s changed", iter, f.Key, v)
			}
		}
		providers.ReleaseRequest(r)
	}
	if pruned < 100 {
		t.Fatalf("only %d of 300 conversations were pruned: the test does not test much", pruned)
	}
}

// TestPruningThroughTheGateway: a project over its budget gets its stale
// tool output pruned before the upstream sees it, whatever the member
// order; the default configuration prunes nothing.
func TestPruningThroughTheGateway(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok", PromptTokens: 100})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"}
	big := strings.Repeat("line of a file\\n", 400)
	call := func(id, path string) string {
		return `{"role":"assistant","content":null,"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"` + path + `\"}"}}]},` +
			`{"content":"` + big + path + `","tool_call_id":"` + id + `","role":"tool"}`
	}
	msgs := `[{"role":"system","content":"agent"},{"role":"user","content":"fix it \u00e9"},` + call("c1", "a.go") + "," + call("c2", "b.go") + "," + call("c3", "c.go") + `]`
	orders := map[string]string{
		"messages first": `{"messages":` + msgs + `,"model":"gpt-4o","x_unknown":{"k":1}}`,
		"model first":    `{ "model" : "gpt-4o" , "x_unknown" : {"k":1}, "messages" : ` + msgs + ` }`,
	}
	g := startGateway(t, "[pruning]\nmode = \"budget\"\nbudget_tokens = 3000\ncost_aware = false\nmin_tokens = 100\n", env)
	for name, body := range orders {
		status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", name, status, resp)
		}
		sent := string(up.Last().Body)
		if hdr.Get("X-Gateway-Pruned-Tokens") == "" || strings.Count(sent, "[output pruned by the gateway") != 1 ||
			!strings.Contains(sent, `"x_unknown"`) || !strings.Contains(sent, "c.go\"") || strings.Contains(sent, big+"a.go") {
			t.Fatalf("%s: pruned %q; upstream got %s", name, hdr.Get("X-Gateway-Pruned-Tokens"), sent)
		}
	}
	// Default configuration: nothing pruned.
	g2 := startGateway(t, "", env)
	status, hdr, _ := g2.post(t, "/v1/chat/completions", orders["messages first"], nil)
	if status != 200 || hdr.Get("X-Gateway-Pruned-Tokens") != "" || strings.Contains(string(up.Last().Body), "pruned by the gateway") {
		t.Fatalf("default config pruned: %d %v", status, hdr)
	}
}

func TestPruningConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, toml, err string }{
		{name: "default", toml: ""},
		{name: "budget without budget", toml: "[pruning]\nmode = \"budget\"\n", err: "budget_tokens"},
		{name: "bad mode", toml: "[pruning]\nmode = \"always\"\n", err: "expected off, window or budget"},
		{name: "project override", toml: "[pruning.projects.acme]\nmode = \"budget\"\nbudget_tokens = 20000\n"},
		{name: "project without budget", toml: "[pruning.projects.acme]\nmode = \"budget\"\n", err: "pruning.projects.acme"},
		{name: "bad target", toml: "[pruning]\ntarget = 1.5\n", err: "target"},
		{name: "unknown key", toml: "[pruning]\nbudget = 3\n", err: "budget"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Defaults()
			err := decodeStrict(tt.toml, &cfg)
			if err == nil {
				err = cfg.Validate(func(string) string { return "" })
			}
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
	cfg := Defaults()
	if err := decodeStrict("[pruning]\nkeep_turns = 4\n[pruning.projects.acme]\nmode = \"budget\"\nbudget_tokens = 9000\n", &cfg); err != nil {
		t.Fatal(err)
	}
	if p := cfg.Pruning.forProject("acme"); p.Mode != prune.Budget || p.BudgetTokens != 9000 || p.KeepTurns != 4 || !p.CostAware {
		t.Fatalf("acme: %+v", p)
	}
	if p := cfg.Pruning.forProject("other"); p.Mode != prune.Off {
		t.Fatalf("other: %+v", p)
	}
}

// TestPruningSummaries: with summarize, each pruned output's stub carries
// the cheap model's summary, made through the upstream path and charged to
// the request; the next turn reuses the same stub without a new call.
func TestPruningSummaries(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "a.go defines main", PromptTokens: 1000})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"}
	g := startGateway(t, "[pruning]\nmode = \"budget\"\nbudget_tokens = 3000\ncost_aware = false\nmin_tokens = 100\nsummarize = true\nsummary_model = \"openai/gpt-4o-mini\"\n", env)
	big := strings.Repeat("line of a file\\n", 400)
	call := func(id, path string) string {
		return `{"role":"assistant","content":null,"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"` + path + `\"}"}}]},` +
			`{"role":"tool","tool_call_id":"` + id + `","content":"` + big + path + `"}`
	}
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"fix it"},` + call("c1", "a.go") + "," + call("c2", "b.go") + "," + call("c3", "c.go") + `]}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	reqs := up.Requests()
	if len(reqs) != 2 || !strings.Contains(string(reqs[0].Body), "Summarise this tool output") || !strings.Contains(string(reqs[0].Body), `"gpt-4o-mini"`) {
		t.Fatalf("want one summary call then the request: %d calls", len(reqs))
	}
	if sent := string(reqs[1].Body); !strings.Contains(sent, "Summary: a.go defines main]") {
		t.Fatalf("stub without summary: %s", sent)
	}
	// gpt-4o: 1000 prompt tokens and 4 output tokens; the summary call
	// (gpt-4o-mini) adds its own cost.
	if hdr.Get("X-Gateway-Cost-USD") <= "0.00254000" {
		t.Fatalf("summary not charged: %s", hdr.Get("X-Gateway-Cost-USD"))
	}
	first := string(reqs[1].Body)
	g.post(t, "/v1/chat/completions", body, map[string]string{"X-Gateway-Cache": "bypass"})
	if reqs = up.Requests(); len(reqs) != 3 || string(reqs[2].Body) != first {
		t.Fatalf("second turn: %d calls; same body: %v", len(reqs), string(reqs[len(reqs)-1].Body) == first)
	}
}
