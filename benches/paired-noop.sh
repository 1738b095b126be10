#!/usr/bin/env bash
# Connect time of a paired no-op rerun: `pcp sync -a -q` to a paired peer (Noise IKpsk2, no
# code, the pinned key) against `rsync -a` over ssh with a key, on the same small tree over
# loopback, in a private network namespace; hyperfine medians of RUNS runs, ratio printed.
#
# Usage (as root; needs openssh-server, rsync, hyperfine): benches/paired-noop.sh [RUNS] [FILES]
set -euo pipefail
if [ -z "${PCP_NOOP_INNER:-}" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  (cd "$here" && cargo build --release --quiet)
  exec env PCP_NOOP_INNER=1 PCP_ROOT="$here" PCP_BIN="$here/target/release/pcp" unshare -n bash "$0" "$@"
fi
ip link set lo up
RUNS=${1:-10}
FILES=${2:-100}
W=$(mktemp -d /dev/shm/pcp-noop.XXXXXX)
PCP=$PCP_BIN
# shellcheck source=bench-sshd.sh
. "$PCP_ROOT/benches/bench-sshd.sh"
start_sshd
trap 'kill $(cat "$W/sshd.pid") 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT

mkdir -p "$W/src" "$W/srv" "$W/rs"
for i in $(seq "$FILES"); do head -c $((i * 37 % 4000 + 100)) /dev/urandom > "$W/src/f$i"; done
# Two identities: the server's and the client's.
S="env HOME=$W/s XDG_CONFIG_HOME=$W/s/config XDG_STATE_HOME=$W/s/state"
C="env HOME=$W/c XDG_CONFIG_HOME=$W/c/config XDG_STATE_HOME=$W/c/state"
PCP_CODE=bench-abandon-ability-able $S "$PCP" serve --listen 127.0.0.1:47100 "$W/srv" -q 2>"$W/serve.err" &
sleep 0.5
# Pair once (and copy the tree); rsync's first copy too.
PCP_CODE=bench-abandon-ability-able $C "$PCP" sync -a -q --addr 127.0.0.1:47100 "$W/src/" nas:d/ </dev/null
rsync -a -e "$SSH" "$W/src/" 127.0.0.1:"$W/rs/"
$C "$PCP" peers list
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$W/h.json" \
  -n pcp-paired "$C $PCP sync -a -q $W/src/ nas:d/" \
  -n rsync-ssh "rsync -a -e '$SSH' $W/src/ 127.0.0.1:$W/rs/" >/dev/null
python3 - "$W/h.json" "$FILES" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, s = r["pcp-paired"]["median"], r["rsync-ssh"]["median"]
print(f"paired no-op rerun, {sys.argv[2]} files, loopback: pcp {p*1000:.1f} ms, rsync over ssh (key) {s*1000:.1f} ms, median of {len(r['pcp-paired']['times'])}; pcp/rsync {p/s:.2f}")
PY
