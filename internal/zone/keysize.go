package zone

// MaxKeyLen bounds the identifiers that arrive from other services (event,
// crossing, alarm, clearance and gate IDs) and become storage keys. One
// longer than this can never be stored (bbolt refuses keys past 32 KiB, and
// composite index keys join several IDs), so it is refused as invalid: a
// consumer then skips it as poison instead of retrying it forever.
const MaxKeyLen = 256

// keySized reports whether every id is at most MaxKeyLen bytes.
func keySized(ids ...string) bool {
	for _, id := range ids {
		if len(id) > MaxKeyLen {
			return false
		}
	}
	return true
}
