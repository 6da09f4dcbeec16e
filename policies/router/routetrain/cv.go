package routetrain

import (
	"errors"
	"fmt"
	"io"
)

// Candidate is one setting of the hyperparameters CrossValidate tries.
type Candidate struct {
	L2, LengthPrior float64
	TextOnly        bool
	// APGR is the mean over the folds of the held-out fold's APGR.
	APGR float64
}

// DefaultGrid is the hyperparameter grid of `gateway router train -cv`.
func DefaultGrid() []Candidate {
	var g []Candidate
	for _, to := range []bool{false, true} {
		for _, l2 := range []float64{1e-3, 1e-2} {
			for _, lp := range []float64{0, 0.5, 1, 2, 4} {
				g = append(g, Candidate{L2: l2, LengthPrior: lp, TextOnly: to})
			}
		}
	}
	return g
}

// CrossValidate scores each candidate by k-fold cross-validation on recs
// (folds by a salted hash of the id, as Split does, so the folds are the
// same for every candidate and every run) and returns the grid with its
// APGRs and the best candidate's options (base with the candidate's
// hyperparameters). Only recs are read: pass the training part, never the
// held-out prompts.
func CrossValidate(recs []Record, k int, base Options, grid []Candidate) (Options, []Candidate, error) {
	if k < 2 {
		return base, nil, errors.New("cross-validation needs at least 2 folds")
	}
	folds := make([][]Record, k)
	rest := recs
	for i := 0; i < k-1; i++ {
		// Fold i takes 1/(k-i) of what is left.
		var f []Record
		rest, f = Split(rest, 1/float64(k-i), base.Seed+uint64(i)+1000)
		folds[i] = f
	}
	folds[k-1] = rest
	out := append([]Candidate(nil), grid...)
	best := -1
	for c := range out {
		sum := 0.0
		for i := 0; i < k; i++ {
			var train []Record
			for j := 0; j < k; j++ {
				if j != i {
					train = append(train, folds[j]...)
				}
			}
			o := base
			o.L2, o.LengthPrior, o.TextOnly = out[c].L2, out[c].LengthPrior, out[c].TextOnly
			m, err := Train(train, o)
			if err != nil {
				return base, nil, err
			}
			r, err := Evaluate(folds[i], Scores(m, folds[i]), 0.05, 0, 0)
			if err != nil {
				return base, nil, fmt.Errorf("fold %d: %w", i, err)
			}
			sum += r.APGR
		}
		out[c].APGR = sum / float64(k)
		if best < 0 || out[c].APGR > out[best].APGR {
			best = c
		}
	}
	o := base
	o.L2, o.LengthPrior, o.TextOnly = out[best].L2, out[best].LengthPrior, out[best].TextOnly
	return o, out, nil
}

// CVMarkdown writes the grid's cross-validated APGRs.
func CVMarkdown(w io.Writer, k int, grid []Candidate) {
	fmt.Fprintf(w, "| text only | l2 | length prior | %d-fold APGR |\n| --- | --- | --- | --- |\n", k)
	for _, c := range grid {
		fmt.Fprintf(w, "| %v | %g | %g | %.3f |\n", c.TextOnly, c.L2, c.LengthPrior, c.APGR)
	}
}
