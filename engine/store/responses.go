package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
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
	// a response chained on this one continues. Response returns the whole
	// conversation however the row stores it.
	InputItems []byte
	// Prev and Inherited, for PutResponse only: Prev is the previous
	// response (previous_response_id) of the same project whose
	// conversation — its input items, then its output items — the first
	// Inherited items of InputItems are. The row then stores only the
	// items after them (a delta). "" stores a full copy. Response leaves
	// both zero.
	Prev      string
	Inherited int
	// Upstream is the provider that also stores the response and its
	// conversation (a Responses API passthrough to OpenAI), so that a
	// request chained on it to that provider forwards previous_response_id;
	// "" when only the gateway has it.
	Upstream string
}

// A response chained on another (previous_response_id) is stored as a
// delta: its row's input_items holds only the items its request added, and
// prev_id names the previous response, whose conversation (its own
// conversation, then its response's output items) precedes them. A row
// with an empty prev_id is a checkpoint: a full copy of its conversation, as
// every row written before migration 9 is. Response rebuilds a delta's
// conversation by walking prev_id to the checkpoint (one recursive query)
// and concatenating, byte for byte what a full copy would hold.
//
// A response is stored as a checkpoint instead of a delta when its previous
// response is gone (deleted or pruned while it ran), when the walk would
// pass checkpointHops rows, or when its conversation is more than twice its
// checkpoint's (the bytes a read would assemble from deltas and outputs
// would then exceed the checkpoint's own). The byte rule makes checkpoints
// at least double along a chain, so that they sum to less than twice the
// last conversation and the deltas to less than once (each new item is in
// one delta): about 3× linear instead of quadratic; the hop rule bounds a
// read to checkpointHops rows whatever the items' sizes, at the cost of a
// full copy every checkpointHops turns of a long chain whose turns are
// small. Each row records depth (hops to its checkpoint) and base_bytes
// (its checkpoint's size), so that the rule needs one row of the previous
// response.
//
// Deleting or pruning a response first rewrites the responses chained
// directly on it as checkpoints, in the same transaction, so that no
// chain is ever broken; their descendants' depth and base_bytes then
// overstate and understate, which only brings their next checkpoint
// earlier.
const checkpointHops = 32

// splitItems appends the elements of the JSON array a to items; what is
// not an array adds nothing (as conversationOf in the engine reads it).
func splitItems(items [][]byte, a []byte) [][]byte {
	_ = jsonscan.ArrayEach(a, func(_ int, it []byte) error {
		items = append(items, it)
		return nil
	})
	return items
}

// joinItems is items as a JSON array, as the engine writes one.
func joinItems(items [][]byte) []byte {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
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
	var delta []byte
	if r.Prev != "" {
		items := splitItems(nil, r.InputItems)
		if r.Inherited < 0 || r.Inherited > len(items) {
			return fmt.Errorf("put response %q: %w: %d inherited items of %d", r.ID, ErrInvalid, r.Inherited, len(items))
		}
		delta = joinItems(items[r.Inherited:])
	}
	return s.b.write(ctx, func(q querier) error {
		// A retry replacing a response keeps the responses chained on it.
		if err := s.detachChildren(ctx, q, `p.id = $1`, r.ID); err != nil {
			return fmt.Errorf("put response %q: %w", r.ID, err)
		}
		if _, err := q.exec(ctx, `DELETE FROM responses WHERE id = $1`, r.ID); err != nil {
			return fmt.Errorf("put response %q: %w", r.ID, err)
		}
		in, prev, depth, base := r.InputItems, "", int64(0), int64(len(r.InputItems))
		if r.Prev != "" {
			// The lock holds off a delete or prune of the previous response
			// until this row is in (PostgreSQL; SQLite's writer is alone).
			var pPrev string
			var pDepth, pBase, pLen int64
			err := q.queryRow(ctx, `SELECT prev_id, depth, base_bytes, length(input_items) FROM responses
WHERE id = $1 AND project_id = $2`+s.b.forUpdate(), r.Prev, r.ProjectID).Scan(&pPrev, &pDepth, &pBase, &pLen)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				// gone (or another project's): a full copy
			case err != nil:
				return fmt.Errorf("put response %q: previous %q: %w", r.ID, r.Prev, err)
			default:
				if pPrev == "" {
					pDepth, pBase = 0, pLen
				}
				if pDepth+1 < checkpointHops && int64(len(r.InputItems)) <= 2*pBase {
					in, prev, depth, base = delta, r.Prev, pDepth+1, pBase
				}
			}
		}
		if _, err := q.exec(ctx, `INSERT INTO responses (id, project_id, created_at, response, input_items, upstream, prev_id, depth, base_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.ID, r.ProjectID, utc(r.CreatedAt), r.Response, in, r.Upstream, prev, depth, base); err != nil {
			return fmt.Errorf("put response %q: %w", r.ID, err)
		}
		return nil
	})
}

// chainSQL reads a response and the rows its conversation is rebuilt from,
// the checkpoint first.
const chainSQL = `WITH RECURSIVE chain (hop, id, prev_id, created_at, upstream, response, input_items) AS (
	SELECT 0, id, prev_id, created_at, upstream, response, input_items FROM responses WHERE id = $1 AND project_id = $2
	UNION ALL
	SELECT chain.hop + 1, r.id, r.prev_id, r.created_at, r.upstream, r.response, r.input_items
	FROM chain JOIN responses r ON r.id = chain.prev_id AND r.project_id = $2
	WHERE chain.prev_id <> '' AND chain.hop < $3
)
SELECT hop, prev_id, created_at, upstream, response, input_items FROM chain ORDER BY hop DESC`

// loadResponse reads a project's response with its whole conversation
// (see checkpointHops).
func loadResponse(ctx context.Context, q querier, projectID, id string) (StoredResponse, error) {
	rs, err := q.query(ctx, chainSQL, id, projectID, checkpointHops)
	if err != nil {
		return StoredResponse{}, fmt.Errorf("response %q: %w", id, err)
	}
	defer rs.Close()
	var (
		r     StoredResponse
		items [][]byte
		prevR []byte // the previous row's response
		n     int
	)
	for rs.Next() {
		var hop int
		var prev string
		var created time.Time
		var upstream string
		var resp, in []byte
		if err := rs.Scan(&hop, &prev, &nullTime{&created}, &upstream, &resp, &in); err != nil {
			return StoredResponse{}, fmt.Errorf("response %q: %w", id, err)
		}
		switch {
		case n == 0 && prev != "":
			return StoredResponse{}, fmt.Errorf("response %q: the conversation's chain is broken at %q", id, prev)
		case n == 0 && hop == 0:
			items = nil // a checkpoint read alone: its bytes as stored
		case n == 0:
			items = splitItems(items, in)
		default:
			items = splitItems(items, jsonscan.Get(prevR, "output"))
			items = splitItems(items, in)
		}
		prevR = resp
		n++
		if hop == 0 {
			r = StoredResponse{ID: id, ProjectID: projectID, CreatedAt: created, Response: resp, InputItems: in, Upstream: upstream}
			if n > 1 {
				r.InputItems = joinItems(items)
			}
		}
	}
	if err := rs.Err(); err != nil {
		return StoredResponse{}, fmt.Errorf("response %q: %w", id, err)
	}
	if n == 0 {
		return StoredResponse{}, fmt.Errorf("response %q: %w", id, ErrNotFound)
	}
	return r, nil
}

// Response implements Responses.
func (s *sqlStore) Response(ctx context.Context, projectID, id string) (StoredResponse, error) {
	return loadResponse(ctx, s.b, projectID, id)
}

// detachChildren rewrites as checkpoints (full copies) the responses
// chained directly on the responses p that cond selects (over the join of
// child c and parent p), so that p can go; cond's arguments are args.
func (s *sqlStore) detachChildren(ctx context.Context, q querier, cond string, args ...any) error {
	rs, err := q.query(ctx, `SELECT c.id, c.project_id FROM responses c
JOIN responses p ON p.id = c.prev_id AND p.project_id = c.project_id WHERE `+cond, args...)
	if err != nil {
		return fmt.Errorf("chained responses: %w", err)
	}
	var kids [][2]string
	for rs.Next() {
		var id, project string
		if err := rs.Scan(&id, &project); err != nil {
			rs.Close()
			return fmt.Errorf("chained responses: %w", err)
		}
		kids = append(kids, [2]string{id, project})
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("chained responses: %w", err)
	}
	for _, k := range kids {
		r, err := loadResponse(ctx, q, k[1], k[0])
		if err != nil {
			return err
		}
		if _, err := q.exec(ctx, `UPDATE responses SET input_items = $1, prev_id = '', depth = 0, base_bytes = $2
WHERE id = $3 AND project_id = $4`, r.InputItems, len(r.InputItems), k[0], k[1]); err != nil {
			return fmt.Errorf("checkpoint response %q: %w", k[0], err)
		}
	}
	return nil
}

// DeleteResponse implements Responses. The responses chained on it become
// checkpoints first.
func (s *sqlStore) DeleteResponse(ctx context.Context, projectID, id string) error {
	return s.b.write(ctx, func(q querier) error {
		var one int
		if err := q.queryRow(ctx, `SELECT 1 FROM responses WHERE id = $1 AND project_id = $2`+s.b.forUpdate(), id, projectID).Scan(&one); err != nil {
			return notFound(err, "response", id)
		}
		if err := s.detachChildren(ctx, q, `p.id = $1 AND p.project_id = $2`, id, projectID); err != nil {
			return fmt.Errorf("delete response %q: %w", id, err)
		}
		if _, err := q.exec(ctx, `DELETE FROM responses WHERE id = $1 AND project_id = $2`, id, projectID); err != nil {
			return fmt.Errorf("delete response %q: %w", id, err)
		}
		return nil
	})
}

// PruneResponses implements Responses. The responses kept that are chained
// on one pruned become checkpoints first.
func (s *sqlStore) PruneResponses(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.b.write(ctx, func(q querier) error {
		if lock := s.b.forUpdate(); lock != "" {
			// Lock the rows to prune first, so that a response being chained
			// on one of them either is seen below or finds it gone.
			var locked int64
			if err := q.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM responses WHERE created_at < $1`+lock+`) AS pruned`,
				utc(before)).Scan(&locked); err != nil {
				return fmt.Errorf("prune responses: %w", err)
			}
		}
		if err := s.detachChildren(ctx, q, `p.created_at < $1 AND c.created_at >= $1`, utc(before)); err != nil {
			return fmt.Errorf("prune responses: %w", err)
		}
		var err error
		if n, err = q.exec(ctx, `DELETE FROM responses WHERE created_at < $1`, utc(before)); err != nil {
			return fmt.Errorf("prune responses: %w", err)
		}
		return nil
	})
	return n, err
}
