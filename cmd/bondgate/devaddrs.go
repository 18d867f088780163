package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/bondgate/bondgate/fixtures"
)

// defaultGateAddrs is --gate-addrs' default: each dev gate on its fixture
// address (CONTRACT.md: G-MRO-1 on 127.0.0.1:8081, G-MAIN on :8082).
func defaultGateAddrs() string {
	var pairs []string
	for _, g := range fixtures.Gates() {
		pairs = append(pairs, g.ID+"="+g.Addr)
	}
	return strings.Join(pairs, ",")
}

// setGateAddrs applies --gate-addrs (GATE=HOST:PORT, comma-separated) to
// the dev gates; a gate it does not name keeps its fixture address.
func setGateAddrs(gates []fixtures.Gate, v string) error {
	seen := map[string]bool{}
	for _, pair := range splitList(v) {
		id, addr, ok := strings.Cut(pair, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" || addr == "" {
			return fmt.Errorf("--gate-addrs: %q is not GATE=HOST:PORT: %w", pair, errUsage)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("--gate-addrs: %q: %v: %w", addr, err, errUsage)
		}
		if seen[id] {
			return fmt.Errorf("--gate-addrs: gate %s is named twice: %w", id, errUsage)
		}
		seen[id] = true
		found := false
		for i := range gates {
			if gates[i].ID == id {
				gates[i].Addr, found = addr, true
			}
		}
		if !found {
			return fmt.Errorf("--gate-addrs: %s is not a dev gate (%s): %w", id, defaultGateAddrs(), errUsage)
		}
	}
	return nil
}
