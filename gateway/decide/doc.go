// Package decide is the gate's decision core, pure and in memory: sensor
// events and their parsing, the correlator that joins beam pairs with
// camera tracks into crossings and alarms (Outcome), device health, the
// clearance book with a ClaimSet per decision step, and the gate clock.
// It knows no store, broker or HTTP server: package gateway wires it to
// those, so the rules can be tested (and replayed, see the golden streams)
// without them.
package decide
