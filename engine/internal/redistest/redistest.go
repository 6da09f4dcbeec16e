// Package redistest starts real redis-server processes for tests, on free
// loopback ports, with persistence off.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server started by a test and killed on cleanup.
type Server struct {
	t    testing.TB
	bin  string
	Port int
	dir  string
	cmd  *exec.Cmd
	// extra are more redis-server arguments (cluster mode).
	extra []string
	// conf, when set, is a configuration file to run with --sentinel.
	conf string
	// out collects the running process's output; exited is closed when
	// it exits (a goroutine waits for it).
	out    *lockedBuffer
	exited chan struct{}
	// started is set once the server answered: from then on its port is
	// its identity (a cluster's nodes know each other by it).
	started bool
}

// lockedBuffer is the process's stdout and stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort picks a free loopback port below the kernel's ephemeral range
// (32768 and up on Linux): an outgoing connection never takes it as its
// source port while the server is down for a Restart, which a port from
// net.Listen(":0") is exposed to. With bus, port+10000 (a cluster node's
// bus port, also below that range) is free too.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 1000 {
		p := 10000 + rand.IntN(12000)
		if !canBind(p) || bus && !canBind(p+10000) {
			continue
		}
		return p
	}
	t.Fatal("no free loopback port in 10000-22000")
	return 0
}

func canBind(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Start starts a redis-server. Without the binary it fails under CI (which
// installs it) and skips elsewhere.
func Start(t testing.TB) *Server {
	t.Helper()
	return startWith(t)
}

// startWith starts a redis-server with extra arguments.
func startWith(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed (apt-get install redis-server; .ci/run does this)")
		}
		t.Skip("redis-server not installed; set CI=1 to make this a failure")
	}
	cluster := slices.Contains(extra, "--cluster-enabled")
	s := &Server{t: t, bin: bin, Port: freePort(t, cluster), dir: t.TempDir(), extra: extra}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://127.0.0.1:" + strconv.Itoa(s.Port) + "/0" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Client returns a new client of the server (the caller closes it).
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
}

// Signal sends sig to the server (SIGSTOP/SIGCONT to make it hang and
// resume).
func (s *Server) Signal(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		s.t.Fatal("redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// Restart starts the server (again) on its port and waits until it answers.
// If the port is taken (by another test process between freePort and the
// bind), a first start moves to another port and a restart waits for it;
// a server that exits or never answers fails the test with its output.
func (s *Server) Restart() {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.start(deadline)
		if err == nil {
			s.started = true
			return
		}
		inUse := errors.Is(err, errPortTaken) || strings.Contains(s.out.String(), "Address already in use")
		if !inUse || time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d: %v\n%s", s.Port, err, s.out.String())
		}
		if !s.started && s.conf == "" {
			s.Port = freePort(s.t, slices.Contains(s.extra, "--cluster-enabled"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start runs the process once and waits until it answers, exits, or the
// deadline passes (then it is killed).
func (s *Server) start(deadline time.Time) error {
	if s.conf != "" {
		s.cmd = exec.Command(s.bin, s.conf, "--sentinel", "--loglevel", "warning")
	} else {
		s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", s.dir, "--loglevel", "warning")
		s.cmd.Args = append(s.cmd.Args, s.extra...)
	}
	s.out = &lockedBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		var info string
		if err == nil {
			info, err = c.Info(ctx, "server").Result()
		}
		cancel()
		if err == nil {
			// The server that answers must be ours: another test's, started
			// on the same port a moment earlier, answers too while ours
			// fails to bind.
			if !strings.Contains(info, "process_id:"+strconv.Itoa(s.cmd.Process.Pid)+"\r\n") {
				s.Stop()
				return errPortTaken
			}
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return errors.New("exited before answering")
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("did not answer: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errPortTaken: another redis-server answered on the port.
var errPortTaken = errors.New("another redis-server answers on the port")

// Stop kills the server (SIGKILL, as abrupt as a crash) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Cluster is a Redis Cluster of masters started by a test (no replicas),
// killed on cleanup.
type Cluster struct {
	// Nodes are the masters, in start order.
	Nodes []*Server
}

// StartCluster starts n redis-server processes with cluster mode on, on
// free loopback ports, and joins them with redis-cli --cluster create. It
// skips when redis-cli is absent (outside CI) and waits until the cluster
// reports ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-cli is not installed (apt-get install redis-tools)")
		}
		t.Skip("redis-cli not installed: the Redis Cluster test needs it")
	}
	c := &Cluster{}
	args := []string{"--cluster", "create"}
	for range n {
		// Without full coverage required, the other masters keep serving
		// their slots while one is down (the gateway's recommendation).
		s := startWith(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--cluster-config-file", "nodes.conf",
			"--cluster-require-full-coverage", "no")
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(t)
	return c
}

// WaitOK waits until every node reports cluster_state:ok (after a start or
// a node's restart).
func (c *Cluster) WaitOK(t testing.TB) {
	t.Helper()
	cc := c.Client()
	defer cc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := cc.ClusterInfo(ctx).Result()
		ok := err == nil && strings.Contains(info, "cluster_state:ok")
		if ok {
			// Every node must know every slot before keys are routed.
			err = cc.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
				i, err := node.ClusterInfo(ctx).Result()
				if err == nil && !strings.Contains(i, "cluster_state:ok") {
					err = errors.New("not ok yet")
				}
				return err
			})
			ok = err == nil
		}
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not ok after 30 s: %v %s", err, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the gateway's redis+cluster:// URL for the cluster (every node a
// seed).
func (c *Cluster) URL() string {
	u := "redis+cluster://" + c.Nodes[0].Addr()
	for i, s := range c.Nodes[1:] {
		if i == 0 {
			u += "?addr=" + s.Addr()
		} else {
			u += "&addr=" + s.Addr()
		}
	}
	return u
}

// Client returns a cluster client (the caller closes it).
func (c *Cluster) Client() *redis.ClusterClient {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr()
	}
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRetries: -1})
}

// Sentinel is a primary, one replica and one Sentinel (quorum 1) started by
// a test, killed on cleanup. The Sentinel runs redis-server --sentinel, so
// no redis-sentinel binary is needed.
type Sentinel struct {
	t testing.TB
	// Master and Replica are the data nodes as started; after a failover
	// the replica is the primary (see Primary).
	Master, Replica *Server
	// Sentinel is the Sentinel process (its Port the one clients ask).
	Sentinel *Server
}

// SentinelMaster is the master name the Sentinel monitors.
const SentinelMaster = "gwmaster"

// StartSentinel starts a primary, a replica of it and a Sentinel watching
// them (down after 1 s, failover timeout 5 s), and waits until the
// Sentinel knows the replica.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	m := startWith(t)
	r := startWith(t, "--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
	port := freePort(t, false)
	dir := t.TempDir()
	conf := dir + "/sentinel.conf"
	// Sentinel rewrites its configuration file: it must be writable.
	if err := os.WriteFile(conf, []byte("port "+strconv.Itoa(port)+"\nbind 127.0.0.1\ndir "+dir+"\n"+
		"sentinel monitor "+SentinelMaster+" 127.0.0.1 "+strconv.Itoa(m.Port)+" 1\n"+
		"sentinel down-after-milliseconds "+SentinelMaster+" 1000\n"+
		"sentinel failover-timeout "+SentinelMaster+" 5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: m.bin, Port: port, dir: dir, conf: conf}
	s.Restart()
	t.Cleanup(s.Stop)
	sn := &Sentinel{t: t, Master: m, Replica: r, Sentinel: s}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer sc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		reps, err := sc.Replicas(ctx, SentinelMaster).Result()
		cancel()
		if err == nil && len(reps) == 1 {
			return sn
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Sentinel does not see the replica after 30 s: %v %v", reps, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// URL is the gateway's redis+sentinel:// URL.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + s.Sentinel.Addr() + "?master_name=" + SentinelMaster
}

// Primary asks the Sentinel for the primary's address.
func (s *Sentinel) Primary() (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr(), MaxRetries: -1})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// WaitFailover waits until the Sentinel names a primary other than old and
// that primary answers as a master.
func (s *Sentinel) WaitFailover(t testing.TB, old string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if a, err := s.Primary(); err == nil && a != old {
			c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			role, err := c.Do(ctx, "ROLE").Slice()
			cancel()
			c.Close()
			if err == nil && len(role) > 0 && role[0] == "master" {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover away from %s within 60 s", old)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
