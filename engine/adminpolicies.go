package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/wasm"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// handlePolicyList serves GET /admin/policies: every policy with its
// version digest, stages, place in the chains, load time and live metrics,
// and each stage's chain in the order it runs with the rule that decides.
func (s *Server) handlePolicyList(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, 200, map[string]any{"policies": s.policies.List(), "chains": s.policies.Chains()})
}

// handlePolicyGet serves GET /admin/policies/{name}.
func (s *Server) handlePolicyGet(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("name").(string)
	info, ok := s.policies.Get(name)
	if !ok {
		writeError(ctx, &apiError{Status: 404, Type: typeInvalidRequest, Code: "policy_not_found", Msg: "No policy named " + name})
		return
	}
	writeJSON(ctx, 200, info)
}

// handlePolicyPut serves PUT /admin/policies/{name}[?position=P]: the body
// is a Wasm module. It is validated (size, compile, import allowlist, ABI
// marker, exports, the config's self-check) and swapped in for new
// requests; a refused module is a 400 with the reason and changes nothing.
// position (first, last, before:NAME, after:NAME) places a policy that
// gateway.toml does not configure in its stages' chains; the answer says
// where it landed (positions, placement).
func (s *Server) handlePolicyPut(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("name").(string)
	pos, err := wasm.ParsePosition(string(ctx.QueryArgs().Peek("position")))
	var module []byte
	if err == nil {
		module, err = wasm.ReadModule(bytes.NewReader(ctx.PostBody()), s.policyMaxBytes())
	}
	if err == nil {
		var info wasm.Info
		if info, err = s.policies.UploadAt(name, module, pos); err == nil {
			s.log.Info("policy uploaded", "policy", name, "digest", info.Digest, "stages", info.Stages, "placement", info.Placement)
			for _, w := range info.Warnings {
				s.log.Warn("policy loaded with a warning", "policy", name, "warning", w)
			}
			writeJSON(ctx, 200, info)
			return
		}
	}
	status, code, retry := 400, "invalid_policy", 0
	switch {
	case errors.Is(err, wasm.ErrModuleTooLarge):
		status, code = 413, "policy_too_large"
	case errors.Is(err, wasm.ErrBusy):
		status, code, retry = 503, "policy_host_busy", 5
	}
	s.log.Warn("policy upload refused", "policy", name, "error", err.Error())
	writeError(ctx, &apiError{Status: status, Type: typeInvalidRequest, Code: code, Msg: "Policy " + strconv.Quote(name) + " refused: " + err.Error(), RetryAfter: retry})
}

// logPolicyWarnings logs what the last Configure accepted with a warning.
func (s *Server) logPolicyWarnings() {
	for _, info := range s.policies.List() {
		for _, w := range info.Warnings {
			s.log.Warn("policy loaded with a warning", "policy", info.Name, "warning", w)
		}
	}
}

// handlePolicyDelete serves DELETE /admin/policies/{name}: back to the
// configured (built-in) module.
func (s *Server) handlePolicyDelete(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("name").(string)
	if err := s.policies.Delete(name); err != nil {
		writeError(ctx, &apiError{Status: 404, Type: typeInvalidRequest, Code: "policy_not_found", Msg: err.Error()})
		return
	}
	info, ok := s.policies.Get(name)
	if !ok {
		writeJSON(ctx, 200, map[string]any{"name": name, "deleted": true})
		return
	}
	writeJSON(ctx, 200, info)
}

// handlePolicyRollback serves POST /admin/policies/{name}/rollback: the
// policy's last change (upload or delete) is undone, as an upload of the
// module that ran before it or a delete back to the configured module;
// it fans out to the other replicas like either (wasm.Host.Rollback).
// 409 when there is nothing to go back to.
func (s *Server) handlePolicyRollback(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("name").(string)
	info, err := s.policies.Rollback(name)
	if err == nil {
		s.log.Info("policy rolled back", "policy", name, "digest", info.Digest, "origin", info.Origin)
		writeJSON(ctx, 200, info)
		return
	}
	e := &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_policy", Msg: "Policy " + strconv.Quote(name) + " not rolled back: " + err.Error()}
	switch {
	case errors.Is(err, wasm.ErrUnknownPolicy):
		e.Status, e.Code = 404, "policy_not_found"
	case errors.Is(err, wasm.ErrNoPrevious):
		e.Status, e.Code = 409, "no_previous_version"
	case errors.Is(err, wasm.ErrBusy):
		e.Status, e.Code, e.RetryAfter = 503, "policy_host_busy", 5
	}
	s.log.Warn("policy rollback refused", "policy", name, "error", err.Error())
	writeError(ctx, e)
}

func (s *Server) policyMaxBytes() int64 { return s.cfg.PolicyLimits.MaxModuleBytes }

// handleSkills serves GET /v1/skills: the built-in skills merged with
// gateway.toml's (same id replaces).
func (s *Server) handleSkills(ctx *fasthttp.RequestCtx) {
	if _, err := s.authenticate(ctx); err != nil {
		writeError(ctx, toAPIError(err))
		return
	}
	list := policies.DefaultSkills()
	for _, sk := range *s.skills.Load() { // gateway.toml's [[skills]], replaced by /admin/reload
		replaced := false
		for i := range list {
			if list[i].ID == sk.ID {
				list[i], replaced = sk, true
			}
		}
		if !replaced {
			list = append(list, sk)
		}
	}
	type item struct {
		ID          string `json:"id"`
		Object      string `json:"object"`
		Description string `json:"description"`
		Tier        string `json:"tier,omitempty"`
	}
	out := make([]item, 0, len(list))
	for _, sk := range list {
		out = append(out, item{ID: sk.ID, Object: "skill", Description: sk.Description, Tier: sk.Tier})
	}
	writeJSON(ctx, 200, map[string]any{"object": "list", "data": out})
}

// Policy fan-out through Redis: an upload is stored under
// gw:policy:<name> and announced on the gw:policies channel; every replica
// loads it. A replica that starts later loads the stored modules.
const (
	policyKeyPrefix = "gw:policy:"
	// policyPosKeyPrefix holds an upload-only policy's position, when set.
	policyPosKeyPrefix = "gw:policy-position:"
	policyChannel      = "gw:policies"
)

// policySync replicates policy uploads and deletions through Redis.
type policySync struct {
	s      *Server
	rdb    redis.UniversalClient
	cancel context.CancelFunc
}

func (s *Server) startPolicySync(url string) (*policySync, error) {
	rdb, err := redisconn.Open(url, redisconn.Tuning{DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	ps := &policySync{s: s, rdb: rdb}
	ctx, cancel := context.WithCancel(context.Background())
	ps.cancel = cancel
	s.policies.OnChange(ps.publish)
	go ps.run(ctx)
	return ps, nil
}

// publish stores and announces a local change (module nil: deleted).
func (ps *policySync) publish(name, digest string, module []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if module == nil {
		// Two commands: in a cluster the keys live in different slots.
		if err = ps.rdb.Del(ctx, policyKeyPrefix+name).Err(); err == nil {
			err = ps.rdb.Del(ctx, policyPosKeyPrefix+name).Err()
		}
	} else {
		// The position first: a replica that sees the module reads it.
		info, _ := ps.s.policies.Get(name)
		if info.Position != "" {
			err = ps.rdb.Set(ctx, policyPosKeyPrefix+name, info.Position, 0).Err()
		} else {
			err = ps.rdb.Del(ctx, policyPosKeyPrefix+name).Err()
		}
		if err == nil {
			err = ps.rdb.Set(ctx, policyKeyPrefix+name, module, 0).Err()
		}
	}
	if err == nil {
		err = ps.rdb.Publish(ctx, policyChannel, name).Err()
	}
	if err != nil {
		policySyncErrors.Inc()
		ps.s.log.Warn("policy fan-out failed; other replicas keep their version until the next change", "policy", name, "error", err.Error())
	}
}

// run loads the stored modules, then follows announcements until ctx ends,
// resubscribing after Redis failures.
func (ps *policySync) run(ctx context.Context) {
	for ctx.Err() == nil {
		sub := ps.rdb.Subscribe(ctx, policyChannel, weightsChannel)
		if _, err := sub.Receive(ctx); err != nil {
			_ = sub.Close()
			sleepCtx(ctx, time.Second)
			continue
		}
		ps.loadAll(ctx)
		ps.loadWeights(ctx)
		ch := sub.Channel()
		for msg := range ch {
			if msg.Channel == weightsChannel {
				ps.loadWeights(ctx)
				continue
			}
			ps.load(ctx, msg.Payload)
		}
		_ = sub.Close()
	}
}

func (ps *policySync) loadAll(ctx context.Context) {
	// Every master's keys (a cluster spreads them); the masters are
	// scanned concurrently, the loads done one at a time.
	var mu sync.Mutex
	var names []string
	_ = redisconn.ScanKeys(ctx, ps.rdb, policyKeyPrefix+"*", 100, func(_ context.Context, _ *redis.Client, keys []string) error {
		mu.Lock()
		for _, k := range keys {
			names = append(names, k[len(policyKeyPrefix):])
		}
		mu.Unlock()
		return nil
	})
	for _, name := range names {
		ps.load(ctx, name)
	}
}

// load applies the stored state of one policy.
func (ps *policySync) load(ctx context.Context, name string) {
	module, err := ps.rdb.Get(ctx, policyKeyPrefix+name).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		if _, ok := ps.s.policies.Get(name); ok {
			_ = ps.s.policies.Delete(name, wasm.FromReplica)
		}
		return
	case err != nil:
		policySyncErrors.Inc()
		return
	}
	posName, err := ps.rdb.Get(ctx, policyPosKeyPrefix+name).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		policySyncErrors.Inc()
		return
	}
	pos, _ := wasm.ParsePosition(posName)
	if pos.Kind == wasm.PositionUnset {
		pos.Kind = wasm.PositionLast
	}
	if info, ok := ps.s.policies.Get(name); ok && info.Digest == digestHex(module) && info.Position == posName {
		return
	}
	if info, ok := ps.s.policies.Get(name); ok && info.Module != "upload" {
		pos = wasm.Position{} // configured here: gateway.toml's order
	}
	if _, err := ps.s.policies.UploadAt(name, module, pos, wasm.FromReplica); err != nil {
		policySyncErrors.Inc()
		ps.s.log.Warn("replicated policy refused", "policy", name, "error", err.Error())
	}
}

func (ps *policySync) close() {
	ps.cancel()
	_ = ps.rdb.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func digestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
