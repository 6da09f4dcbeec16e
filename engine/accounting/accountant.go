package accounting

import "sync"

// Job is a finished request whose accounting waits for a token count.
type Job interface {
	// Account prices the request, credits its savings and records it.
	Account()
}

// Accountant finishes, on its own goroutine, the requests whose savings
// need a token count: tiktoken costs about 10 µs a token on a 2-core EPYC
// (0.33 s for a whole 100 KiB prompt), and its first use loads 22 MB of rank
// tables in 0.9 s; no answer waits for either.
//
// # Notes
//
// Submit is safe for concurrent use; after Close it refuses, and the caller
// accounts inline.
type Accountant struct {
	mu     sync.RWMutex // guards closed against Submit
	closed bool
	jobs   chan Job
	wg     sync.WaitGroup // submitted, not yet accounted
	done   chan struct{}
}

// Queue bounds the requests waiting for their count; past it the
// submitter accounts inline (the machine is behind on counting anyway).
const Queue = 1024

// NewAccountant starts an accountant.
func NewAccountant() *Accountant {
	a := newAccountant()
	go a.run()
	return a
}

// NewHeldAccountant returns an accountant that accounts nothing until
// Drain: what a test of the submitter's own work needs.
func NewHeldAccountant() *Accountant {
	a := newAccountant()
	close(a.done)
	return a
}

func newAccountant() *Accountant {
	return &Accountant{jobs: make(chan Job, Queue), done: make(chan struct{})}
}

func (a *Accountant) run() {
	defer close(a.done)
	for j := range a.jobs {
		j.Account()
		a.wg.Done()
	}
}

// Submit hands j over; false when the accountant is closed or full.
func (a *Accountant) Submit(j Job) bool {
	if a == nil {
		return false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	select {
	case a.jobs <- j:
		return true
	default:
		a.wg.Done()
		return false
	}
}

// Queued is the number of jobs waiting.
func (a *Accountant) Queued() int { return len(a.jobs) }

// Drain accounts the waiting jobs on the caller's goroutine, handing each
// to inspect first (a held accountant's only way to account).
func (a *Accountant) Drain(inspect func(Job)) {
	for {
		select {
		case j, ok := <-a.jobs:
			if !ok {
				return
			}
			if inspect != nil {
				inspect(j)
			}
			j.Account()
			a.wg.Done()
		default:
			return
		}
	}
}

// Wait returns once every submitted job is accounted.
func (a *Accountant) Wait() { a.wg.Wait() }

// Close accounts what was submitted and stops the goroutine.
func (a *Accountant) Close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.jobs)
	}
	a.mu.Unlock()
	<-a.done
	a.Drain(nil) // a held accountant's jobs
}
