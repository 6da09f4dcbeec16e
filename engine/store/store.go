// Package store keeps the gateway's durable tenancy and accounting data:
// projects, virtual keys, budget marks, the usage ledger, the webhook outbox
// and the audit log.
//
// Two backends serve one interface and pass one test suite: SQLite, embedded
// and the default (data_dir/gateway.db), and PostgreSQL for fleets of
// replicas that share one database. Open chooses by the URL. The schema is
// migrated at Open.
//
// # Notes
//
//   - A Store is safe for concurrent use by many goroutines; on PostgreSQL
//     also by many replicas at once (row locks, SKIP LOCKED, an advisory lock
//     for migrations).
//   - Every time is UTC with microsecond precision: times given to the store
//     are truncated to the microsecond, times read back are in UTC.
//   - The package does not log and starts no goroutines; it returns errors
//     wrapping the sentinels of errors.go.
//   - Slices in results are owned by the caller; slices passed in are not
//     retained after the call returns.
package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Store is the whole durable store: tenancy, ledger, webhooks and audit.
// Callers that need only a part take the smaller interface.
type Store interface {
	Tenancy
	Ledger
	Webhooks
	Auditor
	Sessions
	Responses
	Batches

	// Backend names the backend: "sqlite" or "postgres".
	Backend() string
	// SchemaVersion is the highest migration applied to the database.
	SchemaVersion(ctx context.Context) (int, error)
	// Close releases the connections. Calls after Close fail.
	Close() error
}

// Tenancy holds projects and their virtual keys, and tells replicas what
// changed.
type Tenancy interface {
	// CreateProject stores a new dynamic project. An empty ID is generated
	// ("proj_…"); an empty CacheNamespace becomes the ID, so that projects
	// never share cache entries unless told to. Static must be false.
	// ErrConflict when the ID is taken.
	CreateProject(ctx context.Context, p Project) (Project, error)
	// Project returns one project, static or dynamic.
	Project(ctx context.Context, id string) (Project, error)
	// ListProjects returns every project, oldest first.
	ListProjects(ctx context.Context) ([]Project, error)
	// UpdateProject applies a patch: fields not Set keep their value.
	// ErrReadOnly for a static project.
	UpdateProject(ctx context.Context, id string, patch ProjectPatch) (Project, error)
	// DeleteProject removes a dynamic project and revokes all its keys.
	// ErrReadOnly for a static project.
	DeleteProject(ctx context.Context, id string) error
	// SyncStatic makes the static projects exactly the given list (the
	// projects of gateway.toml): new ones are created, changed ones updated,
	// missing ones deleted with their keys revoked. ErrConflict when an ID
	// belongs to a dynamic project.
	SyncStatic(ctx context.Context, projects []Project) error

	// CreateKey generates a key for a project (static or dynamic) and
	// returns the secret once; only its SHA-256 is stored.
	CreateKey(ctx context.Context, k NewKey) (CreatedKey, error)
	// Key returns a key by id.
	Key(ctx context.Context, id string) (Key, error)
	// KeyByHash authenticates: it returns the key whose secret hashes to h
	// (see HashKey). ErrNotFound when none does; ErrKeyRevoked and
	// ErrKeyExpired come with the key filled in.
	KeyByHash(ctx context.Context, h [32]byte) (Key, error)
	// ListKeys returns a project's keys, revoked ones included, oldest
	// first. ErrNotFound when the project does not exist.
	ListKeys(ctx context.Context, projectID string) ([]Key, error)
	// RevokeKey revokes a key; revoking it again is a no-op.
	RevokeKey(ctx context.Context, id string) error
	// TouchKeys records when keys were last used (key id → time); a time
	// older than the stored one is ignored. Meant to be called in batches,
	// every few seconds; it does not count as a change.
	TouchKeys(ctx context.Context, used map[string]time.Time) error

	// ConfigVersion is a counter bumped by every change to a project or a
	// key, in commit order.
	ConfigVersion(ctx context.Context) (int64, error)
	// ChangesSince lists the projects and keys changed after version since.
	// Reset is set when the caller must reload everything instead: since is
	// negative, newer than the store (a restored backup), or older than the
	// retained history (the last 10,000 versions). A replica loads
	// everything, remembers the ConfigVersion it read before loading, and
	// then polls with it.
	ChangesSince(ctx context.Context, since int64) (Changes, error)
}

// Ledger is the usage ledger (one row per request) and the budget marks.
type Ledger interface {
	// InsertUsage writes rows in one transaction and returns how many were
	// new: a row whose ID is already stored is skipped, so replaying a batch
	// is harmless.
	InsertUsage(ctx context.Context, rows []UsageRow) (int, error)
	// AppendUsage is InsertUsage for rows the caller has never given to
	// the store (none of them was in an earlier call, failed or not): the
	// backend may skip looking them up.
	AppendUsage(ctx context.Context, rows []UsageRow) (int, error)
	// UsageSummary aggregates the ledger over [From, To), grouped by q.GroupBy.
	UsageSummary(ctx context.Context, q UsageQuery) ([]UsageGroup, error)
	// UsageSeries aggregates the ledger over [From, To) in buckets of
	// q.Step, oldest first; buckets without rows are left out.
	UsageSeries(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error)
	// RoutingSeries aggregates the routed rows (those with a route reason)
	// over [From, To) in buckets of q.Step, oldest first: tier shares,
	// phase-2 and cascade counts and costs. Empty buckets are left out.
	RoutingSeries(ctx context.Context, q SeriesQuery) ([]RoutingPoint, error)
	// Requests pages through ledger rows newest first. Pages are stable
	// under concurrent inserts: following Next never repeats or skips a row
	// that was stored before the first page was read.
	Requests(ctx context.Context, q RequestQuery) (RequestPage, error)
	// Spend is the cost of a project's requests at or after since.
	Spend(ctx context.Context, projectID string, since time.Time) (float64, error)
	// MarkThreshold records that a budget threshold (a percentage) fired for
	// the period starting at periodStart; first reports whether this call
	// recorded it, so that across replicas exactly one caller sees true.
	MarkThreshold(ctx context.Context, projectID string, periodStart time.Time, pct int) (first bool, err error)
	// PruneUsage deletes ledger rows older than before and returns how many.
	PruneUsage(ctx context.Context, before time.Time) (int64, error)
}

// Webhooks holds webhook endpoints and their delivery outbox.
type Webhooks interface {
	// CreateWebhook stores an endpoint. An empty ID is generated ("wh_…"),
	// an empty Secret too ("whsec_…"). ErrNotFound when ProjectID names no
	// project.
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// Webhook returns an endpoint.
	Webhook(ctx context.Context, id string) (Webhook, error)
	// ListWebhooks returns every endpoint, oldest first.
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// UpdateWebhook applies a patch: fields not Set keep their value.
	UpdateWebhook(ctx context.Context, id string, patch WebhookPatch) (Webhook, error)
	// DeleteWebhook removes an endpoint and its deliveries.
	DeleteWebhook(ctx context.Context, id string) error

	// EnqueueDelivery queues an event for an endpoint, due now, and returns
	// the delivery id ("dlv_…", stable across retries: receivers can
	// deduplicate on it).
	EnqueueDelivery(ctx context.Context, webhookID, event string, payload []byte) (string, error)
	// DueDeliveries claims up to limit deliveries that are due at now and
	// not claimed by anyone else, leasing them until now+lease and counting
	// an attempt. Disabled endpoints' deliveries wait. A claim that is
	// neither marked delivered nor failed before its lease ends is claimable
	// again (the claimer crashed).
	DueDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error)
	// MarkDelivered records a successful delivery.
	MarkDelivered(ctx context.Context, id string) error
	// MarkFailed records a failed attempt and releases the claim: the
	// delivery is due again at next, or given up for good when next is zero.
	MarkFailed(ctx context.Context, id string, next time.Time, lastError string) error
	// ListDeliveries returns an endpoint's most recent deliveries, newest
	// first (limit 0 means 100).
	ListDeliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error)
	// PruneDeliveries deletes finished (delivered or given-up) deliveries
	// created before before, and returns how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// Auditor is the audit log of administrative actions.
type Auditor interface {
	// Audit appends an entry; a zero Time means now.
	Audit(ctx context.Context, e AuditEntry) error
	// AuditLog pages through entries newest first, like Requests.
	AuditLog(ctx context.Context, q AuditQuery) (AuditPage, error)
}

// Sessions are the admin dashboard's login sessions, shared by every
// replica of the store.
type Sessions interface {
	// CreateSession stores a session; it also deletes the expired ones.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the unexpired session whose token hashes to
	// tokenHash; ErrNotFound when there is none (or it expired).
	Session(ctx context.Context, tokenHash string) (Session, error)
	// DeleteSession removes a session (logout); deleting it again is a
	// no-op.
	DeleteSession(ctx context.Context, tokenHash string) error
}

// Config selects and tunes a backend. The zero value is not valid: set URL
// or DataDir.
type Config struct {
	// URL selects PostgreSQL when it starts with postgres:// or
	// postgresql:// (any libpq/pgx URL parameter works). Empty selects
	// SQLite in DataDir; any other scheme is an error.
	URL string
	// DataDir is the directory of the SQLite file gateway.db, created if
	// missing. Ignored for PostgreSQL.
	DataDir string
	// MaxConns caps open connections: the PostgreSQL pool, or SQLite's
	// readers (SQLite has one writer connection besides). 0 means 4 for
	// SQLite and pgxpool's default (max(4, GOMAXPROCS)) for PostgreSQL, unless
	// the URL sets pool_max_conns.
	MaxConns int
	// Now is the clock for created_at, expiry checks and the like; nil
	// means time.Now. Tests set it.
	Now func() time.Time
}

// SQLiteFile is the name of the SQLite database inside DataDir.
const SQLiteFile = "gateway.db"

// Open opens (creating if needed) the store that cfg names and migrates its
// schema to the current version. Replicas may Open the same PostgreSQL
// database at once: one applies the migrations, the others wait for it.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var (
		b   backend
		err error
	)
	switch {
	case strings.HasPrefix(cfg.URL, "postgres://"), strings.HasPrefix(cfg.URL, "postgresql://"):
		b, err = openPostgres(ctx, cfg)
	case cfg.URL != "":
		return nil, fmt.Errorf("store url: %w: only postgres:// and postgresql:// URLs are supported (leave it empty for SQLite in data_dir)", ErrInvalid)
	case cfg.DataDir == "":
		return nil, fmt.Errorf("store: %w: neither a URL nor a data_dir", ErrInvalid)
	default:
		b, err = openSQLite(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	s := &sqlStore{b: b, now: cfg.Now}
	if err := s.migrate(ctx); err != nil {
		b.close()
		return nil, err
	}
	if sb, ok := b.(*sqliteBackend); ok {
		if err := sb.moveLegacyRows(ctx); err != nil {
			b.close()
			return nil, err
		}
	}
	return s, nil
}
