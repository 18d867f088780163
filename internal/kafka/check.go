package kafka

// CheckDelivery compares what was acknowledged with what was read back from
// a topic, in the style of Jepsen's Kafka checker. acked lists IDs in the
// order their producer acknowledged them and read lists IDs in the order a
// consumer saw them; call it once per ordering scope (per key, or per
// partition) since Kafka orders nothing across partitions.
//
// lost counts acked IDs never read. dupes counts extra copies in read (each
// ID beyond its first occurrence; at-least-once delivery allows them, the
// consumer's seen-set absorbs them). reordered counts acked IDs whose first
// occurrence in read comes before that of an ID acked earlier: order is
// judged by first occurrence, because a retried batch legitimately re-appends
// copies after later messages.
//
// IDs read but never acked are not counted: a write can land although its
// acknowledgement was lost.
func CheckDelivery(acked []string, read []string) (lost, dupes, reordered int) {
	first := make(map[string]int, len(read))
	for i, id := range read {
		if _, ok := first[id]; ok {
			dupes++
			continue
		}
		first[id] = i
	}
	maxPos := -1
	for _, id := range acked {
		pos, ok := first[id]
		if !ok {
			lost++
			continue
		}
		if pos < maxPos {
			reordered++
			continue
		}
		maxPos = pos
	}
	return lost, dupes, reordered
}
