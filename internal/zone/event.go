package zone

import (
	"encoding/json"
	"time"
)

// Kafka topics, as in CONTRACT.md.
const (
	TopicCrossings    = "bondgate.gate.crossings"    // keyed by gate ID
	TopicAlarms       = "bondgate.gate.alarms"       // keyed by gate ID
	TopicClearances   = "bondgate.zone.clearances"   // keyed by declaration ID
	TopicDeclarations = "bondgate.zone.declarations" // keyed by declaration ID
	// TopicRecords carries changes to temporary entries and zero-tariff parts
	// lots, reminders and overdue notices; keyed by record ID.
	TopicRecords = "bondgate.zone.records"
)

// TopicChangelog carries every committed transaction of the zone API's
// store and the primary's lease, for warm standbys (`api --standby`): one
// partition (one order), compacted per key. Not in Topics: it is not a
// six-partition event topic.
const TopicChangelog = "bondgate.zone.changelog"

// Topics lists every event topic bondgate uses.
var Topics = []string{TopicCrossings, TopicAlarms, TopicClearances, TopicDeclarations, TopicRecords}

// Event types carried in the CloudEvents `type` attribute.
const (
	TypeDeclarationChanged = "bondgate.declaration.changed"
	TypeClearance          = "bondgate.clearance.changed"
	TypeCrossing           = "bondgate.crossing.decided"
	TypeAlarm              = "bondgate.alarm.raised"
)

// Event is a CloudEvents 1.0 envelope in JSON structured mode.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// NewEvent builds an envelope around data, which must marshal to JSON.
func NewEvent(id, source, typ, subject string, at time.Time, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, Internal(err)
	}
	return Event{SpecVersion: "1.0", ID: id, Source: source, Type: typ, Time: at.UTC(),
		Subject: subject, DataContentType: "application/json", Data: raw}, nil
}

// OutboxMessage is one message waiting to be published: written in the same
// transaction as the change it announces, deleted only once Kafka has it.
type OutboxMessage struct {
	Seq   uint64 `json:"seq"`   // big-endian key in the outbox; order of publication
	Topic string `json:"topic"` // Kafka topic
	Key   string `json:"key"`   // Kafka key (gate ID or record ID)
	Value []byte `json:"value"` // one line of CloudEvents JSON
	// Attempts counts failed deliveries, for backoff and quarantine.
	Attempts int       `json:"attempts,omitempty"`
	Created  time.Time `json:"created"`
}

// Message builds the outbox message for an event on topic, keyed by key.
func (e Event) Message(topic, key string) (OutboxMessage, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return OutboxMessage{}, Internal(err)
	}
	return OutboxMessage{Topic: topic, Key: key, Value: raw, Created: e.Time}, nil
}
