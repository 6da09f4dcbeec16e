package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Kinds of config_changes rows.
const (
	changeProject = "project"
	changeKey     = "key"
)

// changeRetention is how many versions of change history are kept; a
// replica further behind than that reloads everything (Changes.Reset).
const changeRetention = 10000

// errNoChange rolls back a write transaction that turned out to change
// nothing (so that the version is not bumped); the method returns nil.
var errNoChange = errors.New("no change")

// bump takes the config_version row lock and increments it. Every write
// that changes projects or keys calls it first: the row lock serialises
// those writes, so versions are committed in increasing order and a reader
// that sees version v has seen every change up to v. Taking it first also
// gives every such transaction the same lock order (no deadlocks).
func (s *sqlStore) bump(ctx context.Context, q querier) (int64, error) {
	var v int64
	if err := q.queryRow(ctx, `UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("bump config version: %w", err)
	}
	if v%100 == 0 { // prune now and then, not on every write
		if _, err := q.exec(ctx, `DELETE FROM config_changes WHERE version <= $1`, v-changeRetention); err != nil {
			return 0, fmt.Errorf("prune config changes: %w", err)
		}
	}
	return v, nil
}

func (s *sqlStore) changed(ctx context.Context, q querier, v int64, kind string, ids ...string) error {
	for _, id := range ids {
		if _, err := q.exec(ctx, `INSERT INTO config_changes (version, kind, id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, v, kind, id); err != nil {
			return fmt.Errorf("record change: %w", err)
		}
	}
	return nil
}

// ConfigVersion implements Tenancy.
func (s *sqlStore) ConfigVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.b.queryRow(ctx, `SELECT version FROM config_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("config version: %w", err)
	}
	return v, nil
}

// ChangesSince implements Tenancy.
func (s *sqlStore) ChangesSince(ctx context.Context, since int64) (Changes, error) {
	var c Changes
	err := s.b.snapshot(ctx, func(q querier) error {
		if err := q.queryRow(ctx, `SELECT version FROM config_version WHERE id = 1`).Scan(&c.Version); err != nil {
			return err
		}
		if since < 0 || since > c.Version || since < c.Version-changeRetention {
			c.Reset = true
			return nil
		}
		if since == c.Version {
			return nil
		}
		rs, err := q.query(ctx, `SELECT DISTINCT kind, id FROM config_changes WHERE version > $1 AND version <= $2 ORDER BY kind, id`, since, c.Version)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var kind, id string
			if err := rs.Scan(&kind, &id); err != nil {
				return err
			}
			switch kind {
			case changeProject:
				c.Projects = append(c.Projects, id)
			case changeKey:
				c.Keys = append(c.Keys, id)
			}
		}
		return rs.Err()
	})
	if err != nil {
		return Changes{}, fmt.Errorf("changes since %d: %w", since, err)
	}
	return c, nil
}

const projectColumns = `id, name, rpm, tpm, budget_usd, budget_period, models, default_model, cache_namespace, skills, strip_boilerplate, static, created_at, updated_at`

func scanProject(r row) (Project, error) {
	var (
		p      Project
		models []byte
	)
	err := r.Scan(&p.ID, &p.Name, &p.RPM, &p.TPM, &p.BudgetUSD, &p.BudgetPeriod, &models,
		&p.DefaultModel, &p.CacheNamespace, &p.Skills, &p.StripBoilerplate, &p.Static,
		&nullTime{&p.CreatedAt}, &nullTime{&p.UpdatedAt})
	if err != nil {
		return Project{}, err
	}
	if err := json.Unmarshal(models, &p.Models); err != nil {
		return Project{}, fmt.Errorf("project %s: models: %w", p.ID, err)
	}
	if len(p.Models) == 0 {
		p.Models = nil
	}
	return p, nil
}

// normalizeProject validates p and fills its defaults.
func normalizeProject(p *Project) error {
	p.Name = strings.TrimSpace(p.Name)
	switch {
	case !validID(p.ID):
		return fmt.Errorf("project id %q: %w: 1 to 64 characters of A-Z a-z 0-9 _ - .", p.ID, ErrInvalid)
	case p.Name == "" || len(p.Name) > 200:
		return fmt.Errorf("project name: %w: 1 to 200 characters", ErrInvalid)
	case p.RPM < 0 || p.TPM < 0:
		return fmt.Errorf("project rpm/tpm: %w: negative", ErrInvalid)
	case p.BudgetUSD < 0 || math.IsNaN(p.BudgetUSD) || math.IsInf(p.BudgetUSD, 0):
		return fmt.Errorf("project budget_usd: %w: want a finite amount >= 0", ErrInvalid)
	}
	switch p.BudgetPeriod {
	case "":
		p.BudgetPeriod = PeriodMonth
	case PeriodDay, PeriodMonth:
	default:
		return fmt.Errorf("project budget_period %q: %w: want day or month", p.BudgetPeriod, ErrInvalid)
	}
	var models []string
	for _, m := range p.Models {
		m = strings.TrimSpace(m)
		if m == "" {
			return fmt.Errorf("project models: %w: empty entry", ErrInvalid)
		}
		if !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	p.Models = models
	p.DefaultModel = strings.TrimSpace(p.DefaultModel)
	p.CacheNamespace = strings.TrimSpace(p.CacheNamespace)
	if p.CacheNamespace == "" {
		p.CacheNamespace = p.ID
	}
	return nil
}

func modelsJSON(m []string) string {
	if len(m) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(m) // []string always marshals
	return string(b)
}

func projectArgs(p *Project) []any {
	return []any{p.ID, p.Name, p.RPM, p.TPM, p.BudgetUSD, p.BudgetPeriod, modelsJSON(p.Models),
		p.DefaultModel, p.CacheNamespace, p.Skills, p.StripBoilerplate, p.Static, p.CreatedAt, p.UpdatedAt}
}

const insertProjectSQL = `INSERT INTO projects (` + projectColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING`

const updateProjectSQL = `UPDATE projects SET name = $2, rpm = $3, tpm = $4, budget_usd = $5, budget_period = $6,
models = $7, default_model = $8, cache_namespace = $9, skills = $10, strip_boilerplate = $11, static = $12,
created_at = $13, updated_at = $14 WHERE id = $1`

// CreateProject implements Tenancy.
func (s *sqlStore) CreateProject(ctx context.Context, p Project) (Project, error) {
	if p.Static {
		return Project{}, fmt.Errorf("create project: %w: static projects come from the configuration (SyncStatic)", ErrInvalid)
	}
	if p.ID == "" {
		p.ID = newID("proj")
	}
	p.Models = slices.Clone(p.Models)
	if err := normalizeProject(&p); err != nil {
		return Project{}, err
	}
	p.CreatedAt = s.clock()
	p.UpdatedAt = p.CreatedAt
	err := s.b.write(ctx, func(q querier) error {
		v, err := s.bump(ctx, q)
		if err != nil {
			return err
		}
		n, err := q.exec(ctx, insertProjectSQL, projectArgs(&p)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("project %q: %w: the id is taken", p.ID, ErrConflict)
		}
		return s.changed(ctx, q, v, changeProject, p.ID)
	})
	if err != nil {
		return Project{}, fmt.Errorf("create project: %w", err)
	}
	return p, nil
}

// Project implements Tenancy.
func (s *sqlStore) Project(ctx context.Context, id string) (Project, error) {
	p, err := scanProject(s.b.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	if err != nil {
		return Project{}, notFound(err, "project", id)
	}
	return p, nil
}

// ListProjects implements Tenancy.
func (s *sqlStore) ListProjects(ctx context.Context) ([]Project, error) {
	rs, err := s.b.query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rs.Close()
	var out []Project
	for rs.Next() {
		p, err := scanProject(rs)
		if err != nil {
			return nil, fmt.Errorf("list projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

func (p ProjectPatch) apply(dst *Project) {
	if p.Name.Set {
		dst.Name = p.Name.Value
	}
	if p.RPM.Set {
		dst.RPM = p.RPM.Value
	}
	if p.TPM.Set {
		dst.TPM = p.TPM.Value
	}
	if p.BudgetUSD.Set {
		dst.BudgetUSD = p.BudgetUSD.Value
	}
	if p.BudgetPeriod.Set {
		dst.BudgetPeriod = p.BudgetPeriod.Value
	}
	if p.Models.Set {
		dst.Models = slices.Clone(p.Models.Value)
	}
	if p.DefaultModel.Set {
		dst.DefaultModel = p.DefaultModel.Value
	}
	if p.CacheNamespace.Set {
		dst.CacheNamespace = p.CacheNamespace.Value
	}
	if p.Skills.Set {
		dst.Skills = cloneBool(p.Skills.Value)
	}
	if p.StripBoilerplate.Set {
		dst.StripBoilerplate = cloneBool(p.StripBoilerplate.Value)
	}
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// UpdateProject implements Tenancy.
func (s *sqlStore) UpdateProject(ctx context.Context, id string, patch ProjectPatch) (Project, error) {
	var p Project
	err := s.b.write(ctx, func(q querier) error {
		v, err := s.bump(ctx, q)
		if err != nil {
			return err
		}
		p, err = scanProject(q.queryRow(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`+s.b.forUpdate(), id))
		if err != nil {
			return notFound(err, "project", id)
		}
		if p.Static {
			return fmt.Errorf("project %q: %w", id, ErrReadOnly)
		}
		patch.apply(&p)
		if err := normalizeProject(&p); err != nil {
			return err
		}
		p.UpdatedAt = s.clock()
		if _, err := q.exec(ctx, updateProjectSQL, projectArgs(&p)...); err != nil {
			return err
		}
		return s.changed(ctx, q, v, changeProject, id)
	})
	if err != nil {
		return Project{}, fmt.Errorf("update project: %w", err)
	}
	return p, nil
}

// DeleteProject implements Tenancy.
func (s *sqlStore) DeleteProject(ctx context.Context, id string) error {
	err := s.b.write(ctx, func(q querier) error {
		v, err := s.bump(ctx, q)
		if err != nil {
			return err
		}
		var static bool
		if err := q.queryRow(ctx, `SELECT static FROM projects WHERE id = $1`+s.b.forUpdate(), id).Scan(&static); err != nil {
			return notFound(err, "project", id)
		}
		if static {
			return fmt.Errorf("project %q: %w", id, ErrReadOnly)
		}
		return s.deleteProject(ctx, q, v, id)
	})
	if err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	return nil
}

// deleteProject deletes a project row and revokes its keys, recording the
// changes under version v.
func (s *sqlStore) deleteProject(ctx context.Context, q querier, v int64, id string) error {
	if _, err := q.exec(ctx, `DELETE FROM projects WHERE id = $1`, id); err != nil {
		return err
	}
	rs, err := q.query(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE project_id = $1 AND revoked_at IS NULL RETURNING id`, id, s.clock())
	if err != nil {
		return err
	}
	var keys []string
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			rs.Close()
			return err
		}
		keys = append(keys, k)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	if err := s.changed(ctx, q, v, changeProject, id); err != nil {
		return err
	}
	return s.changed(ctx, q, v, changeKey, keys...)
}

// SyncStatic implements Tenancy.
func (s *sqlStore) SyncStatic(ctx context.Context, projects []Project) error {
	want := make(map[string]Project, len(projects))
	for _, p := range projects {
		p.Models = slices.Clone(p.Models)
		p.Static = true
		if err := normalizeProject(&p); err != nil {
			return fmt.Errorf("static project: %w", err)
		}
		if _, dup := want[p.ID]; dup {
			return fmt.Errorf("static project %q: %w: listed twice", p.ID, ErrInvalid)
		}
		want[p.ID] = p
	}
	err := s.b.write(ctx, func(q querier) error {
		v, err := s.bump(ctx, q)
		if err != nil {
			return err
		}
		have := map[string]Project{}
		rs, err := q.query(ctx, `SELECT `+projectColumns+` FROM projects`)
		if err != nil {
			return err
		}
		for rs.Next() {
			p, err := scanProject(rs)
			if err != nil {
				rs.Close()
				return err
			}
			have[p.ID] = p
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		now := s.clock()
		changes := 0
		for _, p := range projects { // in the caller's order, for deterministic errors
			p := want[p.ID]
			old, ok := have[p.ID]
			switch {
			case ok && !old.Static:
				return fmt.Errorf("static project %q: %w: a project created through the API has this id", p.ID, ErrConflict)
			case ok && sameProject(&old, &p):
				continue
			case ok:
				p.CreatedAt, p.UpdatedAt = old.CreatedAt, now
				_, err = q.exec(ctx, updateProjectSQL, projectArgs(&p)...)
			default:
				p.CreatedAt, p.UpdatedAt = now, now
				_, err = q.exec(ctx, insertProjectSQL, projectArgs(&p)...)
			}
			if err != nil {
				return err
			}
			if err := s.changed(ctx, q, v, changeProject, p.ID); err != nil {
				return err
			}
			changes++
		}
		for id, old := range have {
			if _, keep := want[id]; old.Static && !keep {
				if err := s.deleteProject(ctx, q, v, id); err != nil {
					return err
				}
				changes++
			}
		}
		if changes == 0 {
			return errNoChange
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return fmt.Errorf("sync static projects: %w", err)
	}
	return nil
}

// sameProject compares the configurable fields of two normalized projects.
func sameProject(a, b *Project) bool {
	return a.Name == b.Name && a.RPM == b.RPM && a.TPM == b.TPM && a.BudgetUSD == b.BudgetUSD &&
		a.BudgetPeriod == b.BudgetPeriod && slices.Equal(a.Models, b.Models) &&
		a.DefaultModel == b.DefaultModel && a.CacheNamespace == b.CacheNamespace &&
		sameBool(a.Skills, b.Skills) && sameBool(a.StripBoilerplate, b.StripBoilerplate)
}

func sameBool(a, b *bool) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

const keyColumns = `id, project_id, name, prefix, hash, created_at, expires_at, revoked_at, last_used_at`
