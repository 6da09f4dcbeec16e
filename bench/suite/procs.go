package suite

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// proc is a child process the run started, possibly pinned to CPUs.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // file holding its stderr (and stdout unless captured)
	done chan struct{}
	err  error
}

// startProc starts wrap followed by argv (wrap is e.g. nice and taskset,
// which exec the command: the PID stays the command's). Output goes to
// dir/name.log; when stdout is not nil it receives stdout.
func startProc(dir, name string, wrap []string, env []string, stdout io.Writer, argv ...string) (*proc, error) {
	argv = append(append([]string(nil), wrap...), argv...)
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = lf
	cmd.Stdout = lf
	if stdout != nil {
		cmd.Stdout = io.MultiWriter(lf, stdout)
	}
	// Its own process group, so that stopping it stops what it spawned
	// (npx → node) and a Ctrl-C of the run reaches us first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// tail returns the last n bytes of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// lineWaiter captures stdout until a line with a prefix shows up.
type lineWaiter struct {
	prefix string
	ch     chan string
	buf    bytes.Buffer
	sent   bool
}

func newLineWaiter(prefix string) *lineWaiter {
	return &lineWaiter{prefix: prefix, ch: make(chan string, 1)}
}

func (w *lineWaiter) Write(b []byte) (int, error) {
	if w.sent {
		return len(b), nil
	}
	w.buf.Write(b)
	sc := bufio.NewScanner(bytes.NewReader(w.buf.Bytes()))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), w.prefix); ok {
			w.sent = true
			w.ch <- strings.TrimSpace(rest)
			break
		}
	}
	return len(b), nil
}

func (w *lineWaiter) wait(p *proc, timeout time.Duration) (string, error) {
	select {
	case s := <-w.ch:
		return s, nil
	case <-p.done:
		return "", fmt.Errorf("%s exited: %s", p.name, p.tail(2000))
	case <-time.After(timeout):
		return "", fmt.Errorf("%s did not print %q within %v: %s", p.name, w.prefix, timeout, p.tail(2000))
	}
}

// waitHTTP polls url until it answers 2xx or the process exits.
func waitHTTP(p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, _, _, err := httpDo("GET", url, nil, nil, time.Second)
		if err == nil && status >= 200 && status < 300 {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail(2000))
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("HTTP %d", status)
			}
			return fmt.Errorf("%s not ready at %s within %v: %v", nameOf(p), url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nameOf(p *proc) string {
	if p == nil {
		return "server"
	}
	return p.name
}

// httpDo sends one request and returns the status, the body and the
// response headers.
func httpDo(method, url string, body []byte, headers []header, timeout time.Duration) (int, []byte, map[string]string, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	for _, h := range headers {
		req.Header.Set(h.Name, h.Value)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := fasthttp.DoTimeout(req, resp, timeout); err != nil {
		return 0, nil, nil, err
	}
	hs := map[string]string{}
	for k, v := range resp.Header.All() {
		hs[strings.ToLower(string(k))] = string(v)
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), hs, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// procStat is a process tree's resource use at one moment.
type procStat struct {
	cpu time.Duration // user + system, every process in the tree
	// wait is the time the tree's threads spent runnable but not running
	// (schedstat): the CPU they wanted and did not get, from other processes
	// or from each other.
	wait  time.Duration
	hwmKB int64 // peak resident set since the last reset, summed
	rssKB int64
}

// clkTck is USER_HZ, the unit of /proc/PID/stat times; 100 on every Linux
// architecture Go supports.
const clkTck = 100

// treePIDs returns pid and its descendants.
func treePIDs(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := statFields(b)
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], n)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields splits /proc/PID/stat after the command name (which may hold
// spaces): field 0 is the state, 1 the parent PID, 11 utime, 12 stime.
func statFields(b []byte) []string {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func readStat(pid int) (procStat, error) {
	var s procStat
	for _, p := range treePIDs(pid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			if p == pid {
				return s, err
			}
			continue
		}
		f := statFields(b)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		s.cpu += time.Duration(ut+st) * time.Second / clkTck
		if tasks, err := os.ReadDir("/proc/" + strconv.Itoa(p) + "/task"); err == nil {
			for _, t := range tasks {
				b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/task/" + t.Name() + "/schedstat")
				if err != nil {
					continue
				}
				if f := strings.Fields(string(b)); len(f) >= 2 {
					w, _ := strconv.ParseInt(f[1], 10, 64)
					s.wait += time.Duration(w)
				}
			}
		}
		st2, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st2), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			switch k {
			case "VmHWM":
				s.hwmKB += n
			case "VmRSS":
				s.rssKB += n
			}
		}
	}
	return s, nil
}

// resetPeak resets the peak RSS of a process tree (clear_refs "5").
func resetPeak(pid int) error {
	var first error
	for _, p := range treePIDs(pid) {
		if err := os.WriteFile("/proc/"+strconv.Itoa(p)+"/clear_refs", []byte("5"), 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}

var errNoTaskset = errors.New("taskset not found")
