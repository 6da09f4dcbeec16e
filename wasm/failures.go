package wasm

import (
	"sync"
	"time"

	"github.com/aigateway/gateway/abi"
)

// FailureRecord is one failed policy call as the admin API shows it: when,
// for which request, and why, in the policy's own words when it gave any
// (set_error, a panic's message on stderr).
type FailureRecord struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id,omitempty"`
	Stage     string    `json:"stage"`
	// Reason is the failure kind as a metric label: trap, timeout,
	// error_status, bad_output, quarantined or unavailable.
	Reason string `json:"reason"`
	// Status is the guest's non-zero status, or the host status that
	// poisoned the call (bad_pointer, limit).
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Digest is the sha256 of the module version that failed.
	Digest string `json:"digest,omitempty"`
}

// failureLog keeps the last failures of one policy name, across versions.
type failureLog struct {
	mu   sync.Mutex
	ring []FailureRecord
	next int
	n    int
}

func newFailureLog(size int) *failureLog { return &failureLog{ring: make([]FailureRecord, size)} }

func (l *failureLog) add(r FailureRecord) {
	l.mu.Lock()
	l.ring[l.next] = r
	l.next = (l.next + 1) % len(l.ring)
	l.n = min(l.n+1, len(l.ring))
	l.mu.Unlock()
}

// recent returns the kept failures, newest first.
func (l *failureLog) recent() []FailureRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]FailureRecord, 0, l.n)
	for i := 1; i <= l.n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}

// record notes a failed call of p: the per-reason counter always, the log
// (and the OnFailure hook) unless the call was only skipped by a quarantine,
// which would push the failures that caused it out of the log.
func (h *Host) record(p *policy, v *version, stage abi.Stage, in *Input, f *Failure) {
	p.m.failures[f.Kind].Inc()
	if f.Kind == FailQuarantined {
		return
	}
	r := FailureRecord{Time: time.Now(), Stage: stage.String(), Reason: f.Kind.Label(), Message: string(f.Detail)}
	if in != nil {
		r.RequestID = string(in.RequestID)
	}
	if f.Status != abi.StatusOK {
		r.Status = f.Status.String()
	}
	if v != nil {
		r.Digest = v.hex
	}
	p.m.recent.add(r)
	if fn := h.onFailure.Load(); fn != nil {
		(*fn)(p.spec.name, r)
	}
}

// OnFailure registers fn to be called after every failed policy call (not
// the calls a quarantine skips), from the goroutine that ran it: the engine
// logs them, rate-limited. fn must not block.
func (h *Host) OnFailure(fn func(policy string, r FailureRecord)) {
	h.onFailure.Store(&fn)
}
