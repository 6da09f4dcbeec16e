package providertest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// KeyEcho is a fake upstream that misbehaves the way a proxy, a vLLM server
// or an Azure-style deployment can: it refuses every call with a 401 whose
// message echoes the credential it received (from Authorization, x-api-key,
// x-goog-api-key, api-key or a key= query parameter) in every encoding
// EchoMessage lists, in the real error format of Kind:
//
//   - "openai": {"error":{"message","type","param","code"}}
//     (https://platform.openai.com/docs/guides/error-codes/api-errors), JSON
//     written by Go's encoding/json (<, >, & as \u escapes);
//   - "anthropic": {"type":"error","error":{"type","message"},"request_id"}
//     (https://docs.anthropic.com/en/api/errors), JSON written ASCII-only as
//     Python's json.dumps does;
//   - "gemini": {"error":{"code","message","status","details"}}, Google's
//     error model (https://ai.google.dev/gemini-api/docs/troubleshooting,
//     https://cloud.google.com/apis/design/errors), as a JSON array on the
//     streaming endpoint;
//   - "ollama": {"error":"…"}
//     (https://github.com/ollama/ollama/blob/main/docs/api.md#errors).
//
// With MidStream, streaming requests are accepted instead: one text delta,
// then the format's in-stream error (OpenAI's data: {"error":…}, Anthropic's
// "event: error" (https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events),
// Gemini's data: {"error":…}, Ollama's {"error":"…"} line) echoing the
// credential, and the end of the body.
type KeyEcho struct {
	Kind      string
	MidStream bool
}

// StartKeyEcho starts the fake on loopback.
func StartKeyEcho(k *KeyEcho) (*Server, error) { return Start(k.handle) }

// Credential returns the credential a request carried and the raw header
// (or query) it came in.
func Credential(h *fasthttp.RequestHeader, uri *fasthttp.URI) (key, raw string) {
	if v := string(h.Peek("Authorization")); v != "" {
		scheme, tok, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "bearer") {
			return tok, "Authorization: " + v
		}
		return v, "Authorization: " + v
	}
	for _, name := range [...]string{"x-api-key", "x-goog-api-key", "api-key"} {
		if v := string(h.Peek(name)); v != "" {
			return v, name + ": " + v
		}
	}
	if v := string(uri.QueryArgs().Peek("key")); v != "" {
		return v, "?key=" + url.QueryEscape(v)
	}
	return "", ""
}

// EchoMessage is the message KeyEcho answers with: the credential raw, in
// its header, JSON-quoted (as if a request body were echoed), ASCII-only
// JSON, query- and path-escaped, base64 and base64url, and the base64 of
// "gateway:key" basic auth.
func EchoMessage(key, raw string) string {
	q, _ := json.Marshal(key)
	return "Incorrect API key provided: " + key + ". Received " + raw +
		"; request {\"api_key\":" + string(q) + "}; python {\"api_key\":" + asciiQuote(key) +
		"}; query key=" + url.QueryEscape(key) + "; path /" + url.PathEscape(key) +
		"; b64 " + base64.StdEncoding.EncodeToString([]byte(key)) +
		"; b64url " + base64.RawURLEncoding.EncodeToString([]byte(key)) +
		"; basic Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:"+key)) + "."
}

// KeyForms returns the encodings of key that must not reach a client or a
// log: raw, Bearer, JSON-quoted (Go and ASCII-only), query- and
// path-escaped, base64 and base64url (padded or not), and the base64 of
// "gateway:key". Forms equal to a shorter one are included once.
func KeyForms(key string) []string {
	q, _ := json.Marshal(key)
	forms := []string{
		key, "Bearer " + key,
		string(q[1 : len(q)-1]), unquoted(asciiQuote(key)),
		url.QueryEscape(key), url.PathEscape(key),
		base64.StdEncoding.EncodeToString([]byte(key)), base64.RawStdEncoding.EncodeToString([]byte(key)),
		base64.URLEncoding.EncodeToString([]byte(key)), base64.RawURLEncoding.EncodeToString([]byte(key)),
		base64.StdEncoding.EncodeToString([]byte("gateway:" + key)),
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func unquoted(q string) string { return q[1 : len(q)-1] }

// asciiQuote quotes s as Python's json.dumps does: every non-ASCII
// character as a \u escape (surrogate pairs beyond the BMP).
func asciiQuote(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('"')
	u := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			u(r)
		case r < utf8.RuneSelf:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		default:
			u(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// goQuoteJSON quotes s as Go's encoding/json does.
func goQuoteJSON(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func (k *KeyEcho) handle(ctx *fasthttp.RequestCtx) {
	key, raw := Credential(&ctx.Request.Header, ctx.URI())
	msg := EchoMessage(key, raw)
	body := ctx.PostBody()
	path := string(ctx.Path())
	flag := string(jsonscan.Get(body, "stream"))
	stream := flag == "true" || strings.Contains(path, "streamGenerateContent") ||
		(k.Kind == "ollama" && strings.HasSuffix(path, "/api/chat") && flag != "false")
	if k.MidStream && stream {
		k.midStream(ctx, msg)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusUnauthorized)
	ctx.SetContentType("application/json")
	switch k.Kind {
	case "anthropic":
		ctx.SetBodyString(`{"type":"error","error":{"type":"authentication_error","message":` + asciiQuote(msg) + `},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`)
	case "gemini":
		e := `{"error":{"code":401,"message":` + goQuoteJSON(msg) + `,"status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com","key":` + goQuoteJSON(key) + `}}]}}`
		if stream {
			e = "[" + e + "]"
		}
		ctx.SetBodyString(e)
	case "ollama":
		ctx.SetBodyString(`{"error":` + goQuoteJSON(msg) + `}`)
	default:
		ctx.SetBodyString(`{"error":{"message":` + goQuoteJSON(msg) + `,"type":"invalid_request_error","param":` + goQuoteJSON(key) + `,"code":"invalid_api_key"}}`)
	}
}

func (k *KeyEcho) midStream(ctx *fasthttp.RequestCtx, msg string) {
	var events []string
	switch k.Kind {
	case "anthropic":
		ctx.SetContentType("text/event-stream")
		events = []string{
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
			"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":" + asciiQuote(msg) + "}}\n\n",
		}
	case "gemini":
		ctx.SetContentType("text/event-stream")
		events = []string{
			"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n",
			"data: {\"error\":{\"code\":401,\"message\":" + goQuoteJSON(msg) + ",\"status\":\"UNAUTHENTICATED\"}}\r\n\r\n",
		}
	case "ollama":
		ctx.SetContentType("application/x-ndjson")
		events = []string{
			`{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"Hello"},"done":false}` + "\n",
			`{"error":` + goQuoteJSON(msg) + "}\n",
		}
	default:
		ctx.SetContentType("text/event-stream")
		events = []string{
			`data: {"id":"chatcmpl-echo","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}` + "\n\n",
			`data: {"error":{"message":` + goQuoteJSON(msg) + `,"type":"server_error","param":null,"code":null}}` + "\n\n",
		}
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		for _, ev := range events {
			if _, err := w.WriteString(ev); err != nil || w.Flush() != nil {
				return
			}
		}
	})
}

// KeyShapes are keys of the shapes upstreams are configured with, for
// tests that an echoed key never reaches a client: hex (Azure), UUID,
// base64 with /+=, unicode, a JWT, JSON specials, and short ones (MinSecretLen
// in package providers is 4).
var KeyShapes = []struct{ Name, Key string }{
	{"azure hex", "0123456789abcdef0123456789abcdef"},
	{"uuid", "3f2b8c1e-9a4d-4e6f-b2c7-1d8e5a9f0b3c"},
	{"slash plus equals", "ab/cd+ef=gh/ij+kl=="},
	{"unicode", "clé-secrète-ключ-鍵-🔑"},
	{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJnYXRld2F5In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"},
	{"json specials", `k"e\y<&>/1`},
	{"short", "x9Q2z"},
	{"vllm token", "token-abc123"},
}

// NoKey fails t when text holds any of KeyForms(key); where names the text.
func NoKey(t testing.TB, key, where, text string) {
	t.Helper()
	for _, f := range KeyForms(key) {
		if strings.Contains(text, f) {
			t.Errorf("%s leaks the key as %q:\n%s", where, f, text)
		}
	}
}

// ErrorText is everything an error carries that could be printed or
// logged: the Error of every error in its tree, and the fields of every
// struct-pointer error in it (an UpstreamError's Type, Code, Param).
func ErrorText(err error) string {
	var b strings.Builder
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		b.WriteString(e.Error())
		b.WriteByte('\n')
		if v := reflect.ValueOf(e); v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
			fmt.Fprintf(&b, "%+v\n", v.Elem().Interface())
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return b.String()
}

// ReadStream reads a provider stream to its end (io.EOF) and returns what
// it sent; an error other than io.EOF, or more than 10,000 events, is
// returned with what was read so far.
func ReadStream(s interface{ Next() ([]byte, error) }) (string, error) {
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		ev, err := s.Next()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		b.Write(ev)
	}
	return b.String(), errors.New("stream did not end")
}
