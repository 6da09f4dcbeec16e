package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this binary as the gateway itself (GW_RUN_MAIN=1,
// the gateway's arguments after "--"): the process, its stderr and its
// library loggers are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("GW_RUN_MAIN") == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Exit(run(args))
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLogsStayJSONWhenRedisDies kills Redis under load and parses every line
// the gateway wrote to stderr as JSON; go-redis's own complaints must be
// among them, as records.
func TestLogsStayJSONWhenRedisDies(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server not installed; set CI=1 to make this a failure")
	}
	dir := t.TempDir()
	rport := freePort(t)
	redis := exec.Command(bin, "--port", strconv.Itoa(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = redis.Process.Kill(); _ = redis.Wait() }()
	waitTCP(t, "127.0.0.1:"+strconv.Itoa(rport))

	cfg := filepath.Join(dir, "gateway.toml")
	toml := fmt.Sprintf("data_dir = %q\n[reliability]\nrate_limit = true\nrate_limit_rpm = 100000\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	gw := exec.Command(os.Args[0], "-test.run=^$", "--", "-config", cfg, "-listen", addr)
	gw.Env = append(os.Environ(), "GW_RUN_MAIN=1", "GATEWAY_API_KEY=k", "REDIS_URL=redis://127.0.0.1:"+strconv.Itoa(rport)+"/0")
	var stderr bytes.Buffer
	gw.Stderr = &stderr
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gw.Process.Kill() }()
	waitTCP(t, addr)

	// Bounded load: 4 clients, one request at a time each, distinct
	// prompts so that the cache's Redis tier is read and written.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"model":"mock/echo","messages":[{"role":"user","content":"w%d r%d"}]}`, w, i)
				req, _ := http.NewRequest("POST", "http://"+addr+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer k")
				resp, err := client.Do(req)
				code := 0
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	_ = redis.Process.Kill()
	_ = redis.Wait()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	_ = gw.Process.Signal(syscall.SIGTERM)
	_ = gw.Wait()

	if codes[200] == 0 || len(codes) != 1 {
		t.Errorf("answers under the outage: %v, want only 200s", codes)
	}
	var lines, fromRedis int
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("line %d is not JSON: %q", lines, sc.Text())
			continue
		}
		if rec["source"] == "go-redis" {
			fromRedis++
		}
	}
	if fromRedis == 0 {
		t.Errorf("no go-redis record in %d lines: the outage was not logged", lines)
	}
	if fromRedis > 20 {
		t.Errorf("%d go-redis records in 4 s: not rate-limited", fromRedis)
	}
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	// Under -race on a busy 2-core machine, compiling the built-in
	// policies before the gateway listens has taken 40–120 s.
	deadline := time.Now().Add(180 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
