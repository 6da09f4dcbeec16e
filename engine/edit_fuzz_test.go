package engine

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
)

var editTexts = []string{"", "plain", `quote " and \ backslash`, "line\nbreak\ttab", "unicode é 漢字 🎉", "</script>\u2028", "\x01control"}

// FuzzApplyEdits: any body the decoder accepts, with any set of message
// edits and insertions, is rewritten into valid JSON whose decoded request
// is the edited one: messages as edited, in order, and every other member
// byte-identical to the client's, in the client's order.
func FuzzApplyEdits(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"}],"model":"mock/echo"}`,
		`{ "temperature" : 0.5 , "messages" : [ {"content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}],"role":"user"} ] ,"model":"x","x_unknown":{"a":[1,2]}}`,
		`{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}],"model":"mod\u0065l-name"}`,
		"{\"model\":\"m\",\n\t\"messages\":[\n{\"role\":\"user\",\"content\":\"h\\u00e9\"}\n],\"stream\":true}",
	} {
		f.Add([]byte(s), uint64(1))
		f.Add([]byte(s), uint64(42))
	}
	f.Fuzz(func(t *testing.T, body []byte, seed uint64) {
		x := &exchange{req: providers.AcquireRequest()}
		defer providers.ReleaseRequest(x.req)
		if err := x.req.Decode(body); err != nil {
			return
		}
		orig := snapshotRequest(x.req)
		rng := rand.New(rand.NewPCG(seed, seed>>7|1))
		var finals []wasm.FinalMessage
		var want []msgView
		insert := func() {
			role := []string{"system", "user", "assistant"}[rng.IntN(3)]
			text := editTexts[rng.IntN(len(editTexts))]
			finals = append(finals, wasm.FinalMessage{Orig: -1, Role: []byte(role), Text: []byte(text), Changed: true})
			want = append(want, msgView{role, text})
		}
		for i, m := range orig.msgs {
			if rng.IntN(4) == 0 {
				insert()
			}
			if rng.IntN(3) == 0 {
				text := editTexts[rng.IntN(len(editTexts))]
				finals = append(finals, wasm.FinalMessage{Orig: i, Role: []byte(m.role), Text: []byte(text), Changed: true})
				want = append(want, msgView{m.role, text})
				continue
			}
			finals = append(finals, wasm.FinalMessage{Orig: i, Role: []byte(m.role), Text: []byte(m.text)})
			want = append(want, m)
		}
		if rng.IntN(4) == 0 {
			insert()
		}
		if err := applyEdits(x, finals); err != nil {
			t.Fatalf("edit of a valid body failed: %v\nbody %s", err, body)
		}
		got := snapshotRequest(x.req)
		if len(got.msgs) != len(want) {
			t.Fatalf("%d messages, want %d\n%s", len(got.msgs), len(want), x.req.Body)
		}
		for i := range want {
			if got.msgs[i] != want[i] {
				t.Fatalf("message %d is %+v, want %+v\n%s", i, got.msgs[i], want[i], x.req.Body)
			}
		}
		if got.model != orig.model {
			t.Fatalf("model %q became %q", orig.model, got.model)
		}
		if strings.Join(got.keys, ",") != strings.Join(orig.keys, ",") {
			t.Fatalf("members %v became %v", orig.keys, got.keys)
		}
		for i, k := range orig.keys {
			if k != "messages" && !bytes.Equal(got.vals[i], orig.vals[i]) {
				t.Fatalf("member %s changed: %s → %s", k, orig.vals[i], got.vals[i])
			}
		}
	})
}

type msgView struct{ role, text string }

type reqView struct {
	model string
	msgs  []msgView
	keys  []string
	vals  [][]byte
}

// snapshotRequest copies what the fuzz target compares out of r.
func snapshotRequest(r *providers.Request) reqView {
	v := reqView{model: strings.Clone(r.Model)}
	for i := range r.Messages {
		v.msgs = append(v.msgs, msgView{strings.Clone(r.Messages[i].Role), strings.Clone(r.Messages[i].Text())})
	}
	for _, f := range r.Fields {
		v.keys = append(v.keys, strings.Clone(f.Key))
		v.vals = append(v.vals, bytes.Clone(r.Body[f.ValStart:f.End]))
	}
	return v
}
