package engine

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
)

// Libraries that log (go-redis when a node is down, the standard library's
// log package) write plain text to stderr by default, in the middle of the
// gateway's JSON lines. RouteLibraryLogs sends them through the gateway's
// structured logger instead, rate-limited: a Redis outage makes go-redis
// log on every dial attempt.

var libLogSuppressed = metrics.NewCounter(`gateway_library_log_suppressed_total`)

const (
	// libLogBurst lines per libLogWindow and source are written; the rest
	// are counted and reported with the next line written.
	libLogBurst  = 5
	libLogWindow = 10 * time.Second
)

// libLogger is one library's log, as slog records with a source attribute.
type libLogger struct {
	log    *slog.Logger
	source string
	level  slog.Level

	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

func newLibLogger(l *slog.Logger, source string, level slog.Level) *libLogger {
	return &libLogger{log: l, source: source, level: level}
}

func (l *libLogger) emit(msg string) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.window) >= libLogWindow {
		l.window, l.n = now, 0
	}
	l.n++
	if l.n > libLogBurst {
		l.suppressed++
		l.mu.Unlock()
		libLogSuppressed.Inc()
		return
	}
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	msg = strings.TrimSpace(msg)
	if suppressed > 0 {
		l.log.Log(context.Background(), l.level, msg, "source", l.source, "suppressed_before", suppressed)
		return
	}
	l.log.Log(context.Background(), l.level, msg, "source", l.source)
}

// Printf is go-redis's internal.Logging.
func (l *libLogger) Printf(_ context.Context, format string, v ...any) {
	l.emit(fmt.Sprintf(format, v...))
}

// Write is an io.Writer for the standard log package (one line a call).
func (l *libLogger) Write(p []byte) (int, error) {
	l.emit(string(p))
	return len(p), nil
}

// fasthttpLogger is fasthttp's Logger.
type fasthttpLogger struct{ *libLogger }

func (l fasthttpLogger) Printf(format string, v ...any) { l.emit(fmt.Sprintf(format, v...)) }

// RouteLibraryLogs sends go-redis's and the standard log package's output
// through logger, as JSON records with "source" set, at most 5 lines per
// 10 s from each (the rest counted in
// gateway_library_log_suppressed_total). Both are process-wide: call it
// once, from main, before serving.
func RouteLibraryLogs(logger *slog.Logger) {
	redis.SetLogger(newLibLogger(logger, "go-redis", slog.LevelWarn))
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(newLibLogger(logger, "log", slog.LevelWarn))
}
