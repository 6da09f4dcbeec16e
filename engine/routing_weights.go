package engine

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/aigateway/gateway/engine/routing"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// handleWeightsGet serves GET /admin/routing/weights.
func (s *Server) handleWeightsGet(ctx *fasthttp.RequestCtx) {
	b, source, err := routing.LoadWeights(s.cfg.DataDir, s.cfg.Routing.Weights)
	if err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "weights_unreadable", Msg: err.Error()})
		return
	}
	info := routing.WeightsInfo(b, source)
	info["threshold"] = s.cfg.Routing.Threshold
	writeJSON(ctx, 200, info)
}

// handleWeightsPut serves PUT /admin/routing/weights: the body is a
// `gateway router train` output. It is validated, saved under the data
// directory (a restart keeps it) and handed to the router policy, which
// uses it for every request that starts after the answer.
func (s *Server) handleWeightsPut(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	s.weightsMu.Lock()
	defer s.weightsMu.Unlock()
	old, err := routing.SaveUpload(s.cfg.DataDir, body)
	switch {
	case errors.Is(err, routing.ErrTooLarge):
		writeError(ctx, &apiError{Status: 413, Type: typeInvalidRequest, Code: "weights_too_large", Msg: err.Error()})
		return
	case errors.Is(err, routing.ErrNoDataDir):
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "no_data_dir", Msg: err.Error()})
		return
	case errors.Is(err, routing.ErrInvalid):
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_weights", Msg: err.Error()})
		return
	case err != nil:
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "weights_not_saved", Msg: err.Error()})
		return
	}
	if err := s.reconfigureRouter(); err != nil {
		// Put the previous state back: the router keeps its weights.
		_ = routing.RestoreUpload(s.cfg.DataDir, old)
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_weights", Msg: "the router refused the weights: " + err.Error()})
		return
	}
	s.log.Info("router weights uploaded", "bytes", len(body))
	if s.sync != nil {
		s.sync.publishWeights(body)
	}
	writeJSON(ctx, 200, routing.WeightsInfo(body, routing.FromUpload))
}

// handleWeightsDelete serves DELETE /admin/routing/weights: back to
// [routing] weights or the embedded model.
func (s *Server) handleWeightsDelete(ctx *fasthttp.RequestCtx) {
	if err := s.deleteWeights(); err != nil {
		writeError(ctx, err)
		return
	}
	s.handleWeightsGet(ctx)
}

func (s *Server) deleteWeights() *apiError {
	s.weightsMu.Lock()
	defer s.weightsMu.Unlock()
	if err := routing.RemoveUpload(s.cfg.DataDir); err != nil {
		return &apiError{Status: 500, Type: typeServer, Code: "weights_not_removed", Msg: err.Error()}
	}
	if err := s.reconfigureRouter(); err != nil {
		return &apiError{Status: 500, Type: typeServer, Code: "router_not_reconfigured", Msg: err.Error()}
	}
	if s.sync != nil {
		s.sync.publishWeights(nil)
	}
	return nil
}

// reconfigureRouter applies the policies again with the current weights.
func (s *Server) reconfigureRouter() error {
	pcs, err := policyConfigs(s.cfg, s.catalog)
	if err != nil {
		return err
	}
	return s.policies.Configure(pcs)
}

// Weights fan-out, beside the policies': an upload is stored under
// gw:routing-weights (no key: no upload) and announced on
// gw:routing-weights; every replica saves it under its data_dir, as its
// own upload would be, and reconfigures its router. A replica that starts
// later loads the stored weights.
const (
	weightsKey     = "gw:routing-weights"
	weightsChannel = "gw:routing-weights"
)

// publishWeights stores and announces a local upload (nil: deleted).
func (ps *policySync) publishWeights(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if b == nil {
		err = ps.rdb.Del(ctx, weightsKey).Err()
	} else {
		err = ps.rdb.Set(ctx, weightsKey, b, 0).Err()
	}
	if err == nil {
		err = ps.rdb.Publish(ctx, weightsChannel, "").Err()
	}
	if err != nil {
		policySyncErrors.Inc()
		ps.s.log.Warn("router weights fan-out failed; other replicas keep theirs until the next change", "error", err.Error())
	}
}

// loadWeights applies the stored weights: saved as this replica's upload
// and handed to its router, unless it already has them.
func (ps *policySync) loadWeights(ctx context.Context) {
	s := ps.s
	b, err := ps.rdb.Get(ctx, weightsKey).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		policySyncErrors.Inc()
		return
	}
	s.weightsMu.Lock()
	defer s.weightsMu.Unlock()
	cur, source, _ := routing.LoadWeights(s.cfg.DataDir, "")
	if b == nil {
		if source != routing.FromUpload {
			return
		}
		err = routing.RemoveUpload(s.cfg.DataDir)
	} else {
		if bytes.Equal(cur, b) {
			return
		}
		var old []byte
		if old, err = routing.SaveUpload(s.cfg.DataDir, b); err == nil {
			if err = s.reconfigureRouter(); err != nil {
				_ = routing.RestoreUpload(s.cfg.DataDir, old)
			}
			ps.weightsApplied(err)
			return
		}
	}
	if err == nil {
		err = s.reconfigureRouter()
	}
	ps.weightsApplied(err)
}

func (ps *policySync) weightsApplied(err error) {
	if err != nil {
		policySyncErrors.Inc()
		ps.s.log.Warn("replicated router weights not applied", "error", err.Error())
		return
	}
	ps.s.log.Info("router weights replicated")
}
