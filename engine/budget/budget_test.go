package budget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/engine/store"
)

// fakeStore has a fixed spend and records threshold marks.
type fakeStore struct {
	mu    sync.Mutex
	spend float64
	marks map[string]bool
	fail  atomic.Bool
}

func (f *fakeStore) Spend(context.Context, string, time.Time) (float64, error) {
	if f.fail.Load() {
		return 0, errors.New("down")
	}
	return f.spend, nil
}

func (f *fakeStore) MarkThreshold(_ context.Context, p string, start time.Time, pct int) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.marks == nil {
		f.marks = map[string]bool{}
	}
	k := p + start.String() + string(rune(pct))
	if f.marks[k] {
		return false, nil
	}
	f.marks[k] = true
	return true, nil
}

type events struct {
	mu   sync.Mutex
	list []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
}

func (e *events) get() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.list...)
}

var limit = Limit{Project: "acme", BudgetUSD: 10, Period: store.PeriodMonth}

// admitConcurrently reserves n requests of estimate est at once and
// returns the admitted reservations.
func admitConcurrently(t *testing.T, trackers []*Tracker, n int, est float64) []Reservation {
	t.Helper()
	var (
		mu  sync.Mutex
		out []Reservation
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := trackers[i%len(trackers)].Reserve(context.Background(), limit, est)
			var ee *ExceededError
			switch {
			case err == nil:
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			case !errors.As(err, &ee):
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	return out
}

func TestConcurrentReservationsNeverOvershoot(t *testing.T) {
	t.Parallel()
	st := &fakeStore{spend: 2}
	var ev events
	tr := New(st, Options{Thresholds: []int{80, 100}, OnThreshold: ev.add})
	admitted := admitConcurrently(t, []*Tracker{tr}, 100, 1)
	if len(admitted) != 8 { // 2 spent + 8 × 1 = 10
		t.Fatalf("admitted %d, want 8", len(admitted))
	}
	for i := range admitted {
		admitted[i].Settle(0.9)
	}
	spent, reserved, _ := tr.Spent(context.Background(), limit)
	if reserved != 0 || spent < 9.19 || spent > 9.21 {
		t.Fatalf("spent %v reserved %v", spent, reserved)
	}
	waitEvents(t, &ev, 1)
	if got := ev.get(); got[0].Threshold != 80 || got[0].Project != "acme" {
		t.Fatalf("events %+v", got)
	}
	// Money is left but less than a worst case, nothing in flight: one
	// request may go (so that a small remainder is usable).
	r, err := tr.Reserve(context.Background(), limit, 5)
	if err != nil {
		t.Fatalf("lone request refused: %v", err)
	}
	if _, err := tr.Reserve(context.Background(), limit, 5); err == nil {
		t.Fatal("second request admitted while the first holds the remainder")
	}
	r.Settle(1)
	waitEvents(t, &ev, 2)
	_, err = tr.Reserve(context.Background(), limit, 0.01)
	var ee *ExceededError
	if !errors.As(err, &ee) || ee.SpentUSD < 10 || ee.ResetsAt.Day() != 1 {
		t.Fatalf("over budget: %v", err)
	}
}

func TestNoBudgetAdmitsEverything(t *testing.T) {
	t.Parallel()
	tr := New(&fakeStore{}, Options{})
	r, err := tr.Reserve(context.Background(), Limit{Project: "p"}, 1e9)
	if err != nil || r.Active() {
		t.Fatalf("%v %v", r, err)
	}
	r.Settle(1)
}

func TestStoreDownFailsOpen(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	st.fail.Store(true)
	var errs atomic.Int64
	tr := New(st, Options{OnError: func(error) { errs.Add(1) }})
	if _, err := tr.Reserve(context.Background(), limit, 1); err != nil {
		t.Fatal(err)
	}
	if errs.Load() != 1 {
		t.Fatalf("errors %d", errs.Load())
	}
}

// Two replicas sharing Redis share one account: together they admit no
// more than the budget allows, and each threshold fires once.
func TestRedisAccountIsShared(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	st := &fakeStore{spend: 2}
	var ev events
	var trs []*Tracker
	for range 2 {
		c := srv.Client()
		t.Cleanup(func() { c.Close() })
		tr := New(st, Options{Redis: c, Thresholds: []int{80, 100}, OnThreshold: ev.add})
		t.Cleanup(func() { tr.Close(context.Background()) })
		trs = append(trs, tr)
	}
	admitted := admitConcurrently(t, trs, 100, 1)
	if len(admitted) != 8 {
		t.Fatalf("admitted %d across two replicas, want 8", len(admitted))
	}
	for i := range admitted {
		admitted[i].Settle(1)
	}
	waitEvents(t, &ev, 2)
	time.Sleep(50 * time.Millisecond)
	if got := ev.get(); len(got) != 2 {
		t.Fatalf("events %+v", got)
	}
	spent, reserved, err := trs[1].Spent(context.Background(), limit)
	if err != nil || spent != 10 || reserved > 1e-9 {
		t.Fatalf("spent %v reserved %v err %v", spent, reserved, err)
	}
}

// A reservation whose replica died stops counting when it expires.
func TestRedisStaleReservationExpires(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := srv.Client()
	defer c.Close()
	now := time.Date(2030, 5, 10, 12, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	tr := New(&fakeStore{}, Options{Redis: c, ReservationTTL: time.Minute, Now: func() time.Time { return *clock.Load() }})
	defer tr.Close(context.Background())
	if _, err := tr.Reserve(context.Background(), limit, 10); err != nil { // never settled
		t.Fatal(err)
	}
	if _, err := tr.Reserve(context.Background(), limit, 1); err == nil {
		t.Fatal("admitted while the budget is reserved")
	}
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	if _, err := tr.Reserve(context.Background(), limit, 1); err != nil {
		t.Fatalf("stale reservation still counts: %v", err)
	}
}

func waitEvents(t *testing.T, ev *events, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(ev.get()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("events %+v, want %d", ev.get(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
