package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/abi"
)

// servesNormally checks that h still loads and runs a healthy policy after a
// hostile one did its worst.
func servesNormally(t *testing.T, h *Host) {
	t.Helper()
	if err := h.Configure([]PolicyConfig{{Name: "echo", Module: testdata("echo.wasm")}}); err != nil {
		t.Fatalf("Configure after hostile module: %v", err)
	}
	in := chatInput("user", "hello world", "user", "mock/echo")
	var out Output
	if err := h.Run(context.Background(), abi.StageRoute, in, &out); err != nil {
		t.Fatalf("Run after hostile module: %v", err)
	}
	if string(out.Route.Model) != "mock/echo" {
		t.Fatalf("host no longer serves normally: %s", out.AppendText(nil))
	}
}

func TestHostileModulesRefusedAtLoad(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{InitTimeout: 200 * time.Millisecond})
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	echo := readTestdata(t, "echo.wasm")
	tests := []struct {
		name    string
		module  []byte
		wantErr string
	}{
		{"filesystem import", readTestdata(t, "hostile/badimport.wasm"), "wasi_snapshot_preview1.path_open is not allowed"},
		{"foreign import", readTestdata(t, "hostile/envimport.wasm"), "env.system is not allowed"},
		{"wrong import signature", readTestdata(t, "hostile/badsig.wasm"), "wrong signature"},
		{"missing ABI marker", readTestdata(t, "hostile/noabi.wasm"), "missing ABI marker"},
		{"wrong ABI version", readTestdata(t, "hostile/wrongabi.wasm"), "speaks ABI v2"},
		{"ABI marker type", readTestdata(t, "hostile/abisig.wasm"), "must have type () -> i32"},
		{"start function loops", readTestdata(t, "hostile/initloop.wasm"), "instantiate"},
		{"garbage bytes", garbage, "bad magic"},
		// Refused by the section scan before wazero decodes anything, or by
		// wazero when the sections happen to fit.
		{"garbage after magic", append([]byte("\x00asm\x01\x00\x00\x00"), garbage...), "compile|past the end|functions"},
		{"truncated module", echo[:len(echo)/2], "compile|past the end"},
		{"empty", nil, "bad magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Upload("hostile", tt.module)
			if !errors.Is(err, ErrInvalidModule) || !slices.ContainsFunc(strings.Split(tt.wantErr, "|"), func(w string) bool {
				return strings.Contains(err.Error(), w)
			}) {
				t.Fatalf("Upload = %v, want ErrInvalidModule containing %q", err, tt.wantErr)
			}
			if _, ok := h.Get("hostile"); ok {
				t.Fatal("refused upload created a policy")
			}
			servesNormally(t, h)
		})
	}
}

func TestHostileModulesAtRunTime(t *testing.T) {
	t.Parallel()
	const capMB = 8
	tests := []struct {
		name     string
		module   string
		stage    abi.Stage
		opts     Options
		timeout  time.Duration
		wantKind FailureKind
		wantStat abi.Status
		check    func(t *testing.T, f Failure)
	}{
		{name: "infinite loop", module: "hostile/loop.wasm", stage: abi.StageRoute, wantKind: FailTimeout},
		{name: "trap", module: "hostile/trap.wasm", stage: abi.StageRoute, wantKind: FailTrap},
		{name: "divide by zero", module: "hostile/trap.wasm", stage: abi.StageRequest, wantKind: FailTrap},
		{name: "getter buffer out of bounds", module: "hostile/oob.wasm", stage: abi.StageRoute, wantKind: FailBadOutput, wantStat: abi.StatusBadPointer},
		{name: "setter argument out of bounds", module: "hostile/oob.wasm", stage: abi.StageRequest, wantKind: FailBadOutput, wantStat: abi.StatusBadPointer},
		{name: "store out of bounds", module: "hostile/oob.wasm", stage: abi.StageResponse, wantKind: FailTrap},
		{name: "read cap", module: "hostile/chatty.wasm", stage: abi.StageRoute, opts: Options{MaxReadBytes: 1024}, wantKind: FailBadOutput, wantStat: abi.StatusLimit},
		{name: "write cap", module: "hostile/chatty.wasm", stage: abi.StageRequest, opts: Options{MaxWriteBytes: 1024}, wantKind: FailBadOutput, wantStat: abi.StatusLimit},
		{name: "error status", module: "hostile/failing.wasm", stage: abi.StageRoute, wantKind: FailStatus, wantStat: abi.StatusError,
			check: func(t *testing.T, f Failure) {
				if string(f.Detail) != "policy gave up" {
					t.Fatalf("detail = %q", f.Detail)
				}
			}},
		{name: "Go guest hoards memory", module: "guests/garbage.wasm", stage: abi.StageRequest, timeout: 10 * time.Second, wantKind: FailTrap,
			check: func(t *testing.T, f Failure) {
				if !strings.Contains(string(f.Detail), "out of memory") {
					t.Fatalf("detail = %q, want the Go runtime's out-of-memory report", f.Detail)
				}
			}},
		// A Go guest's panic prints its trace through WASI before it traps:
		// tens of milliseconds when the parallel cases share two cores, so
		// the deadline is generous (the case is about the failure's kind).
		{name: "Go guest panics", module: "guests/garbage.wasm", stage: abi.StageResponse, timeout: 10 * time.Second, wantKind: FailTrap,
			check: func(t *testing.T, f Failure) {
				if !strings.Contains(string(f.Detail), "assignment to entry in nil map") {
					t.Fatalf("detail = %q, want the panic message from stderr", f.Detail)
				}
			}},
		{name: "memory growth hits the cap", module: "hostile/grow.wasm", stage: abi.StageRoute, timeout: 2 * time.Second, wantKind: FailStatus,
			check: func(t *testing.T, f Failure) {
				pages := int(f.Status)
				if pages*64<<10 > capMB<<20 || pages*64<<10 < (capMB-1)<<20 {
					t.Fatalf("memory stopped at %d pages (%d MiB), want just under the %d MiB cap", pages, pages>>4, capMB)
				}
			}},
	}
	for _, tt := range tests {
		for _, fail := range []string{"open", "closed"} {
			t.Run(tt.name+"/fail-"+fail, func(t *testing.T) {
				t.Parallel()
				opts := tt.opts
				opts.PoolSize = 2
				h := newHost(t, opts)
				timeout := tt.timeout
				if timeout == 0 {
					timeout = ms(50)
				}
				err := h.Configure([]PolicyConfig{
					{Name: "hostile", Module: testdata(tt.module), Stages: []string{tt.stage.String()}, Fail: fail, Timeout: timeout, MemoryMB: capMB},
				})
				if err != nil {
					t.Fatal(err)
				}
				in := chatInput("user", "hello world")
				in.Body = make([]byte, 4096)
				in.Response = []byte(`{}`)
				var out Output
				start := time.Now()
				err = h.Run(context.Background(), tt.stage, in, &out)
				if elapsed := time.Since(start); elapsed > 5*time.Second {
					t.Fatalf("Run took %v", elapsed)
				}
				if fail == "closed" {
					var pe *PolicyError
					if !errors.As(err, &pe) || pe.Policy != "hostile" || pe.Kind != tt.wantKind || !errors.Is(err, ErrPolicyFailed) {
						t.Fatalf("Run = %v, want PolicyError %s naming the policy", err, tt.wantKind)
					}
				} else if err != nil {
					t.Fatalf("fail-open Run = %v, want nil (the request goes on)", err)
				}
				if len(out.Failures) != 1 {
					t.Fatalf("failures = %s", out.AppendText(nil))
				}
				f := out.Failures[0]
				if f.Kind != tt.wantKind || (tt.wantStat != 0 && f.Status != tt.wantStat) {
					t.Fatalf("failure = %v/%v, want %v/%v (%s)", f.Kind, f.Status, tt.wantKind, tt.wantStat, f.Detail)
				}
				if tt.check != nil {
					tt.check(t, f)
				}
				if out.Route.Set || out.Response.Set || len(out.Tags) != 0 || out.Modified() {
					t.Fatalf("a failed policy's output was kept: %s", out.AppendText(nil))
				}
				info, _ := h.Get("hostile")
				if info.Errors != 1 || (tt.wantKind == FailTimeout) != (info.Timeouts == 1) {
					t.Fatalf("metrics: %+v", info)
				}
				if (tt.wantKind == FailTrap || tt.wantKind == FailTimeout) && info.Instances != 0 {
					t.Fatalf("a trapped or timed-out instance was kept: %d instances", info.Instances)
				}
				servesNormally(t, h)
			})
		}
	}
}

func TestQuarantine(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{QuarantineAfter: 3, QuarantineFor: 100 * time.Millisecond})
	if err := h.Configure([]PolicyConfig{{Name: "trap", Module: testdata("hostile/trap.wasm"), Stages: []string{"route"}}}); err != nil {
		t.Fatal(err)
	}
	run := func() FailureKind {
		var out Output
		if err := h.Run(context.Background(), abi.StageRoute, chatInput("user", "x"), &out); err != nil {
			t.Fatal(err)
		}
		return out.Failures[0].Kind
	}
	for i := 0; i < 3; i++ {
		if k := run(); k != FailTrap {
			t.Fatalf("call %d: %v, want trap", i, k)
		}
	}
	if k := run(); k != FailQuarantined {
		t.Fatalf("4th call: %v, want quarantined", k)
	}
	info, _ := h.Get("trap")
	if !info.Quarantined || info.Quarantines != 1 || info.Calls != 3 {
		t.Fatalf("info = %+v", info)
	}
	time.Sleep(150 * time.Millisecond)
	if k := run(); k != FailTrap {
		t.Fatalf("probe after quarantine: %v, want trap (the module ran again)", k)
	}
	if k := run(); k != FailQuarantined {
		t.Fatalf("after failed probe: %v, want quarantined again", k)
	}
	// A new upload starts afresh.
	if _, err := h.Upload("trap", readTestdata(t, "echo.wasm")); err != nil {
		t.Fatal(err)
	}
	var out Output
	if err := h.Run(context.Background(), abi.StageRoute, chatInput("user", "mock/echo"), &out); err != nil || len(out.Failures) != 0 {
		t.Fatalf("after upload: %v %s", err, out.AppendText(nil))
	}
}

// countingReader produces n bytes lazily and counts what was read.
type countingReader struct {
	n, read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n-r.read)
	clear(p[:k])
	r.read += k
	return int(k), nil
}

func TestReadModuleRefusesHugeUploadEarly(t *testing.T) {
	t.Parallel()
	const max = 16 << 20
	r := &countingReader{n: 100 << 20}
	_, err := ReadModule(r, max)
	if !errors.Is(err, ErrModuleTooLarge) {
		t.Fatalf("ReadModule = %v, want ErrModuleTooLarge", err)
	}
	if r.read > max+64<<10 {
		t.Fatalf("read %d bytes of a 100 MB upload; the cap is %d", r.read, max)
	}
	small := &countingReader{n: 1000}
	b, err := ReadModule(small, max)
	if err != nil || len(b) != 1000 {
		t.Fatalf("ReadModule(small) = %d bytes, %v", len(b), err)
	}
	h := newHost(t, Options{MaxModuleSize: 1024})
	if _, err := h.Upload("big", make([]byte, 2048)); !errors.Is(err, ErrModuleTooLarge) {
		t.Fatalf("Upload over the cap = %v", err)
	}
	servesNormally(t, h)
}

func TestTimeoutUnderConcurrency(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{PoolSize: 2, QuarantineAfter: 1000})
	if err := h.Configure([]PolicyConfig{
		{Name: "loop", Module: testdata("hostile/loop.wasm"), Stages: []string{"route"}, Timeout: ms(20)},
		{Name: "echo", Module: testdata("echo.wasm"), Stages: []string{"route"}},
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				var out Output
				if err := h.Run(context.Background(), abi.StageRoute, chatInput("user", "mock/echo"), &out); err != nil {
					errs <- err.Error()
					return
				}
				if string(out.Route.Model) != "mock/echo" || len(out.Failures) != 1 || out.Failures[0].Kind != FailTimeout {
					errs <- string(out.AppendText(nil))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
