#!/usr/bin/env bash
# Network benchmark on loopback: pcp (serve + push) beside scp and rsync over ssh, on the same data
# in one run. Prints median time and bytes on the wire per tool and case, with ratios to scp.
#
# Usage (as root; needs openssh-server, rsync, openssl, python3, util-linux's unshare):
#   benches/compare-net.sh [WORKDIR] [RUNS]        (defaults: /dev/shm/pcp-netbench, 3)
# The whole run happens in a private network namespace holding only loopback, so
# /proc/net/dev (per namespace; /sys/class/net is not remounted by unshare) counts exactly the bytes each tool put on the wire
# (headers included). A throwaway sshd listens on 127.0.0.1:2222 inside that namespace.
set -euo pipefail
if [ -z "${PCP_NETBENCH_INNER:-}" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  (cd "$here" && cargo build --release --quiet)
  exec env PCP_NETBENCH_INNER=1 PCP_ROOT="$here" PCP_BIN="$here/target/release/pcp" unshare -n bash "$0" "$@"
fi
ip link set lo up
W=${1:-/dev/shm/pcp-netbench}
RUNS=${2:-3}
PCP=$PCP_BIN
mkdir -p "$W" && cd "$W"
export XDG_STATE_HOME="$W/state" XDG_CONFIG_HOME="$W/config" PCP_CODE=bench-abandon-ability-able

# --- a throwaway sshd ---------------------------------------------------------------------
# shellcheck source=bench-sshd.sh
. "$PCP_ROOT/benches/bench-sshd.sh"
start_sshd
trap 'kill $(cat "$W/sshd.pid") 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true' EXIT

# --- data -----------------------------------------------------------------------------------
# shellcheck source=bench-data.sh
. "$PCP_ROOT/benches/bench-data.sh"
gen_bench_data
mkdir -p src && cp -p base.bin src/big.bin

rx() { awk '$1 == "lo:" {print $2}' /proc/net/dev; }
now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
PORT=47000
# pcp: a fresh `serve --once` per run (the code is single-use), started before the clock runs
start_serve() {
  mkdir -p served
  "$PCP" serve served --once --listen 127.0.0.1:$PORT -q &
  SERVE_PID=$!
  sleep 0.3
}
pcp_push() { # SRC DESTSUBDIR (serve already started)
  "$PCP" sync -a "$1" "x:$2" --addr 127.0.0.1:$PORT -q
  wait "$SERVE_PID"
}
# measure TOOL-FN SETUP-FN: prints "median_seconds median_wire_MiB"
measure() {
  local run=$1 setup=$2 ts=() bs=()
  for _ in $(seq "$RUNS"); do
    $setup
    case $run in *pcp*) start_serve ;; esac
    local b0 t0 t1 b1; b0=$(rx); t0=$(now)
    $run
    t1=$(now); b1=$(rx)
    ts+=("$(python3 -c "print($t1-$t0)")"); bs+=("$(python3 -c "print(($b1-$b0)/1048576)")")
  done
  echo "$(median "${ts[@]}") $(median "${bs[@]}")"
}
none() { :; }
clean_all() { rm -rf served/big rdst sdst; $SSH root@127.0.0.1 true; }
edit() { cp -p base.bin src/big.bin; start_serve; pcp_push src/ big >/dev/null; rsync -a -e "$SSH" src/ root@127.0.0.1:"$W/rdst/"; python3 -c "
import os
f=open('src/big.bin','r+b'); f.seek(512<<20); f.write(os.urandom(1<<20)); f.close()"; }
insert() { cp -p base.bin src/big.bin; start_serve; pcp_push src/ big >/dev/null; rsync -a -e "$SSH" src/ root@127.0.0.1:"$W/rdst/"; python3 -c "
d=open('src/big.bin','rb').read(); open('src/big.bin','wb').write(d[:4096]+b'Z'*100+d[4096:])"; }
small_clean() { rm -rf served/small rsmall ssmall; }

r_pcp() { pcp_push src/ big; }
r_scp() { $SCP src/big.bin root@127.0.0.1:"$W/sdst.bin"; }
r_rsync() { rsync -a -e "$SSH" src/ root@127.0.0.1:"$W/rdst/"; }
s_pcp() { pcp_push small/ small; }
s_scp() { $SCP -r small root@127.0.0.1:"$W/ssmall"; }
s_rsync() { rsync -a -e "$SSH" small/ root@127.0.0.1:"$W/rsmall/"; }

printf '%-26s %18s %18s %18s %9s %9s\n' case "pcp s / MiB" "scp s / MiB" "rsync-ssh s / MiB" pcp/scp pcp/rsync
row() { # name "t w" "t w" "t w"
  set -- "$1" $2 $3 $4
  printf '%-26s %9s %8s %9s %8s %9s %8s %9s %9s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
    "$(python3 -c "print('%.2f' % ($2/$4))")" "$(python3 -c "print('%.2f' % ($2/$6))")"
}
p=$(measure r_pcp clean_all); s=$(measure r_scp clean_all); r=$(measure r_rsync clean_all); row "1 GiB fresh" "$p" "$s" "$r"
p=$(measure r_pcp none); s=$(measure r_scp none); r=$(measure r_rsync none); row "1 GiB no-op rerun" "$p" "$s" "$r"
p=$(measure r_pcp edit); s=$(measure r_scp edit); r=$(measure r_rsync edit); row "1 MiB overwritten" "$p" "$s" "$r"
p=$(measure r_pcp insert); s=$(measure r_scp insert); r=$(measure r_rsync insert); row "100 B inserted at 4 KiB" "$p" "$s" "$r"
p=$(measure s_pcp small_clean); s=$(measure s_scp small_clean); r=$(measure s_rsync small_clean); row "20k small files fresh" "$p" "$s" "$r"
p=$(measure s_pcp none); r=$(measure s_rsync none); row "20k small files no-op" "$p" "$p" "$r"

# Peak RSS per side (/usr/bin/time %M): the sender is the pushing client, the receiver `serve`.
rss() { # LABEL SRC DESTSUBDIR
  rm -rf "served/$3"
  /usr/bin/time -o serve.rss -f %M "$PCP" serve served --once --listen 127.0.0.1:$PORT -q &
  local sp=$!
  sleep 0.3
  /usr/bin/time -o push.rss -f %M "$PCP" sync -a "$2" "x:$3" --addr 127.0.0.1:$PORT -q
  wait "$sp"
  printf '%-30s sender %7s KiB   receiver %7s KiB\n' "peak RSS, $1" "$(tail -1 push.rss)" "$(tail -1 serve.rss)"
  rm -rf "served/$3"
}
rss "1 GiB push" src/ big
rss "20k small files push" small/ small
mkdir -p big4
[ -f big4/big4.bin ] || (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:pcp-bench-4g -in /dev/zero 2>/dev/null | head -c 4G > big4/big4.bin)
rss "4 GiB push" big4/ big4
rm -rf big4
