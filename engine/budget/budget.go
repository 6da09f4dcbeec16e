// Package budget enforces projects' spending budgets with reservations:
// admission reserves a request's worst-case cost, and the end of the answer
// settles the reservation with the real cost. A project's account is its
// spend this period (read from the ledger once per period, then kept up to
// date by settlements) plus what requests in flight have reserved; a request
// is admitted when its worst case fits under the budget.
//
// With Redis the account is shared by every replica (a hash per project and
// period, changed by Lua scripts, so admission is atomic across replicas);
// without it each replica keeps its own account, seeded from the ledger.
//
// # Notes
//
//   - A Tracker is safe for concurrent use; Reserve and Settle on the local
//     path take one short per-project mutex and allocate nothing.
//   - Overshoot is bounded: spend exceeds the budget only by what requests
//     in flight cost beyond their reservations (the prompt estimate was
//     low), plus, when a single request's worst case is larger than what is
//     left and nothing else is in flight, that one request (admitted so
//     that a budget smaller than one worst case does not lock the project
//     out while money is left).
//   - When the store or Redis fails, admission fails open (the error goes
//     to Options.OnError): an outage of the accounting never stops traffic.
package budget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/redis/go-redis/v9"
)

// Store is what the Tracker needs of the ledger.
type Store interface {
	Spend(ctx context.Context, projectID string, since time.Time) (float64, error)
	MarkThreshold(ctx context.Context, projectID string, periodStart time.Time, pct int) (bool, error)
}

// Limit is a project's budget.
type Limit struct {
	Project   string
	BudgetUSD float64
	// Period is store.PeriodDay or store.PeriodMonth (the default).
	Period string
}

// Event is a threshold crossed, once per project, period and threshold
// across replicas.
type Event struct {
	Project     string    `json:"project_id"`
	Threshold   int       `json:"threshold_pct"`
	SpentUSD    float64   `json:"spent_usd"`
	BudgetUSD   float64   `json:"budget_usd"`
	Period      string    `json:"budget_period"`
	PeriodStart time.Time `json:"period_start"`
	ResetsAt    time.Time `json:"resets_at"`
}

// Options tune a Tracker.
type Options struct {
	// Redis shares accounts between replicas; nil keeps them per replica.
	Redis redis.UniversalClient
	// Thresholds are percentages of the budget that fire OnThreshold.
	Thresholds []int
	// OnThreshold is called (on its own goroutine) when spend crosses a
	// threshold for the first time in a period on any replica.
	OnThreshold func(Event)
	// OnError receives store and Redis errors.
	OnError func(error)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// ReservationTTL is how long a reservation counts in Redis when its
	// replica never settles it (it died); default 15 minutes, longer than
	// any request.
	ReservationTTL time.Duration
}

// ExceededError refuses a request: 402 budget_exceeded.
type ExceededError struct {
	Project   string
	SpentUSD  float64
	Reserved  float64 // by requests in flight
	Estimate  float64 // this request's worst case
	BudgetUSD float64
	Period    string
	ResetsAt  time.Time
}

func (e *ExceededError) Error() string {
	period := "monthly"
	if e.Period == store.PeriodDay {
		period = "daily"
	}
	reset := e.ResetsAt.UTC().Format(time.RFC3339)
	if e.SpentUSD >= e.BudgetUSD {
		return "Project " + e.Project + " has exhausted its " + period + " budget: spent $" + usd(e.SpentUSD) +
			" of $" + usd(e.BudgetUSD) + ". The budget resets at " + reset + "."
	}
	return "Project " + e.Project + "'s " + period + " budget cannot cover this request: spent $" + usd(e.SpentUSD) +
		" (plus $" + usd(e.Reserved) + " reserved by requests in flight) of $" + usd(e.BudgetUSD) +
		", and this request may cost up to $" + usd(e.Estimate) + ". Lower max_tokens, or wait for the reset at " + reset + "."
}

func usd(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// Tracker keeps the accounts.
type Tracker struct {
	st   Store
	opts Options
	now  func() time.Time

	mu    sync.Mutex
	accts map[string]*account

	settles chan settle // Redis settlements, off the request path
	stop    chan struct{}
	wg      sync.WaitGroup
	seq     atomic.Uint64
	replica string
}

type account struct {
	mu       sync.Mutex
	project  string
	start    time.Time // period start; zero until loaded
	loaded   bool
	retryAt  time.Time // after a failed load
	spent    float64
	reserved float64
	marked   []int // thresholds fired this period (by this replica's view)
}

type settle struct {
	a      *account
	limit  Limit
	start  time.Time
	id     string
	amount float64
	cost   float64
}

// New returns a Tracker. Close it to finish pending Redis settlements.
func New(st Store, opts Options) *Tracker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReservationTTL <= 0 {
		opts.ReservationTTL = 15 * time.Minute
	}
	opts.Thresholds = slices.Clone(opts.Thresholds)
	slices.Sort(opts.Thresholds)
	t := &Tracker{st: st, opts: opts, now: opts.Now, accts: map[string]*account{}, stop: make(chan struct{})}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	t.replica = hex.EncodeToString(rnd[:])
	if opts.Redis != nil {
		t.settles = make(chan settle, 4096)
		t.wg.Add(1)
		go t.settleLoop()
	}
	return t
}

// Close waits for queued Redis settlements (up to ctx).
func (t *Tracker) Close(ctx context.Context) {
	if t.settles == nil {
		return
	}
	close(t.stop)
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Reservation is an admitted request's hold on its project's budget;
// Settle it exactly once. The zero Reservation settles nothing.
type Reservation struct {
	t      *Tracker
	a      *account
	limit  Limit
	start  time.Time
	amount float64
	id     string // Redis reservation id; empty when local
}

// Active reports whether r holds anything.
func (r *Reservation) Active() bool { return r.a != nil }

// PeriodBounds returns the start of the period containing now and the
// start of the next.
func PeriodBounds(period string, now time.Time) (start, next time.Time) {
	p := store.Project{BudgetPeriod: period}
	start = p.PeriodStart(now)
	if period == store.PeriodDay {
		return start, start.AddDate(0, 0, 1)
	}
	return start, start.AddDate(0, 1, 0)
}

func (t *Tracker) account(project string) *account {
	t.mu.Lock()
	a := t.accts[project]
	if a == nil {
		a = &account{project: project}
		t.accts[project] = a
	}
	t.mu.Unlock()
	return a
}

// Reserve admits a request whose worst-case cost is estimate, or refuses
// it with an *ExceededError. A limit without a budget admits everything
// and returns the zero Reservation.
func (t *Tracker) Reserve(ctx context.Context, l Limit, estimate float64) (Reservation, error) {
	if l.BudgetUSD <= 0 {
		return Reservation{}, nil
	}
	now := t.now()
	start, next := PeriodBounds(l.Period, now)
	a := t.account(l.Project)
	if t.opts.Redis != nil {
		return t.reserveRedis(ctx, a, l, start, next, estimate)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.start.Equal(start) {
		a.start, a.loaded, a.spent, a.marked, a.retryAt = start, false, 0, a.marked[:0], time.Time{}
	}
	if !a.loaded && !now.Before(a.retryAt) {
		// Once per period (and after a restart): the ledger's spend. The
		// account's lock is held meanwhile, so concurrent first requests
		// wait for it instead of all reading the store.
		spent, err := t.st.Spend(ctx, l.Project, start)
		if err != nil {
			a.retryAt = now.Add(5 * time.Second)
			t.report(fmt.Errorf("budget: read spend of project %s: %w", l.Project, err))
		} else {
			a.spent += spent
			a.loaded = true
		}
	}
	if !fits(a.spent, a.reserved, estimate, l.BudgetUSD) {
		return Reservation{}, &ExceededError{Project: l.Project, SpentUSD: a.spent, Reserved: a.reserved, Estimate: estimate,
			BudgetUSD: l.BudgetUSD, Period: l.Period, ResetsAt: next}
	}
	a.reserved += estimate
	return Reservation{t: t, a: a, limit: l, start: start, amount: estimate}, nil
}

// fits is the admission rule: the worst case fits under the budget, or
// nothing is in flight and money is left.
func fits(spent, reserved, estimate, budget float64) bool {
	if reserved < 1e-12 {
		reserved = 0
	}
	return spent+reserved+estimate <= budget || (reserved == 0 && spent < budget)
}

// Settle replaces the reservation with the request's real cost.
func (r *Reservation) Settle(cost float64) {
	if r.a == nil {
		return
	}
	t, a := r.t, r.a
	if t.opts.Redis != nil {
		s := settle{a: a, limit: r.limit, start: r.start, id: r.id, amount: r.amount, cost: cost}
		select {
		case t.settles <- s:
		default:
			t.settleRedis(s) // the queue is full: settle inline
		}
		*r = Reservation{}
		return
	}
	a.mu.Lock()
	if a.start.Equal(r.start) {
		a.reserved -= r.amount
		if a.reserved < 1e-12 {
			a.reserved = 0
		}
	}
	a.spent += cost
	spent := a.spent
	crossed := a.crossed(t.opts.Thresholds, spent, r.limit.BudgetUSD)
	a.mu.Unlock()
	if crossed != 0 {
		go t.fire(r.limit, r.start, crossed, spent)
	}
	*r = Reservation{}
}

// crossed returns the highest threshold newly reached (0 for none) and
// marks every reached one; a.mu is held.
func (a *account) crossed(thresholds []int, spent, budget float64) int {
	top := 0
	for _, th := range thresholds {
		if spent >= budget*float64(th)/100 && !slices.Contains(a.marked, th) {
			a.marked = append(a.marked, th)
			top = th
		}
	}
	return top
}

// fire records thresholds up to top in the store (exactly one replica
// wins each) and calls OnThreshold for those this call won.
func (t *Tracker) fire(l Limit, start time.Time, top int, spent float64) {
	if t.opts.OnThreshold == nil {
		return
	}
	_, next := PeriodBounds(l.Period, start)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, th := range t.opts.Thresholds {
		if th > top {
			break
		}
		first, err := t.st.MarkThreshold(ctx, l.Project, start, th)
		if err != nil {
			t.report(fmt.Errorf("budget: mark threshold %d%% of project %s: %w", th, l.Project, err))
			continue
		}
		if first {
			t.opts.OnThreshold(Event{Project: l.Project, Threshold: th, SpentUSD: spent, BudgetUSD: l.BudgetUSD,
				Period: periodName(l.Period), PeriodStart: start, ResetsAt: next})
		}
	}
}

func periodName(p string) string {
	if p == store.PeriodDay {
		return store.PeriodDay
	}
	return store.PeriodMonth
}

// Spent returns a project's spend this period as this replica accounts it
// (reservations excluded), loading it when needed.
func (t *Tracker) Spent(ctx context.Context, l Limit) (spent, reserved float64, err error) {
	start, _ := PeriodBounds(l.Period, t.now())
	if t.opts.Redis != nil {
		vals, err := t.opts.Redis.HMGet(ctx, keyOf(l.Project, start), "s", "r").Result()
		if err == nil && vals[0] != nil {
			spent, _ = strconv.ParseFloat(vals[0].(string), 64)
			if vals[1] != nil {
				reserved, _ = strconv.ParseFloat(vals[1].(string), 64)
			}
			return spent, reserved, nil
		}
	} else {
		a := t.account(l.Project)
		a.mu.Lock()
		ok := a.loaded && a.start.Equal(start)
		spent, reserved = a.spent, a.reserved
		a.mu.Unlock()
		if ok {
			return spent, reserved, nil
		}
	}
	spent, err = t.st.Spend(ctx, l.Project, start)
	return spent, 0, err
}

func (t *Tracker) report(err error) {
	if t.opts.OnError != nil {
		t.opts.OnError(err)
	}
}
