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
