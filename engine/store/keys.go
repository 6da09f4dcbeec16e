package store

// Keys: project API keys, stored as SHA-256 hashes (docs/projects.md).

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

func scanKey(r row) (Key, error) {
	var (
		k    Key
		hash []byte
	)
	err := r.Scan(&k.ID, &k.ProjectID, &k.Name, &k.Prefix, &hash, &nullTime{&k.CreatedAt},
		&nullTime{&k.ExpiresAt}, &nullTime{&k.RevokedAt}, &nullTime{&k.LastUsedAt})
	if err != nil {
		return Key{}, err
	}
	if len(hash) != len(k.Hash) {
		return Key{}, fmt.Errorf("key %s: stored hash has %d bytes", k.ID, len(hash))
	}
	copy(k.Hash[:], hash)
	return k, nil
}

// CreateKey implements Tenancy.
func (s *sqlStore) CreateKey(ctx context.Context, nk NewKey) (CreatedKey, error) {
	now := s.clock()
	nk.Name = strings.TrimSpace(nk.Name)
	switch {
	case len(nk.Name) > 200:
		return CreatedKey{}, fmt.Errorf("create key: name: %w: at most 200 characters", ErrInvalid)
	case !nk.ExpiresAt.IsZero() && !utc(nk.ExpiresAt).After(now):
		return CreatedKey{}, fmt.Errorf("create key: expires_at: %w: in the past", ErrInvalid)
	}
	secret := newKeySecret()
	k := CreatedKey{
		Key: Key{
			ID: newID("key"), ProjectID: nk.ProjectID, Name: nk.Name, Prefix: secret[:keyPrefixLen],
			Hash: HashKey(secret), CreatedAt: now, ExpiresAt: utc(nk.ExpiresAt),
		},
		Secret: secret,
	}
	err := s.b.write(ctx, func(q querier) error {
		v, err := s.bump(ctx, q)
		if err != nil {
			return err
		}
		var one int
		if err := q.queryRow(ctx, `SELECT 1 FROM projects WHERE id = $1`, nk.ProjectID).Scan(&one); err != nil {
			return notFound(err, "project", nk.ProjectID)
		}
		if _, err := q.exec(ctx, `INSERT INTO api_keys (id, project_id, name, prefix, hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.ProjectID, k.Name, k.Prefix, k.Hash[:], k.CreatedAt, timeArg(k.ExpiresAt)); err != nil {
			return err
		}
		return s.changed(ctx, q, v, changeKey, k.ID)
	})
	if err != nil {
		return CreatedKey{}, fmt.Errorf("create key: %w", err)
	}
	return k, nil
}

// Key implements Tenancy.
func (s *sqlStore) Key(ctx context.Context, id string) (Key, error) {
	k, err := scanKey(s.b.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return Key{}, notFound(err, "key", id)
	}
	return k, nil
}

// KeyByHash implements Tenancy.
func (s *sqlStore) KeyByHash(ctx context.Context, h [32]byte) (Key, error) {
	k, err := scanKey(s.b.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, h[:]))
	if err != nil {
		return Key{}, notFound(err, "key with hash", hex.EncodeToString(h[:4])+"…")
	}
	switch {
	case !k.RevokedAt.IsZero():
		return k, fmt.Errorf("key %s: %w", k.ID, ErrKeyRevoked)
	case !k.ExpiresAt.IsZero() && !s.now().Before(k.ExpiresAt):
		return k, fmt.Errorf("key %s: %w", k.ID, ErrKeyExpired)
	}
	return k, nil
}

// ListKeys implements Tenancy.
func (s *sqlStore) ListKeys(ctx context.Context, projectID string) ([]Key, error) {
	var out []Key
	err := s.b.snapshot(ctx, func(q querier) error {
		var one int
		if err := q.queryRow(ctx, `SELECT 1 FROM projects WHERE id = $1`, projectID).Scan(&one); err != nil {
			return notFound(err, "project", projectID)
		}
		rs, err := q.query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE project_id = $1 ORDER BY created_at, id`, projectID)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			k, err := scanKey(rs)
			if err != nil {
				return err
			}
			out = append(out, k)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// RevokeKey implements Tenancy.
func (s *sqlStore) RevokeKey(ctx context.Context, id string) error {
	err := s.b.write(ctx, func(q querier) error {
		v, err := s.bump(ctx, q)
		if err != nil {
			return err
		}
		n, err := q.exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, s.clock())
		if err != nil {
			return err
		}
		if n == 0 {
			var one int
			if err := q.queryRow(ctx, `SELECT 1 FROM api_keys WHERE id = $1`, id).Scan(&one); err != nil {
				return notFound(err, "key", id)
			}
			return errNoChange // already revoked
		}
		return s.changed(ctx, q, v, changeKey, id)
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// TouchKeys implements Tenancy.
func (s *sqlStore) TouchKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	// In id order: two replicas touching the same keys then lock the rows
	// in the same order.
	ids := slices.Sorted(maps.Keys(used))
	err := s.b.write(ctx, func(q querier) error {
		for _, id := range ids {
			at := utc(used[id])
			if _, err := q.exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch keys: %w", err)
	}
	return nil
}
