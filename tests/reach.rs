//! Reach (issue 13): peers that meet with no `--addr`. First source of candidates: mDNS on one
//! LAN (two network namespaces joined by a veth, documentation addresses only inside them), for
//! a one-time code (its channel word) and for a pairing (its daily token); `--no-mdns` turns it
//! off.

use std::fs;

use rand::SeedableRng;

use crate::net::{Listener, NET_TIMEOUT};
use crate::util::*;

const CODE: &str = "abandon-ability-able-about";

/// Remove the remembered addresses from a peers file (so only discovery can find the peer);
/// whether there was one.
fn forget_address(peers: &std::path::Path) -> bool {
    let text = fs::read_to_string(peers).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| l.split(' ').filter(|w| !w.starts_with("addr=")).collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    fs::write(peers, &stripped).unwrap();
    stripped != text
}

#[test]
fn mdns_finds_a_serving_peer_on_the_lan_by_its_code_and_then_by_the_pairing() {
    let Some((na, nb)) = netns::Netns::pair("mdns", 1500) else { return };
    let (a, b) = (TestDir::new(), TestDir::new());
    let src = a.mkdir("src");
    a.write("src/f.txt", "over the lan");
    let srv = b.mkdir("srv");
    let mut serve = nb.pcp(&b.home(), b.path());
    serve.env_remove("PCP_NO_MDNS");
    let l = Listener::spawn_cmd(&b, serve, CODE, &["serve", srv.to_str().unwrap()], "0.0.0.0:0");
    let slash = format!("{}/", src.display());
    let dial = |code: Option<&str>, extra: &[&str]| {
        let mut c = na.pcp(&a.home(), a.path());
        c.env_remove("PCP_NO_MDNS").args(["sync", "-a"]).args(extra).args([&slash, "nas:d/"]);
        if let Some(code) = code {
            c.env("PCP_CODE", code);
        }
        run_timeout(&mut c, NET_TIMEOUT)
    };

    // First contact: no address at all; the code's channel word is asked on the LAN.
    let o = dial(Some(CODE), &["--json"]);
    assert!(o.status.success(), "mDNS did not find the server by its code: {}", String::from_utf8_lossy(&o.stderr));
    assert_trees_equal(&src, &srv.join("d"));
    // It says so: a `connected` event with the path `lan` and the LAN address it reached.
    let connected: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "connected")
        .collect();
    assert_eq!(connected.len(), 1, "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(connected[0]["path"], "lan");
    assert_eq!(connected[0]["peer"], "nas");
    assert!(connected[0]["addr"].as_str().unwrap().starts_with("198.51.100.2:"), "{}", connected[0]);

    // Paired, with the remembered address removed: the pairing's token is asked on the LAN.
    let peers = a.home().join(".config/pcp/peers");
    assert!(forget_address(&peers), "the pairing remembered no address to remove");
    a.write("src/g.txt", "paired, no code");
    let o = dial(None, &["-q"]);
    assert!(o.status.success(), "mDNS did not find the paired server: {}", String::from_utf8_lossy(&o.stderr));
    assert_trees_equal(&src, &srv.join("d"));

    // --no-mdns: nothing to go on, exit 10 naming the fix. (The successful run above
    // remembered the address again: remove it once more.)
    forget_address(&peers);
    let o = dial(None, &["-q", "--no-mdns"]);
    assert_eq!(o.status.code(), Some(10), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--addr"), "{}", String::from_utf8_lossy(&o.stderr));
    drop(l);
}

/// Connected events of a `--json` run's stdout.
fn connected_events(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "connected")
        .collect()
}

/// What one lab run left: the receiver's output, the sender's and the receiver's directories
/// (the file `f.bin`, received into `got/`), the sender's stderr, the rendezvous' stdout and
/// its record of every datagram it handled (relayed ones too), as bytes per datagram.
struct LabRun {
    out: std::process::Output,
    a: TestDir,
    b: TestDir,
    sender_err: String,
    log: String,
    record: Vec<Vec<u8>>,
}

/// `pcp send FILE` in the lab's home A and `pcp receive --yes --json` in home B, with no
/// address flag, meeting through the rendezvous on the public segment.
fn send_through_lab(lab: &netns::NatLab, marker: &str) -> LabRun {
    send_through_lab_at(lab, marker, netns::NatLab::RENDEZVOUS, netns::NatLab::RENDEZVOUS, &[])
}

/// As [`send_through_lab`], with the rendezvous listening on `listen` and the peers told `at`.
fn send_through_lab_at(lab: &netns::NatLab, marker: &str, listen: &str, at: &str, sender_flags: &[&str]) -> LabRun {
    let (a, b, r) = (TestDir::new(), TestDir::new(), TestDir::new());
    let mut rcmd = lab.public.pcp(&r.home(), r.path());
    rcmd.env("PCP_RENDEZVOUS_RECORD", r.join("record"));
    let mut rdv = Listener::spawn_cmd(&r, rcmd, CODE, &["rendezvous", "--json"], listen);
    // Incompressible, with a marker at the start that must never show in the relay's log.
    let mut body = format!("{marker}\n").into_bytes();
    body.extend(random_bytes(&mut rand::rngs::StdRng::seed_from_u64(13), 300_000));
    a.write("f.bin", &body);
    let mut send = lab.ha.pcp(&a.home(), a.path());
    send.env("PCP_RENDEZVOUS", at);
    // No --listen: the default (IPv4, or dual stack for an IPv6 rendezvous).
    let args: Vec<&str> = ["send", "--yes", "f.bin"].iter().chain(sender_flags).copied().collect();
    let sender = Listener::spawn_cmd(&a, send, CODE, &args, "");
    let dst = b.join("got");
    let mut recv = lab.hb.pcp(&b.home(), b.path());
    recv.env("PCP_RENDEZVOUS", at).env("PCP_CODE", CODE);
    recv.args(["receive", "--yes", "--json", dst.to_str().unwrap()]);
    let out = run_timeout(&mut recv, NET_TIMEOUT);
    let sender_err = sender.stderr();
    drop(sender);
    // Stopped, the rendezvous reports its relays' counters.
    rdv.signal("TERM");
    rdv.wait();
    let log = rdv.stdout();
    let record = fs::read_to_string(r.join("record"))
        .unwrap()
        .lines()
        .map(|l| {
            let hex = l.rsplit(' ').next().unwrap();
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
        })
        .collect();
    LabRun { out, a, b, sender_err, log, record }
}

/// The record holds no secret word, no file name and nothing of the file's contents.
fn assert_record_holds_no_secret(run: &LabRun, marker: &str) {
    assert!(run.record.len() > 10, "the rendezvous recorded almost nothing: {}", run.record.len());
    let needles: [&[u8]; 6] = [b"ability", b"able", b"about", b"f.bin", marker.as_bytes(), CODE.as_bytes()];
    for d in &run.record {
        for n in needles {
            assert!(!d.windows(n.len()).any(|w| w == n), "the rendezvous saw {:?}", String::from_utf8_lossy(n));
        }
    }
}

#[test]
fn rendezvous_and_hole_punch_connect_two_port_restricted_cone_nats_directly() {
    let Some(lab) = netns::NatLab::new("cone", netns::Nat::PortRestrictedCone, netns::Nat::PortRestrictedCone, false)
    else {
        return;
    };
    let run = send_through_lab(&lab, "cone-marker");
    let (o, log) = (&run.out, &run.log);
    let (src, dst) = (run.a.join("f.bin"), run.b.join("got"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read(dst.join("f.bin")).unwrap(), fs::read(&src).unwrap());
    let c = connected_events(&o.stdout);
    assert_eq!(c.len(), 1, "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(c[0]["path"], "direct");
    // The sender's NAT's public address, the one the punch came from: never its private one.
    assert!(c[0]["addr"].as_str().unwrap().starts_with("203.0.113.11:"), "{}", c[0]);
    assert!(log.contains("\"event\":\"introduced\""), "{log}");
    // The relay opened for the race carried none of the data.
    assert_eq!(relayed_bytes(log), 0, "{log}");
    assert!(run.sender_err.contains("via direct (203.0.113.12:"), "{}", run.sender_err);
}

/// Bytes the rendezvous' relays forwarded, from its `--json` log.
fn relayed_bytes(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "relay_closed")
        .map(|v| v["bytes_to_listener"].as_u64().unwrap() + v["bytes_to_dialer"].as_u64().unwrap())
        .sum()
}

/// Both behind symmetric NATs, or one: no punch gets through, the relay carries it.
fn relayed_between(what: &str, nat_a: netns::Nat, nat_b: netns::Nat) {
    let Some(lab) = netns::NatLab::new(what, nat_a, nat_b, false) else { return };
    let run = send_through_lab(&lab, "relay-marker");
    let (o, log) = (&run.out, &run.log);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read(run.b.join("got/f.bin")).unwrap(), fs::read(run.a.join("f.bin")).unwrap());
    let c = connected_events(&o.stdout);
    assert_eq!(c[0]["path"], "relay", "{}", c[0]);
    assert!(c[0]["addr"].as_str().unwrap().starts_with("203.0.113.1:"), "{}", c[0]);
    // The whole file went through the relay (and QUIC's overhead).
    assert!(relayed_bytes(log) > 300_000, "{log}");
    // Both sides say so.
    assert!(run.sender_err.contains("via relay (203.0.113.1:"), "{}", run.sender_err);
    // The relay and the rendezvous saw only ciphertext and public words.
    assert_record_holds_no_secret(&run, "relay-marker");
}

#[test]
fn symmetric_nats_on_both_sides_meet_through_the_relay() {
    relayed_between("symsym", netns::Nat::Symmetric, netns::Nat::Symmetric);
}

#[test]
fn a_cone_and_a_symmetric_nat_meet_through_the_relay() {
    relayed_between("conesym", netns::Nat::PortRestrictedCone, netns::Nat::Symmetric);
}

#[test]
fn homes_on_the_same_private_subnet_never_dial_the_private_address() {
    let Some(lab) = netns::NatLab::new("subnet", netns::Nat::PortRestrictedCone, netns::Nat::PortRestrictedCone, true)
    else {
        return;
    };
    let run = send_through_lab(&lab, "subnet-marker");
    let o = &run.out;
    let (src, dst) = (run.a.join("f.bin"), run.b.join("got"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read(dst.join("f.bin")).unwrap(), fs::read(&src).unwrap());
    let c = connected_events(&o.stdout);
    assert!(c[0]["addr"].as_str().unwrap().starts_with("203.0.113.11:"), "{}", c[0]);
}

/// A rendezvous on loopback (no namespace needed).
fn loopback_rendezvous(r: &TestDir) -> Listener {
    Listener::spawn_cmd(r, r.pcp(), CODE, &["rendezvous", "--json"], "127.0.0.1:0")
}

#[test]
fn a_flood_of_ten_thousand_channel_requests_from_one_source_leaves_the_rendezvous_responsive() {
    let (a, b, r) = (TestDir::new(), TestDir::new(), TestDir::new());
    let rdv = loopback_rendezvous(&r);
    let server: std::net::SocketAddr = rdv.addr.parse().unwrap();
    // The flood: 10,000 Register requests, each a new channel, from 127.0.0.2 as fast as the
    // socket takes them, while an honest pair meets through the same server from 127.0.0.1.
    let flood = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    flood.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let flooder = std::thread::spawn(move || {
        for i in 0..10_000u32 {
            let mut m = vec![0u8, b'p', b'c', b'r', 1, 1, 1, 0];
            let mut token = [7u8; 16];
            token[..4].copy_from_slice(&i.to_be_bytes());
            m.extend_from_slice(&token);
            let _ = flood.send_to(&m, server);
        }
        // The flooder is told it is refused.
        let mut buf = [0u8; 64];
        let mut busy = 0;
        while let Ok((n, _)) = flood.recv_from(&mut buf) {
            busy += usize::from(buf[..n] == [0, b'p', b'c', b'r', 1, 6]);
        }
        busy
    });
    a.write("f.txt", "through a flooded rendezvous");
    let mut send = a.pcp();
    send.env("PCP_RENDEZVOUS", &rdv.addr);
    let sender = Listener::spawn_cmd(&a, send, CODE, &["send", "--yes", "f.txt"], "127.0.0.1:0");
    let started = std::time::Instant::now();
    let mut recv = b.pcp();
    recv.env("PCP_RENDEZVOUS", &rdv.addr).env("PCP_CODE", CODE).args(["receive", "--yes", "--json", "got"]);
    let o = run_timeout(&mut recv, NET_TIMEOUT);
    let took = started.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(fs::read_to_string(b.join("got/f.txt")).unwrap(), "through a flooded rendezvous");
    let busy = flooder.join().unwrap();
    assert!(busy >= 1, "the flooder was never told the rendezvous is busy");
    eprintln!("honest receive through the flooded rendezvous: {} ms (flooder got {busy} Busy)", took.as_millis());
    drop(sender);
}

#[test]
fn no_peer_under_the_code_at_the_rendezvous_is_a_clear_error() {
    let (b, r) = (TestDir::new(), TestDir::new());
    let rdv = loopback_rendezvous(&r);
    let mut recv = b.pcp();
    recv.env("PCP_RENDEZVOUS", &rdv.addr).env("PCP_CODE", CODE).args(["receive", "--yes", "got"]);
    let o = run_timeout(&mut recv, NET_TIMEOUT);
    assert_eq!(o.status.code(), Some(10), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nobody waits there under this code"), "{err}");
    assert!(err.lines().count() == 1, "{err}");
    // A rendezvous that is not there: named as such.
    let mut recv = b.pcp();
    recv.env("PCP_RENDEZVOUS", "127.0.0.1:9").env("PCP_CODE", CODE).args(["receive", "--yes", "got"]);
    let o = run_timeout(&mut recv, NET_TIMEOUT);
    assert_eq!(o.status.code(), Some(10), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rendezvous 127.0.0.1:9: the rendezvous did not answer"));
}

#[test]
fn a_paired_peer_behind_a_nat_is_found_through_the_rendezvous_with_no_code_and_no_address() {
    let Some(lab) =
        netns::NatLab::new("pairrdv", netns::Nat::PortRestrictedCone, netns::Nat::PortRestrictedCone, false)
    else {
        return;
    };
    let (a, b, r) = (TestDir::new(), TestDir::new(), TestDir::new());
    let _rdv =
        Listener::spawn_cmd(&r, lab.public.pcp(&r.home(), r.path()), CODE, &["rendezvous"], netns::NatLab::RENDEZVOUS);
    let src = a.mkdir("src");
    a.write("src/f.txt", "to the nas behind its router");
    let srv = b.mkdir("srv");
    let mut serve = lab.hb.pcp(&b.home(), b.path());
    serve.env("PCP_RENDEZVOUS", netns::NatLab::RENDEZVOUS);
    let server = Listener::spawn_cmd(&b, serve, CODE, &["serve", srv.to_str().unwrap()], "0.0.0.0:0");
    let slash = format!("{}/", src.display());
    let dial = |code: Option<&str>| {
        let mut c = lab.ha.pcp(&a.home(), a.path());
        c.env("PCP_RENDEZVOUS", netns::NatLab::RENDEZVOUS).args(["sync", "-a", "--json", &slash, "nas:d/"]);
        if let Some(code) = code {
            c.env("PCP_CODE", code);
        }
        run_timeout(&mut c, NET_TIMEOUT)
    };
    let o = dial(Some(CODE));
    assert!(o.status.success(), "first contact: {}\n{}", String::from_utf8_lossy(&o.stderr), server.stderr());
    assert_trees_equal(&src, &srv.join("d"));
    // Paired; the remembered address removed: the pairing's daily token finds the server.
    let peers = a.home().join(".config/pcp/peers");
    assert!(forget_address(&peers));
    a.write("src/g.txt", "paired, no code, no address");
    let o = dial(None);
    assert!(o.status.success(), "paired: {}\n{}", String::from_utf8_lossy(&o.stderr), server.stderr());
    assert_trees_equal(&src, &srv.join("d"));
    let c = connected_events(&o.stdout);
    assert_eq!(c[0]["path"], "direct", "{}", c[0]);
    assert!(c[0]["addr"].as_str().unwrap().starts_with("203.0.113.12:"), "{}", c[0]);
}

/// What a paired push through the lab left: bytes sent, reconnects, the dialer's `--json`
/// output, the rendezvous' `--json` log (stopped, so its relays' counters are in).
struct Pushed {
    sent: u64,
    reconnects: usize,
    stdout: String,
    log: String,
    server_err: String,
}

/// A paired push of 6 MiB at 1 MiB/s through two cone NATs, `disturb`ed once a MiB has
/// arrived; it must complete, verified. `before` runs on the lab before anything starts.
fn push_through(
    what: &str,
    timeout: &str,
    before: impl FnOnce(&netns::NatLab),
    disturb: impl FnOnce(&netns::NatLab),
) -> Option<Pushed> {
    let lab = netns::NatLab::new(what, netns::Nat::PortRestrictedCone, netns::Nat::PortRestrictedCone, false)?;
    before(&lab);
    let (a, b, r) = (TestDir::new(), TestDir::new(), TestDir::new());
    let mut rdv = Listener::spawn_cmd(
        &r,
        lab.public.pcp(&r.home(), r.path()),
        CODE,
        &["rendezvous", "--json"],
        netns::NatLab::RENDEZVOUS,
    );
    let src = a.mkdir("src");
    let srv = b.mkdir("srv");
    let mut serve = lab.hb.pcp(&b.home(), b.path());
    serve.env("PCP_RENDEZVOUS", netns::NatLab::RENDEZVOUS);
    let server = Listener::spawn_cmd(&b, serve, CODE, &["serve", srv.to_str().unwrap()], "0.0.0.0:0");
    let slash = format!("{}/", src.display());
    let dial = |code: Option<&str>, extra: &[&str]| {
        let mut c = lab.ha.pcp(&a.home(), a.path());
        c.env("PCP_RENDEZVOUS", netns::NatLab::RENDEZVOUS).args(["sync", "-a", "--json"]).args(extra);
        c.args([&slash, "nas:d/"]);
        if let Some(code) = code {
            c.env("PCP_CODE", code);
        }
        c
    };
    // Pair first (a small file), then the push.
    a.write("src/small.txt", "pairing");
    let o = run_timeout(&mut dial(Some(CODE), &[]), NET_TIMEOUT);
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stderr), server.stderr());
    let size = 6u64 << 20;
    write_seeded_file(&src.join("big.bin"), 5, size);
    let mut push = dial(None, &["--bwlimit", "1M", "--retries", "3", "--timeout", timeout]);
    let pushing = std::thread::spawn(move || run_timeout(&mut push, NET_TIMEOUT));
    let deadline = std::time::Instant::now() + NET_TIMEOUT;
    let arrived = |dir: &std::path::Path| -> u64 {
        fs::read_dir(dir).map_or(0, |d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
    };
    while arrived(&srv.join("d")) < 1 << 20 {
        assert!(std::time::Instant::now() < deadline, "no data arrived");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    disturb(&lab);
    let o = pushing.join().unwrap();
    assert!(
        o.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout),
        server.stderr()
    );
    assert_trees_equal(&src, &srv.join("d"));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let summary: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .unwrap();
    let sent = summary["bytes_sent"].as_u64().unwrap();
    let reconnects = stdout.matches("\"event\":\"connected\"").count() - 1;
    let server_err = server.stderr();
    drop(server);
    rdv.signal("TERM");
    rdv.wait();
    let log = rdv.stdout();
    Some(Pushed { sent, reconnects, stdout, log, server_err })
}

const PUSHED: u64 = 6 << 20;

#[test]
fn a_conntrack_flush_on_both_nats_mid_transfer_costs_no_restart() {
    // Every mapping and every filter entry is gone at once. The receiver's keep-alive (5 s)
    // goes out and re-opens both NATs (ports preserved) before the sender's 10 s timeout:
    // the same connection goes on, nothing is sent twice.
    let Some(Pushed { sent, reconnects, .. }) = push_through(
        "flush",
        "10",
        |_| {},
        |lab| {
            for router in [&lab.ra, &lab.rb] {
                assert!(router.exec(&["conntrack", "-F"]), "conntrack -F in {}", router.name);
            }
        },
    ) else {
        return;
    };
    eprintln!("conntrack flush mid-transfer: {sent} bytes sent for a {PUSHED}-byte file, {reconnects} reconnects");
    assert!(sent < PUSHED + PUSHED / 10, "{sent} bytes sent for {PUSHED}: the transfer started over");
}

#[test]
fn a_ten_second_cut_of_the_link_behind_a_nat_ends_in_a_verified_transfer_with_retries() {
    // The sender's home is offline for 10 s: its connection times out (5 s), and reconnects
    // (--retries) find the peer again through the rendezvous once the link is back.
    let Some(Pushed { sent, reconnects, .. }) = push_through(
        "cut",
        "5",
        |_| {},
        |lab| {
            lab.ra.nft("table ip pcpcut { chain f { type filter hook forward priority -10; policy drop; }; }");
            std::thread::sleep(std::time::Duration::from_secs(10));
            assert!(lab.ra.exec(&["nft", "delete", "table", "ip", "pcpcut"]));
        },
    ) else {
        return;
    };
    eprintln!("10 s cut mid-transfer: {sent} bytes sent for a {PUSHED}-byte file, {reconnects} reconnects");
    assert!(reconnects >= 1, "a 10 s cut with a 5 s timeout must reconnect");
    assert!(sent < 2 * PUSHED, "{sent} bytes sent for {PUSHED}");
}

#[test]
fn a_slow_punch_starts_on_the_relay_and_moves_the_same_connection_to_the_direct_path() {
    // The pusher's router drops everything between its home and the other NAT's public
    // address until a MiB has gone through the relay: punching fails, the relay wins the
    // race; once the path opens, the pusher's late punches get through and the connection
    // (no reconnect) moves off the relay (QUIC migration on the listener's side).
    const BLOCK: &str = "table ip pcpslow { chain f { type filter hook forward priority -10; ip daddr 203.0.113.12 drop; ip saddr 203.0.113.12 drop; }; }";
    let Some(p) = push_through(
        "slowpunch",
        "10",
        |lab| lab.ra.nft(BLOCK),
        |lab| {
            assert!(lab.ra.exec(&["nft", "delete", "table", "ip", "pcpslow"]));
        },
    ) else {
        return;
    };
    let events: Vec<serde_json::Value> =
        p.stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect();
    let connected: Vec<_> = events.iter().filter(|v| v["event"] == "connected").collect();
    assert_eq!(connected.len(), 1, "one connection, no reconnect: {}", p.stdout);
    assert_eq!(connected[0]["path"], "relay", "{}", connected[0]);
    let path = events.iter().find(|v| v["event"] == "path").unwrap_or_else(|| panic!("no path event: {}", p.stdout));
    assert_eq!(path["path"], "direct", "{path}");
    assert!(path["addr"].as_str().unwrap().starts_with("203.0.113.12:"), "{path}");
    let relayed = relayed_bytes(&p.log);
    eprintln!("slow punch: {relayed} bytes relayed of a {PUSHED}-byte push, {} bytes sent", p.sent);
    assert!(relayed > 1 << 20, "the first MiB went through the relay: {}", p.log);
    assert!(relayed < PUSHED - (1 << 20), "the rest went direct: {relayed} bytes relayed\n{}", p.log);
    assert_eq!(p.reconnects, 0);
    // The listener saw its peer's address change and says so too.
    assert!(p.server_err.contains("via relay (203.0.113.1:"), "{}", p.server_err);
    assert!(p.server_err.contains("Path now direct (203.0.113.11:"), "{}", p.server_err);
}

#[test]
fn dual_stack_homes_behind_ipv6_firewalls_punch_directly_over_ipv6() {
    // Each home has its NATed IPv4 and a global IPv6 address behind a stateful firewall (no
    // NAT); the rendezvous is named by its IPv6 address. Both sides bind dual stack, register
    // and punch over IPv6: the path is direct, to the sender's own global address.
    let Some(lab) = netns::NatLab::new("v6", netns::Nat::PortRestrictedCone, netns::Nat::PortRestrictedCone, false)
    else {
        return;
    };
    lab.add_ipv6();
    let run = send_through_lab_at(&lab, "v6-marker", "[::]:7000", netns::NatLab::RENDEZVOUS_V6, &[]);
    let o = &run.out;
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stderr), run.sender_err);
    assert_eq!(fs::read(run.b.join("got/f.bin")).unwrap(), fs::read(run.a.join("f.bin")).unwrap());
    let c = connected_events(&o.stdout);
    assert_eq!(c[0]["path"], "direct", "{}", c[0]);
    assert!(c[0]["addr"].as_str().unwrap().starts_with("[2001:db8:a::2]:"), "{}", c[0]);
    assert!(run.sender_err.contains("via direct ([2001:db8:b::2]:"), "{}", run.sender_err);
    assert_eq!(relayed_bytes(&run.log), 0, "{}", run.log);
}

#[test]
fn a_relay_only_sender_behind_a_cone_nat_is_reached_only_through_the_relay() {
    // Punching would work here (two cone NATs), but the sender asks that nobody learn its
    // address: the rendezvous tells neither side the other's, so the receiver gets there
    // through the relay, and the sender's address shows in none of the receiver's output.
    let Some(lab) =
        netns::NatLab::new("rlyonly", netns::Nat::PortRestrictedCone, netns::Nat::PortRestrictedCone, false)
    else {
        return;
    };
    let at = netns::NatLab::RENDEZVOUS;
    let run = send_through_lab_at(&lab, "rly-marker", at, at, &["--relay-only"]);
    let o = &run.out;
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stderr), run.sender_err);
    assert_eq!(fs::read(run.b.join("got/f.bin")).unwrap(), fs::read(run.a.join("f.bin")).unwrap());
    let c = connected_events(&o.stdout);
    assert_eq!(c[0]["path"], "relay", "{}", c[0]);
    assert!(run.sender_err.contains("via relay (203.0.113.1:"), "{}", run.sender_err);
    let everything = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!everything.contains("203.0.113.11"), "the receiver learnt the sender's address: {everything}");
    assert!(relayed_bytes(&run.log) > 300_000, "{}", run.log);
}
