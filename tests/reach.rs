//! Reach (issue 13): peers that meet with no `--addr`. First source of candidates: mDNS on one
//! LAN (two network namespaces joined by a veth, documentation addresses only inside them), for
//! a one-time code (its channel word) and for a pairing (its daily token); `--no-mdns` turns it
//! off.

use std::fs;

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
