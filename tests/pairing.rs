//! Pairing for unattended use (issue 12): two real `pcp` processes with two identities (two
//! sandboxed HOMEs) on 127.0.0.1. One code once, then runs with stdin closed, no terminal and
//! no code; forgetting on either side ends it (exit 40, a hint to pair again); a stranger and
//! a tampered peers file get nothing; `--no-remember` stores nothing.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::net::Listener;
use crate::util::*;

const CODE: &str = "abandon-ability-able-about";
const BOUND: Duration = Duration::from_secs(60);

/// `pcp ARGS...` in `home`, stdin closed, with `code` in PCP_CODE if any (never otherwise).
fn run_in(home: &Path, code: Option<&str>, args: &[&str]) -> Output {
    let mut cmd: Command = pcp_with_home(home);
    cmd.args(args).stdin(Stdio::null());
    if let Some(c) = code {
        cmd.env("PCP_CODE", c);
    }
    run_timeout(&mut cmd, BOUND)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code_of(o: &Output) -> Option<i32> {
    o.status.code()
}

/// The serving side's `peers list --json` names.
fn peer_names(home: &Path) -> Vec<String> {
    let o = run_in(home, None, &["peers", "list", "--json"]);
    assert!(o.status.success(), "peers list failed: {}", text(&o.stderr));
    text(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["peer"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn pairing_once_then_five_syncs_need_no_code_and_forgetting_either_side_ends_it() {
    let (a, b) = (TestDir::new(), TestDir::new());
    let src = a.mkdir("src");
    a.write("src/first.txt", "one");
    let srv = b.mkdir("srv");
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], "127.0.0.1:0");
    let addr = l.addr.clone();
    let slash = format!("{}/", src.display());

    // First contact with the code pairs the two.
    let o = run_in(&a.home(), Some(CODE), &["sync", "-a", "--addr", &addr, &slash, "nas:d/"]);
    assert!(o.status.success(), "first contact failed: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("paired with nas"), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&format!("Connected to nas via direct ({addr}, RTT ")), "{}", text(&o.stderr));
    assert_eq!(peer_names(&a.home()), ["nas"]);
    let served_names = peer_names(&b.home());
    assert_eq!(served_names.len(), 1, "the serving side did not remember the dialer");

    // Five more runs: no code, no terminal, stdin closed, -q: exit 0 and an empty stderr.
    for i in 0..5 {
        a.write(format!("src/run-{i}.txt"), format!("run {i}"));
        // The last run gives no --addr: the one that worked is remembered.
        let args: Vec<&str> = if i == 4 {
            vec!["sync", "-a", "-q", &slash, "nas:d/"]
        } else {
            vec!["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]
        };
        let o = run_in(&a.home(), None, &args);
        assert!(o.status.success(), "paired run {i} failed: {}", text(&o.stderr));
        assert_eq!(text(&o.stderr), "", "paired run {i} wrote to stderr at -q");
        assert_trees_equal(&src, &srv.join("d"));
    }
    // `ls` to the paired peer as well.
    let o = run_in(&a.home(), None, &["ls", "--addr", &addr, "nas:d/"]);
    assert!(o.status.success() && text(&o.stdout).contains("run-4.txt"), "{}", text(&o.stderr));

    // The serving side forgets the dialer: the next run exits 40 and says how to pair again.
    let o = run_in(&b.home(), None, &["peers", "forget", &served_names[0]]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(40), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("pair again"), "{}", text(&o.stderr));
    assert!(l.stderr().contains("not paired"), "the serving side logged nothing:\n{}", l.stderr());

    // Pair again with the fresh code the daemon printed, then forget on the dialing side.
    let code2 = l.code(2);
    let o = run_in(&a.home(), Some(&code2), &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert!(o.status.success(), "re-pairing failed: {}", text(&o.stderr));
    assert_eq!(peer_names(&a.home()), ["nas"]);
    let o = run_in(&a.home(), None, &["peers", "forget", "nas"]);
    assert!(o.status.success());
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(40), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("not paired"), "{}", text(&o.stderr));
}

#[test]
fn a_stranger_or_a_tampered_peers_file_gets_nothing() {
    let (a, b, c) = (TestDir::new(), TestDir::new(), TestDir::new());
    let src = a.mkdir("src");
    a.write("src/f.txt", "data");
    let srv = b.mkdir("srv");
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], "127.0.0.1:0");
    let addr = l.addr.clone();
    let slash = format!("{}/", src.display());
    let o = run_in(&a.home(), Some(CODE), &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let before = snapshot(&srv);

    // A third identity with a copy of A's peers file (the right pin and psk, its own key).
    let peers_a = a.home().join(".config/pcp/peers");
    let peers_c = c.home().join(".config/pcp/peers");
    fs::create_dir_all(peers_c.parent().unwrap()).unwrap();
    set_mode(peers_c.parent().unwrap(), 0o700);
    fs::write(&peers_c, fs::read(&peers_a).unwrap()).unwrap();
    set_mode(&peers_c, 0o600);
    a.write("src/g.txt", "more");
    let o = run_in(&c.home(), None, &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(40), "a stranger got in: {}", text(&o.stderr));
    assert_eq!(snapshot(&srv), before, "a stranger's run changed the served directory");

    // A's peers file with a flipped psk: refused, nothing written.
    let t = fs::read_to_string(&peers_a).unwrap();
    let at = t.find("psk=").unwrap() + 4;
    let flipped = if &t[at..at + 1] == "0" { "1" } else { "0" };
    fs::write(&peers_a, format!("{}{flipped}{}", &t[..at], &t[at + 1..])).unwrap();
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(40), "a tampered psk authenticated: {}", text(&o.stderr));
    assert_eq!(snapshot(&srv), before, "a tampered pairing changed the served directory");

    // A peers file others can read is refused with the fix.
    set_mode(&peers_a, 0o644);
    let o = run_in(&a.home(), None, &["peers", "list"]);
    assert!(!o.status.success() && text(&o.stderr).contains("chmod 600"), "{}", text(&o.stderr));
}

#[test]
fn no_remember_stores_nothing_on_either_side() {
    let (a, b) = (TestDir::new(), TestDir::new());
    let src = a.mkdir("src");
    a.write("src/f.txt", "data");
    let srv = b.mkdir("srv");
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], "127.0.0.1:0");
    let slash = format!("{}/", src.display());
    let o = run_in(&a.home(), Some(CODE), &["sync", "-a", "-q", "--no-remember", "--addr", &l.addr, &slash, "nas:d/"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(peer_names(&a.home()).is_empty(), "--no-remember remembered the peer");
    assert!(peer_names(&b.home()).is_empty(), "the serving side remembered a --no-remember dialer");
    // So the next run without a code is refused (exit 40), not connected.
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(40), "{}", text(&o.stderr));
}

#[test]
fn a_daemon_stopped_by_sigterm_mid_push_and_restarted_lets_a_paired_client_with_retries_finish() {
    let (a, b) = (TestDir::new(), TestDir::new());
    let src = a.mkdir("src");
    a.write("src/small.txt", "pair first");
    let srv = b.mkdir("srv");
    let mut l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], "127.0.0.1:0");
    let addr = l.addr.clone();
    let slash = format!("{}/", src.display());
    let o = run_in(&a.home(), Some(CODE), &["sync", "-a", "-q", "--addr", &addr, &slash, "nas:d/"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let want = write_seeded_file(&src.join("big.bin"), 12, 96 << 20);
    // A paired push slowed to about 6 s, with retries; no code anywhere.
    let mut push = pcp_with_home(&a.home());
    push.args(["sync", "-a", "-q", "--retries", "30", "--bwlimit", "16M", "--addr", &addr, &slash, "nas:d/"]);
    let client = push.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    l.signal("TERM");
    let st = l.wait();
    assert_eq!(st.code(), Some(20), "SIGTERM is not exit 20:\n{}", l.stderr());
    // Restart the daemon on the same address; the client reconnects and completes.
    let _l2 = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], &addr);
    let out = wait_bounded(client, Duration::from_secs(120));
    assert!(out.status.success(), "the push did not complete after the restart: {}", text(&out.stderr));
    assert_eq!(hash_file(&srv.join("d/big.bin")), want, "the file differs after the restart");
}

/// Wait for `child` at most `bound`, killing it past that.
fn wait_bounded(mut child: std::process::Child, bound: Duration) -> Output {
    let deadline = std::time::Instant::now() + bound;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// `config.toml` in a sandboxed HOME.
fn write_config(home: &Path, text: &str) {
    let dir = home.join(".config/pcp");
    fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o700);
    fs::write(dir.join("config.toml"), text).unwrap();
}

#[test]
fn pcp_pair_hosts_and_joins_once_then_a_no_code_daemon_serves_only_the_paired() {
    let (a, b, stranger) = (TestDir::new(), TestDir::new(), TestDir::new());
    let mut host = Listener::spawn_cmd(&b, b.pcp(), CODE, &["pair", "laptop"], "127.0.0.1:0");
    let o = run_in(&a.home(), Some(CODE), &["pair", "nas", "--addr", &host.addr, "--as", "lap"]);
    assert!(o.status.success(), "joining failed: {}", text(&o.stderr));
    assert!(text(&o.stderr).contains("paired with nas"), "{}", text(&o.stderr));
    let st = host.wait();
    assert_eq!(st.code(), Some(0), "the hosting side did not exit 0:\n{}", host.stderr());
    assert!(host.stderr().contains("paired with laptop"), "{}", host.stderr());
    assert_eq!(peer_names(&a.home()), ["nas"]);
    assert_eq!(peer_names(&b.home()), ["laptop"], "NAME given to the host did not win over the offered name");

    // A daemon that takes no codes serves the pairing made by `pcp pair`, with no code.
    let src = a.mkdir("src");
    let srv = b.mkdir("srv");
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", "--no-code", srv.to_str().unwrap()], "127.0.0.1:0");
    let slash = format!("{}/", src.display());
    for i in 0..2 {
        a.write(format!("src/f{i}.txt"), format!("{i}"));
        let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, &slash, "nas:d/"]);
        assert!(o.status.success(), "paired run {i} failed: {}", text(&o.stderr));
        assert_trees_equal(&src, &srv.join("d"));
    }
    // A stranger holding the right code is refused by --no-code: exit 40, nothing stored.
    let o = run_in(&stranger.home(), Some(CODE), &["ls", "--addr", &l.addr, "x:"]);
    assert_eq!(code_of(&o), Some(40), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("takes no codes"), "{}", text(&o.stderr));
    assert_eq!(peer_names(&b.home()), ["laptop"]);
    assert!(!l.stderr().contains("Code:"), "--no-code printed a code:\n{}", l.stderr());
}

#[test]
fn a_paired_peer_reaches_only_its_roots_and_cannot_push_into_a_read_only_one() {
    let (a, b) = (TestDir::new(), TestDir::new());
    let src = a.mkdir("src");
    a.write("src/f.txt", "data");
    let srv = b.mkdir("srv");
    let other = b.mkdir("other");
    b.write("other/theirs.txt", "not yours");
    std::os::unix::fs::symlink(&other, srv.join("link")).unwrap();
    let slash = format!("{}/", src.display());
    // Paired while `serve srv` ran: its record holds srv as its root.
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], "127.0.0.1:0");
    let o = run_in(&a.home(), Some(CODE), &["sync", "-a", "-q", "--addr", &l.addr, &slash, "nas:d/"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let name = peer_names(&b.home()).remove(0);
    let other_before = snapshot(&other);
    // `peers list` shows what it may reach.
    let o = run_in(&b.home(), None, &["peers", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    let canon = fs::canonicalize(&srv).unwrap();
    assert_eq!(v["roots"][0]["path"], canon.to_str().unwrap(), "{v}");
    assert_eq!(v["roots"][0]["read_only"], false, "{v}");

    // Out of srv by path, as a paired peer: `..`, absolute, through a symlinked directory.
    for dest in ["nas:../other/", "nas:/tmp/pcp-escape/", "nas:link/", "nas:link/sub/"] {
        let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, &slash, dest]);
        assert!(!o.status.success(), "{dest} was accepted");
        assert_eq!(snapshot(&other), other_before, "{dest} wrote outside srv");
    }
    assert!(!Path::new("/tmp/pcp-escape").exists());
    drop(l);

    // A daemon serving another directory: this peer may not reach it (exit 40), push or pull.
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", other.to_str().unwrap()], "127.0.0.1:0");
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(40), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("may not reach"), "{}", text(&o.stderr));
    let pulled = a.join("pulled");
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, "nas:", pulled.to_str().unwrap()]);
    assert_eq!(code_of(&o), Some(40), "{}", text(&o.stderr));
    assert!(!pulled.join("theirs.txt").exists(), "a peer outside its roots pulled a file");
    assert_eq!(snapshot(&other), other_before);

    // The config file grants it, read-only, without a restart: pulls work, pushes exit 1.
    write_config(
        &b.home(),
        &format!("[peer.{name}]\nroots = [\"{}\", \"{}\"]\nread_only = true\n", srv.display(), other.display()),
    );
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, "nas:", pulled.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(fs::read_to_string(pulled.join("theirs.txt")).unwrap(), "not yours");
    let o = run_in(&a.home(), None, &["sync", "-a", "-q", "--addr", &l.addr, &slash, "nas:d/"]);
    assert_eq!(code_of(&o), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("read-only"), "{}", text(&o.stderr));
    assert_eq!(snapshot(&other), other_before, "a push into a read-only root wrote");
}

#[test]
fn the_config_file_gives_defaults_flags_win_and_a_malformed_one_names_file_line_and_key() {
    let (a, b) = (TestDir::new(), TestDir::new());
    let srv = b.mkdir("srv");
    b.write("srv/f.txt", "x");
    let l = Listener::spawn_cmd(&b, b.pcp(), CODE, &["serve", srv.to_str().unwrap()], "127.0.0.1:0");
    // The peer's address from its section: no --addr needed.
    write_config(&a.home(), &format!("retries = 1\n\n[peer.nas]\naddr = \"{}\"\ntimeout = 20\n", l.addr));
    let o = run_in(&a.home(), Some(CODE), &["ls", "--no-remember", "nas:"]);
    assert!(o.status.success() && text(&o.stdout).contains("f.txt"), "{}", text(&o.stderr));
    // A flag wins over the file: a dead address in the file, the right one on the command line.
    write_config(&a.home(), "[peer.nas]\naddr = \"127.0.0.1:9\"\n");
    let code2 = l.code(2);
    let o = run_in(&a.home(), Some(&code2), &["ls", "--no-remember", "--addr", &l.addr, "nas:"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // A typo is an error naming the file, the line and the key (exit 1), before any connection.
    write_config(&a.home(), "retries = 2\nbwlimt = \"1M\"\n");
    let o = run_in(&a.home(), Some(CODE), &["sync", "-a", "--addr", &l.addr, &format!("{}/", srv.display()), "nas:d/"]);
    assert_eq!(code_of(&o), Some(1), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("config.toml: line 2, key bwlimt") && e.lines().count() == 1, "{e}");
    // The serving side checks its own at start.
    write_config(&b.home(), "[peer.nas]\nread_only = \"yes\"\n");
    let o = run_in(&b.home(), None, &["serve", "--listen", "127.0.0.1:0", srv.to_str().unwrap()]);
    assert_eq!(code_of(&o), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("line 2, key read_only"), "{}", text(&o.stderr));
}
