package engine

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fasthttp"
)

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zlibbed(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// TestRequestBodyEncodings: a body sent with Content-Encoding gzip, deflate
// or zstd (or two of them, applied in order) is answered as the plain body
// would be, on every client API; one in an encoding the gateway does not
// decode is a 415 naming the ones it does, one that is not what its header
// says a 400, and one that decodes past max_body_bytes a 413, each in the
// envelope of the route's API.
func TestRequestBodyEncodings(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "max_body_bytes = 65536\n", nil)
	// The Python SDK's member order: messages before model.
	chat := []byte(`{"messages":[{"role":"user","content":"caf\u00e9 \"zipped\""}],"model":"mock/echo"}`)
	for _, tc := range []struct {
		name, enc string
		body      []byte
	}{
		{"gzip", "gzip", gzipped(t, chat)},
		{"x-gzip", "x-gzip", gzipped(t, chat)},
		{"deflate", "deflate", zlibbed(t, chat)},
		{"zstd", "zstd", zstded(t, chat)},
		{"deflate then gzip", "deflate, GZIP", gzipped(t, zlibbed(t, chat))},
		{"identity", "identity", chat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := g.post(t, "/v1/chat/completions", string(tc.body), map[string]string{"Content-Encoding": tc.enc})
			if code != 200 || !strings.Contains(body, `"content":"café \"zipped\""`) {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	msgs := `{"model":"mock/echo","max_tokens":64,"messages":[{"role":"user","content":"hello"}]}`
	code, _, body := g.post(t, "/v1/messages", string(gzipped(t, []byte(msgs))), map[string]string{"Content-Encoding": "gzip"})
	if code != 200 || !strings.Contains(body, `"text":"hello"`) {
		t.Fatalf("messages, gzip: %d %s", code, body)
	}
	emb := `{"input":"abc","model":"mock/echo"}`
	code, _, body = g.post(t, "/v1/embeddings", string(zstded(t, []byte(emb))), map[string]string{"Content-Encoding": "zstd"})
	if code != 200 || !strings.Contains(body, `"embedding"`) {
		t.Fatalf("embeddings, zstd: %d %s", code, body)
	}

	type envelope struct {
		Type  string `json:"type"` // Anthropic's: "error"
		Error struct {
			Type, Code, Message string
		} `json:"error"`
	}
	refuse := func(path, enc string, b []byte, status int, code string) envelope {
		t.Helper()
		got, hdr, body := g.post(t, path, string(b), map[string]string{"Content-Encoding": enc})
		var e envelope
		if err := json.Unmarshal([]byte(body), &e); err != nil || got != status || e.Error.Message == "" {
			t.Fatalf("%s %s: %d %s", path, enc, got, body)
		}
		if code != "" && e.Error.Code != code {
			t.Fatalf("%s %s: code %q, want %q: %s", path, enc, e.Error.Code, code, body)
		}
		if status == 415 && hdr.Get("Accept-Encoding") != acceptedEncodings {
			t.Fatalf("415 without Accept-Encoding: %v", hdr)
		}
		if hdr.Get("X-Request-Id") == "" {
			t.Fatalf("%s: no X-Request-Id", path)
		}
		return e
	}
	refuse("/v1/chat/completions", "br", chat, 415, "unsupported_content_encoding")
	refuse("/v1/chat/completions", "gzip", chat, 400, "invalid_content_encoding")
	refuse("/v1/chat/completions", "deflate", []byte("\x78\x9c not zlib"), 400, "invalid_content_encoding")
	// A bomb: 1 MiB of spaces inside a string compress to about a kilobyte.
	bomb := gzipped(t, []byte(`{"model":"mock/echo","messages":[{"role":"user","content":"`+strings.Repeat(" ", 1<<20)+`"}]}`))
	if len(bomb) > 65536 {
		t.Fatalf("bomb of %d bytes is over the limit itself", len(bomb))
	}
	refuse("/v1/chat/completions", "gzip", bomb, 413, "request_too_large")
	if e := refuse("/v1/messages", "br", []byte(msgs), 415, ""); e.Type != "error" || e.Error.Type != "invalid_request_error" {
		t.Fatalf("messages 415 not in Anthropic's envelope: %+v", e)
	}
	if e := refuse("/v1/messages", "gzip", bomb, 413, ""); e.Type != "error" {
		t.Fatalf("messages 413 not in Anthropic's envelope: %+v", e)
	}
}

// TestRequestBodyBOM: a JSON body that starts with a UTF-8 byte order mark
// (RFC 8259 §8.1 lets a parser ignore it) is served as without it, on the
// OpenAI and Anthropic routes alike.
func TestRequestBodyBOM(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	bom := "\xef\xbb\xbf"
	code, _, body := g.post(t, "/v1/chat/completions", bom+`{"model":"mock/echo","messages":[{"role":"user","content":"bom"}]}`, nil)
	if code != 200 || !strings.Contains(body, `"content":"bom"`) {
		t.Fatalf("chat: %d %s", code, body)
	}
	code, _, body = g.post(t, "/v1/messages", bom+"\r\n"+`{"model":"mock/echo","max_tokens":9,"messages":[{"role":"user","content":"bom2"}]}`, nil)
	if code != 200 || !strings.Contains(body, `"text":"bom2"`) {
		t.Fatalf("messages: %d %s", code, body)
	}
	// gzip first, then the mark inside the decoded body.
	code, _, body = g.post(t, "/v1/chat/completions", string(gzipped(t, []byte(bom+`{"model":"mock/echo","messages":[{"role":"user","content":"both"}]}`))), map[string]string{"Content-Encoding": "gzip"})
	if code != 200 || !strings.Contains(body, `"content":"both"`) {
		t.Fatalf("gzip and BOM: %d %s", code, body)
	}
}

// TestNormalizeBodyLeavesOtherBodies: only a mark in front of JSON is
// dropped; a body that is not JSON (a multipart upload's part, a file) keeps
// every byte, and a plain body is not copied.
func TestNormalizeBodyLeavesOtherBodies(t *testing.T) {
	s := &Server{cfg: &Config{MaxBodyBytes: 1 << 20}}
	for _, body := range []string{"\xef\xbb\xbf--boundary\r\n", "\xef\xbb\xbf", "\xef\xbb\xbf   ", "plain", `{"a":1}`} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetBodyString(body)
		if !s.normalizeBody(&ctx) {
			t.Fatalf("%q refused", body)
		}
		if got := string(ctx.Request.Body()); got != body {
			t.Fatalf("%q became %q", body, got)
		}
	}
}

// BenchmarkNormalizeBody: what every request pays before its route reads
// the body (no Content-Encoding, no mark): a header lookup and a prefix
// comparison, whatever the body's size.
func BenchmarkNormalizeBody(b *testing.B) {
	s := &Server{cfg: &Config{MaxBodyBytes: 32 << 20}}
	for _, size := range []int{1 << 10, 100 << 10} {
		body := append([]byte(`{"model":"mock/echo","messages":[{"role":"user","content":"`), bytes.Repeat([]byte("x"), size)...)
		body = append(body, `"}]}`...)
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			ctx.Request.SetBody(body)
			ctx.Request.Header.SetContentType("application/json")
			b.ReportAllocs()
			for b.Loop() {
				if !s.normalizeBody(&ctx) {
					b.Fatal("refused")
				}
			}
		})
	}
}
