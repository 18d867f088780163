package main

import (
	"flag"
	"fmt"

	"github.com/bondgate/bondgate/internal/api"
)

// replicaFlags adds the changelog and standby flags of `bondgate api`.
func replicaFlags(fs *flag.FlagSet, addr *string) func() api.ReplicaConfig {
	changelog := fs.Bool("changelog", false, "write every committed change to the changelog topic and acknowledge it only once the log has it (a primary with standbys)")
	standby := fs.Bool("standby", false, "warm standby: follow the changelog into --data, serve reads, answer writes 503 + Location of the primary, take over when its lease lapses (implies --changelog)")
	advertise := fs.String("advertise-url", "", "this node's base URL, the Location a standby gives for writes (default http://--addr)")
	nodeID := fs.String("node-id", "", "this node's name in the lease (default --advertise-url)")
	lease := fs.Duration("lease", api.DefaultLease, "the primary's lease on the changelog, renewed every third of it")
	snapEvery := fs.Int("snapshot-every", api.DefaultSnapshotEvery, "the primary writes a snapshot of its file into the changelog after this many transactions (or --snapshot-interval), so a rebuild reads the snapshot and the tail after it")
	snapInterval := fs.Duration("snapshot-interval", api.DefaultSnapshotInterval, "the longest time between two snapshots while transactions come in")
	return func() api.ReplicaConfig {
		url := *advertise
		if url == "" {
			url = fmt.Sprintf("http://%s", *addr)
		}
		return api.ReplicaConfig{Changelog: *changelog, Standby: *standby, AdvertiseURL: url, NodeID: *nodeID, Lease: *lease,
			SnapshotEvery: *snapEvery, SnapshotInterval: *snapInterval}
	}
}
