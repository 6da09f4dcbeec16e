package messages

import (
	"context"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

// TestStreamConnectionReuse: a Stream over a translated upstream stream
// asks its source for the end after [DONE], so 100 sequential turns,
// each read to message_stop, share the upstream connections of every
// provider kind (at most 2).
func TestStreamConnectionReuse(t *testing.T) {
	t.Parallel()
	const n = 100
	oai, err := RequestToOpenAI(nil, []byte(`{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`), Target{})
	if err != nil {
		t.Fatal(err)
	}
	for _, uk := range upstreamKinds() {
		t.Run(uk.name, func(t *testing.T) {
			t.Parallel()
			p, srv := uk.start(t)
			t.Cleanup(func() { _ = srv.Close() })
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode(oai); err != nil {
				t.Fatal(err)
			}
			for range n {
				resp, err := p.Chat(context.Background(), &providers.Call{Req: r, Model: uk.model, ID: "chatcmpl-reuse", Created: 1})
				if err != nil {
					t.Fatal(err)
				}
				s := NewStream(resp.Stream, uk.model)
				resp.Stream = s
				if out, err := providertest.ReadStream(s); err != nil || !strings.HasSuffix(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
					t.Fatalf("%v %q", err, out)
				}
				resp.Close()
			}
			if got := srv.Conns.Load(); got > 2 {
				t.Fatalf("%d sequential turns opened %d upstream connections, want ≤ 2", n, got)
			}
		})
	}
}
