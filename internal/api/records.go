package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/bondgate/bondgate/internal/bolt"
	"github.com/bondgate/bondgate/internal/zone"
)

// RecordsConfig configures temporary entries and the parts ledger.
type RecordsConfig struct {
	// ExitApprovalAbove, when not empty, is the exempted duty (a decimal
	// amount) above which a part leaving the island waits for customs.
	ExitApprovalAbove string
	// ReminderInterval is how often the re-export reminders are checked;
	// default DefaultReminderInterval.
	ReminderInterval time.Duration
}

// DefaultReminderInterval is how often reminders and overdue deadlines are checked.
const DefaultReminderInterval = time.Minute

// records are the temporary-entry and parts services of the API and the
// reminder scheduler that runs beside them.
type records struct {
	entries   *zone.TemporaryEntryService
	parts     *zone.PartsService
	equipment *zone.EquipmentService
	reminders *zone.ReminderService
	visits    *zone.VisitService
	writeoffs *zone.WriteOffService
	log       *slog.Logger
}

func newRecords(db *bolt.DB, o RecordsConfig, committed func(), log *slog.Logger) (*records, error) {
	newID := func() string { return ulid.Make().String() }
	var above *big.Rat
	if o.ExitApprovalAbove != "" {
		if above = zone.ParseAmount(o.ExitApprovalAbove); above == nil {
			return nil, fmt.Errorf("--parts-exit-approval-above: %q is not a decimal amount", o.ExitApprovalAbove)
		}
	}
	r := &records{
		entries: &zone.TemporaryEntryService{Store: bolt.NewTemporaryEntryStore(db), Declarations: bolt.NewDeclarationStore(db),
			Now: time.Now, NewID: newID, Source: "bondgate/api", Committed: committed},
		parts: &zone.PartsService{Store: bolt.NewPartsStore(db), Now: time.Now, NewID: newID, Source: "bondgate/api",
			Committed: committed, ExitApprovalAbove: above},
		equipment: &zone.EquipmentService{Store: bolt.NewEquipmentStore(db), Now: time.Now, NewID: newID, Source: "bondgate/api",
			Committed: committed},
		reminders: &zone.ReminderService{Store: bolt.NewTemporaryEntryStore(db), Equipment: bolt.NewEquipmentStore(db),
			Source: "bondgate/api", NewID: newID, Interval: o.ReminderInterval, Log: log.With("part", "reminders"), Committed: committed},
		log: log,
	}
	// Bonded maintenance: visits follow crossed declarations in the
	// crossing's transaction, and the parts service asks them about task
	// cards and locked write-off periods.
	r.visits = &zone.VisitService{Store: bolt.NewVisitStore(db), Declarations: bolt.NewDeclarationStore(db),
		WriteOffs: bolt.NewWriteOffStore(db), Lots: bolt.NewPartsStore(db), Now: time.Now, NewID: newID,
		Source: "bondgate/api", Committed: committed}
	r.writeoffs = &zone.WriteOffService{Store: bolt.NewWriteOffStore(db), Visits: r.visits.Store, Lots: bolt.NewPartsStore(db),
		Now: time.Now, NewID: newID, Source: "bondgate/api", Committed: committed}
	r.parts.Maintenance = r.visits
	db.FollowVisits(r.visits.CrossingMove())
	return r, nil
}

// run drives the reminder service until ctx is done.
func (r *records) run(ctx context.Context) {
	if err := r.reminders.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		r.log.Error("reminder scheduler stopped", "err", err)
	}
}
