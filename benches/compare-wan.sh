#!/usr/bin/env bash
# WAN benchmark: pcp (serve + push), rsync over ssh and scp pushing the same random file over the
# same emulated link, in one run; medians and ratios printed per case.
#
# Usage (as root; needs openssh-server, rsync, python3, iproute2):
#   benches/compare-wan.sh [RUNS] [CASE...]        (default: 3 runs, every case)
# Cases: rtt4 rtt80 rtt80-l0.1 rtt80-l1 rtt200-l0.1-100M bloat10M, each also with TCP forced to
# Cubic (suffix -cubic) so the ratio against both TCP flavours is known. PCP_ONLY=1 times pcp alone
# (for quick iteration; its ratios are then meaningless).
#
# The link: namespaces A (192.0.2.2) and B (198.51.100.2) joined through a router namespace M
# where examples/shaper.rs holds every packet on a TUN device (this kernel has no sch_netem):
# the same delay, loss and rate for TCP and UDP. Before each case the link is checked (ping-like
# RTT from a TCP connect, and a TCP rate) so that the figures are the link's, not the helper's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
(cd "$here" && cargo build --release --quiet && cargo build --release --quiet --example shaper)
PCP=$here/target/release/pcp
SHAPER=$here/target/release/examples/shaper
RUNS=${1:-3}
shift || true
CASES=${*:-"rtt4 rtt80 rtt80-l0.1 rtt80-l1 rtt200-l0.1-100M bloat10M rtt80-l1-cubic"}
P=pcpwan$$
W=$(mktemp -d /dev/shm/pcp-wan.XXXXXX)
cleanup() {
  for n in a m b; do ip netns pids "$P$n" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
  for n in a m b; do ip netns del "$P$n" 2>/dev/null || true; done
  if [ -n "${SHAPER_LOG:-}" ] && [ -f "$W/shaper.err" ]; then cat "$W/shaper.err" >&2; fi; rm -rf "$W"
}
trap cleanup EXIT
A() { ip netns exec "${P}a" "$@"; }
M() { ip netns exec "${P}m" "$@"; }
B() { ip netns exec "${P}b" "$@"; }

link_up() { # shaper options...
  cleanup 2>/dev/null; mkdir -p "$W"
  for n in a m b; do ip netns add "$P$n"; ip netns exec "$P$n" ip link set lo up; done
  ip link add wa netns "${P}a" type veth peer name wma netns "${P}m"
  ip link add wb netns "${P}b" type veth peer name wmb netns "${P}m"
  A ip addr add 192.0.2.2/24 dev wa; A ip link set wa up; A ip route add default via 192.0.2.1
  B ip addr add 198.51.100.2/24 dev wb; B ip link set wb up; B ip route add default via 198.51.100.1
  M ip addr add 192.0.2.1/24 dev wma; M ip addr add 198.51.100.1/24 dev wmb
  M ip link set wma up; M ip link set wmb up
  M sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
  M "$SHAPER" wt "$@" ${SHAPER_FLAGS:-} --seconds 3600 2>"$W/shaper.err" &
  for _ in $(seq 100); do M ip link show wt >/dev/null 2>&1 && break; sleep 0.05; done
  M ip link set wt up; M sysctl -q -w net.ipv4.conf.wt.rp_filter=0
  M ip rule add iif wt lookup 100
  M ip route add 192.0.2.0/24 dev wma table 100; M ip route add 198.51.100.0/24 dev wmb table 100
  M ip route add 192.0.2.2/32 dev wt; M ip route add 198.51.100.2/32 dev wt
  # sshd in B
  ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey"; ssh-keygen -q -t ed25519 -N '' -f "$W/userkey"
  cp "$W/userkey.pub" "$W/authorized_keys"
  printf 'Port 2222\nListenAddress 198.51.100.2\nHostKey %s/hostkey\nAuthorizedKeysFile %s/authorized_keys\nPermitRootLogin yes\nStrictModes no\nPasswordAuthentication no\nUsePAM no\nPidFile %s/sshd.pid\nSubsystem sftp /usr/lib/openssh/sftp-server\n' \
    "$W" "$W" "$W" >"$W/sshd_config"
  mkdir -p /run/sshd; B /usr/sbin/sshd -f "$W/sshd_config"
}
tcp_cc() { # cubic|default: TCP's congestion controller on both ends' routes
  if [ "$1" = cubic ]; then
    A ip route replace default via 192.0.2.1 congctl cubic; B ip route replace default via 198.51.100.1 congctl cubic
  fi
}
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
      B "$PCP" serve "$W/srv" --once --listen 198.51.100.2:7000 -q 2>/dev/null &
    local sp=$!; sleep 0.3
    local t0 t1; t0=$(now)
    PCP_CODE=abandon-ability-able-about XDG_STATE_HOME=$W/sa XDG_CONFIG_HOME=$W/ca \
      A "$PCP" sync -a --no-compress "$W/src/" peer:dst/ --addr 198.51.100.2:7000 -q ${PCP_FLAGS:-}
    wait "$sp"; t1=$(now); tp+=("$(python3 -c "print($t1-$t0)")")
    if [ -n "${PCP_ONLY:-}" ]; then tr+=(1); ts+=(1); continue; fi
    t0=$(now); A rsync -a -e "$(SSH)" "$W/src/" root@198.51.100.2:"$W/rdst/"; t1=$(now); tr+=("$(python3 -c "print($t1-$t0)")")
    t0=$(now); A scp -q -P 2222 -i "$W/userkey" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      "$W/f.bin" root@198.51.100.2:"$W/sdst.bin"; t1=$(now); ts+=("$(python3 -c "print($t1-$t0)")")
  done
  local p r s; p=$(median "${tp[@]}"); r=$(median "${tr[@]}"); s=$(median "${ts[@]}")
  printf '%-24s %5s MiB  pcp %8s s  rsync-ssh %8s s  scp %8s s  pcp/rsync %5s  pcp/scp %5s\n' "$name" "$size" "$p" "$r" "$s" \
    "$(python3 -c "print('%.2f' % ($p/$r))")" "$(python3 -c "print('%.2f' % ($p/$s))")"
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
