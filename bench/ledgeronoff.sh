#!/bin/bash
# ledgeronoff.sh [ROUNDS] [DURATION]: issue 10's "ledger on within 5% of
# ledger off" row. The same gatewayprof binary serves non-stream chat
# completions from the mock at 64 connections with its usage ledger on
# (rows written to SQLite in data_dir, the default store) and off (rows
# dropped at the sink and no journal: gatewayprof -ledger off), alternating ON, OFF, ON…
# so that the shared machine's load hits both sides alike; each run is a
# fresh gateway on an empty data_dir. As in the harness, the gateway is
# pinned to CPU 0 and the mock and the load generator to the other CPUs.
# Prints each run and the medians: requests/s and the gateway's CPU time
# (user+system, /proc/PID/stat) per 1,000 requests, the figure that does
# not depend on what else the machine runs.
#
# GATEWAYPROF=path runs another build (e.g. an older commit's). As root,
# every process runs at nice -20 (NICE=0 to leave priorities alone), as the
# bench harness does, so that a shared machine disturbs the runs less.
# EXTRA_TOML is appended to both sides' gateway.toml (e.g. a [store] table).
set -euo pipefail
rounds=${1:-5}
dur=${2:-10s}
root=$(git rev-parse --show-toplevel)
cd "$root"
mkdir -p bin
[ -n "${GATEWAYPROF:-}" ] || { go build -o bin/gatewayprof ./bench/cmd/gatewayprof; GATEWAYPROF=bin/gatewayprof; }
go build -o bin/mockupstream ./bench/cmd/mockupstream
go build -o bin/loadgen ./bench/cmd/loadgen
nice=${NICE:-}
if [ -z "$nice" ]; then nice=0; [ "$(id -u)" = 0 ] && nice=-20; fi
ncpu=$(nproc)
others="1-$((ncpu - 1))"
[ "$ncpu" -gt 1 ] || others=0
tmp=$(mktemp -d)
mockpid=
trap '[ -n "$mockpid" ] && kill $mockpid 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(free_port)
nice -n "$nice" taskset -c "$others" bin/mockupstream -listen 127.0.0.1:$mport >"$tmp/mock.log" 2>&1 &
mockpid=$!
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() { # run MODE ROUND
  local mode=$1 dir=$tmp/$1-$2 port
  port=$(free_port)
  mkdir -p "$dir/data"
  cat >"$dir/gateway.toml" <<TOML
listen = "127.0.0.1:$port"
data_dir = "$dir/data"

[providers.openai]
base_url = "http://127.0.0.1:$mport/v1"
api_key = "sk-bench"
${EXTRA_TOML:-}
TOML
  nice -n "$nice" taskset -c 0 "$GATEWAYPROF" -config "$dir/gateway.toml" -pprof "" -ledger "$mode" >"$dir/gw.log" 2>&1 &
  local gw=$!
  for _ in $(seq 900); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  # warm-up outside the measured window (compiles, pools, first SQLite pages)
  nice -n "$nice" taskset -c "$others" bin/loadgen -url "http://127.0.0.1:$port/v1/chat/completions" -c 64 -d 2s -warmup 0s >/dev/null
  local t0 t1
  t0=$(cpu_ticks $gw)
  nice -n "$nice" taskset -c "$others" bin/loadgen -url "http://127.0.0.1:$port/v1/chat/completions" -c 64 -d "$dur" -warmup 0s -json >"$dir/load.json"
  t1=$(cpu_ticks $gw)
  kill -TERM $gw; wait $gw 2>/dev/null || true
  python3 - "$dir/load.json" "$mode" "$((t1 - t0))" "$hz" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); ticks = int(sys.argv[3]); hz = int(sys.argv[4])
cpu = ticks / hz
assert r["valid"], r.get("invalid")
print(f'{sys.argv[2]:3} {r["rps"]:9.0f} req/s  gateway CPU {cpu:6.2f} s  {1000*cpu*1000/max(r["completed"],1):7.1f} ms/1k req')
PY
}
# ON=sink compares the journal alone (rows journaled, dropped at the sink)
# with no ledger.
on=${ON:-on}
for ((i = 1; i <= rounds; i++)); do
  run "$on" $i | tee -a "$tmp/results"
  run off $i | tee -a "$tmp/results"
done
python3 - "$tmp/results" "$on" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
on = sys.argv[2]
pairs = [(float(a[1]) / float(b[1]), float(a[7]) / float(b[7])) for a, b in zip(rows[0::2], rows[1::2])]
print("paired (" + on + " / off): throughput " + ", ".join(f"{100*p[0]:.1f}%" for p in pairs)
      + f"; median {100*statistics.median(p[0] for p in pairs):.1f}%, CPU per request median {100*statistics.median(p[1] for p in pairs):.1f}%")
med = {}
for mode in (on, "off"):
    rs = [float(r[1]) for r in rows if r[0] == mode]
    cpu = [float(r[7]) for r in rows if r[0] == mode]
    med[mode] = (statistics.median(rs), statistics.median(cpu))
    print(f"median {mode:3}: {med[mode][0]:8.0f} req/s  {med[mode][1]:6.1f} ms CPU per 1k requests ({len(rs)} runs)")
print(f"ledger {on} / off: throughput {100*med[on][0]/med['off'][0]:.1f}%, CPU per request {100*med[on][1]/med['off'][1]:.1f}%")
PY
