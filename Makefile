# bondgate — see README.md. Every target works on a fresh clone with only Go installed.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/bondgate
DATA     ?= ./data

.PHONY: all build run demo test test-faults test-short lint vet fmt bench clean tools browser

all: build

## build: compile bin/bondgate (version from git describe)
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bondgate

## run: start the whole system on its embedded default (broker, API, two gates);
## HARDWARE=1 also gives G-MRO-1 ISAPI cameras and a Modbus I/O module (dev --hardware)
run: build
	./$(BIN) dev --data $(DATA) $(if $(HARDWARE),--hardware)

## demo: against a running `make run`, the GEnx-1B story: pre-declare, clear, cross, arrive, timeline;
## HARDWARE=1 (with `make run HARDWARE=1`) tells it through ISAPI alerts and the Modbus module instead of JSON;
## STORY=visit tells a foreign aircraft's bonded-maintenance visit from entry to write-off instead
demo: build
	./$(BIN) demo --api http://127.0.0.1:8080 --gate http://127.0.0.1:8081 $(if $(STORY),--story $(STORY)) $(if $(HARDWARE),--hardware)

## tools: promtool for the alert-rule tests (Debian package prometheus), xmllint for the
## release-note XSD test (libxml2-utils);
## installed only when missing, as root, where apt-get exists; else the tests skip loudly
tools:
	@if ! command -v promtool >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing promtool (apt-get install prometheus)"; \
			(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1)) || \
			echo "promtool could not be installed: the alert-rule tests will skip"; \
		else echo "promtool not found and not installable here: the alert-rule tests will skip"; fi; \
	fi
	@if ! command -v xmllint >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing xmllint (apt-get install libxml2-utils)"; \
			(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null 2>&1)) || \
			echo "xmllint could not be installed: the release-note XSD test will skip"; \
		else echo "xmllint not found and not installable here: the release-note XSD test will skip"; fi; \
	fi

## browser: Debian's chromium and a CJK font for the console's browser test (e2e/), and
## pdftotext (poppler-utils) for the printed release note;
## installed only when missing, as root, where apt-get exists; else that test skips loudly
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk'; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium and fonts-wqy-zenhei (apt-get)"; \
			(apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				chromium fonts-wqy-zenhei >/dev/null 2>&1) || \
			echo "chromium could not be installed: the console's browser test will skip"; \
		elif ! command -v chromium >/dev/null 2>&1; then \
			echo "chromium not found and not installable here: the console's browser test will skip"; fi; \
	fi
	@if ! command -v pdftotext >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing pdftotext (apt-get install poppler-utils)"; \
			(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null 2>&1)) || \
			echo "pdftotext could not be installed: the release-note print test will skip"; \
		else echo "pdftotext not found and not installable here: the release-note print test will skip"; fi; \
	fi

## test: vet, then every test with the race detector
test: tools browser vet
	$(GO) test -race -count=1 -timeout 9m ./...

## test-faults: the long fault suite of RELIABILITY.md against real processes, with its summary table
test-faults:
	@mkdir -p bin; rm -f bin/faults-report.md
	BONDGATE_FAULTS=long BONDGATE_FAULTS_REPORT=$(CURDIR)/bin/faults-report.md $(GO) test -count=1 -timeout 25m \
		./faults/; st=$$?; \
		cat bin/faults-report.md 2>/dev/null; exit $$st

## test-short: quick loop while developing (no race detector)
test-short:
	$(GO) test -count=1 -short ./...

## lint: formatting check and vet
lint: vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

## bench: every performance figure with its baseline measured in the same run and the ratio;
## figure 1 against the neutral ceiling (ops/bench/baseline) and JetStream (ops/bench/peers/jetstream),
## each its own module (the go command fetches their dependencies)
## (README "Performance"); BENCH_SCALE=full for the issue's sizes (1M backlog, 100k declarations,
## growth to 1M, figure 1 also on a gate whose log holds 1M events; about 5 minutes);
## BENCH_SCALE=huge adds lists over 1M declarations and figure 1 on a log of 10M events (a 5 GB file). Installs Debian's wrk when missing, as root, where apt-get exists.
BENCH_SCALE ?= small
bench: build
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing wrk (apt-get install wrk)"; \
			(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1)) || \
			echo "wrk could not be installed: figure 1 and the ingest column of figure 6 will fail"; \
		else echo "wrk not found and not installable here: figure 1 and the ingest column of figure 6 will fail"; fi; \
	fi
	cd ops/bench/baseline && $(GO) build -o ../../../bin/bench-neutral .
	cd ops/bench/peers/jetstream && $(GO) build -o ../../../../bin/bench-jetstream .
	./$(BIN) bench run --scale $(BENCH_SCALE) --neutral bin/bench-neutral --jetstream bin/bench-jetstream
	$(GO) test -run '^$$' -bench . -benchtime 1x ./gateway/

clean:
	rm -rf bin
