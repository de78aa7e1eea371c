#!/bin/sh
# bench_metrics.sh: what a Prometheus scrape costs a running agent (dry-run backend) that holds
# BENCH_BANS active bans (default 1000, written with `sgcluster ban`) and the shipped rules: the
# time of one GET /metrics seen by a client on loopback (median and worst of BENCH_SCRAPES, one
# process, a new connection each time), and the size of the answer. A scrape reads counters and
# makes one pass over the ban map, on the agent's loop: it must stay well under the loop's 50 ms tick.
# Prints "bench: NAME VALUE UNIT". Target: median under 5 ms at 1000 bans.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
BANS=${BENCH_BANS:-1000}
SCRAPES=${BENCH_SCRAPES:-200}
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID"; rm -rf "$T"' EXIT INT TERM
. "$ROOT/tests/integration/lib/wait.sh"
mkdir -p "$T/keys"
"$BIN/sgcluster" keygen --node bench "$T/keys" >/dev/null || exit 1
: > "$T/mail.log"
printf '[node]\nname = bench\nkey_dir = %s/keys\nstate_dir = %s/state\ncontrol_socket = %s/ctl.sock\n' "$T" "$T" "$T" > "$T/a.conf"
printf '[detect]\nrules = %s/detect/rules.d\nscenarios = %s/agent/scenarios.d\nlogs = %s/mail.log\n' "$ROOT" "$ROOT" "$T" >> "$T/a.conf"
printf '[enforce]\nbackend = dryrun\n[policy]\nsocket = none\n[metrics]\nenabled = yes\nlisten = 127.0.0.1:0\n' >> "$T/a.conf"
"$BIN/sgagent" -q -c "$T/a.conf" > "$T/agent.log" 2>&1 &
PID=$!
ctl() { "$BIN/sgcluster" "$@" -s "$T/ctl.sock"; }
wait_for 10 ctl status >/dev/null 2>&1 || { echo "bench_metrics: the agent did not start" >&2; cat "$T/agent.log" >&2; exit 1; }
i=0
while [ $i -lt "$BANS" ]; do
    ctl ban "198.18.$((i / 250)).$((i % 250 + 1))" --for 1h >/dev/null || { echo "bench_metrics: ban $i refused" >&2; exit 1; }
    i=$((i + 1))
done
PORT=$(ctl status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["port"])')
python3 - "$PORT" "$SCRAPES" "$BANS" <<'PY' || exit 1
import http.client, statistics, sys, time
port, n, bans = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
times, size = [], 0
for _ in range(n):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    r = c.getresponse()
    body = r.read()
    c.close()
    times.append((time.perf_counter() - t0) * 1000)
    assert r.status == 200, r.status
    size = len(body)
    assert ('sgcluster_bans_active{kind="block"} %d' % bans).encode() in body, "bans not all active"
print("bench: metrics_scrape_median %.2f ms (%d bans, %d scrapes)" % (statistics.median(times), bans, n))
print("bench: metrics_scrape_max %.2f ms" % max(times))
print("bench: metrics_answer_size %d bytes" % size)
PY
