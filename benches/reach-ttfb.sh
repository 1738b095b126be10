#!/usr/bin/env bash
# Reach latency: the time from both commands started (`pcp send` in one home, `pcp receive` in
# the other, together, with no address flag) to the first byte of the file's data on the
# receiver's disk, median of RUNS runs per topology, and the path the peers took.
#
# Usage (as root; needs iproute2, nftables, /dev/net/tun):
#   benches/reach-ttfb.sh [RUNS] [TOPOLOGY...]     (default: 10 runs, every topology)
# Topologies:
#   cone-cone  two port-restricted cone NATs                      expect direct  goal < 1000 ms
#   sym-sym    two symmetric NATs (masquerade fully-random)       expect relay   goal < 1000 ms
#   cone-sym   a cone NAT (sender) and a symmetric one (receiver) expect relay   goal < 1000 ms
#   lan        two namespaces on one veth, mDNS, no rendezvous    expect lan     goal <  300 ms
# Environment: PCP_TTFB_DELAY_MS (one-way delay across the public segment, default 20, so every
# round trip across it is 40 ms; 0: no shaper at all), PCP_TTFB_SIZE_KIB (the file, default 1024),
# PCP_TTFB_TRACE=DIR (keep, per run, DIR/TOPOLOGY-N.trace: every packet the shaper passed, as
# "MS_FROM_START to ADDR proto P BYTES", and the receiver's stamped events: round trips can be
# read off it).
#
# What is measured, per run (clock: bash's $EPOCHREALTIME, CLOCK_REALTIME like `date +%s.%N`,
# but without a fork; both commands are started right after the start stamp, sender first,
# each through `ip netns exec`, which adds about 5 ms here to every figure):
#   first byte  the headline: the receiver's temp file (DIR/.pcp-tmp.*) or DIR/f.bin is
#               non-empty, polled every 5 ms (bounded), so it has up to ~7 ms of poll slack
#               (never later than `complete`: on the LAN the file can land within one poll);
#   connected   the receiver's `connected` JSON event on stdout (each line stamped as it
#               arrives), with its path and the QUIC RTT it reports (the lab's RTT check);
#   complete    the receiver's `change` event for f.bin (the file checked and renamed in place).
# Each run uses fresh config and state dirs (a first contact, as `pcp send`/`pcp receive` are
# meant for) and a new code (a different channel word per run, so nothing a previous run left at
# the rendezvous or on the LAN can answer). One warm-up run per topology (ARP, page cache) is not
# counted. Failed runs are counted and left out of the medians.
#
# The lab (addresses as tests/util/netns.rs' NatLab; documentation and 10.x addresses, only
# inside the namespaces, which have no route anywhere else):
#
#   ha 10.0.1.2 -- ra (NAT; 203.0.113.11) --+
#                                          pub (router; shaper on a TUN) -- rdv 203.0.113.1:7000
#   hb 10.0.2.2 -- rb (NAT; 203.0.113.12) --+                                (pcp rendezvous)
#
# NatLab joins ra, rb and the rendezvous on a bridge in the public namespace; a bridge switches
# frames without routing them, so nothing could hold them on the shaper's TUN (this kernel has
# no sch_netem). Here the public namespace routes instead: every 203.0.113.x sits on its own veth
# to `pub` (which answers ARP for the others: proxy ARP, so each end still sees one /24), and
# `pub` sends every packet through examples/shaper.rs (as benches/wan-link.sh does: the route
# to each /32 is the TUN; packets coming out of it are routed to the veths by table 100). So
# every packet crossing the public segment is delayed once: peer<->rendezvous and peer<->peer
# RTTs are 2 x PCP_TTFB_DELAY_MS (40 ms), a relayed path twice that (80 ms). The rendezvous
# therefore runs in its own namespace `rdv` on the public segment rather than in `pub` itself.
# The NAT rules are NatLab's: masquerade (cone) or masquerade fully-random (symmetric), and
# inbound `ct state new` dropped in the input and forward chains. Homes and routers are joined
# with no delay; the lan topology (Netns::pair: 198.51.100.1/24 and .2/24, multicast route
# 224.0.0.0/4 on the veth, PCP_NO_MDNS unset, --no-rendezvous) has no delay either.
#
# Namespaces are named pcpttfb-<pid>-*, and deleted on exit (success, failure or interrupt).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: $0 [RUNS] [TOPOLOGY...]   (topologies: cone-cone sym-sym cone-sym lan)" >&2; exit 2; }
RUNS=${1:-10}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || usage
shift || true
TOPOS=${*:-"cone-cone sym-sym cone-sym lan"}
TOPOS=${TOPOS//\//-}
DELAY_MS=${PCP_TTFB_DELAY_MS:-20}
SIZE_KIB=${PCP_TTFB_SIZE_KIB:-1024}
TRACE=${PCP_TTFB_TRACE:-}
[ -z "$TRACE" ] || mkdir -p "$TRACE"
[[ $DELAY_MS =~ ^[0-9]+$ && $SIZE_KIB =~ ^[1-9][0-9]*$ ]] || { echo "PCP_TTFB_DELAY_MS / PCP_TTFB_SIZE_KIB: integers" >&2; exit 2; }
for t in $TOPOS; do
  case $t in cone-cone | sym-sym | cone-sym | lan) ;; *) echo "unknown topology $t" >&2; usage ;; esac
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root (ip netns, nft)" >&2; exit 2; }
command -v nft >/dev/null && command -v ip >/dev/null || { echo "$0: needs iproute2 and nftables" >&2; exit 2; }

PCP=$here/target/release/pcp
SHAPER=$here/target/release/examples/shaper
# Build only when a binary is missing or predates `pcp rendezvous` (one cargo call for both).
if [ ! -x "$PCP" ] || [ ! -x "$SHAPER" ] || ! "$PCP" rendezvous --help >/dev/null 2>&1; then
  (cd "$here" && cargo build --release --quiet --bin pcp --example shaper)
fi
if [ -n "$(find "$here/src" -newer "$PCP" -name '*.rs' -print -quit)" ]; then
  echo "note: some src/ files are newer than $PCP (using it as it is)" >&2
fi

P=pcpttfb-$$-
W=$(mktemp -d /dev/shm/pcp-ttfb.XXXXXX)
WORDS=$here/src/auth/bip39-english.txt

SHAPER_ARGS=()
[ "$DELAY_MS" -gt 0 ] && SHAPER_ARGS=(--delay-ms "$DELAY_MS" ${TRACE:+--trace})
. "$here/benches/natlab.sh"

# One run: sets R_PATH R_RTT R_CONN R_BYTE R_DONE (µs from the start; empty if not seen), R_OK.
run_once() { # TOPOLOGY RUN-NUMBER
  local topo=$1 i=$2 d="$W/$1-$2"
  mkdir -p "$d/a" "$d/b"
  head -c $((SIZE_KIB * 1024)) /dev/urandom >"$d/a/f.bin"
  local code; code="$(sed -n "$((200 + i))p" "$WORDS")-ability-able-about"
  local sa sb nsa nsb reach_a reach_b
  sa=$(home_env "$d/a/home"); sb=$(home_env "$d/b/home")
  if [ "$topo" = lan ]; then
    nsa=la nsb=lb reach_a=(--no-rendezvous) reach_b=(--no-rendezvous)
  else
    nsa=ha nsb=hb reach_a=(PCP_NO_MDNS=1 PCP_RENDEZVOUS=203.0.113.1:7000) reach_b=("${reach_a[@]}")
  fi
  local dst="$d/b/got" t0 spid rpid
  t0=${EPOCHREALTIME/./}
  if [ "$topo" = lan ]; then
    (cd "$d/a" && exec ip netns exec "$P$nsa" "${ENVV[@]}" $sa PCP_CODE="$code" \
      timeout 30 "$PCP" send --yes --no-rendezvous f.bin --listen 0.0.0.0:0 >"$d/a.out" 2>"$d/a.err") &
    spid=$!
    (cd "$d/b" && ip netns exec "$P$nsb" "${ENVV[@]}" $sb PCP_CODE="$code" \
      timeout 30 "$PCP" receive --yes --json --no-rendezvous "$dst" 2>"$d/b.err"; echo "__rc__ $?") | stamp >"$d/b.events" &
    rpid=$!
  else
    (cd "$d/a" && exec ip netns exec "$P$nsa" "${ENVV[@]}" $sa "${reach_a[@]}" PCP_CODE="$code" \
      timeout 30 "$PCP" send --yes f.bin --listen 0.0.0.0:0 >"$d/a.out" 2>"$d/a.err") &
    spid=$!
    (cd "$d/b" && ip netns exec "$P$nsb" "${ENVV[@]}" $sb "${reach_b[@]}" PCP_CODE="$code" \
      timeout 30 "$PCP" receive --yes --json "$dst" 2>"$d/b.err"; echo "__rc__ $?") | stamp >"$d/b.events" &
    rpid=$!
  fi
  # First byte on disk: poll every 5 ms while the receiver runs (bounded: 35 s).
  local byte="" f deadline=$((t0 + 35000000))
  shopt -s nullglob dotglob
  while [ -z "$byte" ] && kill -0 "$rpid" 2>/dev/null && [ "${EPOCHREALTIME/./}" -lt $deadline ]; do
    for f in "$dst"/.pcp-tmp.* "$dst"/f.bin; do
      if [ -s "$f" ]; then byte=${EPOCHREALTIME/./}; break; fi
    done
    [ -n "$byte" ] || sleep 0.005
  done
  shopt -u nullglob dotglob
  wait "$rpid" 2>/dev/null || true
  local j
  for j in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.05; done
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  local conn done_ rc
  conn=$(grep -m1 '"event":"connected"' "$d/b.events" || true)
  done_=$(grep -m1 '"event":"change".*"path":"f.bin"' "$d/b.events" || true)
  rc=$(sed -n 's/^[0-9]* __rc__ //p' "$d/b.events")
  R_PATH=$(sed -n 's/.*"path":"\([a-z]*\)".*/\1/p' <<<"$conn")
  R_RTT=$(sed -n 's/.*"rtt_ms":\([0-9.]*\).*/\1/p' <<<"$conn")
  R_CONN=${conn%% *}; [ -n "$R_CONN" ] && R_CONN=$((R_CONN - t0))
  R_DONE=${done_%% *}; [ -n "$R_DONE" ] && R_DONE=$((R_DONE - t0))
  R_BYTE=""; [ -n "$byte" ] && R_BYTE=$((byte - t0))
  # The poll may first see the finished file (on the LAN it can all land within one poll):
  # the first byte came no later than the file was complete.
  if [ -n "$R_BYTE" ] && [ -n "$R_DONE" ] && [ "$R_DONE" -lt "$R_BYTE" ]; then R_BYTE=$R_DONE; fi
  R_OK=0
  if [ "$rc" = 0 ] && [ -n "$R_BYTE" ] && cmp -s "$d/a/f.bin" "$dst/f.bin"; then R_OK=1; fi
  if [ $R_OK = 0 ]; then
    echo "  run $i FAILED (receiver exit ${rc:-?}); receiver stderr:" >&2; tail -5 "$d/b.err" >&2
    echo "  sender stderr:" >&2; tail -5 "$d/a.err" >&2
  fi
  if [ -n "$TRACE" ]; then
    { awk -v t0="$t0" '$1 == "trace" && $5 >= t0 { printf "%8.1f ms to %s proto %s %s bytes\n", ($5 - t0) / 1000, $7, $9, $10 }' "$W/shaper.err"
      awk -v t0="$t0" '{ $1 = sprintf("%8.1f ms event", ($1 - t0) / 1000); print }' "$d/b.events"
    } | sort -n >"$TRACE/$topo-$i.trace"
  fi
  rm -rf "$d"
}

ms() { [ -n "$1" ] && echo $((($1 + 500) / 1000)) || echo -; }
stats() { # µs values... -> "median (min-max)" in ms
  [ $# -gt 0 ] || { echo "-"; return; }
  printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.0f (%.0f-%.0f)", m / 1000, a[1] / 1000, a[NR] / 1000 }'
}
median_num() { # numbers... -> median
  [ $# -gt 0 ] || { echo "-"; return; }
  printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m }'
}

ROWS=()
echo "pcp reach: time to first byte, $RUNS runs per topology, ${SIZE_KIB} KiB file, public segment one-way delay ${DELAY_MS} ms" >&2
for topo in $TOPOS; do
  case $topo in
    cone-cone) expect=direct goal=1000; nat_lab cone cone ;;
    sym-sym) expect=relay goal=1000; nat_lab sym sym ;;
    cone-sym) expect=relay goal=1000; nat_lab cone sym ;;
    lan) expect=lan goal=300; lan_lab ;;
  esac
  run_once "$topo" 0 # warm-up, not counted
  echo "$topo: warm-up (not counted): path ${R_PATH:-?}, connected $(ms "$R_CONN") ms, first byte $(ms "$R_BYTE") ms" >&2
  conns=() bytes=() dones=() rtts=() paths=() ok=0
  for i in $(seq "$RUNS"); do
    run_once "$topo" "$i"
    echo "$topo: run $i/$RUNS: path ${R_PATH:-?} (rtt ${R_RTT:-?} ms), connected $(ms "$R_CONN") ms, first byte $(ms "$R_BYTE") ms, complete $(ms "$R_DONE") ms" >&2
    paths+=("${R_PATH:-none}")
    if [ "$R_OK" = 1 ]; then
      ok=$((ok + 1)); bytes+=("$R_BYTE")
      [ -n "$R_CONN" ] && conns+=("$R_CONN")
      [ -n "$R_DONE" ] && dones+=("$R_DONE")
      [ -n "$R_RTT" ] && rtts+=("$R_RTT")
    fi
  done
  seen=$(printf '%s\n' "${paths[@]}" | sort | uniq -c | awk '{ printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1 }')
  med=$(stats "${bytes[@]}")
  verdict=MISSED
  if [ "$ok" -gt 0 ] && [ "${med%% *}" -lt "$goal" ]; then verdict=met; fi
  [ "$ok" -lt "$RUNS" ] && verdict="$verdict, $((RUNS - ok)) failed"
  printf '%s\n' "${paths[@]}" | grep -qvx "$expect" && verdict="$verdict, path not $expect"
  ROWS+=("$(printf '%-10s %-7s %-22s %-5s %-9s %-16s %-22s %-16s %-8s %s' \
    "$topo" "$expect" "$seen" "$ok/$RUNS" "$(median_num "${rtts[@]}")" "$(stats "${conns[@]}")" \
    "$(stats "${bytes[@]}")" "$(stats "${dones[@]}")" "< $goal" "$verdict")")
done
lab_down

echo
echo "Time from both commands started, ms: median (min-max) of the successful runs; first byte = the"
echo "receiver's temp file non-empty (5 ms poll); rtt = QUIC RTT in the connected event (median)."
echo "Public segment: ${DELAY_MS} ms each way (RTT $((2 * DELAY_MS)) ms direct, $((4 * DELAY_MS)) ms relayed); file ${SIZE_KIB} KiB."
printf '%-10s %-7s %-22s %-5s %-9s %-16s %-22s %-16s %-8s %s\n' \
  topology expect "path(s) seen" ok "rtt ms" connected "FIRST BYTE" complete goal verdict
printf '%s\n' "${ROWS[@]}"
