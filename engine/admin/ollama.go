package admin

// The Ollama page: the local models of the configured Ollama provider,
// pulling one (a background job whose progress the page polls) and
// deleting one, through Ollama's own API (docs/api.md of ollama/ollama:
// GET /api/tags, POST /api/pull streaming NDJSON progress, DELETE
// /api/delete).
//
// A pull is a job of the gateway, not of the browser: a model is gigabytes
// and minutes, and closing the tab must neither cancel it nor leave a
// stream half-read. Jobs are bounded (maxPulls running, the last
// keptPulls remembered) and live on the replica that started them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/valyala/fasthttp"
)

// Bounds of the Ollama jobs and calls.
const (
	maxPulls       = 4
	keptPulls      = 20
	pullTimeout    = 6 * time.Hour
	ollamaTimeout  = 15 * time.Second
	maxPullLine    = 64 << 10
	maxOllamaBody  = 8 << 20
	maxOllamaModel = 200
)

// Pull is one pull job's state.
type Pull struct {
	Model  string `json:"model"`
	Status string `json:"status"`
	// Completed and Total are bytes summed over the layers seen so far.
	Completed int64     `json:"completed"`
	Total     int64     `json:"total"`
	Done      bool      `json:"done"`
	Error     string    `json:"error,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// Pulls holds the pull jobs of this replica.
type Pulls struct {
	mu   sync.Mutex
	jobs []*Pull // oldest first
	// Client sends the calls (nil: a default client).
	Client *http.Client
}

func (p *Pulls) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return http.DefaultClient
}

// List returns copies of the jobs, newest first.
func (p *Pulls) List() []Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Pull, 0, len(p.jobs))
	for i := len(p.jobs) - 1; i >= 0; i-- {
		out = append(out, *p.jobs[i])
	}
	return out
}

var errPullBusy = errors.New("too many pulls running")

// start registers a job for model unless one is running; it returns the
// job and whether it is new.
func (p *Pulls) start(model string) (*Pull, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := 0
	for _, j := range p.jobs {
		if !j.Done {
			if j.Model == model {
				return j, false, nil
			}
			running++
		}
	}
	if running >= maxPulls {
		return nil, false, errPullBusy
	}
	j := &Pull{Model: model, Status: "starting", StartedAt: time.Now().UTC()}
	p.jobs = append(p.jobs, j)
	// Forget the oldest finished jobs past the bound.
	for len(p.jobs) > keptPulls {
		k := slices.IndexFunc(p.jobs, func(j *Pull) bool { return j.Done })
		if k < 0 {
			break
		}
		p.jobs = slices.Delete(p.jobs, k, k+1)
	}
	return j, true, nil
}

func (p *Pulls) update(j *Pull, fn func(j *Pull)) {
	p.mu.Lock()
	fn(j)
	p.mu.Unlock()
}

// pullLine is one NDJSON object of POST /api/pull.
type pullLine struct {
	Status    string `json:"status"`
	Digest    string `json:"digest"`
	Total     int64  `json:"total"`
	Completed int64  `json:"completed"`
	Error     string `json:"error"`
}

// run pulls j.Model and records the progress until Ollama says success,
// an error, or the stream ends.
func (p *Pulls) run(o OllamaTarget, j *Pull) {
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	fail := func(msg string) {
		p.update(j, func(j *Pull) { j.Done, j.Error, j.Status, j.EndedAt = true, msg, "failed", time.Now().UTC() })
	}
	body, _ := json.Marshal(map[string]any{"model": j.Model, "stream": true})
	resp, err := ollamaDo(ctx, p.client(), o, "POST", "/api/pull", body)
	if err != nil {
		fail(err.Error())
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		fail(ollamaError(resp))
		return
	}
	layers := map[string][2]int64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxPullLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l pullLine
		if err := json.Unmarshal(line, &l); err != nil {
			fail("unreadable progress from Ollama: " + err.Error())
			return
		}
		if l.Error != "" {
			fail(l.Error)
			return
		}
		if l.Digest != "" && l.Total > 0 {
			layers[l.Digest] = [2]int64{l.Completed, l.Total}
		}
		var done, total int64
		for _, v := range layers {
			done, total = done+v[0], total+v[1]
		}
		p.update(j, func(j *Pull) {
			j.Status, j.Completed, j.Total = l.Status, done, total
			if l.Status == "success" {
				j.Done, j.EndedAt = true, time.Now().UTC()
				j.Completed = j.Total
			}
		})
		if l.Status == "success" {
			return
		}
	}
	if err := sc.Err(); err != nil {
		fail("progress stream broken: " + err.Error())
		return
	}
	fail("Ollama ended the pull without success")
}

func ollamaDo(ctx context.Context, c *http.Client, o OllamaTarget, method, path string, body []byte) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(o.BaseURL, "/")+path, r)
	if err != nil {
		return nil, err
	}
	for k, v := range o.Headers {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		// The error names the URL, never a header: no key leaks.
		return nil, fmt.Errorf("Ollama (%s) unreachable: %w", o.Provider, errors.Unwrap(err))
	}
	return resp, nil
}

// ollamaError reads Ollama's {"error":"…"} answer.
func ollamaError(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return "Ollama answered " + resp.Status
}

func (a *API) ollama(ctx *fasthttp.RequestCtx) (OllamaTarget, bool) {
	o, ok := a.Facts.Ollama()
	if !ok {
		api.WriteError(ctx, &api.Error{Status: 404, Type: api.TypeInvalidRequest, Code: "ollama_not_configured",
			Msg: "No Ollama provider is configured (set LOCAL_LLM_BASE_URL or a provider of kind ollama)."})
	}
	return o, ok
}

// validModel checks an Ollama model name (model:tag, optionally with a
// namespace or registry host).
func validModel(ctx *fasthttp.RequestCtx, name string) bool {
	ok := name != "" && len(name) <= maxOllamaModel && !strings.HasPrefix(name, "/") && !strings.Contains(name, "..")
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:/@", c)) {
			ok = false
		}
	}
	if !ok {
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "model",
			Msg: "model: expected an Ollama model name such as llama3.2 or qwen2.5-coder:7b"})
	}
	return ok
}

// OllamaModel is one local model of GET /api/tags.
type OllamaModel struct {
	Name       string    `json:"name"`
	ModifiedAt time.Time `json:"modified_at"`
	Size       int64     `json:"size"`
	Digest     string    `json:"digest"`
	Details    struct {
		Format            string `json:"format"`
		Family            string `json:"family"`
		ParameterSize     string `json:"parameter_size"`
		QuantizationLevel string `json:"quantization_level"`
	} `json:"details"`
}

// handleOllamaModels serves GET /admin/ollama/models: the local models,
// and this replica's pull jobs.
func (a *API) handleOllamaModels(ctx *fasthttp.RequestCtx) {
	o, ok := a.ollama(ctx)
	if !ok {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), ollamaTimeout)
	defer cancel()
	resp, err := ollamaDo(c, a.Pulls.client(), o, "GET", "/api/tags", nil)
	if err != nil {
		api.WriteError(ctx, &api.Error{Status: 502, Type: api.TypeServer, Code: "ollama_unreachable", Msg: err.Error()})
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		api.WriteError(ctx, &api.Error{Status: 502, Type: api.TypeServer, Code: "ollama_error", Msg: ollamaError(resp)})
		return
	}
	var tags struct {
		Models []OllamaModel `json:"models"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOllamaBody)).Decode(&tags); err != nil {
		api.WriteError(ctx, &api.Error{Status: 502, Type: api.TypeServer, Code: "ollama_error", Msg: "unreadable /api/tags answer: " + err.Error()})
		return
	}
	if tags.Models == nil {
		tags.Models = []OllamaModel{}
	}
	sort.Slice(tags.Models, func(i, j int) bool { return tags.Models[i].Name < tags.Models[j].Name })
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "provider": o.Provider, "base_url": o.BaseURL,
		"data": tags.Models, "pulls": a.Pulls.List()})
}

// handleOllamaPulls serves GET /admin/ollama/pulls: this replica's pull
// jobs, newest first.
func (a *API) handleOllamaPulls(ctx *fasthttp.RequestCtx) {
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "data": a.Pulls.List()})
}

// handleOllamaPull serves POST /admin/ollama/pull {"model":"…"}: starts a
// pull job (or returns the one running for that model) and answers 202.
func (a *API) handleOllamaPull(ctx *fasthttp.RequestCtx) {
	o, ok := a.ollama(ctx)
	if !ok {
		return
	}
	var in struct {
		Model string `json:"model"`
	}
	if err := decodeBody(ctx, &in); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	if !validModel(ctx, in.Model) {
		return
	}
	j, started, err := a.Pulls.start(in.Model)
	if err != nil {
		api.WriteError(ctx, &api.Error{Status: 429, Type: api.TypeRateLimit, Code: "too_many_pulls",
			Msg: fmt.Sprintf("%d pulls are running on this gateway; wait for one to finish.", maxPulls), RetryAfter: 10})
		return
	}
	if started {
		a.audit(ctx, "ollama.pull", in.Model, nil, map[string]string{"provider": o.Provider, "model": in.Model})
		go a.Pulls.run(o, j)
	}
	a.Pulls.mu.Lock()
	out := *j
	a.Pulls.mu.Unlock()
	api.WriteJSON(ctx, 202, out)
}

// handleOllamaDelete serves DELETE /admin/ollama/models?model=NAME.
func (a *API) handleOllamaDelete(ctx *fasthttp.RequestCtx) {
	o, ok := a.ollama(ctx)
	if !ok {
		return
	}
	name := string(ctx.QueryArgs().Peek("model"))
	if !validModel(ctx, name) {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), ollamaTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"model": name})
	resp, err := ollamaDo(c, a.Pulls.client(), o, "DELETE", "/api/delete", body)
	if err != nil {
		api.WriteError(ctx, &api.Error{Status: 502, Type: api.TypeServer, Code: "ollama_unreachable", Msg: err.Error()})
		return
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case 200:
	case 404:
		api.WriteError(ctx, &api.Error{Status: 404, Type: api.TypeInvalidRequest, Code: "model_not_found", Msg: "Ollama has no model " + name})
		return
	default:
		api.WriteError(ctx, &api.Error{Status: 502, Type: api.TypeServer, Code: "ollama_error", Msg: ollamaError(resp)})
		return
	}
	a.audit(ctx, "ollama.delete", name, map[string]string{"provider": o.Provider, "model": name}, nil)
	api.WriteJSON(ctx, 200, map[string]any{"object": "ollama.model", "model": name, "deleted": true})
}
