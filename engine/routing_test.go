package engine

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/policies/router/routetrain"
)

func (g *gw) putWeights(t *testing.T, b []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", g.url+"/admin/routing/weights", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// tinyLabelled is a labelled file where haikus are as good from the weak
// model and proofs need the strong one.
func tinyLabelled() string {
	var b strings.Builder
	topics := []string{"autumn", "rain", "cats", "the sea", "mountains", "coffee", "winter", "spring", "trains", "the moon", "bread", "rivers"}
	for i, tp := range topics {
		fmt.Fprintf(&b, `{"id":"h%d","messages":[{"role":"user","content":"Write a haiku about %s."}],"strong":0.8,"weak":0.8}`+"\n", i, tp)
		fmt.Fprintf(&b, `{"id":"p%d","messages":[{"role":"user","content":"Prove the theorem about %s step by step, with a rigorous proof."}],"strong":0.9,"weak":0.1}`+"\n", i, tp)
	}
	return b.String()
}

func routeReason(t *testing.T, g *gw, prompt string) string {
	t.Helper()
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"`+prompt+`"}]}`, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	return hdr.Get("X-Gateway-Route-Reason")
}

// A model trained on a tiny labelled file, uploaded to a running gateway,
// changes its routing at once; DELETE goes back to the embedded model.
func TestRouterWeightsUploadChangesRouting(t *testing.T) {
	t.Parallel()
	recs, err := routetrain.Read(strings.NewReader(tinyLabelled()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := routetrain.Train(recs, routetrain.Options{Seed: 1, StrongShare: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("data_dir = %q\n", t.TempDir())
	g := startGateway(t, toml, map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	const haiku, proof = "Write a haiku about the city.", "Prove the theorem about the city step by step, with a rigorous proof."
	// With the embedded model both go to the same tier under a threshold
	// that the uploaded model's scores straddle.
	if status, body := g.putWeights(t, []byte("not weights")); status != 400 || !strings.Contains(body, "invalid_weights") {
		t.Fatalf("bad weights accepted: %d %s", status, body)
	}
	if status, body := g.putWeights(t, m.Encode()); status != 200 || !strings.Contains(body, `"source":"upload"`) {
		t.Fatalf("upload: %d %s", status, body)
	}
	h, p := routeReason(t, g, haiku), routeReason(t, g, proof)
	if !strings.HasPrefix(h, "fast: learned") || !strings.HasPrefix(p, "strong: learned") {
		t.Fatalf("after upload: haiku %q, proof %q; want fast and strong", h, p)
	}
	req, _ := http.NewRequest("DELETE", g.url+"/admin/routing/weights", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if status, body := g.get(t, "/admin/routing/weights", map[string]string{"Authorization": "Bearer " + adminKey}); status != 200 || !strings.Contains(body, `"source":"builtin"`) {
		t.Fatalf("after delete: %d %s", status, body)
	}
}

// With the default routing config phase 2 is never called: every auto
// request makes exactly one upstream call.
func TestDefaultConfigNeverCallsPhase2(t *testing.T) {
	t.Parallel()
	up := startScripted(t, &scripted{})
	g := startGateway(t, upstreamTOML("openai", up.URL, "")+`
[routing.tiers]
fast = "up/m"
strong = "up/m"
`, nil)
	if g.srv.classifier != nil {
		t.Fatal("a phase-2 classifier exists with the default config")
	}
	prompts := []string{"hi", "What is a monad?", "Write a haiku about autumn.", "Refactor the payment service to use the new ledger API across all modules.",
		"Tell me about the trade-offs in our approach here.", "Explain this code", "Plan the migration of our Kubernetes infrastructure.", "Summarize this text: lorem ipsum"}
	for _, pr := range prompts {
		if r := routeReason(t, g, pr); strings.Contains(r, "phase 2") || strings.Contains(r, "ambiguous") {
			t.Fatalf("%q: %q", pr, r)
		}
	}
	if n := up.Hits.Load(); n != int64(len(prompts)) {
		t.Fatalf("%d upstream calls for %d requests", n, len(prompts))
	}
}

// The example: a request with two tools goes to a tool-capable
// tier even when the router would choose the cheap one.
func TestToolRequestGoesToToolCapableTier(t *testing.T) {
	t.Parallel()
	up := startScripted(t, &scripted{})
	g := startGateway(t, upstreamTOML("openai", up.URL, "")+`
[[models]]
name = "up/small"
provider = "up"
upstream = "small"
tools = false
[[models]]
name = "up/big"
provider = "up"
upstream = "big"
tools = true
[routing]
threshold = 0.999
[routing.tiers]
local = "up/small"
strong = "up/big"
`, nil)
	tools := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},` +
		`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	body := `{"model":"auto","tools":` + tools + `,"messages":[{"role":"user","content":"What is the weather and the local time in Paris?"}]}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	if hdr.Get("X-Gateway-Model") != "big" {
		t.Fatalf("tool request served by %q (reason %q)", hdr.Get("X-Gateway-Model"), hdr.Get("X-Gateway-Route-Reason"))
	}
	// Without tools the same prompt stays on the cheap tier at this threshold.
	status, hdr, resp = g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"What is the weather and the local time in Paris?"}]}`, nil)
	if status != 200 || hdr.Get("X-Gateway-Model") != "small" {
		t.Fatalf("%d %s: model %q", status, resp, hdr.Get("X-Gateway-Model"))
	}
}

// A weights upload on one replica reaches another through Redis (the
// policies' fan-out) and changes its routing without a restart; a replica
// started later loads the stored weights; a deletion reaches them too.
func TestRouterWeightsFanOutThroughRedis(t *testing.T) {
	t.Parallel()
	recs, err := routetrain.Read(strings.NewReader(tinyLabelled()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := routetrain.Train(recs, routetrain.Options{Seed: 1, StrongShare: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL(), "GATEWAY_ADMIN_KEY": adminKey}
	g1 := startGateway(t, fmt.Sprintf("data_dir = %q\n", t.TempDir()), env)
	g2 := startGateway(t, fmt.Sprintf("data_dir = %q\n", t.TempDir()), env)
	const haiku, proof = "Write a haiku about the city.", "Prove the theorem about the city step by step, with a rigorous proof."
	weightsSource := func(g *gw) string {
		status, body := g.get(t, "/admin/routing/weights", map[string]string{"Authorization": "Bearer " + adminKey})
		if status != 200 {
			t.Fatalf("GET weights: %d %s", status, body)
		}
		return body
	}
	if !strings.Contains(weightsSource(g2), `"source":"builtin"`) {
		t.Fatal("replica 2 starts with an upload")
	}
	builtinHaiku, builtinProof := routeReason(t, g2, haiku), routeReason(t, g2, proof)
	// One upload: a replica that subscribes after its announcement loads
	// the stored weights when it subscribes.
	if status, body := g1.putWeights(t, m.Encode()); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	// The replica saves the weights, then reconfigures its router: wait
	// for the routing itself.
	waitFor(t, "the weights to change replica 2's routing", func() bool {
		h, p := routeReason(t, g2, haiku), routeReason(t, g2, proof)
		return (h != builtinHaiku || p != builtinProof) && strings.HasPrefix(h, "fast: learned") && strings.HasPrefix(p, "strong: learned")
	})
	if !strings.Contains(weightsSource(g2), `"source":"upload"`) {
		t.Fatal("replica 2 routes with the upload but does not report it")
	}
	g3 := startGateway(t, fmt.Sprintf("data_dir = %q\n", t.TempDir()), env)
	waitFor(t, "a new replica to load the stored weights", func() bool {
		return strings.Contains(weightsSource(g3), `"source":"upload"`)
	})
	if status, _ := g1.do(t, "DELETE", "/admin/routing/weights", nil, nil); status != 200 {
		t.Fatalf("delete: %d", status)
	}
	waitFor(t, "the deletion to reach replica 2's routing", func() bool {
		return routeReason(t, g2, haiku) == builtinHaiku && routeReason(t, g2, proof) == builtinProof
	})
	if !strings.Contains(weightsSource(g2), `"source":"builtin"`) {
		t.Fatal("replica 2 routes with the embedded weights but does not report them")
	}
}
