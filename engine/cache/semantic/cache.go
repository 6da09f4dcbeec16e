package semantic

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/internal/backoff"
	"github.com/aigateway/gateway/providers"
)

// Config configures a Cache. Zero values take the defaults below.
//
// # Notes
//
// A Config is copied by New; the Cache never changes it.
type Config struct {
	// Embedder turns final turns into vectors (default NewLocal(0)).
	Embedder Embedder
	// Threshold is the lowest cosine similarity that may match (default
	// 0.95, in (0, 1]). It is calibrated for the local embedder; a model's
	// embeddings need their own calibration (docs/semantic-cache.md).
	Threshold float64
	// MaxTurnChars is the longest final user turn, in characters, that is
	// matched or stored (default 500, at most 4096: a long turn that differs
	// in one word is still 99% similar).
	MaxTurnChars int
	// MaxWordDiff is how many content words may appear in one final turn
	// and not the other (default 0: the turns may differ only in case,
	// punctuation, whitespace, contractions, politeness, articles and
	// be/do; negative turns the word guard off). See GuardWords.
	MaxWordDiff int
	// MaxEntriesPerScope (default 1024), MaxEntries (default 16384) and
	// MaxBytes (default 64 MiB, vectors and answers included) bound the
	// in-process index; the least recently used records are evicted.
	MaxEntriesPerScope int
	MaxEntries         int
	MaxBytes           int64
	// MaxEntryBytes is the largest answer stored (default 256 KiB).
	MaxEntryBytes int
	// TTL is how long a record lives (default 1h).
	TTL time.Duration
	// StoreToolCalls stores answers that call tools (default false: a
	// similar turn never makes an agent run a tool it was not asked to).
	StoreToolCalls bool
	// RedisURL enables persistence ("redis://host:6379/0").
	RedisURL string
	// Timeout bounds each Redis round trip (default 50ms).
	Timeout time.Duration
	// RedisBackoff (default 1s) and RedisMaxBackoff (default 30s): how long
	// Redis is skipped after failures.
	RedisBackoff, RedisMaxBackoff time.Duration
	// RedisQueue bounds Redis writes waiting (default 1024).
	RedisQueue int
	// RefreshInterval is how often a scope is loaded from Redis again on a
	// local miss, for records other replicas stored (default 5s).
	RefreshInterval time.Duration
	// CompressBytes: answers from this size are S2-compressed in Redis
	// (default 1024; negative: never).
	CompressBytes int
	// EmbedTimeout bounds a call to a remote embedder (default 1s); after
	// a failure the embedder is skipped with the Redis back-off rule.
	EmbedTimeout time.Duration
	// EmbedQueue bounds stores waiting for a remote embedder (default 256).
	EmbedQueue int
}

// Defaults for a zero Config.
const (
	DefaultThreshold          = 0.95
	DefaultMaxTurnChars       = 500
	DefaultMaxEntriesPerScope = 1024
	DefaultMaxEntries         = 16384
	DefaultMaxBytes           = 64 << 20
	DefaultMaxEntryBytes      = 256 << 10
	DefaultTTL                = time.Hour
	DefaultTimeout            = 50 * time.Millisecond
	DefaultRedisBackoff       = time.Second
	DefaultRedisMaxBackoff    = 30 * time.Second
	DefaultRedisQueue         = 1024
	DefaultRefreshInterval    = 5 * time.Second
	DefaultCompressBytes      = 1024
	DefaultEmbedTimeout       = time.Second
	DefaultEmbedQueue         = 256
	maxTurnChars              = 4096
)

// Cache is the semantic response cache: answers to short final user turns,
// matched by embedding similarity and the guards, within a scope that fixes
// everything else about the request.
//
// # Notes
//
// A Cache is safe for concurrent use. Lookups read a scope's records
// without a lock; stores and evictions take one. Redis and a remote
// embedder are never waited on for longer than their timeouts, and are
// skipped for a back-off period after a failure: no request fails because
// of them.
type Cache struct {
	cfg    Config
	emb    Embedder
	local  *Local // the embedder, when it is the built-in one
	seed   [32]byte
	idx    *index
	rem    *remote
	embBo  backoff.Backoff
	ctr    counters
	memo   vecMemo
	closed atomic.Bool
	now    func() time.Time // time.Now; tests move it

	// Stores waiting for a remote embedder (nil channels with the local one).
	embedQueue   chan storeJob
	embedPending atomic.Int64
	embedStop    chan struct{}
	embedWG      sync.WaitGroup
}

// New validates cfg and builds the cache. Redis is not contacted here.
func New(cfg Config) (*Cache, error) {
	if cfg.Embedder == nil {
		cfg.Embedder = NewLocal(0)
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if !(cfg.Threshold > 0 && cfg.Threshold <= 1) {
		return nil, fmt.Errorf("semantic threshold: %v is not in (0, 1]", cfg.Threshold)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxTurnChars, DefaultMaxTurnChars)
	if cfg.MaxTurnChars > maxTurnChars {
		return nil, fmt.Errorf("semantic max_turn_chars: %d is above %d", cfg.MaxTurnChars, maxTurnChars)
	}
	def(&cfg.MaxEntriesPerScope, DefaultMaxEntriesPerScope)
	def(&cfg.MaxEntries, DefaultMaxEntries)
	def(&cfg.MaxEntryBytes, DefaultMaxEntryBytes)
	def(&cfg.RedisQueue, DefaultRedisQueue)
	def(&cfg.EmbedQueue, DefaultEmbedQueue)
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.CompressBytes == 0 {
		cfg.CompressBytes = DefaultCompressBytes
	}
	defDur(&cfg.TTL, DefaultTTL)
	defDur(&cfg.Timeout, DefaultTimeout)
	defDur(&cfg.RedisBackoff, DefaultRedisBackoff)
	defDur(&cfg.RefreshInterval, DefaultRefreshInterval)
	defDur(&cfg.EmbedTimeout, DefaultEmbedTimeout)
	if cfg.RedisMaxBackoff < cfg.RedisBackoff {
		cfg.RedisMaxBackoff = max(DefaultRedisMaxBackoff, cfg.RedisBackoff)
	}
	c := &Cache{cfg: cfg, emb: cfg.Embedder, idx: newIndex(cfg.MaxEntriesPerScope, cfg.MaxEntries, cfg.MaxBytes),
		embBo: backoff.Backoff{Min: cfg.RedisBackoff, Max: cfg.RedisMaxBackoff}, now: time.Now}
	c.local, _ = cfg.Embedder.(*Local)
	id := fmt.Sprintf("%T", cfg.Embedder)
	if n, ok := cfg.Embedder.(identified); ok {
		id = n.ID()
	}
	c.seed = scopeSeed(id)
	c.memo.m = make(map[[16]byte][]float32, memoSize)
	if c.local == nil {
		c.embedQueue, c.embedStop = make(chan storeJob, cfg.EmbedQueue), make(chan struct{})
		c.embedWG.Add(1)
		go c.embedder()
	}
	if cfg.RedisURL != "" {
		r, err := newRemote(cfg.RedisURL, cfg.Timeout, cfg.RedisBackoff, cfg.RedisMaxBackoff, cfg.RedisQueue, &c.ctr)
		if err != nil {
			return nil, err
		}
		c.rem = r
	}
	return c, nil
}

// Threshold returns the similarity a match needs.
func (c *Cache) Threshold() float64 { return c.cfg.Threshold }

// Lookup answers req from a stored answer to a similar final user turn in
// the same scope: the same project, provider and upstream model, and the
// same everything else (system prompt, earlier messages, tools,
// tool_choice, response_format, sampling parameters). It returns the entry,
// the cosine similarity, and true on a hit.
//
// Call it only for projects that opted in, after the exact cache missed,
// and only when the exact cache's policy found the request cacheable and
// the client's directive allows reading. Redis and embedder failures read
// as misses.
func (c *Cache) Lookup(ctx context.Context, req *providers.Request, project, provider, model string) (entry *cache.Entry, similarity float64, ok bool) {
	if c == nil || req == nil || c.closed.Load() {
		return nil, 0, false
	}
	text, reason := finalTurn(req, c.cfg.MaxTurnChars)
	if reason != "" {
		c.ctr.ineligibleFor(reason)
		return nil, 0, false
	}
	scope := scopeOf(&c.seed, req, project, provider, model)
	q := query{a: acquireAnalysis(text), text: text}
	defer c.releaseQuery(&q)
	now := c.now()
	if r, sim := c.search(ctx, scope, &q, now.Unix()); r != nil {
		return c.hit(r, sim)
	}
	if c.rem != nil && c.idx.claimLoad(scope, now.UnixNano(), int64(c.cfg.RefreshInterval)) {
		if c.load(ctx, project, scope, now.Unix()) > 0 {
			if r, sim := c.search(ctx, scope, &q, now.Unix()); r != nil {
				return c.hit(r, sim)
			}
		}
	}
	if q.vec != nil {
		// Store will want the same vector: keep it rather than embed twice.
		c.memo.put(recordID(scope, text), q.vec)
		q.vec = nil
	}
	c.ctr.misses.Add(1)
	mMisses.Inc()
	return nil, 0, false
}

func (c *Cache) hit(r *rec, sim float64) (*cache.Entry, float64, bool) {
	c.idx.touch(r)
	c.ctr.hits.Add(1)
	mHits.Inc()
	mSimilarity.Update(sim)
	return r.entry, sim, true
}

// query is one lookup's final turn, analysed, and its vector once needed.
type query struct {
	a      *analysis
	text   string
	vec    []float32
	pooled *[]float32 // vec's holder, when it came from vecPool
	failed bool       // embedding failed: do not try again
}

var vecPool = sync.Pool{New: func() any { return new([]float32) }}

func (c *Cache) releaseQuery(q *query) {
	releaseAnalysis(q.a)
	if q.pooled != nil && q.vec != nil {
		*q.pooled = q.vec
		vecPool.Put(q.pooled)
	}
}

// search returns the best record of the scope that is similar enough and
// passes every guard. Only records whose guard hashes equal the query's are
// compared, so a query is embedded only when some record could match.
func (c *Cache) search(ctx context.Context, scope scopeID, q *query, now int64) (*rec, float64) {
	recs := c.idx.get(scope)
	var best *rec
	bestSim := 0.0
	exact := c.cfg.MaxWordDiff == 0
	for _, r := range recs {
		if r.expires <= now || r.sig.strict != q.a.sig.strict || exact && r.sig.exact != q.a.sig.exact {
			continue
		}
		if q.vec == nil {
			if q.failed || !c.embedQuery(ctx, q) {
				return nil, 0
			}
		}
		sim := dot(q.vec, r.vec)
		if sim < c.cfg.Threshold {
			c.ctr.belowThreshold.Add(1)
			continue
		}
		if g := check(&q.a.sig, &r.sig, c.cfg.MaxWordDiff); g != GuardNone {
			c.ctr.refused[g].Add(1)
			mRefused[g].Inc()
			continue
		}
		if sim > bestSim {
			best, bestSim = r, sim
		}
	}
	return best, min(bestSim, 1)
}

func (c *Cache) embedQuery(ctx context.Context, q *query) bool {
	if c.local != nil {
		p := vecPool.Get().(*[]float32)
		v := *p
		if cap(v) < c.local.dims {
			v = make([]float32, c.local.dims)
		}
		v = v[:c.local.dims]
		clear(v)
		q.vec, q.pooled = c.local.embed(v, q.a), p
		return true
	}
	v, err := c.embedRemote(ctx, q.text)
	if err != nil {
		q.failed = true
		return false
	}
	q.vec = v
	return true
}

// embedRemote embeds one text with the configured (non-local) embedder,
// bounded by EmbedTimeout and skipped during its back-off.
func (c *Cache) embedRemote(ctx context.Context, text string) ([]float32, error) {
	if !c.embBo.Allow() {
		c.ctr.embedSkipped.Add(1)
		return nil, fmt.Errorf("%w: skipped after failures", ErrEmbed)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.EmbedTimeout)
	defer cancel()
	vs, err := c.emb.Embed(ctx, []string{text})
	if err == nil && (len(vs) != 1 || len(vs[0]) == 0) {
		err = fmt.Errorf("%d vectors for 1 text", len(vs))
	}
	if err == nil {
		for _, f := range vs[0] {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				err = fmt.Errorf("vector holds NaN or Inf")
				break
			}
		}
	}
	if err != nil {
		c.embBo.Fail()
		c.ctr.embedErrors.Add(1)
		mErrors[srcEmbedder].Inc()
		return nil, fmt.Errorf("%w: %w", ErrEmbed, err)
	}
	c.embBo.OK()
	normalize(vs[0])
	return vs[0], nil
}

// Store keeps e as the answer to req's final user turn for TTL. See
// StoreTTL.
func (c *Cache) Store(ctx context.Context, req *providers.Request, project, provider, model string, e *cache.Entry) error {
	return c.StoreTTL(ctx, req, project, provider, model, e, 0)
}

// StoreTTL keeps e as the answer to req's final user turn for ttl (0: the
// configured TTL). Call it with the complete answer of a request the exact
// cache stored (the same cacheability and directive rules apply), while req
// is still valid: Store copies what it keeps. With the local embedder the
// record is indexed before Store returns (about as long as a lookup takes);
// with a remote embedder whose vector the preceding Lookup did not already
// compute, the embedding call is queued for a background worker
// (EmbedQueue; a full queue drops the store, counted as not stored) and
// Store returns at once. The Redis write is always queued. e is not
// modified and must not be.
func (c *Cache) StoreTTL(ctx context.Context, req *providers.Request, project, provider, model string, e *cache.Entry, ttl time.Duration) error {
	if c == nil || c.closed.Load() {
		return ErrClosed
	}
	if req == nil || e == nil {
		return fmt.Errorf("%w: no request or answer", ErrNotStorable)
	}
	text, reason := finalTurn(req, c.cfg.MaxTurnChars)
	if reason != "" {
		return fmt.Errorf("%w: %s", ErrIneligible, reason)
	}
	if err := c.storable(e); err != nil {
		c.ctr.notStored.Add(1)
		return err
	}
	if ttl <= 0 {
		ttl = c.cfg.TTL
	}
	scope := scopeOf(&c.seed, req, project, provider, model)
	text = strings.Clone(text)
	id := recordID(scope, text)
	a := acquireAnalysis(text)
	sig := a.sig.own()
	var vec []float32
	if v := c.memo.take(id); v != nil {
		vec = v
	} else if c.local != nil {
		vec = c.local.embed(make([]float32, c.local.dims), a)
	}
	releaseAnalysis(a)
	r := &rec{id: id, scope: scope, project: strings.Clone(project), route: provider + "/" + model,
		text: text, vec: vec, sig: sig, entry: e}
	j := storeJob{r: r, provider: strings.Clone(provider), model: strings.Clone(model), ttl: ttl}
	if vec != nil {
		c.insert(j)
		return nil
	}
	c.embedPending.Add(1)
	select {
	case c.embedQueue <- j:
		return nil
	default:
		c.embedPending.Add(-1)
		c.ctr.notStored.Add(1)
		return fmt.Errorf("%w: embedding queue full", ErrNotStorable)
	}
}

// storeJob is a record waiting to be indexed (and, queued, for its vector).
type storeJob struct {
	r               *rec
	provider, model string
	ttl             time.Duration
}

// insert indexes a complete record and queues its Redis write. The expiry
// counts from now, not from the Store call.
func (c *Cache) insert(j storeJob) {
	now := c.now()
	r := j.r
	r.expires = now.Add(j.ttl + time.Second - 1).Unix()
	c.idx.put(r, now.Unix(), false)
	c.ctr.stores.Add(1)
	mStores[0].Inc()
	if c.rem != nil {
		c.rem.set(writeJob{
			prefix: scopePrefix(r.project, r.scope), id: hex.EncodeToString(r.id[:]),
			val: appendRecord(nil, r, j.provider, j.model, c.cfg.CompressBytes),
			ttl: j.ttl, expires: r.expires, keep: c.cfg.MaxEntriesPerScope,
		})
	}
}

// embedder runs queued stores through the remote embedder, one at a time:
// embeddings for stores are not urgent, and one worker bounds the load a
// cache puts on the embedding upstream.
func (c *Cache) embedder() {
	defer c.embedWG.Done()
	for {
		select {
		case <-c.embedStop:
			return
		case j := <-c.embedQueue:
			if v, err := c.embedRemote(context.Background(), j.r.text); err == nil && !c.closed.Load() {
				j.r.vec = v
				c.insert(j)
			} else {
				c.ctr.notStored.Add(1)
			}
			c.embedPending.Add(-1)
		}
	}
}

// storable applies the exact cache's rules to an answer, and refuses tool
// calls unless StoreToolCalls.
func (c *Cache) storable(e *cache.Entry) error {
	if e.Size() > c.cfg.MaxEntryBytes {
		return fmt.Errorf("%w: %d bytes is above max_entry_bytes", ErrNotStorable, e.Size())
	}
	if len(e.ToolCalls) > 0 && !c.cfg.StoreToolCalls {
		return fmt.Errorf("%w: the answer calls tools", ErrNotStorable)
	}
	switch e.Finish {
	case "stop", "length", "":
		return nil
	case "tool_calls", "function_call":
		if c.cfg.StoreToolCalls {
			return nil
		}
	}
	return fmt.Errorf("%w: finish reason %q", ErrNotStorable, e.Finish)
}

// load merges the scope's Redis records into the index and returns how
// many it added.
func (c *Cache) load(ctx context.Context, project string, scope scopeID, now int64) int {
	vals, err := c.rem.load(ctx, scopePrefix(project, scope), now, c.cfg.MaxEntriesPerScope)
	if err != nil {
		return 0
	}
	c.ctr.redisLoads.Add(1)
	mLoads.Inc()
	n := 0
	for _, v := range vals {
		text, vec, e, err := decodeRecord(v)
		if err != nil || e.Expires <= now || e.Project != project {
			if err != nil {
				c.ctr.redisErrors.Add(1)
				mErrors[srcRedis].Inc()
			}
			continue
		}
		if c.local != nil && len(vec) != c.local.dims {
			continue
		}
		normalize(vec)
		a := acquireAnalysis(text)
		sig := a.sig.own()
		releaseAnalysis(a)
		r := &rec{id: recordID(scope, text), scope: scope, project: e.Project, route: e.Provider + "/" + e.UpstreamModel,
			text: text, vec: vec, sig: sig, entry: e, expires: e.Expires}
		if c.idx.put(r, now, true) {
			n++
		}
	}
	c.ctr.redisGot.Add(uint64(n))
	return n
}

// Purged counts the records a Purge removed.
type Purged struct {
	Memory int `json:"memory"`
	Redis  int `json:"redis"`
}

// Purge removes records: all when project and model are empty, else those
// of the project and/or of the model ("provider/model"). In Redis, whose
// keys name the project but not the model, a purge by model alone removes
// every record, and a purge by project and model the project's: a cache may
// forget more than asked, never less.
func (c *Cache) Purge(ctx context.Context, project, model string) (Purged, error) {
	var p Purged
	if c == nil || c.closed.Load() {
		return p, ErrClosed
	}
	p.Memory = c.idx.purge(project, model)
	if c.rem != nil {
		pattern := keyPrefix + "*"
		if project != "" {
			pattern = keyPrefix + cache.KeySegment(project) + ":*"
		}
		n, err := c.rem.purge(ctx, pattern)
		p.Redis = n
		if err != nil {
			c.ctr.redisErrors.Add(1)
			return p, err
		}
	}
	return p, nil
}

// Flush waits until queued embeddings are done and queued Redis writes are
// written or dropped.
func (c *Cache) Flush(ctx context.Context) error {
	if c == nil {
		return nil
	}
	for c.embedPending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	if c.rem == nil {
		return nil
	}
	return c.rem.flush(ctx)
}

// Close stops the Redis writer (dropping queued writes: Flush first to keep
// them) and releases the index.
func (c *Cache) Close() error {
	if c == nil || c.closed.Swap(true) {
		return nil
	}
	if c.embedStop != nil {
		close(c.embedStop)
		c.embedWG.Wait()
	}
	if c.rem != nil {
		c.rem.close()
	}
	c.idx.purge("", "")
	return nil
}

// AppendSimilarity appends sim as the X-Gateway-Cache-Similarity header
// value: four decimals ("0.9731").
func AppendSimilarity(dst []byte, sim float64) []byte {
	return strconv.AppendFloat(dst, sim, 'f', 4, 64)
}
