#!/bin/sh
# Creates bondgate's topics on a production Kafka cluster, as ops/kafka/topics.json
# describes them (keep the two in step; internal/kafka's tests check they agree).
# Idempotent: existing topics are left alone (--if-not-exists).
#
#   BOOTSTRAP=broker1:9092 [COMMAND_CONFIG=client.properties] ./create-topics.sh
#
# 6 partitions: per-key order (gate ID, declaration ID) with room for several
# API consumers. RF 3 with min.insync.replicas=2: producers use acks=all, so a
# write is acknowledged only once two replicas have it and one broker may be
# lost without losing an acknowledged crossing.
set -eu

BOOTSTRAP="${BOOTSTRAP:-localhost:9092}"
KAFKA_TOPICS="${KAFKA_TOPICS:-kafka-topics.sh}"
set -- --bootstrap-server "$BOOTSTRAP"
if [ -n "${COMMAND_CONFIG:-}" ]; then
	set -- "$@" --command-config "$COMMAND_CONFIG"
fi

COMMON="--partitions 6 --replication-factor 3 \
 --config min.insync.replicas=2 \
 --config unclean.leader.election.enable=false \
 --config message.timestamp.type=CreateTime \
 --config max.message.bytes=1048588"

# Gate topics, declarations and records: facts, never compacted, kept 90 days.
for topic in bondgate.gate.crossings bondgate.gate.alarms bondgate.zone.declarations bondgate.zone.records; do
	# shellcheck disable=SC2086
	"$KAFKA_TOPICS" "$@" --create --if-not-exists --topic "$topic" $COMMON \
		--config cleanup.policy=delete --config retention.ms=7776000000
done

# Clearances: gates rebuild their cache from the latest state per declaration,
# so compact (never time out a clearance booked far ahead).
# shellcheck disable=SC2086
"$KAFKA_TOPICS" "$@" --create --if-not-exists --topic bondgate.zone.clearances $COMMON \
	--config cleanup.policy=compact --config min.compaction.lag.ms=86400000 \
	--config delete.retention.ms=86400000

# The zone API's changelog: one partition (one commit order), compacted (the
# lease key keeps its latest renewal; each transaction has its own key).
"$KAFKA_TOPICS" "$@" --create --if-not-exists --topic bondgate.zone.changelog \
	--partitions 1 --replication-factor 3 \
	--config min.insync.replicas=2 --config unclean.leader.election.enable=false \
	--config cleanup.policy=compact --config min.compaction.lag.ms=86400000

"$KAFKA_TOPICS" "$@" --describe --topic 'bondgate\..*'
