package wasm

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aigateway/gateway/abi"
)

var errStage = errors.New("wasm: Run needs the request, route or response stage")

// Run runs the chain of policies bound to stage, in order, over in, and
// collects their decisions in out. A failing fail-open policy is skipped and
// recorded in out.Failures; a failing fail-closed policy stops the chain and
// Run returns a *PolicyError naming it. The chain stops early once a policy
// answers locally (out.Response), and in the route stage once one chooses a
// route, in the response stage once one gives a verdict.
//
// Run allocates nothing in steady state when out is reused (Reset) and every
// policy succeeds.
func (h *Host) Run(ctx context.Context, stage abi.Stage, in *Input, out *Output) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if stage < abi.StageRequest || stage > abi.StageResponse {
		return errStage
	}
	out.in = in
	if out.Response.Set {
		return nil
	}
	for _, p := range h.reg.Load().chains[stage] {
		if len(in.Skip) > 0 && slices.Contains(in.Skip, p.spec.name) {
			continue
		}
		if err := h.runPolicy(ctx, p, stage, in, out); err != nil {
			return err
		}
		if out.Response.Set || (stage == abi.StageRoute && out.Route.Set) || (stage == abi.StageResponse && out.Verdict.Set) {
			break
		}
	}
	return nil
}

// current enters the version of p that is live: a Run holding a registry
// snapshot from before an upload hops to the policy's new version, so that a
// retired version never instantiates again. It returns nil when the policy
// was deleted or no longer serves stage.
func (h *Host) current(p *policy, stage abi.Stage) (*policy, *version) {
	for {
		if v := p.cur.Load(); v.enter() {
			return p, v
		}
		np := h.reg.Load().byName[p.spec.name]
		if np == nil || np == p || np.stages&(1<<stage) == 0 {
			return nil, nil
		}
		p = np
	}
}

func (h *Host) runPolicy(ctx context.Context, p *policy, stage abi.Stage, in *Input, out *Output) error {
	p, v := h.current(p, stage)
	if v == nil {
		return nil
	}
	defer v.leave()
	m := p.m
	if t := v.trigger; t != nil && stage == abi.StageRequest && !h.opts.IgnoreTriggers && !t.match(in, out) {
		// The policy declared it cannot act on this request: not a call.
		m.untriggered.Inc()
		return nil
	}
	if q := v.quarantinedUntil.Load(); q != 0 && time.Now().UnixNano() < q {
		m.skipped.Inc()
		return h.failed(p, v, stage, in, out, FailQuarantined, 0, nil)
	}
	inst, err := v.acquire(ctx)
	if err != nil {
		m.errors.Inc()
		if ctx.Err() == nil {
			h.countFailure(v, m) // the module no longer instantiates
		}
		return h.failed(p, v, stage, in, out, FailUnavailable, 0, out.keep([]byte(err.Error())))
	}
	mk := out.mark()
	start := time.Now()
	inst.used = start.UnixNano()
	if v.lastCall.Load() < inst.used-int64(time.Second) {
		v.lastCall.Store(inst.used) // coarse: one store a second, not one a call
	}
	status, err := inst.call(stage, in, out, p.spec.timeout, p.spec.name)
	elapsed := time.Since(start)
	m.calls.Inc()
	m.duration.Update(elapsed.Seconds())
	m.lat.observe(elapsed.Seconds())

	var kind FailureKind
	switch {
	case err == errTimeout:
		kind = FailTimeout
	case err != nil:
		kind = FailTrap
	case inst.state.poison != 0:
		kind, status = FailBadOutput, inst.state.poison
	case status != abi.StatusOK:
		kind = FailStatus
	case elapsed > p.spec.timeout:
		// A trusted built-in cannot be interrupted; past its deadline its
		// answer is dropped all the same, so that the contract holds.
		kind = FailTimeout
	}
	if kind == 0 {
		out.commit(p.spec.name)
		if v.consecutive.Load() != 0 {
			v.consecutive.Store(0)
			v.quarantinedUntil.Store(0)
		}
		v.release(inst)
		return nil
	}
	out.rollback(mk)
	var detail []byte
	switch {
	case inst.state.guestErr:
		detail = inst.state.errMsg
	case kind == FailTrap:
		detail = append([]byte(err.Error()), inst.stderrSuffix()...)
	case kind == FailTimeout:
		detail = append(detail, "deadline "...)
		detail = append(detail, p.spec.timeout.String()...)
		detail = append(detail, " exceeded"...)
	}
	detail = out.keep(detail)
	v.release(inst)
	m.errors.Inc()
	if kind == FailTimeout {
		m.timeouts.Inc()
	}
	h.countFailure(v, m)
	return h.failed(p, v, stage, in, out, kind, status, detail)
}

// countFailure counts a consecutive failure and quarantines the version at
// the K-th one; after the quarantine one probe call is let through, and one
// more failure quarantines it again.
func (h *Host) countFailure(v *version, m *policyMetrics) {
	if v.consecutive.Add(1) < int32(h.opts.QuarantineAfter) {
		return
	}
	now := time.Now().UnixNano()
	if q := v.quarantinedUntil.Load(); q <= now && v.quarantinedUntil.CompareAndSwap(q, now+int64(h.opts.QuarantineFor)) {
		m.quarantines.Inc()
	}
}

func (h *Host) failed(p *policy, v *version, stage abi.Stage, in *Input, out *Output, kind FailureKind, status abi.Status, detail []byte) error {
	out.Failures = append(out.Failures, Failure{Policy: p.spec.name, Stage: stage, Kind: kind, Status: status, Detail: detail})
	h.record(p, v, stage, in, &out.Failures[len(out.Failures)-1])
	if !p.spec.closed {
		return nil
	}
	return &PolicyError{Policy: p.spec.name, Stage: stage, Kind: kind, Detail: string(detail)}
}
