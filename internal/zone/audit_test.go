package zone_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/bondgate/bondgate/internal/zone"
	"github.com/stretchr/testify/assert"
)

func chain(n int) []zone.AuditEntry {
	var es []zone.AuditEntry
	prev := ""
	for i := 1; i <= n; i++ {
		e := zone.AuditEntry{Seq: uint64(i), Time: time.Unix(int64(i), 0).UTC(), Actor: "customs:HK-0031",
			Action: "clear", Entity: "predeclaration", EntityID: "D1", After: json.RawMessage(`{"status":"cleared"}`)}
		e.Seal(prev)
		prev = e.Hash
		es = append(es, e)
	}
	return es
}

func TestVerifyChain(t *testing.T) {
	assert.True(t, zone.VerifyChain(chain(5)).Verified)
	assert.True(t, zone.VerifyChain(nil).Verified)

	edited := chain(5)
	edited[2].Actor = "mro:GAMECO"
	v := zone.VerifyChain(edited)
	assert.False(t, v.Verified)
	assert.Equal(t, uint64(3), v.FirstBad.Seq)

	resealed := chain(5)
	resealed[1].Reason = "quietly changed"
	resealed[1].Seal(resealed[0].Hash) // a forger recomputes this hash, but not the next one's link
	v = zone.VerifyChain(resealed)
	assert.False(t, v.Verified)
	assert.Equal(t, uint64(3), v.FirstBad.Seq)

	gap := chain(5)
	gap = append(gap[:2], gap[3:]...)
	v = zone.VerifyChain(gap)
	assert.False(t, v.Verified)
	assert.Equal(t, uint64(4), v.FirstBad.Seq)
}
