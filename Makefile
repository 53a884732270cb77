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

.PHONY: build run test unit fuzz lint tools e2e deps vet bench clean conformance

build:
	$(GO) build -o $(BIN) ./cmd/berth

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

bench: build
	$(GO) run ./bench/api

clean:
	rm -rf bin

# Kubernetes' own e2e node tests (the emulated version) against a fresh
# berth server; writes docs/CONFORMANCE.md. Not part of `make test`: about
# an hour on 2 cores. FOCUS='Container Lifecycle Hook' narrows it.
conformance:
	FOCUS='$(FOCUS)' SKIP='$(SKIP)' GO=$(GO) ./conformance/run.sh
