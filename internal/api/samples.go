package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/internal/zone"
)

// samples is fixtures/samples.json.
type samples struct {
	Firm             string `json:"firm"`
	TemporaryEntries []struct {
		Key            string              `json:"key"`
		EnteredDaysAgo int                 `json:"entered_days_ago"`
		Entry          zone.TemporaryEntry `json:"entry"`
	} `json:"temporary_entries"`
	PartsLots []struct {
		Key       string        `json:"key"`
		Lot       zone.PartsLot `json:"lot"`
		Movements []struct {
			Key      string        `json:"key"`
			Movement zone.Movement `json:"movement"`
		} `json:"movements"`
	} `json:"parts_lots"`
	Equipment []struct {
		Key             string         `json:"key"`
		ImportedDaysAgo int            `json:"imported_days_ago"`
		Item            zone.Equipment `json:"item"`
	} `json:"equipment"`
}

// samplePrefix marks the idempotency keys of the samples in the firm's key
// space; a client's own keys never start with it by accident.
const samplePrefix = "bondgate-dev-sample:"

// sampleIdem is the idempotency of one sample record. Its body hash is
// fixed: entered_at moves with the day of the start, and a later start must
// still find the record the first one wrote rather than be refused.
func sampleIdem(p zone.Principal, key string) *zone.Idempotency {
	return &zone.Idempotency{Scope: p.Actor(), Key: samplePrefix + key, BodyHash: "bondgate-dev-sample"}
}

// loadSamples writes the sample temporary entries and parts lots through
// the API's own services, each under its idempotency key in the same
// transaction as the record: a second start (or one after a crash halfway)
// adds only what is missing.
func loadSamples(ctx context.Context, recs *records, now time.Time, log *slog.Logger) error {
	var s samples
	if err := json.Unmarshal(fixtures.Samples(), &s); err != nil {
		return fmt.Errorf("fixtures/samples.json: %w", err)
	}
	p := zone.Principal{Role: zone.RoleMRO, Firm: s.Firm}
	added := 0
	for _, e := range s.TemporaryEntries {
		entry := e.Entry
		entry.EnteredAt = now.UTC().AddDate(0, 0, -e.EnteredDaysAgo).Truncate(time.Hour)
		_, replayed, err := recs.entries.Create(ctx, p, entry, sampleIdem(p, e.Key))
		if err != nil {
			return fmt.Errorf("sample temporary entry %s: %w", e.Key, err)
		}
		if !replayed {
			added++
		}
	}
	for _, l := range s.PartsLots {
		lot, replayed, err := recs.parts.CreateLot(ctx, p, l.Lot, sampleIdem(p, l.Key))
		if err != nil {
			return fmt.Errorf("sample parts lot %s: %w", l.Key, err)
		}
		if !replayed {
			added++
		}
		for _, m := range l.Movements {
			if _, _, replayed, err = recs.parts.Move(ctx, p, lot.ID, m.Movement, sampleIdem(p, l.Key+"/"+m.Key)); err != nil {
				return fmt.Errorf("sample movement %s/%s: %w", l.Key, m.Key, err)
			}
			if !replayed {
				added++
			}
		}
	}
	for _, q := range s.Equipment {
		item := q.Item
		item.ImportedAt = now.UTC().AddDate(0, 0, -q.ImportedDaysAgo).Truncate(time.Hour)
		_, replayed, err := recs.equipment.Register(ctx, p, item, sampleIdem(p, q.Key))
		if err != nil {
			return fmt.Errorf("sample equipment %s: %w", q.Key, err)
		}
		if !replayed {
			added++
		}
	}
	log.Info("dev samples loaded", "added", added, "temporary_entries", len(s.TemporaryEntries), "parts_lots", len(s.PartsLots),
		"equipment", len(s.Equipment))
	return nil
}
