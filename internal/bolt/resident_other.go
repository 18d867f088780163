//go:build !linux

package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// TrimResident is a no-op where the process's mappings cannot be read.
func (db *DB) TrimResident() error { return nil }

// TrimResidentEvery is a no-op where the process's mappings cannot be read.
func (db *DB) TrimResidentEvery(ctx context.Context, every time.Duration) { <-ctx.Done() }

func trimEvery(ctx context.Context, _ *bbolt.DB, _ time.Duration) { <-ctx.Done() }
