package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/aigateway/gateway/abi"
)

// Host loads policy modules, keeps their instance pools and runs the chain
// bound to each stage.
//
// # Notes
//
// Run is safe for concurrent use and lock-free; Configure, Upload and Delete
// serialise among themselves and swap state atomically, so calls in flight
// finish on the version they started with.
type Host struct {
	opts   Options
	ctx    context.Context
	caches [2]wazero.CompilationCache // [trusted, sandbox]
	rts    [2]wazero.Runtime          // [trusted, sandbox]
	set    *metrics.Set
	ownSet bool

	compileMu sync.Mutex
	compiled  map[compileKey]*compiled
	// compileSlots bounds the untrusted compiles running at once, abandoned
	// ones included (compileUntrusted).
	compileSlots chan struct{}
	// compiles counts the untrusted compiles running, abandoned ones
	// included; Close cancels them (stopCompiles) and waits for them
	// before it closes the runtimes they compile in: wazero panics when
	// its runtime closes under a compile.
	compiles     sync.WaitGroup
	compileGate  sync.Mutex // orders compiles.Add before Close's Wait
	compileCtx   context.Context
	stopCompiles context.CancelFunc

	mu        sync.Mutex // serialises Configure, Upload, Delete, Close
	reg       atomic.Pointer[registry]
	onChange  atomic.Pointer[func(name, digest string, module []byte)]
	onFailure atomic.Pointer[func(policy string, r FailureRecord)]
	pm        map[string]*policyMetrics
	closed    atomic.Bool
	// histMu guards hist, what Rollback restores (rollback.go).
	histMu sync.Mutex
	hist   map[string]*history

	// trusted holds digests trusted besides the embedded built-ins (tests'
	// modules); builtinModule recognises the built-ins themselves.
	trusted map[[32]byte]bool

	stopIdle chan struct{} // closed by Close: ends releaseIdle
	// shrinkMu serialises the pools' shrinking (releaseIdle, ReleaseIdle).
	shrinkMu sync.Mutex
}

// registry is an immutable snapshot of the configured policies.
type registry struct {
	order  []*policy
	byName map[string]*policy
	chains [abi.NumStages][]*policy
	// broken lists persisted uploads of unconfigured names that no longer
	// load, for List.
	broken []Info
}

// policy is a configured name; its module version can be swapped atomically.
type policy struct {
	spec    spec
	stages  uint32
	cur     atomic.Pointer[version]
	m       *policyMetrics
	loadErr string // why a persisted upload was not loaded
	fromCfg bool   // configured in gateway.toml (Delete restores it)
}

// New creates a Host. It loads no policy until Configure.
func New(ctx context.Context, opts Options) (*Host, error) {
	opts = opts.withDefaults()
	h := &Host{opts: opts, ctx: context.WithoutCancel(ctx), compiled: map[compileKey]*compiled{}, pm: map[string]*policyMetrics{},
		compileSlots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	h.compileCtx, h.stopCompiles = context.WithCancel(h.ctx)
	var err error
	for i, dir := range []string{builtinCacheDir(opts.CacheDir), uploadCacheDir(opts.CacheDir)} {
		if opts.CacheDir == "" {
			h.caches[i] = wazero.NewCompilationCache()
		} else if h.caches[i], err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			h.Close(ctx)
			return nil, fmt.Errorf("compilation cache %s: %w", dir, err)
		}
	}
	_ = h.trimCache() // a cache grown past the bound before a restart
	for i, sandbox := range []bool{false, true} {
		// Built-ins run without termination checks: wazero inserts a call
		// into Go at every loop header when CloseOnContextDone is on, which
		// costs more than a built-in policy's whole work. Uploaded and file
		// modules get the checks, so their deadline stops them.
		cfg := wazero.NewRuntimeConfigCompiler().
			WithCompilationCache(h.caches[i]).
			WithCloseOnContextDone(sandbox).
			WithMemoryLimitPages(uint32(opts.MaxMemoryMB) * 16)
		rt := wazero.NewRuntimeWithConfig(h.ctx, cfg)
		h.rts[i] = rt
		if _, err = wasi_snapshot_preview1.Instantiate(h.ctx, rt); err == nil {
			err = instantiateHostModule(h.ctx, rt)
		}
		if err != nil {
			h.Close(ctx)
			return nil, fmt.Errorf("host modules: %w", err)
		}
	}
	h.trusted = map[[32]byte]bool{}
	h.set = opts.Metrics
	if h.set == nil {
		h.set, h.ownSet = metrics.NewSet(), true
		metrics.RegisterSet(h.set)
	}
	h.reg.Store(&registry{byName: map[string]*policy{}})
	h.stopIdle = make(chan struct{})
	if opts.IdleRelease > 0 {
		go h.releaseIdle(opts.IdleRelease)
	}
	return h, nil
}

func (h *Host) rt(sandbox bool) wazero.Runtime {
	if sandbox {
		return h.rts[1]
	}
	return h.rts[0]
}

// Close releases every instance and compiled module. Run fails with
// ErrClosed afterwards.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Swap(true) {
		return nil
	}
	if h.stopIdle != nil {
		close(h.stopIdle)
	}
	h.stopCompiles()
	// closed is set: no compile starts after this barrier, and one that
	// started before it has been counted.
	h.compileGate.Lock()
	h.compileGate.Unlock()
	compiled := make(chan struct{})
	go func() {
		h.compiles.Wait()
		close(compiled)
	}()
	select {
	case <-compiled:
	case <-ctx.Done():
		// A compile inside one function ignores its context: leave the
		// runtimes open (the process is ending) rather than crash it.
		return fmt.Errorf("wasm: close: untrusted compiles still running: %w", ctx.Err())
	}
	var errs []error
	for _, rt := range h.rts {
		if rt != nil {
			errs = append(errs, rt.Close(ctx))
		}
	}
	for _, c := range h.caches {
		if c != nil {
			errs = append(errs, c.Close(ctx))
		}
	}
	if h.ownSet && h.set != nil {
		metrics.UnregisterSet(h.set, true)
	}
	return errors.Join(errs...)
}

// OnChange registers fn to be called after every successful Upload or Delete
// that did not come from a replica (module is nil for a Delete), so that the
// engine can publish the change to the other replicas.
func (h *Host) OnChange(fn func(name, digest string, module []byte)) {
	h.onChange.Store(&fn)
}

// ChangeOption modifies Upload and Delete.
type ChangeOption uint8

// FromReplica marks a change received from another replica: it is applied
// and persisted but not handed to OnChange again.
const FromReplica ChangeOption = 1

func fromReplica(opts []ChangeOption) bool { return slices.Contains(opts, FromReplica) }

// moduleFor reads the module a spec names.
func moduleFor(s spec) ([]byte, string, error) {
	if name, ok := strings.CutPrefix(s.module, BuiltinPrefix); ok {
		b, _ := Builtin(name)
		return b, "builtin", nil
	}
	b, err := os.ReadFile(s.module)
	if err != nil {
		return nil, "", configErr(s.name, "module: %v", err)
	}
	return b, "file", nil
}

// newVersion compiles, validates and instantiates module for spec s: the
// first instance, which passed the self-check, waits in the pool.
//
// Built-ins (origin "builtin": the binary's read-only bytes) cost nothing
// they do not need: a disabled one is not compiled until a Configure enables
// it, and, with an on-disk compilation cache, one that serves none of
// Options.WarmStages, or whose self-check declared a trigger (set_trigger),
// is validated and then released (instance and compiled code) until its
// first call, which compiles it again from the cache.
func (h *Host) newVersion(s spec, module []byte, origin string) (*version, uint32, error) {
	defer dropEmbedded(module)
	digest := sha256.Sum256(module)
	sandbox := !h.trusted[digest] && !builtinModule(module)
	builtin := origin == "builtin" && !sandbox
	limit := uint64(s.memoryMB) << 20
	v := &version{
		h: h, policy: s.name, digest: digest, hex: hex.EncodeToString(digest[:]),
		origin: origin, sandbox: sandbox, config: s.config, memLimit: limit, loadedAt: time.Now(),
		idle: make(chan *instance, h.opts.PoolSize), slots: make(chan struct{}, h.opts.PoolSize),
	}
	v.lastCall.Store(v.loadedAt.UnixNano())
	if builtin {
		v.module = module
	}
	if builtin && !s.enabled && s.stages != 0 {
		v.stages = s.stages
		return v, s.stages, nil
	}
	comp, err := h.compile(h.ctx, module, sandbox)
	if err != nil {
		return nil, 0, err
	}
	stages := s.stages
	if stages == 0 {
		stages = comp.stages
	}
	if missing := stages &^ comp.stages; missing != 0 {
		h.release(comp)
		return nil, 0, invalid("module does not export the configured stage(s) %s", strings.Join(stageNames(missing), ", "))
	}
	if uint64(comp.memMinPages)<<16 > limit {
		h.release(comp)
		return nil, 0, invalid("module needs %d MiB of memory at start, the cap is %d MiB", uint64(comp.memMinPages)>>4, s.memoryMB)
	}
	v.comp, v.stages, v.validated = comp, stages, true
	if !comp.hasConfigure && !emptyConfig(s.config) {
		// Accepted: the config may belong to the module this one replaces
		// (the built-in router's tiers), and the module can still read it.
		v.warnings = append(v.warnings, "config given but the module has no "+abi.ExportConfigure+
			" export: the config is not checked (the module can still read it with the config import)")
	}
	inst, err := v.acquire(h.ctx)
	if err != nil {
		v.finalized.Store(true)
		h.release(comp)
		return nil, 0, err
	}
	v.trigger = inst.state.trigger
	v.release(inst)
	if builtin && h.opts.CacheDir != "" && v.warm() == 0 {
		v.shrink(math.MaxInt64, 0, true)
	}
	return v, stages, nil
}

// reusable reports whether version v can serve spec s with module digest d
// unchanged: same module, config and memory cap.
// A built-in loaded disabled was never compiled or self-checked: enabling it
// loads it again.
func reusable(v *version, s spec, d [32]byte) bool {
	return v != nil && !v.retired.Load() && v.digest == d && string(v.config) == string(s.config) && v.memLimit == uint64(s.memoryMB)<<20 &&
		(v.validated || !s.enabled)
}

func (h *Host) uploadPath(name string) string {
	return filepath.Join(h.opts.DataDir, "policies", name+".wasm")
}

// positionPath holds the Position of an upload-only policy, when it has one.
func (h *Host) positionPath(name string) string {
	return filepath.Join(h.opts.DataDir, "policies", name+".position")
}

// persistedPosition reads the saved position of an upload-only policy.
func (h *Host) persistedPosition(name string) Position {
	if h.opts.DataDir == "" {
		return Position{}
	}
	b, err := os.ReadFile(h.positionPath(name))
	if err != nil {
		return Position{}
	}
	pos, err := ParsePosition(strings.TrimSpace(string(b)))
	if err != nil {
		return Position{}
	}
	return pos
}

// persisted returns the uploaded modules kept in DataDir, by policy name.
func (h *Host) persisted() map[string][]byte {
	out := map[string][]byte{}
	if h.opts.DataDir == "" {
		return out
	}
	entries, err := os.ReadDir(filepath.Join(h.opts.DataDir, "policies"))
	if err != nil {
		return out
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok || !validName(name) || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err != nil || info.Size() > h.opts.MaxModuleSize {
			continue
		}
		if b, err := os.ReadFile(h.uploadPath(name)); err == nil {
			out[name] = b
		}
	}
	return out
}

func (h *Host) persist(name string, module []byte, pos Position) error {
	if h.opts.DataDir == "" {
		return nil
	}
	if err := h.writeFile(h.uploadPath(name), name, module); err != nil {
		return err
	}
	if pos.Kind == PositionUnset || pos.Kind == PositionLast {
		if err := os.Remove(h.positionPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("persist policy %q: %w", name, err)
		}
		return nil
	}
	return h.writeFile(h.positionPath(name), name, []byte(pos.String()+"\n"))
}

// writeFile replaces path with b atomically (temporary file, sync, rename).
func (h *Host) writeFile(path, name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("persist policy %q: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), name+".*.tmp")
	if err != nil {
		return fmt.Errorf("persist policy %q: %w", name, err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("persist policy %q: %w", name, err)
	}
	return nil
}

// Configure validates every policy (module compiles, imports allowed, ABI
// marker, stages exported, config accepted by the self-check) and only then
// makes the whole set live at once; on any error nothing changes. Uploaded
// modules persisted in DataDir replace the configured module of their name;
// one that no longer loads is skipped and reported in Info.Error.
func (h *Host) Configure(policies []PolicyConfig) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return ErrClosed
	}
	specs := make([]spec, 0, len(policies))
	seen := map[string]bool{}
	for _, c := range policies {
		s, err := h.opts.spec(c)
		if err != nil {
			return err
		}
		if seen[s.name] {
			return configErr(s.name, "defined twice")
		}
		seen[s.name] = true
		specs = append(specs, s)
	}
	uploads := h.persisted()
	h.seedHistory(uploads)
	for name := range uploads {
		if !seen[name] {
			s := h.opts.uploadSpec(name)
			s.position = h.persistedPosition(name)
			specs = append(specs, s)
		}
	}
	slices.SortStableFunc(specs[len(policies):], func(a, b spec) int { return strings.Compare(a.name, b.name) })

	old := h.reg.Load()
	var created []*version
	fail := func(err error) error {
		for _, v := range created {
			v.retire()
		}
		return err
	}
	reg := &registry{byName: map[string]*policy{}}
	for i, s := range specs {
		p := &policy{spec: s, fromCfg: i < len(policies), m: h.metricsFor(s.name)}
		var prev *version
		if op := old.byName[s.name]; op != nil {
			prev = op.cur.Load()
		}
		load := func(module []byte, origin string) error {
			d := sha256.Sum256(module)
			dropEmbedded(module)
			if reusable(prev, s, d) && prev.origin == origin {
				p.cur.Store(prev)
				p.stages = s.stages
				if p.stages == 0 {
					p.stages = prev.stages
				}
				return nil
			}
			v, stages, err := h.newVersion(s, module, origin)
			if err != nil {
				return err
			}
			created = append(created, v)
			p.cur.Store(v)
			p.stages = stages
			return nil
		}
		if up, ok := uploads[s.name]; ok {
			if err := load(up, "upload"); err != nil {
				if !p.fromCfg {
					reg.broken = append(reg.broken, Info{Name: s.name, Module: "upload", Origin: "upload", Error: err.Error()})
					continue
				}
				p.loadErr = "persisted upload not loaded: " + err.Error()
			}
		}
		if p.cur.Load() == nil {
			module, origin, err := moduleFor(s)
			if err != nil {
				return fail(err)
			}
			if err := load(module, origin); err != nil {
				return fail(fmt.Errorf("policy %q: %w", s.name, err))
			}
		}
		reg.add(p)
	}
	reg.link()
	h.swap(old, reg)
	return nil
}

// add appends p to the registry; link builds the chains once all are added.
func (r *registry) add(p *policy) {
	r.order = append(r.order, p)
	r.byName[p.spec.name] = p
}

// swap makes reg live and retires the versions of old that reg no longer
// uses.
func (h *Host) swap(old, reg *registry) {
	h.reg.Store(reg)
	live := map[*version]bool{}
	for _, p := range reg.order {
		live[p.cur.Load()] = true
	}
	for _, p := range old.order {
		if v := p.cur.Load(); v != nil && !live[v] {
			v.retire()
		}
	}
}

// Upload validates module (size cap, compiles, allowlisted imports, ABI
// marker, exports for the policy's stages, config accepted by the
// self-check) and, if it passes, makes it the policy's module for new calls
// while calls in flight finish on the old one. It persists the module to
// DataDir. A name not configured becomes a new policy bound to the stages
// the module exports, fail-open, at the end of their chains (see UploadAt).
// A refused upload returns an error wrapping ErrInvalidModule,
// ErrModuleTooLarge or ErrBusy and changes nothing; the error does not name
// the policy (the caller does).
//
// Compilation and the self-check run outside the lock that serialises
// changes, within Options.CompileTimeout and InitTimeout: a hostile module
// costs its own upload time, not the other admin operations'.
func (h *Host) Upload(name string, module []byte, opts ...ChangeOption) (Info, error) {
	return h.UploadAt(name, module, Position{}, opts...)
}

// UploadAt is Upload placing a policy that gateway.toml does not configure
// at pos in its stages' chains (PositionUnset keeps its current place, the
// end for a new policy). The position is persisted with the module. A
// configured policy's place is gateway.toml's order: a position for it is
// refused with ErrInvalidConfig.
func (h *Host) UploadAt(name string, module []byte, pos Position, opts ...ChangeOption) (Info, error) {
	if int64(len(module)) > h.opts.MaxModuleSize {
		return Info{}, fmt.Errorf("%w: %d bytes, the cap is %d", ErrModuleTooLarge, len(module), h.opts.MaxModuleSize)
	}
	if !validName(name) {
		return Info{}, fmt.Errorf("%w: the name must match [a-z0-9][a-z0-9_-]{0,63}", ErrInvalidConfig)
	}
	if pos.Ref == name && pos.Ref != "" {
		return Info{}, fmt.Errorf("%w: position %s names the policy itself", ErrInvalidConfig, pos)
	}
	module = slices.Clone(module)
	// A concurrent change of the same policy (another upload, a reload)
	// invalidates the spec the version was built for: build it again.
	for attempt := 0; ; attempt++ {
		if h.closed.Load() {
			return Info{}, ErrClosed
		}
		old := h.reg.Load()
		p := old.byName[name]
		s, err := h.uploadSpecFor(old, p, name, pos)
		if err != nil {
			return Info{}, err
		}
		v, stages, err := h.newVersion(s, module, "upload")
		if err != nil {
			return Info{}, err
		}
		h.mu.Lock()
		cur := h.reg.Load()
		if h.closed.Load() || cur.byName[name] != p {
			h.mu.Unlock()
			v.retire()
			if attempt < 3 && !h.closed.Load() {
				continue
			}
			return Info{}, fmt.Errorf("%w: the policy changed during the upload; retry", ErrBusy)
		}
		if err := h.persist(name, module, s.position); err != nil {
			h.mu.Unlock()
			v.retire()
			return Info{}, err
		}
		np := h.install(cur, p, s, v, stages)
		h.recordChange(name, module)
		if fn := h.onChange.Load(); fn != nil && !fromReplica(opts) {
			(*fn)(name, v.hex, module)
		}
		h.mu.Unlock()
		return h.info(np, false), nil
	}
}

// uploadSpecFor is the spec an upload of name runs with: the configured
// policy's, or an upload-only one's at pos (its current place when pos is
// unset).
func (h *Host) uploadSpecFor(reg *registry, p *policy, name string, pos Position) (spec, error) {
	if p != nil && p.fromCfg {
		if pos.Kind != PositionUnset {
			return spec{}, fmt.Errorf("%w: %q is configured in gateway.toml, where the order of [[policies]] is its place; "+
				"upload it without a position, or under another name", ErrInvalidConfig, name)
		}
		return p.spec, nil
	}
	if pos.Kind == PositionBefore || pos.Kind == PositionAfter {
		if reg.byName[pos.Ref] == nil {
			return spec{}, fmt.Errorf("%w: position %s: no policy named %q", ErrInvalidConfig, pos, pos.Ref)
		}
	}
	s := h.opts.uploadSpec(name)
	if p != nil {
		s = p.spec
	}
	switch pos.Kind {
	case PositionUnset:
	case PositionLast:
		s.position = Position{} // the end is where a policy without a position goes
	default:
		s.position = pos
	}
	return s, nil
}

// install makes v the module of policy s (replacing p, or appending a new
// policy when p is nil) in a new registry, and retires p's version. Policy
// values are never mutated once published, so Run and Info need no lock.
func (h *Host) install(old *registry, p *policy, s spec, v *version, stages uint32) *policy {
	np := &policy{spec: s, stages: stages, m: h.metricsFor(s.name), fromCfg: p != nil && p.fromCfg}
	np.cur.Store(v)
	reg := &registry{byName: map[string]*policy{}, broken: old.broken}
	for _, q := range old.order {
		if q == p {
			reg.add(np)
		} else {
			reg.add(q)
		}
	}
	if p == nil {
		reg.add(np)
	}
	reg.link()
	h.reg.Store(reg)
	if p != nil {
		p.cur.Load().retire()
	}
	return np
}

// Delete removes name's uploaded module: a configured policy goes back to its
// configured (usually built-in) module, a policy that existed only through
// uploads disappears.
func (h *Host) Delete(name string, opts ...ChangeOption) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return ErrClosed
	}
	old := h.reg.Load()
	p := old.byName[name]
	if p == nil {
		return fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
	}
	if h.opts.DataDir != "" {
		for _, path := range []string{h.uploadPath(name), h.positionPath(name)} {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("delete policy %q: %w", name, err)
			}
		}
	}
	if p.fromCfg {
		if cur := p.cur.Load(); cur.origin != "upload" {
			return nil // nothing uploaded: already the configured module
		}
		module, origin, err := moduleFor(p.spec)
		if err != nil {
			return err
		}
		v, stages, err := h.newVersion(p.spec, module, origin)
		if err != nil {
			return fmt.Errorf("policy %q: restore configured module: %w", name, err)
		}
		h.install(old, p, p.spec, v, stages)
		h.recordChange(name, nil)
	} else {
		h.forget(name)
		reg := &registry{byName: map[string]*policy{}, broken: old.broken}
		for _, q := range old.order {
			if q != p {
				reg.add(q)
			}
		}
		reg.link()
		h.reg.Store(reg)
		p.cur.Load().retire()
	}
	if fn := h.onChange.Load(); fn != nil && !fromReplica(opts) {
		(*fn)(name, "", nil)
	}
	return nil
}

// Info describes a policy for the admin API.
type Info struct {
	Name      string   `json:"name"`
	Module    string   `json:"module"` // as configured: "builtin:NAME", a path, or "upload"
	Origin    string   `json:"origin"` // what runs: "builtin", "file" or "upload"
	Digest    string   `json:"digest"` // sha256 of the running module, hex
	Stages    []string `json:"stages"`
	Fail      string   `json:"fail"`
	TimeoutMS float64  `json:"timeout_ms"`
	MemoryMB  int      `json:"memory_mb"`
	Enabled   bool     `json:"enabled"`
	Sandboxed bool     `json:"sandboxed"` // deadline enforced by terminating the module
	// Trigger says the module's self-check declared a trigger (ABI v1.2):
	// its request stage runs only for the requests that match it;
	// Untriggered counts the others.
	Trigger     bool      `json:"trigger,omitempty"`
	Untriggered uint64    `json:"untriggered,omitempty"`
	LoadedAt    time.Time `json:"loaded_at"`
	Quarantined bool      `json:"quarantined"`
	Calls       uint64    `json:"calls"`
	Errors      uint64    `json:"errors"`
	Timeouts    uint64    `json:"timeouts"`
	Quarantines uint64    `json:"quarantines"`
	// P50MS and P99MS are call-duration quantiles in milliseconds, over
	// every call this replica made under the name (0 before the first),
	// interpolated inside the buckets of gateway_policy_duration_seconds.
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	Instances   int     `json:"instances"`
	MemoryBytes int64   `json:"memory_bytes"`
	Error       string  `json:"error,omitempty"`
	// Warnings are what the load accepted but the operator should know.
	Warnings []string `json:"warnings,omitempty"`
	// Position is where an upload-only policy was placed ("first",
	// "before:NAME"...); empty for the end of the chains.
	Position string `json:"position,omitempty"`
	// RollbackTo is what Rollback would restore: "upload:" and the digest
	// of the upload that ran before the last change, or the configured
	// module ("builtin:router", a path); empty when there is none.
	RollbackTo string `json:"rollback_to,omitempty"`
	// Positions is the policy's 1-based place in the chain of each stage it
	// runs in; Placement says it in words, with what runs before it.
	Positions map[string]int `json:"positions,omitempty"`
	Placement []string       `json:"placement,omitempty"`
	// RecentFailures are the policy's last failed calls, newest first (Get
	// only; List shows the newest as LastFailure).
	RecentFailures []FailureRecord `json:"recent_failures,omitempty"`
	LastFailure    *FailureRecord  `json:"last_failure,omitempty"`
}

func (h *Host) info(p *policy, full bool) Info {
	return h.infoIn(h.reg.Load(), p, full)
}

func (h *Host) infoIn(reg *registry, p *policy, full bool) Info {
	v := p.cur.Load()
	fail := "open"
	if p.spec.closed {
		fail = "closed"
	}
	i := Info{
		Name: p.spec.name, Module: p.spec.module, Stages: stageNames(p.stages), Fail: fail,
		TimeoutMS: float64(p.spec.timeout) / float64(time.Millisecond), MemoryMB: p.spec.memoryMB,
		Enabled: p.spec.enabled, Error: p.loadErr, Position: p.spec.position.String(),
		Calls: p.m.calls.Get(), Errors: p.m.errors.Get(), Timeouts: p.m.timeouts.Get(), Quarantines: p.m.quarantines.Get(),
		P50MS: p.m.lat.quantile(0.5) * 1e3, P99MS: p.m.lat.quantile(0.99) * 1e3,
		Untriggered: p.m.untriggered.Get(),
	}
	if v != nil {
		i.Origin, i.Digest, i.Sandboxed, i.LoadedAt = v.origin, v.hex, v.sandbox, v.loadedAt
		i.Quarantined = v.quarantinedUntil.Load() > time.Now().UnixNano()
		i.Instances, i.MemoryBytes = int(v.count.Load()), v.mem.Load()
		i.Warnings = v.warnings
		i.Trigger = v.trigger != nil
	}
	i.Positions, i.Placement = reg.placement(p)
	i.RollbackTo = h.rollbackTo(p, i.Origin)
	if recent := p.m.recent.recent(); full {
		i.RecentFailures = recent
	} else if len(recent) > 0 {
		i.LastFailure = &recent[0]
	}
	return i
}

// List describes every policy in configuration order, uploads last.
func (h *Host) List() []Info {
	reg := h.reg.Load()
	out := make([]Info, 0, len(reg.order))
	for _, p := range reg.order {
		out = append(out, h.infoIn(reg, p, false))
	}
	return append(out, reg.broken...)
}

// Get describes one policy.
func (h *Host) Get(name string) (Info, bool) {
	p := h.reg.Load().byName[name]
	if p == nil {
		return Info{}, false
	}
	return h.info(p, true), true
}

// Chain returns the names of the enabled policies bound to stage, in order.
func (h *Host) Chain(stage abi.Stage) []string {
	if stage < 0 || stage >= abi.NumStages {
		return nil
	}
	var out []string
	for _, p := range h.reg.Load().chains[stage] {
		out = append(out, p.spec.name)
	}
	return out
}

// DefaultPolicies returns the built-in policies as an empty gateway.toml
// binds them: stripper, skills and diff-first (disabled) on the request
// stage, router on the route stage. The engine fills in the router's tiers
// and the skills' templates as Config.
func DefaultPolicies() []PolicyConfig {
	off := false
	return []PolicyConfig{
		{Name: "stripper", Module: BuiltinPrefix + "stripper", Stages: []string{"request"}},
		{Name: "skills", Module: BuiltinPrefix + "skills", Stages: []string{"request"}},
		{Name: "diff-first", Module: BuiltinPrefix + "diff-first", Stages: []string{"request"}, Enabled: &off},
		{Name: "router", Module: BuiltinPrefix + "router", Stages: []string{"route"}},
	}
}
