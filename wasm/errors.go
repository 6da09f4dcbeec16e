package wasm

import (
	"errors"
	"strconv"

	"github.com/aigateway/gateway/abi"
)

// Sentinel errors; the Host wraps them with the policy and the reason.
var (
	// ErrClosed: the Host was closed.
	ErrClosed = errors.New("wasm host closed")
	// ErrInvalidConfig: a PolicyConfig is invalid.
	ErrInvalidConfig = errors.New("invalid policy config")
	// ErrInvalidModule: a module was refused (not Wasm, does not compile,
	// import outside the allowlist, wrong or missing ABI marker, missing
	// export, config refused by its self-check).
	ErrInvalidModule = errors.New("invalid policy module")
	// ErrModuleTooLarge: a module exceeds the upload size cap.
	ErrModuleTooLarge = errors.New("policy module too large")
	// ErrUnknownPolicy: no policy has that name.
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrBusy: the host cannot take the upload now (another untrusted
	// module is still compiling, or the policy changed during the upload);
	// retry later.
	ErrBusy = errors.New("policy host busy")
	// ErrNoPrevious: Rollback found no earlier version of the policy to
	// go back to.
	ErrNoPrevious = errors.New("no previous policy version")
	// ErrPolicyFailed: a fail-closed policy failed; see PolicyError.
	ErrPolicyFailed = errors.New("policy failed")
)

// PolicyError is the error Run returns when a policy configured with
// fail = "closed" fails. The engine maps it to a 5xx naming the policy.
type PolicyError struct {
	Policy string
	Stage  abi.Stage
	Kind   FailureKind
	Detail string
}

// Error implements error.
func (e *PolicyError) Error() string {
	s := "policy " + strconv.Quote(e.Policy) + " failed in stage " + e.Stage.String() + ": " + e.Kind.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap makes errors.Is(err, ErrPolicyFailed) true.
func (e *PolicyError) Unwrap() error { return ErrPolicyFailed }
