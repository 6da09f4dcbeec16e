# The two commands: `make run` builds everything and starts the gateway on
# the embedded defaults; `make test` runs every test.
GO       ?= go
BIN      := bin/gateway
CONFIG   ?= gateway.toml
GOFLAGS  ?=

.PHONY: all build run test test-race test-allocs vet fmt policies policies-check fuzz clean

all: build

# Built-in Wasm policies are committed; `make policies` rebuilds them with the
# standard Go toolchain (GOOS=wasip1) when policies/build.sh exists.
policies:
	@if [ -x policies/build.sh ]; then policies/build.sh; fi

# CI: a rebuild must reproduce the committed modules byte for byte.
policies-check: policies
	@git diff --exit-code --stat -- policies/ examples/ wasm/testdata/ || (echo "built Wasm modules differ from the committed ones: run 'make policies' and commit" && exit 1)

build: policies
	$(GO) build $(GOFLAGS) -trimpath -o $(BIN) ./cmd/gateway

run: build
	$(BIN) -config $(CONFIG)

# Every test: the race detector on everything, then the allocation tests,
# which are meaningless under -race and so skip themselves there.
test: vet test-race test-allocs

# The guest SDK (abi/) is its own Go module: ./... from the root does not
# reach it, so every target that walks packages runs there too.
vet:
	$(GO) vet ./...
	cd abi && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...

test-race:
	$(GO) test -race -count=1 -timeout 20m ./...
	cd abi && $(GO) test -race -count=1 ./...

test-allocs:
	$(GO) test -count=1 -run 'Allocs' -timeout 5m ./...
	cd abi && $(GO) test -count=1 -run 'Allocs' ./...

# A short coverage-guided run of every fuzz target.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...) $$(cd abi && $(GO) list ./...); do \
	  dir=.; case $$pkg in github.com/aigateway/gateway/abi*) dir=abi;; esac; \
	  for f in $$(cd $$dir && $(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; (cd $$dir && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg) || exit 1; \
	  done; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

-include bench/bench.mk
-include bench/cost/cost.mk
