# The two commands: `make run` builds everything and starts the gateway on
# the embedded defaults; `make test` runs every test.
GO       ?= go
BIN      := bin/gateway
CONFIG   ?= gateway.toml
GOFLAGS  ?=

.PHONY: fleet-test batch-soak deploy-check deploy-check-schemas all build run test test-race test-allocs test-names vet fmt policies policies-check fuzz clean screenshots

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

# Every test: the race detector on everything, then, without it, the tests
# that mean nothing under -race and skip themselves there: allocation tests
# (named Test…Allocs) and soak tests (TestSoak…). test-names fails when such
# a test is named so that the second pass would not select it. The pattern
# is written out in both recipes; internal/testnames checks they agree.

test: vet test-names test-race test-allocs deploy-check

# The guest SDK (abi/) is its own Go module: ./... from the root does not
# reach it, so every target that walks packages runs there too.
vet:
	$(GO) vet ./...
	cd abi && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./...
	cd $(DEPLOY_CHECK) && $(GO) vet ./...

test-names:
	$(GO) run ./internal/testnames -run 'Alloc|Soak'

test-race:
	$(GO) test -race -count=1 -timeout 30m ./...
	cd abi && $(GO) test -race -count=1 ./...

# The soak (wasm's TestSoakRealClocks, 120,000 policy calls) takes about a
# minute on 2 busy cores; the allocation tests a few seconds each.
test-allocs:
	$(GO) test -count=1 -run 'Alloc|Soak' -timeout 10m ./...
	cd abi && $(GO) test -count=1 -run 'Alloc|Soak' ./...

# A short coverage-guided run of every fuzz target.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...) $$(cd abi && $(GO) list ./...); do \
	  dir=.; case $$pkg in github.com/aigateway/gateway/abi*) dir=abi;; esac; \
	  for f in $$(cd $$dir && $(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; (cd $$dir && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg) || exit 1; \
	  done; \
	done

# Three replicas of the built binary on a real 3-master Redis Cluster and
# PostgreSQL, under bounded load, with faults injected one at a time
# (engine/internal/fleet; needs redis-server, redis-cli and PostgreSQL).
# Not part of `make test`: it takes about a minute and prints its table.
fleet-test:
	$(GO) test -tags fleet -count=1 -v -timeout 10m ./engine/internal/fleet

# A 1,000-item batch through the built binary, killed with SIGKILL half way
# and restarted: every custom_id exactly once in the output, at most
# [batch] concurrency items sent upstream twice; prints interactive latency
# with and without the batch (engine/internal/batchsoak, docs/batch.md).
# Not part of `make test`: about a minute (the killed runner's 30 s lease).
batch-soak:
	$(GO) test -tags soak -count=1 -v -timeout 10m ./engine/internal/batchsoak

# deploy/kubernetes validated offline, in `make test`: every manifest
# decoded strictly into the k8s.io/api type of its kind, then checked
# against the others and the gateway (probes, ports, selectors, references,
# documented env vars). Its own Go module (deploy/kubernetes/check), so the
# gateway's go.mod carries no Kubernetes packages; like abi/, ./... from the
# root does not reach it. The gateway.toml inside the ConfigMap is loaded by
# engine's TestKubernetesConfigMap.
DEPLOY_CHECK := deploy/kubernetes/check
deploy-check:
	cd $(DEPLOY_CHECK) && $(GO) test -count=1 ./...

# The same manifests against the Kubernetes JSON schemas by kubeconform
# (installed from the Go module proxy), where its schemas can be fetched:
# from kubeconform's default location, or KUBECONFORM_SCHEMAS (a local
# mirror: a directory or URL template, see kubeconform -h). Not in `make
# test`: the schemas are not reachable from every machine.
KUBECONFORM ?= $(shell $(GO) env GOPATH)/bin/kubeconform
KUBECONFORM_SCHEMAS ?= default
deploy-check-schemas:
	@test -x $(KUBECONFORM) || $(GO) install github.com/yannh/kubeconform/cmd/kubeconform@v0.6.7
	$(KUBECONFORM) -strict -summary -schema-location $(KUBECONFORM_SCHEMAS) deploy/kubernetes/

fmt:
	gofmt -w $$(git ls-files '*.go')

# screenshots drives the dashboard in headless chromium (TestDashboardBrowser)
# and keeps its page screenshots in docs/img for the README and the tour.
screenshots:
	mkdir -p docs/img
	DASHBOARD_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -count=1 -run '^TestDashboardBrowser$$' ./engine/

clean:
	rm -rf bin

-include bench/bench.mk
-include bench/cost/cost.mk
