//! Over the network: real `pcp` processes talking QUIC on 127.0.0.1 (port 0, the listener
//! prints its address). send/receive, push and pull against the rsync oracle, ls, wrong codes
//! (exit 40, code burnt), path confinement with a sentinel outside the served directory, and
//! resume after the receiver is SIGKILLed mid-file. Every wait is bounded.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::netns;
use crate::util::*;

const CODE_A: &str = "abandon-ability-able-about";
const CODE_B: &str = "zoo-zone-youth-wrist";
const CODE_C: &str = "cable-cactus-cage-cake";
/// Bound for a listener to print its address, and for one network command.
pub(crate) const NET_TIMEOUT: Duration = Duration::from_secs(60);

/// A listener (`pcp serve` or `pcp send`) in its own process group, stderr in a file.
pub(crate) struct Listener {
    child: Option<Child>,
    err: PathBuf,
    out: PathBuf,
    pub(crate) addr: String,
}

impl Listener {
    /// Spawn `pcp ARGS... --listen 127.0.0.1:0` with PCP_CODE=`code`; wait for its address.
    fn spawn(td: &TestDir, code: &str, args: &[&str]) -> Self {
        Self::spawn_cmd(td, td.pcp(), code, args, "127.0.0.1:0")
    }

    /// Like [`Listener::spawn`], with `cmd` as the `pcp` command (e.g. inside a namespace),
    /// listening on `listen` (empty: no `--listen`, the command's default).
    pub(crate) fn spawn_cmd(
        td: &TestDir,
        mut cmd: std::process::Command,
        code: &str,
        args: &[&str],
        listen: &str,
    ) -> Self {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let err = td.join(format!("listener-{n}.err"));
        let out = td.join(format!("listener-{n}.out"));
        cmd.args(args).env("PCP_CODE", code);
        if !listen.is_empty() {
            cmd.args(["--listen", listen]);
        }
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn listener");
        let deadline = Instant::now() + NET_TIMEOUT;
        let addr = loop {
            let text = fs::read_to_string(&err).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.starts_with("Listening on ")) {
                break line["Listening on ".len()..].trim().to_owned();
            }
            assert!(Instant::now() < deadline, "listener printed no address:\n{text}");
            thread::sleep(Duration::from_millis(20));
        };
        Self { child: Some(child), err, out, addr }
    }

    pub(crate) fn stdout(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub(crate) fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The `n`th code (from 1) the listener printed, waiting (bounded) until it is there.
    pub(crate) fn code(&self, n: usize) -> String {
        let deadline = Instant::now() + NET_TIMEOUT;
        loop {
            let text = self.stderr();
            if let Some(c) = text.lines().filter_map(|x| x.strip_prefix("Code: ")).nth(n - 1) {
                return c.to_owned();
            }
            assert!(Instant::now() < deadline, "the listener printed no code number {n}:\n{text}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Send `sig` (e.g. "TERM") to the listener process.
    pub(crate) fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("listener already reaped").id();
        let st = std::process::Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap();
        assert!(st.success(), "kill -{sig} {pid} failed");
    }

    /// Wait (bounded) for the listener to exit by itself.
    pub(crate) fn wait(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("listener already reaped");
        let deadline = Instant::now() + NET_TIMEOUT;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            if Instant::now() >= deadline {
                sigkill_group(child);
                self.child = None;
                panic!("listener did not exit within {NET_TIMEOUT:?}:\n{}", self.stderr());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigkill_group(&mut c);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.kill();
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// `pcp ARGS... --addr ADDR` with PCP_CODE=`code`, bounded.
fn dial(td: &TestDir, code: &str, addr: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = td.pcp();
    cmd.args(args).args(["--addr", addr]).env("PCP_CODE", code);
    run_timeout(&mut cmd, NET_TIMEOUT)
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// The `summary` event of a `--json` run.
fn summary(stdout: &[u8]) -> serde_json::Value {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "summary")
        .expect("no summary event")
}

#[test]
fn send_receive_tree() {
    require_rsync();
    let td = TestDir::new();
    let src = td.mkdir("payload");
    gen_tree_with(
        &src,
        7,
        &TreeSpec { symlinks: 0, max_total_bytes: 4 * MIB, max_file_bytes: MIB, ..TreeSpec::default() },
    );
    td.write("payload/notes.txt", "hello");
    std::os::unix::fs::symlink("notes.txt", src.join("inside-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("escaping-link")).unwrap();
    let mut l = Listener::spawn(&td, CODE_A, &["send", &s(&src)]);
    let dst = td.join("inbox");
    let out = dial(&td, CODE_A, &l.addr, &["receive", &s(&dst), "--yes"]);
    ok(&out, "pcp receive");
    assert!(l.wait().success(), "pcp send failed:\n{}", l.stderr());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("payload/notes.txt"), "the full list is shown:\n{err}");
    assert!(err.contains("outside the received tree"), "escaping links are announced:\n{err}");
    let got = dst.join("payload");
    assert!(fs::symlink_metadata(got.join("escaping-link")).is_err(), "escaping symlink dropped");
    assert_eq!(fs::read_link(got.join("inside-link")).unwrap(), Path::new("notes.txt"));
    // Oracle: rsync with --safe-links drops the same links.
    let expected = td.join("expected");
    run_ok(td.rsync().args(["-a", "--safe-links"]).arg(&src).arg(slash(&expected)));
    assert_same_content(&expected.join("payload"), &got);

    // No terminal and no --yes: an error, not a hang.
    let mut l = Listener::spawn(&td, CODE_B, &["send", &s(&src)]);
    let out = dial(&td, CODE_B, &l.addr, &["receive", &s(&td.join("inbox2"))]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    l.kill();
    assert!(!td.join("inbox2").exists());
}

/// Push and pull with --delete give what a local rsync gives.
#[test]
fn push_and_pull_sync_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let src = td.mkdir("src");
    gen_tree(&src, 0x5eed);
    let srv = td.mkdir("srv");
    let junk = |root: &Path| {
        fs::create_dir_all(root.join("dst/old-dir")).unwrap();
        fs::write(root.join("dst/old-dir/x"), "stale").unwrap();
        fs::write(root.join("dst/stale.txt"), "stale").unwrap();
    };
    junk(&srv);
    let oracle = td.mkdir("oracle");
    junk(&oracle);
    run_ok(td.rsync().args(["-a", "--delete"]).arg(slash(&src)).arg(slash(&oracle.join("dst"))));

    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", "--delete", &format!("{}/", s(&src)), "peer:dst/"]);
    ok(&out, "push");
    assert!(l.wait().success(), "serve failed:\n{}", l.stderr());
    if let Err(e) = check_trees_equal(&oracle.join("dst"), &srv.join("dst")) {
        panic!("push differs from rsync (A = rsync, B = pcp):\n{e}");
    }

    // Pull it back into a destination with junk of its own.
    let pulled = td.mkdir("pulled");
    junk(&pulled);
    let oracle2 = td.mkdir("oracle2");
    junk(&oracle2);
    run_ok(td.rsync().args(["-a", "--delete"]).arg(slash(&srv.join("dst"))).arg(slash(&oracle2.join("dst"))));
    let mut l = Listener::spawn(&td, CODE_B, &["serve", &s(&srv), "--once", "--read-only"]);
    let out =
        dial(&td, CODE_B, &l.addr, &["sync", "-a", "--delete", "peer:dst/", &format!("{}/", s(&pulled.join("dst")))]);
    ok(&out, "pull");
    assert!(l.wait().success(), "serve failed:\n{}", l.stderr());
    if let Err(e) = check_trees_equal(&oracle2.join("dst"), &pulled.join("dst")) {
        panic!("pull differs from rsync (A = rsync, B = pcp):\n{e}");
    }

    // --read-only refuses a push, and nothing is written.
    let before = snapshot(&srv);
    let mut l = Listener::spawn(&td, CODE_C, &["serve", &s(&srv), "--once", "--read-only"]);
    let out = dial(&td, CODE_C, &l.addr, &["sync", "-a", &format!("{}/", s(&src)), "peer:other/"]);
    // The push started before the answer (a round trip earlier); the refusal still wins, with
    // its own exit code and reason.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"), "{}", String::from_utf8_lossy(&out.stderr));
    l.wait();
    assert!(snapshot(&srv) == before, "a read-only serve changed its directory");
}

#[test]
fn ls_lists_a_peer_directory() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/a.txt", "12345");
    td.mkdir("srv/sub");
    std::os::unix::fs::symlink("a.txt", srv.join("l")).unwrap();
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_A, &l.addr, &["ls", "peer:"]);
    ok(&out, "ls");
    assert!(l.wait().success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "., a.txt, l, sub:\n{text}");
    assert!(lines[1].starts_with("-rw") && lines[1].contains(" 5 ") && lines[1].ends_with(" a.txt"), "{text}");
    assert!(lines[2].starts_with('l') && lines[2].ends_with("l -> a.txt"), "{text}");
    assert!(lines[3].starts_with('d') && lines[3].ends_with(" sub"), "{text}");
}

/// security.md §G: a wrong code makes both sides say "code rejected" and exit 40, and burns the
/// code: the right code afterwards fails too.
#[test]
fn wrong_code_exits_40_and_burns_the_code() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/f", "x");
    // One-shot send: both sides exit 40.
    let mut l = Listener::spawn(&td, CODE_A, &["send", &s(&srv.join("f"))]);
    let out = dial(&td, CODE_B, &l.addr, &["receive", &s(&td.join("in")), "--yes"]);
    assert_eq!(out.status.code(), Some(40), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("code rejected"));
    assert_eq!(l.wait().code(), Some(40), "{}", l.stderr());
    assert!(l.stderr().contains("code rejected"));

    // serve --once: exit 40 as well.
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_B, &l.addr, &["ls", "peer:"]);
    assert_eq!(out.status.code(), Some(40));
    assert_eq!(l.wait().code(), Some(40), "{}", l.stderr());

    // serve without --once keeps running: the burnt code stays burnt (a fresh one is printed).
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
    let out = dial(&td, CODE_B, &l.addr, &["ls", "peer:"]);
    assert_eq!(out.status.code(), Some(40));
    let out = dial(&td, CODE_A, &l.addr, &["ls", "peer:"]);
    assert_eq!(
        out.status.code(),
        Some(40),
        "the right code after a wrong one must fail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        l.stderr().lines().filter(|x| x.starts_with("Code: ")).count() >= 2,
        "a fresh code is printed:\n{}",
        l.stderr()
    );
    l.kill();
}

/// Whether the dialing pcp sends the request for `peer:PATH` at all (a path that leaves the
/// served directory by its text is refused before connecting).
fn reaches_listener(p: &str) -> bool {
    pcp::proto::session::PeerPath::parse(p.trim_start_matches("peer:")).is_ok()
}

/// T1/T2/T36, CVE-2024-12086-style: a peer asking for `../x`, an absolute path or a path
/// through a symlink out of the served directory is refused; nothing outside is read or written.
#[test]
fn peer_paths_outside_the_served_dir_are_refused() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/ok.txt", "fine");
    let outside = td.mkdir("outside");
    td.write("outside/secret.txt", "SENTINEL");
    std::os::unix::fs::symlink(&outside, srv.join("escape")).unwrap();
    let src = td.mkdir("src");
    td.write("src/evil.txt", "evil");
    let before = fingerprint(&outside, &[]);
    let secret = s(&outside.join("secret.txt"));
    let pulls = ["peer:../outside/secret.txt", "peer:../outside/", &format!("peer:{secret}"), "peer:escape/secret.txt"];
    let pushes = ["peer:../outside/", "peer:escape/", "peer:/tmp/pcp-abs-x/", "peer:escape/evil.txt"];
    let codes = [
        "abandon-ability-able-about",
        "abandon-ability-able-above",
        "abandon-ability-able-absent",
        "abandon-ability-able-absorb",
    ];
    for (i, p) in pulls.iter().enumerate() {
        let got = td.join(format!("got{i}"));
        let mut l = Listener::spawn(&td, codes[i], &["serve", &s(&srv), "--once"]);
        let out = dial(&td, codes[i], &l.addr, &["sync", "-a", p, &format!("{}/", s(&got))]);
        assert!(!out.status.success(), "pull of {p} must be refused");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("refused"),
            "{p}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A path that leaves the served directory by its text is refused by pcp itself,
        // before the code is spent (the listener's own refusal of such raw requests is
        // `attack_net::attack_raw_request_paths_outside_served_dir`); one through a symlink
        // is refused by the listener.
        if reaches_listener(p) {
            l.wait();
        }
        assert!(!any_file_contains(&got, "SENTINEL"), "{p}: the sentinel was read");
        assert!(!got.join("secret.txt").exists());
    }
    for (i, p) in pushes.iter().enumerate() {
        let mut l = Listener::spawn(&td, codes[i], &["serve", &s(&srv), "--once"]);
        let out = dial(&td, codes[i], &l.addr, &["sync", "-a", &format!("{}/", s(&src)), p]);
        assert!(!out.status.success(), "push to {p} must be refused");
        if reaches_listener(p) {
            l.wait();
        }
    }
    let l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_A, &l.addr, &["ls", "peer:../outside"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"), "{}", String::from_utf8_lossy(&out.stderr));
    drop(l);
    assert!(fingerprint(&outside, &[]) == before, "something outside the served directory changed");
    assert!(!Path::new("/tmp/pcp-abs-x").exists());
    assert_eq!(fs::read_to_string(srv.join("ok.txt")).unwrap(), "fine");
}

/// T17 over the network: SIGKILL the receiving `pcp serve` when about half of a large file has
/// arrived; a rerun (fresh processes, fresh code) sends at most 52% of the file.
#[test]
fn resume_after_receiver_is_killed() {
    const SIZE: u64 = 2048 * MIB;
    let td = TestDir::new();
    td.mkdir("src");
    let hash = write_seeded_file(&td.join("src/big.bin"), 42, SIZE);
    let srv = td.mkdir("srv");
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let mut client = td.pcp();
    client
        .args([
            "sync",
            "-a",
            "--retries",
            "0",
            "--no-compress",
            &s(&td.join("src/big.bin")),
            "peer:in/",
            "--addr",
            &l.addr,
        ])
        .env("PCP_CODE", CODE_A);
    let mut client = spawn_in_own_group(&mut client);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let biggest = fs::read_dir(srv.join("in"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".pcp-tmp."))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if biggest >= SIZE * 55 / 100 {
            break;
        }
        assert!(Instant::now() < deadline, "the transfer did not reach 55% in time:\n{}", l.stderr());
        if let Ok(Some(st)) = client.try_wait() {
            panic!("the client ended before the kill ({st}); make the file bigger:\n{}", l.stderr());
        }
        thread::sleep(Duration::from_millis(5));
    }
    // The destination records received chunks in its manifest at most every 500 ms, on the
    // next chunk. Pause the sender so the receiver drains what is in flight, let one more
    // chunk through to trigger that flush, then kill the receiver: the kill lands just after
    // a flush instead of up to 500 ms of data after one.
    let group = |sig: &str| {
        let _ = std::process::Command::new("kill").args([sig, "--", &format!("-{}", client.id())]).status();
    };
    group("-STOP");
    thread::sleep(Duration::from_millis(700));
    group("-CONT");
    thread::sleep(Duration::from_millis(30));
    l.kill();
    sigkill_group(&mut client);
    assert!(!srv.join("in/big.bin").exists(), "killed before the commit");

    let mut l = Listener::spawn(&td, CODE_B, &["serve", &s(&srv), "--once"]);
    let mut cmd = td.pcp();
    cmd.args(["sync", "-a", "--json", "--no-compress", &s(&td.join("src/big.bin")), "peer:in/", "--addr", &l.addr])
        .env("PCP_CODE", CODE_B);
    let out = run_timeout(&mut cmd, Duration::from_secs(300));
    ok(&out, "rerun");
    assert!(l.wait().success(), "{}", l.stderr());
    assert_eq!(hash_file(&srv.join("in/big.bin")), hash);
    let sum = summary(&out.stdout);
    let sent = sum["bytes_sent"].as_u64().unwrap();
    let wire = sum["bytes_wire"].as_u64().unwrap();
    eprintln!("resume: the rerun sent {sent} bytes ({wire} on the wire) of {SIZE}");
    assert!(
        sent * 100 <= SIZE * 52 && wire * 100 <= SIZE * 52,
        "the rerun sent {sent} bytes ({wire} on the wire) of {SIZE}: more than 52%"
    );
}

/// Whether any regular file under `root` contains `needle`.
fn any_file_contains(root: &Path, needle: &str) -> bool {
    if !root.exists() {
        return false;
    }
    list_tree(root).iter().any(|(rel, t)| {
        *t == EntryType::File && fs::read(root.join(rel)).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
    })
}

/// `--retries`: the connection drops mid-file (the destination closes it, via the
/// `PCP_TEST_DROP_AFTER` fault hook); the dialer reconnects with the session's resume secret
/// (no new code) and the transfer continues from the chunks already received.
#[test]
fn dropped_connection_reconnects_and_continues() {
    const SIZE: u64 = 256 * MIB;
    const DROP: u64 = 160 * MIB;
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let hash = write_seeded_file(&srv.join("big.bin"), 7, SIZE);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once", "--read-only"]);
    let got = td.join("got");
    let mut cmd = td.pcp();
    cmd.args(["sync", "-a", "--json", "--no-compress", "peer:big.bin", &format!("{}/", s(&got)), "--addr", &l.addr])
        .env("PCP_CODE", CODE_A)
        .env("PCP_TEST_DROP_AFTER", DROP.to_string());
    let out = run_timeout(&mut cmd, Duration::from_secs(300));
    ok(&out, "pull with a dropped connection");
    assert!(l.wait().success(), "{}", l.stderr());
    assert_eq!(hash_file(&got.join("big.bin")), hash);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(r#""resumed":true"#), "the second connection resumed the session:\n{stdout}");
    assert!(stdout.contains("reconnecting"), "a warning says so:\n{stdout}");
    let sent = summary(&out.stdout)["bytes_sent"].as_u64().unwrap();
    eprintln!("reconnect: {sent} bytes received in all for a {SIZE}-byte file dropped at {DROP}");
    // The destination records what it got when the connection fails, so next to nothing is
    // sent twice: at most what was in flight (the engine's inbound queue, 64 messages of at
    // most one 256 KiB chunk each). A restart would send SIZE + DROP.
    let in_flight = 64 * 256 * KIB;
    assert!(sent <= SIZE + in_flight, "the reconnect resent too much: {sent} bytes for a {SIZE}-byte file");
}

/// `--retries` over a really cut link: in a namespace of its own, nftables drops every packet
/// to and from the listener's port for longer than `--timeout`, so both ends see the
/// connection die; when the rule goes, the dialer reconnects with the session's resume secret
/// and finishes from the chunks already received.
#[test]
fn cut_link_reconnects_with_retries() {
    // Cut at a quarter: what is left (120 MiB) is more than QUIC's connection window (32 MiB),
    // which the source may fill ahead of the destination's --bwlimit.
    const SIZE: u64 = 160 * MIB;
    let Some(ns) = netns::Netns::new("cut-link") else { return };
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let hash = write_seeded_file(&srv.join("big.bin"), 11, SIZE);
    let mut l = Listener::spawn_cmd(
        &td,
        ns.pcp(&td.home(), td.path()),
        CODE_A,
        &["serve", &s(&srv), "--once", "--read-only"],
        "127.0.0.1:0",
    );
    let port = l.addr.rsplit(':').next().unwrap().to_owned();
    let got = td.join("got");
    let out_path = td.join("client.out");
    let mut cmd = ns.pcp(&td.home(), td.path());
    cmd.args(["sync", "-a", "--json", "--no-compress", "--timeout", "2", "--retries", "8", "--bwlimit", "16M"])
        .args(["peer:big.bin", &format!("{}/", s(&got)), "--addr", &l.addr])
        .env("PCP_CODE", CODE_A)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null());
    let mut client = cmd.spawn().expect("spawn client");
    // Wait until about a quarter has arrived.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have = fs::read_dir(&got)
            .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).max().unwrap_or(0))
            .unwrap_or(0);
        if have >= SIZE / 4 {
            break;
        }
        if let Ok(Some(st)) = client.try_wait() {
            panic!(
                "the client ended before the cut ({st}):
{}",
                l.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the transfer did not start in time:
{}",
            l.stderr()
        );
        thread::sleep(Duration::from_millis(10));
    }
    ns.nft(&format!(
        "table inet pcpcut {{\n chain in {{\n  type filter hook input priority 0;\n  udp dport {port} drop\n  udp sport {port} drop\n }}\n}}\n"
    ));
    // Longer than --timeout: both ends give the connection up.
    thread::sleep(Duration::from_secs(4));
    assert!(client.try_wait().unwrap().is_none(), "the client gave up instead of retrying");
    ns.nft("delete table inet pcpcut");
    let deadline = Instant::now() + Duration::from_secs(120);
    let st = loop {
        if let Some(st) = client.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            sigkill_group(&mut client);
            panic!(
                "the client did not finish after the link came back:
{}",
                l.stderr()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = fs::read_to_string(&out_path).unwrap();
    assert!(
        st.success(),
        "client failed ({st}):
{stdout}
--- listener ---
{}",
        l.stderr()
    );
    assert!(l.wait().success(), "{}", l.stderr());
    assert_eq!(hash_file(&got.join("big.bin")), hash);
    assert!(
        stdout.contains("reconnecting"),
        "a warning says it reconnected:
{stdout}"
    );
    assert!(
        stdout.contains(r#""resumed":true"#),
        "the second connection resumed the session:
{stdout}"
    );
    let sent = summary(stdout.as_bytes())["bytes_sent"].as_u64().unwrap();
    eprintln!("cut link: {sent} bytes received in all for a {SIZE}-byte file");
    // At most what was in flight is sent twice (see dropped_connection_reconnects_and_continues);
    // a restart would send SIZE + SIZE / 2.
    assert!(sent <= SIZE + SIZE / 4, "the reconnect resent too much: {sent} bytes for a {SIZE}-byte file");
}

/// Path MTU discovery on a real link smaller than its search range: two namespaces joined by a
/// veth pair with a 1280-byte MTU. Probes up to 6500 bytes are dropped by the link, the search
/// settles below, and the transfer in both directions completes intact.
#[test]
fn transfer_over_a_small_mtu_link() {
    const SIZE: u64 = 24 * MIB;
    let Some((na, nb)) = netns::Netns::pair("mtu", 1280) else { return };
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let hash = write_seeded_file(&td.join("src/big.bin"), 13, SIZE);
    // serve (not --once): a fresh code after each session; the second one is read from stderr.
    let mut l = Listener::spawn_cmd(&td, na.pcp(&td.home(), td.path()), CODE_A, &["serve", &s(&srv)], "198.51.100.1:0");
    let dial_b = |code: &str, args: &[&str]| {
        let mut cmd = nb.pcp(&td.home(), td.path());
        cmd.args(args).args(["--addr", &l.addr, "--json", "--no-compress"]).env("PCP_CODE", code);
        run_timeout(&mut cmd, NET_TIMEOUT)
    };
    let push = dial_b(CODE_A, &["sync", "-a", &format!("{}/", s(&td.join("src"))), "peer:in/"]);
    ok(&push, "push over a 1280-byte MTU link");
    assert_eq!(hash_file(&srv.join("in/big.bin")), hash);
    let second = l.code(2);
    let pull = dial_b(&second, &["sync", "-a", "peer:in/big.bin", &format!("{}/", s(&td.join("back")))]);
    ok(&pull, "pull over a 1280-byte MTU link");
    assert_eq!(hash_file(&td.join("back/big.bin")), hash);
    l.kill();
}

/// `pcp serve` without `--once` prints a fresh code after each use and serves peers at the same
/// time: an `ls` with the second code works while a push with the first is still running.
#[test]
fn serve_gives_each_peer_a_fresh_code_and_serves_them_concurrently() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.mkdir("src");
    let hash = write_seeded_file(&td.join("src/big.bin"), 3, 128 * MIB);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
    let mut push = td.pcp();
    push.args(["sync", "-a", &s(&td.join("src/big.bin")), "peer:in/", "--addr", &l.addr]).env("PCP_CODE", CODE_A);
    let push = thread::spawn(move || run_timeout(&mut push, NET_TIMEOUT));
    let second = l.code(2);
    assert_ne!(second, CODE_A);
    let out = dial(&td, &second, &l.addr, &["ls", "peer:"]);
    ok(&out, "ls with the second code");
    ok(&push.join().unwrap(), "push with the first code");
    assert_eq!(hash_file(&srv.join("in/big.bin")), hash);
    // The first code is used up.
    let out = dial(&td, CODE_A, &l.addr, &["ls", "peer:"]);
    assert_eq!(out.status.code(), Some(40));
    l.kill();
}

/// Per-file failures at the serving destination reach the pushing dialer: both exit 23.
/// Needs an immutable directory (`chattr +i`, root on ext4/xfs); otherwise skipped loudly.
#[test]
fn partial_failure_at_the_peer_exits_23_on_both_sides() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let locked = td.mkdir("srv/dst/locked");
    td.mkdir("src/locked");
    td.write("src/locked/f", "blocked");
    td.write("src/ok.txt", "fine");
    fn chattr(flag: &str, p: &Path) -> bool {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(p)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success())
    }
    /// Makes the directory mutable again even if the test panics, so TestDir can remove it.
    struct Unlock(PathBuf);
    impl Drop for Unlock {
        fn drop(&mut self) {
            chattr("-i", &self.0);
        }
    }
    if !chattr("+i", &locked) {
        eprintln!("SKIPPED (needs chattr +i: root on a filesystem with immutable files)");
        return;
    }
    let unlock = Unlock(locked);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", &format!("{}/", s(&td.join("src"))), "peer:dst/"]);
    let st = l.wait();
    drop(unlock);
    assert_eq!(out.status.code(), Some(23), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(st.code(), Some(23), "{}", l.stderr());
    assert_eq!(fs::read_to_string(srv.join("dst/ok.txt")).unwrap(), "fine");
}

/// A pseudo-terminal: the test holds the master side (non-blocking) and gives pcp the slave
/// side as stdin and stderr, so `is_terminal()` holds and the code prompt runs for real.
struct Pty {
    master: std::os::fd::OwnedFd,
    slave: std::os::fd::OwnedFd,
    /// Everything read from the master so far: what pcp printed and what the terminal echoed.
    seen: Vec<u8>,
}

impl Pty {
    fn open() -> Self {
        use rustix::fs::{Mode, OFlags};
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("open a pseudo-terminal");
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())
            .expect("open the pseudo-terminal's slave side");
        rustix::io::ioctl_fionbio(&master, true).unwrap();
        Self { master, slave, seen: Vec::new() }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.slave.try_clone().unwrap())
    }

    /// Read what is there without blocking.
    fn pump(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = rustix::io::read(&self.master, &mut buf) {
            if n == 0 {
                break;
            }
            self.seen.extend_from_slice(&buf[..n]);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Wait (bounded) until the terminal shows `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + NET_TIMEOUT;
        loop {
            self.pump();
            if self.text().contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "the terminal never showed {needle:?}:\n{}", self.text());
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn type_line(&self, line: &str) {
        let bytes = format!("{line}\n");
        let n = rustix::io::write(&self.master, bytes.as_bytes()).unwrap();
        assert_eq!(n, bytes.len());
    }

    fn echo_on(&self) -> bool {
        rustix::termios::tcgetattr(&self.slave).unwrap().local_modes.contains(rustix::termios::LocalModes::ECHO)
    }

    /// Wait (bounded) for `child` to exit, reading the terminal meanwhile.
    fn wait(&mut self, child: &mut Child) -> ExitStatus {
        let deadline = Instant::now() + NET_TIMEOUT;
        loop {
            self.pump();
            if let Some(st) = child.try_wait().unwrap() {
                self.pump();
                return st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("pcp did not exit:\n{}", self.text());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The code typed at the prompt never shows on the terminal (like a password), the prompt
/// still reads it, and the terminal echoes again once pcp is done (security.md §I).
#[test]
fn code_typed_at_the_prompt_is_not_echoed() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/hello.txt", "hi");
    let mut l = Listener::spawn(&td, CODE_A, &["serve", "--once", &s(&srv)]);
    let mut pty = Pty::open();
    assert!(pty.echo_on(), "a new pseudo-terminal echoes");
    let mut ls = td.pcp();
    ls.args(["ls", "peer:", "--addr", &l.addr]).stdin(pty.stdio()).stderr(pty.stdio()).stdout(Stdio::piped());
    let mut child = ls.spawn().unwrap();
    pty.wait_for("Enter code");
    assert!(!pty.echo_on(), "echo is off while the prompt waits");
    pty.type_line(CODE_A);
    let st = pty.wait(&mut child);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(st.success(), "ls with the typed code failed ({st}):\n{}", pty.text());
    assert!(stdout.contains("hello.txt"), "the listing arrived:\n{stdout}");
    let secret = &CODE_A[CODE_A.find('-').unwrap() + 1..];
    assert!(!pty.text().contains(secret), "the code was echoed:\n{}", pty.text());
    assert!(pty.echo_on(), "echo is back on after pcp exits");
    assert!(l.wait().success(), "{}", l.stderr());
}

/// The "Verifier: ..." words of a stderr text.
fn verifier_words(text: &str) -> Option<String> {
    let at = text.find("Verifier: ")? + "Verifier: ".len();
    Some(text[at..].lines().next()?.trim().to_owned())
}

/// `--verify`: the dialer shows the 4 verifier words and asks before anything is sent; they are
/// the words the listener prints. "y" goes on; "n" stops with exit 40 on both sides.
#[test]
fn verify_shows_the_listeners_words_and_asks() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/hello.txt", "hi");
    for (code, answer) in [(CODE_A, "y"), (CODE_B, "n")] {
        let mut l = Listener::spawn(&td, code, &["serve", "--once", &s(&srv)]);
        let mut pty = Pty::open();
        let mut ls = td.pcp();
        ls.args(["ls", "peer:", "--verify", "--addr", &l.addr])
            .env("PCP_CODE", code)
            .stdin(pty.stdio())
            .stderr(pty.stdio())
            .stdout(Stdio::piped());
        let mut child = ls.spawn().unwrap();
        pty.wait_for("these words?");
        let ours = verifier_words(&pty.text()).expect("the dialer shows the words");
        assert_eq!(ours.split(' ').count(), 4, "{ours}");
        let deadline = Instant::now() + NET_TIMEOUT;
        let theirs = loop {
            if let Some(w) = verifier_words(&l.stderr()) {
                break w;
            }
            assert!(Instant::now() < deadline, "the listener printed no verifier:\n{}", l.stderr());
            thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(ours, theirs, "both sides derive the same words");
        pty.type_line(answer);
        let st = pty.wait(&mut child);
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
        let lst = l.wait();
        if answer == "y" {
            assert!(st.success(), "ls after yes failed ({st}):\n{}", pty.text());
            assert!(stdout.contains("hello.txt"), "{stdout}");
            assert!(lst.success(), "{}", l.stderr());
        } else {
            assert_eq!(st.code(), Some(40), "{}", pty.text());
            assert!(!stdout.contains("hello.txt"), "nothing was listed after no: {stdout}");
            assert_eq!(lst.code(), Some(40), "{}", l.stderr());
            assert!(l.stderr().contains("declined the verifier"), "{}", l.stderr());
        }
    }
}

/// Ctrl-C (SIGINT) at the code prompt exits at once with the interrupt code (20), and the
/// terminal echoes again: the signal handler restores it before the process ends.
#[test]
fn interrupt_at_the_code_prompt_restores_the_echo() {
    let td = TestDir::new();
    let mut pty = Pty::open();
    let mut ls = td.pcp();
    // Nothing listens there; the prompt comes first and the command never gets further.
    ls.args(["ls", "peer:", "--addr", "127.0.0.1:9"]).stdin(pty.stdio()).stderr(pty.stdio()).stdout(Stdio::null());
    let mut child = ls.spawn().unwrap();
    pty.wait_for("Enter code");
    assert!(!pty.echo_on(), "echo is off while the prompt waits");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let sent = Instant::now();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let st = pty.wait(&mut child);
    assert_eq!(st.code(), Some(20), "{}", pty.text());
    assert!(pty.echo_on(), "echo is back on after the interrupt:\n{}", pty.text());
    assert!(sent.elapsed() < Duration::from_millis(2500), "exit at once, not after the 3 s grace of a transfer");
}

/// With no terminal, no PCP_CODE and no --code-file, the dialer fails at once instead of
/// waiting for a prompt nobody sees; the message names the ways to give a code.
#[test]
fn no_terminal_and_no_code_is_an_error_not_a_prompt() {
    let td = TestDir::new();
    let out = run_timeout(td.pcp().args(["ls", "peer:", "--addr", "127.0.0.1:9"]), NET_TIMEOUT);
    // An unpaired peer with no code: an authentication error (exit 40) saying how to pair.
    assert_eq!(out.status.code(), Some(40));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no code") && err.contains("PCP_CODE") && err.contains("--code-file"), "{err}");
    assert!(err.contains("not paired") && err.contains("pairs the two"), "{err}");
    assert!(!err.contains("Enter code"), "{err}");
}

/// Slow-loris guard (security.md §F): while two connections from one address sit in the
/// handshake without sending anything, a third from that address is refused at once, before
/// TLS, with a message that says why; `pcp serve` keeps going, and once the stalled
/// connections are gone the same address gets through with the code.
#[test]
fn third_stalled_handshake_from_one_address_is_refused() {
    use pcp::net::endpoint::{Bulk, Endpoint};
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/hello.txt", "hi");
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
    let addr: std::net::SocketAddr = l.addr.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let client = {
        let _g = rt.enter();
        Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Receive, pcp::net::endpoint::IDLE_TIMEOUT).unwrap()
    };
    let dial_raw =
        || rt.block_on(async { tokio::time::timeout(NET_TIMEOUT, client.dial(addr)).await }).expect("dial bounded");
    // Two connections finish TLS, then send nothing: both wait in pcp's handshake.
    let c1 = dial_raw().expect("first connection");
    let c2 = dial_raw().expect("second connection");
    let start = Instant::now();
    let err = format!("{:#}", dial_raw().expect_err("a third connection from the same address"));
    assert!(err.contains("busy") && err.contains("too many handshakes from your address"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "refused at once, not after a timeout");
    // A real dialer from the same address is told the same, with the connection exit code.
    let out = dial(&td, CODE_A, &l.addr, &["ls", "peer:"]);
    assert_eq!(out.status.code(), Some(10), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too many handshakes from your address"));
    // The stalled connections go; the refused ones never spent the code.
    c1.close(0u32.into(), b"bye");
    c2.close(0u32.into(), b"bye");
    let deadline = Instant::now() + NET_TIMEOUT;
    let out = loop {
        let out = dial(&td, CODE_A, &l.addr, &["ls", "peer:"]);
        if out.status.success() || Instant::now() >= deadline {
            break out;
        }
        // The listener may not have seen the close yet.
        assert!(String::from_utf8_lossy(&out.stderr).contains("busy"), "{}", String::from_utf8_lossy(&out.stderr));
        thread::sleep(Duration::from_millis(100));
    };
    ok(&out, "ls after the stalled connections closed");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello.txt"));
    rt.block_on(client.shutdown());
    l.kill();
}

/// Adaptive compression: zstd runs while the link is the bottleneck. Under --bwlimit the
/// pacer is the bottleneck, so compressible data goes out compressed (on a fast loopback
/// without a limit it is not, which the speed figures rely on).
#[test]
fn rate_limited_push_compresses_compressible_data() {
    let td = TestDir::new();
    let mut text = String::new();
    let mut i = 0u64;
    while text.len() < 6 << 20 {
        text.push_str(&format!("2026-11-24 12:00:{:02} INFO request {i} served in {} ms\n", i % 60, i % 997));
        i += 1;
    }
    td.write("src/app.log", &text);
    let srv = td.mkdir("srv");
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", "--json", "--bwlimit=3M", "src/", "peer:dst/"]);
    ok(&out, "rate-limited push");
    assert!(l.wait().success(), "{}", l.stderr());
    assert_eq!(fs::read_to_string(srv.join("dst/app.log")).unwrap(), text);
    let sum = summary(&out.stdout);
    let (sent, wire) = (sum["bytes_sent"].as_u64().unwrap(), sum["bytes_wire"].as_u64().unwrap());
    eprintln!("rate-limited push of {sent} bytes: {wire} on the wire");
    assert!(wire * 2 < sent, "compressible data under --bwlimit went out uncompressed: {wire} of {sent}");
}

/// Bytes allocated to pcp's temp files under `dir` (what has really arrived of a file being
/// received; a temp file can have holes).
fn temp_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    if !dir.exists() {
        return 0;
    }
    list_tree(dir)
        .iter()
        .filter(|(rel, _)| rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".pcp-tmp.")))
        .filter_map(|(rel, _)| fs::symlink_metadata(dir.join(rel)).ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Interrupt a push or a pull once ~40% of the file has arrived, while `pcp serve` keeps
/// running; rerun with the code serve prints next. The interrupted run exits 20 at once (it
/// closes its connection, so serve's side stops too); the rerun sends at most what had not
/// arrived plus what can be in flight, and no temp file is left anywhere.
fn interrupt_while_serve_keeps_running(push: bool, sig: &str) {
    const SIZE: u64 = 32 * MIB;
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let src = td.mkdir("src");
    let got = td.join("got");
    let origin = if push { src.join("big.bin") } else { srv.join("big.bin") };
    let hash = write_seeded_file(&origin, 11, SIZE);
    let l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
    let args: Vec<String> = if push {
        vec!["src/".into(), "peer:dst/".into()]
    } else {
        vec!["peer:big.bin".into(), format!("{}/", s(&got))]
    };
    let recv_dir = if push { srv.join("dst") } else { got.clone() };
    let mut cmd = td.pcp();
    cmd.args(["sync", "-a", "--no-compress", "--bwlimit=8M"]).args(&args).args(["--addr", &l.addr]);
    cmd.env("PCP_CODE", CODE_A);
    let mut child = spawn_in_own_group(&mut cmd);
    let deadline = Instant::now() + NET_TIMEOUT;
    let mut arrived = 0;
    while arrived < SIZE * 2 / 5 {
        assert!(Instant::now() < deadline, "the transfer did not get going");
        assert!(child.try_wait().unwrap().is_none(), "the transfer ended before it was interrupted");
        thread::sleep(Duration::from_millis(20));
        arrived = temp_bytes(&recv_dir);
    }
    let t0 = Instant::now();
    let st = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "the interrupted run did not exit");
        thread::sleep(Duration::from_millis(5));
    };
    let took = t0.elapsed();
    eprintln!("{sig} after {arrived} of {SIZE} bytes: exited {status:?} in {took:?}");
    if sig == "-INT" {
        assert_eq!(status.code(), Some(20), "Ctrl-C exits 20");
        assert!(took < Duration::from_secs(3), "Ctrl-C took {took:?}");
    }
    let code = l.code(2);
    let out = dial(&td, &code, &l.addr, &["sync", "-a", "--json", "--no-compress", &args[0], &args[1]]);
    ok(&out, "the rerun");
    let dest_file = if push { srv.join("dst/big.bin") } else { got.join("big.bin") };
    assert_eq!(hash_file(&dest_file), hash);
    let sent = summary(&out.stdout)["bytes_sent"].as_u64().unwrap();
    let in_flight = 64 * 256 * KIB;
    eprintln!("rerun sent {sent} bytes; {} had arrived before the interrupt", arrived);
    assert!(sent <= SIZE - arrived + in_flight, "the rerun resent too much: {sent} bytes, {arrived} had arrived");
    assert_eq!(temp_bytes(&recv_dir), 0, "a temp file was left behind");
    assert!(l.stderr().lines().all(|x| !x.contains("panicked")), "{}", l.stderr());
}

#[test]
fn ctrl_c_push_while_serve_keeps_running_resumes() {
    interrupt_while_serve_keeps_running(true, "-INT");
}

#[test]
fn ctrl_c_pull_while_serve_keeps_running_resumes() {
    interrupt_while_serve_keeps_running(false, "-INT");
}

#[test]
fn sigkill_push_while_serve_keeps_running_resumes() {
    interrupt_while_serve_keeps_running(true, "-KILL");
}

#[test]
fn sigkill_pull_while_serve_keeps_running_resumes() {
    interrupt_while_serve_keeps_running(false, "-KILL");
}

/// Faults over the network: SIGKILL the dialer or the listener at seeded random moments of a
/// push and of a pull (5 each, 20 in all). After every kill each destination file is whole,
/// its old or its new version (never a partial file under its final name), nothing outside
/// the destination changed, and a final uninterrupted run leaves the destination identical.
#[test]
fn sigkill_either_side_at_random_moments_push_and_pull() {
    use rand::{Rng, SeedableRng};
    const FILES: u64 = 3;
    const LEN: u64 = 4 * MIB;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed_f417);
    let (mut mid, mut total) = (0, 0);
    for (push, kill_listener) in [(true, false), (true, true), (false, false), (false, true)] {
        let td = TestDir::new();
        let (srv, local) = (td.mkdir("srv"), td.mkdir("local"));
        // The side that sends has version B; the destination starts with version A.
        let (send_dir, dest_dir) =
            if push { (local.clone(), srv.join("dst")) } else { (srv.clone(), local.join("got")) };
        fs::create_dir_all(&dest_dir).unwrap();
        let mut versions = Vec::new();
        for i in 0..FILES {
            let name = format!("f{i}.bin");
            let a = write_seeded_file(&dest_dir.join(&name), 100 + i, LEN);
            let b = write_seeded_file(&send_dir.join(&name), 200 + i, LEN);
            // Same size: the versions must differ in mtime for the quick check, as for rsync.
            set_mtime(&dest_dir.join(&name), std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000));
            set_mtime(&send_dir.join(&name), std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000));
            versions.push((name, a, b));
        }
        // Outside the destination: the sending tree must stay as it is.
        let outside = fingerprint(&send_dir, &[]);
        let args: Vec<String> = if push {
            vec!["local/".into(), "peer:dst/".into()]
        } else {
            // Pull the three files (not the whole served dir: the destination lives there).
            vec!["peer:".into(), format!("{}/", s(&local.join("got")))]
        };
        let run = |bw: bool| {
            let l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
            let mut cmd = td.pcp();
            cmd.args(["sync", "-a", "--no-compress"]).args(&args).args(["--addr", &l.addr]).env("PCP_CODE", CODE_A);
            if bw {
                cmd.arg("--bwlimit=8M");
            }
            (l, cmd)
        };
        for _ in 0..5 {
            let (mut l, mut cmd) = run(true);
            let mut child = spawn_in_own_group(&mut cmd);
            thread::sleep(Duration::from_millis(rng.random_range(100..1500)));
            if kill_listener {
                l.kill();
            }
            let outcome = sigkill_group(&mut child);
            l.kill();
            total += 1;
            let mut states = Vec::new();
            for (name, a, b) in &versions {
                let p = dest_dir.join(name);
                let h = hash_file(&p);
                assert!(h == *a || h == *b, "{name} is neither its old nor its new version after a kill");
                states.push(h == *b);
            }
            // Caught mid-way: still running, and the destination had moved (a temp file, or
            // some but not all files new).
            let some_new = states.iter().any(|x| *x) && !states.iter().all(|x| *x);
            if matches!(outcome, KillOutcome::Killed) && (some_new || temp_bytes(&dest_dir) > 0) {
                mid += 1;
            }
            if states.iter().all(|x| *x) {
                // All new already: back to the old version so the next round has work.
                for (i, (name, _, _)) in versions.iter().enumerate() {
                    write_seeded_file(&dest_dir.join(name), 100 + i as u64, LEN);
                    set_mtime(&dest_dir.join(name), std::time::UNIX_EPOCH + Duration::from_secs(1_500_000_000));
                }
            }
            assert_eq!(fingerprint_diff(&outside, &fingerprint(&send_dir, &[])), Vec::<String>::new());
        }
        let (_l, mut cmd) = run(false);
        let out = run_timeout(&mut cmd, NET_TIMEOUT);
        ok(&out, "the final run");
        for (name, _, b) in &versions {
            assert_eq!(hash_file(&dest_dir.join(name)), *b, "{name} after the final run");
        }
        assert_eq!(temp_bytes(&dest_dir), 0, "temp files left after the final run");
    }
    eprintln!("network kills: {total}, {mid} caught a transfer mid-way");
    assert!(mid >= 5, "too few kills landed mid-transfer ({mid} of {total})");
}

/// `--stats` and the `--json` summary say what the network path looked like: RTT, packets
/// sent and lost, congestion events, MTU and the congestion controller.
#[test]
fn stats_and_json_report_the_network_path() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    write_seeded_file(&td.join("src/f.bin"), 3, 4 * MIB);
    let l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", "--json", "src/", "peer:dst/"]);
    ok(&out, "push");
    let link = &summary(&out.stdout)["link"];
    assert!(link["rtt_ms"].as_f64().is_some_and(|r| r > 0.0), "{link}");
    assert!(link["sent_packets"].as_u64().is_some_and(|n| n > 100), "{link}");
    assert!(link["lost_packets"].as_u64().is_some(), "{link}");
    assert_eq!(link["congestion_controller"], "bbr");
    let out = dial(&td, &l.code(2), &l.addr, &["sync", "-a", "--stats", "src/", "peer:dst2/"]);
    ok(&out, "push with --stats");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Network: RTT") && text.contains("bbr congestion control"), "{text}");
}

/// A WAN link (examples/shaper.rs between two namespaces): RTT 200 ms and 2% loss each way.
/// A push over it completes byte-identical, and QUIC's own RTT and loss counters show the link
/// is the shaper's. No timing assertion: speed lives in the WAN benchmark.
#[test]
fn push_over_a_200ms_2pct_loss_link_is_identical() {
    let Some(w) = netns::Wan::new("wan", &["--delay-ms", "100", "--loss", "2"]) else { return };
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let hash = write_seeded_file(&td.join("src/f.bin"), 9, MIB);
    let l = Listener::spawn_cmd(&td, w.b.pcp(&td.home(), td.path()), CODE_A, &["serve", &s(&srv)], "198.51.100.2:0");
    let mut cmd = w.a.pcp(&td.home(), td.path());
    cmd.args(["sync", "-a", "--json", "src/", "peer:dst/", "--addr", &l.addr]).env("PCP_CODE", CODE_A);
    let out = run_timeout(&mut cmd, Duration::from_secs(180));
    ok(&out, "push over the WAN link");
    assert_eq!(hash_file(&srv.join("dst/f.bin")), hash);
    let link = &summary(&out.stdout)["link"];
    eprintln!("WAN push: {link}");
    assert!(link["rtt_ms"].as_f64().is_some_and(|r| r >= 190.0), "QUIC saw the link's RTT: {link}");
    assert!(link["lost_packets"].as_u64().is_some_and(|n| n > 0), "2% loss must show: {link}");
}

/// `--stats` tells the truth on the pushing side: the destination's Summary (files
/// transferred, their size, bytes written, files created) reaches the dialer, and a reconnect
/// does not count the tree twice.
#[test]
fn a_push_reports_what_the_destination_did() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    write_seeded_file(&td.join("src/a.bin"), 1, 300_000);
    write_seeded_file(&td.join("src/b.bin"), 2, 200_000);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", "--once", &s(&srv)]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", "--stats", &format!("{}/", s(&td.join("src"))), "peer:d/"]);
    ok(&out, "push with --stats");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Number of files: 3 (reg: 2, dir: 1, link: 0)",
        "Number of regular files transferred: 2",
        "Total file size: 500000 bytes",
        "Total transferred file size: 500000 bytes",
        "Bytes written: 500000 bytes",
    ] {
        assert!(text.contains(want), "the pushing side's --stats lacks {want:?}:\n{text}");
    }
    l.kill();
    // A pull counts the list it receives: not "Number of files: 0" beside files created.
    let mut l = Listener::spawn(&td, CODE_B, &["serve", "--once", &s(&srv)]);
    let out = dial(&td, CODE_B, &l.addr, &["sync", "-a", "--stats", "peer:d/", &format!("{}/", s(&td.join("back")))]);
    ok(&out, "pull with --stats");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["Number of files: 3 (reg: 2, dir: 1, link: 0)", "Total file size: 500000 bytes"] {
        assert!(text.contains(want), "the pulling side's --stats lacks {want:?}:\n{text}");
    }
    l.kill();
}

/// The serving side honours `-u` and `--ignore-existing` of a push (they travel as flags).
#[test]
fn a_push_with_update_keeps_the_newer_file_on_the_serving_side() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("src/f.txt", "older source");
    td.write("srv/d/f.txt", "newer on the server");
    let now = std::time::SystemTime::now();
    set_mtime(&td.join("src/f.txt"), now - Duration::from_secs(1000));
    set_mtime(&td.join("srv/d/f.txt"), now);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", "--once", &s(&srv)]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", "-u", &format!("{}/", s(&td.join("src"))), "peer:d/"]);
    ok(&out, "push with -u");
    assert_eq!(fs::read_to_string(srv.join("d/f.txt")).unwrap(), "newer on the server");
    l.kill();
}

#[test]
fn a_push_itemizes_and_lists_on_the_dialing_side_as_a_local_sync_does() {
    let td = TestDir::new();
    let src = td.mkdir("src");
    gen_tree(&src, 0x17e);
    let junk = |root: &Path| {
        fs::create_dir_all(root.join("old-dir")).unwrap();
        fs::write(root.join("old-dir/x"), "stale").unwrap();
    };
    let (srv, local) = (td.mkdir("srv"), td.mkdir("local"));
    junk(&srv.join("d"));
    junk(&local.join("d"));
    let src_slash = format!("{}/", s(&src));
    // The same tree synced locally and pushed: the dialer prints the same lines.
    let want =
        td.pcp().args(["sync", "-ai", "--delete", &src_slash, &format!("{}/", s(&local.join("d")))]).output().unwrap();
    assert!(want.status.success());
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-ai", "--delete", &src_slash, "peer:d/"]);
    ok(&out, "push -i");
    l.wait();
    let (got, want) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&want.stdout));
    assert!(got.lines().count() > 5, "a push with -i listed almost nothing:\n{got}");
    assert!(got.contains("*deleting"), "{got}");
    // The same lines (their order follows when each file completes, on both paths alike).
    let sorted = |t: &str| {
        let mut v: Vec<String> = t.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&got), sorted(&want), "push -i (left) differs from a local sync -i (right)");
    // -v lists names too.
    fs::write(src.join("new.txt"), "v").unwrap();
    let mut l = Listener::spawn(&td, CODE_B, &["serve", &s(&srv), "--once"]);
    let out = dial(&td, CODE_B, &l.addr, &["sync", "-av", &src_slash, "peer:d/"]);
    ok(&out, "push -v");
    l.wait();
    assert!(
        String::from_utf8_lossy(&out.stdout).lines().any(|l| l == "new.txt"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Attack: a pushing peer plants a set-user-ID executable in the served tree. The serving side
/// never takes set-ID or sticky bits from the network (its -p copies 0o777 only).
#[test]
fn attack_push_of_a_setuid_file_lands_without_the_bit() {
    use std::os::unix::fs::PermissionsExt;
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("src/tool", "#!/bin/sh\n");
    fs::set_permissions(td.join("src/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    let mut l = Listener::spawn(&td, CODE_A, &["serve", "--once", &s(&srv)]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", &format!("{}/", s(&td.join("src"))), "peer:d/"]);
    ok(&out, "push of a setuid file");
    l.wait();
    let mode = fs::metadata(srv.join("d/tool")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755, "the served tree got mode {mode:o}");
}

/// scp's habits on `pcp cp`: -C, -l Kbit/s, -B (batch: the code from PCP_CODE), -p, -q.
#[test]
fn cp_takes_scp_flags() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("f.txt", "scp habits");
    let mut l = Listener::spawn(&td, CODE_A, &["serve", "--once", &s(&srv)]);
    let out =
        dial(&td, CODE_A, &l.addr, &["cp", "-C", "-l", "80000", "-B", "-p", "-q", &s(&td.join("f.txt")), "peer:"]);
    ok(&out, "cp -C -l -B -p -q");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    l.wait();
    assert_eq!(fs::read_to_string(srv.join("f.txt")).unwrap(), "scp habits");
    let out = td.pcp().args(["cp", "-l", "8", "--bwlimit", "1M", "a", "b"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A push into a missing nested path: only the last component is made (exit 11 otherwise, as
/// rsync); --mkpath makes them all.
#[test]
fn a_push_needs_mkpath_for_missing_parents_on_the_peer() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("src/f.txt", "x");
    let src = format!("{}/", s(&td.join("src")));
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv)]);
    let out = dial(&td, CODE_A, &l.addr, &["sync", "-a", &src, "peer:a/b/"]);
    assert_eq!(out.status.code(), Some(11), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mkpath"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!srv.join("a").exists());
    let out = dial(&td, &l.code(2), &l.addr, &["sync", "-a", "--mkpath", &src, "peer:a/b/"]);
    ok(&out, "push --mkpath");
    assert_eq!(fs::read_to_string(srv.join("a/b/f.txt")).unwrap(), "x");
    l.kill();
}

/// `--max-size`, `--min-size`, `--modify-window`, `--chmod` and `-m` travel with a push (the serving side's
/// destination applies them) and apply on a pull (this side's): both end where a local rsync
/// with the same options ends.
#[test]
fn size_limits_and_modify_window_over_push_and_pull_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let src = td.mkdir("src");
    let put = |root: &Path, path: &str, body: &[u8], when: std::time::SystemTime| {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
        set_mtime(&p, when);
    };
    put(&src, "small.txt", b"0123456789", t);
    put(&src, "mid.bin", &[7u8; 5000], t);
    put(&src, "big.bin", &[9u8; 200_000], t);
    put(&src, "win.txt", b"AAAA", t);
    let base = |root: &Path| {
        put(root, "dst/big.bin", b"an old big.bin", t);
        put(root, "dst/win.txt", b"BBBB", t + Duration::from_secs(1));
        // Directory times within the window of the source's: kept on both sides alike.
        set_mtime(&root.join("dst"), t);
    };
    // -m: an empty chain of directories is not copied.
    fs::create_dir_all(src.join("emptydir/deeper")).unwrap();
    set_mtime(&src, t);
    let opts = ["-a", "--delete", "--max-size=100k", "--min-size=11", "--modify-window=1", "--chmod=F600,D750", "-m"];
    let oracle = td.mkdir("oracle");
    base(&oracle);
    run_ok(td.rsync().args(opts).arg(slash(&src)).arg(slash(&oracle.join("dst"))));
    assert_eq!(fs::read(oracle.join("dst/big.bin")).unwrap(), b"an old big.bin");
    assert_eq!(fs::read(oracle.join("dst/win.txt")).unwrap(), b"BBBB");
    assert!(!oracle.join("dst/small.txt").exists());

    let srv = td.mkdir("srv");
    base(&srv);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let mut args: Vec<String> = vec!["sync".into()];
    args.extend(opts.iter().map(|o| o.to_string()));
    args.extend([format!("{}/", s(&src)), "peer:dst/".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&dial(&td, CODE_A, &l.addr, &argv), "push");
    assert!(l.wait().success(), "serve failed:\n{}", l.stderr());
    if let Err(e) = check_trees_equal(&oracle.join("dst"), &srv.join("dst")) {
        panic!("push differs from rsync (A = rsync, B = pcp):\n{e}");
    }

    let pulled = td.mkdir("pulled");
    base(&pulled);
    let mut l = Listener::spawn(&td, CODE_B, &["serve", &s(&src), "--once", "--read-only"]);
    let mut args: Vec<String> = vec!["sync".into()];
    args.extend(opts.iter().map(|o| o.to_string()));
    args.extend(["peer:./".into(), format!("{}/", s(&pulled.join("dst")))]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&dial(&td, CODE_B, &l.addr, &argv), "pull");
    assert!(l.wait().success(), "serve failed:\n{}", l.stderr());
    if let Err(e) = check_trees_equal(&oracle.join("dst"), &pulled.join("dst")) {
        panic!("pull differs from rsync (A = rsync, B = pcp):\n{e}");
    }
}

/// A push with `--backup-dir` (relative to the destination, inside the served directory)
/// keeps what rsync keeps, and a pull with `-b` keeps backups on this side.
#[test]
fn backups_on_push_and_pull_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let put = |root: &Path, path: &str, body: &str| {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
        set_mtime(&p, t);
    };
    let src = td.mkdir("src");
    put(&src, "a", "the new a, longer");
    put(&src, "sub/x", "new x, longer too");
    let base = |root: &Path| {
        put(root, "dst/a", "old a");
        put(root, "dst/sub/x", "old x");
        put(root, "dst/del", "deleted");
    };
    let opts = ["-a", "--delete", "--backup-dir=../bak", "--suffix=.old"];
    let oracle = td.mkdir("oracle");
    base(&oracle);
    run_ok(td.rsync().args(opts).arg(slash(&src)).arg(slash(&oracle.join("dst"))));
    let srv = td.mkdir("srv");
    base(&srv);
    let mut l = Listener::spawn(&td, CODE_A, &["serve", &s(&srv), "--once"]);
    let mut argv: Vec<String> = std::iter::once("sync".to_owned()).chain(opts.iter().map(|o| o.to_string())).collect();
    argv.extend([format!("{}/", s(&src)), "peer:dst/".into()]);
    ok(&dial(&td, CODE_A, &l.addr, &argv.iter().map(String::as_str).collect::<Vec<_>>()), "push");
    assert!(l.wait().success(), "serve failed:\n{}", l.stderr());
    let cmp = Compare { mode: true, mtime: false, root_meta: false };
    if let Err(e) = check_trees_equal_with(&oracle, &srv, cmp) {
        panic!("push with backups differs from rsync (A = rsync, B = pcp):\n{e}");
    }
    assert_eq!(fs::read_to_string(srv.join("bak/del.old")).unwrap(), "deleted");

    // Pull with -b: the backups are made here, beside the files.
    let pulled = td.mkdir("pulled");
    base(&pulled);
    let mut l = Listener::spawn(&td, CODE_B, &["serve", &s(&src), "--once", "--read-only"]);
    let out = dial(
        &td,
        CODE_B,
        &l.addr,
        &["sync", "-a", "--delete", "-b", "peer:./", &format!("{}/", s(&pulled.join("dst")))],
    );
    ok(&out, "pull");
    assert!(l.wait().success(), "serve failed:\n{}", l.stderr());
    assert_eq!(fs::read_to_string(pulled.join("dst/a~")).unwrap(), "old a");
    assert_eq!(fs::read_to_string(pulled.join("dst/del~")).unwrap(), "deleted");
    assert_eq!(fs::read_to_string(pulled.join("dst/a")).unwrap(), "the new a, longer");
}

/// A push whose `--backup-dir` leads out of the served directory is refused before anything
/// is written, and one through a symlink planted in the served tree writes nothing outside.
#[test]
fn attack_backup_dir_out_of_the_served_directory_or_through_a_planted_symlink() {
    let td = TestDir::new();
    let src = td.mkdir("src");
    fs::write(src.join("a"), "new content, longer").unwrap();
    let srv = td.mkdir("srv");
    fs::create_dir_all(srv.join("dst")).unwrap();
    fs::write(srv.join("dst/a"), "old").unwrap();
    let outside = td.mkdir("outside");
    std::os::unix::fs::symlink(&outside, srv.join("planted")).unwrap();
    for (i, (dir, code)) in
        [("../../outside", CODE_A), ("../planted", CODE_B), ("../planted/deeper", CODE_C)].into_iter().enumerate()
    {
        let mut l = Listener::spawn(&td, code, &["serve", &s(&srv), "--once"]);
        let flag = format!("--backup-dir={dir}");
        let out = dial(&td, code, &l.addr, &["sync", "-a", "--delete", &flag, &format!("{}/", s(&src)), "peer:dst/"]);
        assert!(!out.status.success(), "run {i}: {flag} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        if i == 0 {
            assert!(err.contains("outside the served directory"), "{err}");
        }
        l.wait();
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "run {i}: {flag} wrote outside: {err}");
        assert_eq!(fs::read_to_string(srv.join("dst/a")).unwrap(), "old", "run {i}: replaced without a backup");
    }
}
