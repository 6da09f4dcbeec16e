package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// anthropicModelsGet sends GET path as an Anthropic SDK does
// (anthropic-version, x-api-key) and returns status, headers and body.
func anthropicModelsGet(t *testing.T, g *gw, path, key string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", g.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type anthropicModelList struct {
	Data []struct {
		Type           string `json:"type"`
		ID             string `json:"id"`
		DisplayName    string `json:"display_name"`
		CreatedAt      string `json:"created_at"`
		MaxInputTokens int    `json:"max_input_tokens"`
		MaxTokens      int    `json:"max_tokens"`
	} `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

func (l anthropicModelList) ids() []string {
	var out []string
	for _, m := range l.Data {
		out = append(out, m.ID)
	}
	return out
}

// TestModelsAnthropicShape: GET /v1/models and /v1/models/{id} with an
// anthropic-version header (every Anthropic SDK sends one) answer
// Anthropic's shape (https://docs.anthropic.com/en/api/models-list: data
// of {type "model", id, display_name, created_at RFC 3339}, has_more,
// first_id, last_id; before_id/after_id/limit 1..1000 default 20), with
// request-id and errors in Anthropic's envelope; without the header the
// OpenAI shape as before.
func TestModelsAnthropicShape(t *testing.T) {
	t.Parallel()
	// Providers that are never called: their catalogs make a list longer
	// than a default page (20).
	const nowhere = "http://127.0.0.1:9"
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": nowhere + "/v1",
		"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": nowhere, "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": nowhere})

	// The whole list, as OpenAI lists it, is the reference order.
	status, body := g.get(t, "/v1/models", nil)
	var openaiList struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &openaiList) != nil || openaiList.Object != "list" || len(openaiList.Data) < 3 {
		t.Fatalf("OpenAI shape: %d %s", status, body)
	}
	var all []string
	for _, m := range openaiList.Data {
		all = append(all, m.ID)
	}
	n := len(all)
	if n <= 20 {
		t.Fatalf("%d models: want more than a default page", n)
	}

	status, hdr, b := anthropicModelsGet(t, g, "/v1/models?limit=1000", testKey)
	var l anthropicModelList
	if status != 200 || json.Unmarshal(b, &l) != nil {
		t.Fatalf("%d %s", status, b)
	}
	if strings.Contains(string(b), `"object"`) || hdr.Get("request-id") == "" || hdr.Get("request-id") != hdr.Get("X-Request-Id") {
		t.Fatalf("not Anthropic's shape or no request-id: %v %s", hdr, b)
	}
	if strings.Join(l.ids(), ",") != strings.Join(all, ",") || l.HasMore || *l.FirstID != all[0] || *l.LastID != all[n-1] {
		t.Fatalf("list %v has_more %v first %v last %v, want %v", l.ids(), l.HasMore, *l.FirstID, *l.LastID, all)
	}
	for _, m := range l.Data {
		if _, err := time.Parse(time.RFC3339, m.CreatedAt); err != nil || m.Type != "model" || m.DisplayName == "" {
			t.Fatalf("model %+v: %v", m, err)
		}
		if m.ID == "mock/echo" && (m.MaxInputTokens != 1<<20 || m.MaxTokens != 1<<16) {
			t.Fatalf("mock/echo limits %+v", m)
		}
	}

	pages := []struct {
		name, query string
		want        []string
		more        bool
	}{
		{"default limit", "", all[:min(20, n)], n > 20},
		{"first page", "?limit=2", all[:2], true},
		{"after_id", "?limit=2&after_id=" + all[1], all[2:4], n > 4},
		{"after the last", "?after_id=" + all[n-1], nil, false},
		{"after the one before last", "?after_id=" + all[n-2], all[n-1:], false},
		{"before_id", "?limit=2&before_id=" + all[3], all[1:3], true},
		{"before_id at the start", "?limit=5&before_id=" + all[2], all[:2], false},
		{"before the first", "?before_id=" + all[0], nil, false},
		{"an escaped id", "?limit=1&after_id=" + strings.ReplaceAll(all[0], "/", "%2F"), all[1:2], true},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := anthropicModelsGet(t, g, "/v1/models"+tc.query, testKey)
			var l anthropicModelList
			if status != 200 || json.Unmarshal(b, &l) != nil {
				t.Fatalf("%d %s", status, b)
			}
			if strings.Join(l.ids(), ",") != strings.Join(tc.want, ",") || l.HasMore != tc.more {
				t.Fatalf("ids %v has_more %v, want %v %v", l.ids(), l.HasMore, tc.want, tc.more)
			}
			if len(tc.want) == 0 {
				if l.FirstID != nil || l.LastID != nil || !strings.Contains(string(b), `"data":[]`) {
					t.Fatalf("empty page: %s", b)
				}
			} else if *l.FirstID != tc.want[0] || *l.LastID != tc.want[len(tc.want)-1] {
				t.Fatalf("first %s last %s", *l.FirstID, *l.LastID)
			}
		})
	}

	errs := []struct {
		name, path, key string
		status          int
		typ, has        string
	}{
		{"limit 0", "/v1/models?limit=0", testKey, 400, "invalid_request_error", "limit"},
		{"limit 1001", "/v1/models?limit=1001", testKey, 400, "invalid_request_error", "limit"},
		{"limit not a number", "/v1/models?limit=ten", testKey, 400, "invalid_request_error", "limit"},
		{"both cursors", "/v1/models?before_id=" + all[2] + "&after_id=" + all[0], testKey, 400, "invalid_request_error", "before_id"},
		{"unknown cursor", "/v1/models?after_id=nope-model", testKey, 400, "invalid_request_error", "after_id"},
		{"bad key", "/v1/models", "sk-wrong", 401, "authentication_error", ""},
		{"retrieve bad key", "/v1/models/mock%2Fecho", "sk-wrong", 401, "authentication_error", ""},
		{"retrieve unknown", "/v1/models/nope-model", testKey, 404, "not_found_error", "nope-model"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, b := anthropicModelsGet(t, g, tc.path, tc.key)
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if status != tc.status || json.Unmarshal(b, &e) != nil || e.Type != "error" || e.Error.Type != tc.typ ||
				!strings.Contains(e.Error.Message, tc.has) || hdr.Get("request-id") == "" {
				t.Fatalf("%d %v %s", status, hdr, b)
			}
		})
	}

	t.Run("retrieve", func(t *testing.T) {
		status, hdr, b := anthropicModelsGet(t, g, "/v1/models/mock%2Fecho", testKey)
		var m map[string]any
		if status != 200 || json.Unmarshal(b, &m) != nil || m["type"] != "model" || m["id"] != "mock/echo" || m["display_name"] == "" || hdr.Get("request-id") == "" {
			t.Fatalf("%d %v %s", status, hdr, b)
		}
		if _, err := time.Parse(time.RFC3339, m["created_at"].(string)); err != nil {
			t.Fatal(err)
		}
		// Without the header: OpenAI's model object.
		status, body := g.get(t, "/v1/models/mock%2Fecho", nil)
		if status != 200 || !strings.Contains(body, `"object":"model"`) {
			t.Fatalf("%d %s", status, body)
		}
	})

	// The official Go SDK walks every page and retrieves a model.
	t.Run("Go SDK", func(t *testing.T) {
		c := anthropicClient(g)
		var got []string
		iter := c.Models.ListAutoPaging(context.Background(), anthropic.ModelListParams{Limit: anthropic.Int(3)})
		for iter.Next() {
			got = append(got, iter.Current().ID)
		}
		if iter.Err() != nil || strings.Join(got, ",") != strings.Join(all, ",") {
			t.Fatalf("%v %v", iter.Err(), got)
		}
		m, err := c.Models.Get(context.Background(), "mock/echo", anthropic.ModelGetParams{})
		if err != nil || m.ID != "mock/echo" || m.CreatedAt.IsZero() {
			t.Fatalf("%v %+v", err, m)
		}
	})
}
