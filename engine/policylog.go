package engine

import (
	"log/slog"
	"sync"
	"time"

	"github.com/aigateway/gateway/wasm"
)

// policyFailureLogEvery is the least time between two warning lines about
// the same policy: a policy failing on every request must not flood the log.
const policyFailureLogEvery = 10 * time.Second

// failureLogger writes one warning line per failed policy call, at most one
// per policy per interval; the next line says how many it left out. The
// full recent history is in GET /admin/policies/{name}.
type failureLogger struct {
	log   *slog.Logger
	every time.Duration

	mu   sync.Mutex
	last map[string]*failureLogState
}

type failureLogState struct {
	at         time.Time
	suppressed int
}

func newFailureLogger(log *slog.Logger, every time.Duration) *failureLogger {
	return &failureLogger{log: log, every: every, last: map[string]*failureLogState{}}
}

// failed is the Host's OnFailure hook.
func (l *failureLogger) failed(policy string, r wasm.FailureRecord) {
	l.mu.Lock()
	st := l.last[policy]
	if st == nil {
		st = &failureLogState{}
		l.last[policy] = st
	}
	if !st.at.IsZero() && r.Time.Sub(st.at) < l.every {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.at, st.suppressed = r.Time, 0
	l.mu.Unlock()
	l.log.Warn("policy failed", "policy", policy, "stage", r.Stage, "reason", r.Reason, "status", r.Status,
		"message", r.Message, "request_id", r.RequestID, "digest", r.Digest, "suppressed_since_last", suppressed)
}
