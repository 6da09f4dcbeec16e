// Package upcheck holds the checks every provider's tests share against the
// fakes of providertest: an upstream that echoes the gateway's key never gets
// it to the caller, and sequential calls reuse one upstream connection. It
// sits apart from providertest because it needs the providers package, which
// imports providertest in its own tests.
package upcheck

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

// Call is one named provider call.
type Call struct {
	Name string
	Do   func() (*providers.Response, error)
}

// echoed is the start of every message a providertest.KeyEcho upstream
// sends back.
const echoed = "Incorrect API key provided: "

// Refused checks calls to a refusing KeyEcho upstream: each fails with the
// upstream's message, and no form of key (or of the extra secrets) is in
// its text.
func Refused(t *testing.T, key string, calls []Call, secrets ...string) {
	t.Helper()
	for _, c := range calls {
		resp, err := c.Do()
		if err == nil {
			resp.Close()
			t.Fatalf("%s: no error", c.Name)
		}
		text := providertest.ErrorText(err)
		if !strings.Contains(text, echoed) {
			t.Fatalf("%s: %v", c.Name, err)
		}
		for _, k := range append([]string{key}, secrets...) {
			providertest.NoKey(t, k, c.Name+" error", text)
		}
	}
}

// BrokenMidStream checks streams from a KeyEcho upstream that fails after
// the stream started: read to its end, each carries the upstream's message
// in an error event, with no form of key (or of the extra secrets).
func BrokenMidStream(t *testing.T, key string, calls []Call, secrets ...string) {
	t.Helper()
	for _, c := range calls {
		resp, err := c.Do()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		out, err := providertest.ReadStream(resp.Stream)
		resp.Close()
		if err != nil || !strings.Contains(out, echoed) {
			t.Fatalf("%s: %v %s", c.Name, err, out)
		}
		for _, k := range append([]string{key}, secrets...) {
			providertest.NoKey(t, k, c.Name+" mid-stream error event", out)
		}
	}
}

// Reuse makes n sequential calls with do to srv, each read to its end (or,
// with abandon, closed after its first event), and checks the upstream
// connections: at most maxConns, and with abandon one per call (an
// abandoned stream must close its own). A call expected to fail (wantErr)
// must fail every time, its error answer read whole.
func Reuse(t *testing.T, srv *providertest.Server, n int, abandon, wantErr bool, maxConns int64, do func() (*providers.Response, error)) {
	t.Helper()
	for range n {
		resp, err := do()
		if wantErr {
			if err == nil {
				resp.Close()
				t.Fatal("no error")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.Stream != nil {
			if abandon {
				_, _ = resp.Stream.Next()
			} else if out, err := providertest.ReadStream(resp.Stream); err != nil ||
				!strings.HasSuffix(out, "data: [DONE]\n\n") && !strings.Contains(out, "message_stop") {
				t.Fatalf("%v %q", err, out)
			}
		}
		resp.Close()
	}
	got := srv.Conns.Load()
	if got > maxConns || abandon && got < int64(n) {
		t.Fatalf("%d sequential calls opened %d upstream connections, want ≤ %d (abandon: %v)", n, got, maxConns, abandon)
	}
}
