package batch

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// TestYieldToInteractive: while Options.Interactive reports live requests,
// one item runs at a time (each item holds its slot until the test lets it
// go, so a second one started meanwhile would be seen); once they are
// gone, items run at Concurrency again, and the batch completes.
func TestYieldToInteractive(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var busy atomic.Bool
	busy.Store(true)
	var cur, most, started atomic.Int64
	gate := make(chan struct{})
	opts := Options{Store: st, Concurrency: 4, Poll: 10 * time.Millisecond,
		Interactive: busy.Load,
		Auth:        func(*fasthttp.RequestCtx) (Identity, *api.Error) { return Identity{Project: "p"}, nil },
		Exec: func(_ context.Context, c Call) Result {
			n := cur.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			started.Add(1)
			<-gate
			cur.Add(-1)
			return Result{Status: 200, RequestID: c.RequestID, Body: []byte(`{"ok":true}`)}
		}}
	var in bytes.Buffer
	for i := range 8 {
		in.WriteString(`{"custom_id":"y` + strconv.Itoa(i) + `","method":"POST","url":"/v1/chat/completions","body":{}}` + "\n")
	}
	ctx := context.Background()
	f, err := st.PutFile(ctx, store.File{ProjectID: "p", Purpose: PurposeBatch, Filename: "in.jsonl", Content: in.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	s := New(opts)
	b, e := s.create(Identity{Project: "p"}, f.ID, "/v1/chat/completions", nil)
	if e != nil {
		t.Fatal(e)
	}
	s.Start()
	var release sync.Once
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	// Runs first (cleanups are LIFO): a failed test lets its items go, or
	// Close would wait for them forever.
	t.Cleanup(func() { release.Do(func() { close(gate) }) })
	for i := range 3 {
		waitFor(t, func() bool { return started.Load() > int64(i) })
		gate <- struct{}{}
	}
	waitFor(t, func() bool { return started.Load() >= 4 })
	if m := most.Load(); m != 1 {
		t.Fatalf("%d items ran at once while interactive requests were in flight", m)
	}
	busy.Store(false)
	waitFor(t, func() bool { return cur.Load() == 4 })
	release.Do(func() { close(gate) })
	waitFor(t, func() bool {
		b, err = st.Batch(ctx, "p", b.ID)
		return err == nil && b.Status == store.BatchCompleted
	})
	if b.Completed != 8 {
		t.Fatalf("batch %+v", b)
	}
}
