package store

// A migration moves the schema one version up. Each has the SQL of both
// dialects side by side, so that a change to one is seen to need the other.
// Migrations are append-only: never edit one that has shipped, add the next.
//
// Column types differ only where the dialects do: times are TIMESTAMPTZ on
// PostgreSQL and integer microseconds (declared TIMESTAMP, decoded by the
// driver) on SQLite; lists and audit JSON are JSONB on PostgreSQL and JSON
// text on SQLite.
type migration struct {
	version  int
	name     string
	sqlite   string
	postgres string
}

var migrations = []migration{
	{
		version: 1,
		name:    "tenancy, ledger, webhooks, audit",
		sqlite: `
CREATE TABLE projects (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL,
	rpm               INTEGER NOT NULL DEFAULT 0,
	tpm               INTEGER NOT NULL DEFAULT 0,
	budget_usd        REAL NOT NULL DEFAULT 0,
	budget_period     TEXT NOT NULL DEFAULT 'month',
	models            TEXT NOT NULL DEFAULT '[]',
	default_model     TEXT NOT NULL DEFAULT '',
	cache_namespace   TEXT NOT NULL DEFAULT '',
	skills            BOOLEAN,
	strip_boilerplate BOOLEAN,
	static            BOOLEAN NOT NULL DEFAULT FALSE,
	created_at        TIMESTAMP NOT NULL,
	updated_at        TIMESTAMP NOT NULL
);
CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	project_id   TEXT NOT NULL,
	name         TEXT NOT NULL DEFAULT '',
	prefix       TEXT NOT NULL,
	hash         BLOB NOT NULL UNIQUE,
	created_at   TIMESTAMP NOT NULL,
	expires_at   TIMESTAMP,
	revoked_at   TIMESTAMP,
	last_used_at TIMESTAMP
);
CREATE INDEX api_keys_project ON api_keys (project_id, created_at);
CREATE TABLE config_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
CREATE TABLE config_changes (
	version INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	PRIMARY KEY (version, kind, id)
);
CREATE TABLE usage_ledger (
	id                          TEXT PRIMARY KEY,
	ts                          TIMESTAMP NOT NULL,
	project_id                  TEXT NOT NULL,
	key_id                      TEXT NOT NULL,
	endpoint                    TEXT NOT NULL,
	requested_model             TEXT NOT NULL,
	served_model                TEXT NOT NULL,
	provider                    TEXT NOT NULL,
	status                      INTEGER NOT NULL,
	error_code                  TEXT NOT NULL,
	prompt_tokens               INTEGER NOT NULL,
	cached_tokens               INTEGER NOT NULL,
	cache_write_tokens          INTEGER NOT NULL,
	completion_tokens           INTEGER NOT NULL,
	cost_usd                    REAL NOT NULL,
	saved_response_cache        REAL NOT NULL,
	saved_provider_prompt_cache REAL NOT NULL,
	saved_ide_boilerplate       REAL NOT NULL,
	saved_file_dedup            REAL NOT NULL,
	saved_routing               REAL NOT NULL,
	latency_ms                  REAL NOT NULL,
	upstream_ms                 REAL NOT NULL,
	cache                       TEXT NOT NULL,
	route_reason                TEXT NOT NULL,
	stream                      BOOLEAN NOT NULL
);
CREATE INDEX usage_ledger_ts ON usage_ledger (ts, id);
CREATE INDEX usage_ledger_project_ts ON usage_ledger (project_id, ts, id);
CREATE TABLE usage_daily (
	project_id TEXT NOT NULL,
	day        TIMESTAMP NOT NULL,
	requests   INTEGER NOT NULL,
	cost_usd   REAL NOT NULL,
	PRIMARY KEY (project_id, day)
);
CREATE TABLE budget_marks (
	project_id   TEXT NOT NULL,
	period_start TIMESTAMP NOT NULL,
	threshold    INTEGER NOT NULL,
	fired_at     TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, period_start, threshold)
);
CREATE TABLE webhooks (
	id         TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	secret     TEXT NOT NULL,
	events     TEXT NOT NULL DEFAULT '[]',
	project_id TEXT NOT NULL DEFAULT '',
	disabled   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at TIMESTAMP NOT NULL,
	updated_at TIMESTAMP NOT NULL
);
CREATE TABLE webhook_deliveries (
	id            TEXT PRIMARY KEY,
	webhook_id    TEXT NOT NULL,
	event         TEXT NOT NULL,
	payload       BLOB NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	created_at    TIMESTAMP NOT NULL,
	next_attempt  TIMESTAMP NOT NULL,
	claimed_until TIMESTAMP,
	delivered_at  TIMESTAMP,
	failed_at     TIMESTAMP,
	last_error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt)
	WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
CREATE TABLE audit_log (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	ts          TIMESTAMP NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	target      TEXT NOT NULL,
	before_json TEXT,
	after_json  TEXT
);
CREATE INDEX audit_log_ts ON audit_log (ts, id);
`,
		postgres: `
CREATE TABLE projects (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL,
	rpm               BIGINT NOT NULL DEFAULT 0,
	tpm               BIGINT NOT NULL DEFAULT 0,
	budget_usd        DOUBLE PRECISION NOT NULL DEFAULT 0,
	budget_period     TEXT NOT NULL DEFAULT 'month',
	models            JSONB NOT NULL DEFAULT '[]',
	default_model     TEXT NOT NULL DEFAULT '',
	cache_namespace   TEXT NOT NULL DEFAULT '',
	skills            BOOLEAN,
	strip_boilerplate BOOLEAN,
	static            BOOLEAN NOT NULL DEFAULT FALSE,
	created_at        TIMESTAMPTZ NOT NULL,
	updated_at        TIMESTAMPTZ NOT NULL
);
CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	project_id   TEXT NOT NULL,
	name         TEXT NOT NULL DEFAULT '',
	prefix       TEXT NOT NULL,
	hash         BYTEA NOT NULL UNIQUE,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ,
	revoked_at   TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ
);
CREATE INDEX api_keys_project ON api_keys (project_id, created_at);
CREATE TABLE config_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
CREATE TABLE config_changes (
	version BIGINT NOT NULL,
	kind    TEXT NOT NULL,
	id      TEXT NOT NULL,
	PRIMARY KEY (version, kind, id)
);
CREATE TABLE usage_ledger (
	id                          TEXT PRIMARY KEY,
	ts                          TIMESTAMPTZ NOT NULL,
	project_id                  TEXT NOT NULL,
	key_id                      TEXT NOT NULL,
	endpoint                    TEXT NOT NULL,
	requested_model             TEXT NOT NULL,
	served_model                TEXT NOT NULL,
	provider                    TEXT NOT NULL,
	status                      INTEGER NOT NULL,
	error_code                  TEXT NOT NULL,
	prompt_tokens               BIGINT NOT NULL,
	cached_tokens               BIGINT NOT NULL,
	cache_write_tokens          BIGINT NOT NULL,
	completion_tokens           BIGINT NOT NULL,
	cost_usd                    DOUBLE PRECISION NOT NULL,
	saved_response_cache        DOUBLE PRECISION NOT NULL,
	saved_provider_prompt_cache DOUBLE PRECISION NOT NULL,
	saved_ide_boilerplate       DOUBLE PRECISION NOT NULL,
	saved_file_dedup            DOUBLE PRECISION NOT NULL,
	saved_routing               DOUBLE PRECISION NOT NULL,
	latency_ms                  DOUBLE PRECISION NOT NULL,
	upstream_ms                 DOUBLE PRECISION NOT NULL,
	cache                       TEXT NOT NULL,
	route_reason                TEXT NOT NULL,
	stream                      BOOLEAN NOT NULL
);
CREATE INDEX usage_ledger_ts ON usage_ledger (ts, id);
CREATE INDEX usage_ledger_project_ts ON usage_ledger (project_id, ts, id);
CREATE TABLE usage_daily (
	project_id TEXT NOT NULL,
	day        TIMESTAMPTZ NOT NULL,
	requests   BIGINT NOT NULL,
	cost_usd   DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (project_id, day)
);
CREATE TABLE budget_marks (
	project_id   TEXT NOT NULL,
	period_start TIMESTAMPTZ NOT NULL,
	threshold    INTEGER NOT NULL,
	fired_at     TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (project_id, period_start, threshold)
);
CREATE TABLE webhooks (
	id         TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	secret     TEXT NOT NULL,
	events     JSONB NOT NULL DEFAULT '[]',
	project_id TEXT NOT NULL DEFAULT '',
	disabled   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE webhook_deliveries (
	id            TEXT PRIMARY KEY,
	webhook_id    TEXT NOT NULL,
	event         TEXT NOT NULL,
	payload       BYTEA NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	created_at    TIMESTAMPTZ NOT NULL,
	next_attempt  TIMESTAMPTZ NOT NULL,
	claimed_until TIMESTAMPTZ,
	delivered_at  TIMESTAMPTZ,
	failed_at     TIMESTAMPTZ,
	last_error    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt)
	WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
CREATE TABLE audit_log (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ts          TIMESTAMPTZ NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	target      TEXT NOT NULL,
	before_json JSONB,
	after_json  JSONB
);
CREATE INDEX audit_log_ts ON audit_log (ts, id);
`,
	},
	{
		version: 2,
		name:    "admin sessions",
		sqlite: `
CREATE TABLE admin_sessions (
	token_hash TEXT PRIMARY KEY,
	actor      TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
`,
		postgres: `
CREATE TABLE admin_sessions (
	token_hash TEXT PRIMARY KEY,
	actor      TEXT NOT NULL,
	csrf       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
`,
	},
	{
		version: 3,
		name:    "stored responses",
		sqlite: `
CREATE TABLE responses (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL,
	created_at  TIMESTAMP NOT NULL,
	response    BLOB NOT NULL,
	input_items BLOB NOT NULL
);
CREATE INDEX responses_created ON responses (created_at);
`,
		postgres: `
CREATE TABLE responses (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL,
	response    BYTEA NOT NULL,
	input_items BYTEA NOT NULL
);
CREATE INDEX responses_created ON responses (created_at);
`,
	},
	{
		version: 4,
		name:    "batch files and batches",
		sqlite: `
CREATE TABLE files (
	id         TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	filename   TEXT NOT NULL,
	bytes      INTEGER NOT NULL,
	created_at TIMESTAMP NOT NULL,
	content    BLOB NOT NULL
);
CREATE INDEX files_project ON files (project_id, created_at);
CREATE INDEX files_created ON files (created_at);
CREATE TABLE batches (
	id                TEXT PRIMARY KEY,
	project_id        TEXT NOT NULL,
	key_id            TEXT NOT NULL,
	endpoint          TEXT NOT NULL,
	input_file_id     TEXT NOT NULL,
	completion_window TEXT NOT NULL,
	status            TEXT NOT NULL,
	output_file_id    TEXT NOT NULL DEFAULT '',
	error_file_id     TEXT NOT NULL DEFAULT '',
	metadata          BLOB,
	errors            BLOB,
	total             INTEGER NOT NULL DEFAULT 0,
	completed         INTEGER NOT NULL DEFAULT 0,
	failed            INTEGER NOT NULL DEFAULT 0,
	created_at        TIMESTAMP NOT NULL,
	expires_at        TIMESTAMP NOT NULL,
	in_progress_at    TIMESTAMP,
	finalizing_at     TIMESTAMP,
	completed_at      TIMESTAMP,
	failed_at         TIMESTAMP,
	expired_at        TIMESTAMP,
	cancelling_at     TIMESTAMP,
	cancelled_at      TIMESTAMP,
	owner             TEXT NOT NULL DEFAULT '',
	lease_until       TIMESTAMP
);
CREATE INDEX batches_project ON batches (project_id, created_at, id);
CREATE INDEX batches_status ON batches (status);
CREATE TABLE batch_items (
	batch_id  TEXT NOT NULL,
	line      INTEGER NOT NULL,
	custom_id TEXT NOT NULL,
	body      BLOB NOT NULL,
	state     TEXT NOT NULL,
	result    BLOB,
	PRIMARY KEY (batch_id, line)
);
CREATE INDEX batch_items_state ON batch_items (batch_id, state, line);
`,
		postgres: `
CREATE TABLE files (
	id         TEXT PRIMARY KEY,
	project_id TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	filename   TEXT NOT NULL,
	bytes      BIGINT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	content    BYTEA NOT NULL
);
CREATE INDEX files_project ON files (project_id, created_at);
CREATE INDEX files_created ON files (created_at);
CREATE TABLE batches (
	id                TEXT PRIMARY KEY,
	project_id        TEXT NOT NULL,
	key_id            TEXT NOT NULL,
	endpoint          TEXT NOT NULL,
	input_file_id     TEXT NOT NULL,
	completion_window TEXT NOT NULL,
	status            TEXT NOT NULL,
	output_file_id    TEXT NOT NULL DEFAULT '',
	error_file_id     TEXT NOT NULL DEFAULT '',
	metadata          BYTEA,
	errors            BYTEA,
	total             BIGINT NOT NULL DEFAULT 0,
	completed         BIGINT NOT NULL DEFAULT 0,
	failed            BIGINT NOT NULL DEFAULT 0,
	created_at        TIMESTAMPTZ NOT NULL,
	expires_at        TIMESTAMPTZ NOT NULL,
	in_progress_at    TIMESTAMPTZ,
	finalizing_at     TIMESTAMPTZ,
	completed_at      TIMESTAMPTZ,
	failed_at         TIMESTAMPTZ,
	expired_at        TIMESTAMPTZ,
	cancelling_at     TIMESTAMPTZ,
	cancelled_at      TIMESTAMPTZ,
	owner             TEXT NOT NULL DEFAULT '',
	lease_until       TIMESTAMPTZ
);
CREATE INDEX batches_project ON batches (project_id, created_at, id);
CREATE INDEX batches_status ON batches (status);
CREATE TABLE batch_items (
	batch_id  TEXT NOT NULL,
	line      INTEGER NOT NULL,
	custom_id TEXT NOT NULL,
	body      BYTEA NOT NULL,
	state     TEXT NOT NULL,
	result    BYTEA,
	PRIMARY KEY (batch_id, line)
);
CREATE INDEX batch_items_state ON batch_items (batch_id, state, line);
`,
	},
	{
		version: 5,
		name:    "usage ledger keyed by (ts, id)",
		// Two B-trees per ledger row instead of four: the table itself is
		// ordered by (ts, id), which serves every time-range scan, the
		// newest-first pages, pruning and replay idempotence (a replayed row
		// carries its original ts and id), and one index serves the
		// per-project reads. The rowid, the id index and the separate (ts, id)
		// index are gone. SQLite cannot change a primary key in place: the
		// table is copied (inside the migration's transaction).
		sqlite: `
CREATE TABLE usage_ledger_v5 (
	id                          TEXT NOT NULL,
	ts                          TIMESTAMP NOT NULL,
	project_id                  TEXT NOT NULL,
	key_id                      TEXT NOT NULL,
	endpoint                    TEXT NOT NULL,
	requested_model             TEXT NOT NULL,
	served_model                TEXT NOT NULL,
	provider                    TEXT NOT NULL,
	status                      INTEGER NOT NULL,
	error_code                  TEXT NOT NULL,
	prompt_tokens               INTEGER NOT NULL,
	cached_tokens               INTEGER NOT NULL,
	cache_write_tokens          INTEGER NOT NULL,
	completion_tokens           INTEGER NOT NULL,
	cost_usd                    REAL NOT NULL,
	saved_response_cache        REAL NOT NULL,
	saved_provider_prompt_cache REAL NOT NULL,
	saved_ide_boilerplate       REAL NOT NULL,
	saved_file_dedup            REAL NOT NULL,
	saved_routing               REAL NOT NULL,
	latency_ms                  REAL NOT NULL,
	upstream_ms                 REAL NOT NULL,
	cache                       TEXT NOT NULL,
	route_reason                TEXT NOT NULL,
	stream                      BOOLEAN NOT NULL,
	PRIMARY KEY (ts, id)
) WITHOUT ROWID;
INSERT INTO usage_ledger_v5 (` + usageColumnsV5 + `) SELECT ` + usageColumnsV5 + ` FROM usage_ledger;
DROP TABLE usage_ledger;
ALTER TABLE usage_ledger_v5 RENAME TO usage_ledger;
CREATE INDEX usage_ledger_project_ts ON usage_ledger (project_id, ts, id);
`,
		// PostgreSQL keeps its heap; the primary key moves to (ts, id) and
		// the (ts, id) index it replaces goes: three structures per row
		// instead of four.
		postgres: `
DROP INDEX usage_ledger_ts;
ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_pkey, ADD CONSTRAINT usage_ledger_pkey PRIMARY KEY (ts, id);
`,
	},
	{
		version: 6,
		name:    "ledger: the cost of the routing's extra calls",
		// What a request paid for calls that did not produce its answer:
		// the phase-2 classifier's call, and a cascade's rejected cheap
		// attempt (both already in cost_usd). Rows written before are 0.
		sqlite: `
ALTER TABLE usage_ledger ADD COLUMN classifier_cost_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE usage_ledger ADD COLUMN cascade_extra_cost_usd REAL NOT NULL DEFAULT 0;
`,
		postgres: `
ALTER TABLE usage_ledger ADD COLUMN classifier_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
	ADD COLUMN cascade_extra_cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
`,
	},
	{
		version: 7,
		name:    "stored responses: the upstream that holds the state",
		// '' is the gateway (a translated response); a provider's name is
		// a response passed through to an upstream that stores it too
		// (OpenAI), whose previous_response_id can then be forwarded.
		sqlite:   `ALTER TABLE responses ADD COLUMN upstream TEXT NOT NULL DEFAULT '';`,
		postgres: `ALTER TABLE responses ADD COLUMN upstream TEXT NOT NULL DEFAULT '';`,
	},
	{
		version: 8,
		name:    "SQLite ledger in chunks",
		// One row per group commit instead of one per request
		// (usagechunk.go). The rows usage_ledger holds are moved into
		// chunks when the store opens (moveLegacyRows); the table stays,
		// empty. PostgreSQL keeps a row per request.
		sqlite: `
CREATE TABLE usage_chunks (
	seq    INTEGER PRIMARY KEY,
	ts_min INTEGER NOT NULL,
	ts_max INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	data   BLOB NOT NULL
);
CREATE INDEX usage_chunks_ts_max ON usage_chunks (ts_max);
`,
	},
	{
		version: 9,
		name:    "stored responses as deltas along previous_response_id",
		// prev_id '' is a full copy (every row written before); otherwise
		// input_items holds only the items added after prev_id's
		// conversation. depth is the hops to the full copy, base_bytes its
		// size (responses.go, checkpointHops). The partial index finds the
		// responses chained on one being deleted or pruned.
		sqlite: `
ALTER TABLE responses ADD COLUMN prev_id TEXT NOT NULL DEFAULT '';
ALTER TABLE responses ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN base_bytes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX responses_prev ON responses (prev_id) WHERE prev_id <> '';
`,
		postgres: `
ALTER TABLE responses ADD COLUMN prev_id TEXT NOT NULL DEFAULT '',
	ADD COLUMN depth INTEGER NOT NULL DEFAULT 0,
	ADD COLUMN base_bytes BIGINT NOT NULL DEFAULT 0;
CREATE INDEX responses_prev ON responses (prev_id) WHERE prev_id <> '';
`,
	},
}
