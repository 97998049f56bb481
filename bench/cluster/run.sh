#!/usr/bin/env bash
# A Herald cluster under load on one machine: NODES nodes on Redis or NATS,
# CONNS subscribers spread over them by `herald bench --workers`, in three
# phases, each bounded in time:
#
#   1. broadcast at RATE publications/s for DURATION: connect rate and
#      errors, delivered/s, delivery latency, loss, CPU per delivery of the
#      nodes and of the broker, memory per node;
#   2. a ramp from RAMP_START/s, ×RAMP_FACTOR every RAMP_STEP, until p99
#      passes RAMP_P99, loss appears or RAMP_MAX is passed;
#   3. a rolling restart of every node (SIGTERM, start again, next one
#      RESTART_GAP later) under RESTART_RATE publications/s: subscribers
#      reconnect to their node and recover from their last offset; the
#      bench counts loss and duplicates by offset and times each outage.
#
# Everything listens on loopback. Every child is killed on exit, and the
# run's Redis keys are deleted. Each node runs with `ulimit -n NOFILE`.
#
#   bench/cluster/run.sh                       # 6 nodes × 100,000 on Redis
#   ENGINE=nats bench/cluster/run.sh
#   SMOKE=1 bench/cluster/run.sh               # 600 connections, 1–2 minutes
#
# Settings (environment): ENGINE redis|nats, CONNS, NODES, WORKERS (bench
# processes; each holds CONNS/WORKERS sockets under its own open-file
# limit), RATE, DURATION, SIZE, RAMP_START, RAMP_FACTOR, RAMP_STEP,
# RAMP_P99, RAMP_MAX, RESTART_RATE, RESTART_GAP, RESTART_EACH (seconds the
# restart phase allows per node for its drain and start), PHASES (default
# "broadcast ramp restart"), BASE_PORT, NOFILE, REDIS (127.0.0.1:6379),
# NATS (nats://127.0.0.1:4222), BROKER_PID (read from Redis, or the one
# local nats-server, when unset),
# OUT (directory for the JSON reports and node logs; default a temporary
# one). The exit status is 1 when a phase lost or duplicated a delivery,
# a client failed to connect, or one was not back after a restart.
set -euo pipefail

if [[ "${SMOKE:-0}" == 1 ]]; then
	: "${CONNS:=600}" "${WORKERS:=2}" "${DURATION:=5s}" "${RAMP_STEP:=2s}" "${RAMP_MAX:=40}"
	: "${RAMP_START:=5}" "${RESTART_GAP:=1}" "${RESTART_EACH:=3}" "${RESTART_RATE:=10}"
fi
ENGINE=${ENGINE:-redis}
CONNS=${CONNS:-100000}
NODES=${NODES:-6}
WORKERS=${WORKERS:-8}
RATE=${RATE:-1}
DURATION=${DURATION:-20s}
SIZE=${SIZE:-128}
RAMP_START=${RAMP_START:-1}
RAMP_FACTOR=${RAMP_FACTOR:-2}
RAMP_STEP=${RAMP_STEP:-5s}
RAMP_P99=${RAMP_P99:-1s}
RAMP_MAX=${RAMP_MAX:-64}
RESTART_RATE=${RESTART_RATE:-1}
RESTART_GAP=${RESTART_GAP:-5}
RESTART_EACH=${RESTART_EACH:-12}
PHASES=${PHASES:-broadcast ramp restart}
BASE_PORT=${BASE_PORT:-8101}
NOFILE=${NOFILE:-20000}
REDIS=${REDIS:-127.0.0.1:6379}
NATS=${NATS:-nats://127.0.0.1:4222}

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
OUT=${OUT:-$work}
mkdir -p "$OUT"
prefix="herald-cluster-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
key="cluster-bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
declare -a node_pid
bench_pid=""
status=0

cleanup() {
	set +e
	if [[ -n "$bench_pid" ]]; then
		# The bench and its workers are one process group.
		kill -TERM -- "-$bench_pid" 2>/dev/null
		local until=$((SECONDS + 10))
		while kill -0 "$bench_pid" 2>/dev/null && ((SECONDS < until)); do sleep 0.1; done
		kill -KILL -- "-$bench_pid" 2>/dev/null
	fi
	# Nodes drain on SIGTERM; one that takes longer than 15 s is killed.
	for pid in "${node_pid[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	local deadline=$((SECONDS + 15))
	for pid in "${node_pid[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	wait "${node_pid[@]}" $bench_pid 2>/dev/null
	if [[ "$ENGINE" == redis ]]; then
		redis-cli -u "redis://$REDIS" --scan --pattern "$prefix*" 2>/dev/null |
			xargs -r -n 500 redis-cli -u "redis://$REDIS" unlink >/dev/null
	fi
	[[ "$OUT" == "$work" ]] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

case "$ENGINE" in
redis)
	engine_env=(HERALD_BROKER_ENGINE=redis "HERALD_BROKER_REDIS_ADDRS=$REDIS" "HERALD_BROKER_REDIS_PREFIX=$prefix")
	: "${BROKER_PID:=$(redis-cli -u "redis://$REDIS" info server | tr -d '\r' | sed -n 's/^process_id://p')}"
	;;
nats)
	engine_env=(HERALD_BROKER_ENGINE=nats "HERALD_BROKER_NATS_URL=$NATS" "HERALD_BROKER_NATS_PREFIX=$prefix")
	# The local nats-server, when there is exactly one.
	if [[ -z "${BROKER_PID:-}" && $(pgrep -cx nats-server) == 1 ]]; then BROKER_PID=$(pgrep -x nats-server); fi
	;;
*)
	echo "ENGINE must be redis or nats" >&2
	exit 2
	;;
esac

log "building herald"
bin="$work/herald"
(cd "$root" && timeout 300 go build -o "$bin" ./cmd/herald)

# The bench namespace as an application would set up a busy channel:
# history and recovery, no presence. The per-address and publish limits
# are lifted so that the shape of the load never decides a result; the
# connection limit per node stays.
cat >"$work/herald.yaml" <<EOF
anonymous: true
api_keys: [$key]
shutdown_timeout: 10s
namespaces:
  bench:
    history_size: 1000
    history_ttl: 1h
    recover: true
    allow_publish: any
limits:
  max_connections_per_ip: 1000000
  connect_rate_per_ip: -1
  publish_rate: -1
  command_rate: 1000000
  command_burst: 1000000
log:
  level: warn
EOF

port() { echo $((BASE_PORT + $1)); }

start_node() {
	local i=$1
	(
		ulimit -n "$NOFILE"
		exec env "${engine_env[@]}" "$bin" serve --config "$work/herald.yaml" \
			--address "127.0.0.1:$(port "$i")" --node-name "node-$i"
	) >>"$OUT/node-$i.log" 2>&1 &
	node_pid[i]=$!
	local deadline=$((SECONDS + 30))
	until curl -fs -o /dev/null "http://127.0.0.1:$(port "$i")/readyz"; do
		if ((SECONDS > deadline)) || ! kill -0 "${node_pid[i]}" 2>/dev/null; then
			log "node-$i did not become ready; its log:"
			tail -20 "$OUT/node-$i.log" >&2
			exit 1
		fi
		sleep 0.2
	done
}

# stop_node drains node i (SIGTERM) and waits for it to exit.
stop_node() {
	local i=$1 deadline=$((SECONDS + 30))
	kill -TERM "${node_pid[i]}"
	while kill -0 "${node_pid[i]}" 2>/dev/null; do
		if ((SECONDS > deadline)); then
			log "node-$i did not drain in 30s: killed"
			kill -KILL "${node_pid[i]}"
			break
		fi
		sleep 0.1
	done
	wait "${node_pid[i]}" 2>/dev/null || true
}

# connections sums the nodes' open client connections; a node that does
# not answer in time counts 0.
connections() {
	local i
	for ((i = 1; i <= NODES; i++)); do
		curl -fs --max-time 5 "http://127.0.0.1:$(port "$i")/metrics" || true
	done | awk '$1 == "herald_connections" { sum += $2 } END { printf "%d\n", sum }'
}

urls=()
for ((i = 1; i <= NODES; i++)); do urls+=(--url "ws://127.0.0.1:$(port "$i")/ws"); done
common=("$bin" bench fanout --anonymous --channel-prefix bench: --size "$SIZE" -n "$CONNS"
	--workers "$WORKERS" --publish-via api --api-key "$key" --timeout 30s --drain 10s --quiet --json "${urls[@]}")

# run_bench runs the bench in its own process group, bounded by limit
# seconds, its report in $OUT/$name.json.
run_bench() {
	local name=$1 limit=$2
	shift 2
	log "phase $name: ${*}"
	setsid timeout --kill-after=10 "$limit" "${common[@]}" "$@" >"$OUT/$name.json" 2>"$OUT/$name.log" &
	bench_pid=$!
}

wait_bench() {
	local rc=0
	wait "$bench_pid" || rc=$?
	if ((rc != 0)); then
		# cleanup kills what is left of the bench's process group.
		log "phase $1 failed ($rc):"
		tail -20 "$OUT/$1.log" >&2
		exit 1
	fi
	bench_pid=""
}

log "starting $NODES nodes on $ENGINE (prefix $prefix, ulimit -n $NOFILE)"
for ((i = 1; i <= NODES; i++)); do start_node "$i"; done
pids_flags=()
for ((i = 1; i <= NODES; i++)); do pids_flags+=(--server-pid "${node_pid[i]}"); done
[[ -n "${BROKER_PID:-}" ]] && pids_flags+=(--broker-pid "$BROKER_PID")
# The time a phase may take: connecting (at 500/s at worst), its
# publishing, and margin.
connect_limit=$((CONNS / 500 + 60))
seconds() { local d=$1; d=${d%s}; echo "${d%.*}"; }

for phase in $PHASES; do
	case "$phase" in
	broadcast)
		run_bench broadcast $((connect_limit + $(seconds "$DURATION") + 30)) \
			--rate "$RATE" --duration "$DURATION" "${pids_flags[@]}"
		wait_bench broadcast
		;;
	ramp)
		steps=$(awk -v r="$RAMP_START" -v f="$RAMP_FACTOR" -v m="$RAMP_MAX" 'BEGIN { n = 1; while (r * f <= m) { r *= f; n++ } print n }')
		run_bench ramp $((connect_limit + steps * ($(seconds "$RAMP_STEP") + 12) + 30)) \
			--ramp --ramp-start "$RAMP_START" --ramp-factor "$RAMP_FACTOR" --ramp-step "$RAMP_STEP" \
			--ramp-p99 "$RAMP_P99" --ramp-max "$RAMP_MAX" "${pids_flags[@]}"
		wait_bench ramp
		;;
	restart)
		# Long enough for every node's restart (its drain and start, the
		# gap) and a margin; the restarts begin once every client is
		# connected.
		d=$((NODES * (RESTART_GAP + RESTART_EACH) + 10))
		run_bench restart $((connect_limit + d + 90)) --recover --rate "$RESTART_RATE" --duration "${d}s"
		deadline=$((SECONDS + connect_limit))
		until (($(connections) >= CONNS)); do
			if ((SECONDS > deadline)) || ! kill -0 "$bench_pid" 2>/dev/null; then
				log "the clients did not all connect: $(connections) of $CONNS"
				break
			fi
			sleep 0.5
		done
		sleep "$RESTART_GAP"
		for ((i = 1; i <= NODES; i++)); do
			log "restarting node-$i"
			stop_node "$i"
			start_node "$i"
			sleep "$RESTART_GAP"
		done
		log "all nodes restarted; waiting for the bench"
		wait_bench restart
		;;
	*)
		echo "unknown phase $phase" >&2
		exit 2
		;;
	esac
done

# The summary, from the JSON reports.
summary() {
	local f=$OUT/$1.json
	[[ -s "$f" ]] || return 0
	jq -r --arg phase "$1" '.results[0] as $r | [
		"== \($phase): \($r.connections) connections in \($r.connect_seconds | . * 100 | round / 100)s (\($r.connect_rate | round)/s), connect errors: \($r.connect_errors // {} | tostring)",
		"   published \($r.published) (errors \($r.errors)), delivered \($r.delivered) of \($r.expected), lost \($r.lost), duplicates \($r.duplicates), \($r.delivered_per_sec | round) deliveries/s",
		"   latency ms: p50 \($r.latency_ms.p50 | . * 1000 | round / 1000)  p99 \($r.latency_ms.p99 | . * 1000 | round / 1000)  max \($r.latency_ms.max | . * 1000 | round / 1000)",
		(if $r.server_cpu then "   CPU per delivery: nodes \($r.server_cpu.per_delivery_us | . * 100 | round / 100) µs (\($r.server_cpu.utilisation * 100 | round)% of a core)" + (if $r.server_cpu.broker then ", broker \($r.server_cpu.broker.per_delivery_us | . * 100 | round / 100) µs" else "" end) else empty end),
		(if $r.server_cpu.nodes then "   memory per node MiB: " + ([$r.server_cpu.nodes[] | .rss_bytes / 1048576 | round | tostring] | join(" ")) else empty end),
		(if $r.ramp then ($r.ramp.steps[] | "   ramp \(.rate)/s: \(.delivered_per_sec | round) deliveries/s, p50 \(.p50_ms | . * 100 | round / 100) p99 \(.p99_ms | . * 100 | round / 100) max \(.max_ms | . * 100 | round / 100) ms, lost \(.lost), dups \(.duplicates), \(.cpu_per_delivery_us // 0 | . * 100 | round / 100) CPU-µs/delivery"), "   ramp: max sustainable \($r.ramp.max_sustainable_rate)/s, stopped by \($r.ramp.stopped_by)" else empty end),
		(if $r.outages then ($r.outages[] | "   outage \(.node): \(.clients) clients closed, all back after \(.seconds)s" + (if .not_back then " — \(.not_back) NOT back" else "" end)), "   recovered \($r.recovered // 0) publications on resubscribing, \($r.unrecovered // 0) incomplete recoveries" else empty end)
	] | .[]' "$f"
	jq -e '.results[0] | .lost == 0 and .duplicates == 0 and (.connect_errors // {} | length) == 0 and ([.outages[]?.not_back // 0] | add // 0) == 0' "$f" >/dev/null || status=1
}
echo "Herald cluster: $NODES nodes on $ENGINE, $CONNS connections, $WORKERS bench workers; reports in $OUT"
for phase in $PHASES; do summary "$phase"; done
exit "$status"
