package engine

import (
	"reflect"

	"github.com/valyala/fasthttp"
)

// SetConfigSource tells the server where its configuration came from, for
// POST /admin/reload.
func (s *Server) SetConfigSource(path string, getenv func(string) string) {
	s.configPath, s.getenv = path, getenv
}

// handleReload serves POST /admin/reload: it reads gateway.toml and the
// environment again, validates them, and applies what can change without a
// restart — client keys, policies (with the router's tiers and the skills)
// — atomically for new requests. Sections that need a restart (listen,
// providers, models, cache, reliability) are reported, not applied. An
// invalid configuration changes nothing.
func (s *Server) handleReload(ctx *fasthttp.RequestCtx) {
	if s.getenv == nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "reload_unavailable", Msg: "this gateway was not started from a configuration file"})
		return
	}
	cfg, err := Load(s.configPath, s.getenv)
	if err != nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_config", Msg: "configuration refused, nothing changed: " + err.Error()})
		return
	}
	old := s.cfg
	var restart []string
	for name, same := range map[string]bool{
		"listen":      cfg.Listen == old.Listen,
		"providers":   reflect.DeepEqual(cfg.Providers, old.Providers),
		"models":      reflect.DeepEqual(cfg.Models, old.Models),
		"cache":       reflect.DeepEqual(cfg.Cache, old.Cache),
		"reliability": reflect.DeepEqual(cfg.Reliab, old.Reliab),
		"optimize":    cfg.Optimize == old.Optimize,
		"routing":     reflect.DeepEqual(cfg.Routing, old.Routing),
		"store":       cfg.Store.comparable() == old.Store.comparable(),
		"webhooks":    reflect.DeepEqual(cfg.Webhooks, old.Webhooks),
		"admin_keys":  cfg.AdminKey == old.AdminKey && reflect.DeepEqual(cfg.AdminKeys, old.AdminKeys),
	} {
		if !same {
			restart = append(restart, name)
		}
	}
	pcs, err := policyConfigs(cfg, s.catalog)
	if err == nil {
		err = s.policies.Configure(pcs)
	}
	if err != nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_policies", Msg: "policies refused, nothing changed: " + err.Error()})
		return
	}
	if err := s.reloadTenancy(ctx, cfg); err != nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_projects", Msg: "projects refused (policies were applied): " + err.Error()})
		return
	}
	s.logPolicyWarnings()
	s.log.Info("configuration reloaded", "keys", len(cfg.Keys), "projects", len(cfg.Projects), "policies", len(pcs), "needs_restart", restart)
	writeJSON(ctx, 200, map[string]any{
		"applied":       []string{"keys", "projects", "policies", "skills"},
		"needs_restart": restart,
	})
}
