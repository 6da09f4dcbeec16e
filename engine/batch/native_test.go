package batch

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// fakeNative takes the items with an even line into one provider batch
// that ends when ended is set, or when it is cancelled: then with an answer
// for its first item only.
type fakeNative struct {
	mu        sync.Mutex
	submitted [][]int
	ended     atomic.Bool
	collects  atomic.Int64
	cancels   atomic.Int64
}

func (f *fakeNative) Cancel(_ context.Context, _ store.Batch, ref []byte) error {
	if string(ref) != "prov remote-1" {
		return errors.New("cancel of an unknown batch " + string(ref))
	}
	f.cancels.Add(1)
	f.ended.Store(true)
	return nil
}

func (f *fakeNative) Submit(_ context.Context, _ store.Batch, items []store.BatchItem) ([]Submission, error) {
	var lines []int
	for _, it := range items {
		if it.Line%2 == 0 {
			lines = append(lines, it.Line)
		}
	}
	if len(lines) == 0 {
		return nil, nil
	}
	f.mu.Lock()
	f.submitted = append(f.submitted, lines)
	f.mu.Unlock()
	return []Submission{{Ref: []byte("prov remote-1"), Lines: lines}}, nil
}

func (f *fakeNative) Collect(_ context.Context, _ store.Batch, ref []byte, items []store.BatchItem) (map[int]Result, bool, error) {
	f.collects.Add(1)
	if string(ref) != "prov remote-1" || !f.ended.Load() {
		return nil, false, nil
	}
	out := map[int]Result{}
	for i, it := range items {
		if i > 0 && f.cancels.Load() > 0 {
			break
		}
		out[it.Line] = Result{Status: 200, RequestID: "native-" + strconv.Itoa(it.Line), Body: []byte(`{"native":true}`)}
	}
	return out, true, nil
}

// TestNativeResume: the items a provider batch took are stored as
// submitted; a runner that stops while that batch runs and a new one that
// starts on the same store poll it instead of submitting again, and the
// output holds every custom_id once, the native ones with their answers.
func TestNativeResume(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	nat := &fakeNative{}
	var execd atomic.Int64
	opts := Options{Store: st, Concurrency: 2, Poll: 10 * time.Millisecond, Native: nat, NativePoll: 10 * time.Millisecond,
		Auth: func(*fasthttp.RequestCtx) (Identity, *api.Error) { return Identity{Project: "p"}, nil },
		Exec: func(_ context.Context, c Call) Result {
			execd.Add(1)
			return Result{Status: 200, RequestID: c.RequestID, Body: []byte(`{"ok":true}`)}
		}}
	var in bytes.Buffer
	for i := range 6 {
		in.WriteString(`{"custom_id":"n` + strconv.Itoa(i) + `","method":"POST","url":"/v1/chat/completions","body":{}}` + "\n")
	}
	ctx := context.Background()
	f, err := st.PutFile(ctx, store.File{ProjectID: "p", Purpose: PurposeBatch, Filename: "in.jsonl", Content: in.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	first := New(opts)
	b, e := first.create(Identity{Project: "p"}, f.ID, "/v1/chat/completions", nil)
	if e != nil {
		t.Fatal(e)
	}
	first.Start()
	waitFor(t, func() bool { return nat.collects.Load() > 0 }) // submitted, executed the rest, polling
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub, err := st.BatchItems(ctx, b.ID, store.ItemSubmitted, 0, 100)
	if err != nil || len(sub) != 3 || string(sub[0].Result) != "prov remote-1" {
		t.Fatalf("submitted items %+v %v", sub, err)
	}
	nat.ended.Store(true)
	second := New(opts)
	second.Start()
	t.Cleanup(func() { _ = second.Close(context.Background()) })
	waitFor(t, func() bool {
		b, err = st.Batch(ctx, "p", b.ID)
		return err == nil && b.Status == store.BatchCompleted
	})
	nat.mu.Lock()
	if len(nat.submitted) != 1 || len(nat.submitted[0]) != 3 {
		t.Fatalf("submissions %v", nat.submitted)
	}
	nat.mu.Unlock()
	if execd.Load() != 3 || b.Completed != 6 || b.Failed != 0 {
		t.Fatalf("executed %d, batch %+v", execd.Load(), b)
	}
	out, err := st.FileContent(ctx, "p", b.OutputFileID)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out.Content)), "\n")
	if len(lines) != 6 || strings.Count(string(out.Content), `"native":true`) != 3 {
		t.Fatalf("output %s", out.Content)
	}
	for i := range 6 {
		if strings.Count(string(out.Content), `"custom_id":"n`+strconv.Itoa(i)+`"`) != 1 {
			t.Fatalf("custom_id n%d not once in %s", i, out.Content)
		}
	}
}

// TestNativeCancel: cancelling a batch whose items went to a provider's
// batch cancels that batch (once), even while the runner waits a long
// poll interval for it; the batch ends cancelled with the items the runner
// ran and the one the provider answered before the cancel, and without the
// provider's unanswered ones.
func TestNativeCancel(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	nat := &fakeNative{}
	opts := Options{Store: st, Concurrency: 2, Poll: 10 * time.Millisecond, Native: nat, NativePoll: time.Hour,
		Auth: func(*fasthttp.RequestCtx) (Identity, *api.Error) { return Identity{Project: "p"}, nil },
		Exec: func(_ context.Context, c Call) Result {
			return Result{Status: 200, RequestID: c.RequestID, Body: []byte(`{"ok":true}`)}
		}}
	var in bytes.Buffer
	for i := range 6 {
		in.WriteString(`{"custom_id":"n` + strconv.Itoa(i) + `","method":"POST","url":"/v1/chat/completions","body":{}}` + "\n")
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
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	waitFor(t, func() bool { return nat.collects.Load() > 0 }) // submitted, executed the rest, waiting an hour to poll
	if _, e := s.cancelBatch(Identity{Project: "p"}, b.ID); e != nil {
		t.Fatal(e)
	}
	waitFor(t, func() bool {
		b, err = st.Batch(ctx, "p", b.ID)
		return err == nil && b.Status == store.BatchCancelled
	})
	if n := nat.cancels.Load(); n != 1 {
		t.Fatalf("%d cancels of the provider's batch", n)
	}
	out, err := st.FileContent(ctx, "p", b.OutputFileID)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out.Content), "\n"); n != 4 || strings.Count(string(out.Content), `"native":true`) != 1 || b.Completed != 4 {
		t.Fatalf("batch %+v, output %s", b, out.Content)
	}
}

// waitFor polls cond; the bound only keeps a broken runner from hanging
// the test, nothing is timed.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
