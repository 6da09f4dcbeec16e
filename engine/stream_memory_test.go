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
// first chunk) and measures the live heap they keep, per stream, against a
// budget: what 1,000 slow streams cost a gateway is this times 1,000,
// twice over between collections. A per-stream copy that outlives the
// upstream request (a body, a full-size buffer) fails it; with a 16 KiB
// prompt, each copy of the prompt kept costs 16 KiB or more.
func TestOpenStreamHeapAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory distorts heap figures")
	}
	up := startHeldUpstream(t)
	g := startGateway(t, fmt.Sprintf("max_conns_per_ip = 0\n[providers.openai]\nbase_url = %q\napi_key = \"sk-test\"\n", up.url()), nil)
	for _, tc := range []struct {
		name   string
		prompt int
		budget int64
	}{
		{name: "short prompt", prompt: 0, budget: streamBudget},
		// The decoded request keeps its copy of the body for the stream's
		// life (the accounting at its end reads it); the client's body
		// (32 KiB of buffer) and the upstream body no longer stay.
		// Measured 2026-12-07: 46 KB; 102 KB before.
		{name: "16 KiB prompt", prompt: 16 << 10, budget: streamBudget + 16<<10 + 4<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			per, stacks := openStreamsHeap(t, g, tc.prompt, 200)
			t.Logf("200 open streams, prompt %d bytes: %d bytes of live heap each (budget %d), %d bytes of goroutine stacks each",
				tc.prompt, per, tc.budget, stacks)
			if per > tc.budget {
				t.Errorf("an open stream keeps %d bytes of heap alive, the budget is %d", per, tc.budget)
			}
		})
	}
}

// openStreamsHeap opens n streams with a prompt of about promptBytes and
// returns the live heap and goroutine stacks each keeps, in bytes.
func openStreamsHeap(t *testing.T, g *gw, promptBytes, n int) (heap, stacks int64) {
	addr := strings.TrimPrefix(g.url, "http://")
	content := "Say hello in one sentence." + strings.Repeat(" lorem ipsum", promptBytes/12)
	body := `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"` + content + `"}]}`
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
	heap0, stacks0 := liveHeap()
	conns := open(n)
	heap1, stacks1 := liveHeap()
	runtime.KeepAlive(conns)
	closeAll(conns)
	return (int64(heap1) - int64(heap0)) / int64(n), (int64(stacks1) - int64(stacks0)) / int64(n)
}
