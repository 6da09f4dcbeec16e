package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/aigateway/gateway/abi"
)

// ReadModule reads a module from r, refusing it with ErrModuleTooLarge as soon
// as more than max bytes arrive: a 100 MB upload costs at most max+1 bytes of
// memory, never the whole body.
func ReadModule(r io.Reader, max int64) ([]byte, error) {
	if max <= 0 {
		max = 16 << 20
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	if n > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrModuleTooLarge, max)
	}
	return buf.Bytes(), nil
}

type compileKey struct {
	digest  [32]byte
	sandbox bool
}

// compiled is a module compiled for one runtime, shared by every version and
// policy with the same digest. Compilation is single-flight: the first caller
// compiles, the others wait on done.
type compiled struct {
	key  compileKey
	done chan struct{}
	cm   wazero.CompiledModule
	err  error
	refs int // guarded by Host.compileMu

	stages       uint32 // 1<<abi.Stage for each stage export
	hasConfigure bool
	memMinPages  uint32
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidModule, fmt.Sprintf(format, args...))
}

// compile returns the compiled form of module for the trusted or sandbox
// runtime, compiling it at most once however many callers ask concurrently.
// The caller must release it.
func (h *Host) compile(ctx context.Context, module []byte, sandbox bool) (*compiled, error) {
	if len(module) < 8 || string(module[:4]) != "\x00asm" {
		return nil, invalid("not a WebAssembly binary (bad magic)")
	}
	if module[4] != 1 || module[5] != 0 || module[6] != 0 || module[7] != 0 {
		return nil, invalid("unsupported WebAssembly binary version")
	}
	key := compileKey{digest: sha256.Sum256(module), sandbox: sandbox}
	h.compileMu.Lock()
	c, ok := h.compiled[key]
	if ok {
		c.refs++
		h.compileMu.Unlock()
		<-c.done
		if c.err != nil {
			h.release(c)
			return nil, c.err
		}
		return c, nil
	}
	c = &compiled{key: key, done: make(chan struct{}), refs: 1}
	h.compiled[key] = c
	h.compileMu.Unlock()

	if sandbox {
		// Untrusted: bounded before and during compilation.
		if c.err = h.checkBounds(module); c.err == nil {
			c.cm, c.err = h.compileUntrusted(h.rt(true), module)
			if c.err == nil {
				_ = h.trimCache()
			}
		}
	} else {
		// Go modules are megabytes of code: let wazero compile functions on
		// every core.
		ctx = experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0))
		c.cm, c.err = h.rt(sandbox).CompileModule(ctx, module)
	}
	switch {
	case c.err == nil:
		if c.err = c.validate(); c.err != nil {
			_ = c.cm.Close(ctx)
		}
	case !errors.Is(c.err, ErrInvalidModule) && !errors.Is(c.err, ErrBusy):
		c.err = invalid("compile: %v", c.err)
	}
	if c.err != nil {
		h.compileMu.Lock()
		delete(h.compiled, key) // let a later attempt try again
		h.compileMu.Unlock()
	}
	close(c.done)
	if c.err != nil {
		return nil, c.err
	}
	return c, nil
}

// release drops a reference; the last one closes the compiled module.
// Instances still running keep their code alive.
func (h *Host) release(c *compiled) {
	h.compileMu.Lock()
	c.refs--
	last := c.refs == 0
	if last && h.compiled[c.key] == c {
		delete(h.compiled, c.key)
	}
	h.compileMu.Unlock()
	if last && c.cm != nil {
		_ = c.cm.Close(context.Background())
	}
}

func sameTypes(got []api.ValueType, want []abi.ValueType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != api.ValueType(want[i]) {
			return false
		}
	}
	return true
}

var statusSig = []abi.ValueType{abi.I32}

// validate checks what can be checked without running the module: the import
// allowlist and signatures, the required exports and their signatures, and
// the memory.
func (c *compiled) validate() error {
	for _, f := range c.cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case abi.ImportModule:
			i := slices.IndexFunc(abi.HostFuncs, func(h abi.Func) bool { return h.Name == name })
			if i < 0 {
				return invalid("import %s.%s is not part of ABI v%d", mod, name, abi.Version)
			}
			if want := abi.HostFuncs[i]; !sameTypes(f.ParamTypes(), want.Params) || !sameTypes(f.ResultTypes(), want.Results) {
				return invalid("import %s.%s has the wrong signature", mod, name)
			}
		case abi.WASIModule:
			if !slices.Contains(abi.WASI, name) {
				return invalid("import %s.%s is not allowed (no filesystem, network or environment)", mod, name)
			}
		default:
			return invalid("import %s.%s is not allowed", mod, name)
		}
	}
	if mems := c.cm.ImportedMemories(); len(mems) > 0 {
		return invalid("a policy must define its own memory, not import one")
	}
	mem, ok := c.cm.ExportedMemories()[abi.ExportMemory]
	if !ok {
		return invalid("missing export %q", abi.ExportMemory)
	}
	c.memMinPages = mem.Min()
	exports := c.cm.ExportedFunctions()
	marker, ok := exports[abi.ExportABIVersion]
	if !ok {
		return invalid("missing ABI marker export %q", abi.ExportABIVersion)
	}
	if len(marker.ParamTypes()) != 0 || !sameTypes(marker.ResultTypes(), statusSig) {
		return invalid("ABI marker %q must have type () -> i32", abi.ExportABIVersion)
	}
	for st := abi.StageConfigure; st <= abi.StageResponse; st++ {
		f, ok := exports[st.Export()]
		if !ok {
			continue
		}
		if len(f.ParamTypes()) != 0 || !sameTypes(f.ResultTypes(), statusSig) {
			return invalid("export %q must have type () -> i32", st.Export())
		}
		if st == abi.StageConfigure {
			c.hasConfigure = true
		} else {
			c.stages |= 1 << st
		}
	}
	if c.stages == 0 {
		return invalid("exports no stage (want %s, %s or %s)", abi.ExportRequest, abi.ExportRoute, abi.ExportResponse)
	}
	return nil
}
