package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/aigateway/gateway/abi"
)

// version is one module loaded for one policy with one config and memory
// cap: the unit that owns an instance pool. Uploading a module creates a new
// version; calls in flight finish on the old one, whose instances are closed
// as they come back.
type version struct {
	h       *Host
	policy  string
	digest  [32]byte
	hex     string
	origin  string // "builtin", "file", "upload"
	sandbox bool
	// module is kept for built-ins only (the binary's read-only bytes, no
	// copy): their compiled code can be released and compiled again on
	// demand (cool), from the on-disk compilation cache.
	module []byte
	// compMu guards comp and serialises creating instances with releasing
	// the compiled code.
	compMu sync.Mutex
	comp   *compiled // nil while released: a cold built-in
	// stages are the exports checked at load; validated says the module
	// was compiled and passed its self-check with this config once (a
	// disabled built-in is not, until a Configure enables it).
	stages    uint32
	validated bool
	config    []byte
	memLimit  uint64
	loadedAt  time.Time
	// warnings are what the load accepted but the operator should know
	// (a config the module cannot check).
	warnings []string
	// trigger is what the module's self-check declared with set_trigger
	// (ABI v1.2) when the version was loaded; nil: every request-stage
	// call runs. Set before the version is published, never changed.
	trigger *trigger

	idle  chan *instance
	slots chan struct{}
	count atomic.Int32
	mem   atomic.Int64

	// lastCall is when the last call started (unix nanos), for idle
	// release.
	lastCall atomic.Int64

	consecutive      atomic.Int32
	quarantinedUntil atomic.Int64 // unix nanos; 0 = not quarantined
	retired          atomic.Bool
	// users counts Run calls between enter and leave; the compiled module is
	// released once the version is retired and unused.
	users     atomic.Int32
	finalized atomic.Bool
}

// instance is one instantiated module with its call state.
type instance struct {
	v      *version
	mod    api.Module
	fns    [abi.NumStages]api.Function
	stack  [1]uint64
	ctx    context.Context
	cancel context.CancelFunc
	timer  *time.Timer
	state  callState
	stderr stderrHead
	calls  int
	size   int64
	dead   bool
	used   int64 // unix nanos of the last call's start, for idle release
}

// stderrHead keeps the first bytes a module writes to stderr during one call
// (a Go guest's "panic: …" or "fatal error: …" line comes first), for
// failure reports.
type stderrHead struct{ b []byte }

const stderrMax = 512

func (w *stderrHead) Write(p []byte) (int, error) {
	if room := stderrMax - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// heapMemory backs a guest's memory with a Go slice and refuses to grow past
// limit, so that memory.grow fails inside the guest instead of the gateway
// running out. Where the OS allows it, mappedMemory (memory_linux.go) is
// used instead.
type heapMemory struct {
	buf   []byte
	limit uint64
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	newCap := min(max(size, 2*uint64(cap(m.buf))), m.limit)
	b := make([]byte, size, newCap)
	copy(b, m.buf)
	m.buf = b
	return b
}

func (m *heapMemory) Free() { m.buf = nil }

type allocator struct{ limit uint64 }

func (a allocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	limit := min(a.limit, max)
	if m := newMappedMemory(limit); m != nil {
		return m
	}
	return &heapMemory{limit: limit}
}

// cappedSleep bounds each sleep a guest asks for (poll_oneoff with a clock
// subscription) so that a sleeping guest comes back into Wasm code, where the
// deadline can stop it.
func cappedSleep(ns int64) {
	time.Sleep(time.Duration(min(ns, int64(time.Millisecond))))
}

var errRetired = errors.New("policy version retired")

// compiledLocked returns v's compiled module, compiling it again when it was
// released (a cold built-in). v.compMu is held.
func (v *version) compiledLocked() (*compiled, error) {
	if v.comp != nil {
		return v.comp, nil
	}
	if v.module == nil || v.finalized.Load() {
		return nil, errRetired
	}
	c, err := v.h.compile(v.h.ctx, v.module, v.sandbox)
	dropEmbedded(v.module)
	if err != nil {
		return nil, err
	}
	if missing := v.stages &^ c.stages; missing != 0 {
		v.h.release(c)
		return nil, invalid("module does not export the configured stage(s) %s", strings.Join(stageNames(missing), ", "))
	}
	v.comp = c
	return c, nil
}

// newInstance instantiates the version's module, checks the ABI marker and
// runs the self-check with the policy's config.
func (v *version) newInstance() (_ *instance, err error) {
	h := v.h
	v.compMu.Lock()
	defer v.compMu.Unlock()
	comp, err := v.compiledLocked()
	if err != nil {
		return nil, err
	}
	inst := &instance{v: v}
	inst.ctx = context.WithValue(h.ctx, stateKey{}, &inst.state)
	if v.sandbox {
		inst.ctx, inst.cancel = context.WithCancel(inst.ctx)
		inst.timer = time.AfterFunc(time.Hour, inst.cancel)
		inst.timer.Stop()
	}
	initCtx := experimental.WithMemoryAllocator(inst.ctx, allocator{limit: v.memLimit})
	if v.sandbox {
		var cancel context.CancelFunc
		initCtx, cancel = context.WithTimeout(initCtx, h.opts.InitTimeout)
		defer cancel()
	}
	inst.state.begin(abi.StageConfigure, nil, nil, v.config, v.policy, h.opts.MaxReadBytes, h.opts.MaxWriteBytes)
	defer func() {
		if r := recover(); r != nil {
			err = invalid("instantiate: %v", r)
		}
		if err != nil {
			inst.close()
		}
	}()
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
		WithStderr(&inst.stderr).WithRandSource(rand.Reader).WithNanosleep(cappedSleep)
	if !h.opts.fakeClocks {
		// wazero's default clocks are fake: a Go guest's GC pacer then never
		// sees time pass, stops completing cycles, and its heap grows without
		// bound (see the soak test).
		cfg = cfg.WithSysNanotime().WithSysWalltime()
	}
	inst.mod, err = h.rt(v.sandbox).InstantiateModule(initCtx, comp.cm, cfg)
	if err != nil {
		return nil, invalid("instantiate: %v%s", err, inst.stderrSuffix())
	}
	marker := inst.mod.ExportedFunction(abi.ExportABIVersion)
	if err := marker.CallWithStack(initCtx, inst.stack[:]); err != nil {
		return nil, invalid("ABI marker %s trapped: %v", abi.ExportABIVersion, err)
	}
	if got := int32(uint32(inst.stack[0])); got != abi.Version {
		return nil, invalid("module speaks ABI v%d, this gateway speaks v%d", got, abi.Version)
	}
	for st := abi.StageConfigure; st <= abi.StageResponse; st++ {
		inst.fns[st] = inst.mod.ExportedFunction(st.Export())
	}
	if f := inst.fns[abi.StageConfigure]; f != nil {
		inst.stack[0] = 0
		if err := f.CallWithStack(initCtx, inst.stack[:]); err != nil {
			return nil, invalid("self-check %s trapped: %v%s", abi.ExportConfigure, err, inst.stderrSuffix())
		}
		if st := abi.Status(int32(uint32(inst.stack[0]))); st != abi.StatusOK || inst.state.poison != 0 {
			if inst.state.poison != 0 {
				st = inst.state.poison
			}
			return nil, invalid("config refused by the module's self-check (%s): %s", st, inst.state.errMsg)
		}
	}
	inst.state.end()
	inst.used = time.Now().UnixNano()
	inst.size = int64(inst.mod.Memory().Size())
	v.mem.Add(inst.size)
	v.count.Add(1) // under compMu: cool sees it
	return inst, nil
}

func (inst *instance) stderrSuffix() string {
	if len(inst.stderr.b) == 0 {
		return ""
	}
	return " (stderr: " + string(inst.stderr.b) + ")"
}

func (inst *instance) close() {
	if inst.timer != nil {
		inst.timer.Stop()
	}
	if inst.cancel != nil {
		inst.cancel()
	}
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
}

// acquire returns an idle instance, or creates one while the pool has room,
// or waits until an instance is released or ctx is done. It never spins.
func (v *version) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-v.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-v.idle:
		return inst, nil
	case v.slots <- struct{}{}:
		inst, err := v.newInstance()
		if err != nil {
			<-v.slots
			return nil, err
		}
		return inst, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release returns inst to the pool, or closes it when it is dead, worn out
// (call count, memory high-water mark) or its version was retired.
func (v *version) release(inst *instance) {
	size := int64(inst.mod.Memory().Size())
	v.mem.Add(size - inst.size)
	inst.size = size
	o := &v.h.opts
	worn := (o.RecycleAfterCalls > 0 && inst.calls >= o.RecycleAfterCalls) ||
		(o.RecycleAboveFraction > 0 && float64(size) > o.RecycleAboveFraction*float64(v.memLimit))
	if inst.dead || worn || v.retired.Load() {
		v.destroy(inst)
		return
	}
	v.idle <- inst
	if v.retired.Load() {
		v.drain()
	}
}

func (v *version) destroy(inst *instance) {
	inst.close()
	v.mem.Add(-inst.size)
	v.count.Add(-1)
	<-v.slots
}

func (v *version) drain() {
	for {
		select {
		case inst := <-v.idle:
			v.destroy(inst)
		default:
			return
		}
	}
}

// retire stops the version from pooling instances; in-flight calls finish
// and their instances are closed on release.
func (v *version) retire() {
	if v.retired.Swap(true) {
		return
	}
	v.drain()
	if v.users.Load() == 0 {
		v.finalize()
	}
}

// enter marks a call starting on v; it reports false if v was retired, and
// the caller must then use the policy's current version instead.
func (v *version) enter() bool {
	v.users.Add(1)
	if v.retired.Load() {
		v.leave()
		return false
	}
	return true
}

func (v *version) leave() {
	if v.users.Add(-1) == 0 && v.retired.Load() {
		v.finalize()
	}
}

func (v *version) finalize() {
	if !v.finalized.Swap(true) {
		v.drain()
		v.compMu.Lock()
		if v.comp != nil {
			v.h.release(v.comp)
			v.comp = nil
		}
		v.compMu.Unlock()
	}
}

// call runs one stage export on inst.
func (inst *instance) call(stage abi.Stage, in *Input, out *Output, timeout time.Duration, policy string) (abi.Status, error) {
	s := &inst.state
	o := &inst.v.h.opts
	s.begin(stage, in, out, inst.v.config, policy, o.MaxReadBytes, o.MaxWriteBytes)
	inst.stack[0] = 0
	inst.stderr.b = inst.stderr.b[:0]
	inst.calls++
	if inst.timer != nil {
		inst.timer.Reset(timeout)
	}
	err := inst.fns[stage].CallWithStack(inst.ctx, inst.stack[:])
	if inst.timer != nil && !inst.timer.Stop() {
		// The deadline fired: the context is cancelled for good.
		inst.dead = true
	}
	s.end()
	if err != nil {
		inst.dead = true
		if inst.ctx.Err() != nil {
			return 0, errTimeout
		}
		return 0, err
	}
	return abi.Status(int32(uint32(inst.stack[0]))), nil
}

var errTimeout = errors.New("deadline exceeded")

func (v *version) String() string { return fmt.Sprintf("%s@%s", v.policy, v.hex[:12]) }
