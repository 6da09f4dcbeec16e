package mockup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.Server()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return s, "http://" + ln.Addr().String()
}

func post(t *testing.T, url, body string) (*fasthttp.Response, time.Duration) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod("POST")
	req.SetRequestURI(url)
	req.SetBodyString(body)
	resp := new(fasthttp.Response)
	t0 := time.Now()
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp, time.Since(t0)
}

// events splits a stream body at sep and checks that every data payload is
// JSON (or [DONE]).
func events(t *testing.T, body []byte, sep string, ndjson bool) []string {
	t.Helper()
	var out []string
	for _, ev := range strings.Split(string(body), sep) {
		if ev == "" {
			continue
		}
		data := ev
		if !ndjson {
			for _, line := range strings.Split(ev, "\n") {
				if strings.HasPrefix(line, "data: ") {
					data = strings.TrimPrefix(line, "data: ")
				}
			}
		}
		if data != "[DONE]" && !json.Valid([]byte(data)) {
			t.Fatalf("invalid JSON in event %q", ev)
		}
		out = append(out, data)
	}
	return out
}

func TestWireFormats(t *testing.T) {
	t.Parallel()
	s, base := start(t, Config{Chunks: 5, ReplyBytes: 100})
	tests := []struct {
		name, path, body string
		sep              string // "" for a JSON answer
		ndjson           bool
		wantEvents       int
		ctype, contains  string
	}{
		{name: "openai-json", path: "/v1/chat/completions", body: `{"model":"x","messages":[]}`, ctype: "application/json", contains: `"finish_reason":"stop"`},
		{name: "openai-sse", path: "/v1/chat/completions", body: `{"stream": true}`, sep: "\n\n", wantEvents: 1 + 5 + 1 + 1, ctype: "text/event-stream", contains: "[DONE]"},
		{name: "openai-sse-usage", path: "/v1/chat/completions", body: `{"stream":true,"stream_options":{"include_usage" : true}}`, sep: "\n\n", wantEvents: 1 + 5 + 1 + 1 + 1, ctype: "text/event-stream", contains: `"choices":[],"usage":{`},
		{name: "openai-escaped-key", path: "/v1/chat/completions", body: `{"messages":[{"content":"say \"stream\": true"}]}`, ctype: "application/json"},
		{name: "anthropic-json", path: "/v1/messages", body: `{}`, ctype: "application/json", contains: `"stop_reason":"end_turn"`},
		{name: "anthropic-sse", path: "/v1/messages", body: `{"stream":true}`, sep: "\n\n", wantEvents: 3 + 5 + 3, ctype: "text/event-stream", contains: "event: message_stop"},
		{name: "gemini-json", path: "/v1beta/models/gemini-2.0-flash:generateContent", body: `{}`, ctype: "application/json", contains: `"finishReason":"STOP"`},
		{name: "gemini-sse", path: "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", body: `{}`, sep: "\r\n\r\n", wantEvents: 5, ctype: "text/event-stream", contains: `"finishReason":"STOP"`},
		{name: "ollama-ndjson", path: "/api/chat", body: `{"model":"m"}`, sep: "\n", ndjson: true, wantEvents: 6, ctype: "application/x-ndjson", contains: `"done":true`},
		{name: "ollama-json", path: "/api/chat", body: `{"stream":false}`, ctype: "application/json", contains: `"eval_count":5`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := post(t, base+tc.path, tc.body)
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
			}
			if ct := string(resp.Header.ContentType()); ct != tc.ctype {
				t.Errorf("content type %q, want %q", ct, tc.ctype)
			}
			body := resp.Body()
			if !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("body lacks %q: %s", tc.contains, body)
			}
			if tc.sep == "" {
				if !json.Valid(body) {
					t.Fatalf("invalid JSON: %s", body)
				}
				return
			}
			if got := len(events(t, body, tc.sep, tc.ndjson)); got != tc.wantEvents {
				t.Errorf("%d events, want %d:\n%s", got, tc.wantEvents, body)
			}
		})
	}
	c := s.Counts()
	if c.OpenAI != 4 || c.Anthropic != 2 || c.Gemini != 2 || c.Ollama != 2 || c.Streams != 5 {
		t.Errorf("counts %+v", c)
	}
}

func TestReplySize(t *testing.T) {
	t.Parallel()
	s := New(Config{ReplyBytes: 600})
	var v struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.Unmarshal(s.openaiJSON, &v); err != nil || len(v.Choices[0].Message.Content) != 600 {
		t.Fatalf("reply: %v %d", err, len(v.Choices[0].Message.Content))
	}
	var joined strings.Builder
	for _, ev := range s.openaiSSE[1 : len(s.openaiSSE)-2] {
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal(bytes.TrimSpace(bytes.TrimPrefix(ev, []byte("data: "))), &c); err != nil {
			t.Fatal(err)
		}
		joined.WriteString(c.Choices[0].Delta.Content)
	}
	if joined.String() != Reply(600) {
		t.Error("stream deltas do not add up to the reply")
	}
}

// TestPacing checks that the stream is chunked and paced: the client sees
// the first event after TTFT and the last one Interval later per event.
func TestPacing(t *testing.T) {
	t.Parallel()
	_, base := start(t, Config{Chunks: 3, TTFT: 30 * time.Millisecond, Interval: 10 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"stream":true}`
	t0 := time.Now()
	_, _ = conn.Write([]byte("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		t.Fatal(err)
	}
	el := time.Since(t0)
	if !bytes.Contains(resp.Header.Peek("Transfer-Encoding"), []byte("chunked")) && resp.Header.ContentLength() != -1 {
		t.Errorf("stream is not chunked: %s", resp.Header.String())
	}
	// 30 ms + 5 intervals (role, 3 deltas, finish, [DONE] = 6 events).
	if el < 70*time.Millisecond {
		t.Errorf("stream took %v, want at least 80ms of pacing", el)
	}
}

func TestBoolField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		def, want  bool
	}{
		{name: "absent", body: `{"model":"x"}`, def: true, want: true},
		{name: "true", body: `{"stream":true}`, want: true},
		{name: "spaced", body: "{\"stream\" :\n true}", want: true},
		{name: "false", body: `{"stream":false}`, def: true, want: false},
		{name: "escaped", body: `{"c":"\"stream\":true"}`, want: false},
		{name: "value-not-key", body: `{"mode":"stream","stream":true}`, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := boolField([]byte(tc.body), keyStream, tc.def); got != tc.want {
				t.Errorf("boolField(%s) = %v", tc.body, got)
			}
		})
	}
}

func TestHandlerJSONAllocs(t *testing.T) {
	s := New(Config{})
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/v1/chat/completions")
	ctx.Request.SetBodyString(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	s.Handler(&ctx)
	n := testing.AllocsPerRun(100, func() {
		ctx.Response.Reset()
		s.Handler(&ctx)
	})
	if n != 0 {
		t.Errorf("non-stream handler allocates %v per request", n)
	}
}
