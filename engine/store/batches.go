package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Batches keeps the OpenAI Batch API's files and batches (engine/batch),
// each scoped to the project that created it, and the per-line state of
// every batch, so that a batch survives a restart and resumes where it was.
//
// # Notes
//
// A batch moves through its statuses with UpdateBatch, whose From guard
// makes each transition happen once even when replicas race; items move
// from pending to completed or failed with FinishItem, which counts each
// once. ClaimBatch leases a batch to one runner at a time.
type Batches interface {
	// PutFile stores a file. An empty ID is generated ("file-…").
	PutFile(ctx context.Context, f File) (File, error)
	// File returns a project's file without its content. ErrNotFound
	// when there is none with that id in that project.
	File(ctx context.Context, projectID, id string) (File, error)
	// FileContent returns a project's file with its content.
	FileContent(ctx context.Context, projectID, id string) (File, error)
	// ListFiles pages through a project's files without content, as q
	// says; more says whether another page follows. An After that is not
	// one of the project's files is ErrNotFound.
	ListFiles(ctx context.Context, projectID string, q FileQuery) (page []File, more bool, err error)
	// DeleteFile deletes a project's file; ErrNotFound when there is none.
	DeleteFile(ctx context.Context, projectID, id string) error

	// CreateBatch stores a new batch (status validating). An empty ID is
	// generated ("batch_…").
	CreateBatch(ctx context.Context, b Batch) (Batch, error)
	// Batch returns a project's batch; ErrNotFound when there is none in
	// that project. An empty projectID reads any project's (the runner).
	Batch(ctx context.Context, projectID, id string) (Batch, error)
	// ListBatches pages through a project's batches newest first: after is
	// the last id of the previous page (empty for the first); more says
	// whether another page follows.
	ListBatches(ctx context.Context, projectID, after string, limit int) (page []Batch, more bool, err error)
	// ActiveBatches lists every project's batches that are not finished
	// (validating, in_progress, finalizing, cancelling), oldest first.
	ActiveBatches(ctx context.Context) ([]Batch, error)
	// UpdateBatch applies u to a batch in one transaction and reports
	// whether it applied: false when the batch's status is not one of
	// u.From (another runner or a cancel moved it first).
	UpdateBatch(ctx context.Context, id string, u BatchUpdate) (bool, error)
	// ClaimBatch leases a batch to owner until until, unless another
	// owner's lease is still running; it reports whether owner holds it.
	// Claiming again renews.
	ClaimBatch(ctx context.Context, id, owner string, until time.Time) (bool, error)
	// ReleaseBatch ends owner's lease, if owner holds it.
	ReleaseBatch(ctx context.Context, id, owner string) error

	// BatchItems returns up to limit of a batch's items in state (pending,
	// completed or failed; empty: any) with a line above afterLine, in
	// line order.
	BatchItems(ctx context.Context, batchID, state string, afterLine, limit int) ([]BatchItem, error)
	// FinishItem moves a pending item to completed or failed with its
	// result line and counts it in the batch; an item no longer pending is
	// left alone (false).
	FinishItem(ctx context.Context, batchID string, line int, state string, result []byte) (bool, error)
	// SubmitItems moves pending items to submitted with ref (a provider
	// batch's reference) as their result; it returns how many moved.
	// FinishItem finishes a submitted item as it does a pending one.
	SubmitItems(ctx context.Context, batchID string, lines []int, ref []byte) (int, error)

	// PruneBatches deletes finished batches (and their items) created
	// before before, and files created before before that no unfinished
	// batch reads; it returns how many batches and files went.
	PruneBatches(ctx context.Context, before time.Time) (batches, files int64, err error)
}

// Batch statuses, as the OpenAI Batch API names them.
const (
	BatchValidating = "validating"
	BatchFailed     = "failed"
	BatchInProgress = "in_progress"
	BatchFinalizing = "finalizing"
	BatchCompleted  = "completed"
	BatchExpired    = "expired"
	BatchCancelling = "cancelling"
	BatchCancelled  = "cancelled"
)

// Item states.
const (
	ItemPending   = "pending"
	ItemCompleted = "completed"
	ItemFailed    = "failed"
	// ItemSubmitted: sent to a provider's own batch API; its result column
	// holds the reference to that batch until FinishItem.
	ItemSubmitted = "submitted"
)

// Batch is one batch and its progress.
type Batch struct {
	ID               string
	ProjectID        string
	KeyID            string // the key that created it ("" on an open gateway)
	Endpoint         string
	InputFileID      string
	CompletionWindow string
	Status           string
	OutputFileID     string
	ErrorFileID      string
	// Metadata is the client's metadata object (JSON), nil when none;
	// Errors the batch's errors list object (JSON), nil when none.
	Metadata []byte
	Errors   []byte
	// Total, Completed and Failed are the request counts.
	Total, Completed, Failed int
	CreatedAt                time.Time
	ExpiresAt                time.Time
	// Times of the status changes; zero until they happen.
	InProgressAt, FinalizingAt, CompletedAt, FailedAt, ExpiredAt, CancellingAt, CancelledAt time.Time
}

// BatchItem is one line of a batch's input file and, once run, its result
// line for the output or error file.
type BatchItem struct {
	Line     int // 1-based line number in the input file
	CustomID string
	// Body is the request line as uploaded (JSON).
	Body   []byte
	State  string
	Result []byte
}

// BatchUpdate is a status transition and what comes with it.
type BatchUpdate struct {
	// From guards the transition: it applies only while the status is one
	// of these. Required.
	From []string
	// Status is the new status; its time (in_progress_at, …) is set to now.
	Status string
	// Errors, OutputFileID and ErrorFileID are set when not empty.
	Errors                    []byte
	OutputFileID, ErrorFileID string
	// Items are inserted (validation); Total is set to len(Items) and the
	// items already failed are counted.
	Items []BatchItem
	// Files are stored (finalization).
	Files []File
}

// statusTimeColumn is the column of the time a batch entered status.
var statusTimeColumn = map[string]string{
	BatchInProgress: "in_progress_at",
	BatchFinalizing: "finalizing_at",
	BatchCompleted:  "completed_at",
	BatchFailed:     "failed_at",
	BatchExpired:    "expired_at",
	BatchCancelling: "cancelling_at",
	BatchCancelled:  "cancelled_at",
}

const batchColumns = `id, project_id, key_id, endpoint, input_file_id, completion_window, status, output_file_id,
error_file_id, metadata, errors, total, completed, failed, created_at, expires_at, in_progress_at, finalizing_at,
completed_at, failed_at, expired_at, cancelling_at, cancelled_at`

func scanBatch(r row, b *Batch) error {
	return r.Scan(&b.ID, &b.ProjectID, &b.KeyID, &b.Endpoint, &b.InputFileID, &b.CompletionWindow, &b.Status,
		&b.OutputFileID, &b.ErrorFileID, &b.Metadata, &b.Errors, &b.Total, &b.Completed, &b.Failed,
		&nullTime{&b.CreatedAt}, &nullTime{&b.ExpiresAt}, &nullTime{&b.InProgressAt}, &nullTime{&b.FinalizingAt},
		&nullTime{&b.CompletedAt}, &nullTime{&b.FailedAt}, &nullTime{&b.ExpiredAt}, &nullTime{&b.CancellingAt},
		&nullTime{&b.CancelledAt})
}

// CreateBatch implements Batches.
func (s *sqlStore) CreateBatch(ctx context.Context, b Batch) (Batch, error) {
	if b.ProjectID == "" || b.Endpoint == "" || b.InputFileID == "" || b.ExpiresAt.IsZero() {
		return Batch{}, fmt.Errorf("create batch: %w: project, endpoint, input file and expiry are required", ErrInvalid)
	}
	if b.ID == "" {
		b.ID = newID("batch")
	}
	if b.CreatedAt.IsZero() {
		b.CreatedAt = s.clock()
	}
	b.CreatedAt, b.ExpiresAt = utc(b.CreatedAt), utc(b.ExpiresAt)
	b.Status = BatchValidating
	_, err := s.b.exec(ctx, `INSERT INTO batches (id, project_id, key_id, endpoint, input_file_id, completion_window,
status, metadata, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		b.ID, b.ProjectID, b.KeyID, b.Endpoint, b.InputFileID, b.CompletionWindow, b.Status, nilIfEmpty(b.Metadata),
		b.CreatedAt, b.ExpiresAt)
	if err != nil {
		return Batch{}, fmt.Errorf("create batch: %w", err)
	}
	return b, nil
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Batch implements Batches.
func (s *sqlStore) Batch(ctx context.Context, projectID, id string) (Batch, error) {
	var b Batch
	err := scanBatch(s.b.queryRow(ctx, `SELECT `+batchColumns+` FROM batches WHERE id = $1 AND ($2 = '' OR project_id = $2)`, id, projectID), &b)
	if err != nil {
		return Batch{}, notFound(err, "batch", id)
	}
	return b, nil
}

// ListBatches implements Batches.
func (s *sqlStore) ListBatches(ctx context.Context, projectID, after string, limit int) ([]Batch, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("list batches: limit: %w", ErrInvalid)
	}
	var out []Batch
	err := s.b.snapshot(ctx, func(q querier) error {
		query := `SELECT ` + batchColumns + ` FROM batches WHERE project_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`
		args := []any{projectID, limit + 1}
		if after != "" {
			var at time.Time
			if err := q.queryRow(ctx, `SELECT created_at FROM batches WHERE id = $1 AND project_id = $2`, after, projectID).
				Scan(&nullTime{&at}); err != nil {
				return notFound(err, "batch", after)
			}
			query = `SELECT ` + batchColumns + ` FROM batches WHERE project_id = $1
AND (created_at < $3 OR (created_at = $3 AND id < $4)) ORDER BY created_at DESC, id DESC LIMIT $2`
			args = append(args, at, after)
		}
		var err error
		out, err = queryBatches(ctx, q, query, args...)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("list batches: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

func queryBatches(ctx context.Context, q querier, query string, args ...any) ([]Batch, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Batch
	for rs.Next() {
		var b Batch
		if err := scanBatch(rs, &b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rs.Err()
}

// ActiveBatches implements Batches.
func (s *sqlStore) ActiveBatches(ctx context.Context) ([]Batch, error) {
	out, err := queryBatches(ctx, s.b, `SELECT `+batchColumns+` FROM batches WHERE status IN ($1, $2, $3, $4)
ORDER BY created_at, id`, BatchValidating, BatchInProgress, BatchFinalizing, BatchCancelling)
	if err != nil {
		return nil, fmt.Errorf("active batches: %w", err)
	}
	return out, nil
}

// UpdateBatch implements Batches.
func (s *sqlStore) UpdateBatch(ctx context.Context, id string, u BatchUpdate) (bool, error) {
	col, ok := statusTimeColumn[u.Status]
	if !ok || len(u.From) == 0 {
		return false, fmt.Errorf("update batch %q: %w: status %q from %v", id, ErrInvalid, u.Status, u.From)
	}
	now := s.clock()
	applied := false
	err := s.b.write(ctx, func(q querier) error {
		var status string
		if err := q.queryRow(ctx, `SELECT status FROM batches WHERE id = $1`+s.b.forUpdate(), id).Scan(&status); err != nil {
			return notFound(err, "batch", id)
		}
		if !contains(u.From, status) {
			return nil
		}
		set := []string{"status = $2", col + " = $3"}
		args := []any{id, u.Status, now}
		add := func(expr string, v any) {
			args = append(args, v)
			set = append(set, fmt.Sprintf(expr, len(args)))
		}
		if len(u.Errors) > 0 {
			add("errors = $%d", u.Errors)
		}
		if u.OutputFileID != "" {
			add("output_file_id = $%d", u.OutputFileID)
		}
		if u.ErrorFileID != "" {
			add("error_file_id = $%d", u.ErrorFileID)
		}
		if u.Items != nil {
			failed := 0
			for _, it := range u.Items {
				state := it.State
				if state == "" {
					state = ItemPending
				}
				if state == ItemFailed {
					failed++
				}
				if _, err := q.exec(ctx, `INSERT INTO batch_items (batch_id, line, custom_id, body, state, result)
VALUES ($1, $2, $3, $4, $5, $6)`, id, it.Line, it.CustomID, it.Body, state, nilIfEmpty(it.Result)); err != nil {
					return fmt.Errorf("batch item %d: %w", it.Line, err)
				}
			}
			add("total = $%d", len(u.Items))
			add("failed = $%d", failed)
		}
		for _, f := range u.Files {
			if _, err := s.putFile(ctx, q, f); err != nil {
				return err
			}
		}
		if _, err := q.exec(ctx, `UPDATE batches SET `+strings.Join(set, ", ")+` WHERE id = $1`, args...); err != nil {
			return err
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("update batch %q: %w", id, err)
	}
	return applied, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ClaimBatch implements Batches.
func (s *sqlStore) ClaimBatch(ctx context.Context, id, owner string, until time.Time) (bool, error) {
	n, err := s.b.exec(ctx, `UPDATE batches SET owner = $2, lease_until = $3
WHERE id = $1 AND (owner = $2 OR owner = '' OR lease_until IS NULL OR lease_until < $4)`, id, owner, utc(until), s.clock())
	if err != nil {
		return false, fmt.Errorf("claim batch %q: %w", id, err)
	}
	return n == 1, nil
}

// ReleaseBatch implements Batches.
func (s *sqlStore) ReleaseBatch(ctx context.Context, id, owner string) error {
	if _, err := s.b.exec(ctx, `UPDATE batches SET owner = '', lease_until = NULL WHERE id = $1 AND owner = $2`, id, owner); err != nil {
		return fmt.Errorf("release batch %q: %w", id, err)
	}
	return nil
}

// BatchItems implements Batches.
func (s *sqlStore) BatchItems(ctx context.Context, batchID, state string, afterLine, limit int) ([]BatchItem, error) {
	rs, err := s.b.query(ctx, `SELECT line, custom_id, body, state, result FROM batch_items
WHERE batch_id = $1 AND ($2 = '' OR state = $2) AND line > $3 ORDER BY line LIMIT $4`, batchID, state, afterLine, limit)
	if err != nil {
		return nil, fmt.Errorf("batch items %q: %w", batchID, err)
	}
	defer rs.Close()
	var out []BatchItem
	for rs.Next() {
		var it BatchItem
		if err := rs.Scan(&it.Line, &it.CustomID, &it.Body, &it.State, &it.Result); err != nil {
			return nil, fmt.Errorf("batch items %q: %w", batchID, err)
		}
		out = append(out, it)
	}
	return out, rs.Err()
}

// FinishItem implements Batches.
func (s *sqlStore) FinishItem(ctx context.Context, batchID string, line int, state string, result []byte) (bool, error) {
	counter := ""
	switch state {
	case ItemCompleted:
		counter = "completed"
	case ItemFailed:
		counter = "failed"
	default:
		return false, fmt.Errorf("finish item: %w: state %q", ErrInvalid, state)
	}
	done := false
	err := s.b.write(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE batch_items SET state = $3, result = $4 WHERE batch_id = $1 AND line = $2 AND state IN ($5, $6)`,
			batchID, line, state, result, ItemPending, ItemSubmitted)
		if err != nil || n == 0 {
			return err
		}
		if _, err := q.exec(ctx, `UPDATE batches SET `+counter+` = `+counter+` + 1 WHERE id = $1`, batchID); err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("finish item %s:%d: %w", batchID, line, err)
	}
	return done, nil
}

// SubmitItems implements Batches.
func (s *sqlStore) SubmitItems(ctx context.Context, batchID string, lines []int, ref []byte) (int, error) {
	moved := 0
	err := s.b.write(ctx, func(q querier) error {
		moved = 0
		for _, line := range lines {
			n, err := q.exec(ctx, `UPDATE batch_items SET state = $3, result = $4 WHERE batch_id = $1 AND line = $2 AND state = $5`,
				batchID, line, ItemSubmitted, ref, ItemPending)
			if err != nil {
				return err
			}
			moved += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("submit items of %s: %w", batchID, err)
	}
	return moved, nil
}

// PruneBatches implements Batches.
func (s *sqlStore) PruneBatches(ctx context.Context, before time.Time) (int64, int64, error) {
	var nb, nf int64
	before = utc(before)
	err := s.b.write(ctx, func(q querier) error {
		finished := `status IN ('` + strings.Join([]string{BatchCompleted, BatchFailed, BatchExpired, BatchCancelled}, "', '") + `')`
		if _, err := q.exec(ctx, `DELETE FROM batch_items WHERE batch_id IN
(SELECT id FROM batches WHERE created_at < $1 AND `+finished+`)`, before); err != nil {
			return err
		}
		var err error
		if nb, err = q.exec(ctx, `DELETE FROM batches WHERE created_at < $1 AND `+finished, before); err != nil {
			return err
		}
		nf, err = q.exec(ctx, `DELETE FROM files WHERE created_at < $1
AND id NOT IN (SELECT input_file_id FROM batches WHERE NOT `+finished+`)`, before)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("prune batches: %w", err)
	}
	return nb, nf, nil
}
