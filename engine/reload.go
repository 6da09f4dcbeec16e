package engine

import (
	"reflect"
	"sort"

	"github.com/valyala/fasthttp"
)

// SetConfigSource tells the server where its configuration came from, for
// POST /admin/reload.
func (s *Server) SetConfigSource(path string, getenv func(string) string) {
	s.configPath, s.getenv = path, getenv
}

// handleReload serves POST /admin/reload: it reads gateway.toml and the
// environment again, validates them, and applies what can change without a
// restart — client keys, projects, policies and skills (the skills policy
// and GET /v1/skills) — atomically for new requests. Sections that need a
// restart (listen, the top-level server settings, providers, models,
// cache, reliability, optimize, routing, policy_limits, store, webhooks,
// admin keys) are reported in needs_restart and
// not applied, not even in part. An invalid configuration changes nothing.
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
		"listen":        cfg.Listen == old.Listen,
		"providers":     reflect.DeepEqual(cfg.Providers, old.Providers),
		"models":        reflect.DeepEqual(cfg.Models, old.Models),
		"cache":         reflect.DeepEqual(cfg.Cache, old.Cache),
		"reliability":   reflect.DeepEqual(cfg.Reliab, old.Reliab),
		"optimize":      cfg.Optimize == old.Optimize,
		"routing":       reflect.DeepEqual(cfg.Routing, old.Routing),
		"store":         cfg.Store.comparable() == old.Store.comparable(),
		"webhooks":      reflect.DeepEqual(cfg.Webhooks, old.Webhooks),
		"admin_keys":    cfg.AdminKey == old.AdminKey && reflect.DeepEqual(cfg.AdminKeys, old.AdminKeys),
		"server":        serverSettings(cfg) == serverSettings(old),
		"policy_limits": cfg.PolicyLimits == old.PolicyLimits,
	} {
		if !same {
			restart = append(restart, name)
		}
	}
	// [optimize] switches built-in policies on and off, but it is a
	// restart-only section (the engine reads it too): the policies are
	// built from the new file with the running switches, so that a reload
	// never applies half of a section.
	pol := *cfg
	pol.Optimize, pol.PolicyLimits = old.Optimize, old.PolicyLimits
	pcs, err := policyConfigs(&pol, s.catalog)
	if err == nil {
		err = s.policies.Configure(pcs)
	}
	if err != nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_policies", Msg: "policies refused, nothing changed: " + err.Error()})
		return
	}
	sc, cancel := storeContext()
	defer cancel()
	if err := s.reloadTenancy(sc, cfg); err != nil {
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_projects", Msg: "projects refused (policies were applied): " + err.Error()})
		return
	}
	skills := cfg.Skills
	s.skills.Store(&skills)
	s.logPolicyWarnings()
	s.log.Info("configuration reloaded", "keys", len(cfg.Keys), "projects", len(cfg.Projects), "policies", len(pcs), "needs_restart", restart)
	sort.Strings(restart)
	writeJSON(ctx, 200, map[string]any{
		"applied":       []string{"keys", "projects", "policies", "skills"},
		"needs_restart": restart,
	})
}

// serverConf holds the top-level settings the running server read at
// start (the "server" section of needs_restart).
type serverConf struct {
	allowUnauthenticated bool
	maxBodyBytes         int
	drainTimeout         Duration
	defaultModel         string
	logPrompts           bool
	dataDir              string
	readTimeout          Duration
	queueTimeout         Duration
	firstByteTimeout     Duration
	writeTimeout         Duration
	maxConnsPerIP        int
	maxHeaderBytes       int
	memoryTrimInterval   Duration
	policyQuietRelease   string
	policyKeepInstances  int
}

// serverSettings returns c's top-level settings.
func serverSettings(c *Config) serverConf {
	return serverConf{c.AllowUnauthenticated, c.MaxBodyBytes, c.DrainTimeout, c.DefaultModel, c.LogPrompts, c.DataDir, c.ReadTimeout, c.QueueTimeout,
		c.FirstByteTimeout, c.WriteTimeout, c.MaxConnsPerIP, c.MaxHeaderBytes, c.MemoryTrimInterval,
		c.PolicyQuietRelease, c.PolicyKeepInstances}
}
