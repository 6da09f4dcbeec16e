package engine

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
)

// TestEmbeddingsEveryProvider drives POST /v1/embeddings on every provider
// whose fake serves it, in the shapes the OpenAI reference allows
// (https://platform.openai.com/docs/api-reference/embeddings/create: input
// a string, an array of strings, an array of token ids or an array of
// such arrays; not an empty string, and an array of at most 2048):
//   - base64 (the Node SDK's default, which it decodes as little-endian
//     float32) holds the same vectors as float;
//   - token ids reach the providers that take them, and are a 400 naming
//     the input on those that take text only (Gemini, Ollama);
//   - an empty input is a 400 with param input on every provider, not a
//     vector of nothing or an upstream's error.
func TestEmbeddingsEveryProvider(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{})
	ge, _ := providertest.StartGemini(&providertest.Gemini{})
	ol, _ := providertest.StartOllama(&providertest.Ollama{})
	for _, s := range []*providertest.Server{oa, ge, ol} {
		t.Cleanup(func() { _ = s.Close() })
	}
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": oa.URL + "/v1",
		"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": ge.URL, "LOCAL_LLM_BASE_URL": ol.URL})
	type list struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	embed := func(t *testing.T, body string) (int, string, list) {
		t.Helper()
		status, _, resp := g.post(t, "/v1/embeddings", body, nil)
		var l list
		if status == 200 {
			if err := json.Unmarshal([]byte(resp), &l); err != nil {
				t.Fatalf("%s: %v", resp, err)
			}
		}
		return status, resp, l
	}
	models := []struct {
		model  string
		tokens bool // takes token ids
		dims   bool // honours dimensions
	}{
		{"mock/echo", true, true},
		{"openai/text-embedding-3-small", true, false},
		{"gemini/text-embedding-004", false, true},
		{"ollama/nomic-embed-text", false, true},
	}
	for _, m := range models {
		t.Run(m.model, func(t *testing.T) {
			t.Parallel()
			in := `"model":"` + m.model + `","input":["hello world","second input"]`
			_, resp, flt := embed(t, `{`+in+`,"encoding_format":"float","user":"u-1"}`)
			_, resp64, b64 := embed(t, `{`+in+`,"encoding_format":"base64"}`)
			if len(flt.Data) != 2 || len(b64.Data) != 2 {
				t.Fatalf("float %s\nbase64 %s", resp, resp64)
			}
			for i := range flt.Data {
				var fs []float64
				var s string
				if json.Unmarshal(flt.Data[i].Embedding, &fs) != nil || json.Unmarshal(b64.Data[i].Embedding, &s) != nil {
					t.Fatalf("float %s\nbase64 %s", resp, resp64)
				}
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil || len(raw) != 4*len(fs) {
					t.Fatalf("base64 of %d bytes for %d floats (%v)", len(raw), len(fs), err)
				}
				for j, f := range fs {
					if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); got != float32(f) {
						t.Fatalf("vector %d[%d]: base64 %v, float %v", i, j, got, f)
					}
				}
			}
			if m.dims {
				if _, resp, l := embed(t, `{"model":"`+m.model+`","input":"x","dimensions":3,"encoding_format":"float"}`); len(l.Data) != 1 || strings.Count(string(l.Data[0].Embedding), ",") != 2 {
					t.Fatalf("dimensions 3: %s", resp)
				}
			}
			for _, tc := range []struct {
				input string
				n     int
			}{{`[1,2,3]`, 1}, {`[[1,2],[3,4]]`, 2}} {
				status, resp, l := embed(t, `{"model":"`+m.model+`","input":`+tc.input+`}`)
				switch {
				case m.tokens && (status != 200 || len(l.Data) != tc.n):
					t.Fatalf("tokens %s: %d %s", tc.input, status, resp)
				case !m.tokens && (status != 400 || !strings.Contains(resp, "token") || !strings.Contains(resp, `"param":"input`)):
					t.Fatalf("tokens %s: %d %s", tc.input, status, resp)
				}
			}
			for _, tc := range []struct{ input, param string }{
				{`""`, "input"}, {`[]`, "input"}, {`[""]`, "input[0]"}, {`["a",""]`, "input[1]"},
				{`[[]]`, "input[0]"}, {`["a",1]`, "input[1]"}, {`[[1],"a"]`, "input[1]"}, {`[1.5]`, "input[0]"},
				{`[[1,"a"]]`, "input[0][1]"}, {`null`, "input"}, {`{}`, "input"}, {`7`, "input"},
			} {
				status, resp, _ := embed(t, `{"model":"`+m.model+`","input":`+tc.input+`}`)
				if status != 400 || !strings.Contains(resp, `"param":"`+tc.param+`"`) || !strings.Contains(resp, `"type":"invalid_request_error"`) {
					t.Fatalf("input %s: %d %s", tc.input, status, resp)
				}
			}
			if status, resp, _ := embed(t, `{"model":"`+m.model+`"}`); status != 400 || !strings.Contains(resp, `"param":"input"`) {
				t.Fatalf("no input: %d %s", status, resp)
			}
			big := `[` + strings.TrimSuffix(strings.Repeat(`"a",`, 2049), ",") + `]`
			if status, resp, _ := embed(t, `{"model":"`+m.model+`","input":`+big+`}`); status != 400 || !strings.Contains(resp, `"param":"input"`) {
				t.Fatalf("2049 inputs: %d %s", status, resp)
			}
		})
	}
	for _, model := range []string{"nope/none", "mock/does-not-exist"} {
		if status, resp, _ := embed(t, `{"model":"`+model+`","input":"x"}`); status != 404 || !strings.Contains(resp, `"type":"invalid_request_error"`) {
			t.Fatalf("%s: %d %s", model, status, resp)
		}
	}
}

// TestEmbeddingsInputCheckAllocatesNothing: the input check reads a good
// input without allocating (docs/requests.md, Cost).
func TestEmbeddingsInputCheckAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, s := range []string{`"hello"`, `["a","b","c"]`, `[1,2,3]`, `[[1,2],[3]]`} {
		in := []byte(s)
		if n := testing.AllocsPerRun(100, func() {
			if err := checkEmbeddingsInput(in); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Fatalf("%s: %v allocations", in, n)
		}
	}
}
