package engine

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/providers/providertest"
)

// The reproduction: a skill edits the messages of a body whose
// "model" follows "messages" (the OpenAI Python SDK's order).
func TestPolicyEditWithModelLast(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	body := `{"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"func add(a, b int) int { return a - b }"}],"model":"mock/echo"}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, map[string]string{"X-Gateway-Skill": "code-review"})
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	if got := hdr.Get("X-Gateway-Model"); got != "echo" {
		t.Fatalf("served by %q", got)
	}
}

// Usage rows and metric series must not point into pooled request memory:
// mixed traffic with random member orders and unknown models, while the
// admin usage and metrics endpoints are read, under -race.
func TestUsageRowsSurviveBufferReuse(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": "admin-key"})
	models := []string{"mock/echo", "mock/unknown-model", "mock/other-unknown", "nope/x", "mock/echo"}
	const workers, perWorker = 4, 40
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				model := models[rng.IntN(len(models))]
				members := []string{
					`"model":` + quoteJSON(model),
					`"messages":[{"role":"user","content":"hello ` + fmt.Sprint(i) + `"}]`,
					`"temperature":0`,
					`"x_unknown":{"a":[1,2]}`,
				}
				rng.Shuffle(len(members), func(a, b int) { members[a], members[b] = members[b], members[a] })
				hdr := map[string]string{}
				if i%3 == 0 {
					hdr["X-Gateway-Skill"] = "code-review"
				}
				status, _, body := g.post(t, "/v1/chat/completions", "{"+strings.Join(members, ",")+"}", hdr)
				if status != 200 && status != 404 {
					errs <- fmt.Sprintf("%s: %d %s", model, status, body)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 30 {
			status, body := g.get(t, "/admin/usage", map[string]string{"Authorization": "Bearer admin-key"})
			if status != 200 || !json.Valid([]byte(body)) {
				errs <- fmt.Sprintf("usage: %d %s", status, body)
			}
			if status, _ := g.get(t, "/metrics", map[string]string{"Authorization": "Bearer admin-key"}); status != 200 {
				errs <- fmt.Sprintf("metrics: %d", status)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	_, body := g.get(t, "/admin/usage", map[string]string{"Authorization": "Bearer admin-key"})
	var doc struct {
		Rows []struct {
			Model    string `json:"model"`
			Requests int    `json:"requests"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	total := 0
	seen := map[string]bool{}
	for _, r := range doc.Rows {
		if seen[r.Model] {
			t.Errorf("model %q has two rows", r.Model)
		}
		seen[r.Model] = true
		total += r.Requests
		switch r.Model {
		case "mock/echo", "mock/unknown-model", "mock/other-unknown", "nope/x": // the ledger keeps the requested name of an unknown model
		default:
			t.Errorf("usage row for a model nobody asked for: %q", r.Model)
		}
	}
	if total != workers*perWorker {
		t.Errorf("usage counts %d requests, sent %d", total, workers*perWorker)
	}
}

func quoteJSON(s string) string { b, _ := json.Marshal(s); return string(b) }

var fullOrders = flag.Bool("full", false, "TestEditsAcrossMemberOrders: every member order for every provider kind")

// memberOrders returns every permutation of n indexes.
func memberOrders(n int) [][]int {
	var out [][]int
	var perm func(p []int, k int)
	perm = func(p []int, k int) {
		if k == len(p) {
			out = append(out, append([]int(nil), p...))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			perm(p, k+1)
			p[k], p[i] = p[i], p[k]
		}
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	perm(p, 0)
	return out
}

// orderedMembers returns the top-level member names of a JSON object in
// order, and each one's raw value bytes.
func orderedMembers(t *testing.T, body []byte) ([]string, map[string]string) {
	t.Helper()
	ms, err := topMembers(body)
	if err != nil {
		t.Fatalf("upstream body is not a JSON object: %v\n%s", err, body)
	}
	var keys []string
	vals := map[string]string{}
	for _, m := range ms {
		keys = append(keys, m.key)
		vals[m.key] = string(m.val)
	}
	return keys, vals
}

// decodedText joins every string in a JSON document, decoded.
func decodedText(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	var sb strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			sb.WriteString(x)
			sb.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return sb.String()
}

// editCase is one configuration of the built-in request edits.
type editCase struct {
	name                      string
	strip, dedup, diff, skill bool
}

var editCases = []editCase{
	{name: "stripper", strip: true},
	{name: "dedup", dedup: true},
	{name: "skills", skill: true},
	{name: "diff-first", diff: true},
	{name: "all", strip: true, dedup: true, diff: true, skill: true},
}

func onOff(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// integrityMessages is a conversation that every built-in edit changes:
// chat-template markers (stripper), a code-change request (diff-first) and
// a file read twice (dedup, from the dedup policy's own test case).
func integrityMessages(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../policies/dedup/testdata/cases/path-hints.json")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Request struct {
			Messages []json.RawMessage `json:"messages"`
		} `json:"request"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	msgs := []string{
		`{"role":"system","content":"You are a careful Go and TypeScript engineer."}`,
		` { "content" : "<|im_start|>user\nFix the bug in server/handler.go: getOrder must answer 400 for a bad id.<|im_end|>", "role":"user" }`,
	}
	for _, m := range c.Request.Messages {
		msgs = append(msgs, string(m))
	}
	return "[" + strings.Join(msgs, ",\n ") + "]"
}

// TestEditsAcrossMemberOrders is the property behind issue 9: for every
// order of the top-level members, each built-in edit alone and all of them,
// and each provider kind, the upstream receives what the model-first body
// produces — for OpenAI byte for byte: model rewritten, messages edited,
// every other member's bytes the client's, in the client's order.
func TestEditsAcrossMemberOrders(t *testing.T) {
	t.Parallel()
	messages := integrityMessages(t)
	clientVals := []struct{ key, val string }{
		{"model", ""}, // per provider
		{"messages", messages},
		{"tools", `[ {"type":"function","function":{"name":"read_file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}} ]`},
		{"stream", `false`},
		{"temperature", `0.25`},
		{"x_client_trace", `{"id":"abc\u00e9","n":[1, 2 ,3]}`},
	}
	orders := memberOrders(len(clientVals))
	if testing.Short() {
		var few [][]int
		for i := 0; i < len(orders); i += 37 {
			few = append(few, orders[i])
		}
		orders = few
	}
	var skillLine string
	for _, sk := range policies.DefaultSkills() {
		if sk.ID == "code-review" {
			skillLine, _, _ = strings.Cut(sk.Template, "\n")
		}
	}
	if skillLine == "" {
		t.Fatal("no code-review skill")
	}
	for _, ec := range editCases {
		t.Run(ec.name, func(t *testing.T) {
			t.Parallel()
			oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
			an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "ok"})
			ge, _ := providertest.StartGemini(&providertest.Gemini{Reply: "ok"})
			ol, _ := providertest.StartOllama(&providertest.Ollama{Reply: "ok"})
			t.Cleanup(func() { _ = oa.Close(); _ = an.Close(); _ = ge.Close(); _ = ol.Close() })
			// A policy past its deadline is skipped (fail-open), which
			// would change the edits; a loaded test machine must not.
			g := startGateway(t, `policy_timeout = "30s"`, map[string]string{
				"OPENAI_API_KEY": "sk-o", "OPENAI_BASE_URL": oa.URL + "/v1",
				"ANTHROPIC_API_KEY": "sk-a", "ANTHROPIC_BASE_URL": an.URL,
				"GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": ge.URL,
				"LOCAL_LLM_BASE_URL":     ol.URL,
				"STRIP_IDE_BOILERPLATE":  onOff(ec.strip),
				"ENABLE_FILE_HASH_CACHE": onOff(ec.dedup),
				"ENFORCE_DIFF_FIRST":     onOff(ec.diff),
			})
			hdr := map[string]string{"X-Gateway-Cache": "bypass"}
			if ec.skill {
				hdr["X-Gateway-Skill"] = "code-review"
			}
			kinds := []struct {
				model string
				up    *providertest.Server
			}{
				{"openai/gpt-4o", oa}, {"anthropic/claude-sonnet-4-5", an}, {"gemini/gemini-2.0-flash", ge},
				{"ollama/qwen2.5-coder", ol}, {"mock/echo", nil},
			}
			for _, k := range kinds {
				upstreamModel := k.model[strings.IndexByte(k.model, '/')+1:]
				var canon []byte
				for oi, order := range orders {
					// Every order for the OpenAI passthrough, whose bytes
					// must match member for member; every sixth for the
					// translators (all 720 under -full), which still puts
					// model before and after messages in every position.
					if k.model != "openai/gpt-4o" && oi%6 != 0 && !*fullOrders {
						continue
					}
					var parts []string
					for _, i := range order {
						v := clientVals[i].val
						if clientVals[i].key == "model" {
							v = quoteJSON(k.model)
						}
						parts = append(parts, quoteJSON(clientVals[i].key)+":"+v)
					}
					body := "{" + strings.Join(parts, ",") + "}"
					status, rh, resp := g.post(t, "/v1/chat/completions", body, hdr)
					if status != 200 || rh.Get("X-Gateway-Model") != upstreamModel {
						t.Fatalf("%s order %v: %d model %q: %s", k.model, order, status, rh.Get("X-Gateway-Model"), resp)
					}
					if k.up == nil {
						continue
					}
					got := k.up.Last().Body
					if oi == 0 {
						canon = got
						checkEdits(t, k.model, ec, skillLine, messages, got)
					}
					if k.model != "openai/gpt-4o" {
						if string(got) != string(canon) {
							t.Fatalf("%s order %v: upstream body differs from the model-first one\n got %s\nwant %s", k.model, order, got, canon)
						}
						continue
					}
					keys, vals := orderedMembers(t, got)
					_, canonVals := orderedMembers(t, canon)
					var wantKeys []string
					for _, i := range order {
						wantKeys = append(wantKeys, clientVals[i].key)
					}
					// OpenAI gets the conversation's prompt_cache_key after
					// the client's members (engine/promptkey.go).
					wantKeys = append(wantKeys, "prompt_cache_key")
					if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
						t.Fatalf("order %v: upstream members %v, want %v", order, keys, wantKeys)
					}
					for _, cv := range clientVals {
						want := cv.val
						switch cv.key {
						case "model":
							want = quoteJSON(upstreamModel)
						case "messages":
							want = canonVals["messages"]
						}
						if got := vals[cv.key]; got != want {
							i := 0
							for i < len(got) && i < len(want) && got[i] == want[i] {
								i++
							}
							t.Fatalf("order %v: member %s differs at byte %d: got …%s… want …%s…", order, cv.key, i, excerpt(got, i), excerpt(want, i))
						}
					}
				}
			}
		})
	}
}

// checkEdits verifies that the model-first request carried each enabled
// edit, and no other.
func checkEdits(t *testing.T, model string, ec editCase, skillLine, clientMessages string, upstream []byte) {
	t.Helper()
	text := decodedText(t, upstream)
	client := decodedText(t, []byte(clientMessages))
	if has := strings.Contains(text, "<|im_end|>"); has == ec.strip {
		t.Errorf("%s: stripper %v, but the marker present upstream = %v", model, ec.strip, has)
	}
	const file = "func (s *Server) getOrder"
	if n, c := strings.Count(text, file), strings.Count(client, file); (n < c) != ec.dedup {
		t.Errorf("%s: dedup %v, file copies client %d upstream %d", model, ec.dedup, c, n)
	}
	if has := strings.Contains(text, skillLine); has != ec.skill {
		t.Errorf("%s: skill %v, template present upstream = %v", model, ec.skill, has)
	}
	if has := strings.Contains(text, "Editing policy: when you change code"); has != ec.diff {
		t.Errorf("%s: diff-first %v, rule present upstream = %v", model, ec.diff, has)
	}
}

func excerpt(s string, i int) string {
	lo, hi := max(0, i-80), min(len(s), i+160)
	return s[lo:hi]
}
