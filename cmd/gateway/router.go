package main

// `gateway router`: train and evaluate the built-in router's model.
//
//	gateway router train -data labelled.jsonl -out weights.bin [-holdout 0.2] [-seed 1] ...
//	gateway router eval -data labelled.jsonl [-weights weights.bin] [-holdout 0.2] ...
//	gateway router alpacaeval -dir ALPACA_EVAL -strong M -weak M -out labelled.jsonl
//	gateway router routellm -dir ROUTELLM -out labelled.jsonl
//
// The labelled format and the training are in policies/router/routetrain.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/policyinput"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/policies/router/routemodel"
	"github.com/aigateway/gateway/policies/router/routetrain"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

const routerUsage = `usage:
  gateway router train -data labelled.jsonl -out weights.bin [-holdout 0.2] [-split-seed 1] [-seed 1]
                       [-bits 14] [-epochs 10] [-l2 1e-3] [-rate 0.2] [-strong-share 0.5] [-note TEXT]
                       [-length-prior 0] [-text-only] [-calibrate prompts.jsonl] [-cv 5]
  gateway router eval -data labelled.jsonl [-weights weights.bin|builtin] [-holdout 0.2] [-split-seed 1]
                      [-cost-ratio 0.05] [-trials 10000] [-judge builtin:judge|FILE.wasm|off] [-by-benchmark]
  gateway router alpacaeval -dir ALPACA_EVAL_CHECKOUT [-annotator alpaca_eval_gpt4]
                            -strong MODEL -weak MODEL -out labelled.jsonl
  gateway router routellm -dir ROUTELLM_CHECKOUT -out labelled.jsonl   (MMLU, GSM8K, MT-Bench: evaluation only)
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
	lengthPrior := fs.Float64("length-prior", 0, "logit added per octave of the last user message's length, on top of the training (docs/routing.md)")
	lengthPriorFrom := fs.Int("length-prior-from", 0, "make the length prior one-sided: 0 up to this many bytes, -length-prior per octave beyond (0: linear on both sides of 128 bytes)")
	calibrate := fs.String("calibrate", "", "more prompts (their scores only) for the default threshold: it sends -strong-share of the held-out prompts and of these, each set weighing the same")
	cv := fs.Int("cv", 0, "choose -l2, -length-prior and -text-only by this many folds of cross-validation on the training part (0: use the flags)")
	textOnly := fs.Bool("text-only", false, "train the text features only (shape weights stay 0 but for the length prior)")
	weights := fs.String("weights", "builtin", "weights file to evaluate (builtin: the embedded ones)")
	costRatio := fs.Float64("cost-ratio", 0.05, "weak tier cost per call / strong tier cost per call")
	trials := fs.Int("trials", 10000, "random routers for the p-value")
	dir := fs.String("dir", "", "AlpacaEval checkout")
	annotator := fs.String("annotator", "alpaca_eval_gpt4", "AlpacaEval annotator directory")
	strong := fs.String("strong", "", "strong model (AlpacaEval results directory name)")
	weak := fs.String("weak", "", "weak model")
	byBench := fs.Bool("by-benchmark", false, "also report each benchmark (the id's first path segment) on its own")
	judge := fs.String("judge", wasm.BuiltinPrefix+"judge", "response-stage policy that measures the cascade on the weak answers (off: none)")
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
		var n int
		if err := writeFile(*out, func(w io.Writer) (err error) {
			n, err = routetrain.AlpacaEval(*dir, *annotator, *strong, *weak, w)
			return err
		}); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%d labelled prompts written to %s\n", n, *out)
		return 0
	case "routellm":
		if *dir == "" || *out == "" {
			fs.Usage()
			return 2
		}
		var counts map[string]int
		if err := writeFile(*out, func(w io.Writer) (err error) {
			counts, err = routetrain.RouteLLM(*dir, w)
			return err
		}); err != nil {
			return fail(err)
		}
		for _, b := range routetrain.RouteLLMBenchmarks {
			fmt.Fprintf(stdout, "%s: %d labelled prompts\n", b, counts[b])
		}
		fmt.Fprintf(stdout, "written to %s\n", *out)
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
		opts := routetrain.Options{Bits: uint8(*bits), Epochs: *epochs, L2: *l2, Rate: *rate, Seed: *seed, StrongShare: *share, Note: *note, LengthPrior: *lengthPrior, LengthPriorFrom: *lengthPriorFrom, TextOnly: *textOnly}
		if *cv > 0 {
			var grid []routetrain.Candidate
			if opts, grid, err = routetrain.CrossValidate(train, *cv, opts, routetrain.DefaultGrid()); err != nil {
				return fail(err)
			}
			routetrain.CVMarkdown(stdout, *cv, grid)
			fmt.Fprintf(stdout, "\nchosen: text only %v, l2 %g, length prior %g\n\n", opts.TextOnly, opts.L2, opts.LengthPrior)
		}
		m, err = routetrain.Train(train, opts)
		if err != nil {
			return fail(err)
		}
		if len(test) > 0 {
			routetrain.SetThreshold(m, test, *share)
		}
		if *calibrate != "" {
			cf, err := os.Open(*calibrate)
			if err != nil {
				return fail(err)
			}
			extra, err := routetrain.Read(cf)
			cf.Close()
			if err != nil {
				return fail(fmt.Errorf("%s: %w", *calibrate, err))
			}
			base := test
			if len(base) == 0 {
				base = train
			}
			routetrain.SetThresholdMixed(m, [][]routetrain.Record{base, extra}, *share)
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
	if *byBench {
		for _, g := range routetrain.Groups(test) {
			gr, err := routetrain.Evaluate(g.Records, routetrain.Scores(m, g.Records), *costRatio, *trials, *splitSeed)
			if err != nil {
				fmt.Fprintf(stdout, "\n%s (%d prompts): %v\n", g.Name, len(g.Records), err)
				continue
			}
			fmt.Fprintf(stdout, "\n%s (%d prompts):\n\n", g.Name, len(g.Records))
			gr.Markdown(stdout)
		}
	}
	if *judge == "off" || !hasWeakAnswers(test) {
		return 0
	}
	escalate, err := judgeVerdicts(*judge, test)
	if err != nil {
		return fail(err)
	}
	c, err := routetrain.Cascade(test, routetrain.Scores(m, test), escalate, float64(m.Threshold), *costRatio)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout)
	c.Markdown(stdout)
	return 0
}

func hasWeakAnswers(recs []routetrain.Record) bool {
	for i := range recs {
		if recs[i].WeakAnswer == "" {
			return false
		}
	}
	return true
}

// judgeVerdicts runs the response-stage policy module (the cascade's
// judge) through the gateway's policy host on each prompt's weak answer,
// presented as the upstream's chat completion, and reports which it
// escalates. A failing call counts as an escalation, as in the gateway.
func judgeVerdicts(module string, recs []routetrain.Record) ([]bool, error) {
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{})
	if err != nil {
		return nil, err
	}
	defer h.Close(ctx)
	if err := h.Configure([]wasm.PolicyConfig{{Name: "judge", Module: module, Stages: []string{"response"}}}); err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	out := make([]bool, len(recs))
	var in wasm.Input
	var res wasm.Output
	var hdr fasthttp.RequestHeader
	for i := range recs {
		var req providers.Request
		if err := req.Decode(recs[i].Request); err != nil {
			return nil, fmt.Errorf("prompt %s: %w", recs[i].ID, err)
		}
		completion, _ := json.Marshal(map[string]any{
			"id": "eval", "object": "chat.completion", "model": "weak",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": recs[i].WeakAnswer}}},
		})
		policyinput.Fill(&in, &req, "", &hdr)
		in.Response = completion
		res.Reset()
		err := h.Run(ctx, abi.StageResponse, &in, &res)
		out[i] = err != nil || (res.Verdict.Set && res.Verdict.Escalate)
	}
	return out, nil
}

// writeFile creates path and gives fn a buffered writer to it; the buffer
// is flushed and the file closed, and the first error of the three is
// returned.
func writeFile(path string, fn func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
