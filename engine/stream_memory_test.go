package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// heldUpstream is an OpenAI-compatible upstream on loopback whose streamed
// answers send their first chunk and then hold the connection open, silent,
// until Close: streams that stay open as long as the test wants. Its wire
// format is OpenAI's chat-completions streaming (API reference, "Create
// chat completion", stream=true: `text/event-stream`, each chunk a
// `data: {chat.completion.chunk}` event). It keeps no goroutine and no
// buffer per connection once the first chunk is written, so that the heap
// a test measures is the gateway's.
type heldUpstream struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

const heldChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"logprobs":null,"finish_reason":null}]}` + "\n\n"

func startHeldUpstream(t *testing.T) *heldUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &heldUpstream{ln: ln, done: make(chan struct{})}
	go u.serve()
	t.Cleanup(u.Close)
	return u
}

func (u *heldUpstream) url() string { return "http://" + u.ln.Addr().String() + "/v1" }

func (u *heldUpstream) serve() {
	defer close(u.done)
	br := bufio.NewReaderSize(nil, 8<<10) // one buffer for every connection, in turn
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(heldChunk)), 16) + "\r\n" + heldChunk + "\r\n"
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		br.Reset(c)
		if readRequest(br) != nil {
			c.Close()
			continue
		}
		if _, err := io.WriteString(c, head); err != nil {
			c.Close()
			continue
		}
		u.mu.Lock()
		u.conns = append(u.conns, c)
		u.mu.Unlock()
	}
}

// readRequest reads one HTTP/1.1 request with a Content-Length body.
func readRequest(br *bufio.Reader) error {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	_, err := br.Discard(n)
	return err
}

// Close ends every held stream and the listener.
func (u *heldUpstream) Close() {
	u.ln.Close()
	<-u.done
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.conns {
		c.Close()
	}
	u.conns = nil
}

// liveHeap is the heap's live objects after two collections (the second
// empties sync.Pool's victim caches) and the goroutine stacks, in bytes.
func liveHeap() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// streamBudget is the Go heap an open, idle stream may keep alive, test
// client's and upstream's sockets included (measured 2026-12-07: 28.3 KB;
// 33.4 KB before the SSE line buffer started at 512 bytes and the upstream
// request went back to its pool once sent). Most of it is fasthttp's
// per-connection buffers: the client connection's 8 KiB reader
// (max_header_bytes) and 4 KiB writer, the upstream connection's 4 KiB
// reader; then the exchange (2.5 KB) and fasthttp's request context (1.9 KB).
const streamBudget = 30 << 10

// TestOpenStreamHeapAllocs opens N streams through a real gateway on
// loopback (raw TCP clients, an upstream that holds each stream after its
// first chunk) and measures the live heap they keep, per stream, against
// streamBudget: what 1,000 slow streams cost a gateway is this times 1,000,
// twice over between collections. A per-stream copy that outlives the
// upstream request (a body, a decoded request, a full-size buffer) fails it.
func TestOpenStreamHeapAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory distorts heap figures")
	}
	up := startHeldUpstream(t)
	g := startGateway(t, fmt.Sprintf("[providers.openai]\nbase_url = %q\napi_key = \"sk-test\"\n", up.url()), nil)
	addr := strings.TrimPrefix(g.url, "http://")
	body := `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello in one sentence."}]}`
	req := "POST /v1/chat/completions HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + testKey +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	var buf [4096]byte
	open := func(n int) []net.Conn {
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			// Read until the first chunk has been relayed: the stream is
			// open, the upstream request sent, the relay waiting.
			got := 0
			for !bytes.Contains(buf[:got], []byte(`"Hello"`)) {
				k, err := c.Read(buf[got:])
				if err != nil {
					t.Fatalf("stream %d: %v after %q", len(conns), err, buf[:got])
				}
				got += k
				if got == len(buf) {
					t.Fatalf("stream %d: no first chunk in %q", len(conns), buf[:got])
				}
			}
			if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 200")) {
				t.Fatalf("stream %d: %q", len(conns), buf[:got])
			}
		}
		return conns
	}
	closeAll := func(conns []net.Conn) {
		for _, c := range conns {
			c.Close()
		}
	}
	// Warm the pools and the upstream connection machinery first.
	closeAll(open(20))
	const n = 200
	heap0, stacks0 := liveHeap()
	conns := open(n)
	heap1, stacks1 := liveHeap()
	per := (int64(heap1) - int64(heap0)) / n
	t.Logf("%d open streams: %d bytes of live heap each (budget %d), %d bytes of goroutine stacks each",
		n, per, streamBudget, (int64(stacks1)-int64(stacks0))/n)
	if per > streamBudget {
		t.Errorf("an open stream keeps %d bytes of heap alive, the budget is %d", per, streamBudget)
	}
	runtime.KeepAlive(conns)
	closeAll(conns)
}
