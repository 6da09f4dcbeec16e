// Package session keeps server-side conversation history for clients that
// send an X-Session-Id header and only their new turn (the seed's "session
// context", issue 14 item 4).
//
// A history is scoped to the project and the client key that wrote it: its
// store key is a hash of both and of the session id, so another key (or
// another project) that sends the same id reads nothing. It lives in the
// store the gateway's other shared state lives in: Redis when one is
// configured (every replica sees it; the TTL is Redis's expiry), an
// in-process map otherwise (bounded in bytes; lost on restart). It is
// never written to the SQL store: histories are large, short-lived and
// written on every turn, which is a cache's job, not a ledger's.
//
// Clients that send their whole history anyway are detected and sent as
// they are (Merge): the stored history never doubles a conversation.
//
// # Notes
//
// Stores are safe for concurrent use. Two concurrent requests of one
// session both read the same history and the later answer's write wins;
// a client that sends turns of one session concurrently gets no ordering
// from the gateway either way.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps histories by key.
type Store interface {
	// Get returns the history stored under key; nil when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores val under key for ttl.
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
}

// Key is the store key of session id for project and client key keyID.
func Key(project, keyID, id string) string {
	h := sha256.New()
	for _, s := range [...]string{project, keyID, id} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "gw:session:" + hex.EncodeToString(h.Sum(nil))
}

// Memory is the in-process Store.
type Memory struct {
	mu       sync.Mutex
	m        map[string]memEntry
	bytes    int
	maxBytes int
	now      func() time.Time
}

type memEntry struct {
	val     []byte
	expires time.Time
}

// NewMemory returns a Memory holding at most maxBytes of histories; past
// it, the entries closest to expiry go first.
func NewMemory(maxBytes int) *Memory {
	return &Memory{m: map[string]memEntry{}, maxBytes: maxBytes, now: time.Now}
}

// Get implements Store.
func (s *Memory) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	if !s.now().Before(e.expires) {
		s.drop(key, e)
		return nil, nil
	}
	return e.val, nil
}

// Set implements Store; val is kept, not copied.
func (s *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if len(val) > s.maxBytes {
		return ErrTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok {
		s.drop(key, old)
	}
	now := s.now()
	for s.bytes+len(val) > s.maxBytes {
		var victim string
		var first time.Time
		for k, e := range s.m {
			if !now.Before(e.expires) {
				victim = k
				break
			}
			if victim == "" || e.expires.Before(first) {
				victim, first = k, e.expires
			}
		}
		s.drop(victim, s.m[victim])
	}
	s.m[key] = memEntry{val: val, expires: now.Add(ttl)}
	s.bytes += len(val)
	return nil
}

func (s *Memory) drop(key string, e memEntry) {
	delete(s.m, key)
	s.bytes -= len(e.val)
}

// ErrTooLarge: a history larger than the store's bound is not stored.
var ErrTooLarge = errors.New("session history larger than the store's bound")

// Redis is the shared Store.
type Redis struct{ rdb redis.UniversalClient }

// NewRedis returns a Store on rdb.
func NewRedis(rdb redis.UniversalClient) *Redis { return &Redis{rdb: rdb} }

// Get implements Store.
func (s *Redis) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

// Set implements Store.
func (s *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	return s.rdb.Set(ctx, key, val, ttl).Err()
}
