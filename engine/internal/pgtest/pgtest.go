// Package pgtest runs a real, throwaway PostgreSQL server for the tests of
// one test binary and hands each test a fresh database on it.
//
// The server starts on first use (initdb into a temporary directory, then
// postgres on a free loopback port, fsync off) and is killed, process group
// and all, by Main after the tests; should the binary die first, the kernel
// kills the server with it (parent-death signal). As root it runs the server
// as the "postgres" user (or "nobody"), because PostgreSQL refuses root.
//
// Without the binaries (initdb on PATH or /usr/lib/postgresql/*/bin) tests
// are skipped, or fail when CI is set: .ci/run installs them.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Main runs a package's tests and then stops the server, if one was
// started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain with more to do: it runs the tests, stops the
// server and returns the exit code.
func Run(m *testing.M) int {
	code := m.Run()
	stop()
	return code
}

var (
	mu      sync.Mutex
	srv     *server
	srvErr  error
	dbCount int
)

type server struct {
	dir   string // removed on stop
	port  int
	cmd   *exec.Cmd
	admin *pgx.Conn // to the "postgres" database; guarded by mu
	// bin, data and attr start postgres again (Restart); exited receives
	// the running postmaster's exit.
	bin, data string
	attr      func() *syscall.SysProcAttr
	exited    chan error
}

// URL returns the URL of a new, empty database on the binary's server,
// starting the server on first use; the database is dropped when the test
// ends. It skips the test when PostgreSQL is not installed (fails under CI).
func URL(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if srv == nil && srvErr == nil {
		srv, srvErr = start()
	}
	if errors.Is(srvErr, errNoBinaries) {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: %v (apt-get install postgresql; .ci/run does this)", srvErr)
		}
		t.Skipf("pgtest: %v; set CI=1 to make this a failure", srvErr)
	}
	if srvErr != nil {
		t.Fatalf("pgtest: %v", srvErr)
	}
	dbCount++
	name := "test_" + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(dbCount)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a test left open; failing to drop only
		// costs disk until the server is removed.
		_, _ = srv.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return srv.url(name)
}

func (s *server) url(db string) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(s.port) + "/" + db + "?sslmode=disable"
}

var errNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin")

// binDir finds the directory holding initdb and postgres: PATH first (its
// symlinks resolved, so that postgres comes from initdb's own directory),
// then the newest /usr/lib/postgresql/<version>/bin.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errNoBinaries
}

// version is the major version in /usr/lib/postgresql/<version>/bin/initdb.
func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// credential is who runs the server: nil (the test's own user) unless the
// test runs as root, then the postgres user, or nobody.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists")
}

func start() (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	// As root, the server's user must reach the directory: $TMPDIR may be
	// private to root, /tmp is not.
	parent := ""
	if cred != nil {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	attr := func() *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = attr()
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.bin, s.data, s.attr = bin, data, attr
	if err := s.launch(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// launch starts postgres on s's data directory and port and connects the
// admin connection.
func (s *server) launch() error {
	logPath := filepath.Join(s.dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.data, "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(s.port), "-F",
		"-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning")
	s.cmd.SysProcAttr = s.attr()
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	s.exited = exited
	go func() { exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.admin, err = pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			s.cmd = nil
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited: %v\n%s", werr, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres on port %d did not answer: %v\n%s", s.port, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Restart stops the shared server (a fast shutdown: SIGINT, clients are
// disconnected), keeps it down for down, and starts it again on the same
// port and data: a database restart, for tests of what waits it out.
func Restart(t testing.TB, down time.Duration) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if srv == nil || srv.cmd == nil {
		t.Fatal("pgtest: no server to restart")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = srv.admin.Close(ctx)
	cancel()
	_ = srv.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-srv.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("pgtest: postgres did not stop in 30 s")
	}
	time.Sleep(down)
	if err := srv.launch(); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
}

// stop kills the server's whole process group (the postmaster and its
// backends), as abruptly as a crash, and removes its directory.
func (s *server) stop() {
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.admin.Close(ctx)
		cancel()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		// Wait runs in start's goroutine; give the group a moment to die
		// before the directory goes.
		for i := 0; i < 100 && syscall.Kill(-s.cmd.Process.Pid, 0) == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	_ = os.RemoveAll(s.dir)
}

func stop() {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
}
