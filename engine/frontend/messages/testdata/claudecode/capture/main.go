// Command capture records the HTTP requests an Anthropic client (Claude
// Code) sends, and answers each POST /v1/messages with a valid Anthropic
// message (a stream of named SSE events when the request asked for one) so
// that the client carries on. It listens on loopback only.
//
// Each request is written to -out as two files: NNN-METHOD_path.json,
//
//	{"method":"POST","uri":"/v1/messages?beta=true","headers":{…}}
//
// with x-api-key and authorization redacted, and NNN-METHOD_path.body.json,
// the body byte for byte as received. With -tool NAME and -input
// JSON, a request that offers that tool and whose last turn holds no
// tool_result is answered with a tool_use of it (preceded, with -thinking,
// by a thinking block with a made-up signature and a redacted_thinking
// block, so that the next request carries them back); every other request is answered with -reply.
//
// See ../README.md for the commands that produced the fixtures.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	out := flag.String("out", "captured", "directory for the captured requests")
	reply := flag.String("reply", "Hello! I am the capture server.", "text of every answer that is not a tool call")
	tool := flag.String("tool", "", "tool to call once, when the request offers it")
	input := flag.String("input", "{}", "JSON object: the input of the tool call")
	thinking := flag.Bool("thinking", false, "put a thinking block before the tool call")
	life := flag.Duration("for", 5*time.Minute, "exit after this long")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || (host != "127.0.0.1" && host != "::1" && host != "localhost") {
		log.Fatalf("-listen must be a loopback address, got %q", *listen)
	}
	if !json.Valid([]byte(*input)) {
		log.Fatalf("-input is not JSON: %s", *input)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	c := &capturer{dir: *out, reply: *reply, tool: *tool, input: *input, thinking: *thinking}
	srv := &http.Server{Handler: c, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	time.AfterFunc(*life, func() { _ = srv.Close() })
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

type capturer struct {
	dir, reply, tool, input string
	thinking                bool

	mu sync.Mutex
	n  int
}

func (c *capturer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	c.record(r, body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"not_found_error","message":"not captured: `+r.URL.Path+`"}}`)
		return
	}
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"body is not JSON"}}`)
		return
	}
	offered := false
	for _, t := range req.Tools {
		offered = offered || t.Name == c.tool
	}
	answered := len(req.Messages) > 0 && bytes.Contains(req.Messages[len(req.Messages)-1].Content, []byte(`"tool_result"`))
	var blocks []block
	stop := "end_turn"
	if c.tool != "" && offered && !answered {
		if c.thinking {
			blocks = append(blocks, block{typ: "thinking", text: "The user wants the file read; I will call " + c.tool + "."}, block{typ: "redacted_thinking"})
		}
		blocks = append(blocks, block{typ: "tool_use", name: c.tool, input: c.input})
		stop = "tool_use"
	} else {
		blocks = append(blocks, block{typ: "text", text: c.reply})
	}
	c.mu.Lock()
	id := fmt.Sprintf("msg_capture%04d", c.n)
	c.mu.Unlock()
	if !req.Stream {
		var parts []string
		for _, b := range blocks {
			parts = append(parts, b.full())
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":%q,"type":"message","role":"assistant","model":%q,"content":[%s],"stop_reason":%q,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":5}}`,
			id, req.Model, strings.Join(parts, ","), stop)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(event, data string) {
		_, _ = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		if fl != nil {
			fl.Flush()
		}
	}
	send("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":%q,"type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`, id, req.Model))
	for i, b := range blocks {
		send("content_block_start", fmt.Sprintf(`{"type":"content_block_start","index":%d,"content_block":%s}`, i, b.start()))
		for _, d := range b.deltas() {
			send("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":%d,"delta":%s}`, i, d))
		}
		send("content_block_stop", fmt.Sprintf(`{"type":"content_block_stop","index":%d}`, i))
	}
	send("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":5}}`, stop))
	send("message_stop", `{"type":"message_stop"}`)
}

// signature is made up: only Anthropic can sign thinking, and the client
// does not check it.
const signature = "RXF3QkNrWUlCUkFDR0FJcVFDYXB0dXJlZA=="

// redacted is a redacted_thinking block with made-up encrypted data.
const redacted = `{"type":"redacted_thinking","data":"RXJyZWRhY3RlZCB0aGlua2luZywgY2FwdHVyZWQ="}`

type block struct{ typ, text, name, input string }

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func (b block) full() string {
	switch b.typ {
	case "thinking":
		return `{"type":"thinking","thinking":` + q(b.text) + `,"signature":"` + signature + `"}`
	case "tool_use":
		return `{"type":"tool_use","id":"toolu_capture01","name":` + q(b.name) + `,"input":` + b.input + `}`
	case "redacted_thinking":
		return redacted
	}
	return `{"type":"text","text":` + q(b.text) + `}`
}

func (b block) start() string {
	switch b.typ {
	case "thinking":
		return `{"type":"thinking","thinking":"","signature":""}`
	case "tool_use":
		return `{"type":"tool_use","id":"toolu_capture01","name":` + q(b.name) + `,"input":{}}`
	case "redacted_thinking":
		return redacted
	}
	return `{"type":"text","text":""}`
}

func (b block) deltas() []string {
	switch b.typ {
	case "thinking":
		return []string{`{"type":"thinking_delta","thinking":` + q(b.text) + `}`, `{"type":"signature_delta","signature":"` + signature + `"}`}
	case "tool_use":
		return []string{`{"type":"input_json_delta","partial_json":` + q(b.input) + `}`}
	case "redacted_thinking":
		return nil // the whole block comes in content_block_start
	}
	return []string{`{"type":"text_delta","text":` + q(b.text) + `}`}
}

func (c *capturer) record(r *http.Request, body []byte) {
	headers := map[string]string{}
	for k, v := range r.Header {
		switch strings.ToLower(k) {
		case "x-api-key", "authorization":
			v = []string{"REDACTED"}
		}
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	rec := struct {
		Method  string            `json:"method"`
		URI     string            `json:"uri"`
		Headers map[string]string `json:"headers"`
	}{Method: r.Method, URI: r.URL.RequestURI(), Headers: headers}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		log.Print(err)
		return
	}
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	name := fmt.Sprintf("%03d-%s%s", n, r.Method, strings.ReplaceAll(r.URL.Path, "/", "_"))
	if err := os.WriteFile(filepath.Join(c.dir, name+".json"), append(b, '\n'), 0o644); err != nil {
		log.Print(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, name+".body.json"), body, 0o644); err != nil {
		log.Print(err)
	}
	log.Printf("%s %s (%d bytes) → %s", r.Method, r.URL.RequestURI(), len(body), name)
}
