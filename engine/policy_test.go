package engine

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/providers/providertest"
)

func TestAutoRoutingWithMockOnly(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"what is a goroutine?"}]}`, nil)
	if status != 200 || hdr.Get("X-Gateway-Provider") != "mock" || hdr.Get("X-Gateway-Route-Reason") == "" {
		t.Fatalf("%d %v %s", status, hdr, body)
	}
}

// TestAutoRoutingPicksTiers: with the default (learned) router, a request
// with tools goes to a tier whose model can call tools, the route reason
// says why, and the threshold knob moves a request between the tiers per
// request (X-Gateway-Route-Threshold: 0 sends everything to strong, 1 to
// the cheapest tier).
func TestAutoRoutingPicksTiers(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = up.Close() })
	toml := `
[routing.tiers]
fast = "openai/gpt-4o-mini"
strong = "openai/gpt-4.1"
reasoning = "openai/o3"
`
	g := startGateway(t, toml, map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	const deep = `{"model":"auto","messages":[{"role":"user","content":"Plan the architecture migration of our distributed system to kubernetes with terraform, covering security audit and scalability"}]}`
	tests := []struct {
		name, body, threshold string
		models                []string // any of these
	}{
		{"tools go to a tool-capable tier", `{"model":"auto","messages":[{"role":"user","content":"list files"}],"tools":[{"type":"function","function":{"name":"ls"}}]}`, "", []string{"gpt-4o-mini", "gpt-4.1", "o3"}},
		{"threshold 0 sends to strong", deep, "0", []string{"gpt-4.1", "o3"}},
		{"threshold 1 sends to the cheapest tier", deep, "1", []string{"gpt-4o-mini"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdrs map[string]string
			if tc.threshold != "" {
				hdrs = map[string]string{"X-Gateway-Route-Threshold": tc.threshold}
			}
			status, hdr, body := g.post(t, "/v1/chat/completions", tc.body, hdrs)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			if hdr.Get("X-Gateway-Route-Reason") == "" {
				t.Fatal("no route reason")
			}
			if !slices.Contains(tc.models, hdr.Get("X-Gateway-Model")) {
				t.Fatalf("model %q (reason %q), want one of %v", hdr.Get("X-Gateway-Model"), hdr.Get("X-Gateway-Route-Reason"), tc.models)
			}
		})
	}
}

func TestSkills(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	status, _, body := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"crash on nil map"}]}`,
		map[string]string{"X-Gateway-Skill": "systematic-debugging"})
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	sent := string(up.Last().Body)
	if !strings.Contains(sent, `Be kind.`) || !strings.Contains(sent, skillTemplate(t, "systematic-debugging")[1:60]) {
		t.Fatalf("skill not applied: %s", sent)
	}
	status, _, body = g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, map[string]string{"X-Gateway-Skill": "no-such-skill"})
	if status != 400 || !strings.Contains(body, "quick-fix") || !strings.Contains(body, "no-such-skill") {
		t.Fatalf("unknown skill: %d %s", status, body)
	}
}

// TestEditsKeepUntouchedBytes: a policy edit (the skill's system prompt)
// leaves every other message byte for byte as the client sent it.
func TestEditsKeepUntouchedBytes(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	tail := `{"role":"user","content":"caf\u00e9  first"} ,  {"role":"assistant","content":"ok"},{"role":"user","content":"@quick-fix the typo"}`
	status, _, body := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[`+tail+`]}`, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	sent := string(up.Last().Body)
	if !strings.Contains(sent, `{"role":"user","content":"caf\u00e9  first"} ,  {"role":"assistant","content":"ok"}`) {
		t.Fatalf("untouched messages changed: %s", sent)
	}
}

// TestPhase2Classifier: with a classifier model configured, a request the
// router scores within the margin of its threshold goes to the classifier,
// whose answer picks the tier (margin 0.5 around 0.5: every request).
func TestPhase2Classifier(t *testing.T) {
	t.Parallel()
	ol, _ := providertest.StartOllama(&providertest.Ollama{Reply: "```json\n{\"tier\": \"strong\", \"reason\": \"multi-file change\"}\n```"})
	t.Cleanup(func() { _ = ol.Close() })
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "done"})
	t.Cleanup(func() { _ = oa.Close() })
	toml := `
[routing]
classifier_model = "ollama/qwen2.5-coder"
threshold = 0.5
ambiguous_margin = 0.5
[routing.tiers]
local = "ollama/qwen2.5-coder"
fast = "openai/gpt-4o-mini"
strong = "openai/gpt-4.1"
`
	g := startGateway(t, toml, map[string]string{"LOCAL_LLM_BASE_URL": ol.URL, "OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1"})
	body := `{"model":"auto","messages":[{"role":"user","content":"We need to change how sessions expire in the service and make the timeout configurable per tenant."}]}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	reason := hdr.Get("X-Gateway-Route-Reason")
	if !strings.HasPrefix(reason, "phase 2: strong") || hdr.Get("X-Gateway-Model") != "gpt-4.1" {
		t.Fatalf("phase 2 not used: reason %q, model %q", reason, hdr.Get("X-Gateway-Model"))
	}
	if !strings.Contains(string(ol.Last().Body), "Classify this request") {
		t.Fatalf("classifier prompt not sent: %s", ol.Last().Body)
	}
}

// TestStripperSavings: chat-template markers a client sent are stripped
// before the upstream, and the removed tokens are credited at the model's
// input price.
func TestStripperSavings(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok", PromptTokens: 50})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	body := `{"model":"gpt-4o","messages":[{"role":"system","content":"You are Continue."},{"role":"user","content":"<|im_start|>user\nHow do I read a file line by line in Go?<|im_end|>\n"},{"role":"assistant","content":"<|im_start|>assistant\nUse bufio.Scanner.<|im_end|>"},{"role":"user","content":"<|start_header_id|>user<|end_header_id|>\n\nAnd how do I skip blank lines?<|eot_id|>"}]}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	sent := string(up.Last().Body)
	// User turns lose their markers (assistant turns are the model's own
	// words and stay byte-identical).
	if strings.Contains(sent, "<|im_start|>user") || strings.Contains(sent, "<|eot_id|>") {
		t.Fatalf("markers reached the upstream: %s", sent)
	}
	// The removed tokens are counted after the answer is sent: the header
	// cannot carry them, the usage can.
	if hdr.Get("X-Gateway-Saved-USD") != "0.00000000" {
		t.Fatalf("saved header %q: only what is known when the answer leaves (none here)", hdr.Get("X-Gateway-Saved-USD"))
	}
	if saved := g.savedUSD(accounting.Strip); saved <= 0 {
		t.Fatalf("no stripping savings credited: %v", saved)
	}
}

// TestFileDedup: a file re-sent unchanged later in the same conversation is
// replaced by a reference at its later occurrence; the earlier messages reach
// the upstream byte for byte.
func TestFileDedup(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok", PromptTokens: 900})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	file := strings.Repeat(`func add(a, b int) int { return a + b } // keep it simple\n`, 20)
	first := `{"role":"user","content":"Here is the file:\n\n` + "```go cart/add.go\\n" + file + "```" + `\n\nWhy is it slow?"}`
	body := `{"model":"gpt-4o","messages":[` + first + `,{"role":"assistant","content":"It is not."},{"role":"user","content":"Again:\n\n` + "```go cart/add.go\\n" + file + "```" + `\n\nAre you sure?"}]}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	sent := string(up.Last().Body)
	if !strings.Contains(sent, first) {
		t.Fatalf("the first occurrence changed: %s", sent)
	}
	if strings.Count(sent, "keep it simple") != 20 || !strings.Contains(sent, "unchanged: cart/add.go") {
		t.Fatalf("the repeated file was not replaced: %s", sent)
	}
	if saved := g.savedUSD(accounting.Dedup); saved <= 0 {
		t.Fatalf("no dedup savings credited: %v (saved header %q)", saved, hdr.Get("X-Gateway-Saved-USD"))
	}
}

// TestCascade: with cascade routing, a routed cheap tier answers first; the
// judge keeps a good answer and escalates a refusal to the next tier.
func TestCascade(t *testing.T) {
	t.Parallel()
	good, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "A goroutine is a lightweight thread managed by the Go runtime."})
	t.Cleanup(func() { _ = good.Close() })
	refuse, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "I'm sorry, I can't help with that."})
	t.Cleanup(func() { _ = refuse.Close() })
	strong, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Strong answer."})
	t.Cleanup(func() { _ = strong.Close() })
	toml := func(cheapURL string) string {
		return `
[routing]
cascade = true
[routing.tiers]
fast = "cheap/m"
strong = "strong/m"
[providers.cheap]
kind = "openai"
base_url = "` + cheapURL + `/v1"
[providers.strong]
kind = "openai"
base_url = "` + strong.URL + `/v1"
`
	}
	body := `{"model":"auto","stream":true,"messages":[{"role":"user","content":"what is a goroutine?"}]}`
	g := startGateway(t, toml(good.URL), nil)
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 || !strings.Contains(hdr.Get("X-Gateway-Route-Reason"), "cascade: accepted") || !strings.Contains(resp, "lightweight") || !strings.HasSuffix(resp, "data: [DONE]\n\n") {
		t.Fatalf("accept: %d %v %s", status, hdr, resp)
	}
	g2 := startGateway(t, toml(refuse.URL), nil)
	status, hdr, resp = g2.post(t, "/v1/chat/completions", body, nil)
	if status != 200 || !strings.Contains(hdr.Get("X-Gateway-Route-Reason"), "cascade: escalated") || !strings.Contains(resp, "Strong") || hdr.Get("X-Gateway-Provider") != "strong" {
		t.Fatalf("escalate: %d %v %s", status, hdr, resp)
	}
}

// TestQuietReleaseClosesRouterInstances: after a burst of "auto" requests
// through the built-in router, the quiet trim's release (what cmd/gateway's
// memtrim hook calls) closes the router's instances as
// policy_quiet_release says, and the next request instantiates again and is
// routed as before.
func TestQuietReleaseClosesRouterInstances(t *testing.T) {
	t.Parallel()
	const auto = `{"model":"auto","messages":[{"role":"user","content":"what is a goroutine?"}]}`
	for _, tc := range []struct {
		mode     string
		released bool
	}{
		{"code", true},
		{"instances", true},
		{"off", false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, "policy_quiet_release = \""+tc.mode+"\"\n", nil)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range 5 {
						if status, _, body := g.post(t, "/v1/chat/completions", auto, nil); status != 200 {
							t.Errorf("burst: %d %s", status, body)
						}
					}
				})
			}
			wg.Wait()
			before, _ := g.srv.policies.Get("router")
			if before.Instances < 1 || before.MemoryBytes < 1<<20 {
				t.Fatalf("after the burst the router has %d instances, %d bytes", before.Instances, before.MemoryBytes)
			}
			counted := quietInstances.Get()
			closed, bytes := g.srv.ReleaseIdle(0)
			if got := quietInstances.Get() - counted; got < uint64(closed) {
				t.Fatalf("gateway_policy_quiet_released_instances_total rose by %d for %d instances closed", got, closed)
			}
			after, _ := g.srv.policies.Get("router")
			if tc.released && (after.Instances != 0 || after.MemoryBytes != 0 || closed < before.Instances || bytes < before.MemoryBytes) {
				t.Fatalf("release closed %d instances (%d bytes); the router went from %d instances (%d bytes) to %d (%d bytes)",
					closed, bytes, before.Instances, before.MemoryBytes, after.Instances, after.MemoryBytes)
			}
			if !tc.released && (closed != 0 || after.Instances != before.Instances) {
				t.Fatalf("policy_quiet_release = off closed %d instances (router %d → %d)", closed, before.Instances, after.Instances)
			}
			status, hdr, body := g.post(t, "/v1/chat/completions", auto, nil)
			if status != 200 || hdr.Get("X-Gateway-Route-Reason") == "" {
				t.Fatalf("after the release: %d %v %s", status, hdr, body)
			}
			if again, _ := g.srv.policies.Get("router"); again.Instances < 1 {
				t.Fatalf("the router served a request with %d instances", again.Instances)
			}
		})
	}
}
