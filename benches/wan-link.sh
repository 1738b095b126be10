# Sourced by the WAN benchmarks (compare-wan.sh, fairness-wan.sh): builds namespaces A
# (192.0.2.2) and B (198.51.100.2, also .3 for a second flow) joined through a router namespace M where
# examples/shaper.rs holds every packet on a TUN device (this kernel has no sch_netem), and a
# throwaway sshd in B on 198.51.100.2:2222. Needs $here (the checkout); builds pcp and the
# shaper (release) and sets PCP and SHAPER, P (namespace prefix), W (work
# dir) and the helpers A/M/B (run in a namespace), link_up SHAPER-OPTIONS..., tcp_cc, cleanup.
# SHAPER_FLAGS adds shaper options to every link; SHAPER_LOG=1 prints the shaper's log at the end.
(cd "$here" && cargo build --release --quiet && cargo build --release --quiet --example shaper)
PCP=$here/target/release/pcp
SHAPER=$here/target/release/examples/shaper
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
  cleanup 2>&1 | { [ -n "${SHAPER_LOG:-}" ] && cat >&2 || cat >/dev/null; }; mkdir -p "$W"
  for n in a m b; do ip netns add "$P$n"; ip netns exec "$P$n" ip link set lo up; done
  ip link add wa netns "${P}a" type veth peer name wma netns "${P}m"
  ip link add wb netns "${P}b" type veth peer name wmb netns "${P}m"
  A ip addr add 192.0.2.2/24 dev wa; A ip link set wa up; A ip route add default via 192.0.2.1
  B ip addr add 198.51.100.2/24 dev wb; B ip link set wb up; B ip route add default via 198.51.100.1; B ip addr add 198.51.100.3/24 dev wb
  M ip addr add 192.0.2.1/24 dev wma; M ip addr add 198.51.100.1/24 dev wmb
  M ip link set wma up; M ip link set wmb up
  M sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
  M "$SHAPER" wt "$@" ${SHAPER_FLAGS:-} --seconds 3600 2>"$W/shaper.err" &
  for _ in $(seq 100); do M ip link show wt >/dev/null 2>&1 && break; sleep 0.05; done
  M ip link set wt up; M sysctl -q -w net.ipv4.conf.wt.rp_filter=0
  M ip rule add iif wt lookup 100
  M ip route add 192.0.2.0/24 dev wma table 100; M ip route add 198.51.100.0/24 dev wmb table 100
  M ip route add 192.0.2.2/32 dev wt; M ip route add 198.51.100.2/32 dev wt; M ip route add 198.51.100.3/32 dev wt
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
