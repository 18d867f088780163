#!/bin/sh
# Driver of README "Performance": build, then print every figure with its
# baseline measured in the same run and the ratio. Same as `make bench`.
#   ops/bench/run.sh [small|full|huge]
# Run from the repository root (the wrk script is ops/bench/events.lua).
set -eu
scale="${1:-${BENCH_SCALE:-small}}"
command -v wrk >/dev/null 2>&1 || { echo "wrk is missing: apt-get install wrk (Debian)"; exit 1; }
go build -o bin/bondgate ./cmd/bondgate
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
./bin/bondgate bench run --scale "$scale" --lua ops/bench/events.lua
go test -run '^$' -bench . -benchtime 1x ./gateway/
