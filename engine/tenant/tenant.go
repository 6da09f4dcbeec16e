// Package tenant keeps the request path's view of projects and client keys:
// an immutable snapshot behind an atomic pointer, built from the store (and
// the keys of gateway.toml) and rebuilt when the store says something
// changed. Authentication is one map lookup by the key's SHA-256.
//
// Changes reach every replica quickly: the replica that made a change
// refreshes at once and announces it on a Redis channel (when Redis is
// configured), and every replica also polls the store's config version, so
// that a lost announcement costs at most one poll interval.
//
// # Notes
//
//   - A Directory is safe for concurrent use. Snapshot is a single atomic
//     load; Snapshots and the Keys and Projects they hold are never
//     modified, so they can be read without locks.
//   - The package does not log: background errors go to Options.OnError.
package tenant

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/redis/go-redis/v9"
)

// Key is a client key as the request path sees it.
type Key struct {
	ID        string
	ProjectID string
	Name      string
	Prefix    string
	Hash      [32]byte
	// Static keys come from gateway.toml (GATEWAY_API_KEY included).
	Static    bool
	Revoked   bool
	ExpiresAt time.Time
	// used is the last use, in Unix seconds; shared by every snapshot's
	// copy of the key, so that a rebuild loses no touch.
	used *atomic.Int64
}

// Expired reports whether the key's expiry has passed at now.
func (k *Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Touch records a use at now; cheap enough for every request (one atomic
// load, and a store once a second).
func (k *Key) Touch(now time.Time) {
	if k.used == nil {
		return
	}
	if s := now.Unix(); k.used.Load() != s {
		k.used.Store(s)
	}
}

// Project is a project's settings as the request path sees them.
type Project struct {
	store.Project
	// Implicit marks a project that only gateway.toml's [[keys]] name (or
	// "default" of an open gateway), with default settings.
	Implicit bool
}

// Allows reports whether the allow-list admits a model: by any of the
// names given (the requested name, the resolved canonical name, the
// routing tier). An empty list admits everything.
func (p *Project) Allows(names ...string) bool {
	if len(p.Models) == 0 {
		return true
	}
	for _, n := range names {
		if n != "" && slices.Contains(p.Models, n) {
			return true
		}
	}
	return false
}

// Snapshot is one consistent view of every project and key.
type Snapshot struct {
	// Version is the store's config version the snapshot reflects.
	Version  int64
	keys     map[[32]byte]*Key
	byID     map[string]*Key
	projects map[string]*Project
}

// Lookup returns the key whose secret hashes to h, or nil. Revoked and
// expired keys are returned too (the caller says which).
func (s *Snapshot) Lookup(h [32]byte) *Key { return s.keys[h] }

// Key returns a key by id, or nil.
func (s *Snapshot) Key(id string) *Key { return s.byID[id] }

// Project returns a project by id, or nil.
func (s *Snapshot) Project(id string) *Project { return s.projects[id] }

// NumKeys counts the keys, revoked ones included.
func (s *Snapshot) NumKeys() int { return len(s.keys) }

// StaticKeys lists the keys of gateway.toml, in its order.
func (s *Snapshot) StaticKeys(projectID string) []*Key {
	var out []*Key
	for _, k := range s.byID {
		if k.Static && (projectID == "" || k.ProjectID == projectID) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *Key) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// StaticKey is a key of gateway.toml, by its hash.
type StaticKey struct {
	Hash      [32]byte
	ProjectID string
	Name      string
}

// StaticKeyID is the id a static key has in the ledger and the API:
// "cfg_" and the first 12 hex digits of its hash (stable across restarts,
// and no help to guess the key).
func StaticKeyID(h [32]byte) string { return "cfg_" + hex.EncodeToString(h[:6]) }

// Options tune a Directory.
type Options struct {
	// PollInterval is how often Run asks the store for changes (default
	// 500ms).
	PollInterval time.Duration
	// TouchInterval is how often Run writes keys' last use (default 5s).
	TouchInterval time.Duration
	// Redis, when set, carries change announcements between replicas.
	Redis redis.UniversalClient
	// Channel is the Redis channel (default "gw:tenancy").
	Channel string
	// OnError receives background errors; nil ignores them.
	OnError func(error)
}

// Directory builds and refreshes snapshots.
type Directory struct {
	st   store.Tenancy
	opts Options
	snap atomic.Pointer[Snapshot]
	kick chan struct{}

	mu       sync.Mutex // serialises refreshes
	version  int64
	static   []StaticKey
	projects map[string]store.Project
	keys     map[string]store.Key
	implicit []string
	used     map[string]*atomic.Int64
	touched  map[string]int64
}

// New loads every project and key from the store and returns a Directory.
// implicit lists project ids that exist with default settings even when
// the store has no such project (those [[keys]] name).
func New(ctx context.Context, st store.Tenancy, static []StaticKey, implicit []string, opts Options) (*Directory, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if opts.TouchInterval <= 0 {
		opts.TouchInterval = 5 * time.Second
	}
	if opts.Channel == "" {
		opts.Channel = "gw:tenancy"
	}
	d := &Directory{st: st, opts: opts, kick: make(chan struct{}, 1), static: static, implicit: implicit,
		used: map[string]*atomic.Int64{}, touched: map[string]int64{}}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.loadAll(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// Snapshot returns the current snapshot.
func (d *Directory) Snapshot() *Snapshot { return d.snap.Load() }

// SetStatic replaces gateway.toml's keys and implicit projects (a reload).
func (d *Directory) SetStatic(static []StaticKey, implicit []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.static, d.implicit = static, implicit
	d.publish()
}

// loadAll reads every project and key; d.mu is held.
func (d *Directory) loadAll(ctx context.Context) error {
	v, err := d.st.ConfigVersion(ctx)
	if err != nil {
		return fmt.Errorf("tenancy: %w", err)
	}
	ps, err := d.st.ListProjects(ctx)
	if err != nil {
		return fmt.Errorf("tenancy: %w", err)
	}
	projects := make(map[string]store.Project, len(ps))
	keys := map[string]store.Key{}
	for _, p := range ps {
		projects[p.ID] = p
		ks, err := d.st.ListKeys(ctx, p.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tenancy: %w", err)
		}
		for _, k := range ks {
			keys[k.ID] = k
		}
	}
	d.version, d.projects, d.keys = v, projects, keys
	d.publish()
	return nil
}

// Refresh applies what changed in the store since the snapshot.
func (d *Directory) Refresh(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, err := d.st.ChangesSince(ctx, d.version)
	if err != nil {
		return fmt.Errorf("tenancy: %w", err)
	}
	if ch.Reset {
		return d.loadAll(ctx)
	}
	if ch.Version == d.version && len(ch.Projects) == 0 && len(ch.Keys) == 0 {
		return nil
	}
	projects := make(map[string]store.Project, len(d.projects))
	for id, p := range d.projects {
		projects[id] = p
	}
	keys := make(map[string]store.Key, len(d.keys))
	for id, k := range d.keys {
		keys[id] = k
	}
	for _, id := range ch.Projects {
		p, err := d.st.Project(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			delete(projects, id)
		case err != nil:
			return fmt.Errorf("tenancy: %w", err)
		default:
			projects[id] = p
		}
	}
	for _, id := range ch.Keys {
		k, err := d.st.Key(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			delete(keys, id)
		case err != nil:
			return fmt.Errorf("tenancy: %w", err)
		default:
			keys[id] = k
		}
	}
	d.version, d.projects, d.keys = ch.Version, projects, keys
	d.publish()
	return nil
}

// publish builds a snapshot from d's maps; d.mu is held.
func (d *Directory) publish() {
	s := &Snapshot{Version: d.version, keys: make(map[[32]byte]*Key, len(d.keys)+len(d.static)),
		byID: make(map[string]*Key, len(d.keys)+len(d.static)), projects: make(map[string]*Project, len(d.projects)+len(d.implicit))}
	for id, p := range d.projects {
		s.projects[id] = &Project{Project: p}
	}
	for _, id := range d.implicit {
		if _, ok := s.projects[id]; !ok {
			s.projects[id] = &Project{Project: store.Project{ID: id, Name: id, BudgetPeriod: store.PeriodMonth, CacheNamespace: id, Static: true}, Implicit: true}
		}
	}
	for id, k := range d.keys {
		_, live := d.projects[k.ProjectID]
		key := &Key{ID: id, ProjectID: k.ProjectID, Name: k.Name, Prefix: k.Prefix, Hash: k.Hash,
			Revoked: !k.RevokedAt.IsZero() || !live, ExpiresAt: k.ExpiresAt, used: d.usedOf(id)}
		s.keys[k.Hash] = key
		s.byID[id] = key
	}
	for _, sk := range d.static {
		id := StaticKeyID(sk.Hash)
		key := &Key{ID: id, ProjectID: sk.ProjectID, Name: sk.Name, Hash: sk.Hash, Static: true}
		s.keys[sk.Hash] = key
		s.byID[id] = key
		if _, ok := s.projects[sk.ProjectID]; !ok {
			s.projects[sk.ProjectID] = &Project{Project: store.Project{ID: sk.ProjectID, Name: sk.ProjectID, BudgetPeriod: store.PeriodMonth, CacheNamespace: sk.ProjectID, Static: true}, Implicit: true}
		}
	}
	for id := range d.used {
		if _, ok := d.keys[id]; !ok {
			delete(d.used, id)
			delete(d.touched, id)
		}
	}
	d.snap.Store(s)
}

func (d *Directory) usedOf(id string) *atomic.Int64 {
	u := d.used[id]
	if u == nil {
		u = new(atomic.Int64)
		d.used[id] = u
	}
	return u
}

// Changed is called after this replica changed a project or a key: it
// refreshes at once (so that the change holds for the next request here)
// and announces it to the other replicas.
func (d *Directory) Changed(ctx context.Context) error {
	err := d.Refresh(ctx)
	if d.opts.Redis != nil {
		if perr := d.opts.Redis.Publish(ctx, d.opts.Channel, "changed").Err(); perr != nil {
			d.report(fmt.Errorf("tenancy: announce a change: %w", perr))
		}
	}
	return err
}

func (d *Directory) report(err error) {
	if d.opts.OnError != nil {
		d.opts.OnError(err)
	}
}

// Run refreshes on every poll tick and every announcement, and writes
// keys' last use, until ctx ends; then it writes the last uses once more.
func (d *Directory) Run(ctx context.Context) {
	if d.opts.Redis != nil {
		go d.listen(ctx)
	}
	poll := time.NewTicker(d.opts.PollInterval)
	defer poll.Stop()
	touch := time.NewTicker(d.opts.TouchInterval)
	defer touch.Stop()
	for {
		select {
		case <-ctx.Done():
			c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			d.flushTouches(c)
			cancel()
			return
		case <-poll.C:
		case <-d.kick:
		case <-touch.C:
			d.flushTouches(ctx)
			continue
		}
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := d.Refresh(c); err != nil && ctx.Err() == nil {
			d.report(err)
		}
		cancel()
	}
}

// listen follows the Redis channel, resubscribing after failures.
func (d *Directory) listen(ctx context.Context) {
	for ctx.Err() == nil {
		sub := d.opts.Redis.Subscribe(ctx, d.opts.Channel)
		if _, err := sub.Receive(ctx); err != nil {
			_ = sub.Close()
			sleep(ctx, time.Second)
			continue
		}
		d.poke() // what changed while unsubscribed
		for range sub.Channel() {
			d.poke()
		}
		_ = sub.Close()
	}
}

func (d *Directory) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// flushTouches writes the last use of keys used since the previous flush.
func (d *Directory) flushTouches(ctx context.Context) {
	d.mu.Lock()
	batch := map[string]time.Time{}
	for id, u := range d.used {
		if v := u.Load(); v > d.touched[id] {
			batch[id] = time.Unix(v, 0)
			d.touched[id] = v
		}
	}
	d.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := d.st.TouchKeys(ctx, batch); err != nil {
		d.report(fmt.Errorf("tenancy: record keys' last use: %w", err))
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
