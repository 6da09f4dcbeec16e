package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawConn dials the gateway on loopback.
func (g *gw) rawConn(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readStatus reads one response's status line from c.
func readStatus(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no response: %v (read %q)", err, line)
	}
	return strings.TrimSpace(line)
}

// closedByServer reports whether the server closes c (EOF or reset) before
// a generous deadline, draining whatever it sent.
func closedByServer(c net.Conn) (bool, []byte) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var tail []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		tail = append(tail, buf[:n]...)
		if len(tail) > 4096 {
			tail = tail[len(tail)-4096:]
		}
		if err != nil {
			return !isTimeout(err), tail
		}
	}
}

func TestFirstByteDeadlineClosesSilentConnections(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `first_byte_timeout = "1s"`+"\n", nil)
	silent := g.rawConn(t)
	// A client that starts at once may take longer than the first-byte
	// deadline for the rest of its request.
	slow := g.rawConn(t)
	if _, err := slow.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	if closed, _ := closedByServer(silent); !closed {
		t.Fatal("a connection that never sent a byte is still open after 30 s")
	}
	if _, err := slow.Write([]byte("ET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatalf("slow but started client cut: %v", err)
	}
	if got := readStatus(t, slow); got != "HTTP/1.1 200 OK" {
		t.Fatalf("slow client: %q", got)
	}
}

func TestStalledStreamReaderFreesProviderSlot(t *testing.T) {
	t.Parallel()
	// One slot; the lorem answer is megabytes of SSE, far more than the
	// socket buffers hold, so a client that never reads stalls the writes.
	g := startGateway(t, `
write_timeout = "1s"
queue_timeout = "60s"
[cache]
enabled = false
[providers.mock]
max_in_flight = 1
reply_bytes = 2000000
`, nil)
	stalled := g.rawConn(t)
	if tc, ok := stalled.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	body := `{"model":"mock/lorem","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(stalled, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	// The stream holds the slot once its answer has begun.
	var first [16]byte
	_ = stalled.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(stalled, first[:]); err != nil || !bytes.HasPrefix(first[:], []byte("HTTP/1.1 200")) {
		t.Fatalf("stream did not start: %q %v", first, err)
	}
	// The second request needs the only slot: it is served once the
	// stalled stream is cut, long before its 60 s queue timeout.
	req, _ := http.NewRequest("POST", g.url+"/v1/chat/completions", strings.NewReader(`{"model":"mock/echo","messages":[{"role":"user","content":"second"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := (&http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("second request: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("second request: %d %s", resp.StatusCode, b)
	}
	// The server closed the stalled connection (what reaches the client
	// after its buffers drain is up to the kernel): fasthttp counts open
	// connections: none once the second request's connection closes too.
	waitFor(t, "the stalled connection closed", func() bool { return g.srv.srv.GetOpenConnectionsCount() == 0 })
	if !strings.Contains(g.logText(), `"status":499`) {
		t.Fatalf("cut stream not logged as client gone (499):\n%s", g.logText())
	}
}

func TestConnectionsPerAddressCapped(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "max_conns_per_ip = 3\nfirst_byte_timeout = \"60s\"\n", nil)
	held := []net.Conn{g.rawConn(t), g.rawConn(t), g.rawConn(t)}
	// The three are accepted (and counted) before the fourth arrives.
	for _, c := range held {
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if got := readStatus(t, c); got != "HTTP/1.1 200 OK" {
			t.Fatalf("held connection: %q", got)
		}
	}
	over := g.rawConn(t)
	fmt.Fprint(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readStatus(t, over); !strings.HasPrefix(got, "HTTP/1.1 429") {
		t.Fatalf("fourth connection: %q, want 429", got)
	}
	held[0].Close()
	waitFor(t, "a slot after closing a connection", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), 5*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "HTTP/1.1 200")
	})
}

func TestOversizedHeadersGet431(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, _, body := g.post(t, "/v1/chat/completions", `{}`, map[string]string{"X-Big": strings.Repeat("a", 20<<10)})
	if status != 431 || !strings.Contains(body, `"code":"header_too_large"`) {
		t.Fatalf("oversized headers: %d %s", status, body)
	}
	// Headers under the limit pass.
	if status, _ := g.get(t, "/healthz", map[string]string{"X-Big": strings.Repeat("a", 4<<10)}); status != 200 {
		t.Fatalf("6 KiB of headers: %d", status)
	}
}

func TestCaseFixingRedirectIsRelative(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	for _, path := range []string{"/V1/Models", "/V1/MODELS?x=1", "//V1/models"} {
		c := g.rawConn(t)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: evil.example\r\n\r\n", path)
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 == 3 && (!strings.HasPrefix(loc, "/v1/models") || strings.Contains(loc, "evil")) {
			t.Fatalf("%s: %d Location %q", path, resp.StatusCode, loc)
		}
		if path == "/V1/Models" && (resp.StatusCode != 301 || loc != "/v1/models") {
			t.Fatalf("%s: %d Location %q, want 301 /v1/models", path, resp.StatusCode, loc)
		}
	}
}

// scriptedListener returns its errors, then its connection, then closed.
type scriptedListener struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	if l.conn != nil {
		c := l.conn
		l.conn = nil
		return c, nil
	}
	return nil, net.ErrClosed
}

func TestAcceptBacksOffOnErrors(t *testing.T) {
	t.Parallel()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errs := []error{emfile, emfile, emfile, emfile, emfile, emfile, emfile, emfile, emfile}
	var slept []time.Duration
	cfg := Defaults()
	l := newGuardedListener(&scriptedListener{errs: errs, conn: a}, &cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	l.sleep = func(d time.Duration) { slept = append(slept, d) }
	c, err := l.Accept()
	if err != nil || c == nil {
		t.Fatalf("Accept after errors: %v", err)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Fatalf("back-off %v, want %v", slept, want)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed listener: %v", err)
	}
}

// TestAcceptSurvivesFDExhaustion runs a gateway in a child process whose
// open-file limit is a few descriptors above what it holds, opens far more
// silent connections than that, and checks the gateway still answers: it
// waits out EMFILE, and the first-byte deadline frees the descriptors.
func TestAcceptSurvivesFDExhaustion(t *testing.T) {
	if os.Getenv("GW_FD_CHILD") == "1" {
		fdChild(t)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child gateway")
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesFDExhaustion$", "-test.v")
	cmd.Env = append(os.Environ(), "GW_FD_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "FDCHILD-ADDR "); ok {
				addr <- a
			}
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("child: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-exited:
		t.Fatalf("child exited before serving: %v", err)
	case <-time.After(120 * time.Second):
		t.Fatal("child did not start")
	}
	var silent []net.Conn
	for range 64 {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		silent = append(silent, c)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", a, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("gateway did not answer after descriptor exhaustion: %q %v", line, err)
	}
	select {
	case err := <-exited:
		t.Fatalf("child exited: %v", err)
	default:
	}
}

// fdChild is the child's side: serve, lower the limit, print the address,
// and wait for the parent to close stdin.
func fdChild(t *testing.T) {
	g := startGateway(t, `first_byte_timeout = "1s"`+"\n", nil)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + 12)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("FDCHILD-ADDR %s\n", strings.TrimPrefix(g.url, "http://"))
	_, _ = io.Copy(io.Discard, os.Stdin)
	if !strings.Contains(g.logText(), "accept failed; retrying") {
		t.Errorf("no accept error logged: the limit was not reached")
	}
}

// healthy sends one request on a fresh connection and reports its status
// line.
func (g *gw) healthy(t *testing.T) string {
	t.Helper()
	c := g.rawConn(t)
	defer c.Close()
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	return readStatus(t, c)
}

// Slowloris: connections that trickle their headers a byte at a time are
// cut once read_timeout has passed since their request began (a trickle
// does not extend it), and the gateway serves others meanwhile.
func TestSlowlorisConnectionsAreCut(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "read_timeout = \"2s\"\nfirst_byte_timeout = \"1s\"\nmax_conns_per_ip = 0\n", nil)
	const n = 100
	head := []byte("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("a", 4000) + "\r\n\r\n")
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = g.rawConn(t)
	}
	stop := make(chan struct{})
	defer close(stop)
	for _, c := range conns {
		go func() {
			// One byte every 50 ms: the headers would take 200 s.
			for _, b := range head {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return // cut by the server
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	if got := g.healthy(t); got != "HTTP/1.1 200 OK" {
		t.Fatalf("a normal client while %d trickle: %q", n, got)
	}
	for i, c := range conns {
		if closed, tail := closedByServer(c); !closed {
			t.Fatalf("slowloris connection %d still open after 30 s (read %q)", i, tail)
		}
	}
	if got := g.healthy(t); got != "HTTP/1.1 200 OK" {
		t.Fatalf("a normal client after: %q", got)
	}
}

// 2,000 connections that never send a byte are held without harm (the
// gateway keeps answering) and closed by first_byte_timeout; 2,000
// keep-alive connections idle after a request are held open and still
// serve their next request.
func TestManyIdleConnections(t *testing.T) {
	t.Parallel()
	const n = 2000
	g := startGateway(t, "first_byte_timeout = \"3s\"\nmax_conns_per_ip = 0\n", nil)
	addr := strings.TrimPrefix(g.url, "http://")
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("silent", func(t *testing.T) {
		silent := make([]net.Conn, n)
		for i := range silent {
			silent[i] = dial()
		}
		defer func() {
			for _, c := range silent {
				c.Close()
			}
		}()
		if got := g.healthy(t); got != "HTTP/1.1 200 OK" {
			t.Fatalf("with %d silent connections: %q", n, got)
		}
		eventually(t, 60*time.Second, "every silent connection closed by the server", func() bool {
			return g.srv.srv.GetOpenConnectionsCount() == 0
		})
		for i, c := range silent {
			if closed, _ := closedByServer(c); !closed {
				t.Fatalf("silent connection %d still open", i)
			}
		}
	})

	t.Run("keep-alive", func(t *testing.T) {
		idle := make([]net.Conn, n)
		readers := make([]*bufio.Reader, n)
		defer func() {
			for _, c := range idle {
				if c != nil {
					c.Close()
				}
			}
		}()
		ask := func(i int) {
			t.Helper()
			c := idle[i]
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(readers[i], nil)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("connection %d: %d", i, resp.StatusCode)
			}
		}
		// Each connection's request follows its dial at once: dialing all
		// of them first could outlast first_byte_timeout on a loaded
		// machine (the server then rightly answers 408).
		for i := range idle {
			idle[i] = dial()
			readers[i] = bufio.NewReader(idle[i])
			ask(i)
		}
		if open := g.srv.srv.GetOpenConnectionsCount(); open < n {
			t.Fatalf("%d connections open, want the %d idle ones", open, n)
		}
		if got := g.healthy(t); got != "HTTP/1.1 200 OK" {
			t.Fatalf("with %d idle connections: %q", n, got)
		}
		for i := 0; i < n; i += 97 { // a sample serves again
			ask(i)
		}
	})
}

// TestUploadTooLargeAnswered: a body over max_body_bytes that the client
// sends whole, as the SDKs' uploads do, still gets the 413 envelope: the
// gateway reads on (and throws away) what follows it instead of closing a
// connection with unread bytes, which resets it and loses the answer.
func TestUploadTooLargeAnswered(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "max_body_bytes = 65536\n", nil)
	addr := strings.TrimPrefix(g.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	body := bytes.Repeat([]byte("x"), 8<<20)
	head := "POST /v1/files HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + testKey +
		"\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatalf("the gateway reset the upload: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), `"code":"request_too_large"`) || !strings.Contains(string(b), `"type":"invalid_request_error"`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
