//! A network namespace of a test's own (root only): `ip netns add`, loopback up, nftables
//! inside it, deleted on drop (also when the test fails). Tests that need one call
//! [`Netns::new`], which returns `None` with a loud message when namespaces are unavailable,
//! unless `PCP_REQUIRE_NETNS=1` (set by `.ci/run`), where it panics instead: CI cannot skip.
//! Only loopback inside the namespace is used: no traffic leaves it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{sandbox_env, PCP};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Netns {
    pub name: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

impl Netns {
    /// A fresh namespace named `pcpt-<pid>-<n>-<what>` with `lo` up, or `None` (skip).
    pub fn new(what: &str) -> Option<Self> {
        let name = format!("pcpt-{}-{}-{what}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let required = std::env::var("PCP_REQUIRE_NETNS").is_ok_and(|v| v == "1");
        let have_nft = Command::new("nft").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
        if !ip(&["netns", "add", &name]) || !have_nft {
            let _ = ip(&["netns", "del", &name]);
            let msg = format!(
                "SKIPPED: test `{what}` needs root, `ip netns` and `nft` (run as root, or set \
                 PCP_REQUIRE_NETNS=1 to make this a failure)"
            );
            assert!(!required, "PCP_REQUIRE_NETNS=1 but {msg}");
            eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
            return None;
        }
        let ns = Self { name };
        assert!(ns.exec(&["ip", "link", "set", "lo", "up"]), "bringing lo up in {}", ns.name);
        Some(ns)
    }

    /// Two namespaces joined by a veth pair with link MTU `mtu`: the first holds
    /// 198.51.100.1/24, the second 198.51.100.2/24 (documentation addresses, only inside them).
    pub fn pair(what: &str, mtu: u32) -> Option<(Self, Self)> {
        let a = Self::new(&format!("{what}-a"))?;
        let b = Self::new(&format!("{what}-b"))?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (va, vb) = (format!("pcpva{n}"), format!("pcpvb{n}"));
        let mtu = mtu.to_string();
        assert!(
            ip(&["link", "add", &va, "netns", &a.name, "type", "veth", "peer", "name", &vb, "netns", &b.name]),
            "creating a veth pair between {} and {}",
            a.name,
            b.name
        );
        for (ns, dev, addr) in [(&a, &va, "198.51.100.1/24"), (&b, &vb, "198.51.100.2/24")] {
            assert!(ns.exec(&["ip", "addr", "add", addr, "dev", dev]), "address on {dev}");
            assert!(ns.exec(&["ip", "link", "set", dev, "mtu", &mtu, "up"]), "bringing {dev} up");
            // Multicast (mDNS) goes over the veth: it is the namespace's only link.
            assert!(ns.exec(&["ip", "route", "add", "224.0.0.0/4", "dev", dev]), "multicast route on {dev}");
        }
        Some((a, b))
    }

    /// Run a command inside the namespace; whether it succeeded.
    pub fn exec(&self, argv: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `pcp` inside the namespace, with the sandbox of `home`, run from `cwd`.
    pub fn pcp(&self, home: &Path, cwd: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, PCP]);
        sandbox_env(&mut cmd, home);
        cmd.current_dir(cwd);
        cmd
    }

    /// Load an nftables script inside the namespace; panics if nft refuses it.
    pub fn nft(&self, script: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn nft");
        use std::io::Write;
        child.stdin.take().expect("nft stdin").write_all(script.as_bytes()).expect("write nft script");
        assert!(child.wait().is_ok_and(|s| s.success()), "nft refused:\n{script}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside keep nothing alive: deleting the name is enough.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// How a lab router maps and filters (RFC 4787), by nftables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping, address-and-port-dependent filtering: masquerade, and
    /// unsolicited inbound dropped before conntrack confirms it (a stock Linux home router).
    PortRestrictedCone,
    /// Endpoint-dependent mapping: `masquerade fully-random` (a new port per destination),
    /// and the same drop rule.
    Symmetric,
}

/// Two homes behind their own NAT routers on a "public" segment, the rendezvous' place:
///
/// ```text
///  ha 10.0.X.2 ── ra (NAT; 203.0.113.11) ──┐
///                                       pub bridge (203.0.113.1: the rendezvous)
///  hb 10.0.Y.2 ── rb (NAT; 203.0.113.12) ──┘
/// ```
///
/// X = 1, Y = 2, or both 0 with `same_subnet` (the trap for code that tries a peer's private
/// address). Documentation and 10.x addresses, only inside the namespaces.
pub struct NatLab {
    pub ha: Netns,
    pub ra: Netns,
    pub public: Netns,
    pub rb: Netns,
    pub hb: Netns,
}

impl NatLab {
    pub const RENDEZVOUS: &'static str = "203.0.113.1:7000";

    pub fn new(what: &str, nat_a: Nat, nat_b: Nat, same_subnet: bool) -> Option<Self> {
        let public = Netns::new(&format!("{what}-pub"))?;
        let ha = Netns::new(&format!("{what}-ha"))?;
        let ra = Netns::new(&format!("{what}-ra"))?;
        let rb = Netns::new(&format!("{what}-rb"))?;
        let hb = Netns::new(&format!("{what}-hb"))?;
        let run = |ns: &Netns, cmd: &str| {
            let argv: Vec<&str> = cmd.split_whitespace().collect();
            assert!(ns.exec(&argv), "in {}: {cmd}", ns.name);
        };
        run(&public, "ip link add br0 type bridge");
        run(&public, "ip addr add 203.0.113.1/24 dev br0");
        run(&public, "ip link set br0 up");
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let homes = [
            (&ha, &ra, nat_a, if same_subnet { 0 } else { 1 }, 11),
            (&hb, &rb, nat_b, if same_subnet { 0 } else { 2 }, 12),
        ];
        for (i, (h, r, nat, net, wan)) in homes.into_iter().enumerate() {
            let (wan_r, wan_p, lan_r, lan_h) =
                (format!("pcpnw{n}{i}"), format!("pcpnp{n}{i}"), format!("pcpnl{n}{i}"), format!("pcpnh{n}{i}"));
            assert!(ip(&[
                "link",
                "add",
                &wan_r,
                "netns",
                &r.name,
                "type",
                "veth",
                "peer",
                "name",
                &wan_p,
                "netns",
                &public.name
            ]));
            assert!(ip(&[
                "link", "add", &lan_r, "netns", &r.name, "type", "veth", "peer", "name", &lan_h, "netns", &h.name
            ]));
            run(&public, &format!("ip link set {wan_p} master br0 up"));
            run(r, &format!("ip addr add 203.0.113.{wan}/24 dev {wan_r}"));
            run(r, &format!("ip link set {wan_r} up"));
            run(r, &format!("ip addr add 10.0.{net}.1/24 dev {lan_r}"));
            run(r, &format!("ip link set {lan_r} up"));
            run(r, "sysctl -q -w net.ipv4.ip_forward=1");
            run(h, &format!("ip addr add 10.0.{net}.2/24 dev {lan_h}"));
            run(h, &format!("ip link set {lan_h} up"));
            run(h, &format!("ip route add default via 10.0.{net}.1"));
            let random = if nat == Nat::Symmetric { " fully-random" } else { "" };
            r.nft(&format!(
                "table ip pcplab {{
                   chain outbound {{ type nat hook postrouting priority srcnat; oifname \"{wan_r}\" masquerade{random}; }}
                   chain inbound {{ type filter hook input priority filter; iifname \"{wan_r}\" ct state new drop; }}
                   chain forwarded {{ type filter hook forward priority filter; iifname \"{wan_r}\" ct state new drop; }}
                 }}"
            ));
        }
        Some(Self { ha, ra, public, rb, hb })
    }

    /// The rendezvous' address on the IPv6 segment [`Self::add_ipv6`] adds.
    pub const RENDEZVOUS_V6: &'static str = "[2001:db8:c::1]:7000";

    /// Make both homes dual stack, as most are today: besides their NATed IPv4, each has a
    /// global IPv6 address (ha 2001:db8:a::2, hb 2001:db8:b::2) behind its router's
    /// stateful firewall (no NAT: unsolicited inbound `ct state new` is dropped), and the
    /// public segment has 2001:db8:c::1 (the rendezvous' IPv6 address), routers ::11 and ::12.
    /// Documentation addresses, only inside the namespaces.
    pub fn add_ipv6(&self) {
        let run = |ns: &Netns, cmd: &str| {
            let argv: Vec<&str> = cmd.split_whitespace().collect();
            assert!(ns.exec(&argv), "in {}: {cmd}", ns.name);
        };
        run(&self.public, "ip -6 addr add 2001:db8:c::1/64 dev br0 nodad");
        for (h, r, net, wan) in [(&self.ha, &self.ra, "a", 11), (&self.hb, &self.rb, "b", 12)] {
            let dev = |ns: &Netns, prefix: &str| -> String {
                let out = Command::new("ip").args(["netns", "exec", &ns.name, "ip", "-o", "link"]).output().unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines()
                    .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_owned()))
                    .find(|n| n.starts_with(prefix))
                    .unwrap_or_else(|| panic!("no {prefix}* link in {}", ns.name))
            };
            let (wan_r, lan_r, lan_h) = (dev(r, "pcpnw"), dev(r, "pcpnl"), dev(h, "pcpnh"));
            run(r, &format!("ip -6 addr add 2001:db8:c::{wan}/64 dev {wan_r} nodad"));
            run(r, &format!("ip -6 addr add 2001:db8:{net}::1/64 dev {lan_r} nodad"));
            run(r, "sysctl -q -w net.ipv6.conf.all.forwarding=1");
            run(r, "ip -6 route add default via 2001:db8:c::1");
            run(h, &format!("ip -6 addr add 2001:db8:{net}::2/64 dev {lan_h} nodad"));
            run(h, &format!("ip -6 route add default via 2001:db8:{net}::1"));
            run(&self.public, &format!("ip -6 route add 2001:db8:{net}::/64 via 2001:db8:c::{wan}"));
            r.nft(&format!(
                "table ip6 pcplab6 {{
                   chain inbound {{ type filter hook input priority filter; iifname \"{wan_r}\" ct state new drop; }}
                   chain forwarded {{ type filter hook forward priority filter; iifname \"{wan_r}\" ct state new drop; }}
                 }}"
            ));
        }
        run(&self.public, "sysctl -q -w net.ipv6.conf.all.forwarding=1");
    }
}

/// A WAN link between two namespaces: `a` (192.0.2.2) and `b` (198.51.100.2) each reach the
/// other through a router namespace `m`, where `examples/shaper.rs` holds every packet on a TUN
/// device for the link's delay, loss and rate (this kernel has no `sch_netem`). Policy routing
/// in `m`: packets from the veths go into the TUN, packets coming out of it go to the veths.
pub struct Wan {
    pub a: Netns,
    pub m: Netns,
    pub b: Netns,
    shaper: std::process::Child,
}

impl Wan {
    /// Build it with `shaper` options (e.g. `["--delay-ms", "100", "--loss", "2"]`, each way).
    pub fn new(what: &str, shaper: &[&str]) -> Option<Self> {
        let a = Netns::new(&format!("{what}-a"))?;
        let m = Netns::new(&format!("{what}-m"))?;
        let b = Netns::new(&format!("{what}-b"))?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (va, vma, vb, vmb) = (format!("pcpwa{n}"), format!("pcpwma{n}"), format!("pcpwb{n}"), format!("pcpwmb{n}"));
        let tun = format!("pcpwt{n}");
        for (x, dx, dm) in [(&a, &va, &vma), (&b, &vb, &vmb)] {
            assert!(
                ip(&["link", "add", dx, "netns", &x.name, "type", "veth", "peer", "name", dm, "netns", &m.name]),
                "veth {dx}"
            );
        }
        let run = |ns: &Netns, cmd: &str| {
            let argv: Vec<&str> = cmd.split_whitespace().collect();
            assert!(ns.exec(&argv), "in {}: {cmd}", ns.name);
        };
        run(&a, &format!("ip addr add 192.0.2.2/24 dev {va}"));
        run(&a, &format!("ip link set {va} up"));
        run(&a, "ip route add default via 192.0.2.1");
        run(&b, &format!("ip addr add 198.51.100.2/24 dev {vb}"));
        run(&b, &format!("ip link set {vb} up"));
        run(&b, "ip route add default via 198.51.100.1");
        run(&m, &format!("ip addr add 192.0.2.1/24 dev {vma}"));
        run(&m, &format!("ip addr add 198.51.100.1/24 dev {vmb}"));
        run(&m, &format!("ip link set {vma} up"));
        run(&m, &format!("ip link set {vmb} up"));
        run(&m, "sysctl -q -w net.ipv4.ip_forward=1");
        run(&m, "sysctl -q -w net.ipv4.conf.all.rp_filter=0");
        let exe = std::env::current_exe().expect("test binary path");
        let shaper_bin = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples/shaper");
        assert!(shaper_bin.exists(), "{} is not built (cargo test builds examples)", shaper_bin.display());
        let shaper = Command::new("ip")
            .args(["netns", "exec", &m.name])
            .arg(&shaper_bin)
            .arg(&tun)
            .args(shaper)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the shaper");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !m.exec(&["ip", "link", "show", &tun]) {
            assert!(std::time::Instant::now() < deadline, "the shaper made no {tun}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        run(&m, &format!("ip link set {tun} up"));
        run(&m, &format!("ip rule add iif {tun} lookup 100"));
        run(&m, &format!("ip route add 192.0.2.0/24 dev {vma} table 100"));
        run(&m, &format!("ip route add 198.51.100.0/24 dev {vmb} table 100"));
        run(&m, &format!("ip route add 192.0.2.2/32 dev {tun}"));
        run(&m, &format!("ip route add 198.51.100.2/32 dev {tun}"));
        run(&m, &format!("sysctl -q -w net.ipv4.conf.{tun}.rp_filter=0"));
        Some(Self { a, m, b, shaper })
    }
}

impl Drop for Wan {
    fn drop(&mut self) {
        let _ = self.shaper.kill();
        let _ = self.shaper.wait();
    }
}
