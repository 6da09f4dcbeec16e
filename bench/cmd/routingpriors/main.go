// Command routingpriors scores label-free priors for the built-in router
// (issue 17, docs/routing.md "Label-free priors, tried and not used"): a
// signal computed from the prompt alone, times a strength, added to the
// shipped model's logit the way the length prior is, for each strength of
// a grid, on the selection data only: RouteLLM's development half per
// benchmark and 5-fold cross-validation on AlpacaEval's training part (the
// folds of `gateway router train -cv`). -test NAME:STRENGTH scores one
// variant on the held-out halves instead, once its choice is made.
//
// Usage (from the repository root; `make routing-priors`):
//
//	routingpriors -alpaca .cache/alpaca_eval/labelled.jsonl -routellm .cache/RouteLLM/labelled.jsonl
//	              -words .cache/FrequencyWords/content/2018/en/en_50k.txt [-weights policies/router/weights.bin]
//	              [-test NAME:STRENGTH]
//
// The word list is hermitdave/FrequencyWords' English 50k list (words
// ranked by their count in OpenSubtitles; content CC BY-SA 4.0): it is
// read at run time and nothing of it is committed.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/policies/router/routemodel"
	"github.com/aigateway/gateway/policies/router/routetrain"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "routingpriors:", err)
		os.Exit(1)
	}
}

// The options of the shipped weights (the Makefile's router-weights).
var shipped = routetrain.Options{Seed: 1, L2: 0.003, LengthPrior: 1.5, LengthPriorFrom: 128}

// set is one selection or held-out set: its prompts, the model's logits,
// and for the cross-validated set the fold each prompt is in.
type set struct {
	name  string
	recs  []routetrain.Record
	logit []float64
	fold  []int // nil: scored as one set
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("routingpriors", flag.ContinueOnError)
	alpaca := fs.String("alpaca", ".cache/alpaca_eval/labelled.jsonl", "AlpacaEval labelled prompts (gateway router alpacaeval)")
	routellm := fs.String("routellm", ".cache/RouteLLM/labelled.jsonl", "RouteLLM labelled prompts (gateway router routellm)")
	wordsPath := fs.String("words", ".cache/FrequencyWords/content/2018/en/en_50k.txt", "word list, one \"word count\" a line, most frequent first")
	weights := fs.String("weights", "policies/router/weights.bin", "the shipped weights (scored on the RouteLLM halves and the AlpacaEval held-out split)")
	test := fs.String("test", "", "NAME:STRENGTH: score this variant on the held-out halves (after choosing it on the selection data)")
	ci := fs.String("ci", "", "NAME:STRENGTH: the variant's APGR change on each selection set with a paired bootstrap 95% interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*wordsPath)
	if err != nil {
		return err
	}
	ranks, err := readRanks(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *wordsPath, err)
	}
	ae, err := readRecords(*alpaca)
	if err != nil {
		return err
	}
	rl, err := readRecords(*routellm)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*weights)
	if err != nil {
		return err
	}
	m, err := routemodel.Decode(b)
	if err != nil {
		return fmt.Errorf("%s: %w", *weights, err)
	}
	aeTrain, aeTest := routetrain.Split(ae, 0.2, 1)
	dev, heldOut := routetrain.Split(rl, 0.5, 7)
	sigs := signals(ranks)
	if *test != "" {
		sig, strength, err := variant(sigs, *test)
		if err != nil {
			return fmt.Errorf("-test: %w", err)
		}
		sets := append([]set{{name: "AlpacaEval held-out", recs: aeTest, logit: logits(m, aeTest)}}, byBenchmark(m, heldOut)...)
		return testReport(out, sets, sig, strength)
	}
	cv, err := crossValidated(aeTrain)
	if err != nil {
		return err
	}
	sets := append([]set{cv}, byBenchmark(m, dev)...)
	if *ci != "" {
		sig, strength, err := variant(sigs, *ci)
		if err != nil {
			return fmt.Errorf("-ci: %w", err)
		}
		return intervals(out, sets, sig, strength, 1000)
	}
	return grid(out, sets, sigs, []float64{-1, -0.5, -0.25, 0, 0.25, 0.5, 1, 2})
}

// variant parses NAME:STRENGTH.
func variant(sigs []signal, v string) (signal, float64, error) {
	name, s, ok := strings.Cut(v, ":")
	strength, err := strconv.ParseFloat(s, 64)
	if !ok || err != nil {
		return signal{}, 0, fmt.Errorf("%q: want NAME:STRENGTH", v)
	}
	sig, ok := find(sigs, name)
	if !ok {
		return signal{}, 0, fmt.Errorf("no signal %q", name)
	}
	return sig, strength, nil
}

func readRecords(path string) ([]routetrain.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := routetrain.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// readRanks reads a word list ("word count" a line, most frequent first)
// into each lower-cased word's 1-based rank.
func readRanks(r io.Reader) (map[string]int, error) {
	ranks := make(map[string]int)
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		w, _, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if w == "" {
			continue
		}
		n++
		w = strings.ToLower(w)
		if _, ok := ranks[w]; !ok {
			ranks[w] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ranks) == 0 {
		return nil, errors.New("no words")
	}
	return ranks, nil
}

func logits(m *routemodel.Model, recs []routetrain.Record) []float64 {
	var s routemodel.Scratch
	z := make([]float64, len(recs))
	for i := range recs {
		t, sh := s.Features(&recs[i].Input, uint(m.Bits))
		z[i] = m.Score(t, sh)
	}
	return z
}

// byBenchmark splits recs by their id's first segment (mmlu, gsm8k,
// mt_bench) and adds the whole set last.
func byBenchmark(m *routemodel.Model, recs []routetrain.Record) []set {
	var out []set
	for _, b := range []string{"mmlu", "gsm8k", "mt_bench"} {
		var r []routetrain.Record
		for _, x := range recs {
			if strings.HasPrefix(x.ID, b+"/") {
				r = append(r, x)
			}
		}
		out = append(out, set{name: b, recs: r, logit: logits(m, r)})
	}
	return append(out, set{name: "RouteLLM, all", recs: recs, logit: logits(m, recs)})
}

// crossValidated returns AlpacaEval's training part with out-of-fold
// logits: five models with the shipped options, each trained on four
// folds and scoring the fifth, the folds of routetrain.CrossValidate.
func crossValidated(recs []routetrain.Record) (set, error) {
	const k = 5
	folds := make([][]routetrain.Record, k)
	rest := recs
	for i := 0; i < k-1; i++ {
		rest, folds[i] = routetrain.Split(rest, 1/float64(k-i), shipped.Seed+uint64(i)+1000)
	}
	folds[k-1] = rest
	s := set{name: "AlpacaEval 5-fold CV"}
	for i := range folds {
		var train []routetrain.Record
		for j := range folds {
			if j != i {
				train = append(train, folds[j]...)
			}
		}
		m, err := routetrain.Train(train, shipped)
		if err != nil {
			return s, err
		}
		s.recs = append(s.recs, folds[i]...)
		s.logit = append(s.logit, logits(m, folds[i])...)
		for range folds[i] {
			s.fold = append(s.fold, i)
		}
	}
	return s, nil
}

// apgr scores logit + strength·x on s: one APGR, or the mean over the
// folds for a cross-validated set (as CrossValidate reports it).
func apgr(s set, x []float64, strength float64) (float64, error) {
	nf := 1
	for _, f := range s.fold {
		nf = max(nf, f+1)
	}
	sum := 0.0
	for f := 0; f < nf; f++ {
		var recs []routetrain.Record
		var p []float64
		for i := range s.recs {
			if s.fold == nil || s.fold[i] == f {
				recs = append(recs, s.recs[i])
				p = append(p, routemodel.Prob(s.logit[i]+strength*x[i]))
			}
		}
		r, err := routetrain.Evaluate(recs, p, 0.05, 0, 0)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", s.name, err)
		}
		sum += r.APGR
	}
	return sum / float64(nf), nil
}

func values(s set, sig signal) []float64 {
	x := make([]float64, len(s.recs))
	for i := range s.recs {
		x[i] = sig.f(s.recs[i].Input.Intent)
	}
	return x
}

// grid prints each signal at each strength on the selection sets, and the
// worst of the four sets the choice reads (AlpacaEval CV, MMLU, GSM8K,
// MT-Bench: not the pooled RouteLLM set).
func grid(out io.Writer, sets []set, sigs []signal, strengths []float64) error {
	fmt.Fprint(out, "| signal | strength |")
	for _, s := range sets {
		fmt.Fprintf(out, " %s |", s.name)
	}
	fmt.Fprint(out, " worst of four |\n| --- | --- |")
	for range sets {
		fmt.Fprint(out, " --- |")
	}
	fmt.Fprintln(out, " --- |")
	for _, sig := range sigs {
		xs := make([][]float64, len(sets))
		for i, s := range sets {
			xs[i] = values(s, sig)
		}
		for _, a := range strengths {
			fmt.Fprintf(out, "| %s | %g |", sig.name, a)
			worst := 1e9
			for i, s := range sets {
				v, err := apgr(s, xs[i], a)
				if err != nil {
					return err
				}
				if s.name != "RouteLLM, all" {
					worst = min(worst, v)
				}
				fmt.Fprintf(out, " %.3f |", v)
			}
			fmt.Fprintf(out, " %.3f |\n", worst)
		}
	}
	return nil
}

// testReport prints the shipped model and the variant on the held-out
// sets, with random routers' p-values.
func testReport(out io.Writer, sets []set, sig signal, strength float64) error {
	fmt.Fprintf(out, "| held-out set | prompts | shipped APGR (p) | + %s × %g APGR (p) |\n| --- | --- | --- | --- |\n", sig.name, strength)
	for _, s := range sets {
		x := values(s, sig)
		fmt.Fprintf(out, "| %s | %d |", s.name, len(s.recs))
		for _, a := range []float64{0, strength} {
			p := make([]float64, len(s.recs))
			for i := range p {
				p[i] = routemodel.Prob(s.logit[i] + a*x[i])
			}
			r, err := routetrain.Evaluate(s.recs, p, 0.05, 10000, 1)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			fmt.Fprintf(out, " %.3f (%.4f) |", r.APGR, r.PValue)
		}
		fmt.Fprintln(out)
	}
	return nil
}

// intervals prints, for each selection set, the variant's APGR change
// against the shipped model and a paired bootstrap 95% interval of it
// (prompts resampled with replacement, within each fold for the
// cross-validated set; deterministic).
func intervals(out io.Writer, sets []set, sig signal, strength float64, rounds int) error {
	fmt.Fprintf(out, "| selection set | shipped | + %s × %g | change | 95%% interval |\n| --- | --- | --- | --- | --- |\n", sig.name, strength)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range sets {
		x := values(s, sig)
		base, err := apgr(s, x, 0)
		if err != nil {
			return err
		}
		with, err := apgr(s, x, strength)
		if err != nil {
			return err
		}
		d := make([]float64, 0, rounds)
		for r := 0; r < rounds; r++ {
			b := s
			b.recs, b.logit, b.fold = nil, nil, nil
			var bx []float64
			for _, f := range folds(s) {
				for range f {
					i := f[rng.IntN(len(f))]
					b.recs = append(b.recs, s.recs[i])
					b.logit = append(b.logit, s.logit[i])
					bx = append(bx, x[i])
					if s.fold != nil {
						b.fold = append(b.fold, s.fold[i])
					}
				}
			}
			a0, err0 := apgr(b, bx, 0)
			a1, err1 := apgr(b, bx, strength)
			if err0 != nil || err1 != nil {
				continue // a resample with no gap to recover
			}
			d = append(d, a1-a0)
		}
		sort.Float64s(d)
		fmt.Fprintf(out, "| %s | %.3f | %.3f | %+.3f | %+.3f … %+.3f |\n", s.name, base, with, with-base, d[len(d)*25/1000], d[len(d)*975/1000])
	}
	return nil
}

// folds returns the indices of s's prompts by fold (one fold when s is
// not cross-validated).
func folds(s set) [][]int {
	if s.fold == nil {
		all := make([]int, len(s.recs))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	var out [][]int
	for i, f := range s.fold {
		for len(out) <= f {
			out = append(out, nil)
		}
		out[f] = append(out[f], i)
	}
	return out
}
