# Benchmark targets, included from the repository's Makefile
# (`include bench/bench.mk`); run them from the repository root.
# Docs: bench/README.md. Results: bench/results/, bench/RESULTS.md.

BENCH_FLAGS ?=
GO ?= go

.PHONY: bench bench-quick bench-micro

## bench: the full benchmark (about five minutes); writes bench/results/ and bench/README_SECTION.md
bench:
	$(GO) run ./bench/cmd/bench -command "make bench" $(BENCH_FLAGS)

## bench-quick: the same scenarios, 2 s per load (under two minutes)
bench-quick:
	$(GO) run ./bench/cmd/bench -quick -command "make bench-quick" $(BENCH_FLAGS)

## bench-micro: Go micro-benchmarks (allocs/op) of providers, engine, wasm and bench; history in bench/RESULTS.md
bench-micro:
	$(GO) run ./bench/cmd/bench -micro

# Routing quality (issue 17): RouteLLM's metrics for the embedded router
# weights on the held-out split of AlpacaEval's per-prompt annotations
# (docs/routing.md). Needs a checkout of github.com/tatsu-lab/alpaca_eval
# (its data is CC BY-NC 4.0, so it is not in this repository).
ALPACA_EVAL ?= .cache/alpaca_eval
ROUTER_PAIR ?= -annotator alpaca_eval_gpt4 -strong gpt4 -weak llama-2-7b-chat-hf
.PHONY: bench-routing router-weights routing-data
routing-data:
	@test -d $(ALPACA_EVAL)/results || git clone --depth 1 https://github.com/tatsu-lab/alpaca_eval $(ALPACA_EVAL)
	$(GO) run ./cmd/gateway router alpacaeval -dir $(ALPACA_EVAL) $(ROUTER_PAIR) -out $(ALPACA_EVAL)/labelled.jsonl

## bench-routing: strong share, quality, PGR, APGR, CPT, cost and a random-router p-value on the held-out split
bench-routing: routing-data
	$(GO) run ./cmd/gateway router eval -data $(ALPACA_EVAL)/labelled.jsonl -weights builtin -holdout 0.2 -split-seed 1

## router-weights: retrain policies/router/weights.bin from the same data (then make policies)
router-weights: routing-data
	$(GO) run ./cmd/gateway router train -data $(ALPACA_EVAL)/labelled.jsonl -out policies/router/weights.bin -holdout 0.2 -split-seed 1 -seed 1 \
	  -note "AlpacaEval (tatsu-lab/alpaca_eval cd543a1, data CC BY-NC 4.0): annotator alpaca_eval_gpt4, strong gpt4, weak llama-2-7b-chat-hf, vicuna subset excluded; 20% held out (split-seed 1); seed 1"
