package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestExpiry: a batch whose completion window ends mid-run starts no more
// items; each one not run gets a batch_expired error line, the ones run are
// in the output, and the batch is expired.
func TestExpiry(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now()}
	first := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	ran := 0
	svc := New(Options{Store: st, Concurrency: 1, Poll: 10 * time.Millisecond, Now: clk.Now,
		Auth: func(*fasthttp.RequestCtx) (Identity, *api.Error) { return Identity{Project: "p"}, nil },
		Exec: func(_ context.Context, c Call) Result {
			mu.Lock()
			ran++
			mu.Unlock()
			once.Do(func() { close(first); <-release })
			return Result{Status: 200, RequestID: c.RequestID, Body: []byte(`{"ok":true}`)}
		}})
	var in bytes.Buffer
	for i := range 5 {
		in.WriteString(`{"custom_id":"e` + strconv.Itoa(i) + `","method":"POST","url":"/v1/chat/completions","body":{}}` + "\n")
	}
	ctx := context.Background()
	f, err := st.PutFile(ctx, store.File{ProjectID: "p", Purpose: PurposeBatch, Filename: "in.jsonl", Content: in.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	b, e := svc.create(Identity{Project: "p"}, f.ID, "/v1/chat/completions", nil)
	if e != nil {
		t.Fatal(e)
	}
	svc.Start()
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	<-first
	clk.Advance(25 * time.Hour)
	close(release)
	deadline := time.Now().Add(time.Minute) // a bound on a broken runner, not a timing assertion
	for {
		b, err = st.Batch(ctx, "p", b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b.Status == store.BatchExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s", b.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.Completed != 1 || b.Failed != 4 || b.ExpiredAt.IsZero() || b.OutputFileID == "" || b.ErrorFileID == "" {
		t.Fatalf("expired batch %+v", b)
	}
	mu.Lock()
	if ran != 1 {
		t.Fatalf("%d items ran", ran)
	}
	mu.Unlock()
	ef, err := st.FileContent(ctx, "p", b.ErrorFileID)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(ef.Content)), "\n")
	if len(lines) != 4 {
		t.Fatalf("error file: %s", ef.Content)
	}
	for _, l := range lines {
		var ol outputLine
		if err := json.Unmarshal([]byte(l), &ol); err != nil || ol.Error == nil || ol.Error.Code != "batch_expired" || ol.Response != nil {
			t.Fatalf("error line %s", l)
		}
	}
}
