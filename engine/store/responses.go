package store

import (
	"context"
	"fmt"
	"time"
)

// Responses keeps the OpenAI Responses API's stored responses
// (POST /v1/responses with store: true), each scoped to the project that
// created it.
type Responses interface {
	// PutResponse stores a response; an existing id is replaced (ids are
	// random, so only a retry of the same response replaces anything).
	PutResponse(ctx context.Context, r StoredResponse) error
	// Response returns a project's stored response. ErrNotFound when there
	// is none with that id in that project: another project's response is
	// not found, never forbidden, so that ids reveal nothing.
	Response(ctx context.Context, projectID, id string) (StoredResponse, error)
	// DeleteResponse deletes a project's stored response; ErrNotFound when
	// there is none.
	DeleteResponse(ctx context.Context, projectID, id string) error
	// PruneResponses deletes responses created before before and returns
	// how many.
	PruneResponses(ctx context.Context, before time.Time) (int64, error)
}

// StoredResponse is a stored response object and the conversation that
// produced it.
type StoredResponse struct {
	ID        string
	ProjectID string
	CreatedAt time.Time
	// Response is the response object as it was returned (JSON).
	Response []byte
	// InputItems is the JSON array of the conversation's input items, a
	// previous response's included: what GET …/input_items lists and what
	// a response chained on this one continues.
	InputItems []byte
	// Upstream is the provider that also stores the response and its
	// conversation (a Responses API passthrough to OpenAI), so that a
	// request chained on it to that provider forwards previous_response_id;
	// "" when only the gateway has it.
	Upstream string
}

// PutResponse implements Responses.
func (s *sqlStore) PutResponse(ctx context.Context, r StoredResponse) error {
	if r.ID == "" || r.ProjectID == "" || len(r.Response) == 0 {
		return fmt.Errorf("put response: %w: id, project and response are required", ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.clock()
	}
	if len(r.InputItems) == 0 {
		r.InputItems = []byte("[]")
	}
	return s.b.write(ctx, func(q querier) error {
		if _, err := q.exec(ctx, `DELETE FROM responses WHERE id = $1`, r.ID); err != nil {
			return fmt.Errorf("put response %q: %w", r.ID, err)
		}
		if _, err := q.exec(ctx, `INSERT INTO responses (id, project_id, created_at, response, input_items, upstream)
VALUES ($1, $2, $3, $4, $5, $6)`, r.ID, r.ProjectID, utc(r.CreatedAt), r.Response, r.InputItems, r.Upstream); err != nil {
			return fmt.Errorf("put response %q: %w", r.ID, err)
		}
		return nil
	})
}

// Response implements Responses.
func (s *sqlStore) Response(ctx context.Context, projectID, id string) (StoredResponse, error) {
	r := StoredResponse{ID: id, ProjectID: projectID}
	err := s.b.queryRow(ctx, `SELECT created_at, response, input_items, upstream FROM responses WHERE id = $1 AND project_id = $2`, id, projectID).
		Scan(&nullTime{&r.CreatedAt}, &r.Response, &r.InputItems, &r.Upstream)
	if err != nil {
		return StoredResponse{}, notFound(err, "response", id)
	}
	return r, nil
}

// DeleteResponse implements Responses.
func (s *sqlStore) DeleteResponse(ctx context.Context, projectID, id string) error {
	n, err := s.b.exec(ctx, `DELETE FROM responses WHERE id = $1 AND project_id = $2`, id, projectID)
	if err != nil {
		return fmt.Errorf("delete response %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("response %q: %w", id, ErrNotFound)
	}
	return nil
}

// PruneResponses implements Responses.
func (s *sqlStore) PruneResponses(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.b.exec(ctx, `DELETE FROM responses WHERE created_at < $1`, utc(before))
	if err != nil {
		return 0, fmt.Errorf("prune responses: %w", err)
	}
	return n, nil
}
