package wasm

import (
	"errors"

	"github.com/aigateway/gateway/abi"
)

// The byte caps RunNative applies: the Host defaults.
const (
	nativeMaxRead  = 64 << 20
	nativeMaxWrite = 8 << 20
)

// RunNative runs handler, a policy written in Go against package abi,
// in-process with exactly the host-function semantics a Wasm module gets
// (validation, byte caps, staging, commit on success and rollback on
// failure) but without Wasm. Policy unit tests use it to exercise their logic
// on the host; the engine runs modules through a Host.
//
// policy names the policy in the Output's records. It returns the handler's
// status, or the status that poisoned the call.
func RunNative(policy string, stage abi.Stage, config []byte, in *Input, out *Output, handler func(*abi.Call) abi.Status) abi.Status {
	var s callState
	out.in = in
	s.begin(stage, in, out, config, policy, nativeMaxRead, nativeMaxWrite)
	mk := out.mark()
	st := abi.Status(abi.NewCall(&s).Run(handler))
	if s.poison != 0 {
		st = s.poison
	}
	if st == abi.StatusOK {
		out.commit(policy)
		return st
	}
	out.rollback(mk)
	kind := FailStatus
	if s.poison != 0 {
		kind = FailBadOutput
	}
	out.Failures = append(out.Failures, Failure{Policy: policy, Stage: stage, Kind: kind, Status: st, Detail: out.keep(s.errMsg)})
	return st
}

// ConfigureNative runs a policy's self-check handler on config in-process,
// returning the message it refused the config with.
func ConfigureNative(config []byte, handler func(*abi.Call) abi.Status) error {
	var s callState
	s.begin(abi.StageConfigure, nil, nil, config, "native", nativeMaxRead, nativeMaxWrite)
	if st := abi.Status(abi.NewCall(&s).Run(handler)); st != abi.StatusOK || s.poison != 0 {
		return errors.New("config refused: " + string(s.errMsg))
	}
	return nil
}
