package store

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// Budget periods of a project. Periods are calendar periods in UTC.
const (
	PeriodDay   = "day"
	PeriodMonth = "month"
)

// Project is a tenant: its limits, budget, model allow-list and policy
// overrides. The JSON names are those of the admin API.
type Project struct {
	// ID is "proj_" and 22 base62 characters when generated; static
	// projects keep the id of gateway.toml.
	ID   string `json:"id"`
	Name string `json:"name"`
	// RPM and TPM are the project's requests and tokens per minute; 0
	// means no project limit.
	RPM int64 `json:"rpm"`
	TPM int64 `json:"tpm"`
	// BudgetUSD is the spend allowed per BudgetPeriod; 0 means no budget.
	BudgetUSD float64 `json:"budget_usd"`
	// BudgetPeriod is PeriodDay or PeriodMonth; it defaults to PeriodMonth.
	BudgetPeriod string `json:"budget_period"`
	// Models is the allow-list: model names or tier names. Empty allows
	// every model.
	Models []string `json:"models"`
	// DefaultModel replaces a request's model when the request names none
	// (or names "auto" and routing is off); empty means no default.
	DefaultModel string `json:"default_model"`
	// CacheNamespace partitions the response cache; projects share cache
	// entries only when they share a namespace. Defaults to the ID.
	CacheNamespace string `json:"cache_namespace"`
	// Skills and StripBoilerplate override the gateway's policy switches
	// for this project; nil inherits the gateway's setting.
	Skills           *bool `json:"skills"`
	StripBoilerplate *bool `json:"strip_boilerplate"`
	// Static marks a project from gateway.toml: read-only through the API.
	Static    bool      `json:"static"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PeriodStart is the start of the budget period that contains now (UTC
// midnight, or the first of the month).
func (p *Project) PeriodStart(now time.Time) time.Time {
	now = now.UTC()
	if p.BudgetPeriod == PeriodDay {
		return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	}
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Field is one optional field of a patch: Set reports whether the caller
// set it; an unset field keeps the stored value. Decoding JSON sets it when
// the member is present, null included (null sets the zero value, which for
// a *bool override means "inherit").
type Field[T any] struct {
	Value T
	Set   bool
}

// SetTo returns a Field set to v.
func SetTo[T any](v T) Field[T] { return Field[T]{Value: v, Set: true} }

// UnmarshalJSON implements json.Unmarshaler.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	var zero T
	f.Value = zero
	return json.Unmarshal(b, &f.Value)
}

// ProjectPatch is a partial update of a project (PATCH semantics). The ID,
// Static and the times cannot be patched.
type ProjectPatch struct {
	Name             Field[string]   `json:"name"`
	RPM              Field[int64]    `json:"rpm"`
	TPM              Field[int64]    `json:"tpm"`
	BudgetUSD        Field[float64]  `json:"budget_usd"`
	BudgetPeriod     Field[string]   `json:"budget_period"`
	Models           Field[[]string] `json:"models"`
	DefaultModel     Field[string]   `json:"default_model"`
	CacheNamespace   Field[string]   `json:"cache_namespace"`
	Skills           Field[*bool]    `json:"skills"`
	StripBoilerplate Field[*bool]    `json:"strip_boilerplate"`
}

// Key is a virtual API key of a project. The secret itself is never
// stored: only its SHA-256 (Hash) and a short Prefix to recognise it by.
type Key struct {
	// ID is "key_" and 22 base62 characters.
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	// Prefix is the first 12 characters of the secret ("sk-gw-" and six
	// more), for display.
	Prefix string `json:"prefix"`
	// Hash is HashKey(secret).
	Hash      [32]byte  `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, RevokedAt and LastUsedAt are zero when unset.
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Usable reports whether the key authenticates at now: neither revoked nor
// expired.
func (k *Key) Usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// NewKey asks for a key.
type NewKey struct {
	ProjectID string
	Name      string
	// ExpiresAt is optional; when set it must be in the future.
	ExpiresAt time.Time
}

// CreatedKey is a new key with its secret, which exists only here: show it
// to the user once.
type CreatedKey struct {
	Key
	// Secret is "sk-gw-" and 43 base62 characters (256 random bits).
	Secret string `json:"key"`
}

// Changes is what ChangesSince found.
type Changes struct {
	// Version is the version the changes bring the caller to: pass it to
	// the next call.
	Version int64
	// Reset asks the caller to reload every project and key.
	Reset bool
	// Projects and Keys are the ids changed (created, updated, deleted,
	// revoked) after the caller's version; each id appears once.
	Projects []string
	Keys     []string
}

// Endpoints of a usage row.
const (
	EndpointChat        = "chat"
	EndpointCompletions = "completions" // the legacy Completions API
	EndpointMessages    = "messages"
	EndpointEmbeddings  = "embeddings"
	EndpointResponses   = "responses"
	EndpointBatch       = "batch"
)

// Savings is the estimated cost avoided by each technique, in USD.
type Savings struct {
	ResponseCache       float64 `json:"response_cache"`
	ProviderPromptCache float64 `json:"provider_prompt_cache"`
	IDEBoilerplate      float64 `json:"ide_boilerplate"`
	FileDedup           float64 `json:"file_dedup"`
	Routing             float64 `json:"routing"`
}

// Total is the sum of every technique's savings.
func (s Savings) Total() float64 {
	return s.ResponseCache + s.ProviderPromptCache + s.IDEBoilerplate + s.FileDedup + s.Routing
}

// UsageRow is one request in the ledger.
type UsageRow struct {
	// ID is the request id (X-Request-Id); it is the row's identity, so a
	// replayed row is stored once.
	ID string `json:"id"`
	// Time is when the request arrived; required.
	Time      time.Time `json:"time"`
	ProjectID string    `json:"project_id"`
	KeyID     string    `json:"key_id"`
	// Endpoint is one of the Endpoint constants.
	Endpoint       string `json:"endpoint"`
	RequestedModel string `json:"requested_model"`
	ServedModel    string `json:"served_model"`
	Provider       string `json:"provider"`
	// Status is the HTTP status sent to the client; ErrorCode the error
	// envelope's code, if any.
	Status           int     `json:"status"`
	ErrorCode        string  `json:"error_code"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	Savings          Savings `json:"savings"`
	// LatencyMS is the whole request as the gateway saw it, UpstreamMS the
	// upstream's part; milliseconds with sub-millisecond precision.
	LatencyMS  float64 `json:"latency_ms"`
	UpstreamMS float64 `json:"upstream_ms"`
	// Cache is the X-Gateway-Cache value: hit-memory, hit-redis, miss, bypass…
	Cache       string `json:"cache"`
	RouteReason string `json:"route_reason"`
	Stream      bool   `json:"stream"`
	// ClassifierCostUSD and CascadeExtraCostUSD are the parts of CostUSD
	// spent on calls that did not produce the answer: the phase-2
	// classifier's call, and a cascade's rejected cheap attempt.
	ClassifierCostUSD   float64 `json:"classifier_cost_usd"`
	CascadeExtraCostUSD float64 `json:"cascade_extra_cost_usd"`
}

// Group-by dimensions of UsageQuery.
const (
	GroupNone     = ""
	GroupDay      = "day"      // UTC date, "2006-01-02"
	GroupProject  = "project"  // project id
	GroupModel    = "model"    // served model, or the requested one when none was served
	GroupKey      = "key"      // key id
	GroupProvider = "provider" // provider name
	GroupEndpoint = "endpoint" // endpoint
	GroupCache    = "cache"    // X-Gateway-Cache value (hit-memory, miss, bypass…; empty when not cacheable)
)

// LatencyBounds are the upper bounds, in milliseconds, of the latency
// histogram of a SeriesPoint: bucket i counts latencies in
// (LatencyBounds[i-1], LatencyBounds[i]], and one last bucket those above
// the last bound.
var LatencyBounds = [...]float64{5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// SeriesQuery selects ledger rows for UsageSeries.
type SeriesQuery struct {
	// From and To bound Time to [From, To); both required.
	From, To time.Time
	// Step is the width of a bucket: whole seconds, at least one, and at
	// most 10,000 buckets in [From, To).
	Step time.Duration
	// Project restricts to one project when set.
	Project string
	// Provider restricts to one provider when set.
	Provider string
}

// SeriesPoint is one time bucket of a usage series.
type SeriesPoint struct {
	// Start is the bucket's start: a multiple of the step since the Unix
	// epoch (so buckets line up across queries), in UTC.
	Start time.Time `json:"start"`
	// UsageGroup holds the bucket's sums; its Key is empty.
	UsageGroup
	// Latency is the histogram of LatencyMS over LatencyBounds (one more
	// bucket than bounds).
	Latency [len(LatencyBounds) + 1]int64 `json:"latency_histogram"`
}

// LatencyQuantile is the q-quantile (0 < q <= 1) of a latency histogram
// shaped like SeriesPoint.Latency, as the upper bound of the bucket that
// holds it (the last bound when it lies above every bound); 0 for an empty
// histogram. Its resolution is that of LatencyBounds.
func LatencyQuantile(h []int64, q float64) float64 {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h {
		seen += c
		if seen >= rank && i < len(LatencyBounds) {
			return LatencyBounds[i]
		}
	}
	return LatencyBounds[len(LatencyBounds)-1]
}

// UsageQuery selects and groups ledger rows for UsageSummary.
type UsageQuery struct {
	// From and To bound Time to [From, To); zero means unbounded.
	From, To time.Time
	// GroupBy is one of the Group constants. GroupNone returns one row
	// (zeros when nothing matched); the others one row per value, sorted
	// by it.
	GroupBy string
	// Project restricts to one project when set.
	Project string
}

// UsageGroup is one row of a usage summary.
type UsageGroup struct {
	// Key is the group's value (a date, project id, model…); empty for
	// GroupNone.
	Key string `json:"key"`
	// Requests counts rows; Errors those with Status >= 400.
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	Savings          Savings `json:"savings"`
}

// RequestQuery selects a page of ledger rows for Requests. Empty fields do
// not filter.
type RequestQuery struct {
	Project string
	Key     string
	// Model matches the served or the requested model.
	Model string
	// Cache matches the Cache column: "hit" matches every hit-… tier,
	// anything else exactly.
	Cache string
	// Routed keeps only the rows with a route reason (the router chose
	// their model).
	Routed bool
	// StatusMin and StatusMax bound Status inclusively; 0 means unbounded.
	// ParseStatus turns "429" or "4xx" into a range.
	StatusMin, StatusMax int
	// From and To bound Time to [From, To).
	From, To time.Time
	// Cursor is the Next of the previous page; empty for the first page.
	Cursor string
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
}

// RequestPage is a page of ledger rows, newest first.
type RequestPage struct {
	Rows []UsageRow `json:"data"`
	// Next is the cursor of the following page; empty on the last page.
	Next string `json:"next_cursor,omitempty"`
}

// Webhook is an endpoint that receives events.
type Webhook struct {
	// ID is "wh_" and 22 base62 characters when generated.
	ID  string `json:"id"`
	URL string `json:"url"`
	// Secret signs the payloads; generated ("whsec_" and 43 base62
	// characters) when empty. Keep it out of listings.
	Secret string `json:"secret"`
	// Events are the event names it wants ("budget.threshold", …); "*"
	// means all. Empty means all too.
	Events []string `json:"events"`
	// ProjectID restricts it to one project's events; empty means global.
	ProjectID string    `json:"project_id"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Wants reports whether the endpoint subscribes to an event of a project
// (projectID empty for an event about no project). Disabled endpoints want
// nothing.
func (w *Webhook) Wants(event, projectID string) bool {
	if w.Disabled || (w.ProjectID != "" && w.ProjectID != projectID) {
		return false
	}
	return len(w.Events) == 0 || slices.Contains(w.Events, "*") || slices.Contains(w.Events, event)
}

// WebhookPatch is a partial update of a webhook endpoint.
type WebhookPatch struct {
	URL      Field[string]   `json:"url"`
	Secret   Field[string]   `json:"secret"`
	Events   Field[[]string] `json:"events"`
	Disabled Field[bool]     `json:"disabled"`
}

// Delivery is one event queued for one endpoint.
type Delivery struct {
	// ID is "dlv_" and 22 base62 characters.
	ID        string    `json:"id"`
	WebhookID string    `json:"webhook_id"`
	Event     string    `json:"event"`
	Payload   []byte    `json:"payload"`
	CreatedAt time.Time `json:"created_at"`
	// Attempts counts the claims so far, the current one included.
	Attempts int `json:"attempts"`
	// NextAttempt is when it is (or was) due.
	NextAttempt time.Time `json:"next_attempt"`
	// ClaimedUntil is the end of the current lease; zero when unclaimed.
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	// DeliveredAt is set once delivered, FailedAt once given up.
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	FailedAt    time.Time `json:"failed_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// AuditEntry is one administrative action.
type AuditEntry struct {
	// ID is assigned by the store, increasing.
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// Actor names who acted (the admin key's name).
	Actor string `json:"actor"`
	// Action is a dotted verb: project.create, key.revoke, policy.put,
	// cache.purge, reload…
	Action string `json:"action"`
	// Target is the object acted on (an id or a name), if any.
	Target string `json:"target"`
	// Before and After are the object's JSON before and after, if any;
	// they must be valid JSON (PostgreSQL stores them as jsonb, so key
	// order and spacing may change).
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// AuditQuery selects a page of the audit log. Empty fields do not filter.
type AuditQuery struct {
	From, To time.Time
	// Action matches exactly, or as a prefix when it ends with "." or "*"
	// ("project." matches project.create and project.delete).
	Action string
	Target string
	Cursor string
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
}

// AuditPage is a page of audit entries, newest first.
type AuditPage struct {
	Entries []AuditEntry `json:"data"`
	Next    string       `json:"next_cursor,omitempty"`
}

// Session is an admin dashboard login. Only the SHA-256 of its token is
// stored (hex), like keys, so that a copy of the database opens no
// session.
type Session struct {
	TokenHash string
	// Actor names the admin key that logged in.
	Actor string
	// CSRF is the token the dashboard must echo in a header on every
	// state-changing request made with the session's cookie.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}
