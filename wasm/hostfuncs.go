package wasm

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/aigateway/gateway/abi"
)

// The ABI's imports as wazero GoModuleFunctions called through
// CallWithStack: parameters arrive as uint64s on a stack that also takes the
// result, so a host call allocates nothing. Each adapter maps (ptr, len)
// pairs to slices of guest memory, checking bounds, and calls the callState
// method that holds the semantics.

type stateKey struct{}

// stateOf returns the callState of the instance whose call is running: each
// instance calls its exports with a context that carries its own state.
func stateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(stateKey{}).(*callState)
	return s
}

// view returns guest memory [ptr, ptr+n) or poisons the call.
func (s *callState) view(m api.Module, ptr, n uint64) ([]byte, bool) {
	p, l := uint32(ptr), int32(uint32(n))
	if l < 0 {
		s.fail(abi.StatusBadPointer)
		return nil, false
	}
	if l == 0 {
		return nil, true
	}
	mem := m.Memory()
	if mem == nil {
		s.fail(abi.StatusBadPointer)
		return nil, false
	}
	b, ok := mem.Read(p, uint32(l))
	if !ok {
		s.fail(abi.StatusBadPointer)
		return nil, false
	}
	return b, true
}

func ret32(stack []uint64, v int32) { stack[0] = uint64(uint32(v)) }

var badPointer = int32(abi.StatusBadPointer)

type (
	getterFn  func(s *callState, b []byte) int32
	indexedFn func(s *callState, i int32, b []byte) int32
	countFn   func(s *callState) int32
)

func getter(f getterFn) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		b, ok := s.view(m, stack[0], stack[1])
		if !ok {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, f(s, b))
	}
}

func indexed(f indexedFn) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		b, ok := s.view(m, stack[1], stack[2])
		if !ok {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, f(s, int32(uint32(stack[0])), b))
	}
}

func counter(f countFn) api.GoModuleFunc {
	return func(ctx context.Context, _ api.Module, stack []uint64) {
		ret32(stack, f(stateOf(ctx)))
	}
}

// hostFuncs maps each import of abi.HostFuncs to its implementation.
var hostFuncs = map[string]api.GoModuleFunc{
	abi.FnFeatures: func(ctx context.Context, _ api.Module, stack []uint64) {
		stack[0] = stateOf(ctx).Features()
	},
	abi.FnFlags: func(ctx context.Context, _ api.Module, stack []uint64) {
		stack[0] = stateOf(ctx).Flags()
	},
	abi.FnConfig:       getter((*callState).Config),
	abi.FnModel:        getter((*callState).Model),
	abi.FnProject:      getter((*callState).Project),
	abi.FnSkill:        getter((*callState).Skill),
	abi.FnBody:         getter((*callState).Body),
	abi.FnResponse:     getter((*callState).Response),
	abi.FnSetError:     getter((*callState).SetError),
	abi.FnSetTrigger:   getter((*callState).SetTrigger),
	abi.FnMessageCount: counter((*callState).MessageCount),
	abi.FnToolCount:    counter((*callState).ToolCount),
	abi.FnHeaderCount:  counter((*callState).HeaderCount),
	abi.FnMessageRole:  indexed((*callState).MessageRole),
	abi.FnMessageText:  indexed((*callState).MessageText),
	abi.FnToolName:     indexed((*callState).ToolName),
	abi.FnHeaderName:   indexed((*callState).HeaderName),
	abi.FnHeaderValue:  indexed((*callState).HeaderValue),
	abi.FnMessageFlags: func(ctx context.Context, _ api.Module, stack []uint64) {
		stack[0] = uint64(stateOf(ctx).MessageFlags(int32(uint32(stack[0]))))
	},
	abi.FnHeader: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		name, ok1 := s.view(m, stack[0], stack[1])
		b, ok2 := s.view(m, stack[2], stack[3])
		if !ok1 || !ok2 {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.Header(name, b))
	},
	abi.FnAddTag: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		k, ok1 := s.view(m, stack[0], stack[1])
		v, ok2 := s.view(m, stack[2], stack[3])
		if !ok1 || !ok2 {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.AddTag(k, v))
	},
	abi.FnSetRoute: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		model, ok1 := s.view(m, stack[1], stack[2])
		r, ok2 := s.view(m, stack[3], stack[4])
		if !ok1 || !ok2 {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.SetRoute(int32(uint32(stack[0])), model, r))
	},
	abi.FnInsertMessage: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		role, ok1 := s.view(m, stack[1], stack[2])
		text, ok2 := s.view(m, stack[3], stack[4])
		if !ok1 || !ok2 {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.InsertMessage(int32(uint32(stack[0])), role, text))
	},
	abi.FnReplaceText: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		text, ok := s.view(m, stack[3], stack[4])
		if !ok {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.ReplaceText(int32(uint32(stack[0])), int32(uint32(stack[1])), int32(uint32(stack[2])), text))
	},
	abi.FnRespond: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		body, ok := s.view(m, stack[1], stack[2])
		if !ok {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.Respond(int32(uint32(stack[0])), body))
	},
	abi.FnReportRemoved: func(ctx context.Context, _ api.Module, stack []uint64) {
		ret32(stack, stateOf(ctx).ReportRemoved(int32(uint32(stack[0])), int32(uint32(stack[1]))))
	},
	abi.FnSetVerdict: func(ctx context.Context, m api.Module, stack []uint64) {
		s := stateOf(ctx)
		reason, ok := s.view(m, stack[2], stack[3])
		if !ok {
			ret32(stack, badPointer)
			return
		}
		ret32(stack, s.SetVerdict(int32(uint32(stack[0])), int32(uint32(stack[1])), reason))
	},
}

func valueTypes(ts []abi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueType(t)
	}
	return out
}

// instantiateHostModule defines the "gateway" import module in rt.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range abi.HostFuncs {
		impl, ok := hostFuncs[f.Name]
		if !ok {
			panic("BUG: no implementation for import " + f.Name)
		}
		b = b.NewFunctionBuilder().WithGoModuleFunction(impl, valueTypes(f.Params), valueTypes(f.Results)).Export(f.Name)
	}
	_, err := b.Instantiate(ctx)
	return err
}
