package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

func TestGuardRefusesPrivateDestinations(t *testing.T) {
	t.Parallel()
	g, err := NewGuard([]string{"10.1.2.0/24", "hooks.internal", "fd00::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		ok        bool
	}{
		{name: "public IPv4", url: "https://93.184.216.34/hook", ok: true},
		{name: "public IPv6", url: "https://[2606:2800:220:1:248:1893:25c8:1946]/hook", ok: true},
		{name: "loopback", url: "http://127.0.0.1:8080/hook"},
		{name: "loopback other", url: "http://127.1.2.3/hook"},
		{name: "localhost name", url: "http://localhost/hook"},
		{name: "IPv6 loopback", url: "http://[::1]/hook"},
		{name: "unspecified", url: "http://0.0.0.0/hook"},
		{name: "IPv6 unspecified", url: "http://[::]/hook"},
		{name: "RFC 1918 10/8", url: "http://10.0.0.5/hook"},
		{name: "RFC 1918 172.16/12", url: "http://172.20.1.1/hook"},
		{name: "RFC 1918 192.168/16", url: "http://192.168.1.1/hook"},
		{name: "cloud metadata", url: "http://169.254.169.254/latest/meta-data/"},
		{name: "carrier-grade NAT", url: "http://100.64.0.1/"},
		{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]/"},
		{name: "IPv6 unique local", url: "http://[fd12::1]/"},
		{name: "IPv6 link-local", url: "http://[fe80::1]/"},
		{name: "multicast", url: "http://224.0.0.1/"},
		{name: "broadcast", url: "http://255.255.255.255/"},
		{name: "NAT64 of loopback", url: "http://[64:ff9b::7f00:1]/"},
		{name: "decimal IP is not a host name", url: "http://2130706433/"},
		{name: "allow-listed CIDR", url: "http://10.1.2.3/hook", ok: true},
		{name: "outside the allow-listed CIDR", url: "http://10.1.3.3/hook"},
		{name: "allow-listed IPv6 address", url: "http://[fd00::1]/hook", ok: true},
		{name: "allow-listed host name", url: "http://hooks.internal:9000/x", ok: true},
		{name: "allow-listed host name, any case", url: "http://HOOKS.internal./x", ok: true},
		{name: "file scheme", url: "file:///etc/passwd"},
		{name: "gopher scheme", url: "gopher://93.184.216.34/"},
		{name: "no host", url: "http:///x"},
		{name: "credentials", url: "https://u:p@93.184.216.34/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := g.CheckURL(context.Background(), tc.url)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !errors.Is(err, ErrRefused)) {
				t.Fatalf("accepted (err %v)", err)
			}
		})
	}
}

// The dialler checks the address actually connected to: a name that
// resolves to loopback (as after DNS rebinding) is refused at delivery.
func TestDeliveryRefusesRebindingToLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	d, err := New(nil, Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// "localhost" passes no creation check here: we call Send directly,
	// as a delivery whose name now resolves to 127.0.0.1 would.
	res := d.Send(context.Background(), &store.Webhook{URL: "http://localhost:" + port + "/", Secret: "s"}, "dlv_1", EventTest, []byte("{}"))
	if res.OK() || !res.Permanent || !strings.Contains(res.Error, "loopback") {
		t.Fatalf("delivered to loopback: %+v", res)
	}
	// Allow-listed, the same receiver gets it.
	d2, _ := New(nil, Options{Timeout: 2 * time.Second, Allow: []string{"127.0.0.1/32", "::1/128"}})
	if res := d2.Send(context.Background(), &store.Webhook{URL: "http://localhost:" + port + "/", Secret: "s"}, "dlv_1", EventTest, []byte("{}")); !res.OK() {
		t.Fatalf("allow-listed delivery failed: %+v", res)
	}
}

func TestSignatureVerifies(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"budget.threshold"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := Sign("whsec_abc", now.Unix(), body)
	// The vector docs/webhooks.md's Python snippet computes too.
	if sig != "t=1800000000,v1=619da32bb428207f90242e8eead39deea5bd59be1f9e30ae2d1489cecac5cdc5" {
		t.Fatalf("signature %q", sig)
	}
	tests := []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
		ok                   bool
	}{
		{name: "valid", secret: "whsec_abc", header: sig, body: body, at: now, ok: true},
		{name: "valid within tolerance", secret: "whsec_abc", header: sig, body: body, at: now.Add(4 * time.Minute), ok: true},
		{name: "old (replay)", secret: "whsec_abc", header: sig, body: body, at: now.Add(6 * time.Minute)},
		{name: "wrong secret", secret: "whsec_abd", header: sig, body: body, at: now},
		{name: "body changed", secret: "whsec_abc", header: sig, body: []byte(`{"id":"evt_2"}`), at: now},
		{name: "timestamp changed", secret: "whsec_abc", header: strings.Replace(sig, "t=1800000000", "t=1800000001", 1), body: body, at: now},
		{name: "no v1", secret: "whsec_abc", header: "t=1800000000", body: body, at: now},
		{name: "garbage", secret: "whsec_abc", header: "nonsense", body: body, at: now},
		{name: "second v1 matches (rotation)", secret: "whsec_abc", header: "t=1800000000,v1=00," + sig[len("t=1800000000,"):], body: body, at: now, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tc.secret, tc.header, tc.body, 5*time.Minute, tc.at)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// receiver is an allow-listed loopback endpoint that verifies signatures.
type receiver struct {
	srv    *httptest.Server
	secret atomic.Pointer[string]
	fails  atomic.Int64 // answer 500 this many more times
	mu     sync.Mutex
	got    []string // delivery ids, verified
	bad    int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.fails.Add(-1) >= 0 {
			w.WriteHeader(500)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if s := r.secret.Load(); s == nil || Verify(*s, req.Header.Get("X-Gateway-Signature"), body, 5*time.Minute, time.Now()) != nil {
			r.bad++
			w.WriteHeader(401)
			return
		}
		r.got = append(r.got, req.Header.Get("X-Gateway-Delivery"))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var loopback = []string{"127.0.0.1/32"}

// An event queued before a restart is delivered after it: the outbox is
// in the store, not in memory.
func TestOutboxSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rcv := newReceiver(t)
	st := openStore(t, dir)
	w, err := st.CreateWebhook(context.Background(), store.Webhook{URL: rcv.srv.URL, Events: []string{EventKeyCreated}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret.Store(&w.Secret)
	d, _ := New(st, Options{Allow: loopback})
	n, err := d.Emit(context.Background(), EventKeyCreated, "acme", map[string]string{"key_id": "key_1"})
	if err != nil || n != 1 {
		t.Fatalf("emit: %d %v", n, err)
	}
	if _, err := d.Emit(context.Background(), EventBudgetExceeded, "acme", nil); err != nil { // not subscribed
		t.Fatal(err)
	}
	st.Close() // the gateway stops before its dispatcher ran

	st2 := openStore(t, dir)
	defer st2.Close()
	d2, _ := New(st2, Options{Allow: loopback, PollInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d2.Run(ctx)
	eventually(t, 10*time.Second, "delivery after restart", func() bool { return len(rcv.received()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if got := rcv.received(); len(got) != 1 || rcv.bad != 0 {
		t.Fatalf("received %v, %d bad signatures", got, rcv.bad)
	}
	ds, _ := st2.ListDeliveries(context.Background(), w.ID, 0)
	if len(ds) != 1 || ds[0].DeliveredAt.IsZero() {
		t.Fatalf("deliveries %+v", ds)
	}
}

// A failing receiver gets the delivery again, with backoff, until it
// answers 2xx; the delivery id stays the same.
func TestFailedDeliveryIsRetried(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.fails.Store(2)
	st := openStore(t, t.TempDir())
	defer st.Close()
	w, _ := st.CreateWebhook(context.Background(), store.Webhook{URL: rcv.srv.URL})
	rcv.secret.Store(&w.Secret)
	d, _ := New(st, Options{Allow: loopback, PollInterval: 10 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	if _, err := d.Emit(ctx, EventPolicyUpdated, "", map[string]string{"policy": "router"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "delivered after two failures", func() bool { return len(rcv.received()) == 1 })
	// The dispatcher marks the delivery after the receiver has answered:
	// wait for the mark too.
	eventually(t, 10*time.Second, "delivery marked", func() bool {
		ds, _ := st.ListDeliveries(ctx, w.ID, 0)
		return len(ds) == 1 && !ds[0].DeliveredAt.IsZero()
	})
	ds, _ := st.ListDeliveries(ctx, w.ID, 0)
	if len(rcv.received()) != 1 || len(ds) != 1 || ds[0].Attempts != 3 || ds[0].DeliveredAt.IsZero() {
		t.Fatalf("deliveries %+v", ds)
	}
}

// A destination refused at delivery is given up at once, not retried.
func TestRefusedDestinationIsGivenUp(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	w, _ := st.CreateWebhook(context.Background(), store.Webhook{URL: "http://127.0.0.1:9/"})
	d, _ := New(st, Options{PollInterval: 10 * time.Millisecond}) // loopback not allowed
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)
	if _, err := d.Emit(ctx, EventKeyRevoked, "", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "given up", func() bool {
		ds, _ := st.ListDeliveries(ctx, w.ID, 0)
		return len(ds) == 1 && !ds[0].FailedAt.IsZero()
	})
	ds, _ := st.ListDeliveries(ctx, w.ID, 0)
	if ds[0].Attempts != 1 || !strings.Contains(ds[0].LastError, "loopback") {
		t.Fatalf("%+v", ds[0])
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	d, _ := New(nil, Options{BackoffBase: time.Second, BackoffMax: 10 * time.Second})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 30: 10 * time.Second} {
		got := d.backoff(n)
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("backoff(%d) = %v, want %v ±20%%", n, got, want)
		}
	}
}
