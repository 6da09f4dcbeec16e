package routetrain

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// CascadeRow is one way of serving the prompts, measured: the router alone,
// the cascade alone (every prompt tries the weak tier first, and the judge
// escalates the answers it rejects to the strong tier), or both (prompts
// the router scores at or above the threshold go straight to strong, the
// others cascade).
type CascadeRow struct {
	Name string
	// Direct is the share of prompts sent straight to strong; Escalated
	// the share answered by the weak tier, rejected by the judge and
	// answered again by strong; StrongCalls their sum.
	Direct, Escalated, StrongCalls float64
	Quality, PGR                   float64
	// Cost is relative to sending every prompt to strong: a weak call
	// costs the cost ratio, a strong call 1, an escalated prompt both.
	Cost float64
}

// CascadeReport measures the cascade on recs (each with the weak model's
// answer) from the router's scores, the judge's verdict on each weak answer
// (escalate[i]) and the router's threshold.
type CascadeReport struct {
	N                          int
	StrongQuality, WeakQuality float64
	Threshold, CostRatio       float64
	// JudgeRejects is the share of weak answers the judge escalates;
	// Precision the share of those where the strong answer is in fact
	// better (strong > weak), and Recall the share of such prompts it
	// escalates.
	JudgeRejects, Precision, Recall float64
	Rows                            []CascadeRow
}

// ErrNoWeakAnswers: the labelled prompts carry no weak_answer.
var ErrNoWeakAnswers = errors.New("cascade: the prompts carry no weak_answer")

// Cascade measures the rows of a CascadeReport.
func Cascade(recs []Record, scores []float64, escalate []bool, threshold, costRatio float64) (*CascadeReport, error) {
	n := len(recs)
	if n == 0 || len(scores) != n || len(escalate) != n {
		return nil, errors.New("cascade: no prompts, or prompts, scores and verdicts differ in number")
	}
	r := &CascadeReport{N: n, Threshold: threshold, CostRatio: costRatio}
	better, rejects, hits := 0, 0, 0
	for i := range recs {
		if recs[i].WeakAnswer == "" {
			return nil, ErrNoWeakAnswers
		}
		r.StrongQuality += recs[i].Strong / float64(n)
		r.WeakQuality += recs[i].Weak / float64(n)
		gain := recs[i].Strong > recs[i].Weak
		if gain {
			better++
		}
		if escalate[i] {
			rejects++
			if gain {
				hits++
			}
		}
	}
	if r.StrongQuality <= r.WeakQuality {
		return nil, errors.New("cascade: the strong model is not better than the weak one on these prompts")
	}
	r.JudgeRejects = float64(rejects) / float64(n)
	if rejects > 0 {
		r.Precision = float64(hits) / float64(rejects)
	}
	if better > 0 {
		r.Recall = float64(hits) / float64(better)
	}
	row := func(name string, th float64, cascade bool) CascadeRow {
		c := CascadeRow{Name: name}
		q := 0.0
		for i := range recs {
			switch {
			case scores[i] >= th:
				c.Direct++
				q += recs[i].Strong
				c.Cost++
			case cascade && escalate[i]:
				c.Escalated++
				q += recs[i].Strong
				c.Cost += 1 + costRatio
			default:
				q += recs[i].Weak
				c.Cost += costRatio
			}
		}
		c.Direct /= float64(n)
		c.Escalated /= float64(n)
		c.StrongCalls = c.Direct + c.Escalated
		c.Quality = q / float64(n)
		c.PGR = (c.Quality - r.WeakQuality) / (r.StrongQuality - r.WeakQuality)
		c.Cost /= float64(n)
		return c
	}
	never := math.Inf(1)
	r.Rows = []CascadeRow{
		row("router alone", threshold, false),
		row("cascade alone (weak first, judge escalates)", never, true),
		row("router, then cascade below its threshold", threshold, true),
	}
	return r, nil
}

// Markdown writes the report as a table.
func (r *CascadeReport) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Cascade on %d prompts (threshold %.3f; the judge escalates %.1f%% of the weak answers, %.0f%% of them where the strong answer is better; it catches %.0f%% of those prompts):\n\n",
		r.N, r.Threshold, 100*r.JudgeRejects, 100*r.Precision, 100*r.Recall)
	fmt.Fprintf(w, "| serving | straight to strong | escalated | strong calls | quality | PGR | random router's PGR at that share | cost vs all-strong (weak = %.3g × strong) |\n", r.CostRatio)
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range r.Rows {
		fmt.Fprintf(w, "| %s | %.1f%% | %.1f%% | %.1f%% | %.3f | %.3f | %.3f | %.1f%% |\n",
			c.Name, 100*c.Direct, 100*c.Escalated, 100*c.StrongCalls, c.Quality, c.PGR, c.StrongCalls, 100*c.Cost)
	}
}
