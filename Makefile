# Thin wrappers over the go command. The README's quick start needs none of them.
GO ?= go
DATA ?= ./ccm-data

.PHONY: run test race vet fmt bench fuzz build generate serve

run: ## the quick start: the Convention as of the Third Meeting of States Parties
	$(GO) run ./cmd/ccm report --as-of 3MSP --data $(DATA)

serve:
	$(GO) run ./cmd/ccm serve --data $(DATA)

test:
	$(GO) test ./...

race:
	$(GO) test -race ./...

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench: ## the ledger against the raw JetStream baseline, same run, same server
	$(GO) run ./cmd/ccm bench

fuzz:
	$(GO) test ./events -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	$(GO) test ./events -run '^$$' -fuzz FuzzReadAll -fuzztime 60s

build:
	$(GO) build -o bin/ccm ./cmd/ccm

generate: ## rebuild the bundled record from its sources
	$(GO) generate ./events/record
