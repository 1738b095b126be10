#!/usr/bin/env bash
# Reach over a slow lossy internet link: one big file between two homes behind NATs, pcp with
# no address flag (`pcp send` / `pcp receive`, meeting through the rendezvous, direct through
# punched holes) beside rsync over ssh on the same lab link in the same run; medians and the
# ratio printed.
#
# Usage (as root; needs iproute2, nftables, openssh-server, rsync, /dev/net/tun):
#   benches/reach-wan.sh [RUNS]                     (default 3)
# Environment: PCP_REACH_DELAY_MS (one-way delay across the public segment, default 40: RTT 80
# ms between the homes), PCP_REACH_LOSS (% of packets lost each way, default 2),
# PCP_REACH_MIB (the file, default 256).
#
# The lab is benches/natlab.sh's (two port-restricted cone NATs; the shaper delays and drops
# on the public segment, TCP and UDP alike). rsync needs what pcp does not: a port forward on
# the receiving home's router (ra: tcp 2222 -> ha's sshd), so that the sending home (hb) can
# reach it through the NAT. Both move the file from hb to ha: `rsync -e ssh f.bin
# root@203.0.113.11:` against `pcp send f.bin` in hb and `pcp receive` in ha (both started
# together; pcp's time includes finding the peer through the rendezvous and punching). TCP
# uses the kernel's default congestion control (printed; BBR here).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [RUNS]" >&2; exit 2; }
DELAY_MS=${PCP_REACH_DELAY_MS:-40}
LOSS=${PCP_REACH_LOSS:-2}
MIB=${PCP_REACH_MIB:-256}
PCP=$here/target/release/pcp
SHAPER=$here/target/release/examples/shaper
(cd "$here" && cargo build --release --quiet --bin pcp --example shaper)
P=pcpwan-$$-
W=$(mktemp -d /dev/shm/pcp-reachwan.XXXXXX)
SHAPER_ARGS=(--delay-ms "$DELAY_MS" --loss "$LOSS")
. "$here/benches/natlab.sh"

nat_lab cone cone
# rsync's way in: sshd in ha, forwarded from ra's public port 2222.
N ra nft insert rule ip pcplab forwarded tcp dport 2222 accept
N ra nft add table ip pcpfwd
N ra nft "add chain ip pcpfwd pre { type nat hook prerouting priority dstnat; }"
N ra nft add rule ip pcpfwd pre iifname wan tcp dport 2222 dnat to 10.0.1.2:2222
. "$here/benches/bench-sshd.sh"
start_sshd 10.0.1.2 ip netns exec "${P}ha"

head -c $((MIB << 20)) /dev/urandom >"$W/f.bin"
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { printf "%.1f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "reach-wan: ${MIB} MiB from home B to home A, both behind cone NATs; public segment ${DELAY_MS} ms each way, ${LOSS}% loss each way; $RUNS runs" >&2
echo "TCP congestion control in the homes: $(N hb sysctl -n net.ipv4.tcp_congestion_control)" >&2
tp=() tr=() paths=()
words=$here/src/auth/bip39-english.txt
for i in $(seq "$RUNS"); do
  # rsync over ssh, through the port forward.
  rm -rf "$W/rdst"; mkdir -p "$W/rdst"
  t0=$(now)
  N hb rsync -e "$SSH" "$W/f.bin" "root@203.0.113.11:$W/rdst/"
  t1=$(now)
  cmp -s "$W/f.bin" "$W/rdst/f.bin" || { echo "rsync: the copy differs" >&2; exit 1; }
  tr+=("$(echo "$t1 - $t0" | bc -l)")
  # pcp, no address: send in B, receive in A.
  d="$W/pcp-$i"; mkdir -p "$d/a" "$d/b"; ln "$W/f.bin" "$d/b/f.bin"
  code="$(sed -n "$((300 + i))p" "$words")-ability-able-about"
  sa=$(home_env "$d/a/home"); sb=$(home_env "$d/b/home")
  t0=$(now)
  (cd "$d/b" && exec ip netns exec "${P}hb" env -i PATH="$PATH" $sb PCP_NO_MDNS=1 PCP_RENDEZVOUS=203.0.113.1:7000 \
    PCP_CODE="$code" timeout 600 "$PCP" send --yes f.bin --listen 0.0.0.0:0 >"$d/b.out" 2>"$d/b.err") &
  spid=$!
  (cd "$d/a" && ip netns exec "${P}ha" env -i PATH="$PATH" $sa PCP_NO_MDNS=1 PCP_RENDEZVOUS=203.0.113.1:7000 \
    PCP_CODE="$code" timeout 600 "$PCP" receive --yes --json got >"$d/a.out" 2>"$d/a.err") || {
    echo "pcp receive failed:" >&2; tail -5 "$d/a.err" >&2; exit 1; }
  t1=$(now)
  wait "$spid" || true
  cmp -s "$W/f.bin" "$d/a/got/f.bin" || { echo "pcp: the copy differs" >&2; exit 1; }
  tp+=("$(echo "$t1 - $t0" | bc -l)")
  path=$(sed -n 's/.*"event":"connected".*"path":"\([a-z]*\)".*/\1/p' "$d/a.out" | head -1)
  paths+=("${path:-?}")
  echo "run $i: rsync ${tr[-1]} s, pcp ${tp[-1]} s (path ${paths[-1]})" >&2
  rm -rf "$d"
done
kill "$(cat "$W/sshd.pid")" 2>/dev/null || true
lab_down
mr=$(median "${tr[@]}") mp=$(median "${tp[@]}")
echo
echo "${MIB} MiB, RTT $((2 * DELAY_MS)) ms, ${LOSS}% loss each way, through two cone NATs (median of $RUNS):"
printf '%-22s %8s %10s\n' tool seconds "MB/s"
printf '%-22s %8s %10s\n' "rsync over ssh" "$mr" "$(echo "$MIB * 1.048576 / $mr" | bc -l | xargs printf %.1f)"
printf '%-22s %8s %10s\n' "pcp (no address)" "$mp" "$(echo "$MIB * 1.048576 / $mp" | bc -l | xargs printf %.1f)"
echo "pcp / rsync time: $(echo "$mp / $mr" | bc -l | xargs printf %.2f); paths: ${paths[*]}"
