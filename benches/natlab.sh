# The NAT lab of the reach benches (reach-ttfb.sh, reach-wan.sh), sourced by them: namespaces
# pcp...-<pid>-*, cleaned up on exit. The caller sets P (namespace prefix), W (a work dir),
# PCP, SHAPER, and SHAPER_ARGS (the shaper's flags for the public segment; empty: no shaper).
#
#   ha 10.0.1.2 -- ra (NAT; 203.0.113.11) --+
#                                          pub (router; shaper on a TUN) -- rdv 203.0.113.1:7000
#   hb 10.0.2.2 -- rb (NAT; 203.0.113.12) --+                                (pcp rendezvous)
#
# See reach-ttfb.sh for why the public segment routes (proxy ARP, one veth per address) rather
# than bridges. nat_lab cone|sym cone|sym builds it and starts the rendezvous; lan_lab builds
# two namespaces on one veth (198.51.100.1/.2, multicast routed, for mDNS).
our_ns() { ip netns list 2>/dev/null | awk -v p="$P" 'index($1, p) == 1 { print $1 }'; }
ns_pids() { local ns; for ns in $(our_ns); do ip netns pids "$ns" 2>/dev/null || true; done; }
lab_down() { # every process in our namespaces (ours: we started them), then the namespaces
  local pids i
  pids=$(ns_pids)
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    for i in $(seq 40); do [ -n "$(ns_pids)" ] || break; sleep 0.05; done
    pids=$(ns_pids)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
  fi
  for i in $(our_ns); do ip netns del "$i" 2>/dev/null || true; done
}
cleanup() {
  set +e
  lab_down
  local j; j=$(jobs -p); [ -n "$j" ] && kill $j 2>/dev/null
  wait 2>/dev/null
  rm -rf "$W"
  [ -z "$(our_ns)" ] || echo "warning: namespaces left: $(our_ns | tr '\n' ' ')" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

N() { local n=$1; shift; ip netns exec "$P$n" "$@"; }
mkns() { for n in "$@"; do ip netns add "$P$n"; N "$n" ip link set lo up; done; }
veth() { ip link add "$2" netns "$P$1" type veth peer name "$4" netns "$P$3"; } # NS DEV NS DEV

nat_lab() { # NAT_A NAT_B (cone|sym): the lab above, with the rendezvous running
  lab_down
  mkns pub rdv ra rb ha hb
  N pub sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  veth rdv eth0 pub pr
  N rdv ip addr add 203.0.113.1/24 dev eth0
  N rdv ip link set eth0 up
  local side nat net wan pd
  for side in a b; do
    if [ $side = a ]; then nat=$1 net=1 wan=11 pd=pa; else nat=$2 net=2 wan=12 pd=pb; fi
    veth r$side wan pub $pd
    veth r$side lan h$side eth0
    N r$side ip addr add 203.0.113.$wan/24 dev wan
    N r$side ip link set wan up
    N r$side ip addr add 10.0.$net.1/24 dev lan
    N r$side ip link set lan up
    N r$side sysctl -q -w net.ipv4.ip_forward=1
    N h$side ip addr add 10.0.$net.2/24 dev eth0
    N h$side ip link set eth0 up
    N h$side ip route add default via 10.0.$net.1
    local random=""; [ "$nat" = sym ] && random=" fully-random"
    N r$side nft -f - <<EOF
table ip pcplab {
  chain outbound { type nat hook postrouting priority srcnat; oifname "wan" masquerade$random; }
  chain inbound { type filter hook input priority filter; iifname "wan" ct state new drop; }
  chain forwarded { type filter hook forward priority filter; iifname "wan" ct state new drop; }
}
EOF
  done
  # pub: one veth per public address, proxy ARP (answered at once: proxy_delay 0), and its own
  # 203.0.113.254/32 on each as the source of its ARP requests.
  local d
  for d in pr pa pb; do
    N pub ip addr add 203.0.113.254/32 dev $d
    N pub ip link set $d up
    N pub sysctl -q -w net.ipv4.conf.$d.proxy_arp=1 net.ipv4.conf.$d.rp_filter=0 net.ipv4.neigh.$d.proxy_delay=0
  done
  if [ ${#SHAPER_ARGS[@]} -gt 0 ]; then
    N pub "$SHAPER" tun0 "${SHAPER_ARGS[@]}" --seconds 86400 2>"$W/shaper.err" &
    disown
    local i
    for i in $(seq 200); do N pub ip link show tun0 >/dev/null 2>&1 && break; sleep 0.05; done
    N pub ip link set tun0 up
    N pub sysctl -q -w net.ipv4.conf.tun0.rp_filter=0
    N pub ip rule add iif tun0 lookup 100
    N pub ip route add 203.0.113.1/32 dev pr table 100
    N pub ip route add 203.0.113.11/32 dev pa table 100
    N pub ip route add 203.0.113.12/32 dev pb table 100
    for d in 1 11 12; do N pub ip route add 203.0.113.$d/32 dev tun0; done
  else
    N pub ip route add 203.0.113.1/32 dev pr
    N pub ip route add 203.0.113.11/32 dev pa
    N pub ip route add 203.0.113.12/32 dev pb
  fi
  mkdir -p "$W/rdvhome"
  : >"$W/rdv.err" # emptied here, not only in the child: a previous lab's line must not count
  (cd "$W/rdvhome" && exec ip netns exec "${P}rdv" "${ENVV[@]}" $(home_env "$W/rdvhome") \
    "$PCP" rendezvous --listen 203.0.113.1:7000 --json >"$W/rdv.out" 2>"$W/rdv.err") &
  disown # stopped by lab_down, which finds it in its namespace
  for i in $(seq 200); do grep -q '^Listening on ' "$W/rdv.err" 2>/dev/null && break; sleep 0.05; done
  grep -q '^Listening on ' "$W/rdv.err" || { echo "the rendezvous did not start:" >&2; cat "$W/rdv.err" >&2; exit 1; }
}

lan_lab() {
  lab_down
  mkns la lb
  veth la eth0 lb eth0
  N la ip addr add 198.51.100.1/24 dev eth0
  N lb ip addr add 198.51.100.2/24 dev eth0
  local n
  for n in la lb; do
    N $n ip link set eth0 mtu 1500 up
    N $n ip route add 224.0.0.0/4 dev eth0 # mDNS goes over the veth, the only link
  done
}

ENVV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
home_env() { # DIR: a sandbox as tests/util's sandbox_env (created), printed as NAME=VALUE words
  mkdir -p "$1/.config" "$1/.local/state" "$1/.local/share" "$1/.cache" "$1/tmp"
  echo "HOME=$1 XDG_CONFIG_HOME=$1/.config XDG_STATE_HOME=$1/.local/state XDG_DATA_HOME=$1/.local/share XDG_CACHE_HOME=$1/.cache TMPDIR=$1/tmp"
}
stamp() { local line; while IFS= read -r line; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$line"; done; }
