# Muster. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BUF := go tool -modfile=tools/go.mod buf
SHARED ?= ../shared

.PHONY: help
help: ## Describe useful make targets
	@grep -hE '^[a-zA-Z_-]+:.*?## .*$$' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "%-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build musterd and muster into bin/
	go build -o bin/ ./cmd/...

.PHONY: dashboard
dashboard: dashboard/node_modules ## Build the dashboard that musterd embeds (needs Node 20 and npm)
	cd dashboard && npm run build

dashboard/node_modules: dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund
	@touch $@

.PHONY: redis
redis: ## Install Debian's redis-server for the replica tests, if missing (as root)
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

.PHONY: chromium
chromium: ## Install Debian's Chromium for the browser tests, if missing (as root)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

.PHONY: demo
demo: dashboard build ## Run musterd (dashboard on :8000, gRPC on :9090, stale after 15s) with a simulated fleet
	@# musterd in its own session: Ctrl-C stops the simulation first, then the trap stops musterd.
	@setsid bin/musterd --stale-after=15s & pid=$$!; trap 'kill $$pid 2>/dev/null; wait $$pid' EXIT; \
	echo "dashboard: http://localhost:8000  (Ctrl-C stops)"; \
	bin/muster simulate --grpc-addr=localhost:9090 --http-url=http://localhost:8000 || true

.PHONY: test
test: test-go test-python test-dashboard ## Run every test: Go (race detector), Python client and compatibility suite, dashboard unit and browser tests

.PHONY: test-go
test-go: redis ## Run the Go tests with the race detector (the replica tests start redis-server)
	go test -race -count=1 ./...

.PHONY: test-python
test-python: build ## Run the Python client tests and the compatibility suite against bin/musterd
	MUSTERD=$(CURDIR)/bin/musterd PYTHONPATH=python python3 -m unittest discover -s python/tests

.PHONY: test-dashboard
test-dashboard: dashboard/node_modules chromium ## Run the dashboard's unit tests and its browser tests in headless Chromium
	cd dashboard && npm test && npm run e2e

.PHONY: test-short
test-short: ## Run the fast tests only
	go test -race -short ./...

.PHONY: bench
bench: build ## Go benchmarks (manager at 10..100,000 workers, codec) and a short load run against baselines
	go test -run '^$$' -bench . -benchmem -benchtime=100000x ./server/manager
	go test -run '^$$' -bench . -benchmem ./gateway
	bin/muster bench --start --baselines --workers=1000 --duration=5s --warmup=1s

FUZZTIME ?= 10s
.PHONY: fuzz
# Minimising each new interesting input can outlast a short -fuzztime, which
# go test then reports as a failure; a failing input is still reported whole.
fuzz: ## Run each fuzz target for FUZZTIME (default 10s)
	go test -run '^$$' -fuzz '^FuzzDecodeBody$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./gateway
	go test -run '^$$' -fuzz '^FuzzManagerOps$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 0 ./server/manager

.PHONY: cases
cases: build ## Replay the shared contract cases against the built musterd
	python3 $(SHARED)/tools/run_cases.py --server "bin/musterd --http-addr={http} --grpc-addr={grpc} --store=memory" $(SHARED)/cases/*.json

.PHONY: generate
generate: ## Regenerate gen/ and the OpenAPI document from proto/
	$(BUF) format -w
	$(BUF) generate

.PHONY: checkgenerate
checkgenerate: generate ## Fail if gen/, gateway/openapi or proto/ formatting drifted from what is committed
	@test -z "$$(git status --porcelain -- gen proto gateway/openapi)" || { git status --short -- gen proto gateway/openapi; git diff -- gen proto gateway/openapi | head -50; echo "generated code is out of date: run make generate and commit"; exit 1; }

.PHONY: lint
lint: ## buf lint and format, go vet, gofmt
	$(BUF) lint
	$(BUF) format --diff --exit-code
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }

.PHONY: breaking
breaking: ## Fail on breaking API changes against the previous commit
	$(BUF) breaking --against '.git#ref=HEAD~1'
