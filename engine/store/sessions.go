package store

import (
	"context"
	"fmt"
)

// CreateSession implements Sessions.
func (s *sqlStore) CreateSession(ctx context.Context, ses Session) error {
	switch {
	case len(ses.TokenHash) != 64:
		return fmt.Errorf("create session: token hash: %w: want 64 hex digits", ErrInvalid)
	case ses.Actor == "" || ses.CSRF == "":
		return fmt.Errorf("create session: %w: actor and csrf are required", ErrInvalid)
	case ses.ExpiresAt.IsZero():
		return fmt.Errorf("create session: %w: no expiry", ErrInvalid)
	}
	now := s.clock()
	if ses.CreatedAt.IsZero() {
		ses.CreatedAt = now
	}
	return s.b.write(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM admin_sessions WHERE expires_at <= $1`, now); err != nil {
			return fmt.Errorf("create session: prune: %w", err)
		}
		if _, err := q.exec(ctx, `INSERT INTO admin_sessions (token_hash, actor, csrf, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5)`, ses.TokenHash, ses.Actor, ses.CSRF, utc(ses.CreatedAt), utc(ses.ExpiresAt)); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return nil
	})
}

// Session implements Sessions.
func (s *sqlStore) Session(ctx context.Context, tokenHash string) (Session, error) {
	var ses Session
	err := s.b.queryRow(ctx, `SELECT token_hash, actor, csrf, created_at, expires_at FROM admin_sessions
WHERE token_hash = $1 AND expires_at > $2`, tokenHash, s.clock()).
		Scan(&ses.TokenHash, &ses.Actor, &ses.CSRF, &nullTime{&ses.CreatedAt}, &nullTime{&ses.ExpiresAt})
	if err != nil {
		return Session{}, notFound(err, "session", "…")
	}
	return ses, nil
}

// DeleteSession implements Sessions.
func (s *sqlStore) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.b.exec(ctx, `DELETE FROM admin_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
