package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// TestResponsesNativeSDK: the official openai-go Responses client against
// an OpenAI upstream that is passed through, streaming and not: the
// upstream's own response object and events reach the client, usage
// (cached and reasoning tokens) reaches the ledger and the cost, and the
// response cache serves a repeat.
func TestResponsesNativeSDK(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Native answer here.", PromptTokens: 1000, CachedTokens: 600, ReasoningTokens: 7})
	t.Cleanup(func() { _ = oa.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1"})
	c := g.client()
	for _, stream := range []bool{false, true} {
		r := respond(t, c, responses.ResponseNewParams{
			Model: "openai/gpt-4o",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
		}, stream)
		// The fake's ids and usage: OpenAI's answer, not a translation.
		if !strings.HasPrefix(r.ID, "resp_fake") || r.OutputText() != "Native answer here." {
			t.Fatalf("stream %v: %s", stream, r.RawJSON())
		}
		u := r.Usage
		if u.InputTokens != 1000 || u.InputTokensDetails.CachedTokens != 600 || u.OutputTokensDetails.ReasoningTokens != 7 || u.OutputTokens != 10 {
			t.Fatalf("usage %+v", u)
		}
		if l := oa.Last(); l.Path != "/v1/responses" {
			t.Fatalf("upstream path %s", l.Path)
		}
		// The gateway keeps a copy: GET answers it, scoped to the project.
		got, err := c.Responses.Get(context.Background(), r.ID, responses.ResponseGetParams{})
		if err != nil || got.ID != r.ID || got.OutputText() != r.OutputText() {
			t.Fatalf("get: %v %+v", err, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.ten.led.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := g.srv.ten.st.Requests(ctx, store.RequestQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 2 {
		t.Fatalf("%d ledger rows", len(page.Rows))
	}
	for _, row := range page.Rows {
		if row.Endpoint != store.EndpointResponses || row.Provider != "openai" || row.PromptTokens != 1000 || row.CachedTokens != 600 ||
			row.CompletionTokens != 10 || row.CostUSD <= 0 {
			t.Fatalf("ledger row %+v", row)
		}
	}
	// A repeat with temperature 0 is a cache hit, served translated from
	// the stored chat completion; the upstream is not called again.
	body := `{"model":"openai/gpt-4o","temperature":0,"input":"cache me"}`
	if status, hdr, resp := g.post(t, "/v1/responses", body, nil); status != 200 || hdr.Get("X-Gateway-Cache") != "miss" {
		t.Fatalf("first: %d %v %s", status, hdr, resp)
	}
	hits := oa.Hits.Load()
	status, hdr, resp := g.post(t, "/v1/responses", body, nil)
	if status != 200 || hdr.Get("X-Gateway-Cache") != "hit-memory" || !strings.Contains(resp, `"text":"Native answer here."`) || oa.Hits.Load() != hits {
		t.Fatalf("repeat: %d %v %s", status, hdr, resp)
	}
}

// TestResponsesNativeBodies: any valid JSON is a valid request on the
// passthrough too — members in any order, unknown members, unicode
// escapes in values and in non-ASCII names reach OpenAI as they were
// written (only the model changes) — while a name spelled with escapes
// for plain characters, or repeated, is refused in the OpenAI envelope.
func TestResponsesNativeBodies(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = oa.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1"})
	for _, tc := range []struct {
		name, body, upstream string
	}{
		{"reordered", `{"input":"hi","store":false,"model":"gpt-4o"}`, `{"input":"hi","store":false,"model":"gpt-4o"}`},
		{"alias", `{"model":"openai/gpt-4o","input":"hi","store":false}`, `{"model":"gpt-4o","input":"hi","store":false}`},
		{"unknown members", `{"model":"gpt-4o","input":"hi","store":false,"include":["reasoning.encrypted_content"],"x_future":{"a":[1,2]}}`,
			`{"model":"gpt-4o","input":"hi","store":false,"include":["reasoning.encrypted_content"],"x_future":{"a":[1,2]}}`},
		{"escapes", `{"model":"gpt-4o","input":"caf\u00e9 \ud83d\ude00","store":false,"metadata":{"\u00e9t\u00e9":"\"q\""}}`,
			`{"model":"gpt-4o","input":"caf\u00e9 \ud83d\ude00","store":false,"metadata":{"\u00e9t\u00e9":"\"q\""}}`},
		{"spaces", " {\n \"model\" : \"gpt-4o\" ,\t\"input\":\"hi\",\"store\":false } ", " {\n \"model\" : \"gpt-4o\" ,\t\"input\":\"hi\",\"store\":false } "},
	} {
		status, _, resp := g.post(t, "/v1/responses", tc.body, nil)
		if status != 200 {
			t.Errorf("%s: %d %s", tc.name, status, resp)
			continue
		}
		if got := string(oa.Last().Body); got != tc.upstream {
			t.Errorf("%s: upstream got\n%s\nwant\n%s", tc.name, got, tc.upstream)
		}
	}
	hits := oa.Hits.Load()
	for _, tc := range []struct{ name, body string }{
		{"escaped nested name", `{"model":"gpt-4o","input":[{"role":"user","content":"a","cont\u0065nt":"b"}]}`},
		{"repeated nested name", `{"model":"gpt-4o","input":[{"role":"user","content":"a","content":"b"}]}`},
		{"escaped top name", `{"model":"gpt-4o","input":"a","m\u006fdel":"gpt-5"}`},
	} {
		status, _, resp := g.post(t, "/v1/responses", tc.body, nil)
		if status != 400 || !strings.Contains(resp, `{"error":{`) || !strings.Contains(resp, `"type":"invalid_request_error"`) {
			t.Errorf("%s: %d %s", tc.name, status, resp)
		}
	}
	if oa.Hits.Load() != hits {
		t.Fatalf("a refused body reached the upstream")
	}
	if _, m := g.get(t, "/metrics", nil); !strings.Contains(m, `gateway_requests_total{provider="openai",model="openai/gpt-4o",status="400"}`) {
		t.Fatalf("no 400 in the metrics")
	}
}

// TestResponsesNativeChains: previous_response_id across the two ways.
// OpenAI gets its own id forwarded; a conversation that began on another
// provider reaches OpenAI as input items (no previous_response_id, no
// gateway ids); one that began on OpenAI continues on Anthropic from the
// gateway's copy.
func TestResponsesNativeChains(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "From OpenAI."})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "From Claude."})
	t.Cleanup(func() { _ = oa.Close(); _ = an.Close() })
	g := startGateway(t, "", map[string]string{
		"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1",
		"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL,
	})
	c := g.client()
	turn := func(model, prev, text string) *responses.Response {
		p := responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(text)}}
		if prev != "" {
			p.PreviousResponseID = openai.String(prev)
		}
		return respond(t, c, p, false)
	}
	a := turn("anthropic/claude-sonnet-4-0", "", "first question")
	b := turn("openai/gpt-4o", a.ID, "second question")
	if b.OutputText() != "From OpenAI." {
		t.Fatalf("b: %s", b.RawJSON())
	}
	up := string(oa.Last().Body)
	if strings.Contains(up, "previous_response_id") || !strings.Contains(up, `"text":"first question"`) ||
		!strings.Contains(up, "From Claude.") || !strings.HasSuffix(up, `{"role":"user","content":"second question"}]}`) || strings.Contains(up, `"id":"`) {
		t.Fatalf("expanded upstream body: %s", up)
	}
	cc := turn("openai/gpt-4o", b.ID, "third question")
	if up := string(oa.Last().Body); !strings.Contains(up, `"previous_response_id":"`+b.ID+`"`) || strings.Contains(up, "first question") {
		t.Fatalf("forwarded upstream body: %s", up)
	}
	d := turn("anthropic/claude-sonnet-4-0", cc.ID, "fourth question")
	if d.OutputText() != "From Claude." {
		t.Fatalf("d: %s", d.RawJSON())
	}
	up = string(an.Last().Body)
	for _, want := range []string{"first question", "second question", "third question", "From OpenAI.", "fourth question"} {
		if !strings.Contains(up, want) {
			t.Fatalf("anthropic did not get %q: %s", want, up)
		}
	}
	// The upstream's own refusal is the client's, in the envelope.
	status, _, resp := g.post(t, "/v1/responses", `{"model":"gpt-4o","input":"x","previous_response_id":"resp_unknown"}`, nil)
	if status != 404 || !strings.Contains(resp, `"code":"previous_response_not_found"`) {
		t.Fatalf("unknown previous: %d %s", status, resp)
	}
}

// TestResponsesInputTokens: POST /v1/responses/input_tokens through the
// openai-go client, for every model: OpenAI's own count (the body passed
// through without the members the count does not take), an estimate for
// the others, the mock included; errors in the envelope.
func TestResponsesInputTokens(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{PromptTokens: 321})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "x"})
	t.Cleanup(func() { _ = oa.Close(); _ = an.Close() })
	g := startGateway(t, "", map[string]string{
		"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1",
		"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL,
	})
	c := g.client()
	count := func(model string) int64 {
		r, err := c.Responses.InputTokens.Count(context.Background(), responses.InputTokenCountParams{
			Model:        openai.String(model),
			Instructions: openai.String("Be brief."),
			Input:        responses.InputTokenCountParamsInputUnion{OfString: openai.String("How many tokens is this sentence, roughly speaking?")},
		})
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		return r.InputTokens
	}
	if n := count("openai/gpt-4o"); n != 321 {
		t.Fatalf("openai count %d", n)
	}
	if l := oa.Last(); l.Path != "/v1/responses/input_tokens" {
		t.Fatalf("upstream path %s", l.Path)
	}
	for _, model := range []string{"anthropic/claude-sonnet-4-0", "mock/echo"} {
		if n := count(model); n < 10 || n > 40 {
			t.Fatalf("%s estimate %d", model, n)
		}
	}
	// A create body is accepted as it is: members only generation reads
	// are not sent to OpenAI's count.
	status, hdr, body := g.post(t, "/v1/responses/input_tokens", `{"stream":true,"store":false,"temperature":0.2,"input":"hi","model":"gpt-4o"}`, nil)
	if status != 200 || body != `{"object":"response.input_tokens","input_tokens":321}` || hdr.Get("X-Gateway-Token-Count") != "" {
		t.Fatalf("create body: %d %s", status, body)
	}
	status, hdr, body = g.post(t, "/v1/responses/input_tokens", `{"input":[{"content":"hi","role":"user"}],"model":"mock/echo"}`, nil)
	if status != 200 || !strings.HasPrefix(body, `{"object":"response.input_tokens","input_tokens":`) || hdr.Get("X-Gateway-Token-Count") != "estimated" {
		t.Fatalf("mock: %d %v %s", status, hdr, body)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"model":`, 400},
		{`{"model":"nope/x","input":"x"}`, 404},
		{`{"model":"gpt-4o","input":"x","previous_response_id":"resp_missing"}`, 404},
	} {
		status, _, body := g.post(t, "/v1/responses/input_tokens", tc.body, nil)
		if status != tc.status || !strings.HasPrefix(body, `{"error":{`) {
			t.Errorf("%s: %d %s", tc.body, status, body)
		}
	}
}

// TestResponsesRawPassthrough: what only OpenAI can run (a hosted tool, an
// item type the canonical request has no place for) is passed through
// untranslated to a provider with the Responses API, refused for others,
// and refused everywhere when it refers to the upstream account's objects.
func TestResponsesRawPassthrough(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Searched.", PromptTokens: 30})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "x"})
	t.Cleanup(func() { _ = oa.Close(); _ = an.Close() })
	g := startGateway(t, "", map[string]string{
		"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1",
		"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL,
	})
	body := `{"tools":[{"type":"web_search_preview"}],"input":[{"type":"message","role":"user","content":"news?"},{"type":"web_search_call","id":"ws_1","status":"completed"}],"model":"openai/gpt-4o"}`
	status, hdr, resp := g.post(t, "/v1/responses", body, nil)
	if status != 200 || hdr.Get("X-Gateway-Provider") != "openai" || !strings.Contains(resp, `"text":"Searched."`) {
		t.Fatalf("hosted tool: %d %s", status, resp)
	}
	if got, want := string(oa.Last().Body), strings.Replace(body, `"openai/gpt-4o"`, `"gpt-4o"`, 1); got != want {
		t.Fatalf("upstream got %s", got)
	}
	// Stored and chained like any passthrough.
	id := string(jsonGet(t, resp, "id"))
	if status, got := g.get(t, "/v1/responses/"+id, nil); status != 200 || got != resp {
		t.Fatalf("get: %d %s", status, got)
	}
	c := g.client()
	next := respond(t, c, responses.ResponseNewParams{Model: "openai/gpt-4o", PreviousResponseID: openai.String(id),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("more")}}, true)
	if next.OutputText() != "Searched." || !strings.Contains(string(oa.Last().Body), `"previous_response_id":"`+id+`"`) {
		t.Fatalf("chained: %s", next.RawJSON())
	}
	// input_tokens counts it at OpenAI too.
	if status, _, got := g.post(t, "/v1/responses/input_tokens", body, nil); status != 200 || got != `{"object":"response.input_tokens","input_tokens":30}` {
		t.Fatalf("input_tokens: %d %s", status, got)
	}
	for _, tc := range []struct {
		name, body, param string
	}{
		{"no native provider", strings.Replace(body, "openai/gpt-4o", "anthropic/claude-sonnet-4-0", 1), "tools[0].type"},
		{"auto", strings.Replace(body, "openai/gpt-4o", "auto", 1), "tools[0].type"},
		{"conversation", `{"model":"gpt-4o","tools":[{"type":"web_search_preview"}],"input":"x","conversation":"conv_1"}`, "conversation"},
		{"item_reference", `{"model":"gpt-4o","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type"},
		{"file_id", `{"model":"gpt-4o","tools":[{"type":"web_search_preview"}],"input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "file_id"},
		{"file_search", `{"model":"gpt-4o","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}],"input":"x"}`, "vector_store_ids"},
	} {
		hits := oa.Hits.Load()
		status, _, resp := g.post(t, "/v1/responses", tc.body, nil)
		if status != 400 || !strings.Contains(resp, `"param":"`+tc.param+`"`) || oa.Hits.Load() != hits {
			t.Errorf("%s: %d %s", tc.name, status, resp)
		}
	}
}
