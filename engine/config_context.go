package engine

import (
	"fmt"
	"time"

	"github.com/aigateway/gateway/engine/prune"
)

// PruningConfig is [pruning]: context pruning (engine/prune,
// docs/context.md). Projects override it per project id; an unset field of
// an override inherits the table's.
type PruningConfig struct {
	PruningRule
	Projects map[string]PruningRule `toml:"projects"`
}

// PruningRule is one set of pruning settings; zero fields inherit.
type PruningRule struct {
	// Mode is "off" (default), "window" or "budget" (prune.Mode).
	Mode         string  `toml:"mode"`
	BudgetTokens int     `toml:"budget_tokens"`
	Target       float64 `toml:"target"`
	KeepTurns    int     `toml:"keep_turns"`
	MinTokens    int     `toml:"min_tokens"`
	CostAware    *bool   `toml:"cost_aware"`
	Horizon      int     `toml:"horizon"`
	// Summarize puts a summary of each pruned output, written by
	// SummaryModel (default: the fast routing tier's model), in its stub.
	Summarize    *bool  `toml:"summarize"`
	SummaryModel string `toml:"summary_model"`
}

// SessionsConfig is [sessions]: server-side conversation history for
// clients that send X-Session-Id and only their new turn (sessions.go,
// docs/context.md).
type SessionsConfig struct {
	Enabled bool     `toml:"enabled"`
	TTL     Duration `toml:"ttl"`
	// MaxMessages and MaxBytes bound a stored history; past them the
	// oldest turns (never the system messages) are dropped.
	MaxMessages int `toml:"max_messages"`
	MaxBytes    int `toml:"max_bytes"`
}

func defaultPruningConfig() PruningConfig {
	t := true
	return PruningConfig{PruningRule: PruningRule{Mode: string(prune.Off), Target: 0.7, KeepTurns: 2, MinTokens: 256, CostAware: &t, Horizon: 3}}
}

func defaultSessionsConfig() SessionsConfig {
	return SessionsConfig{TTL: Duration(time.Hour), MaxMessages: 400, MaxBytes: 8 << 20}
}

func (r *PruningRule) validate(where string) error {
	switch prune.Mode(r.Mode) {
	case "", prune.Off, prune.Window, prune.Budget:
	default:
		return fmt.Errorf("%s.mode %q: expected off, window or budget", where, r.Mode)
	}
	switch {
	case r.BudgetTokens < 0:
		return fmt.Errorf("%s.budget_tokens must not be negative", where)
	case r.Target < 0 || r.Target > 1:
		return fmt.Errorf("%s.target %v: expected a fraction in (0, 1]", where, r.Target)
	case r.KeepTurns < 0 || r.MinTokens < 0 || r.Horizon < 0:
		return fmt.Errorf("%s: keep_turns, min_tokens and horizon must not be negative", where)
	case prune.Mode(r.Mode) == prune.Budget && r.BudgetTokens == 0 && where == "pruning":
		return fmt.Errorf("pruning.mode = \"budget\" needs pruning.budget_tokens")
	}
	return nil
}

func (c *PruningConfig) validate() error {
	if err := c.PruningRule.validate("pruning"); err != nil {
		return err
	}
	for id, r := range c.Projects {
		if err := r.validate("pruning.projects." + id); err != nil {
			return err
		}
		if m := r.merged(&c.PruningRule); m.Mode == string(prune.Budget) && m.BudgetTokens == 0 {
			return fmt.Errorf("pruning.projects.%s: mode \"budget\" needs budget_tokens", id)
		}
	}
	return nil
}

func (c *SessionsConfig) validate() error {
	if c.TTL <= 0 || c.MaxMessages <= 0 || c.MaxBytes <= 0 {
		return fmt.Errorf("sessions: ttl, max_messages and max_bytes must be positive")
	}
	return nil
}

// merged is r with its unset fields taken from base.
func (r PruningRule) merged(base *PruningRule) PruningRule {
	if r.Mode == "" {
		r.Mode = base.Mode
	}
	if r.BudgetTokens == 0 {
		r.BudgetTokens = base.BudgetTokens
	}
	if r.Target == 0 {
		r.Target = base.Target
	}
	if r.KeepTurns == 0 {
		r.KeepTurns = base.KeepTurns
	}
	if r.MinTokens == 0 {
		r.MinTokens = base.MinTokens
	}
	if r.CostAware == nil {
		r.CostAware = base.CostAware
	}
	if r.Horizon == 0 {
		r.Horizon = base.Horizon
	}
	if r.Summarize == nil {
		r.Summarize = base.Summarize
	}
	if r.SummaryModel == "" {
		r.SummaryModel = base.SummaryModel
	}
	return r
}

// forProject is the pruning configuration of project id.
func (c *PruningConfig) forProject(id string) prune.Config {
	r := c.PruningRule
	if p, ok := c.Projects[id]; ok {
		r = p.merged(&c.PruningRule)
	}
	return prune.Config{Mode: prune.Mode(r.Mode), BudgetTokens: r.BudgetTokens, Target: r.Target, KeepTurns: r.KeepTurns,
		MinTokens: r.MinTokens, CostAware: r.CostAware == nil || *r.CostAware, Horizon: r.Horizon, Summarize: r.Summarize != nil && *r.Summarize}
}

// summaryModel is the model that writes project id's pruning summaries.
func (c *PruningConfig) summaryModel(id string) string {
	if p, ok := c.Projects[id]; ok && p.SummaryModel != "" {
		return p.SummaryModel
	}
	return c.SummaryModel
}
