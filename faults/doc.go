// Package faults is the fault suite of RELIABILITY.md ("Failure
// scenarios"): tests only. Each scenario drives the built bondgate binary as
// real processes (gates, the API, `bondgate broker --data`), kills, stops
// and freezes them, damages their files, and checks with a Jepsen-style
// delivery checker that nothing acknowledged is lost, takes effect twice or
// comes out of order. TestMain builds the binary once and, after the run,
// prints the summary table (and writes it to $BONDGATE_FAULTS_REPORT).
//
// The fast versions run in `make test`; `make test-faults` sets
// BONDGATE_FAULTS=long for the many-trial versions.
package faults
