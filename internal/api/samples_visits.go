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

// visitSamples is the maintenance_visits part of fixtures/samples.json.
type visitSamples struct {
	Firm   string `json:"firm"`
	Visits []struct {
		Key          string               `json:"key"`
		Declaration  zone.PreDeclaration  `json:"declaration"`
		Visit        zone.Visit           `json:"visit"`
		TaskCards    []zone.VisitTaskCard `json:"task_cards"`
		RemovedParts []struct {
			zone.RemovedPart
			Key         string               `json:"key"`
			Disposition zone.DispositionKind `json:"disposition"`
		} `json:"removed_parts"`
	} `json:"maintenance_visits"`
}

// sampleCrossingPrefix marks the crossings the samples apply: no gate made
// them.
const sampleCrossingPrefix = "SAMPLE-X-"

// loadVisitSamples opens the sample maintenance visits the way the real
// flow does, through the API's own services: the firm declares the inbound
// move, customs clears it, the crossing is applied as the gate feed would
// apply it (crossing ID SAMPLE-X-<key>), then the visit, its task cards and
// removed parts. Every step is keyed or skipped when already done, so a
// second start adds nothing.
func loadVisitSamples(ctx context.Context, decls *zone.DeclarationService, crossings *zone.CrossingService, recs *records, now time.Time, log *slog.Logger) error {
	var s visitSamples
	if err := json.Unmarshal(fixtures.Samples(), &s); err != nil {
		return fmt.Errorf("fixtures/samples.json: %w", err)
	}
	p := zone.Principal{Role: zone.RoleMRO, Firm: s.Firm}
	customs := zone.Principal{Role: zone.RoleCustoms, Officer: "sample-loader"}
	added := 0
	for _, sv := range s.Visits {
		d := sv.Declaration
		d.Window = zone.Window{From: now.UTC().Add(-time.Hour).Truncate(time.Minute), To: now.UTC().Add(6 * time.Hour).Truncate(time.Minute)}
		decl, replayed, err := decls.Submit(ctx, p, d, sampleIdem(p, sv.Key+"/inbound"))
		if err != nil {
			return fmt.Errorf("sample visit %s: declaration: %w", sv.Key, err)
		}
		if !replayed {
			added++
		}
		if decl.Status == zone.StatusSubmitted {
			if decl, err = decls.Decide(ctx, customs, decl.ID, zone.ActClear, ""); err != nil {
				return fmt.Errorf("sample visit %s: clear: %w", sv.Key, err)
			}
		}
		if decl.Status == zone.StatusCleared {
			x := zone.Crossing{ID: sampleCrossingPrefix + sv.Key, Gate: decl.Gate, Decision: zone.DecisionAuthorized,
				Direction: decl.Direction, ObjectClass: string(decl.Object.Kind), ClearanceID: decl.ID,
				Time: now.UTC(), DecidedAt: now.UTC()}
			// What a camera would have read, so the board shows the sample
			// crossing as it shows a real one.
			if ids := decl.Identifiers(); len(ids) > 0 {
				x.Identity = &ids[0]
			}
			if decl.ReleaseNote != nil {
				x.ReleaseNote = decl.ReleaseNote.Number
			}
			ev, err := zone.NewEvent(sampleCrossingPrefix+sv.Key, "bondgate/dev-samples", zone.TypeCrossing, x.ID, now.UTC(), x)
			if err != nil {
				return err
			}
			if _, err := crossings.ApplyCrossingEvent(ctx, ev); err != nil {
				return fmt.Errorf("sample visit %s: crossing: %w", sv.Key, err)
			}
		}
		v := sv.Visit
		v.Object, v.InboundPreDeclaration = decl.Object, decl.ID
		visit, replayed, err := recs.visits.Open(ctx, p, v, sampleIdem(p, sv.Key))
		if err != nil {
			return fmt.Errorf("sample visit %s: %w", sv.Key, err)
		}
		if !replayed {
			added++
		}
		for _, tc := range sv.TaskCards {
			if _, _, err := recs.visits.AddTaskCard(ctx, p, visit.ID, tc.Number, tc.Title, sampleIdem(p, sv.Key+"/"+tc.Number)); err != nil {
				return fmt.Errorf("sample visit %s: task card %s: %w", sv.Key, tc.Number, err)
			}
		}
		for _, r := range sv.RemovedParts {
			_, rp, _, err := recs.visits.RemovePart(ctx, p, visit.ID, r.RemovedPart, sampleIdem(p, sv.Key+"/"+r.Key))
			if err != nil {
				return fmt.Errorf("sample visit %s: removed part %s: %w", sv.Key, r.Key, err)
			}
			if r.Disposition != "" && rp.Disposition == nil {
				if _, _, err := recs.visits.Dispose(ctx, p, visit.ID, rp.ID, r.Disposition, ""); err != nil {
					return fmt.Errorf("sample visit %s: disposition of %s: %w", sv.Key, r.Key, err)
				}
			}
		}
	}
	queued, err := loadQueueSample(ctx, decls, s.Firm, now)
	if err != nil {
		return err
	}
	if queued {
		added++
	}
	if added > 0 {
		log.Info("sample maintenance visits loaded", "added", added, "visits", len(s.Visits), "queued_declaration", queued)
	}
	return nil
}

// loadQueueSample submits one engine move for the officer to decide, so the
// console's green-channel queue is not empty on a first run. Keyed like the
// other samples: a later start finds it and adds nothing (once its window
// has passed, the sweeper expires it as it would any other).
func loadQueueSample(ctx context.Context, decls *zone.DeclarationService, firm string, now time.Time) (added bool, err error) {
	p := zone.Principal{Role: zone.RoleMRO, Firm: firm}
	d := zone.PreDeclaration{
		Object:        zone.Object{Kind: zone.KindEngine, ESN: "890-233", Model: "CFM56-7B", Owner: "Hainan Airlines"},
		Direction:     zone.In,
		Gate:          "G-MRO-1",
		Window:        zone.Window{From: now.UTC().Add(-10 * time.Minute).Truncate(time.Minute), To: now.UTC().Add(12 * time.Hour).Truncate(time.Minute)},
		Regime:        zone.RegimeBondedMaintenance,
		DeclaredValue: zone.Money{Amount: "68000000.00", Currency: "CNY"},
		HSCode:        "84111200",
		Conveyance:    zone.Conveyance{StandTag: "STAND-0107"},
	}
	_, replayed, err := decls.Submit(ctx, p, d, sampleIdem(p, "queue/cfm56-7b"))
	if err != nil {
		return false, fmt.Errorf("sample declaration for the queue: %w", err)
	}
	return !replayed, nil
}
