package main

// `gateway router`: train and evaluate the built-in router's model.
//
//	gateway router train -data labelled.jsonl -out weights.bin [-holdout 0.2] [-seed 1] ...
//	gateway router eval -data labelled.jsonl [-weights weights.bin] [-holdout 0.2] ...
//	gateway router alpacaeval -dir ALPACA_EVAL -strong M -weak M -out labelled.jsonl
//
// The labelled format and the training are in policies/router/routetrain.

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/policies/router/routemodel"
	"github.com/aigateway/gateway/policies/router/routetrain"
)

const routerUsage = `usage:
  gateway router train -data labelled.jsonl -out weights.bin [-holdout 0.2] [-split-seed 1] [-seed 1]
                       [-bits 14] [-epochs 10] [-l2 1e-3] [-rate 0.2] [-strong-share 0.5] [-note TEXT]
  gateway router eval -data labelled.jsonl [-weights weights.bin|builtin] [-holdout 0.2] [-split-seed 1]
                      [-cost-ratio 0.05] [-trials 10000]
  gateway router alpacaeval -dir ALPACA_EVAL_CHECKOUT [-annotator alpaca_eval_gpt4]
                            -strong MODEL -weak MODEL -out labelled.jsonl
`

func routerMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, routerUsage)
		return 2
	}
	fs := flag.NewFlagSet("gateway router "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, routerUsage) }
	data := fs.String("data", "", "labelled JSON Lines (docs/routing.md)")
	out := fs.String("out", "", "output file")
	holdout := fs.Float64("holdout", 0.2, "share of prompts held out of training (split by id hash)")
	splitSeed := fs.Uint64("split-seed", 1, "salt of the held-out split")
	seed := fs.Uint64("seed", 1, "training seed")
	bits := fs.Uint("bits", 14, "hash width: 2^bits weights")
	epochs := fs.Int("epochs", 10, "training epochs")
	share := fs.Float64("strong-share", 0.5, "the default threshold sends this share of the held-out prompts (training prompts when none are held out) to strong; scores only")
	l2 := fs.Float64("l2", 1e-3, "L2 weight decay per step")
	rate := fs.Float64("rate", 0.2, "AdaGrad step")
	note := fs.String("note", "", "note stored in the weights file")
	weights := fs.String("weights", "builtin", "weights file to evaluate (builtin: the embedded ones)")
	costRatio := fs.Float64("cost-ratio", 0.05, "weak tier cost per call / strong tier cost per call")
	trials := fs.Int("trials", 10000, "random routers for the p-value")
	dir := fs.String("dir", "", "AlpacaEval checkout")
	annotator := fs.String("annotator", "alpaca_eval_gpt4", "AlpacaEval annotator directory")
	strong := fs.String("strong", "", "strong model (AlpacaEval results directory name)")
	weak := fs.String("weak", "", "weak model")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fail := func(err error) int { fmt.Fprintln(stderr, "gateway router:", err); return 1 }
	switch args[0] {
	case "alpacaeval":
		if *dir == "" || *strong == "" || *weak == "" || *out == "" {
			fs.Usage()
			return 2
		}
		f, err := os.Create(*out)
		if err != nil {
			return fail(err)
		}
		bw := bufio.NewWriter(f)
		n, err := routetrain.AlpacaEval(*dir, *annotator, *strong, *weak, bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%d labelled prompts written to %s\n", n, *out)
		return 0
	case "train", "eval":
	default:
		fs.Usage()
		return 2
	}
	if *data == "" {
		fs.Usage()
		return 2
	}
	f, err := os.Open(*data)
	if err != nil {
		return fail(err)
	}
	recs, err := routetrain.Read(f)
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("%s: %w", *data, err))
	}
	train, test := routetrain.Split(recs, *holdout, *splitSeed)
	var m *routemodel.Model
	if args[0] == "train" {
		if *out == "" {
			fs.Usage()
			return 2
		}
		m, err = routetrain.Train(train, routetrain.Options{Bits: uint8(*bits), Epochs: *epochs, L2: *l2, Rate: *rate, Seed: *seed, StrongShare: *share, Note: *note})
		if err != nil {
			return fail(err)
		}
		if len(test) > 0 {
			routetrain.SetThreshold(m, test, *share)
		}
		if err := os.WriteFile(*out, m.Encode(), 0o644); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "trained on %d prompts (%d held out); default threshold %.4f; wrote %s\n", len(train), len(test), m.Threshold, *out)
	} else {
		var b []byte
		if *weights == "builtin" {
			b = policies.RouterWeights()
		} else if b, err = os.ReadFile(*weights); err != nil {
			return fail(err)
		}
		if m, err = routemodel.Decode(b); err != nil {
			return fail(err)
		}
		if *holdout == 0 {
			test = recs
		}
	}
	if len(test) == 0 {
		return 0
	}
	r, err := routetrain.Evaluate(test, routetrain.Scores(m, test), *costRatio, *trials, *splitSeed)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "\nheld-out split (%d prompts):\n\n", len(test))
	r.Markdown(stdout)
	return 0
}
