package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

const webhookColumns = `id, url, secret, events, project_id, disabled, created_at, updated_at`

func scanWebhook(r row) (Webhook, error) {
	var (
		w      Webhook
		events []byte
	)
	if err := r.Scan(&w.ID, &w.URL, &w.Secret, &events, &w.ProjectID, &w.Disabled,
		&nullTime{&w.CreatedAt}, &nullTime{&w.UpdatedAt}); err != nil {
		return Webhook{}, err
	}
	if err := json.Unmarshal(events, &w.Events); err != nil {
		return Webhook{}, fmt.Errorf("webhook %s: events: %w", w.ID, err)
	}
	if len(w.Events) == 0 {
		w.Events = nil
	}
	return w, nil
}

// normalizeWebhook validates w and fills its defaults. Whether the URL's
// host may be called (SSRF) is the sender's decision, at delivery time: DNS
// answers change.
func normalizeWebhook(w *Webhook) error {
	w.URL = strings.TrimSpace(w.URL)
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(w.URL) > 2000 {
		return fmt.Errorf("webhook url: %w: want an absolute http(s) URL", ErrInvalid)
	}
	if !validID(w.ID) {
		return fmt.Errorf("webhook id %q: %w", w.ID, ErrInvalid)
	}
	if w.Secret == "" {
		w.Secret = webhookSecretPx + randomBase62(43)
	}
	if len(w.Secret) < 16 || len(w.Secret) > 200 {
		return fmt.Errorf("webhook secret: %w: 16 to 200 characters", ErrInvalid)
	}
	var events []string
	for _, e := range w.Events {
		e = strings.TrimSpace(e)
		if e == "" {
			return fmt.Errorf("webhook events: %w: empty entry", ErrInvalid)
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	w.Events = events
	return nil
}

func webhookArgs(w *Webhook) []any {
	return []any{w.ID, w.URL, w.Secret, modelsJSON(w.Events), w.ProjectID, w.Disabled, w.CreatedAt, w.UpdatedAt}
}

// CreateWebhook implements Webhooks.
func (s *sqlStore) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	if w.ID == "" {
		w.ID = newID("wh")
	}
	w.Events = slices.Clone(w.Events)
	if err := normalizeWebhook(&w); err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	w.CreatedAt = s.clock()
	w.UpdatedAt = w.CreatedAt
	err := s.b.write(ctx, func(q querier) error {
		if w.ProjectID != "" {
			var one int
			if err := q.queryRow(ctx, `SELECT 1 FROM projects WHERE id = $1`, w.ProjectID).Scan(&one); err != nil {
				return notFound(err, "project", w.ProjectID)
			}
		}
		n, err := q.exec(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO NOTHING`, webhookArgs(&w)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("webhook %q: %w: the id is taken", w.ID, ErrConflict)
		}
		return nil
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	return w, nil
}

// Webhook implements Webhooks.
func (s *sqlStore) Webhook(ctx context.Context, id string) (Webhook, error) {
	w, err := scanWebhook(s.b.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`, id))
	if err != nil {
		return Webhook{}, notFound(err, "webhook", id)
	}
	return w, nil
}

// ListWebhooks implements Webhooks.
func (s *sqlStore) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	rs, err := s.b.query(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rs.Close()
	var out []Webhook
	for rs.Next() {
		w, err := scanWebhook(rs)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, w)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return out, nil
}

// UpdateWebhook implements Webhooks.
func (s *sqlStore) UpdateWebhook(ctx context.Context, id string, patch WebhookPatch) (Webhook, error) {
	var w Webhook
	err := s.b.write(ctx, func(q querier) error {
		var err error
		w, err = scanWebhook(q.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1`+s.b.forUpdate(), id))
		if err != nil {
			return notFound(err, "webhook", id)
		}
		if patch.URL.Set {
			w.URL = patch.URL.Value
		}
		if patch.Secret.Set {
			w.Secret = patch.Secret.Value
		}
		if patch.Events.Set {
			w.Events = slices.Clone(patch.Events.Value)
		}
		if patch.Disabled.Set {
			w.Disabled = patch.Disabled.Value
		}
		if err := normalizeWebhook(&w); err != nil {
			return err
		}
		w.UpdatedAt = s.clock()
		_, err = q.exec(ctx, `UPDATE webhooks SET url = $2, secret = $3, events = $4, project_id = $5, disabled = $6,
created_at = $7, updated_at = $8 WHERE id = $1`, webhookArgs(&w)...)
		return err
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("update webhook: %w", err)
	}
	return w, nil
}

// DeleteWebhook implements Webhooks.
func (s *sqlStore) DeleteWebhook(ctx context.Context, id string) error {
	err := s.b.write(ctx, func(q querier) error {
		n, err := q.exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("webhook %q: %w", id, ErrNotFound)
		}
		_, err = q.exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	return nil
}

const deliveryColumns = `id, webhook_id, event, payload, attempts, created_at, next_attempt, claimed_until, delivered_at, failed_at, last_error`

func scanDelivery(r row) (Delivery, error) {
	var d Delivery
	err := r.Scan(&d.ID, &d.WebhookID, &d.Event, &d.Payload, &d.Attempts, &nullTime{&d.CreatedAt},
		&nullTime{&d.NextAttempt}, &nullTime{&d.ClaimedUntil}, &nullTime{&d.DeliveredAt},
		&nullTime{&d.FailedAt}, &d.LastError)
	return d, err
}

// EnqueueDelivery implements Webhooks.
func (s *sqlStore) EnqueueDelivery(ctx context.Context, webhookID, event string, payload []byte) (string, error) {
	if event == "" {
		return "", fmt.Errorf("enqueue delivery: event: %w: empty", ErrInvalid)
	}
	if payload == nil {
		payload = []byte{}
	}
	id := newID("dlv")
	now := s.clock()
	err := s.b.write(ctx, func(q querier) error {
		var one int
		if err := q.queryRow(ctx, `SELECT 1 FROM webhooks WHERE id = $1`, webhookID).Scan(&one); err != nil {
			return notFound(err, "webhook", webhookID)
		}
		_, err := q.exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, event, payload, created_at, next_attempt)
VALUES ($1, $2, $3, $4, $5, $5)`, id, webhookID, event, payload, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("enqueue delivery: %w", err)
	}
	return id, nil
}

// DueDeliveries implements Webhooks. On PostgreSQL the inner SELECT locks
// the rows it picks and skips rows another replica's claim holds, so
// concurrent claimers split the due rows between them instead of queueing
// or double-claiming; a row claimed and committed meanwhile is re-checked
// against claimed_until and dropped. On SQLite the write transaction holds
// the database's write lock.
func (s *sqlStore) DueDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Delivery, error) {
	if limit <= 0 || limit > 1000 || lease <= 0 {
		return nil, fmt.Errorf("due deliveries: %w: want 1 <= limit <= 1000 and a positive lease", ErrInvalid)
	}
	now = utc(now)
	var out []Delivery
	err := s.b.write(ctx, func(q querier) error {
		rs, err := q.query(ctx, `UPDATE webhook_deliveries SET claimed_until = $2, attempts = attempts + 1
WHERE id IN (
	SELECT d.id FROM webhook_deliveries d
	WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt <= $1
		AND (d.claimed_until IS NULL OR d.claimed_until <= $1)
		AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id AND w.disabled)
	ORDER BY d.next_attempt, d.id
	LIMIT $3`+s.b.skipLocked()+`)
RETURNING `+deliveryColumns, now, now.Add(lease), limit)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			d, err := scanDelivery(rs)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { // RETURNING has no order
		if !out[i].NextAttempt.Equal(out[j].NextAttempt) {
			return out[i].NextAttempt.Before(out[j].NextAttempt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// MarkDelivered implements Webhooks.
func (s *sqlStore) MarkDelivered(ctx context.Context, id string) error {
	n, err := s.b.exec(ctx, `UPDATE webhook_deliveries SET delivered_at = $2, claimed_until = NULL WHERE id = $1`, id, s.clock())
	if err != nil {
		return fmt.Errorf("mark delivered %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("mark delivered: delivery %q: %w", id, ErrNotFound)
	}
	return nil
}

// maxLastError bounds the stored error text (a response body excerpt).
const maxLastError = 1000

// MarkFailed implements Webhooks.
func (s *sqlStore) MarkFailed(ctx context.Context, id string, next time.Time, lastError string) error {
	if len(lastError) > maxLastError {
		lastError = strings.ToValidUTF8(lastError[:maxLastError], "")
	}
	var (
		n   int64
		err error
	)
	if next.IsZero() {
		n, err = s.b.exec(ctx, `UPDATE webhook_deliveries SET failed_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $1`,
			id, s.clock(), lastError)
	} else {
		n, err = s.b.exec(ctx, `UPDATE webhook_deliveries SET next_attempt = $2, claimed_until = NULL, last_error = $3 WHERE id = $1`,
			id, utc(next), lastError)
	}
	if err != nil {
		return fmt.Errorf("mark failed %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("mark failed: delivery %q: %w", id, ErrNotFound)
	}
	return nil
}

// ListDeliveries implements Webhooks.
func (s *sqlStore) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	rs, err := s.b.query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE webhook_id = $1
ORDER BY created_at DESC, id DESC LIMIT $2`, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rs.Close()
	var out []Delivery
	for rs.Next() {
		d, err := scanDelivery(rs)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// PruneDeliveries implements Webhooks.
func (s *sqlStore) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	return pruneLoop(ctx, s.b, `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND created_at < $1 LIMIT `+fmt.Sprint(pruneChunk)+`)`, utc(before))
}
