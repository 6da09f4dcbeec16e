package gemini

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

// Embedding fixtures follow https://ai.google.dev/api/embeddings
// (batchEmbedContents request and response) and
// https://platform.openai.com/docs/api-reference/embeddings.

func TestEmbedRequestGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "embed_request", ".in.json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, info, err := EmbedRequest(nil, in, "text-embedding-004")
			if err != nil {
				t.Fatal(err)
			}
			if info.Inputs == 0 || info.Tokens == 0 {
				t.Errorf("info %+v", info)
			}
			golden(t, strings.TrimSuffix(path, ".in.json")+".golden.json", indent(t, out))
		})
	}
}

func TestEmbedResponseGolden(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/embed_response/batch.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, b64 := range []bool{false, true} {
		out, u, err := EmbedResponse(nil, in, "text-embedding-004", EmbedInfo{Inputs: 2, Base64: b64, Tokens: 9})
		if err != nil {
			t.Fatal(err)
		}
		if u.PromptTokens != 9 {
			t.Errorf("usage %+v", u)
		}
		name := "testdata/embed_response/batch.golden.json"
		if b64 {
			name = "testdata/embed_response/batch_base64.golden.json"
			var resp struct {
				Data []struct {
					Embedding string `json:"embedding"`
				} `json:"data"`
			}
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.DecodeString(resp.Data[1].Embedding)
			if err != nil || len(raw) != 16 {
				t.Fatalf("base64: %v, %d bytes", err, len(raw))
			}
			if f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])); f != 0.5 {
				t.Errorf("second value = %v, want 0.5", f)
			}
		}
		golden(t, name, indent(t, out))
	}
}

func TestEmbedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, param string }{
		{"tokens", `{"input":[[1,2,3]]}`, "input"},
		{"token array", `{"input":[1,2,3]}`, "input"},
		{"missing input", `{"model":"m"}`, "input"},
		{"empty input", `{"input":[]}`, "input"},
		{"bad encoding", `{"input":"x","encoding_format":"int8"}`, "encoding_format"},
		{"bad dimensions", `{"input":"x","dimensions":0}`, "dimensions"},
		{"not json", `{"input":`, ""},
		{"input twice", `{"input":"a","input":"b"}`, "input"},
		{"dimensions escaped", `{"input":"a","dim\u0065nsions":8}`, "dimensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := EmbedRequest([]byte("keep"), []byte(tt.body), "m")
			var re *providers.RequestError
			if !errors.As(err, &re) || re.Param != tt.param || string(out) != "keep" {
				t.Fatalf("got %q, %v; want a RequestError naming %q", out, err, tt.param)
			}
		})
	}
	for _, body := range []string{`{}`, `{"embeddings":[{"values":["x"]}]}`, `{"embeddings":[{"values":[1]}]}`, `[`} {
		if _, _, err := EmbedResponse(nil, []byte(body), "m", EmbedInfo{Inputs: 2}); !errors.Is(err, ErrBadEmbeddings) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestEmbedE2E(t *testing.T) {
	t.Parallel()
	srv, p := startFake(t, &providertest.Gemini{Dimensions: 3})
	resp, err := p.Embed(context.Background(), []byte(`{"input":["a","b","c"],"model":"text-embedding-004","dimensions":5}`), "text-embedding-004")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	var out struct {
		Object string
		Data   []struct {
			Index     int
			Embedding []float64
		}
		Model string
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		}
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	if out.Object != "list" || len(out.Data) != 3 || len(out.Data[2].Embedding) != 5 || out.Data[2].Index != 2 || out.Model != "text-embedding-004" || out.Usage.PromptTokens != 3 {
		t.Errorf("%s", resp.Body)
	}
	if last := srv.Last(); last.Path != "/v1beta/models/text-embedding-004:batchEmbedContents" || last.Header["X-Goog-Api-Key"] != testKey {
		t.Errorf("%s %v", last.Path, last.Header)
	}
	_, err = p.Embed(context.Background(), []byte(`{"input":[[1]]}`), "text-embedding-004")
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 400 || ue.Param != "input" {
		t.Errorf("token input: %v", err)
	}
}
