package main

import (
	"os"
	"testing"
	"time"
	"fmt"
	"path/filepath"

	"github.com/bondgate/bondgate/internal/bolt"
)

func TestTmpSeed(t *testing.T) {
	dir := os.Getenv("TMP_SEED_DIR")
	if dir == "" {
		t.Skip()
	}
	if _, err := os.Stat(filepath.Join(dir, "gate-G-MRO-1.db")); err != nil {
		if err := seedBacklog(dir, 1_000_000); err != nil {
			t.Fatal(err)
		}
	}
	m0, _ := readProcMem(os.Getpid())
	stopS := make(chan struct{})
	var maxF, maxA int64
	go func() {
		for {
			select {
			case <-stopS:
				return
			default:
			}
			m, _ := readProcMem(os.Getpid())
			maxF = max(maxF, m.File)
			maxA = max(maxA, m.Anon)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	start := time.Now()
	db, err := bolt.Open(filepath.Join(dir, "gate-G-MRO-1.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := readProcMem(os.Getpid())
	fmt.Println("open took", time.Since(start), "before", m0, "after", m1)
	close(stopS)
	fmt.Println("max file", maxF, "max anon", maxA)
	db.Close()
}
