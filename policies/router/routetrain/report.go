package routetrain

import (
	"fmt"
	"io"
	"strings"
)

// Markdown writes the report as the tables of bench/RESULTS.md and
// docs/routing.md.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "| held-out prompts | strong quality | weak quality | APGR | random APGR (same shares) | p-value (%d random routers) | CPT(50%%) | CPT(80%%) | oracle APGR |\n", r.Trials)
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(w, "| %d | %.3f | %.3f | %.3f | %.3f | %.4f | %.1f%% | %.1f%% | %.3f |\n\n",
		r.N, r.StrongQuality, r.WeakQuality, r.APGR, r.RandomAPGR, r.PValue, 100*r.CPT50, 100*r.CPT80, r.OracleAPGR)
	fmt.Fprintf(w, "| threshold | strong calls | quality | PGR | random router's PGR at that share | cost vs all-strong (weak = %.3g × strong) |\n", r.CostRatio)
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- |\n")
	for _, p := range r.Curve {
		th := fmt.Sprintf("%.3f", p.Threshold)
		switch {
		case p.Threshold > 1:
			th = "never strong"
		case p.Threshold <= 0:
			th = "always strong"
		}
		fmt.Fprintf(w, "| %s | %.1f%% | %.3f | %.3f | %.3f | %.1f%% |\n", th, 100*p.Share, p.Quality, p.PGR, p.Share, 100*p.Cost)
	}
}

// Group is the records of one benchmark.
type Group struct {
	Name    string
	Records []Record
}

// Groups splits recs by benchmark, the first "/"-separated segment of the
// id, in order of first appearance.
func Groups(recs []Record) []Group {
	var out []Group
	at := map[string]int{}
	for _, r := range recs {
		name, _, _ := strings.Cut(r.ID, "/")
		i, ok := at[name]
		if !ok {
			i = len(out)
			at[name] = i
			out = append(out, Group{Name: name})
		}
		out[i].Records = append(out[i].Records, r)
	}
	return out
}
