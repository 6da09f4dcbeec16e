package store

import (
	"context"
	"fmt"
	"time"
)

// The Files API's half of Batches: a project's files (batch input, output
// and error files).

// File is an uploaded file (purpose batch) or a batch's output or error
// file (purpose batch_output).
type File struct {
	ID        string
	ProjectID string
	Purpose   string
	Filename  string
	Bytes     int64
	CreatedAt time.Time
	// Content is set by FileContent and PutFile only.
	Content []byte
}

// FileQuery selects a page of a project's files (OpenAI's list files:
// https://platform.openai.com/docs/api-reference/files/list).
type FileQuery struct {
	// Purpose filters when not empty.
	Purpose string
	// After is the last id of the previous page (empty for the first).
	After string
	// Limit bounds the page (default 10,000).
	Limit int
	// Ascending lists oldest first; the default is newest first.
	Ascending bool
}

const fileColumns = `id, project_id, purpose, filename, bytes, created_at`

func scanFile(r row, f *File, content bool) error {
	dest := []any{&f.ID, &f.ProjectID, &f.Purpose, &f.Filename, &f.Bytes, &nullTime{&f.CreatedAt}}
	if content {
		dest = append(dest, &f.Content)
	}
	return r.Scan(dest...)
}

// PutFile implements Batches.
func (s *sqlStore) PutFile(ctx context.Context, f File) (File, error) {
	err := s.b.write(ctx, func(q querier) error {
		var err error
		f, err = s.putFile(ctx, q, f)
		return err
	})
	return f, err
}

func (s *sqlStore) putFile(ctx context.Context, q querier, f File) (File, error) {
	if f.ProjectID == "" || f.Purpose == "" {
		return File{}, fmt.Errorf("put file: %w: project and purpose are required", ErrInvalid)
	}
	if f.ID == "" {
		f.ID = "file-" + randomBase62(24)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.clock()
	}
	if f.Content == nil {
		f.Content = []byte{}
	}
	f.Bytes = int64(len(f.Content))
	if _, err := q.exec(ctx, `INSERT INTO files (id, project_id, purpose, filename, bytes, created_at, content)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, f.ID, f.ProjectID, f.Purpose, f.Filename, f.Bytes, utc(f.CreatedAt), f.Content); err != nil {
		return File{}, fmt.Errorf("put file %q: %w", f.ID, err)
	}
	return f, nil
}

// File implements Batches.
func (s *sqlStore) File(ctx context.Context, projectID, id string) (File, error) {
	var f File
	err := scanFile(s.b.queryRow(ctx, `SELECT `+fileColumns+` FROM files WHERE id = $1 AND project_id = $2`, id, projectID), &f, false)
	if err != nil {
		return File{}, notFound(err, "file", id)
	}
	return f, nil
}

// FileContent implements Batches.
func (s *sqlStore) FileContent(ctx context.Context, projectID, id string) (File, error) {
	var f File
	err := scanFile(s.b.queryRow(ctx, `SELECT `+fileColumns+`, content FROM files WHERE id = $1 AND project_id = $2`, id, projectID), &f, true)
	if err != nil {
		return File{}, notFound(err, "file", id)
	}
	return f, nil
}

// ListFiles implements Batches. Files created in the same instant keep
// one order, by id, so a cursor never skips or repeats one.
func (s *sqlStore) ListFiles(ctx context.Context, projectID string, q FileQuery) ([]File, bool, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 10000
	}
	dir, cmp := "DESC", "<"
	if q.Ascending {
		dir, cmp = "ASC", ">"
	}
	var out []File
	err := s.b.snapshot(ctx, func(db querier) error {
		where := `project_id = $1 AND ($2 = '' OR purpose = $2)`
		args := []any{projectID, q.Purpose, limit + 1}
		if q.After != "" {
			var at time.Time
			if err := db.queryRow(ctx, `SELECT created_at FROM files WHERE id = $1 AND project_id = $2`, q.After, projectID).
				Scan(&nullTime{&at}); err != nil {
				return notFound(err, "file", q.After)
			}
			where += ` AND (created_at ` + cmp + ` $4 OR (created_at = $4 AND id ` + cmp + ` $5))`
			args = append(args, at, q.After)
		}
		rs, err := db.query(ctx, `SELECT `+fileColumns+` FROM files WHERE `+where+`
ORDER BY created_at `+dir+`, id `+dir+` LIMIT $3`, args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var f File
			if err := scanFile(rs, &f, false); err != nil {
				return err
			}
			out = append(out, f)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, false, fmt.Errorf("list files: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// DeleteFile implements Batches.
func (s *sqlStore) DeleteFile(ctx context.Context, projectID, id string) error {
	n, err := s.b.exec(ctx, `DELETE FROM files WHERE id = $1 AND project_id = $2`, id, projectID)
	if err != nil {
		return fmt.Errorf("delete file %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("file %q: %w", id, ErrNotFound)
	}
	return nil
}
