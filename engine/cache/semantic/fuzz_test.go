package semantic

import (
	"context"
	"math"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// FuzzAnalyse: final turns are untrusted text. The local embedder and the
// guards must never panic, the vector must be finite and of unit length
// (or zero without features), and the guards must be deterministic,
// reflexive and symmetric.
func FuzzAnalyse(f *testing.F) {
	for _, p := range append(append(nearMisses(), shouldHit()...), paraphrases()...) {
		f.Add(p.a.final, p.b.final)
	}
	f.Add("'unterminated `code \"quote", "“‘«„「『")
	f.Add("n't 's ' '' ''' ’’’", "\xff\xfe\x00 é\u0301 ٣ 𝟘")
	f.Add("a_b.c/d::e->f() --g -1 $ @ # ~/x", "ÀÉÎ ǅ ﬁ İ")
	l := NewLocal(128)
	f.Fuzz(func(t *testing.T, x, y string) {
		ax, ay := acquireAnalysis(x), acquireAnalysis(y)
		defer releaseAnalysis(ax)
		defer releaseAnalysis(ay)
		v := l.embed(make([]float32, l.dims), ax)
		var n float64
		for _, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				t.Fatalf("non-finite vector for %q", x)
			}
			n += float64(f) * float64(f)
		}
		if n != 0 && math.Abs(n-1) > 1e-3 {
			t.Fatalf("|v|² = %v for %q", n, x)
		}
		if n == 0 && len(ax.toks) > 0 {
			t.Fatalf("zero vector for %d tokens of %q", len(ax.toks), x)
		}
		own := ax.sig.own()
		if g := check(&ax.sig, &own, 0); g != GuardNone {
			t.Fatalf("%q does not match itself: %v", x, g)
		}
		again := acquireAnalysis(x)
		if again.sig.exact != ax.sig.exact || check(&again.sig, &own, 0) != GuardNone {
			t.Fatalf("analysis of %q is not deterministic", x)
		}
		releaseAnalysis(again)
		for _, max := range []int{0, 2, -1} {
			if g1, g2 := check(&ax.sig, &ay.sig, max), check(&ay.sig, &ax.sig, max); g1 != g2 {
				t.Fatalf("check(%q, %q, %d) = %v, reversed %v", x, y, max, g1, g2)
			}
		}
	})
}

// FuzzLookup: any request the decoder accepts may reach Lookup and Store.
func FuzzLookup(f *testing.F) {
	f.Add(`{"model":"m","messages":[{"role":"user","content":"what is a goroutine"}]}`)
	f.Add(`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"name":"n"}]}`)
	f.Add(`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"1","content":"y"}],"tools":[{"type":"function","function":{"name":"f"}}]}`)
	f.Add(`{"model":"m","messages":[{"role":"user","content":"x","extra":1}],"n":2}`)
	ctx := context.Background()
	c, err := New(Config{MaxEntries: 64})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	e := answer(f, "a")
	f.Fuzz(func(t *testing.T, body string) {
		r := new(providers.Request)
		if r.Decode([]byte(body)) != nil {
			return
		}
		c.Lookup(ctx, r, "p", "openai", "m")
		_ = c.Store(ctx, r, "p", "openai", "m", e)
		if _, _, ok := c.Lookup(ctx, r, "p", "openai", "m"); ok {
			if _, reason := finalTurn(r, DefaultMaxTurnChars); reason != "" {
				t.Fatalf("hit for an ineligible request (%s)", reason)
			}
		}
	})
}

// FuzzDecodeRecord: records come from a shared Redis.
func FuzzDecodeRecord(f *testing.F) {
	r := &rec{project: "p", text: "what is a goroutine", vec: []float32{0.6, 0.8}, entry: answer(f, "a goroutine is"), expires: 1 << 40}
	f.Add(appendRecord(nil, r, "openai", "m", 0))
	f.Add(appendRecord(nil, r, "openai", "m", 1))
	f.Add([]byte{recMagic, recVersion, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		text, vec, e, err := decodeRecord(append([]byte(nil), b...))
		if err != nil {
			return
		}
		for _, x := range vec {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatal("non-finite vector decoded")
			}
		}
		back := appendRecord(nil, &rec{project: e.Project, text: text, vec: vec, entry: e, expires: e.Expires}, e.Provider, e.UpstreamModel, 64)
		t2, v2, e2, err := decodeRecord(back)
		if err != nil || t2 != text || len(v2) != len(vec) || string(e2.Content) != string(e.Content) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseEmbeddings: embeddings responses come from upstreams.
func FuzzParseEmbeddings(f *testing.F) {
	f.Add([]byte(`{"data":[{"index":0,"embedding":[0.1,0.2]},{"index":1,"embedding":"AACAPwAAAEA="}]}`), 2)
	f.Add([]byte(`{"data":[{"index":-1}]}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		vs, err := parseEmbeddings(body, n)
		if err != nil {
			return
		}
		if len(vs) != n {
			t.Fatalf("%d vectors for %d inputs", len(vs), n)
		}
		for _, v := range vs {
			if len(v) == 0 || len(v) != len(vs[0]) {
				t.Fatal("empty or ragged vectors accepted")
			}
		}
	})
}
