package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Routing tiers as the router names them at the start of a route reason
// ("strong: learned p=0.83 >= 0.72", "phase 2: fast: …").
var RouteTiers = [...]string{"local", "fast", "strong", "reasoning"}

// RoutingPoint is one time bucket of the routed requests (those with a
// route reason): how many went to each tier, how many the phase-2
// classifier decided, how many tried the cascade's cheap model first, and
// what those requests cost in all (their extra calls included).
type RoutingPoint struct {
	// Start is the bucket's start, aligned like SeriesPoint.Start.
	Start time.Time `json:"start"`
	// Routed counts rows with a route reason; CostUSD is their cost.
	Routed  int64   `json:"routed"`
	CostUSD float64 `json:"cost_usd"`
	// Tiers counts routed rows by the tier their reason names, in the
	// order of RouteTiers; Other the rest (router unavailable…).
	Tiers [len(RouteTiers)]int64 `json:"tiers"`
	Other int64                  `json:"other"`
	// Phase2 counts the rows the phase-2 classifier decided, Phase2CostUSD
	// their cost (the classifier's call included).
	Phase2        int64   `json:"phase2"`
	Phase2CostUSD float64 `json:"phase2_cost_usd"`
	// CascadeAccepted and CascadeEscalated count the cascade's outcomes;
	// CascadeCostUSD is the cost of every cascaded row (the cheap call
	// included when it escalated).
	CascadeAccepted  int64   `json:"cascade_accepted"`
	CascadeEscalated int64   `json:"cascade_escalated"`
	CascadeCostUSD   float64 `json:"cascade_cost_usd"`
	// The extra calls, part of the costs above: Phase2Calls counts the
	// phase-2 classifier calls made (decisions from its cache made none),
	// ClassifierCostUSD is what every classifier call cost (failed ones
	// included); each escalated cascade made one extra call, the rejected
	// cheap attempt, and CascadeExtraCostUSD is what those cost.
	Phase2Calls         int64   `json:"phase2_calls"`
	ClassifierCostUSD   float64 `json:"classifier_cost_usd"`
	CascadeExtraCostUSD float64 `json:"cascade_extra_cost_usd"`
}

// routingSums are RoutingPoint's aggregates after Start, in the order of
// its dests. The classification reads the reason's fixed prefixes and
// suffixes that the engine writes (engine/policy.go, engine/cascade.go);
// LIKE patterns behave alike in both backends for these lower-case ASCII
// words.
var routingSums = func() string {
	const phase2 = "route_reason LIKE 'phase 2: %'"
	const cascade = "route_reason LIKE '%; cascade: %'"
	parts := []string{"COUNT(*)", sumFloat("cost_usd")}
	var known []string
	for _, t := range RouteTiers {
		c := "(route_reason LIKE '" + t + ":%' OR route_reason LIKE 'phase 2: " + t + ":%')"
		known = append(known, c)
		parts = append(parts, sumInt("CASE WHEN "+c+" THEN 1 ELSE 0 END"))
	}
	parts = append(parts,
		sumInt("CASE WHEN NOT ("+strings.Join(known, " OR ")+") THEN 1 ELSE 0 END"),
		sumInt("CASE WHEN "+phase2+" THEN 1 ELSE 0 END"),
		sumFloat("CASE WHEN "+phase2+" THEN cost_usd ELSE 0 END"),
		sumInt("CASE WHEN route_reason LIKE '%; cascade: accepted%' THEN 1 ELSE 0 END"),
		sumInt("CASE WHEN route_reason LIKE '%; cascade: escalated%' THEN 1 ELSE 0 END"),
		sumFloat("CASE WHEN "+cascade+" THEN cost_usd ELSE 0 END"),
		sumInt("CASE WHEN "+phase2+" AND route_reason NOT LIKE '% (cached)%' THEN 1 ELSE 0 END"),
		sumFloat("classifier_cost_usd"),
		sumFloat("cascade_extra_cost_usd"))
	return strings.Join(parts, ", ")
}()

func (p *RoutingPoint) dests() []any {
	d := []any{&p.Routed, &p.CostUSD}
	for i := range p.Tiers {
		d = append(d, &p.Tiers[i])
	}
	return append(d, &p.Other, &p.Phase2, &p.Phase2CostUSD, &p.CascadeAccepted, &p.CascadeEscalated, &p.CascadeCostUSD,
		&p.Phase2Calls, &p.ClassifierCostUSD, &p.CascadeExtraCostUSD)
}

// RoutingSeries implements Ledger.
func (s *sqlStore) RoutingSeries(ctx context.Context, q SeriesQuery) ([]RoutingPoint, error) {
	f, step, err := seriesFilter(q)
	if err != nil {
		return nil, fmt.Errorf("routing series: %w", err)
	}
	f.conds = append(f.conds, "route_reason <> ''")
	query := `SELECT ` + s.b.bucketExpr("ts", step) + `, ` + routingSums +
		` FROM ` + s.b.ledgerTable() + f.where() + ` GROUP BY 1 ORDER BY 1`
	rs, err := s.b.query(ctx, query, f.args...)
	if err != nil {
		return nil, fmt.Errorf("routing series: %w", err)
	}
	defer rs.Close()
	var out []RoutingPoint
	for rs.Next() {
		var p RoutingPoint
		var start int64
		if err := rs.Scan(append([]any{&start}, p.dests()...)...); err != nil {
			return nil, fmt.Errorf("routing series: %w", err)
		}
		p.Start = time.Unix(start, 0).UTC()
		out = append(out, p)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("routing series: %w", err)
	}
	return out, nil
}
