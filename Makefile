# bondgate — see README.md. Every target works on a fresh clone with only Go installed.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/bondgate
DATA     ?= ./data

.PHONY: all build run test test-short lint vet fmt bench clean

all: build

## build: compile bin/bondgate (version from git describe)
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bondgate

## run: start the whole system on its embedded default (broker, API, two gates)
run: build
	./$(BIN) dev --data $(DATA)

## test: vet, then every test with the race detector
test: vet
	$(GO) test -race -count=1 -timeout 9m ./...

## test-short: quick loop while developing (no race detector)
test-short:
	$(GO) test -count=1 -short ./...

## lint: formatting check and vet
lint: vet
	@out=$$(gofmt -l . | grep -v '^zz_' || true); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

## bench: ingest and decision benchmarks with their same-run baselines
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./gateway/ ./internal/...

clean:
	rm -rf bin
