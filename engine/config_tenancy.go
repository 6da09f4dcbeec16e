package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// StoreConfig is the [store] table: the durable store (docs/store.md) and
// its usage ledger (docs/ledger.md).
type StoreConfig struct {
	// URL selects PostgreSQL (postgres:// or postgresql://); empty means
	// SQLite in data_dir/gateway.db. DATABASE_URL overrides it.
	URL string `toml:"url"`
	// MaxConns caps the store's connections (0: the backend's default).
	MaxConns int `toml:"max_conns"`
	// FlushInterval is the ledger's group-commit period.
	FlushInterval Duration `toml:"flush_interval"`
	// BatchRows writes the ledger queue early once this many rows wait.
	BatchRows int `toml:"batch_rows"`
	// QueueRows bounds the ledger rows held in memory while the store is
	// unreachable; past it they spill to SpillDir.
	QueueRows int `toml:"queue_rows"`
	// SpillDir holds ledger rows the store could not take (default
	// data_dir/ledger-spill).
	SpillDir string `toml:"spill_dir"`
	// Journal appends every ledger row to a file in SpillDir before the
	// answer is sent, so that rows survive a kill -9 (docs/ledger.md).
	Journal bool `toml:"journal"`
	// RetentionDays deletes ledger rows older than that many days (0 keeps
	// them forever); finished webhook deliveries are kept as long.
	RetentionDays int `toml:"retention_days"`
	// PollInterval is how often a replica asks the store whether projects
	// or keys changed (with Redis too, as a safety net).
	PollInterval Duration `toml:"poll_interval"`
	// ResponsesRetention deletes stored responses (POST /v1/responses with
	// store: true) older than this; 0 keeps them. OpenAI keeps them 30 days.
	ResponsesRetention Duration `toml:"responses_retention"`
	// ResponseDeltas stores a response chained on another as the items it
	// added (docs/store.md, "Stored responses"); false stores every
	// response whole, as gateways before schema migration 9 do and read.
	// Turn it off while a fleet is upgraded from such a version, on until
	// then only if no old replica serves Responses requests.
	ResponseDeltas bool `toml:"response_deltas"`

	// dir, when set, holds the SQLite file instead of data_dir (tests give
	// each gateway its own database while sharing the Wasm cache).
	dir string
	// discardLedger: see Config.DiscardLedger.
	discardLedger bool
}

// DiscardLedger makes the gateway drop its usage rows instead of writing
// them to the store: everything else of the ledger (Record, the queue, the
// flusher) runs as usual. It is the "ledger off" side of the benchmark
// harness's ledger-on/off comparison (bench/ledgeronoff.sh), not a
// configuration: budgets, /admin/usage and /admin/requests see no usage.
func (c *Config) DiscardLedger() { c.Store.discardLedger = true }

func defaultStoreConfig() StoreConfig {
	return StoreConfig{FlushInterval: Duration(time.Second), BatchRows: 1000, QueueRows: 100_000, Journal: true,
		PollInterval: Duration(500 * time.Millisecond), ResponsesRetention: Duration(30 * 24 * time.Hour), ResponseDeltas: true}
}

// sqliteDir is the directory of the SQLite file.
func (c *Config) sqliteDir() string {
	if c.Store.dir != "" {
		return c.Store.dir
	}
	return c.DataDir
}

// spillDir is the ledger's spill directory.
func (c *Config) spillDir() string {
	if c.Store.SpillDir != "" {
		return c.Store.SpillDir
	}
	return filepath.Join(c.sqliteDir(), "ledger-spill")
}

// ProjectConfig is one [[projects]] entry: a static project, read-only
// through the admin API. The fields are those of the API (docs/projects.md).
type ProjectConfig struct {
	ID               string   `toml:"id"`
	Name             string   `toml:"name"`
	RPM              int64    `toml:"rpm"`
	TPM              int64    `toml:"tpm"`
	BudgetUSD        float64  `toml:"budget_usd"`
	BudgetPeriod     string   `toml:"budget_period"`
	Models           []string `toml:"models"`
	DefaultModel     string   `toml:"default_model"`
	CacheNamespace   string   `toml:"cache_namespace"`
	Skills           *bool    `toml:"skills"`
	StripBoilerplate *bool    `toml:"strip_boilerplate"`
}

func (p *ProjectConfig) project() store.Project {
	name := p.Name
	if name == "" {
		name = p.ID
	}
	return store.Project{ID: p.ID, Name: name, RPM: p.RPM, TPM: p.TPM, BudgetUSD: p.BudgetUSD,
		BudgetPeriod: p.BudgetPeriod, Models: slices.Clone(p.Models), DefaultModel: p.DefaultModel,
		CacheNamespace: p.CacheNamespace, Skills: p.Skills, StripBoilerplate: p.StripBoilerplate, Static: true}
}

// WebhooksConfig is the [webhooks] table (docs/webhooks.md).
type WebhooksConfig struct {
	// Allow lists destinations that may be private: CIDRs
	// ("127.0.0.1/32", "10.0.0.0/8") or host names ("hooks.internal").
	// Loopback, private, link-local and unspecified addresses are refused
	// otherwise, at creation and at each delivery.
	Allow []string `toml:"allow"`
	// Timeout bounds one delivery attempt, connection included.
	Timeout Duration `toml:"timeout"`
	// MaxAttempts gives a delivery up after that many attempts.
	MaxAttempts int `toml:"max_attempts"`
	// BackoffBase and BackoffMax shape the exponential retry delay.
	BackoffBase Duration `toml:"backoff_base"`
	BackoffMax  Duration `toml:"backoff_max"`
	// PollInterval is how often the dispatcher looks for due deliveries.
	PollInterval Duration `toml:"poll_interval"`
	// BudgetThresholds are the percentages of a project's budget that fire
	// budget.threshold (below 100) and budget.exceeded (100), once per
	// period each.
	BudgetThresholds []int `toml:"budget_thresholds"`
}

func defaultWebhooksConfig() WebhooksConfig {
	return WebhooksConfig{Timeout: Duration(10 * time.Second), MaxAttempts: 12, BackoffBase: Duration(5 * time.Second),
		BackoffMax: Duration(time.Hour), PollInterval: Duration(time.Second), BudgetThresholds: []int{80, 100}}
}

// AdminKeyConfig is one [[admin_keys]] entry: a named admin key, so that
// the audit log says who acted. admin_key / GATEWAY_ADMIN_KEY is named
// "admin". Exactly one of Key and SHA256 is set.
type AdminKeyConfig struct {
	Name   string `toml:"name"`
	Key    string `toml:"key"`
	SHA256 string `toml:"sha256"`
}

// validateTenancy checks [store], [[projects]], [webhooks] and
// [[admin_keys]].
func (c *Config) validateTenancy() error {
	st := &c.Store
	if st.URL != "" && !strings.HasPrefix(st.URL, "postgres://") && !strings.HasPrefix(st.URL, "postgresql://") {
		return fmt.Errorf("store.url / DATABASE_URL: only postgres:// and postgresql:// URLs are supported (leave it empty for SQLite in data_dir)")
	}
	switch {
	case st.FlushInterval <= 0:
		return fmt.Errorf("store.flush_interval must be positive")
	case st.BatchRows <= 0 || st.QueueRows <= 0:
		return fmt.Errorf("store.batch_rows and store.queue_rows must be positive")
	case st.RetentionDays < 0:
		return fmt.Errorf("store.retention_days must not be negative")
	case st.PollInterval <= 0:
		return fmt.Errorf("store.poll_interval must be positive")
	}
	seen := map[string]bool{}
	for i := range c.Projects {
		p := &c.Projects[i]
		if p.ID == "" {
			return fmt.Errorf("projects[%d]: id is required", i)
		}
		if seen[p.ID] {
			return fmt.Errorf("projects[%d]: id %q is listed twice", i, p.ID)
		}
		seen[p.ID] = true
		switch p.BudgetPeriod {
		case "", store.PeriodDay, store.PeriodMonth:
		default:
			return fmt.Errorf("projects[%d] (%s): budget_period %q: expected day or month", i, p.ID, p.BudgetPeriod)
		}
		if p.RPM < 0 || p.TPM < 0 || p.BudgetUSD < 0 {
			return fmt.Errorf("projects[%d] (%s): rpm, tpm and budget_usd must not be negative", i, p.ID)
		}
	}
	w := &c.Webhooks
	for _, a := range w.Allow {
		if _, _, err := net.ParseCIDR(a); err != nil && (a == "" || strings.ContainsAny(a, "/ :")) {
			return fmt.Errorf("webhooks.allow %q: expected a CIDR (10.0.0.0/8) or a host name", a)
		}
	}
	if w.Timeout <= 0 || w.MaxAttempts <= 0 || w.BackoffBase <= 0 || w.BackoffMax < w.BackoffBase || w.PollInterval <= 0 {
		return fmt.Errorf("webhooks: timeout, max_attempts, backoff_base and poll_interval must be positive, backoff_max >= backoff_base")
	}
	for _, t := range w.BudgetThresholds {
		if t <= 0 || t > 1000 {
			return fmt.Errorf("webhooks.budget_thresholds: %d is not a percentage in 1..1000", t)
		}
	}
	names := map[string]bool{}
	for i, k := range c.AdminKeys {
		if k.Name == "" {
			return fmt.Errorf("admin_keys[%d]: name is required (the audit log records it)", i)
		}
		if names[k.Name] {
			return fmt.Errorf("admin_keys[%d]: name %q is used twice", i, k.Name)
		}
		names[k.Name] = true
		if (k.Key == "") == (k.SHA256 == "") {
			return fmt.Errorf("admin_keys[%d] (%s): set exactly one of key and sha256", i, k.Name)
		}
		if k.SHA256 != "" {
			if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size {
				return fmt.Errorf("admin_keys[%d].sha256: expected 64 hex digits", i)
			}
		}
	}
	return nil
}

// staticProjects are the projects the store must hold as static: every
// [[projects]] entry, then every project a [[keys]] entry names that is
// not declared (with default settings, named after its id).
func (c *Config) staticProjects() (declared []store.Project, implicit []string) {
	seen := map[string]bool{}
	for i := range c.Projects {
		declared = append(declared, c.Projects[i].project())
		seen[c.Projects[i].ID] = true
	}
	for _, k := range c.Keys {
		if !seen[k.Project] {
			seen[k.Project] = true
			implicit = append(implicit, k.Project)
		}
	}
	if !seen["default"] {
		implicit = append(implicit, "default")
	}
	return declared, implicit
}

// comparable is c without the test-only override, for reload's diff.
func (c StoreConfig) comparable() StoreConfig {
	c.dir = ""
	return c
}
