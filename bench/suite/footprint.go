package suite

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Footprint is the resident set of a gateway started as a new user starts
// it: no configuration file at all (the embedded defaults, the mock
// provider), one chat request, then a second's rest.
type Footprint struct {
	RSSMB  float64 `json:"rss_mb"`
	AnonMB float64 `json:"anon_mb"` // heap, compiled policy code, guest memories, stacks
	FileMB float64 `json:"file_mb"` // pages of the binary mapped in (clean, shared with the page cache)
	Error  string  `json:"error,omitempty"`
}

// emptyConfigFootprint starts bin/gateway with no -config in a directory of
// its own (its data/ goes there), pinned like the benchmark's gateway, sends
// one request to mock/echo and reads /proc/PID/status.
func (e *env) emptyConfigFootprint() *Footprint {
	fp := &Footprint{}
	fail := func(err error) *Footprint {
		fp.Error = err.Error()
		return fp
	}
	dir := filepath.Join(e.tmp, "empty-config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	argv := append(e.wrap(e.gwCPUs), filepath.Join(e.bin, "gateway"))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(gatewayEnv(), "PORT="+strconv.Itoa(port))
	logf, err := os.Create(filepath.Join(e.tmp, "empty-config.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if status, _, _, err := httpDo("GET", base+"/healthz", nil, nil, time.Second); err == nil && status == 200 {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("no /healthz within 90 s"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := []byte(`{"model":"mock/echo","messages":[{"role":"user","content":"Say hello in one sentence."}]}`)
	status, resp, _, err := httpDo("POST", base+"/v1/chat/completions", body, []header{{Name: "Content-Type", Value: "application/json"}}, 10*time.Second)
	if err != nil || status != 200 {
		return fail(fmt.Errorf("request: HTTP %d %v %.200s", status, err, resp))
	}
	time.Sleep(time.Second)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	if err != nil {
		return fail(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			fp.RSSMB = round(kb/1024, 1)
		case "RssAnon":
			fp.AnonMB = round(kb/1024, 1)
		case "RssFile":
			fp.FileMB = round(kb/1024, 1)
		}
	}
	return fp
}
