#!/bin/sh
# The failure drill of deploy/README.md on a trial cluster (ccm cluster
# trial start --dir DIR, ccm serve running as the ledger): an import of
# DIR/50k.jsonl (ccm bench --events 50000 --write-events DIR/50k.jsonl) as
# the recorder, the log's leader killed (SIGKILL) one second in, then
# started again. Needs ccm on PATH, and bc.
#
#   deploy/trial/leader-kill.sh DIR
set -eu
T=${1:?usage: leader-kill.sh TRIAL_DIR}
set -a; . "$T/clients.env"; set +a
op() { CCM_NATS_USER=operator CCM_NATS_PASSWORD=$CCM_NATS_OPERATOR_PASSWORD ccm "$@"; }
rec() { CCM_NATS_USER=recorder CCM_NATS_PASSWORD=$CCM_NATS_RECORDER_PASSWORD ccm "$@"; }
leader=$(op cluster status | awk '$1 == "CCM" && $4 == "leader" { sub("ccm-nats-", "", $3); print $3 }')
start=$(date +%s.%N)
rec import --format json "$T/50k.jsonl" > "$T/import.json" &
imp=$!
sleep 1
kill -9 "$(cat "$T/nats-$leader/pid")"
echo "killed the leader ccm-nats-$leader at $(echo "$(date +%s.%N) - $start" | bc) s"
wait $imp
echo "import ended at $(echo "$(date +%s.%N) - $start" | bc) s"
cat "$T/import.json"
ccm cluster trial start --dir "$T" --node "$leader"
