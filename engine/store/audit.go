package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jsonArg is a JSON column argument: NULL when empty; text otherwise (the
// PostgreSQL driver passes text to jsonb as is).
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// Audit implements Auditor.
func (s *sqlStore) Audit(ctx context.Context, e AuditEntry) error {
	switch {
	case e.Action == "" || len(e.Action) > 100:
		return fmt.Errorf("audit: action: %w: 1 to 100 bytes", ErrInvalid)
	case len(e.Before) > 0 && !json.Valid(e.Before), len(e.After) > 0 && !json.Valid(e.After):
		return fmt.Errorf("audit %s: before/after: %w: not JSON", e.Action, ErrInvalid)
	}
	if e.Time.IsZero() {
		e.Time = s.clock()
	}
	_, err := s.b.exec(ctx, `INSERT INTO audit_log (ts, actor, action, target, before_json, after_json)
VALUES ($1, $2, $3, $4, $5, $6)`, utc(e.Time), e.Actor, e.Action, e.Target, jsonArg(e.Before), jsonArg(e.After))
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog implements Auditor.
func (s *sqlStore) AuditLog(ctx context.Context, q AuditQuery) (AuditPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return AuditPage{}, err
	}
	var f filter
	if err := f.timeRange(q.From, q.To); err != nil {
		return AuditPage{}, err
	}
	switch a := q.Action; {
	case strings.HasSuffix(a, "*"):
		a = strings.TrimSuffix(a, "*")
		fallthrough
	case strings.HasSuffix(a, "."):
		// substr, not LIKE: action names may contain LIKE's wildcard "_".
		f.conds = append(f.conds, "substr(action, 1, "+f.arg(len(a))+") = "+f.arg(a))
	case a != "":
		f.add("action = %s", a)
	}
	if q.Target != "" {
		f.add("target = %s", q.Target)
	}
	if q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return AuditPage{}, err
		}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return AuditPage{}, fmt.Errorf("cursor: %w: %w", ErrInvalid, errCursor)
		}
		f.conds = append(f.conds, "(ts, id) < ("+f.arg(t)+", "+f.arg(n)+")")
	}
	rs, err := s.b.query(ctx, `SELECT id, ts, actor, action, target, before_json, after_json FROM audit_log`+
		f.where()+` ORDER BY ts DESC, id DESC LIMIT `+f.arg(limit+1), f.args...)
	if err != nil {
		return AuditPage{}, fmt.Errorf("audit log: %w", err)
	}
	defer rs.Close()
	var page AuditPage
	for rs.Next() {
		var (
			e             AuditEntry
			before, after []byte
		)
		if err := rs.Scan(&e.ID, &nullTime{&e.Time}, &e.Actor, &e.Action, &e.Target, &before, &after); err != nil {
			return AuditPage{}, fmt.Errorf("audit log: %w", err)
		}
		e.Before, e.After = before, after
		page.Entries = append(page.Entries, e)
	}
	if err := rs.Err(); err != nil {
		return AuditPage{}, fmt.Errorf("audit log: %w", err)
	}
	if len(page.Entries) > limit {
		page.Entries = page.Entries[:limit]
		last := &page.Entries[limit-1]
		page.Next = encodeCursor(last.Time, strconv.FormatInt(last.ID, 10))
	}
	return page, nil
}
