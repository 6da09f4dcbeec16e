package store

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// randomUsageRow is a row with every field set from r: unicode and empty
// strings, zero and non-zero floats, negative token counts.
func randomUsageRow(r *rand.Rand, i int, at time.Time) UsageRow {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	f := func() float64 {
		if r.IntN(3) == 0 {
			return 0
		}
		return r.NormFloat64() * 10
	}
	return UsageRow{
		ID: fmt.Sprintf("req-%d-%x", i, r.Uint64()), Time: at,
		ProjectID: pick("p1", "p2", "", "проект"), KeyID: pick("k1", "", "key_é"),
		Endpoint: pick(EndpointChat, EndpointMessages, EndpointEmbeddings), RequestedModel: pick("auto", "gpt-4o", ""),
		ServedModel: pick("gpt-4o-mini", "claude-3-5-haiku", ""), Provider: pick("openai", "anthropic", ""),
		Status: pick2(r, 200, 429, 500, 0), ErrorCode: pick("", "rate_limited", "upstream_error"),
		PromptTokens: r.Int64N(1 << 40), CachedTokens: r.Int64N(100) - 50, CacheWriteTokens: r.Int64N(10),
		CompletionTokens: r.Int64N(1 << 20), CostUSD: f(),
		Savings:   Savings{ResponseCache: f(), ProviderPromptCache: f(), IDEBoilerplate: f(), FileDedup: f(), Routing: f()},
		LatencyMS: f(), UpstreamMS: f(), Cache: pick("miss", "hit-memory", "bypass", ""),
		RouteReason: pick("", "simple", "tools; cascade: accepted"), Stream: r.IntN(2) == 0,
		ClassifierCostUSD: f(), CascadeExtraCostUSD: f(),
	}
}

func pick2(r *rand.Rand, v ...int) int { return v[r.IntN(len(v))] }

// TestLedgerChunkRoundTrip: every field of every row comes back, in order,
// for batches of 1 to 1,500 rows with times in any order.
func TestLedgerChunkRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var e chunkEncoder
	for _, n := range []int{1, 2, 17, 1000, 1500} {
		rows := make([]UsageRow, n)
		for i := range rows {
			at := t0.Add(time.Duration(r.Int64N(int64(time.Hour)))).Truncate(time.Microsecond)
			rows[i] = randomUsageRow(r, i, at)
		}
		data, lo, hi := e.encode(rows)
		got, err := decodeChunk(data)
		if err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
		if !slices.Equal(got, rows) {
			for i := range rows {
				if got[i] != rows[i] {
					t.Fatalf("%d rows: row %d\n got %+v\nwant %+v", n, i, got[i], rows[i])
				}
			}
			t.Fatalf("%d rows: %d decoded", n, len(got))
		}
		wantLo := slices.MinFunc(rows, func(a, b UsageRow) int { return a.Time.Compare(b.Time) }).Time.UnixMicro()
		wantHi := slices.MaxFunc(rows, func(a, b UsageRow) int { return a.Time.Compare(b.Time) }).Time.UnixMicro()
		if lo != wantLo || hi != wantHi {
			t.Fatalf("%d rows: range [%d, %d], want [%d, %d]", n, lo, hi, wantLo, wantHi)
		}
		if n == 1000 {
			t.Logf("1000 random rows: %d bytes (%.0f per row)", len(data), float64(len(data))/1000)
		}
	}
}

// FuzzLedgerChunkDecode: any bytes decode to rows or an error, never a
// panic or a read past the end; a valid chunk cut short is an error.
func FuzzLedgerChunkDecode(f *testing.F) {
	var e chunkEncoder
	r := rand.New(rand.NewPCG(3, 4))
	data, _, _ := e.encode([]UsageRow{randomUsageRow(r, 1, t0), randomUsageRow(r, 2, t0.Add(time.Second))})
	f.Add(append([]byte(nil), data...))
	f.Add([]byte{1, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := decodeChunk(b)
		if err == nil {
			// What decodes re-encodes to a chunk that decodes the same.
			var e chunkEncoder
			data, _, _ := e.encode(rows)
			again, err := decodeChunk(data)
			if err != nil || len(again) != len(rows) {
				t.Fatalf("re-encoded %d rows: %d, %v", len(rows), len(again), err)
			}
		}
		if len(b) > 1 {
			if _, err := decodeChunk(b[:len(b)-1]); err == nil && len(rows) > 0 {
				t.Fatalf("a chunk of %d rows cut short decoded", len(rows))
			}
		}
	})
}

// TestSQLiteLedgerChunks: batches whose time ranges overlap (requests that
// started long before they were recorded), rows with equal times, replays
// across chunks, pages in (ts, id) order under every filter, and pruning
// that cuts through a chunk.
func TestSQLiteLedgerChunks(t *testing.T) {
	t.Parallel()
	s := open(t, Config{DataDir: t.TempDir()}, nil)
	r := rand.New(rand.NewPCG(5, 6))
	var all []UsageRow
	for b := range 12 {
		batch := make([]UsageRow, 40+r.IntN(60))
		for i := range batch {
			// Each batch spans the last 10 minutes before its "now" (b
			// minutes in), so consecutive chunks overlap; one time in
			// five repeats an earlier row's.
			at := t0.Add(time.Duration(b)*time.Minute - time.Duration(r.Int64N(int64(10*time.Minute))))
			if len(all) > 0 && r.IntN(5) == 0 {
				at = all[r.IntN(len(all))].Time
			}
			batch[i] = randomUsageRow(r, len(all)+i, at.Truncate(time.Microsecond))
		}
		if n := must[int](t)(s.AppendUsage(ctx, batch)); n != len(batch) {
			t.Fatalf("batch %d: appended %d of %d", b, n, len(batch))
		}
		all = append(all, batch...)
	}
	// A replay of rows from every chunk plus new ones stores the new ones.
	replay := []UsageRow{all[3], all[len(all)/2], all[len(all)-1], randomUsageRow(r, 9999, t0.Truncate(time.Microsecond)), all[7]}
	if n := must[int](t)(s.InsertUsage(ctx, replay)); n != 1 {
		t.Fatalf("replay across chunks inserted %d, want 1", n)
	}
	all = append(all, replay[3])
	desc := func(rows []UsageRow) []UsageRow {
		out := slices.Clone(rows)
		slices.SortFunc(out, func(a, b UsageRow) int {
			if c := b.Time.Compare(a.Time); c != 0 {
				return c
			}
			return cmp.Compare(b.ID, a.ID)
		})
		return out
	}
	pages := func(q RequestQuery) []UsageRow {
		var got []UsageRow
		q.Limit = 7
		for {
			p := must[RequestPage](t)(s.Requests(ctx, q))
			got = append(got, p.Rows...)
			if p.Next == "" {
				return got
			}
			q.Cursor = p.Next
		}
	}
	from, to := t0.Add(-5*time.Minute), t0.Add(3*time.Minute)
	for _, c := range []struct {
		q    RequestQuery
		keep func(u UsageRow) bool
	}{
		{RequestQuery{}, func(UsageRow) bool { return true }},
		{RequestQuery{Project: "p2"}, func(u UsageRow) bool { return u.ProjectID == "p2" }},
		{RequestQuery{From: from, To: to}, func(u UsageRow) bool { return !u.Time.Before(from) && u.Time.Before(to) }},
		{RequestQuery{Project: "проект", From: from}, func(u UsageRow) bool { return u.ProjectID == "проект" && !u.Time.Before(from) }},
		{RequestQuery{StatusMin: 400, To: to}, func(u UsageRow) bool { return u.Status >= 400 && u.Time.Before(to) }},
	} {
		var want []UsageRow
		for _, u := range desc(all) {
			if c.keep(u) {
				want = append(want, u)
			}
		}
		if got := pages(c.q); !slices.Equal(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("row %d: got %s %s, want %s %s", i, got[i].Time, got[i].ID, want[i].Time, want[i].ID)
					break
				}
			}
			t.Fatalf("pages of %+v: %d rows, want %d", c.q, len(got), len(want))
		}
	}
	// Summaries read every row once.
	var cost float64
	for _, u := range all {
		cost += u.CostUSD
	}
	sum := must[[]UsageGroup](t)(s.UsageSummary(ctx, UsageQuery{}))
	if len(sum) != 1 || sum[0].Requests != int64(len(all)) || math.Abs(sum[0].CostUSD-cost) > 1e-6 {
		t.Fatalf("summary %+v, want %d requests costing %v", sum, len(all), cost)
	}
	// Pruning cuts through chunks: what is left is exactly the newer rows.
	cut := t0.Add(-2 * time.Minute)
	var keep []UsageRow
	for _, u := range all {
		if !u.Time.Before(cut) {
			keep = append(keep, u)
		}
	}
	if n := must[int64](t)(s.PruneUsage(ctx, cut)); n != int64(len(all)-len(keep)) {
		t.Fatalf("pruned %d, want %d", n, len(all)-len(keep))
	}
	if got := pages(RequestQuery{}); !slices.Equal(got, desc(keep)) {
		t.Fatalf("after prune: %d rows, want %d", len(got), len(keep))
	}
	if n := must[int64](t)(s.PruneUsage(ctx, cut)); n != 0 {
		t.Fatalf("second prune deleted %d", n)
	}
}
