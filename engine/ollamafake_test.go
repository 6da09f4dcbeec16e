package engine

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fakeOllama speaks Ollama's model-management API as documented in
// ollama/ollama docs/api.md: GET /api/tags lists local models; POST
// /api/pull streams NDJSON progress ({"status":"pulling manifest"}, then
// {"status":"downloading …","digest","total","completed"} per layer, then
// "verifying sha256 digest", "writing manifest", "removing any unused
// layers", {"status":"success"}; an error is a {"error":"…"} line); DELETE
// /api/delete {"model"} answers 200, or 404 when the model does not exist.
type fakeOllama struct {
	*httptest.Server
	mu     sync.Mutex
	models map[string]int64 // name → size
	// hold, when set, is received from after the first half of a pull's
	// progress, so that a test can see a pull in flight.
	hold chan struct{}
	// pulls counts the POST /api/pull calls.
	pulls int
}

func startFakeOllama(t *testing.T, models map[string]int64) *fakeOllama {
	t.Helper()
	f := &fakeOllama{models: models}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/tags", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		names := make([]string, 0, len(f.models))
		for n := range f.models {
			names = append(names, n)
		}
		sort.Strings(names)
		type details struct {
			Format            string   `json:"format"`
			Family            string   `json:"family"`
			Families          []string `json:"families"`
			ParameterSize     string   `json:"parameter_size"`
			QuantizationLevel string   `json:"quantization_level"`
		}
		type model struct {
			Name       string  `json:"name"`
			ModifiedAt string  `json:"modified_at"`
			Size       int64   `json:"size"`
			Digest     string  `json:"digest"`
			Details    details `json:"details"`
		}
		out := struct {
			Models []model `json:"models"`
		}{Models: []model{}}
		for _, n := range names {
			out.Models = append(out.Models, model{Name: n, ModifiedAt: "2023-11-04T14:56:49.277302595-07:00", Size: f.models[n],
				Digest:  "9f438cb9cd581fc025612d27f7c1a6669ff83a8bb0ed86c94fcf4c5440555697",
				Details: details{Format: "gguf", Family: "llama", ParameterSize: "13B", QuantizationLevel: "Q4_0"}})
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /api/pull", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		f.pulls++
		hold := f.hold
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-ndjson")
		line := func(v any) {
			b, _ := json.Marshal(v)
			_, _ = w.Write(append(b, '\n'))
			w.(http.Flusher).Flush()
		}
		line(map[string]any{"status": "pulling manifest"})
		if strings.HasPrefix(in.Model, "missing") {
			line(map[string]any{"error": "pull model manifest: file does not exist"})
			return
		}
		layers := []struct {
			digest string
			total  int64
		}{{"sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa", 4000}, {"sha256:4fa551d4f938f68b8c1e6afa9d28befb70e3f33f75d0753248d530364aeea40f", 1000}}
		for i, l := range layers {
			for _, done := range []int64{0, l.total / 2, l.total} {
				m := map[string]any{"status": "downloading " + l.digest, "digest": l.digest, "total": l.total}
				if done > 0 { // "the completed key may not be included" until some is done
					m["completed"] = done
				}
				line(m)
			}
			if i == 0 && hold != nil {
				select {
				case <-hold:
				case <-r.Context().Done():
					return
				}
			}
		}
		for _, s := range []string{"verifying sha256 digest", "writing manifest", "removing any unused layers"} {
			line(map[string]any{"status": s})
		}
		f.mu.Lock()
		f.models[in.Model] = 5000
		f.mu.Unlock()
		line(map[string]any{"status": "success"})
	})
	mux.HandleFunc("DELETE /api/delete", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		_, ok := f.models[in.Model]
		delete(f.models, in.Model)
		f.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error":"model '` + in.Model + `' not found"}`))
		}
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOllama) has(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.models[name]
	return ok
}
