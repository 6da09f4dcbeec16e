package engine

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/policies/router/routemodel"
	"github.com/valyala/fasthttp"
)

// The learned router's knob and weights travel in the router policy's
// config: the engine adds "threshold", "ambiguous_margin" (only when a
// phase-2 classifier model is configured) and "weights" (base64, only when
// the embedded model is replaced) to the JSON that routerConfig builds.

// maxWeightsBytes bounds an uploaded weights file (2^20 weights).
const maxWeightsBytes = 4<<20 + 1<<16

// uploadedWeightsPath is where PUT /admin/routing/weights keeps its file.
func uploadedWeightsPath(cfg *Config) string {
	if cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(cfg.DataDir, "routing", "weights.bin")
}

// routerWeights returns the weights that replace the embedded ones and
// where they come from: an upload, else [routing] weights, else none.
func routerWeights(cfg *Config) (b []byte, source string, err error) {
	if p := uploadedWeightsPath(cfg); p != "" {
		b, err := os.ReadFile(p)
		if err == nil {
			return b, "upload", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("uploaded router weights: %w", err)
		}
	}
	if cfg.Routing.Weights != "" {
		b, err := os.ReadFile(cfg.Routing.Weights)
		if err != nil {
			return nil, "", fmt.Errorf("routing.weights: %w", err)
		}
		return b, "config", nil
	}
	return nil, "builtin", nil
}

// withRouting adds the routing section's keys to the router's config.
func withRouting(cfg *Config, doc []byte) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return "", err
	}
	r := cfg.Routing
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		m[k] = b
	}
	if r.Classifier != "" {
		set("classifier", r.Classifier)
	}
	if r.Threshold > 0 {
		set("threshold", r.Threshold)
	}
	if r.ClassifierModel != "" && r.AmbiguousMargin > 0 {
		set("ambiguous_margin", r.AmbiguousMargin)
	}
	w, _, err := routerWeights(cfg)
	if err != nil {
		return "", err
	}
	if w != nil {
		if _, err := routemodel.Decode(w); err != nil {
			return "", err
		}
		set("weights", base64.StdEncoding.EncodeToString(w))
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// weightsInfo describes a weights file for the admin API.
func weightsInfo(b []byte, source string) map[string]any {
	if b == nil {
		b = policies.RouterWeights()
	}
	sum := sha256.Sum256(b)
	out := map[string]any{"source": source, "sha256": hex.EncodeToString(sum[:]), "bytes": len(b)}
	if m, err := routemodel.Decode(b); err == nil {
		out["bits"], out["default_threshold"], out["note"] = m.Bits, m.Threshold, m.Note
	}
	return out
}

// handleWeightsGet serves GET /admin/routing/weights.
func (s *Server) handleWeightsGet(ctx *fasthttp.RequestCtx) {
	b, source, err := routerWeights(s.cfg)
	if err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "weights_unreadable", Msg: err.Error()})
		return
	}
	info := weightsInfo(b, source)
	info["threshold"] = s.cfg.Routing.Threshold
	writeJSON(ctx, 200, info)
}

// handleWeightsPut serves PUT /admin/routing/weights: the body is a
// `gateway router train` output. It is validated, saved under the data
// directory (a restart keeps it) and handed to the router policy, which
// uses it for every request that starts after the answer.
func (s *Server) handleWeightsPut(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	if len(body) > maxWeightsBytes {
		writeError(ctx, &apiError{Status: 413, Type: typeInvalidRequest, Code: "weights_too_large", Msg: "router weights larger than 4 MiB"})
		return
	}
	if _, err := routemodel.Decode(body); err != nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_weights", Msg: err.Error()})
		return
	}
	path := uploadedWeightsPath(s.cfg)
	if path == "" {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "no_data_dir", Msg: "router weights uploads need data_dir"})
		return
	}
	old, oldErr := os.ReadFile(path)
	if err := writeFileAtomic(path, body); err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "weights_not_saved", Msg: err.Error()})
		return
	}
	if err := s.reconfigureRouter(); err != nil {
		// Put the previous state back: the router keeps its weights.
		if oldErr == nil {
			_ = writeFileAtomic(path, old)
		} else {
			_ = os.Remove(path)
		}
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_weights", Msg: "the router refused the weights: " + err.Error()})
		return
	}
	s.log.Info("router weights uploaded", "bytes", len(body))
	writeJSON(ctx, 200, weightsInfo(body, "upload"))
}

// handleWeightsDelete serves DELETE /admin/routing/weights: back to
// [routing] weights or the embedded model.
func (s *Server) handleWeightsDelete(ctx *fasthttp.RequestCtx) {
	if p := uploadedWeightsPath(s.cfg); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "weights_not_removed", Msg: err.Error()})
			return
		}
	}
	if err := s.reconfigureRouter(); err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "router_not_reconfigured", Msg: err.Error()})
		return
	}
	s.handleWeightsGet(ctx)
}

// reconfigureRouter applies the policies again with the current weights.
func (s *Server) reconfigureRouter() error {
	pcs, err := policyConfigs(s.cfg, s.catalog)
	if err != nil {
		return err
	}
	return s.policies.Configure(pcs)
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, time.Now().UnixNano())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
