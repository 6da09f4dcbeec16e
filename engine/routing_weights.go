package engine

import (
	"errors"

	"github.com/aigateway/gateway/engine/routing"
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
	writeJSON(ctx, 200, routing.WeightsInfo(body, routing.FromUpload))
}

// handleWeightsDelete serves DELETE /admin/routing/weights: back to
// [routing] weights or the embedded model.
func (s *Server) handleWeightsDelete(ctx *fasthttp.RequestCtx) {
	if err := routing.RemoveUpload(s.cfg.DataDir); err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "weights_not_removed", Msg: err.Error()})
		return
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
