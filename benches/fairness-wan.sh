#!/usr/bin/env bash
# Fairness: one pcp push and one TCP flow share a rate-limited emulated link for DURATION
# seconds, started together; the shaper counts each protocol's bytes per second, and the shares
# of the link are printed over the seconds when both flows were running (the first 5 such
# seconds, slow start and BBR's startup, left out). The issue's floor: each gets at least 1/3.
#
# Each case runs twice: first a TCP flow with the kernel's default controller (BBR here) in
# pcp's place, the reference for what "fair" looks like on that link, then pcp.
#
# Usage (as root; needs python3, iproute2): benches/fairness-wan.sh [DURATION] [CASE...]
# (PCP_FAIR_NO_REFERENCE=1: pcp only, without the TCP-against-TCP reference run)
# Cases: r20-rtt40 (20 Mbit/s, RTT 40 ms, 50 ms queue), r50-rtt80-shallow (50 Mbit/s, RTT 80 ms,
# 10 ms queue), r10-bloat (10 Mbit/s, RTT 10 ms, 200 ms queue); each also with TCP forced to
# Cubic (suffix -cubic). The link is built by benches/wan-link.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DUR=${1:-30}
shift || true
CASES=${*:-"r20-rtt40 r20-rtt40-cubic r50-rtt80-shallow r50-rtt80-shallow-cubic r10-bloat r10-bloat-cubic"}
source "$here/benches/wan-link.sh"

TCPPY=$(mktemp /tmp/pcp-fair-tcp.XXXXXX)
cat >"$TCPPY" <<'EOF'
# sink ADDR | send ADDR SECONDS [CC]: a TCP flow (CC sets its congestion controller)
import socket, sys, time
addr = (sys.argv[2], 5001)
if sys.argv[1] == "sink":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr); s.listen(1); c, _ = s.accept()
    while c.recv(1 << 20):
        pass
else:
    s = socket.socket()
    if len(sys.argv) > 4:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[4].encode())
    s.connect(addr); b = b"\0" * 65536
    end = time.time() + float(sys.argv[3])
    while time.time() < end:
        s.sendall(b)
EOF
trap 'cleanup; rm -f "$TCPPY"' EXIT

shares() { # shaper log, rate, first flow's key, its label -> the shares
  python3 - "$1" "$2" "$3" "$4" <<'EOF'
import sys
rate = float(sys.argv[2]); key = sys.argv[3]; label = sys.argv[4]
rows = []
for line in open(sys.argv[1]):
    if not line.startswith("report "):
        continue
    f = dict(kv.split("=") for kv in line.split()[2:])
    rows.append((int(f.get(key, 0)), int(f.get("tcp:198.51.100.2", 0))))
both = [r for r in rows if r[0] > 100_000 and r[1] > 100_000][5:]
if not both:
    print("  no interval with both flows running"); sys.exit()
u = sum(r[0] for r in both); t = sum(r[1] for r in both)
print("  %-9s %4.1f%%  tcp %4.1f%%  of %d s; link used %.1f of %.0f Mbit/s; ratio %.2f; floor 1/3: %s"
      % (label, 100 * u / (u + t), 100 * t / (u + t), len(both), (u + t) * 8 / 1e6 / len(both), rate, u / t,
         "ok" if min(u, t) / (u + t) >= 1 / 3 else "MISSED"))
EOF
}

run_case() { # NAME RATE CC shaper-options...
  local name=$1 rate=$2 cc=$3; shift 3
  local def; def=$(sysctl -n net.ipv4.tcp_congestion_control)
  local tcc; tcc=$([ "$cc" = cubic ] && echo cubic || echo "$def")
  # The reference: a TCP flow with the kernel's default controller in pcp's place
  # (PCP_FAIR_NO_REFERENCE=1 skips it).
  if [ -z "${PCP_FAIR_NO_REFERENCE:-}" ]; then
  link_up --rate-mbit "$rate" --report-ms 1000 "$@"; tcp_cc "$cc"
  B python3 "$TCPPY" sink 198.51.100.2 & B python3 "$TCPPY" sink 198.51.100.3 &
  sleep 0.5
  A python3 "$TCPPY" send 198.51.100.2 "$DUR" & local tp=$!
  A python3 "$TCPPY" send 198.51.100.3 "$DUR" "$def" || true
  wait "$tp" || true
  printf '%-26s %s\n' "$name" "(the other flow: TCP $tcc; pcp ${PCP_CONGESTION:-bbr})"
  shares "$W/shaper.err" "$rate" tcp:198.51.100.3 "TCP-$def"
  else printf '%-26s %s\n' "$name" "(the other flow: TCP $tcc; pcp ${PCP_CONGESTION:-bbr})"; fi
  # pcp against the same TCP flow.
  link_up --rate-mbit "$rate" --report-ms 1000 "$@"; tcp_cc "$cc"
  head -c $((rate * DUR / 8 * 2 << 20)) /dev/urandom >"$W/f.bin"
  mkdir -p "$W/srv" "$W/src"; mv "$W/f.bin" "$W/src/"
  B python3 "$TCPPY" sink 198.51.100.2 &
  PCP_CODE=abandon-ability-able-about XDG_STATE_HOME=$W/sb XDG_CONFIG_HOME=$W/cb \
    B "$PCP" serve "$W/srv" --once --listen 198.51.100.2:7000 -q 2>/dev/null &
  sleep 0.5
  A python3 "$TCPPY" send 198.51.100.2 "$DUR" &
  tp=$!
  PCP_CODE=abandon-ability-able-about XDG_STATE_HOME=$W/sa XDG_CONFIG_HOME=$W/ca \
    A timeout "$DUR" "$PCP" sync -a --no-compress "$W/src/" peer:dst/ --addr 198.51.100.2:7000 -q 2>/dev/null || true
  wait "$tp" || true
  shares "$W/shaper.err" "$rate" udp:198.51.100.2 pcp
}
for c in $CASES; do
  cc=default; base=$c
  case $c in *-cubic) cc=cubic; base=${c%-cubic} ;; esac
  case $base in
    r20-rtt40) run_case "$c" 20 $cc --delay-ms 20 --queue-ms 50 ;;
    r50-rtt80-shallow) run_case "$c" 50 $cc --delay-ms 40 --queue-ms 10 ;;
    r10-bloat) run_case "$c" 10 $cc --delay-ms 5 --queue-ms 200 ;;
    *) echo "unknown case $c" >&2; exit 2 ;;
  esac
done
