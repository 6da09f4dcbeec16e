package engine

import (
	"testing"

	"github.com/aigateway/gateway/engine/store"
)

// TestCompletionsLedgerEndpoint: a legacy Completions request, on either
// path, streamed or not, answered or refused, leaves one ledger row whose
// endpoint is "completions", not "chat" (docs/ledger.md).
func TestCompletionsLedgerEndpoint(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	for _, tc := range []struct{ path, body string }{
		{"/v1/completions", `{"model":"mock/echo","prompt":"one"}`},
		{"/completions", `{"model":"mock/echo","prompt":"two","stream":true}`},
		{"/v1/completions", `{"model":"mock/echo","prompt":"three","n":0}`},
	} {
		g.post(t, tc.path, tc.body, nil)
	}
	g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"four"}]}`, nil)
	counts := map[string]int{}
	for _, r := range g.ledgerRows(t) {
		counts[r.Endpoint]++
	}
	if counts[store.EndpointCompletions] != 3 || counts[store.EndpointChat] != 1 {
		t.Fatalf("rows by endpoint: %v", counts)
	}
}
