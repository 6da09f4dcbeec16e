package cost

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

func traceDigest(tr *Trace) [32]byte {
	h := sha256.New()
	for _, r := range tr.Requests {
		h.Write([]byte(r.At.String() + r.Session + r.Kind + r.Model + r.Repeat))
		h.Write(r.Body)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	a, b := Generate(7, SmallMix()), Generate(7, SmallMix())
	if traceDigest(a) != traceDigest(b) {
		t.Fatal("two traces from seed 7 differ")
	}
	if c := Generate(8, SmallMix()); traceDigest(c) == traceDigest(a) {
		t.Fatal("seeds 7 and 8 give the same trace")
	}
}

func TestGenerateShape(t *testing.T) {
	t.Parallel()
	tr := Generate(1, SmallMix())
	kinds := map[string]int{}
	models := map[string]int{}
	for i, r := range tr.Requests {
		if r.ID != i {
			t.Fatalf("request %d has ID %d", i, r.ID)
		}
		if i > 0 && r.At < tr.Requests[i-1].At {
			t.Fatalf("request %d is before request %d", i, i-1)
		}
		kinds[r.Kind]++
		models[r.Model]++
		if _, _, err := Meaning(r.Format, r.Body); err != nil {
			t.Fatalf("request %d (%s): %v", i, r.Kind, err)
		}
		if r.Repeat != "" {
			o := tr.Requests[r.Of]
			if r.Of >= i || !bytes.Equal(o.Body, r.Body) {
				t.Fatalf("request %d repeats %d but is not a later identical copy", i, r.Of)
			}
			if r.Repeat == "retry" && !o.Temp0 {
				t.Fatalf("request %d retries a request that is not at temperature 0", i)
			}
		}
		if bytes.Contains(r.Body, []byte(`\u003c`)) {
			t.Fatalf("request %d: HTML-escaped body (clients do not escape <)", i)
		}
	}
	for _, k := range []string{"agent", "claude-code", "chat", "autocomplete"} {
		if kinds[k] == 0 {
			t.Errorf("no %s request", k)
		}
	}
	if models["auto"] == 0 {
		t.Error(`no "auto" request`)
	}
	s := tr.Summary()
	if s.Retries == 0 || s.Revisits == 0 {
		t.Errorf("retries %d, revisits %d: want some of each", s.Retries, s.Revisits)
	}
}

// TestAgentSessionsResend checks that an agent session re-sends its prefix:
// each request of a session starts with the previous one's messages.
func TestAgentSessionsResend(t *testing.T) {
	t.Parallel()
	tr := Generate(3, SmallMix())
	last := map[string]*Conv{}
	for _, r := range tr.Requests {
		if r.Kind != "agent" || r.Repeat != "" {
			continue
		}
		c, err := ConvFromOpenAI(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		if p := last[r.Session]; p != nil {
			if c.System != p.System || len(c.Tools) != len(p.Tools) || len(c.Items) <= len(p.Items) {
				t.Fatalf("%s request %d does not extend the previous request", r.Session, r.ID)
			}
			for i := range p.Items {
				if c.Items[i] != p.Items[i] {
					t.Fatalf("%s request %d changes item %d of the previous request", r.Session, r.ID, i)
				}
			}
		}
		last[r.Session] = c
	}
	if len(last) == 0 {
		t.Fatal("no agent session")
	}
}
