# The cost benchmark (issue 5), included from the repository's Makefile
# (`include bench/cost/cost.mk`); run it from the repository root.
# Docs: bench/cost/README.md. Results: bench/results/cost-<date>.{md,json}.

GO ?= go
COST_FLAGS ?=

.PHONY: bench-cost

## bench-cost: a seeded coding-assistant trace replayed directly and through the gateway (default config and one technique off at a time) against token-counting fake upstreams; about a minute
bench-cost:
	$(GO) run ./bench/cost/cmd/costbench -command "make bench-cost" $(COST_FLAGS)
