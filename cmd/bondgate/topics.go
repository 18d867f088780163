package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bondgate/bondgate/internal/kafka"
)

// errTopicsDiffer makes `bondgate topics` exit 3: the cluster does not
// match the file (a check found something missing or different, or an
// apply left differences it may not fix by itself).
var errTopicsDiffer = errors.New("topics differ from the file")

func runTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("topics", "--brokers LIST --apply FILE [--check]", stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	file := fs.String("apply", "", "topics file to apply, e.g. ops/kafka/topics.json (required)")
	check := fs.Bool("check", false, "change nothing: report what is missing or differs; exit 3 if anything does")
	rf := fs.Int("replication-factor-override", 0, "use this replication factor for every topic (1 for a single dev/test broker; min.insync.replicas is capped to it)")
	alter := fs.Bool("alter-configs", false, "also set topic configs that differ on existing topics (partitions and replication are only reported)")
	timeout := fs.Duration("timeout", 15*time.Second, "bound on each admin request")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	kafkaSecurity := kafkaSecurityFlags(fs)
	newLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log := newLog(stderr).With("component", "topics")
	if *file == "" {
		fs.Usage()
		return fmt.Errorf("--apply FILE is required: %w", errUsage)
	}
	ksec, err := kafkaSecurity()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("topics file: %w", err)
	}
	specs, err := kafka.ParseTopicSpecs(raw)
	if err != nil {
		return err
	}
	rep, err := kafka.ApplyTopics(ctx, splitList(*brokers), specs, kafka.TopicsOptions{
		CheckOnly: *check, ReplicationFactor: *rf, AlterConfigs: *alter, Timeout: *timeout, Security: ksec})
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		log.Warn(w)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTopicsReport(stdout, rep)
	}
	if !rep.InSync() {
		return errTopicsDiffer
	}
	return nil
}

func printTopicsReport(w io.Writer, rep kafka.TopicsReport) {
	for _, t := range rep.Created {
		fmt.Fprintf(w, "created  %s\n", t)
	}
	for _, t := range rep.Matching {
		fmt.Fprintf(w, "ok       %s\n", t)
	}
	for _, d := range rep.Diffs {
		switch {
		case d.Field == "missing":
			fmt.Fprintf(w, "missing  %s\n", d.Topic)
		case d.Fixed:
			fmt.Fprintf(w, "fixed    %s  %s: was %s, now %s\n", d.Topic, d.Field, d.Have, d.Want)
		default:
			fmt.Fprintf(w, "differs  %s  %s: want %s, have %s\n", d.Topic, d.Field, d.Want, d.Have)
		}
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning  %s\n", warn)
	}
	if rep.InSync() {
		fmt.Fprintln(w, "in sync with the file")
	} else {
		fmt.Fprintln(w, "NOT in sync with the file")
	}
}
