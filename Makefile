# berth — build, run and test. `make run` and `make test` install what is
# missing on a fresh Debian machine first (see scripts/install-deps.sh).
GO ?= go
DATA ?= $(CURDIR)/.data
BIN := bin/berth
# FUZZTIME is how long each fuzz target runs: a few seconds in `make test`,
# longer on demand (`make fuzz FUZZTIME=5m`).
FUZZTIME ?= 5s
# Tools built from the Go module proxy (scripts/install-tools.sh) live in
# bin/tools; kubectl is taken from there when the system has none.
TOOLS := $(CURDIR)/bin/tools
export PATH := $(PATH):$(TOOLS)

.PHONY: build release run test unit fuzz lint tools e2e deps vet bench bench-deps clean conformance

build:
	$(GO) build -o $(BIN) ./cmd/berth

# The binary as shipped: no build paths, no symbol table or DWARF (they are
# never loaded; they only make the file bigger).
release:
	$(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/berth
	@stat -c '%n: %s bytes' $(BIN)

deps:
	./scripts/install-deps.sh

tools:
	GO=$(GO) ./scripts/install-tools.sh

lint:
	GO=$(GO) ./scripts/install-tools.sh lint
	$(TOOLS)/golangci-lint run ./...

run: deps build
	$(BIN) server --data-dir $(DATA)

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./internal/... ./cmd/... ./bench/...

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

e2e: build
	$(GO) test -count=1 -timeout 20m ./test/e2e/...

test: deps tools vet lint unit fuzz e2e

# Every benchmark (each built first), against the release binary, writing its tables as
# JSON; once all of them succeeded, their JSON replaces bench/results/NAME.json
# and bench/results writes bench/RESULTS.md with a chart per benchmark. The
# benchmarks refuse a busy machine (load average above the core count):
# BENCHFLAGS=-busy-ok runs anyway, and the reports say so. BENCHES=... runs
# some only (the others' results stay, each with its own date). podstart,
# pull and startup need root (containerd, runc, CNI).
BENCHFLAGS ?=
BENCHES ?= startup api podstart pull dns
BENCHOUT := bin/bench-results
# bench/api's anchor: kube-apiserver of the emulated version, built from the
# Go module proxy in the conformance module (it has the staging replace
# lines), on Debian's etcd-server.
KUBE_APISERVER := bin/kube-apiserver
$(KUBE_APISERVER):
	cd conformance && $(GO) build -trimpath -o ../$(KUBE_APISERVER) k8s.io/kubernetes/cmd/kube-apiserver
bench-deps: $(KUBE_APISERVER)
	command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server; }

bench: release bench-deps
	rm -rf $(BENCHOUT) && mkdir -p $(BENCHOUT)
	# Built first: a compile between two benchmarks would load the machine.
	for b in $(BENCHES); do $(GO) build -o $(BENCHOUT)/$$b ./bench/$$b || exit 1; done
	for b in $(BENCHES); do \
		./scripts/wait-quiet.sh 180; \
		extra=; [ $$b = api ] && extra="-kube-apiserver $(KUBE_APISERVER)"; \
		$(BENCHOUT)/$$b -json $(BENCHOUT)/$$b.json $$extra $(BENCHFLAGS) || exit 1; \
	done
	for b in $(BENCHES); do rm -f bench/results/$$b.svg; cp $(BENCHOUT)/$$b.json bench/results/; done
	$(GO) run ./bench/results -dir bench/results -out bench/RESULTS.md

clean:
	rm -rf bin

# Kubernetes' own e2e node tests (the emulated version) against a fresh
# berth server; writes docs/CONFORMANCE.md. Not part of `make test`: about
# an hour on 2 cores. FOCUS='Container Lifecycle Hook' narrows it.
conformance:
	FOCUS='$(FOCUS)' SKIP='$(SKIP)' GO=$(GO) ./conformance/run.sh
