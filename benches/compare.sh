#!/usr/bin/env bash
# Side-by-side benchmark: pcp against rsync (and, for network cases, scp and rsync over ssh once
# pcp's network mode is available) on the same generated data, in one run. Prints the median
# time of each tool per case and the ratio to the reference tool.
#
# Usage: benches/compare.sh [WORKDIR] [RUNS]
#   WORKDIR defaults to /dev/shm/pcp-bench (tmpfs isolates the tools from the disk); RUNS to 3.
# Cases (performance.md): 1 GiB random fresh copy, no-op rerun, 1 MiB overwritten at 512 MiB,
# 100 B inserted at 4 KiB, 20,000 files of 1-16 KiB fresh and no-op. Needs rsync, openssl,
# python3; builds pcp in release mode.
set -euo pipefail
W=${1:-/dev/shm/pcp-bench}
RUNS=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench-data.sh
. "$here/benches/bench-data.sh"
(cd "$here" && cargo build --release --quiet)
PCP="$here/target/release/pcp"
export XDG_STATE_HOME="$W/state"
mkdir -p "$W"
cd "$W"


now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

# time_case NAME SETUP_FN CMD... : runs SETUP then CMD, RUNS times; prints the median seconds
time_case() {
  local setup=$1; shift
  local ts=()
  for _ in $(seq "$RUNS"); do
    $setup
    local t0; t0=$(now)
    "$@" >/dev/null
    local t1; t1=$(now)
    ts+=("$(python3 -c "print($t1-$t0)")")
  done
  median "${ts[@]}"
}

gen_bench_data
mkdir -p src1 && cp -p base.bin src1/big.bin
noop() { :; }
fresh_pcp() { rm -rf dst_pcp state; }
fresh_rsync() { rm -rf dst_rsync; }
edit_src() { cp -p base.bin src1/big.bin; "$PCP" sync -a --no-fsync src1/ dst_pcp/ >/dev/null; rsync -a src1/ dst_rsync/; python3 -c "
import os
f=open('src1/big.bin','r+b'); f.seek(512<<20); f.write(os.urandom(1<<20)); f.close()"; }
insert_src() { cp -p base.bin src1/big.bin; "$PCP" sync -a --no-fsync src1/ dst_pcp/ >/dev/null; rsync -a src1/ dst_rsync/; python3 -c "
d=open('src1/big.bin','rb').read(); open('src1/big.bin','wb').write(d[:4096]+b'Z'*100+d[4096:])"; }
small_fresh_pcp() { rm -rf sdst_pcp; }
small_fresh_rsync() { rm -rf sdst_rsync; }

printf '%-28s %10s %10s %8s\n' case pcp rsync pcp/rsync
row() { printf '%-28s %10s %10s %8s\n' "$1" "$2" "$3" "$(python3 -c "print('%.2f' % ($2/$3))")"; }

a=$(time_case fresh_pcp "$PCP" sync -a src1/ dst_pcp/); b=$(time_case fresh_rsync rsync -a src1/ dst_rsync/); row "1 GiB fresh (local)" "$a" "$b"
a=$(time_case noop "$PCP" sync -a src1/ dst_pcp/); b=$(time_case noop rsync -a src1/ dst_rsync/); row "1 GiB no-op rerun" "$a" "$b"
a=$(time_case edit_src "$PCP" sync -a src1/ dst_pcp/); b=$(time_case edit_src rsync -a src1/ dst_rsync/); row "1 MiB overwritten" "$a" "$b"
a=$(time_case insert_src "$PCP" sync -a src1/ dst_pcp/); b=$(time_case insert_src rsync -a src1/ dst_rsync/); row "100 B inserted at 4 KiB" "$a" "$b"
a=$(time_case small_fresh_pcp "$PCP" sync -a small/ sdst_pcp/); b=$(time_case small_fresh_rsync rsync -a small/ sdst_rsync/); row "20k small files fresh" "$a" "$b"
a=$(time_case noop "$PCP" sync -a small/ sdst_pcp/); b=$(time_case noop rsync -a small/ sdst_rsync/); row "20k small files no-op" "$a" "$b"

echo
echo "pcp --stats for the 1 MiB edit and the 100 B insertion (chunk data actually moved):"
edit_src; "$PCP" sync -a --stats src1/ dst_pcp/ | grep -E 'Chunks|Literal'
insert_src; "$PCP" sync -a --stats src1/ dst_pcp/ | grep -E 'Chunks|Literal'
echo
rm -rf dst_pcp state
/usr/bin/time -f "peak RSS of a 1 GiB fresh local sync: %M KiB" "$PCP" sync -a src1/ dst_pcp/
