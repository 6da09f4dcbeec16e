# Benchmark targets, included from the repository's Makefile
# (`include bench/bench.mk`); run them from the repository root.
# Docs: bench/README.md. Results: bench/results/, bench/RESULTS.md.

BENCH_FLAGS ?=
# Paired rounds per row (bench/README.md): ratios are medians of rounds in
# which the direct and the gateway loads ran back to back.
BENCH_REPEAT ?= 3
GO ?= go

.PHONY: bench bench-quick bench-micro

## bench: the full benchmark, 3 paired rounds (about fifteen minutes); writes bench/results/ and bench/README_SECTION.md
bench:
	$(GO) run ./bench/cmd/bench -repeat $(BENCH_REPEAT) -command "make bench" $(BENCH_FLAGS)

## bench-quick: the same scenarios, 2 s per load, 3 paired rounds (about five minutes)
bench-quick:
	$(GO) run ./bench/cmd/bench -quick -repeat $(BENCH_REPEAT) -command "make bench-quick" $(BENCH_FLAGS)

## bench-micro: Go micro-benchmarks (allocs/op) of providers, engine, wasm and bench; history in bench/RESULTS.md
bench-micro:
	$(GO) run ./bench/cmd/bench -micro

# Routing quality (issue 17): RouteLLM's metrics for the embedded router
# weights on the held-out split of AlpacaEval's per-prompt annotations, and
# on RouteLLM's benchmark data (MMLU, GSM8K, MT-Bench with GPT-4 and Mixtral
# graded), which never trains the shipped weights (docs/routing.md). Needs
# checkouts of github.com/tatsu-lab/alpaca_eval (its data is CC BY-NC 4.0,
# so it is not in this repository) and github.com/lm-sys/RouteLLM.
ALPACA_EVAL ?= .cache/alpaca_eval
ROUTELLM ?= .cache/RouteLLM
ROUTER_PAIR ?= -annotator alpaca_eval_gpt4 -strong gpt4 -weak llama-2-7b-chat-hf
.PHONY: bench-routing router-weights routing-data routing-priors
routing-data:
	@test -d $(ALPACA_EVAL)/results || git clone --depth 1 https://github.com/tatsu-lab/alpaca_eval $(ALPACA_EVAL)
	@test -d $(ROUTELLM)/routellm/evals || git clone --depth 1 https://github.com/lm-sys/RouteLLM $(ROUTELLM)
	$(GO) run ./cmd/gateway router alpacaeval -dir $(ALPACA_EVAL) $(ROUTER_PAIR) -out $(ALPACA_EVAL)/labelled.jsonl
	$(GO) run ./cmd/gateway router routellm -dir $(ROUTELLM) -out $(ROUTELLM)/labelled.jsonl

## bench-routing: strong share, quality, PGR, APGR, CPT, cost and a random-router p-value on the held-out splits
bench-routing: routing-data
	$(GO) run ./cmd/gateway router eval -data $(ALPACA_EVAL)/labelled.jsonl -weights builtin -holdout 0.2 -split-seed 1
	$(GO) run ./cmd/gateway router eval -data $(ROUTELLM)/labelled.jsonl -weights builtin -holdout 0.5 -split-seed 7 -by-benchmark -judge off

## routing-priors: label-free priors for the router (word rarity, question type, reasoning, maths) on the selection data (docs/routing.md)
FREQUENCY_WORDS ?= .cache/FrequencyWords
routing-priors: routing-data
	@test -f $(FREQUENCY_WORDS)/content/2018/en/en_50k.txt || git clone --depth 1 https://github.com/hermitdave/FrequencyWords $(FREQUENCY_WORDS)
	$(GO) run ./bench/cmd/routingpriors -alpaca $(ALPACA_EVAL)/labelled.jsonl -routellm $(ROUTELLM)/labelled.jsonl -words $(FREQUENCY_WORDS)/content/2018/en/en_50k.txt

## router-weights: retrain policies/router/weights.bin from the AlpacaEval data (then make policies)
router-weights: routing-data
	$(GO) run ./cmd/gateway router train -data $(ALPACA_EVAL)/labelled.jsonl -out policies/router/weights.bin -holdout 0.2 -split-seed 1 -seed 1 -l2 0.003 -length-prior 1.5 -length-prior-from 128 -calibrate $(ROUTELLM)/labelled.jsonl \
	  -note "AlpacaEval (tatsu-lab/alpaca_eval cd543a1, data CC BY-NC 4.0): annotator alpaca_eval_gpt4, strong gpt4, weak llama-2-7b-chat-hf, vicuna subset excluded; 20% held out (split-seed 1); seed 1, l2 0.003; one-sided length prior 1.5 logits per octave beyond 128 bytes (chosen with l2 on the dev half of RouteLLM's MMLU/GSM8K/MT-Bench data, split-seed 7, and 5-fold CV on the AlpacaEval training part; none of RouteLLM's data trains); default threshold: 50% strong over the AlpacaEval held-out prompts and RouteLLM's prompts, each weighing half (scores only)"
