#!/usr/bin/env bash
# Scale benchmark (issue 11): many small files, local `pcp sync -a` beside `rsync -a` on the same
# tree on disk, page cache dropped before every run, both orders; peak RSS of every process.
# Optionally (STRACE=1) `strace -c -f` of one fresh pcp run: syscalls per file.
#
# Usage (as root, for drop_caches): benches/compare-scale.sh [COUNTS] [WORKDIR]
#   COUNTS  space-separated file counts, default "20000 300000" (add 1000000 for the full table;
#           generating it takes a few minutes and ~3 GiB of disk); "10G" is one 10 GiB file
#   WORKDIR default /var/tmp/pcp-scale (on disk, not tmpfs: the point is the file system)
#   REPS=K  K rounds of both orders (default 1); the median of each column is printed after them
#   PCP_FLAGS extra pcp flags, e.g. PCP_FLAGS=--no-fsync for rsync's durability (none: pcp makes
#           every file durable with one syncfs per group before renaming it into place)
#   NET=1   over the network instead: `pcp serve` + `pcp sync x:dst --addr` over loopback QUIC
#           beside rsync over ssh (a throwaway sshd), in a private network namespace holding only
#           loopback (needs openssh-server); the peak RSS of both pcp processes is printed
# Files are 100 B - 4 KiB (seeded), 143 per directory (7,000 directories at 1 M files).
set -euo pipefail
if [ -n "${NET:-}" ] && [ -z "${PCP_SCALE_INNER:-}" ]; then
  exec env PCP_SCALE_INNER=1 unshare -n bash "$0" "$@"
fi
COUNTS=${1:-"20000 300000"}
W=${2:-/var/tmp/pcp-scale}
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here" && cargo build --release --quiet)
PCP="$here/target/release/pcp"
mkdir -p "$W"
cd "$W"
export XDG_STATE_HOME="$W/state" XDG_CONFIG_HOME="$W/config" PCP_CODE=bench-abandon-ability-able

drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(cannot drop caches: not root?)" >&2; }
gen() { # N: tree src-N with N files ("10G": one 10 GiB file)
  [ -d "src-$1" ] && return
  if [ "$1" = 10G ]; then
    mkdir -p src-10G.tmp
    (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:pcp-scale-10g -in /dev/zero 2>/dev/null \
      | head -c 10G > src-10G.tmp/big.bin)
    mv src-10G.tmp src-10G
    return
  fi
  python3 - "$1" <<'PY'
import os, random, sys
n = int(sys.argv[1]); random.seed(n)
per = 143
for i in range(n):
    d = f"src-{n}.tmp/d{i // per:05}"
    if i % per == 0:
        os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i % per:03}", "wb") as f:
        f.write(random.randbytes(random.randint(100, 4096)))
os.rename(f"src-{n}.tmp", f"src-{n}")
PY
}
# timed NAME CMD...: runs CMD under /usr/bin/time -v; prints "seconds peak_rss_kib"
timed() {
  local log; log=$(mktemp)
  /usr/bin/time -v -o "$log" "$@" > /dev/null
  local s r
  s=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2, a, ":"); if (length(a) == 3) print a[1]*3600 + a[2]*60 + a[3]; else print a[1]*60 + a[2]}' "$log")
  r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  rm -f "$log"
  echo "$s $r"
}
if [ -n "${NET:-}" ]; then
  ip link set lo up
  # shellcheck source=bench-sshd.sh
  . "$here/benches/bench-sshd.sh"
  start_sshd
  trap 'kill $(cat "$W/sshd.pid") 2>/dev/null || true' EXIT
  mkdir -p served
  # pcp over the network: a fresh `serve --once` (the code is single-use), both processes
  # timed; prints "seconds client_rss server_rss" (the larger RSS is what the table shows).
  pcp_net() {
    /usr/bin/time -v -o serve.log "$PCP" serve served --once --listen 127.0.0.1:47000 -q 2> serve.err &
    local sp=$!
    sleep 0.3
    local c; c=$(timed "$PCP" sync -a ${PCP_FLAGS:-} "src-$1/" "x:dst-pcp/" --addr 127.0.0.1:47000 -q)
    wait "$sp"
    local sr; sr=$(awk -F': ' '/Maximum resident set size/ {print $2}' serve.log)
    set -- $c
    echo "$1 $(( $2 > sr ? $2 : sr ))"
    echo "$2 $sr" > net-rss.txt
  }
  pcp_fresh() { rm -rf served/dst-pcp "$XDG_STATE_HOME"; drop; pcp_net "$1"; }
  pcp_noop() { drop; pcp_net "$1"; }
  rsync_fresh() { rm -rf "dst-rsync"; drop; timed rsync -a -e "$SSH" "src-$1/" "root@127.0.0.1:$W/dst-rsync/"; }
  rsync_noop() { drop; timed rsync -a -e "$SSH" "src-$1/" "root@127.0.0.1:$W/dst-rsync/"; }
  copy_of() { echo served/dst-pcp; }
  echo "network: pcp serve + sync over loopback QUIC beside rsync over ssh; pcp_rss is the larger of its two processes"
else
  pcp_fresh() { rm -rf "dst-pcp" "$XDG_STATE_HOME"; drop; timed "$PCP" sync -a ${PCP_FLAGS:-} "src-$1/" "dst-pcp/"; }
  pcp_noop() { drop; timed "$PCP" sync -a ${PCP_FLAGS:-} "src-$1/" "dst-pcp/"; }
  rsync_fresh() { rm -rf "dst-rsync"; drop; timed rsync -a "src-$1/" "dst-rsync/"; }
  rsync_noop() { drop; timed rsync -a "src-$1/" "dst-rsync/"; }
  copy_of() { echo dst-pcp; }
fi
ratio() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

REPS=${REPS:-1}
median() { python3 -c 'import sys,statistics; print("%g" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
printf '%-9s %-7s %-6s %9s %11s %9s %11s %9s\n' files run order pcp_s pcp_rss_KiB rsync_s rsync_rss_KiB pcp/rsync
for n in $COUNTS; do
  gen "$n"
  PF=(); PFR=(); RF=(); RFR=(); PN=(); PNR=(); RN=(); RNR=()
  for order in $(for _ in $(seq "$REPS"); do echo pcp-first rsync-first; done); do
    if [ "$order" = pcp-first ]; then
      read -r pf pfr < <(pcp_fresh "$n"); read -r rf rfr < <(rsync_fresh "$n")
      read -r pn pnr < <(pcp_noop "$n"); read -r rn rnr < <(rsync_noop "$n")
    else
      read -r rf rfr < <(rsync_fresh "$n"); read -r pf pfr < <(pcp_fresh "$n")
      read -r rn rnr < <(rsync_noop "$n"); read -r pn pnr < <(pcp_noop "$n")
    fi
    printf '%-9s %-7s %-6s %9s %11s %9s %11s %9s\n' "$n" fresh "${order%%-*}" "$pf" "$pfr" "$rf" "$rfr" "$(ratio "$pf" "$rf")"
    printf '%-9s %-7s %-6s %9s %11s %9s %11s %9s\n' "$n" no-op "${order%%-*}" "$pn" "$pnr" "$rn" "$rnr" "$(ratio "$pn" "$rn")"
    PF+=("$pf"); PFR+=("$pfr"); RF+=("$rf"); RFR+=("$rfr"); PN+=("$pn"); PNR+=("$pnr"); RN+=("$rn"); RNR+=("$rnr")
  done
  a=$(median "${PF[@]}"); b=$(median "${RF[@]}")
  printf '%-9s %-7s %-6s %9s %11s %9s %11s %9s\n' "$n" fresh median "$a" "$(median "${PFR[@]}")" "$b" "$(median "${RFR[@]}")" "$(ratio "$a" "$b")"
  a=$(median "${PN[@]}"); b=$(median "${RN[@]}")
  printf '%-9s %-7s %-6s %9s %11s %9s %11s %9s\n' "$n" no-op median "$a" "$(median "${PNR[@]}")" "$b" "$(median "${RNR[@]}")" "$(ratio "$a" "$b")"
  if [ -n "${NET:-}" ]; then echo "  (last pcp run: client/server peak RSS KiB: $(cat net-rss.txt))"; fi
  if diff -r "src-$n" "$(copy_of)" > /dev/null; then echo "  (pcp copy identical to the source)"; else echo "  pcp COPY DIFFERS"; fi
  if [ -n "${STRACE:-}" ] && [ -z "${NET:-}" ]; then
    rm -rf dst-pcp "$XDG_STATE_HOME"; drop
    strace -c -f -o strace.txt "$PCP" sync -a "src-$n/" dst-pcp/ > /dev/null
    echo "  strace -c -f, fresh, $n files (calls per file):"
    awk -v n="$n" '$NF != "total" && $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $4 > n / 20 {printf "    %-16s %10d  %.2f\n", $NF, $4, $4 / n}' strace.txt
    awk -v n="$n" '$NF == "total" {printf "    total %d  %.1f per file\n", $4, $4 / n}' strace.txt
  fi
done
