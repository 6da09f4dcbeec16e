package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/policyinput"
	"github.com/aigateway/gateway/engine/routing"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

// routerConfig is the router policy's JSON config: the bound tiers and the
// [routing] knobs, with the weights an operator uploaded or configured.
func routerConfig(cfg *Config, cat *catalog.Catalog) (string, error) {
	tiers, err := routing.BindTiers(cfg.Routing.Tiers, cat)
	if err != nil {
		return "", err
	}
	w, _, err := routing.LoadWeights(cfg.DataDir, cfg.Routing.Weights)
	if err != nil {
		return "", err
	}
	r := cfg.Routing
	return routing.PolicyConfig(tiers, cat, routing.Knobs{Mode: r.Mode, Classifier: r.Classifier, Threshold: r.Threshold,
		AmbiguousMargin: r.AmbiguousMargin, Phase2: r.ClassifierModel != "", Weights: w})
}

// policyConfigs returns the policies to configure: gateway.toml's, or the
// built-ins, with the engine-generated configs of the router and skills and
// the seed's switches applied.
func policyConfigs(cfg *Config, cat *catalog.Catalog) ([]wasm.PolicyConfig, error) {
	pcs := cfg.Policies
	if len(pcs) == 0 {
		pcs = defaultPolicies()
	}
	out := make([]wasm.PolicyConfig, len(pcs))
	copy(out, pcs)
	for i := range out {
		p := &out[i]
		switch p.Module {
		case wasm.BuiltinPrefix + "router":
			if p.Config == "" {
				c, err := routerConfig(cfg, cat)
				if err != nil {
					return nil, err
				}
				p.Config = c
			}
		case wasm.BuiltinPrefix + "skills":
			if p.Config == "" && len(cfg.Skills) > 0 {
				b, err := json.Marshal(map[string]any{"skills": cfg.Skills})
				if err != nil {
					return nil, err
				}
				p.Config = string(b)
			}
		}
		// The seed's switches turn the built-ins on and off unless the
		// policy's own "enabled" says otherwise.
		if p.Enabled == nil {
			switch p.Module {
			case wasm.BuiltinPrefix + "stripper":
				p.Enabled = boolPtr(cfg.Optimize.StripIDEBoilerplate)
			case wasm.BuiltinPrefix + "diff-first":
				p.Enabled = boolPtr(cfg.Optimize.EnforceDiffFirst)
			case wasm.BuiltinPrefix + "dedup":
				p.Enabled = boolPtr(cfg.Optimize.FileHashCache)
			}
		}
	}
	return out, nil
}

func boolPtr(b bool) *bool { return &b }

// defaultPolicies are the built-ins an empty gateway.toml runs: on the
// request stage the stripper, file dedup, skills and diff-first (off unless
// ENFORCE_DIFF_FIRST); the router on the route stage; the judge on the
// response stage (it runs only for cascade routing).
func defaultPolicies() []wasm.PolicyConfig {
	var out []wasm.PolicyConfig
	for _, p := range wasm.DefaultPolicies() {
		// The seed's switches decide these (policyConfigs): the host's
		// own default (diff-first off) would otherwise hide the switch.
		switch p.Name {
		case "stripper", "diff-first", "dedup":
			p.Enabled = nil
		}
		out = append(out, p)
		if p.Name == "stripper" {
			out = append(out, wasm.PolicyConfig{Name: "dedup", Module: wasm.BuiltinPrefix + "dedup", Stages: []string{"request"}})
		}
	}
	return append(out, wasm.PolicyConfig{Name: "judge", Module: wasm.BuiltinPrefix + "judge", Stages: []string{"response"}})
}

// newPolicyHost starts the Wasm host and configures the policies.
func newPolicyHost(cfg *Config, cat *catalog.Catalog) (*wasm.Host, error) {
	l := cfg.PolicyLimits
	opts := wasm.Options{DefaultTimeout: cfg.PolicyTimeout.D(), MaxModuleSize: l.MaxModuleBytes, MaxFunctions: l.MaxFunctions,
		CompileTimeout: l.CompileTimeout.D(), CacheMaxBytes: int64(l.CacheMaxMB) << 20}
	if cfg.DataDir != "" {
		opts.CacheDir = filepath.Join(cfg.DataDir, "wasm-cache")
		opts.DataDir = cfg.DataDir
	}
	if cfg.wasmCacheDir != "" {
		opts.CacheDir = cfg.wasmCacheDir
	}
	h, err := wasm.New(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	pcs, err := policyConfigs(cfg, cat)
	if err != nil {
		h.Close(context.Background())
		return nil, err
	}
	if err := h.Configure(pcs); err != nil {
		h.Close(context.Background())
		return nil, fmt.Errorf("policies: %w", err)
	}
	return h, nil
}

// fillInput builds the policies' view of x's request (policyinput.Fill).
func fillInput(in *wasm.Input, x *exchange, h *fasthttp.RequestHeader) {
	policyinput.Fill(in, x.req, x.project, h)
	in.Skip = x.policySkips() // the project's policy overrides (tenancy.go)
}

// applyEdits rebuilds the body with the policies' message edits and decodes
// it again. Unchanged messages keep their original bytes, and so do the
// separators between two unchanged neighbours: provider prompt caches see the
// same prefix up to the first edited message.
func applyEdits(x *exchange, finals []wasm.FinalMessage) error {
	r := x.req
	f, ok := r.Field("messages")
	if !ok || len(r.Messages) == 0 {
		return nil
	}
	// The new body is built in a buffer the request owns and adopted
	// without a copy; the old body stays alive until the request ends,
	// because strings taken from it (the model name the handler resolved,
	// the project's view of a message) may still be read.
	b := r.Body
	dst := r.EditBuffer()
	dst = append(dst, b[:f.ValStart]...)
	dst = append(dst, b[f.ValStart:r.Messages[0].Span.Start]...) // "[" and spacing
	prev := -2
	for i, fm := range finals {
		if i > 0 {
			if fm.Orig >= 0 && prev >= 0 && fm.Orig == prev+1 {
				dst = append(dst, b[r.Messages[prev].Span.End:r.Messages[fm.Orig].Span.Start]...)
			} else {
				dst = append(dst, ',')
			}
		}
		switch {
		case fm.Orig >= 0 && !fm.Changed:
			m := &r.Messages[fm.Orig]
			dst = append(dst, b[m.Span.Start:m.Span.End]...)
		case fm.Orig >= 0:
			dst = appendEditedMessage(dst, b, &r.Messages[fm.Orig], fm.Text)
		default:
			dst = append(dst, `{"role":`...)
			dst = jsonscan.AppendQuoteBytes(dst, fm.Role)
			dst = append(dst, `,"content":`...)
			dst = jsonscan.AppendQuoteBytes(dst, fm.Text)
			dst = append(dst, '}')
		}
		prev = fm.Orig
	}
	last := &r.Messages[len(r.Messages)-1]
	dst = append(dst, b[last.Span.End:]...)
	return r.Adopt(dst)
}

// appendEditedMessage re-emits message m with its text replaced: a string
// content becomes the new string; parts keep every non-text part (images)
// after one text part holding the new text; every other member keeps its
// bytes.
func appendEditedMessage(dst, b []byte, m *providers.Message, text []byte) []byte {
	if m.ContentSpan.Empty() {
		// No content member (an assistant turn with tool calls): add one.
		end := m.Span.End - 1
		dst = append(dst, b[m.Span.Start:end]...)
		dst = append(dst, `,"content":`...)
		dst = jsonscan.AppendQuoteBytes(dst, text)
		return append(dst, '}')
	}
	dst = append(dst, b[m.Span.Start:m.ContentSpan.Start]...)
	if len(m.Parts) == 0 {
		dst = jsonscan.AppendQuoteBytes(dst, text)
	} else {
		dst = append(dst, `[{"type":"text","text":`...)
		dst = jsonscan.AppendQuoteBytes(dst, text)
		dst = append(dst, '}')
		for _, p := range m.Parts {
			if p.Type != "text" {
				dst = append(dst, ',')
				dst = append(dst, p.Raw...)
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, b[m.ContentSpan.End:m.Span.End]...)
}

// runPolicies runs the request stage, applies its edits, and for model "auto"
// (or smart routing) the route stage. It returns the model name to resolve,
// or done when it already answered the client.
func (s *Server) runPolicies(ctx *fasthttp.RequestCtx, x *exchange, name string) (string, bool) {
	fillInput(&x.in, x, &ctx.Request.Header)
	x.in.RequestID = x.reqID
	x.out.Reset()
	if err := s.policies.Run(ctx, abi.StageRequest, &x.in, &x.out); err != nil {
		x.fail(ctx, policyError(err))
		return "", true
	}
	if x.out.Response.Set {
		x.respondLocally(ctx)
		return "", true
	}
	x.collectTags()
	if finals := x.out.Messages(); finals != nil {
		x.noteRemoved(finals) // counted after the answer is sent
		if err := applyEdits(x, finals); err != nil {
			x.fail(ctx, &apiError{Status: 500, Type: typeServer, Code: "policy_edit_invalid",
				Msg: "a request policy produced an invalid request: " + err.Error()})
			return "", true
		}
		fillInput(&x.in, x, &ctx.Request.Header)
		x.in.RequestID = x.reqID
	}
	smart := s.cfg.Routing.SmartRouting || string(ctx.Request.Header.Peek("X-Gateway-Smart-Routing")) == "1"
	if name != "auto" && !smart {
		return name, false
	}
	if smart {
		// ENABLE_SMART_ROUTING reroutes explicit models too: the router
		// reads the flag, whether the header or the config set it.
		x.in.Flags |= abi.FlagSmartRouting
	}
	x.out.Reset()
	if err := s.policies.Run(ctx, abi.StageRoute, &x.in, &x.out); err != nil {
		x.fail(ctx, policyError(err))
		return "", true
	}
	if x.out.Response.Set {
		x.respondLocally(ctx)
		return "", true
	}
	x.collectTags()
	x.tier = x.out.Route.Tier.String()
	if r := x.out.Route; r.Set && len(r.Model) > 0 {
		x.reason = append(x.reason[:0], r.Reason...)
		if r.Ambiguous {
			if model, tier, why, ok := s.phase2(ctx, x); ok {
				x.reason = append(append(x.reason[:0], "phase 2: "...), why...)
				x.tier = tier
				return model, false
			}
			x.reason = append(x.reason, " (ambiguous: fallback tier)"...)
		}
		// r.Model is in the policy's output buffer, reused by the next
		// request: the name outlives it (catalog, ledger row, metrics).
		// The router almost always names its tier's configured model:
		// that string is the configuration's, shared without a copy.
		if m := s.tiers.Model(x.tier); m == string(r.Model) {
			return m, false
		}
		return string(r.Model), false
	}
	if name == "auto" {
		x.reason = append(x.reason[:0], "router unavailable: default model"...)
	}
	return name, false
}

// collectTags keeps the policies' tags, and their fail-open failures, for
// the access log.
func (x *exchange) collectTags() {
	for _, f := range x.out.Failures {
		if len(x.tags) > 0 {
			x.tags = append(x.tags, ' ')
		}
		x.tags = append(x.tags, "policy_failed="...)
		x.tags = append(x.tags, f.Policy...)
		x.tags = append(x.tags, ':')
		x.tags = append(x.tags, f.Kind.Label()...)
	}
	for _, t := range x.out.Tags {
		if len(x.tags) > 0 {
			x.tags = append(x.tags, ' ')
		}
		x.tags = append(x.tags, t.Key...)
		x.tags = append(x.tags, '=')
		x.tags = append(x.tags, t.Value...)
	}
}

// respondLocally sends the answer a policy gave in place of the upstream.
func (x *exchange) respondLocally(ctx *fasthttp.RequestCtx) {
	r := x.out.Response
	x.status = r.Status
	x.errCode = "policy_response"
	ctx.SetStatusCode(r.Status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Gateway-Policy", r.Policy)
	ctx.SetBody(r.Body)
	x.finish()
}

// policyError maps a fail-closed policy failure to a 5xx naming the policy.
func policyError(err error) *apiError {
	return &apiError{Status: 503, Type: typeServer, Code: "policy_failed", RetryAfter: 1,
		Msg: "A required gateway policy failed: " + err.Error()}
}

// phase2 asks the classifier model for the tier of an ambiguous request; it
// keeps the router's fallback when the classifier is absent or fails, or
// when the tier's model lacks a capability the request needs.
func (s *Server) phase2(ctx context.Context, x *exchange) (model, tier, reason string, ok bool) {
	if s.classifier == nil {
		return "", "", "", false
	}
	tier, why, ok := s.classifier.classify(ctx, x, x.req)
	if !ok {
		return "", "", "", false
	}
	model = s.tiers.Model(tier)
	m, err := s.catalog.Resolve(model)
	if err != nil || checkCapabilities(x.req, m) != nil {
		return "", "", "", false
	}
	return model, tier, tier + ": " + why, true
}

// ReleaseIdle gives back what the Wasm policies hold that served no call
// for idle, as policy_quiet_release says: cmd/gateway's memory trim calls
// it when the gateway goes quiet after a burst (internal/memtrim), with the
// trim interval. It returns the instances closed and their linear memory in
// bytes, which gateway_policy_quiet_released_instances_total and
// gateway_policy_quiet_released_bytes_total count.
func (s *Server) ReleaseIdle(idle time.Duration) (instances int, bytes int64) {
	if s.policies == nil || s.cfg.PolicyQuietRelease == "off" {
		return 0, 0
	}
	instances, bytes = s.policies.ReleaseIdle(idle, s.cfg.PolicyKeepInstances, s.cfg.PolicyQuietRelease == "code")
	quietInstances.Add(instances)
	quietBytes.Add(int(bytes))
	return instances, bytes
}
