package store

import (
	"context"
	"fmt"
)

// Applying the migrations (migrations.go lists them).

// schemaMigrationsDDL creates the bookkeeping table; the same SQL works on
// both dialects.
const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

// migrate applies the missing migrations, each with its bookkeeping row, in
// one write transaction that holds the backend's migration lock (SQLite:
// the database's write lock; PostgreSQL: an advisory lock), so that
// replicas starting together apply each migration exactly once and the
// later ones find the schema complete. A database migrated by a newer
// binary (versions this one does not know) is accepted: migrations only
// add, so an older replica keeps working during a rolling upgrade.
func (s *sqlStore) migrate(ctx context.Context) error {
	return s.b.write(ctx, func(q querier) error {
		if err := s.b.lockMigrations(ctx, q); err != nil {
			return fmt.Errorf("migrations lock: %w", err)
		}
		if _, err := q.exec(ctx, schemaMigrationsDDL); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := q.query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range migrations {
			if applied[m.version] {
				continue
			}
			ddl := m.sqlite
			if s.b.name() == "postgres" {
				ddl = m.postgres
			}
			if ddl == "" {
				// nothing to do on this backend
			} else if _, err := q.exec(ctx, ddl); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, s.now().UTC().Format("2006-01-02T15:04:05.000000Z")); err != nil {
				return fmt.Errorf("record migration %d: %w", m.version, err)
			}
		}
		return nil
	})
}

// SchemaVersion implements Store.
func (s *sqlStore) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.b.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
