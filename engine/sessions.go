package engine

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/aigateway/gateway/engine/session"
	"github.com/aigateway/gateway/providers"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// Session context ([sessions], engine/session, docs/context.md): a client
// that sends X-Session-Id and only its new turn gets the stored history
// put in front of it; a client that sends its whole history is detected
// and sent as it is. Only POST /v1/chat/completions takes part.

var (
	sessionMerged  = metrics.NewCounter(`gateway_session_requests_total{outcome="merged"}`)
	sessionResent  = metrics.NewCounter(`gateway_session_requests_total{outcome="resent"}`)
	sessionNew     = metrics.NewCounter(`gateway_session_requests_total{outcome="new"}`)
	sessionFailed  = metrics.NewCounter(`gateway_session_requests_total{outcome="store_unavailable"}`)
	sessionStoreEr = metrics.NewCounter(`gateway_session_store_errors_total`)
)

// sessionTimeout bounds one store call: a slow store costs a turn its
// history, never its answer.
const sessionTimeout = 500 * time.Millisecond

// sessions is the server's session store and settings.
type sessions struct {
	store session.Store
	rdb   redis.UniversalClient // nil: in-process
	cfg   SessionsConfig
}

func newSessions(cfg *Config) (*sessions, error) {
	if !cfg.Sessions.Enabled {
		return nil, nil
	}
	ss := &sessions{cfg: cfg.Sessions}
	if cfg.Cache.RedisURL == "" {
		ss.store = session.NewMemory(max(cfg.Cache.MemoryMB, 16) << 20)
		return ss, nil
	}
	rdb, err := redisconn.Open(cfg.Cache.RedisURL, redisconn.Tuning{DialTimeout: 2 * time.Second, ReadTimeout: sessionTimeout, WriteTimeout: sessionTimeout})
	if err != nil {
		return nil, err
	}
	ss.store, ss.rdb = session.NewRedis(rdb), rdb
	return ss, nil
}

func (ss *sessions) close() {
	if ss != nil && ss.rdb != nil {
		_ = ss.rdb.Close()
	}
}

// sessionState is one request's session: the store key and the
// conversation to store with the answer (copied: it outlives the body).
type sessionState struct {
	key  string
	conv []byte // {"messages":[…]}
	ttl  time.Duration
	max  SessionsConfig
	st   session.Store
}

// mergeSession applies X-Session-Id to x's decoded request.
func (s *Server) mergeSession(ctx *fasthttp.RequestCtx, x *exchange) error {
	sid := ctx.Request.Header.Peek("X-Session-Id")
	if s.sessions == nil || len(sid) == 0 {
		return nil
	}
	keyID := ""
	if x.ten.key != nil {
		keyID = x.ten.key.ID
	}
	key := session.Key(x.project, keyID, string(sid))
	c, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	raw, err := s.sessions.store.Get(c, key)
	cancel()
	h := &ctx.Response.Header
	if err != nil {
		// Without the store the turn goes as the client sent it and is
		// not recorded: writing would lose the history it could not read.
		sessionFailed.Inc()
		sessionStoreEr.Inc()
		h.Set("X-Gateway-Session", "unavailable")
		return nil
	}
	var stored *providers.Request
	if raw != nil {
		stored = providers.AcquireRequest()
		defer providers.ReleaseRequest(stored)
		if stored.Decode(raw) != nil {
			stored = nil // a history this version cannot read starts over
		}
	}
	msgs, resent := session.Merge(stored, x.req)
	outcome := "resent"
	switch {
	case stored == nil:
		outcome = "new"
		sessionNew.Inc()
	case resent:
		sessionResent.Inc()
	default:
		outcome = "merged"
		sessionMerged.Inc()
	}
	h.Set("X-Gateway-Session", outcome)
	conv := session.Encode(nil, msgs)
	if !resent {
		r := x.req
		f, _ := r.Field("messages")
		b := r.Body
		dst := append(r.EditBuffer(), b[:f.ValStart]...)
		dst = append(dst, conv[len(`{"messages":`):len(conv)-1]...)
		dst = append(dst, b[f.End:]...)
		if err := r.Adopt(dst); err != nil {
			return &apiError{Status: 500, Type: typeServer, Code: "session_invalid", Msg: "the stored session could not be merged: " + err.Error()}
		}
	}
	x.ses = &sessionState{key: key, conv: conv, ttl: s.sessions.cfg.TTL.D(), max: s.sessions.cfg, st: s.sessions.store}
	return nil
}

// save stores the conversation with the answer (an OpenAI chat completion
// body), trimmed to the configured bounds. It runs once per request.
func (ss *sessionState) save(completion []byte) {
	if ss == nil {
		return
	}
	answer, ok := session.AnswerMessage(nil, completion)
	if !ok {
		return
	}
	conv := ss.conv[:len(ss.conv)-2] // without "]}"
	if len(conv) > len(`{"messages":[`) {
		conv = append(conv, ',')
	}
	conv = append(append(conv, answer...), "]}"...)
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	if r.Decode(conv) != nil {
		return
	}
	msgs := session.Trim(r, session.Raw(r), ss.max.MaxMessages, ss.max.MaxBytes)
	val := session.Encode(nil, msgs)
	c, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	if err := ss.st.Set(c, ss.key, val, ss.ttl); err != nil {
		sessionStoreEr.Inc()
	}
}

// sessionStream tees a streamed answer into an assembler and saves the
// session when the stream reaches [DONE].
type sessionStream struct {
	inner providers.Stream
	ses   *sessionState
	asm   cache.Assembler
	once  sync.Once
	model string
}

func (st *sessionStream) Next() ([]byte, error) {
	b, err := st.inner.Next()
	switch {
	case err == nil:
		st.asm.Write(b)
	case err == io.EOF:
		st.once.Do(func() {
			st.asm.SetUsage(st.inner.Usage())
			if e, err := st.asm.Entry(st.model); err == nil {
				st.ses.save(e.AppendCompletion(nil, "session"))
			}
		})
	}
	return b, err
}

// Pending delegates to the inner stream.
func (st *sessionStream) Pending() bool {
	p, ok := st.inner.(providers.Pender)
	return ok && p.Pending()
}

func (st *sessionStream) Usage() providers.Usage { return st.inner.Usage() }
func (st *sessionStream) Close() error           { return st.inner.Close() }
