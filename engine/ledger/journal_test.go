package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// TestMain runs the crashing child of TestJournalSurvivesKill9 when asked.
func TestMain(m *testing.M) {
	if dir := os.Getenv(journalChildEnv); dir != "" {
		os.Exit(journalChild(dir))
	}
	os.Exit(m.Run())
}

const journalChildEnv = "LEDGER_TEST_JOURNAL_CHILD"

// stuckSink never answers until its context ends: nothing is committed.
type stuckSink struct{}

func (stuckSink) InsertUsage(ctx context.Context, _ []store.UsageRow) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// journalChild records rows 0..n-1 into a writer whose store never
// commits, says so on stdout, and waits to be killed.
func journalChild(dir string) int {
	n, _ := strconv.Atoi(os.Getenv("LEDGER_TEST_JOURNAL_ROWS"))
	w, err := New(stuckSink{}, Config{SpillDir: dir, FlushInterval: 20 * time.Millisecond, BatchRows: 7, WriteTimeout: time.Hour})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := range n {
		r := row(i)
		w.Record(&r)
		if i%10 == 9 {
			time.Sleep(5 * time.Millisecond) // let the flusher rotate segments
		}
	}
	// Rows whose final figures come later (the engine's accountant):
	// journaled provisional; the even ones get their final row, in a later
	// segment, the odd ones never do (the kill comes first).
	p, _ := strconv.Atoi(os.Getenv("LEDGER_TEST_JOURNAL_PROVISIONAL"))
	holds := make([]Hold, p)
	for i := range p {
		r := provisionalRow(n + i)
		holds[i] = w.Provisional(&r)
	}
	time.Sleep(50 * time.Millisecond) // the flusher rotates: finals land in a later segment
	for i := 0; i < p; i += 2 {
		r := finalRow(n + i)
		w.Record(&r)
		holds[i].Release()
	}
	fmt.Println("RECORDED")
	select {}
}

// provisionalRow is row(i) as journaled before its savings are known;
// finalRow the same request once they are.
func provisionalRow(i int) store.UsageRow { return row(i) }

func finalRow(i int) store.UsageRow {
	r := row(i)
	r.Savings.IDEBoilerplate = 0.25
	return r
}

// Every row Record returned for survives kill -9 of the process while its
// store write hangs, and the next start replays it, once; so does every
// provisional row, unless its final row was recorded, which then wins.
func TestJournalSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n, p = 100, 10
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), journalChildEnv+"="+dir, "LEDGER_TEST_JOURNAL_ROWS="+strconv.Itoa(n),
		"LEDGER_TEST_JOURNAL_PROVISIONAL="+strconv.Itoa(p))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "RECORDED" {
		t.Fatalf("child: %q %v", sc.Text(), sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if segs := nonEmptySegments(t, dir); len(segs) < 2 {
		t.Fatalf("%d journal segments left, want several (the flusher rotates them while the store hangs)", len(segs))
	}

	sink := newMemSink()
	w := newWriter(t, sink, Config{SpillDir: dir, FlushInterval: 10 * time.Millisecond})
	eventually(t, 10*time.Second, "the journal replayed", func() bool {
		st := w.Stats() // counted per file, once the file is done
		return sink.count() == n+p && st.Replayed == n+p+p/2 && st.SpillFiles == 0
	})
	sink.mu.Lock()
	for i := range n + p {
		want := row(i)
		if i >= n && (i-n)%2 == 0 {
			want = finalRow(i) // not the provisional row before it
		}
		got := sink.rows[want.ID]
		if !got.Time.Equal(want.Time) {
			t.Fatalf("row %d: time %v, want %v", i, got.Time, want.Time)
		}
		got.Time = want.Time
		if got != want {
			t.Fatalf("row %d: %+v, want %+v", i, got, want)
		}
	}
	sink.mu.Unlock()
	if st := w.Stats(); st.Replayed != n+p+p/2 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*-*"))
	for _, p := range left {
		if !strings.Contains(p, "-"+strconv.Itoa(os.Getpid())+".") {
			t.Fatalf("the dead process's file %s is still there", p)
		}
	}
}

// A segment is deleted once the rows it holds are stored, and Close
// leaves no journal behind.
func TestJournalSegmentsAreDeletedAfterCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := newMemSink()
	w, err := New(sink, Config{SpillDir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 50 {
			r := row(round*50 + i)
			w.Record(&r)
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The current segment (empty) and the spare opened for the next
		// rotation: the one that held the rows is gone.
		segs, _ := filepath.Glob(filepath.Join(dir, "journal-*"+segmentExt))
		for _, p := range segs {
			if holdsRows(t, p) {
				t.Fatalf("round %d: segment %s still holds rows", round, p)
			}
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "journal-*")); len(left) != 0 {
		t.Fatalf("after Close: %v", left)
	}
	if sink.count() != 150 {
		t.Fatalf("%d rows stored", sink.count())
	}
}

// While the store is down, a segment stays until its rows are spilled.
func TestJournalKeptUntilSpilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := newMemSink()
	sink.fail.Store(true)
	w := newWriter(t, sink, Config{SpillDir: dir, FlushInterval: time.Hour})
	for i := range 10 {
		r := row(i)
		w.Record(&r)
	}
	w.take(false) // as a cycle would, without writing: the rows are pending
	segs := nonEmptySegments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments with rows, want 1", len(segs))
	}
	if err := w.Flush(context.Background()); err != nil { // the write fails: spilled
		t.Fatal(err)
	}
	if segs := nonEmptySegments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after the spill: %v", segs)
	}
	if w.Stats().Spilled != 10 {
		t.Fatalf("stats %+v", w.Stats())
	}
}

func nonEmptySegments(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "journal-*"+segmentExt))
	var out []string
	for _, p := range m {
		if holdsRows(t, p) {
			out = append(out, p)
		}
	}
	return out
}

// holdsRows reports whether the journal segment at path holds a byte other
// than the NULs of a mapped segment's unused part.
func holdsRows(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return len(bytes.Trim(b, "\x00")) > 0
}

// A live writer's segments are not adopted by a second writer sharing the
// directory (each holds a flock on its own).
func TestLiveJournalIsNotAdopted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w1 := newWriter(t, newMemSink(), Config{SpillDir: dir, FlushInterval: time.Hour})
	r := row(1)
	w1.Record(&r)
	live := nonEmptySegments(t, dir)
	if len(live) != 1 {
		t.Fatalf("segments with rows: %v", live)
	}
	newWriter(t, newMemSink(), Config{SpillDir: dir, FlushInterval: time.Hour})
	if segs := nonEmptySegments(t, dir); len(segs) != 1 || segs[0] != live[0] {
		t.Fatalf("the live segment %s was adopted: %v", live[0], segs)
	}
	if spills, _ := filepath.Glob(filepath.Join(dir, "spill-*")); len(spills) != 0 {
		t.Fatalf("spill files: %v", spills)
	}
}

// With the journal turned off, the journal an earlier run left is still
// replayed.
func TestJournalReplayedWithJournalOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seg, err := openSegment(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := row(3)
	if err := seg.write(appendRow(nil, &r)); err != nil {
		t.Fatal(err)
	}
	unmapSegment(seg.mem) // the process died: its mapping and its lock are gone
	seg.f.Close()
	sink := newMemSink()
	newWriter(t, sink, Config{SpillDir: dir, FlushInterval: time.Hour, DisableJournal: true})
	eventually(t, 10*time.Second, "the old journal replayed", func() bool { return sink.count() == 1 })
}

// A journal record decodes into the row it encodes, every field exact
// (the time in UTC), with its provisional mark.
func TestAppendRowRoundTrip(t *testing.T) {
	t.Parallel()
	full := row(7)
	full.KeyID, full.RequestedModel, full.Provider, full.ErrorCode, full.Cache, full.RouteReason =
		"key_1", "auto", "openai", "upstream_error", "hit-redis", "long context"
	full.CachedTokens, full.CacheWriteTokens, full.Stream = 3, 4, true
	full.Savings = store.Savings{ResponseCache: 0.5, ProviderPromptCache: 1e-9, IDEBoilerplate: 3, FileDedup: 1.25e10, Routing: -0.1}
	full.LatencyMS, full.UpstreamMS = 12.345678, 0.001
	full.ClassifierCostUSD, full.CascadeExtraCostUSD = 2e-5, 3e-4
	full.Time = time.Date(2026, 12, 6, 20, 50, 25, 123456789, time.UTC)
	for _, tc := range []struct {
		name string
		mod  func(r *store.UsageRow)
	}{
		{"plain", func(r *store.UsageRow) {}},
		{"every field", func(r *store.UsageRow) { *r = full }},
		{"quotes and escapes", func(r *store.UsageRow) { r.ID = `a"b\c` + "\n\r\t\x00\x1f\x7f</script>&" }},
		{"unicode", func(r *store.UsageRow) { r.RequestedModel = "modèle-日本-🚀\u2028" }},
		{"invalid utf-8", func(r *store.UsageRow) { r.RouteReason = "a\xffb\xc3" }},
		{"zone", func(r *store.UsageRow) { r.Time = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)) }},
		{"before 1970 and far ahead", func(r *store.UsageRow) { r.Time = time.Date(1066, 10, 14, 9, 0, 0, 1, time.UTC) }},
		{"extremes", func(r *store.UsageRow) {
			r.PromptTokens, r.CompletionTokens, r.Status, r.CostUSD = -1<<63, 1<<63-1, 599, 1e-300
			r.Time = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		}},
		{"long strings", func(r *store.UsageRow) {
			r.ID, r.RouteReason = strings.Repeat("i", 200), strings.Repeat("long reason ", 20000)
		}},
	} {
		for _, provisional := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/provisional=%v", tc.name, provisional), func(t *testing.T) {
				r := row(1)
				tc.mod(&r)
				rec := appendRecord([]byte("\x00\x00"), &r, provisional)[2:]
				got, gotProv := decodeOne(t, rec)
				if gotProv != provisional {
					t.Fatalf("provisional %v, want %v", gotProv, provisional)
				}
				if !got.Time.Equal(r.Time) || got.Time.Location() != time.UTC {
					t.Fatalf("time %v, want %v in UTC", got.Time, r.Time)
				}
				got.Time = r.Time
				if got != r {
					t.Fatalf("decoded %+v\nwant    %+v", got, r)
				}
			})
		}
	}
}

// decodeOne decodes a buffer that must hold exactly one record.
func decodeOne(t testing.TB, rec []byte) (store.UsageRow, bool) {
	t.Helper()
	var rows []store.UsageRow
	var prov bool
	if torn := decodeRecords(rec, func(r store.UsageRow, p bool) { rows, prov = append(rows, r), p }); torn != 0 || len(rows) != 1 {
		t.Fatalf("%d rows, %d torn, from %d bytes", len(rows), torn, len(rec))
	}
	return rows[0], prov
}

// Non-finite floats, which the store refuses, are journaled as 0.
func TestAppendRowNonFinite(t *testing.T) {
	t.Parallel()
	r := row(1)
	r.CostUSD, r.LatencyMS, r.UpstreamMS = math.NaN(), math.Inf(1), math.Inf(-1)
	got, _ := decodeOne(t, appendRow(nil, &r))
	if got.CostUSD != 0 || got.LatencyMS != 0 || got.UpstreamMS != 0 {
		t.Fatalf("%+v", got)
	}
}

// FuzzAppendRow: any strings and figures round-trip exactly.
func FuzzAppendRow(f *testing.F) {
	f.Add("req-1", "gpt-4o", "a\"b\\c\n", int64(1700000000), int64(5), 0.001, true)
	f.Add("\xff\xfe", "\u2028", "\x00", int64(-1), int64(-1<<63), -0.0, false)
	f.Fuzz(func(t *testing.T, id, model, reason string, sec, tokens int64, cost float64, stream bool) {
		r := row(1)
		r.ID, r.RequestedModel, r.RouteReason = id, model, reason
		r.Time = time.Unix(sec, 7).UTC()
		r.PromptTokens, r.CostUSD, r.Stream = tokens, cost, stream
		got, _ := decodeOne(t, appendRow(nil, &r))
		if math.IsNaN(cost) || math.IsInf(cost, 0) || cost == 0 {
			r.CostUSD = 0
		}
		if !got.Time.Equal(r.Time) {
			t.Fatalf("time %v, want %v", got.Time, r.Time)
		}
		got.Time = r.Time
		if got != r {
			t.Fatalf("decoded %+v, want %+v", got, r)
		}
	})
}

// FuzzDecodeRecords: damage anywhere in a segment (bytes overwritten with
// garbage or NULs, or the end cut off) never panics, never yields a row
// that was not written, and loses no record whose bytes it did not touch.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(uint16(10), uint16(5), []byte{0, 0, 0}, false)
	f.Add(uint16(0), uint16(300), []byte{recordMark, 3, 1, 2}, false)
	f.Add(uint16(77), uint16(0), []byte{}, true)
	f.Fuzz(func(t *testing.T, at, length uint16, garbage []byte, cut bool) {
		var seg []byte
		var spans [][2]int
		want := map[string]store.UsageRow{}
		for i := range 12 {
			r := row(i)
			r.RouteReason = strings.Repeat("x", i*7)
			seg = append(seg, make([]byte, i%3)...) // NUL runs between some records
			start := len(seg)
			seg = appendRecord(seg, &r, i%4 == 0)
			spans = append(spans, [2]int{start, len(seg)})
			want[r.ID] = r
		}
		lo := int(at) % len(seg)
		hi := min(len(seg), lo+int(length))
		if cut {
			seg = seg[:lo]
		} else {
			for i := lo; i < hi; i++ {
				if len(garbage) == 0 {
					seg[i] = 0
				} else {
					seg[i] = garbage[(i-lo)%len(garbage)]
				}
			}
		}
		got := map[string]store.UsageRow{}
		decodeRecords(seg, func(r store.UsageRow, _ bool) {
			w, ok := want[r.ID]
			r.Time = w.Time
			if !ok || r != w {
				t.Fatalf("decoded a row never written: %+v", r)
			}
			got[r.ID] = r
		})
		for i, sp := range spans {
			touched := sp[1] > lo && sp[0] < hi || cut && sp[1] > lo
			if _, ok := got[row(i).ID]; !ok && !touched {
				t.Fatalf("record %d [%d,%d) lost; damage [%d,%d) cut %v", i, sp[0], sp[1], lo, hi, cut)
			}
		}
	})
}

// A JSON-lines segment left by a gateway before the binary journal is
// still adopted and replayed, its provisional mark honoured.
func TestLegacyJSONJournalReplays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var lines []byte
	for i := range 5 {
		b, _ := json.Marshal(spillLine{UsageRow: row(i), Provisional: i == 4})
		lines = append(append(lines, b...), '\n')
	}
	lines = append(lines, make([]byte, 4096)...) // the old mapped segment's NULs
	if err := os.WriteFile(filepath.Join(dir, "journal-1700000000000000000-1.jsonl"), lines, 0o600); err != nil {
		t.Fatal(err)
	}
	sink := newMemSink()
	w := newWriter(t, sink, Config{SpillDir: dir, FlushInterval: 10 * time.Millisecond, DisableJournal: true})
	eventually(t, 10*time.Second, "5 rows replayed", func() bool {
		return sink.count() == 5 && w.Stats().SpillFiles == 0
	})
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

// deadSegment writes rows into a journal segment whose first mapped bytes
// are mapped (rows past them go by write(2)), cuts the row torn (if >= 0)
// short in the middle of its copy, and lets the segment's process "die":
// its mapping and its lock are gone.
func deadSegment(t *testing.T, dir string, mapped, rows, torn int) {
	t.Helper()
	f, path, err := createLocked(dir, "journal-")
	if err != nil {
		t.Fatal(err)
	}
	seg := &segment{f: f, path: path, mem: mapSegment(f, mapped)}
	if seg.mem == nil {
		t.Skip("this file system cannot map a journal segment")
	}
	for i := range rows {
		r := row(i)
		line := appendRow(nil, &r)
		if i == torn {
			end := seg.off.Add(int64(len(line)))
			if end > int64(len(seg.mem)) {
				t.Fatalf("row %d is past the mapped part", i)
			}
			copy(seg.mem[end-int64(len(line)):], line[:len(line)/2]) // the crash
			continue
		}
		if err := seg.write(line); err != nil {
			t.Fatal(err)
		}
	}
	unmapSegment(seg.mem)
	f.Close()
}

// A mapped segment that overflowed into write(2) replays every row: the
// NULs between the mapped rows and the appended ones end a line.
func TestMappedJournalOverflowReplays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deadSegment(t, dir, 4096, 40, -1) // ~6 rows mapped, the rest appended
	sink := newMemSink()
	newWriter(t, sink, Config{SpillDir: dir, FlushInterval: time.Hour, DisableJournal: true})
	eventually(t, 10*time.Second, "40 rows replayed", func() bool { return sink.count() == 40 })
}

// A row a crash cut short in the mapping is skipped (that request was not
// answered), and it does not swallow the rows written after it.
func TestMappedJournalTornRowSkipped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deadSegment(t, dir, 4096, 12, 2)
	sink := newMemSink()
	w := newWriter(t, sink, Config{SpillDir: dir, FlushInterval: time.Hour, DisableJournal: true})
	eventually(t, 10*time.Second, "11 rows replayed", func() bool { return sink.count() == 11 })
	if _, ok := sink.get("req-2"); ok {
		t.Fatal("the torn row was stored")
	}
	eventually(t, 10*time.Second, "the torn row counted as dropped", func() bool { return w.Stats().Dropped == 1 })
}

// An empty mapped segment of a dead process (only NULs) is deleted, not
// replayed as a spill file.
func TestEmptyMappedJournalDeleted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	deadSegment(t, dir, 4096, 0, -1)
	n, _, err := adoptJournals(dir)
	if err != nil || n != 0 {
		t.Fatalf("adopted %d (%v), want 0", n, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

// splitRows yields the same lines however the reads fall: whole, or one
// byte at a time (NUL runs at a read's edge, at the file's end).
func TestSplitRowsAcrossReads(t *testing.T) {
	t.Parallel()
	in := "a\n\x00\x00b\x00\x00\x00c\nd\n\x00\x00\x00\ne\x00\x00"
	want := []string{"a", "b", "c", "d", "", "e"}
	for _, oneByte := range []bool{false, true} {
		var r io.Reader = strings.NewReader(in)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		sc := bufio.NewScanner(r)
		sc.Split(splitRows)
		var got []string
		for sc.Scan() {
			got = append(got, sc.Text())
		}
		if sc.Err() != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("one byte at a time %v: %q (%v), want %q", oneByte, got, sc.Err(), want)
		}
	}
}

// Committed segments are emptied and reused, not deleted and created
// again: across many flushes the writer keeps a bounded set of files, and
// a reused one holds no committed row.
func TestJournalSegmentsAreReused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := newMemSink()
	w := newWriter(t, sink, Config{SpillDir: dir, FlushInterval: time.Hour})
	seen := map[string]bool{}
	for round := range 8 {
		for i := range 30 {
			r := row(round*30 + i)
			w.Record(&r)
		}
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "journal-*"+segmentExt))
		for _, p := range segs {
			seen[p] = true
			if holdsRows(t, p) {
				t.Fatalf("round %d: %s still holds committed rows", round, p)
			}
		}
		if len(segs) > 1+maxFreeSegs+1 {
			t.Fatalf("round %d: %d segment files", round, len(segs))
		}
	}
	if w.seg == nil || w.seg.mem == nil {
		t.Skip("this file system cannot map a journal segment")
	}
	if len(seen) > 1+maxFreeSegs+1 {
		t.Fatalf("%d distinct segment files over 8 flushes: not reused", len(seen))
	}
	if sink.count() != 240 {
		t.Fatalf("%d rows stored", sink.count())
	}
}
