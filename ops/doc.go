// Package ops holds the operator's material: Kafka topic definitions,
// systemd units, Prometheus alert rules and the runbook. Its tests check
// that material against the real binary (ops_test.go).
package ops
