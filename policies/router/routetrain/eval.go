package routetrain

import (
	"errors"
	"math/rand/v2"
	"sort"
)

// Point is the router at one strong share.
type Point struct {
	Threshold float64 // the score cut (NaN-free; 0 for shares set by rank)
	Share     float64 // strong calls / prompts
	Quality   float64 // mean quality of the answers served
	PGR       float64 // performance gap recovered
	Cost      float64 // cost relative to sending everything to strong
}

// Report is RouteLLM's evaluation of a router on labelled prompts.
type Report struct {
	N                          int
	StrongQuality, WeakQuality float64
	// APGR is the area under PGR against the strong share, over shares
	// 0..1 in steps of 1/N (random: 0.5 in expectation).
	APGR float64
	// RandomAPGR is the mean APGR of random routers (the same shares, a
	// random order) and PValue the share of them that did at least as
	// well (plus one, over trials plus one).
	RandomAPGR, PValue float64
	Trials             int
	// CPT50, CPT80: the smallest strong share that recovers 50% and 80%
	// of the gap (random: 0.5 and 0.8).
	CPT50, CPT80 float64
	// OracleAPGR: the best order (by strong - weak), for scale.
	OracleAPGR float64
	// Curve: one point per threshold of the grid.
	Curve []Point
	// CostRatio is the weak tier's cost per call over the strong tier's.
	CostRatio float64
}

// Evaluate scores a router's probabilities on recs. costRatio is the weak
// tier's price over the strong tier's; trials random routers set the
// p-value (deterministic with seed).
func Evaluate(recs []Record, scores []float64, costRatio float64, trials int, seed uint64) (*Report, error) {
	n := len(recs)
	if n == 0 || len(scores) != n {
		return nil, errors.New("evaluate: no prompts, or scores and prompts differ in number")
	}
	r := &Report{N: n, Trials: trials, CostRatio: costRatio}
	s := make([]float64, n)
	w := make([]float64, n)
	for i := range recs {
		s[i], w[i] = recs[i].Strong, recs[i].Weak
		r.StrongQuality += s[i] / float64(n)
		r.WeakQuality += w[i] / float64(n)
	}
	if r.StrongQuality <= r.WeakQuality {
		return nil, errors.New("evaluate: the strong model is not better than the weak one on these prompts, so there is no gap to recover")
	}
	order := rank(scores)
	pgr := pgrCurve(s, w, order, r.StrongQuality, r.WeakQuality)
	r.APGR = area(pgr)
	r.CPT50, r.CPT80 = cpt(pgr, 0.5), cpt(pgr, 0.8)
	gain := make([]float64, n)
	for i := range gain {
		gain[i] = s[i] - w[i]
	}
	r.OracleAPGR = area(pgrCurve(s, w, rank(gain), r.StrongQuality, r.WeakQuality))

	rng := rand.New(rand.NewPCG(seed, 0x72616e646f6d))
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	better := 0
	for t := 0; t < trials; t++ {
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		a := area(pgrCurve(s, w, perm, r.StrongQuality, r.WeakQuality))
		r.RandomAPGR += a / float64(trials)
		if a >= r.APGR {
			better++
		}
	}
	r.PValue = float64(better+1) / float64(trials+1)

	for _, th := range ThresholdGrid(scores) {
		p := Point{Threshold: th}
		q := 0.0
		for i := range scores {
			if scores[i] >= th {
				p.Share++
				q += s[i]
			} else {
				q += w[i]
			}
		}
		p.Share /= float64(n)
		p.Quality = q / float64(n)
		p.PGR = (p.Quality - r.WeakQuality) / (r.StrongQuality - r.WeakQuality)
		p.Cost = p.Share + (1-p.Share)*costRatio
		r.Curve = append(r.Curve, p)
	}
	return r, nil
}

// ThresholdGrid returns the score deciles of scores (high to low), so the
// curve covers strong shares 10%..90% whatever the model's calibration,
// plus thresholds that send everything and nothing to strong.
func ThresholdGrid(scores []float64) []float64 {
	c := append([]float64(nil), scores...)
	sort.Float64s(c)
	out := []float64{2}
	for d := 9; d >= 1; d-- {
		out = append(out, c[len(c)*d/10])
	}
	return append(out, 0)
}

// rank orders prompts by score, highest first; ties keep input order.
func rank(scores []float64) []int {
	o := make([]int, len(scores))
	for i := range o {
		o[i] = i
	}
	sort.SliceStable(o, func(a, b int) bool { return scores[o[a]] > scores[o[b]] })
	return o
}

// pgrCurve is PGR after sending the first k prompts of order to strong,
// for k = 0..n.
func pgrCurve(s, w []float64, order []int, qs, qw float64) []float64 {
	n := len(order)
	out := make([]float64, n+1)
	q := qw * float64(n)
	for k, i := range order {
		q += s[i] - w[i]
		out[k+1] = (q/float64(n) - qw) / (qs - qw)
	}
	return out
}

// area is the trapezoid area under a curve sampled at 0, 1/n, ..., 1.
func area(c []float64) float64 {
	n := len(c) - 1
	a := 0.0
	for k := 0; k < n; k++ {
		a += (c[k] + c[k+1]) / 2
	}
	return a / float64(n)
}

// cpt is the smallest share k/n with PGR >= x.
func cpt(c []float64, x float64) float64 {
	for k, v := range c {
		if v >= x {
			return float64(k) / float64(len(c)-1)
		}
	}
	return 1
}
