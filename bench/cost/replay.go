package cost

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Epoch is the simulated wall-clock time at which a trace starts.
var Epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Target is where a replay sends the trace.
type Target struct {
	// Name labels the run ("baseline", "gateway", "no-strip", …).
	Name string
	// GatewayURL is the gateway's base URL; empty sends every request
	// directly to the fakes, as a client without a gateway would.
	GatewayURL string
	// Strong is the model "auto" stands for without a gateway
	// ("anthropic/claude-sonnet-4-5": the router's strong tier, which the
	// gateway also credits routing savings against).
	Strong string
	// Rewrite, when set, returns the body to send instead of r.Body.
	Rewrite func(r *Request) []byte
	// ClientBreakpoints, without a gateway, has OpenAI-format requests for
	// Anthropic models sent with the breakpoints a client managing its own
	// caching places (see ToAnthropic): a sensitivity baseline.
	ClientBreakpoints bool
}

// Result is the outcome of one trace request.
type Result struct {
	Req    *Request
	Status int
	Err    string
	// Provider and Model answered (X-Gateway-Provider / X-Gateway-Model
	// through the gateway).
	Provider, Model string
	// Cache is X-Gateway-Cache; RouteReason X-Gateway-Route-Reason.
	Cache, RouteReason string
	// CostHeader and SavedHeader are X-Gateway-Cost-USD and
	// X-Gateway-Saved-USD (HasCost is false on streams).
	CostHeader, SavedHeader float64
	HasCost                 bool
	Answer, Expected        Answer
	// Diff is how Answer differs from what the upstream returns for the
	// original request ("" when equal).
	Diff string
	// PrunedTokens is X-Gateway-Pruned-Tokens: the prompt tokens context
	// pruning removed (the gateway's estimate), 0 when it did not prune.
	PrunedTokens int
	// Calls are the upstream calls made for this request.
	Calls []Call
}

// Resolve returns the provider and upstream model a client without a gateway
// uses for model.
func Resolve(model, strong string) (provider, upstream string) {
	if model == "auto" || model == "" {
		model = strong
	}
	if i := strings.IndexByte(model, '/'); i >= 0 {
		return model[:i], model[i+1:]
	}
	switch {
	case strings.HasPrefix(model, "claude-"):
		return "anthropic", model
	case strings.HasPrefix(model, "gemini-"):
		return "gemini", model
	case strings.HasPrefix(model, "deepseek-"):
		return "deepseek", model
	}
	return "openai", model
}

// SetModel replaces the first "model":"old" member of a JSON body.
func SetModel(body []byte, old, model string) []byte {
	return bytes.Replace(body, []byte(`"model":`+strconv.Quote(old)), []byte(`"model":`+strconv.Quote(model)), 1)
}

// Replay sends every request of t, in order and one at a time, to tg, with
// the fakes' clock at the request's simulated time.
func Replay(t *Trace, up *Upstreams, tg Target, client *http.Client) ([]Result, error) {
	up.Reset()
	results := make([]Result, len(t.Requests))
	for i, r := range t.Requests {
		up.Begin(i, Epoch.Add(r.At))
		body := r.Body
		if tg.Rewrite != nil {
			body = tg.Rewrite(r)
		}
		res := Result{Req: r}
		var err error
		if tg.GatewayURL != "" {
			err = sendGateway(client, tg.GatewayURL, r, body, &res)
		} else {
			err = sendDirect(client, up, tg, r, body, &res)
		}
		if err != nil {
			res.Err = err.Error()
		}
		if res.Status == 200 && res.Err == "" {
			conv, digest, err := Meaning(r.Format, body)
			if err != nil {
				return nil, fmt.Errorf("request %d: %w", r.ID, err)
			}
			if res.Provider == "gemini" {
				// Gemini is not shown tool call ids.
				conv = conv.WithoutIDs()
				digest = conv.Digest()
			}
			res.Expected = AnswerFor(res.Provider, res.Model, conv, digest)
			res.Diff = Diff(res.Expected, res.Answer)
		}
		results[i] = res
	}
	for _, c := range up.Calls() {
		if c.Req >= 0 && c.Req < len(results) {
			results[c.Req].Calls = append(results[c.Req].Calls, c)
		}
	}
	// Explain each differing answer by what the upstream was told.
	for i := range results {
		r := &results[i]
		if r.Diff == "" || len(r.Calls) == 0 || r.Calls[0].Body == nil {
			continue
		}
		body := r.Req.Body
		if tg.Rewrite != nil {
			body = tg.Rewrite(r.Req)
		}
		want, _, err1 := Meaning(r.Req.Format, body)
		format := FormatOpenAI
		switch r.Calls[0].Provider {
		case "anthropic":
			format = FormatAnthropic
		case "gemini":
			format = FormatGemini
			want = want.WithoutIDs()
		}
		got, _, err2 := Meaning(format, r.Calls[0].Body)
		if err1 == nil && err2 == nil {
			if d := ConvDiff(want, got); d != "" {
				r.Diff += " — the upstream was told something else: " + d
			}
		}
	}
	return results, nil
}

func post(client *http.Client, url string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func sendGateway(client *http.Client, base string, r *Request, body []byte, res *Result) error {
	path, hdr := "/v1/chat/completions", map[string]string{}
	if r.Format == FormatAnthropic {
		path = "/v1/messages"
		hdr["anthropic-version"] = "2023-06-01"
	}
	resp, b, err := post(client, base+path, body, hdr)
	if err != nil {
		return err
	}
	res.Status = resp.StatusCode
	h := resp.Header
	res.Provider, res.Model = h.Get("X-Gateway-Provider"), h.Get("X-Gateway-Model")
	res.Cache, res.RouteReason = h.Get("X-Gateway-Cache"), h.Get("X-Gateway-Route-Reason")
	res.PrunedTokens, _ = strconv.Atoi(h.Get("X-Gateway-Pruned-Tokens"))
	if v := h.Get("X-Gateway-Cost-USD"); v != "" {
		res.CostHeader, _ = strconv.ParseFloat(v, 64)
		res.SavedHeader, _ = strconv.ParseFloat(h.Get("X-Gateway-Saved-USD"), 64)
		res.HasCost = true
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, clip(string(b)))
	}
	if r.Format == FormatAnthropic {
		res.Answer, err = ParseAnthropicAnswer(b)
	} else {
		res.Answer, _, err = ParseOpenAIAnswer(b, r.Stream)
	}
	return err
}

func sendDirect(client *http.Client, up *Upstreams, tg Target, r *Request, body []byte, res *Result) error {
	provider, model := Resolve(r.Model, tg.Strong)
	res.Provider, res.Model = provider, model
	var resp *http.Response
	var b []byte
	var err error
	anthropicHdr := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-costbench"}
	switch {
	case r.Format == FormatAnthropic:
		resp, b, err = post(client, up.AnthropicURL+"/v1/messages", SetModel(body, r.Model, model), anthropicHdr)
	case provider == "openai":
		resp, b, err = post(client, up.OpenAIURL+"/chat/completions", SetModel(body, r.Model, model), map[string]string{"Authorization": "Bearer sk-costbench"})
	case provider == "deepseek":
		resp, b, err = post(client, up.DeepSeekURL+"/chat/completions", SetModel(body, r.Model, model), map[string]string{"Authorization": "Bearer sk-costbench"})
	case provider == "gemini":
		var gb []byte
		if gb, err = ToGemini(body); err != nil {
			return err
		}
		method := ":generateContent"
		if r.Stream {
			method = ":streamGenerateContent?alt=sse"
		}
		resp, b, err = post(client, up.GeminiURL+"/v1beta/models/"+model+method, gb, map[string]string{"x-goog-api-key": "costbench-gemini"})
	default:
		var ab []byte
		if ab, err = ToAnthropic(body, model, tg.ClientBreakpoints); err != nil {
			return err
		}
		resp, b, err = post(client, up.AnthropicURL+"/v1/messages", ab, anthropicHdr)
	}
	if err != nil {
		return err
	}
	res.Status = resp.StatusCode
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, clip(string(b)))
	}
	switch provider {
	case "anthropic":
		res.Answer, err = ParseAnthropicAnswer(b)
	case "gemini":
		res.Answer, err = ParseGeminiAnswer(b, r.Stream)
	default:
		res.Answer, _, err = ParseOpenAIAnswer(b, r.Stream)
	}
	return err
}
