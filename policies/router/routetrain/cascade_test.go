package routetrain

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestCascade(t *testing.T) {
	// Four prompts: the strong answer is better on 0 and 1 only.
	recs := []Record{
		{Strong: 1, Weak: 0, WeakAnswer: "a"},
		{Strong: 1, Weak: 0, WeakAnswer: "b"},
		{Strong: 1, Weak: 1, WeakAnswer: "c"},
		{Strong: 1, Weak: 1, WeakAnswer: "d"},
	}
	scores := []float64{0.9, 0.1, 0.2, 0.1}
	escalate := []bool{false, true, true, false} // one hit, one false alarm
	r, err := Cascade(recs, scores, escalate, 0.5, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if r.JudgeRejects != 0.5 || r.Precision != 0.5 || r.Recall != 0.5 {
		t.Fatalf("judge: rejects %v, precision %v, recall %v", r.JudgeRejects, r.Precision, r.Recall)
	}
	want := []CascadeRow{
		// Prompt 0 to strong; the rest weak: quality 3/4, PGR 0.5.
		{Direct: 0.25, StrongCalls: 0.25, Quality: 0.75, PGR: 0.5, Cost: (1 + 3*0.1) / 4},
		// Every prompt weak first; 1 and 2 escalated.
		{Escalated: 0.5, StrongCalls: 0.5, Quality: 0.75, PGR: 0.5, Cost: (4*0.1 + 2) / 4},
		// Prompt 0 direct, 1 and 2 escalated: everything recovered.
		{Direct: 0.25, Escalated: 0.5, StrongCalls: 0.75, Quality: 1, PGR: 1, Cost: (1 + 3*0.1 + 2) / 4},
	}
	for i, w := range want {
		g := r.Rows[i]
		for _, pair := range [][2]float64{{g.Direct, w.Direct}, {g.Escalated, w.Escalated}, {g.StrongCalls, w.StrongCalls}, {g.Quality, w.Quality}, {g.PGR, w.PGR}, {g.Cost, w.Cost}} {
			if math.Abs(pair[0]-pair[1]) > 1e-9 {
				t.Fatalf("row %d (%s) = %+v, want %+v", i, g.Name, g, w)
			}
		}
	}
	var b bytes.Buffer
	r.Markdown(&b)
	if !strings.Contains(b.String(), "| router, then cascade below its threshold | 25.0% | 50.0% | 75.0% | 1.000 | 1.000 |") {
		t.Fatalf("markdown:\n%s", b.String())
	}

	recs[3].WeakAnswer = ""
	if _, err := Cascade(recs, scores, escalate, 0.5, 0.1); !errors.Is(err, ErrNoWeakAnswers) {
		t.Fatalf("a prompt without a weak answer: %v", err)
	}
	if _, err := Cascade(recs[:2], scores, escalate, 0.5, 0.1); err == nil {
		t.Fatal("mismatched lengths accepted")
	}
}
