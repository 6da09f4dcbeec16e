package wasm

import (
	"context"
	"testing"

	"github.com/aigateway/gateway/abi"
)

// FuzzHostFuncBounds calls every host import with arbitrary arguments
// against a real instance's memory: no argument may crash the host or reach
// outside guest memory, and a (ptr, len) pair outside memory must be reported
// as StatusBadPointer and poison the call.
func FuzzHostFuncBounds(f *testing.F) {
	f.Add(uint8(0), uint32(0), uint32(16), uint32(100), uint32(8), uint32(0))
	f.Add(uint8(3), uint32(65530), uint32(100), uint32(0), uint32(1), uint32(2))
	f.Add(uint8(18), uint32(0xFFFFFFF0), uint32(0x20), uint32(5), uint32(0x80000000), uint32(1))
	h := newHost(f, Options{})
	if err := h.Configure([]PolicyConfig{{Name: "echo", Module: testdata("echo.wasm")}}); err != nil {
		f.Fatal(err)
	}
	v := h.reg.Load().byName["echo"].cur.Load()
	inst, err := v.acquire(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	memSize := uint64(inst.mod.Memory().Size())
	f.Fuzz(func(t *testing.T, which uint8, a, b, c, d, e uint32) {
		fn := abi.HostFuncs[int(which)%len(abi.HostFuncs)]
		impl := hostFuncs[fn.Name]
		in := chatInput("system", "sys", "user", "hello")
		in.AddHeader([]byte("h"), []byte("v"))
		var out Output
		out.in = in
		s := &inst.state
		s.begin(abi.StageRequest, in, &out, nil, "echo", 1<<20, 1<<20)
		stack := []uint64{uint64(a), uint64(b), uint64(c), uint64(d), uint64(e)}
		impl(inst.ctx, inst.mod, stack)
		res := int32(uint32(stack[0]))

		// Which (ptr, len) pairs did this import take?
		var pairs [][2]uint32
		switch fn.Name {
		case abi.FnConfig, abi.FnModel, abi.FnProject, abi.FnSkill, abi.FnBody, abi.FnResponse, abi.FnSetError:
			pairs = [][2]uint32{{a, b}}
		case abi.FnMessageRole, abi.FnMessageText, abi.FnToolName, abi.FnHeaderName, abi.FnHeaderValue:
			pairs = [][2]uint32{{b, c}}
		case abi.FnHeader, abi.FnAddTag:
			pairs = [][2]uint32{{a, b}, {c, d}}
		case abi.FnSetRoute, abi.FnInsertMessage:
			pairs = [][2]uint32{{b, c}, {d, e}}
		case abi.FnReplaceText:
			pairs = [][2]uint32{{d, e}}
		case abi.FnRespond:
			pairs = [][2]uint32{{b, c}}
		case abi.FnSetVerdict:
			pairs = [][2]uint32{{c, d}}
		}
		bad := false
		for _, p := range pairs {
			if int32(p[1]) < 0 || (p[1] > 0 && uint64(p[0])+uint64(p[1]) > memSize) {
				bad = true
			}
		}
		if bad && (res != int32(abi.StatusBadPointer) || s.poison != abi.StatusBadPointer) {
			t.Fatalf("%s%v: out-of-bounds pair returned %d, poison %v", fn.Name, stack, res, s.poison)
		}
		if !bad && res == int32(abi.StatusBadPointer) {
			t.Fatalf("%s%v: in-bounds pair reported as a bad pointer", fn.Name, stack)
		}
		s.end()
	})
}
