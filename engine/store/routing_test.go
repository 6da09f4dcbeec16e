package store

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// testRoutingSeries stores routed rows of every shape the engine writes
// (tiers, phase 2, cascade, router unavailable) and unrouted rows, and
// checks the buckets against the same classification done in Go.
func testRoutingSeries(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	reasons := []string{
		"strong: learned p=0.83 >= 0.72",
		"fast: learned p=0.10 < 0.72",
		"phase 2: strong: needs careful reasoning",
		"local: short question; cascade: accepted",
		"fast: learned p=0.2 < 0.72; cascade: escalated (too short)",
		"reasoning: keyword score 5",
		"router unavailable: default model",
		"", // not routed
		"phase 2: fast: simple (cached); cascade: escalated (cheap call failed)",
	}
	var rows []UsageRow
	for i := range 45 {
		r := usageRow(i, t0.Add(time.Duration(i)*3*time.Minute))
		r.RouteReason = reasons[i%len(reasons)]
		r.CostUSD = float64(i) / 16
		// The extra calls' parts of the cost, where the engine writes them.
		if strings.HasPrefix(r.RouteReason, "phase 2: ") && !strings.Contains(r.RouteReason, "(cached)") {
			r.ClassifierCostUSD = r.CostUSD / 8
		}
		if strings.Contains(r.RouteReason, "; cascade: escalated (too short)") {
			r.CascadeExtraCostUSD = r.CostUSD / 4
		}
		rows = append(rows, r)
	}
	must[int](t)(s.InsertUsage(ctx, rows))
	q := SeriesQuery{From: t0.Add(-time.Hour), To: t0.Add(3 * time.Hour), Step: 30 * time.Minute}
	got := must[[]RoutingPoint](t)(s.RoutingSeries(ctx, q))

	var want []RoutingPoint
	idx := map[int64]int{}
	for _, r := range rows {
		if r.RouteReason == "" {
			continue
		}
		b := r.Time.Unix() / 1800 * 1800
		j, ok := idx[b]
		if !ok {
			j = len(want)
			idx[b] = j
			want = append(want, RoutingPoint{Start: time.Unix(b, 0).UTC()})
		}
		p := &want[j]
		p.Routed++
		p.CostUSD += r.CostUSD
		reason := r.RouteReason
		phase2 := len(reason) > 9 && reason[:9] == "phase 2: "
		if phase2 {
			p.Phase2++
			p.Phase2CostUSD += r.CostUSD
			reason = reason[9:]
			if !strings.Contains(reason, " (cached)") {
				p.Phase2Calls++
			}
		}
		p.ClassifierCostUSD += r.ClassifierCostUSD
		p.CascadeExtraCostUSD += r.CascadeExtraCostUSD
		tier := -1
		for k, name := range RouteTiers {
			if len(reason) > len(name) && reason[:len(name)+1] == name+":" {
				tier = k
			}
		}
		if tier < 0 {
			p.Other++
		} else {
			p.Tiers[tier]++
		}
		switch {
		case strings.Contains(r.RouteReason, "; cascade: accepted"):
			p.CascadeAccepted++
			p.CascadeCostUSD += r.CostUSD
		case strings.Contains(r.RouteReason, "; cascade: escalated"):
			p.CascadeEscalated++
			p.CascadeCostUSD += r.CostUSD
		}
	}
	if len(want) < 3 {
		t.Fatalf("fixture: %d buckets", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	if _, err := s.RoutingSeries(ctx, SeriesQuery{From: t0, To: t0.Add(time.Hour)}); err == nil {
		t.Fatal("a zero step was accepted")
	}

	// The trace: only routed rows, newest first.
	page := must[RequestPage](t)(s.Requests(ctx, RequestQuery{Routed: true, Limit: 1000}))
	if len(page.Rows) != 40 {
		t.Fatalf("routed rows: %d, want 40", len(page.Rows))
	}
	for _, r := range page.Rows {
		if r.RouteReason == "" {
			t.Fatalf("unrouted row %s in the trace", r.ID)
		}
	}
	// The provider filter of a series.
	pts := must[[]SeriesPoint](t)(s.UsageSeries(ctx, SeriesQuery{From: q.From, To: q.To, Step: 4 * time.Hour, Provider: "nobody"}))
	if len(pts) != 0 {
		t.Fatalf("provider filter: %+v", pts)
	}
	pts = must[[]SeriesPoint](t)(s.UsageSeries(ctx, SeriesQuery{From: t0.Add(-time.Hour), To: t0.Add(4 * time.Hour), Step: time.Hour, Provider: "openai"}))
	var n int64
	for _, p := range pts {
		n += p.Requests
	}
	if n != 45 {
		t.Fatalf("provider openai: %+v", pts)
	}
}
