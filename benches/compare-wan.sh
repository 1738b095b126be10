#!/usr/bin/env bash
# WAN benchmark: pcp (serve + push), rsync over ssh and scp pushing the same random file over the
# same emulated link, in one run; medians and ratios printed per case.
#
# Usage (as root; needs openssh-server, rsync, python3, iproute2):
#   benches/compare-wan.sh [RUNS] [CASE...]        (default: 3 runs, every case)
# Cases: rtt4 rtt80 rtt80-l0.1 rtt80-l1 rtt200-l0.1-100M bloat10M rtt80-j10 (10 ms jitter, in
# order) rtt200-1G (a long fat pipe at 1 Gbit/s, about this machine's shaper ceiling: 512 MiB
# with no delay took 4.4 s) rtt200-small (1 MiB: mostly round trips; with SHAPER_FLAGS=--trace
# SHAPER_LOG=1 it shows each packet) nodelay (the shaper's ceiling), each also with TCP forced to
# Cubic (suffix -cubic) so the ratio against both TCP flavours is known. PCP_ONLY=1 times pcp alone
# (for quick iteration; its ratios are then meaningless).
#
# The link: namespaces A (192.0.2.2) and B (198.51.100.2) joined through a router namespace M
# where examples/shaper.rs holds every packet on a TUN device (this kernel has no sch_netem):
# the same delay, loss and rate for TCP and UDP. Before each case the link is checked (ping-like
# RTT from a TCP connect, and a TCP rate) so that the figures are the link's, not the helper's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
shift || true
CASES=${*:-"rtt4 rtt80 rtt80-l0.1 rtt80-l1 rtt200-l0.1-100M bloat10M rtt80-j10 rtt200-1G rtt80-l1-cubic"}
source "$here/benches/wan-link.sh"
SSH() { echo "ssh -p 2222 -i $W/userkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"; }
now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
check_link() { # RTT of a TCP connect through the link, and one scp's rate
  local t0 t1; t0=$(now); A bash -c 'exec 3<>/dev/tcp/198.51.100.2/2222' 2>/dev/null || true; t1=$(now)
  echo "  link check: TCP connect $(python3 -c "print('%.0f ms' % (($t1-$t0)*1000))") (≈ 1 RTT)"
}
run_case() { # NAME SIZE_MIB CC shaper-options...
  local name=$1 size=$2 cc=$3; shift 3
  link_up "$@"; tcp_cc "$cc"
  head -c $((size << 20)) /dev/urandom >"$W/f.bin"
  check_link
  local tp=() tr=() ts=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$W/srv" "$W/rdst" "$W/sdst.bin"; mkdir -p "$W/srv" "$W/src"; cp "$W/f.bin" "$W/src/"
    PCP_CODE=abandon-ability-able-about XDG_STATE_HOME=$W/sb XDG_CONFIG_HOME=$W/cb \
      B /usr/bin/time -f %M -o "$W/rss.serve" "$PCP" serve "$W/srv" --once --listen 198.51.100.2:7000 -q 2>/dev/null &
    local sp=$!; sleep 0.3
    local t0 t1; t0=$(now)
    PCP_CODE=abandon-ability-able-about XDG_STATE_HOME=$W/sa XDG_CONFIG_HOME=$W/ca \
      A /usr/bin/time -f %M -o "$W/rss.push" "$PCP" sync -a --no-compress "$W/src/" peer:dst/ --addr 198.51.100.2:7000 -q ${PCP_FLAGS:-}
    wait "$sp"; t1=$(now); tp+=("$(python3 -c "print($t1-$t0)")")
    if [ -n "${PCP_ONLY:-}" ]; then tr+=(1); ts+=(1); continue; fi
    t0=$(now); A rsync -a -e "$(SSH)" "$W/src/" root@198.51.100.2:"$W/rdst/"; t1=$(now); tr+=("$(python3 -c "print($t1-$t0)")")
    t0=$(now); A scp -q -P 2222 -i "$W/userkey" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      "$W/f.bin" root@198.51.100.2:"$W/sdst.bin"; t1=$(now); ts+=("$(python3 -c "print($t1-$t0)")")
  done
  local p r s; p=$(median "${tp[@]}"); r=$(median "${tr[@]}"); s=$(median "${ts[@]}")
  printf '%-24s %5s MiB  pcp %8s s  rsync-ssh %8s s  scp %8s s  pcp/rsync %5s  pcp/scp %5s\n' "$name" "$size" "$p" "$r" "$s" \
    "$(python3 -c "print('%.2f' % ($p/$r))")" "$(python3 -c "print('%.2f' % ($p/$s))")"
  echo "  pcp peak RSS (last run): pushing side $(( $(cat "$W/rss.push") / 1024 )) MiB, serving side $(( $(cat "$W/rss.serve") / 1024 )) MiB"
}
echo "TCP congestion control by default: $(sysctl -n net.ipv4.tcp_congestion_control); runs per case: $RUNS"
for c in $CASES; do
  cc=default; base=$c
  case $c in *-cubic) cc=cubic; base=${c%-cubic} ;; esac
  case $base in
    rtt4) run_case "$c" 64 $cc --delay-ms 2 ;;
    rtt80) run_case "$c" 64 $cc --delay-ms 40 ;;
    rtt80-l0.1) run_case "$c" 32 $cc --delay-ms 40 --loss 0.1 ;;
    rtt80-l1) run_case "$c" 32 $cc --delay-ms 40 --loss 1 ;;
    rtt200-l0.1-100M) run_case "$c" 64 $cc --delay-ms 100 --loss 0.1 --rate-mbit 100 ;;
    bloat10M) run_case "$c" 16 $cc --delay-ms 5 --rate-mbit 10 --queue-ms 100 ;;
    rtt80-j10) run_case "$c" 64 $cc --delay-ms 40 --jitter-ms 10 ;;
    rtt200-small) run_case "$c" 1 $cc --delay-ms 100 ;;
    rtt200-1G) run_case "$c" 512 $cc --delay-ms 100 --rate-mbit 1000 --queue-ms 50 ;;
    nodelay) run_case "$c" 512 $cc ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
