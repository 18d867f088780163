package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bondgate/bondgate/internal/zone"
)

// TopicSpec is one topic as the operator wants it on the cluster: the
// file's defaults merged with the topic's own entry.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	Configs           map[string]string
}

// topicsFile is the shape of ops/kafka/topics.json. Keys starting with "_"
// and the "key"/"why" notes are documentation only.
type topicsFile struct {
	Defaults struct {
		Partitions        int               `json:"partitions"`
		ReplicationFactor int               `json:"replication_factor"`
		Configs           map[string]string `json:"configs"`
	} `json:"defaults"`
	Topics []struct {
		Name              string            `json:"name"`
		Partitions        int               `json:"partitions"`
		ReplicationFactor int               `json:"replication_factor"`
		Configs           map[string]string `json:"configs"`
	} `json:"topics"`
}

// ParseTopicSpecs reads a topics file (ops/kafka/topics.json) and returns
// each topic with the defaults applied. A topic's own partitions,
// replication factor and configs win over the defaults.
func ParseTopicSpecs(raw []byte) ([]TopicSpec, error) {
	var f topicsFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, zone.Errorf(zone.EINVALID, "topics file: %v", err)
	}
	if len(f.Topics) == 0 {
		return nil, zone.Errorf(zone.EINVALID, "topics file names no topics")
	}
	seen := map[string]bool{}
	var out []TopicSpec
	for i, t := range f.Topics {
		if t.Name == "" {
			return nil, zone.Errorf(zone.EINVALID, "topics file: topic %d has no name", i)
		}
		if seen[t.Name] {
			return nil, zone.Errorf(zone.EINVALID, "topics file: topic %s named twice", t.Name)
		}
		seen[t.Name] = true
		s := TopicSpec{Name: t.Name, Partitions: f.Defaults.Partitions, ReplicationFactor: f.Defaults.ReplicationFactor,
			Configs: map[string]string{}}
		if t.Partitions > 0 {
			s.Partitions = t.Partitions
		}
		if t.ReplicationFactor > 0 {
			s.ReplicationFactor = t.ReplicationFactor
		}
		for k, v := range f.Defaults.Configs {
			s.Configs[k] = v
		}
		for k, v := range t.Configs {
			s.Configs[k] = v
		}
		if s.Partitions <= 0 || s.ReplicationFactor <= 0 {
			return nil, zone.Errorf(zone.EINVALID, "topics file: %s needs partitions and replication_factor above 0", t.Name)
		}
		out = append(out, s)
	}
	return out, nil
}

// TopicsOptions changes how ApplyTopics works.
type TopicsOptions struct {
	// CheckOnly reports what is missing or differs and changes nothing.
	CheckOnly bool
	// ReplicationFactor, when above 0, replaces every topic's replication
	// factor (dev and tests on a single broker pass 1). min.insync.replicas
	// is lowered to it where it would be higher, or no write could succeed.
	ReplicationFactor int
	// AlterConfigs sets configs that differ on existing topics. Partition
	// counts and replication factors are only ever reported: adding
	// partitions moves keys to other partitions (per-gate order breaks
	// across the change) and reassigning replicas is an operator's job.
	AlterConfigs bool
	// Timeout bounds each admin request; default 15 s.
	Timeout time.Duration
	// Security is how the admin client reaches the brokers (TLS, SASL).
	Security Security
}

// TopicDiff is one way an existing topic differs from its spec.
type TopicDiff struct {
	Topic string `json:"topic"`
	// Field is "partitions", "replication_factor", "missing" or a config name.
	Field string `json:"field"`
	Want  string `json:"want"`
	Have  string `json:"have"`
	// Fixed is true when ApplyTopics changed the topic to match (configs
	// with AlterConfigs).
	Fixed bool `json:"fixed,omitempty"`
}

func (d TopicDiff) String() string {
	s := fmt.Sprintf("%s: %s want %s, have %s", d.Topic, d.Field, d.Want, d.Have)
	if d.Fixed {
		s += " (fixed)"
	}
	return s
}

// TopicsReport says what ApplyTopics found and did.
type TopicsReport struct {
	Created   []string    `json:"created"`  // topics created now
	Matching  []string    `json:"matching"` // topics that were already as specified
	Diffs     []TopicDiff `json:"diffs"`    // differences found, fixed or not
	Warnings  []string    `json:"warnings"` // cluster settings worth a look (auto-create on)
	CheckOnly bool        `json:"check_only"`
}

// InSync reports whether the cluster matches the specs after the run:
// nothing missing and no difference left unfixed.
func (r TopicsReport) InSync() bool {
	for _, d := range r.Diffs {
		if !d.Fixed {
			return false
		}
	}
	return true
}

// ApplyTopics makes the cluster's topics match specs: it creates missing
// topics with their partitions, replication factor and configs, and reports
// every difference on existing ones (fixing configs when asked). It is
// idempotent: a second run on a matching cluster changes nothing. With
// CheckOnly it changes nothing at all and missing topics are differences.
func ApplyTopics(ctx context.Context, brokers []string, specs []TopicSpec, opts TopicsOptions) (TopicsReport, error) {
	rep := TopicsReport{CheckOnly: opts.CheckOnly}
	if len(brokers) == 0 {
		return rep, zone.Errorf(zone.EINVALID, "no brokers given")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	specs = effectiveSpecs(specs, opts.ReplicationFactor)

	cl, err := kgo.NewClient(append(opts.Security.kgoOpts(), kgo.SeedBrokers(brokers...), kgo.DialTimeout(5*time.Second),
		kgo.RequestTimeoutOverhead(opts.Timeout), kgo.ClientID("bondgate-topics"))...)
	if err != nil {
		return rep, zone.Errorf(zone.EINVALID, "kafka client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(opts.Timeout / time.Millisecond))

	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	rctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	details, err := adm.ListTopics(rctx, names...)
	cancel()
	if err != nil {
		if opts.Security != (Security{}) && !IsAuth(opts.Security.classify(err)) {
			// A refused login reads as an EOF or a timeout to franz-go; the
			// probe names the refusal instead.
			if perr := Probe(ctx, brokers, opts.Security); IsAuth(perr) {
				err = perr
			}
		}
		return rep, unavailable(opts.Security.classify(err), "list topics")
	}

	var existing []TopicSpec
	for _, s := range specs {
		d, ok := details[s.Name]
		if ok && d.Err == nil {
			existing = append(existing, s)
			rep.Diffs = append(rep.Diffs, shapeDiffs(s, d)...)
			continue
		}
		if ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return rep, unavailable(opts.Security.classify(d.Err), "describe topic "+s.Name)
		}
		if opts.CheckOnly {
			rep.Diffs = append(rep.Diffs, TopicDiff{Topic: s.Name, Field: "missing", Want: "topic", Have: "none"})
			continue
		}
		if err := createTopic(ctx, adm, s, opts.Timeout); err != nil {
			return rep, err
		}
		rep.Created = append(rep.Created, s.Name)
	}

	if len(existing) > 0 {
		cdiffs, err := configDiffs(ctx, adm, existing, opts)
		if err != nil {
			return rep, err
		}
		rep.Diffs = append(rep.Diffs, cdiffs...)
	}
	differs := map[string]bool{}
	for _, d := range rep.Diffs {
		differs[d.Topic] = differs[d.Topic] || !d.Fixed
	}
	for _, s := range existing {
		if !differs[s.Name] {
			rep.Matching = append(rep.Matching, s.Name)
		}
	}
	rep.Warnings = autoCreateWarnings(ctx, adm, opts.Timeout)
	return rep, nil
}

// effectiveSpecs applies a replication factor override, copying specs.
func effectiveSpecs(specs []TopicSpec, rf int) []TopicSpec {
	out := make([]TopicSpec, len(specs))
	for i, s := range specs {
		c := s
		c.Configs = make(map[string]string, len(s.Configs))
		for k, v := range s.Configs {
			c.Configs[k] = v
		}
		if rf > 0 {
			c.ReplicationFactor = rf
			if isr, err := strconv.Atoi(c.Configs["min.insync.replicas"]); err == nil && isr > rf {
				c.Configs["min.insync.replicas"] = strconv.Itoa(rf)
			}
		}
		out[i] = c
	}
	return out
}

func createTopic(ctx context.Context, adm *kadm.Client, s TopicSpec, timeout time.Duration) error {
	configs := make(map[string]*string, len(s.Configs))
	for k, v := range s.Configs {
		configs[k] = kadm.StringPtr(v)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := adm.CreateTopic(cctx, int32(s.Partitions), int16(s.ReplicationFactor), configs, s.Name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		// Created by someone else since we listed: the next run checks it.
		return nil
	case res.ErrMessage != "":
		return unavailable(fmt.Errorf("%w: %s", err, res.ErrMessage), "create topic "+s.Name)
	}
	return unavailable(err, "create topic "+s.Name)
}

// shapeDiffs compares partition count and replication factor.
func shapeDiffs(s TopicSpec, d kadm.TopicDetail) []TopicDiff {
	var out []TopicDiff
	if n := len(d.Partitions); n != s.Partitions {
		out = append(out, TopicDiff{Topic: s.Name, Field: "partitions", Want: strconv.Itoa(s.Partitions), Have: strconv.Itoa(n)})
	}
	if rf := d.Partitions.NumReplicas(); rf != s.ReplicationFactor {
		out = append(out, TopicDiff{Topic: s.Name, Field: "replication_factor", Want: strconv.Itoa(s.ReplicationFactor), Have: strconv.Itoa(rf)})
	}
	return out
}

// configDiffs compares each wanted config with the topic's effective value
// (its own, or the broker default it inherits) and, with AlterConfigs, sets
// those that differ.
func configDiffs(ctx context.Context, adm *kadm.Client, specs []TopicSpec, opts TopicsOptions) ([]TopicDiff, error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	rcs, err := adm.DescribeTopicConfigs(dctx, names...)
	cancel()
	if err != nil {
		return nil, unavailable(err, "describe topic configs")
	}
	have := map[string]map[string]string{}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, unavailable(rc.Err, "describe configs of "+rc.Name)
		}
		m := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				m[c.Key] = *c.Value
			}
		}
		have[rc.Name] = m
	}
	var out []TopicDiff
	for _, s := range specs {
		keys := make([]string, 0, len(s.Configs))
		for k := range s.Configs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var alter []kadm.AlterConfig
		start := len(out)
		for _, k := range keys {
			want := s.Configs[k]
			got, ok := have[s.Name][k]
			if ok && got == want {
				continue
			}
			if !ok {
				got = "(unset)"
			}
			out = append(out, TopicDiff{Topic: s.Name, Field: k, Want: want, Have: got})
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(want)})
		}
		if len(alter) == 0 || opts.CheckOnly || !opts.AlterConfigs {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, opts.Timeout)
		res, err := adm.AlterTopicConfigs(actx, alter, s.Name)
		cancel()
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = fmt.Errorf("%w %s", r.Err, r.ErrMessage)
				}
			}
		}
		if err != nil {
			return nil, unavailable(err, "alter configs of "+s.Name)
		}
		for i := start; i < len(out); i++ {
			out[i].Fixed = true
		}
	}
	return out, nil
}

// autoCreateWarnings says when the brokers would auto-create topics: a typo
// in a topic name would then silently make a new, wrongly configured topic.
// Brokers that do not report the setting give no warning.
func autoCreateWarnings(ctx context.Context, adm *kadm.Client, timeout time.Duration) []string {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rcs, err := adm.DescribeBrokerConfigs(dctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == "auto.create.topics.enable" && strings.EqualFold(c.MaybeValue(), "true") {
				out = append(out, "brokers have auto.create.topics.enable=true: set it to false so no topic is ever made by accident")
				return out
			}
		}
	}
	return out
}
