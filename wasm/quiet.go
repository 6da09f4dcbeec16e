package wasm

import (
	"cmp"
	"slices"
	"time"

	"github.com/aigateway/gateway/abi"
)

// releaseIdle shrinks the pools every quarter of idle: instances that served
// no call for idle are closed, and a built-in left without instances
// releases its compiled code (when the on-disk cache can give it back).
func (h *Host) releaseIdle(idle time.Duration) {
	t := time.NewTicker(max(idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stopIdle:
			return
		case now := <-t.C:
			h.shrink(now.Add(-idle).UnixNano())
		}
	}
}

// shrink closes the instances idle since before cutoff (unix nanos), the
// IdleRelease way: every policy keeps none, and a built-in left without
// instances releases its compiled code when the on-disk cache can give it
// back.
func (h *Host) shrink(cutoff int64) {
	cool := h.opts.CacheDir != ""
	h.shrinkAll(cutoff, 0, cool, cool)
}

// ReleaseIdle closes the pooled instances that served no call for at least
// idle, as IdleRelease does after its longer wait, for a caller that knows
// the process just went quiet (internal/memtrim's busy-to-quiet trim, wired
// by the engine). A policy that every request runs (a stage of
// Options.WarmStages, no trigger) keeps its keep most recently used
// instances and its compiled code; the others (the router, the judge, the
// request-stage built-ins behind their triggers) keep none, and with code
// set a built-in left without instances releases its compiled code too
// when an on-disk cache can give it back. The next call instantiates again
// (15–25 ms for the router, a Go guest) and, without its code, compiles
// again from the cache (about 100 ms more: wazero decodes the module
// again). It returns the instances closed and their linear memory in
// bytes.
//
// # Notes
//
// Safe for concurrent use with Run: a call that finds the pool empty while
// it is being shrunk instantiates a new instance.
func (h *Host) ReleaseIdle(idle time.Duration, keep int, code bool) (instances int, bytes int64) {
	return h.shrinkAll(time.Now().Add(-idle).UnixNano(), max(keep, 0), code && h.opts.CacheDir != "", false)
}

// shrinkAll shrinks every policy's pool (version.shrink): a warm policy
// keeps keepWarm instances, the others none; coolCold and coolWarm say
// whether a built-in left without instances releases its compiled code.
func (h *Host) shrinkAll(cutoff int64, keepWarm int, coolCold, coolWarm bool) (instances int, bytes int64) {
	if h.closed.Load() {
		return 0, 0
	}
	h.shrinkMu.Lock()
	defer h.shrinkMu.Unlock()
	for _, p := range h.reg.Load().order {
		v := p.cur.Load()
		if v == nil || !v.enter() {
			continue
		}
		keep, cool := 0, coolCold
		if v.warm() != 0 {
			keep, cool = keepWarm, coolWarm
		}
		n, b := v.shrink(cutoff, keep, cool)
		instances += n
		bytes += b
		v.leave()
	}
	return instances, bytes
}

// warm returns the stages v serves that every request runs: those of
// Options.WarmStages, less the request stage when v declared a trigger
// (requests that do not match it never reach the module).
func (v *version) warm() uint32 {
	w := v.stages & v.h.opts.WarmStages
	if v.trigger != nil {
		w &^= 1 << abi.StageRequest
	}
	return w
}

// shrink closes the idle instances whose last call started before cutoff
// (unix nanos), except the keep most recently used, and, for a built-in
// left with no instance, releases the compiled code when cool is set. A
// call that finds the pool empty instantiates again (and compiles again,
// from the on-disk cache). It returns the instances closed and their
// linear memory in bytes.
func (v *version) shrink(cutoff int64, keep int, cool bool) (closed int, bytes int64) {
	var buf [8]*instance
	idle := buf[:0]
	for n := len(v.idle); n > 0; n-- {
		select {
		case inst := <-v.idle:
			idle = append(idle, inst)
		default:
			n = 1
		}
	}
	// Most recently used first: those are the ones kept.
	slices.SortFunc(idle, func(a, b *instance) int { return cmp.Compare(b.used, a.used) })
	for i, inst := range idle {
		if i >= keep && inst.used < cutoff {
			closed++
			bytes += inst.size
			v.destroy(inst)
			continue
		}
		// The pool never holds more than PoolSize instances, the idle
		// channel's capacity: putting these back cannot block.
		v.idle <- inst
	}
	if cool && v.lastCall.Load() < cutoff {
		v.cool()
	}
	return closed, bytes
}

// cool releases a built-in's compiled code when no instance is left; the
// next call compiles it again.
func (v *version) cool() {
	v.compMu.Lock()
	defer v.compMu.Unlock()
	if v.module != nil && v.comp != nil && v.count.Load() == 0 {
		v.h.release(v.comp)
		v.comp = nil
	}
}
