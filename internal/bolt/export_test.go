package bolt

// What this package's black-box tests use to set up and inspect a file
// directly (Update and View are in gate_handle.go for now).
var (
	PutAlarm    = putAlarm
	AppendAudit = appendAudit
)
