//! Network attacks on a real `pcp serve` process on 127.0.0.1 (security issue #8): online code
//! guessing against a long-running serve, and resume tickets used to open a second session or
//! a different request. The hostile dialer is either a `pcp` process or this binary speaking
//! the protocol through the library (pcp::net). Every wait and loop is bounded.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pcp::auth::{Code, Identity};
use pcp::net::conn;
use pcp::net::endpoint::{Bulk, Endpoint, IDLE_TIMEOUT};
use pcp::net::handshake::{self, close, Authenticated, DialAuth};
use pcp::proto::session::{PeerPath, Request, Response, Scan};
use pcp::proto::Flags;

use crate::util::*;

const CODE_A: &str = "abandon-ability-able-about";
const CODE_B: &str = "zoo-zone-youth-wrist";
/// Bound for a listener to print something, and for one network command.
const NET_TIMEOUT: Duration = Duration::from_secs(60);

/// `pcp serve DIR --listen 127.0.0.1:0` in its own process group, stderr in a file.
struct Serve {
    child: Option<Child>,
    err: PathBuf,
    addr: String,
}

impl Serve {
    fn spawn(td: &TestDir, code: &str, dir: &Path) -> Self {
        let err = td.join("serve.err");
        let mut cmd = td.pcp();
        cmd.arg("serve").arg(dir).args(["--listen", "127.0.0.1:0"]).env("PCP_CODE", code);
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(fs::File::create(td.join("serve.out")).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn pcp serve");
        let mut s = Self { child: Some(child), err, addr: String::new() };
        let deadline = Instant::now() + NET_TIMEOUT;
        s.addr = loop {
            let text = s.stderr();
            if let Some(line) = text.lines().find_map(|l| l.strip_prefix("Listening on ")) {
                break line.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "serve printed no address:\n{text}");
            thread::sleep(Duration::from_millis(20));
        };
        s
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn codes(&self) -> Vec<String> {
        self.stderr().lines().filter_map(|l| l.strip_prefix("Code: ")).map(str::to_owned).collect()
    }

    /// Wait (bounded) until stderr contains `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + NET_TIMEOUT;
        while !self.stderr().contains(needle) {
            assert!(Instant::now() < deadline, "serve never printed {needle:?}:\n{}", self.stderr());
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            sigkill_group(&mut c);
        }
    }
}

/// `pcp ls peer: --addr ADDR` with PCP_CODE=`code`, bounded.
fn ls(td: &TestDir, code: &str, addr: &str) -> std::process::Output {
    let mut cmd = td.pcp();
    cmd.args(["ls", "peer:", "--addr", addr]).env("PCP_CODE", code);
    run_timeout(&mut cmd, NET_TIMEOUT)
}

/// Online guessing (security.md §2.6, issue #8 item 6): wrong codes in quick succession
/// against a long-running `pcp serve`. Only the first runs a PAKE; the others arrive during
/// the pause after it and are refused without a PAKE, without burning or replacing the code
/// printed after the failure (so few codes are printed), and the dialers say the server is
/// cooling down. A legitimate user who waits then gets in with the printed code.
#[test]
fn attack_serve_online_guessing_is_rate_limited() {
    const N: usize = 8;
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    td.write("srv/f", "x");
    let l = Serve::spawn(&td, CODE_A, &srv);
    let start = Instant::now();
    let (mut pakes, mut cooled) = (0, 0);
    for i in 0..N {
        let out = ls(&td, CODE_B, &l.addr);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(40), "wrong code {i}: {err}");
        if err.contains("cooling down") {
            assert!(err.contains("retry in"), "{err}");
            cooled += 1;
        } else {
            assert!(err.contains("code rejected"), "wrong code {i}: {err}");
            pakes += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // With pauses of 1, 2, 4, ... s, k PAKEs need at least 2^(k-1) - 1 s between the first
    // and the last: at most 1 + log2(elapsed + 1) PAKEs however slow this machine is.
    let max_pakes = 1 + (elapsed + 1.0).log2().floor() as usize;
    assert!(pakes >= 1 && pakes <= max_pakes, "{pakes} PAKEs in {elapsed:.1} s (at most {max_pakes}):\n{}", l.stderr());
    assert_eq!(pakes + cooled, N);
    assert!(cooled >= N / 2, "most attempts fell in the pause ({cooled} of {N} in {elapsed:.1} s)");
    l.wait_for("wrong code");
    let text = l.stderr();
    assert!(text.contains("1 wrong code; the next code attempt is accepted in 1 s"), "{text}");
    assert!(text.contains("cooling down"), "serve says it refused attempts while cooling down:\n{text}");
    // One fresh code per PAKE, none for the refused attempts.
    let codes = l.codes();
    assert_eq!(codes.len(), pakes + 1, "{text}");
    let code = codes.last().unwrap().clone();
    // The legitimate user tries the printed code: refused while the pause lasts (the code is
    // not spent by that), accepted after it.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut tries = 0;
    loop {
        let out = ls(&td, &code, &l.addr);
        if out.status.success() {
            break;
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("cooling down"), "the printed code is refused only for the pause: {err}");
        tries += 1;
        assert!(Instant::now() < deadline && tries < 100, "the code never worked:\n{}", l.stderr());
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(l.codes().len(), pakes + 2, "a fresh code after the success:\n{}", l.stderr());
}

/// A dialer speaking the protocol from this process (a hostile peer that keeps its resume
/// ticket and chooses its requests).
struct Dialer {
    rt: tokio::runtime::Runtime,
    ep: Endpoint,
    id: Identity,
    addr: std::net::SocketAddr,
}

impl Dialer {
    fn new(addr: &str) -> Self {
        let rt = pcp::net::client::runtime().unwrap();
        let ep = {
            let _g = rt.enter();
            Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Receive, IDLE_TIMEOUT).unwrap()
        };
        Self { rt, ep, id: Identity::generate().unwrap(), addr: addr.parse().unwrap() }
    }

    fn connect(&self, auth: DialAuth<'_>) -> anyhow::Result<(quinn::Connection, Authenticated)> {
        let fut = async {
            let conn = self.ep.dial(self.addr).await?;
            let a = handshake::dial(&conn, auth, &self.id, None).await?;
            Ok((conn, a))
        };
        self.rt.block_on(async { tokio::time::timeout(NET_TIMEOUT, fut).await })?
    }

    /// Send `req` on stream 0 and read the answer (bounded); a refusal is an error.
    fn try_request(&self, a: &mut Authenticated, req: &Request) -> anyhow::Result<Response> {
        self.rt.block_on(async {
            tokio::time::timeout(NET_TIMEOUT, async {
                conn::write_frame(&mut a.send, &req.encode()).await?;
                conn::checked_response(&conn::read_frame(&mut a.recv).await?)
            })
            .await
            .expect("no answer to the request")
        })
    }

    fn request(&self, a: &mut Authenticated, req: &Request) -> Response {
        self.try_request(a, req).unwrap()
    }
}

fn pull(path: &str) -> Request {
    Request::Pull {
        path: PeerPath::parse(path).unwrap(),
        flags: Flags(0),
        scan: Scan { recursive: true, links: true, one_file_system: false, prune_empty_dirs: false },
        rename_if_file: None,
        contents_if_dir: false,
        rules: Vec::new(),
        gitignore: false,
    }
}

/// A served tree with a directory `sub/` big enough that a pull of it stays in progress while
/// the dialer reads none of its data.
fn served_tree(td: &TestDir) -> PathBuf {
    let srv = td.mkdir("srv");
    td.mkdir("srv/sub");
    write_seeded_file(&srv.join("sub/big.bin"), 5, 32 * MIB);
    srv
}

/// Issue #8 item 1: session 1 pulls `sub/` and is still running; the same peer uses its resume
/// ticket to open a second connection. The two must never run side by side (session 2 could
/// swap `sub/` for a symlink while session 1 reads through it): serve closes the first
/// connection before it answers the second's request.
#[test]
fn attack_resume_ticket_second_session_while_first_alive() {
    let td = TestDir::new();
    let srv = served_tree(&td);
    let l = Serve::spawn(&td, CODE_A, &srv);
    let d = Dialer::new(&l.addr);
    let code = Code::parse(CODE_A).unwrap();
    let (conn1, mut a1) = d.connect(DialAuth::Code(&code)).unwrap();
    assert_eq!(d.request(&mut a1, &pull("sub/")), Response::Ok { is_dir: true });
    let ticket = a1.ticket.clone().unwrap();
    // Session 1 runs (its source waits on flow control); give it a moment to get going.
    thread::sleep(Duration::from_millis(300));
    assert!(conn1.close_reason().is_none(), "session 1 is alive");
    let (_conn2, mut a2) = d.connect(DialAuth::Resume(&ticket)).unwrap();
    assert!(a2.resumed);
    let resp = d.request(&mut a2, &pull("sub/"));
    // By the time session 2 is answered, serve has closed session 1.
    let closed = d.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), conn1.closed()).await });
    let closed = closed.unwrap_or_else(|_| panic!("session 1 still alive beside the resumed one:\n{}", l.stderr()));
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code.into_inner(), u64::from(close::ERROR));
            assert!(String::from_utf8_lossy(&c.reason).contains("superseded"), "{c:?}");
        }
        other => panic!("session 1 ended with {other:?}"),
    }
    // The honest use of a ticket (the same request after the old connection is gone) resumes.
    assert_eq!(resp, Response::Ok { is_dir: true });
}

/// Issue #8 item 1: a resume ticket resumes only the original request. Session 1 pulls `sub/`
/// and drops; the resumed connection asks to push into `sub/` instead: refused (protocol
/// violation), nothing written, and the ticket is burnt.
#[test]
fn attack_resume_ticket_different_request() {
    let td = TestDir::new();
    let srv = served_tree(&td);
    let before = fingerprint(&srv, &[]);
    let l = Serve::spawn(&td, CODE_A, &srv);
    let d = Dialer::new(&l.addr);
    let code = Code::parse(CODE_A).unwrap();
    let (conn1, mut a1) = d.connect(DialAuth::Code(&code)).unwrap();
    assert_eq!(d.request(&mut a1, &pull("sub/")), Response::Ok { is_dir: true });
    let ticket = a1.ticket.clone().unwrap();
    conn1.close(quinn::VarInt::from_u32(close::ERROR), b"test: dropped");
    drop(a1);
    let (_conn2, mut a2) = d.connect(DialAuth::Resume(&ticket)).unwrap();
    let push = Request::Push {
        path: PeerPath::parse("sub/").unwrap(),
        flags: Flags(0),
        max_delete: 0,
        single_file: false,
        dir_as_new: false,
        rules: Vec::new(),
        gitignore: false,
        tuning: Default::default(),
    };
    let e = d.try_request(&mut a2, &push).expect_err("a resumed connection with a different request is refused");
    assert_eq!(pcp::error::kind_of(&e), pcp::error::Kind::Protocol, "{e:#}");
    assert!(format!("{e:#}").contains("original request"), "{e:#}");
    l.wait_for("original request");
    // The ticket is gone: even the original request cannot be resumed with it now.
    let e = d.connect(DialAuth::Resume(&ticket)).err().expect("the ticket is burnt");
    assert_eq!(pcp::error::kind_of(&e), pcp::error::Kind::Auth, "{e:#}");
    assert!(fingerprint_diff(&before, &fingerprint(&srv, &[])).is_empty(), "nothing changed in the served tree");
}

/// A pull request as raw bytes, so that a hostile dialer can name any path at all (the typed
/// `Request` cannot hold one that leaves the served directory).
fn raw_pull(path: &[u8]) -> Vec<u8> {
    let mut e = pcp::proto::frame::Enc::default();
    e.raw(&[0, 0, 0, 0]);
    e.u8(1); // session version
    e.u8(2); // pull
    e.bytes(path);
    e.varint(0); // flags
    e.u8(3); // scan: recursive, links
    e.bytes(b""); // no rename
    e.u8(0); // contents_if_dir
    e.varint(0); // no rules
    e.u8(0); // gitignore
    let mut buf = e.buf;
    let n = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&n.to_le_bytes());
    buf
}

/// T1/T2/T36 at the listener: a hostile dialer's raw requests for `../x`, an absolute path, or
/// a path through a symlink out of the served directory are answered with a refusal (exit 3
/// on an honest dialer), and nothing outside is read.
#[test]
fn attack_raw_request_paths_outside_served_dir() {
    let td = TestDir::new();
    let srv = td.mkdir("srv");
    let outside = td.mkdir("outside");
    td.write("outside/secret.txt", "SENTINEL");
    std::os::unix::fs::symlink(&outside, srv.join("escape")).unwrap();
    let abs = outside.join("secret.txt");
    let paths: [&[u8]; 4] =
        [b"../outside/secret.txt", abs.as_os_str().as_encoded_bytes(), b"escape/secret.txt", b"a/../../outside/"];
    for p in paths {
        let l = Serve::spawn(&td, CODE_A, &srv);
        let d = Dialer::new(&l.addr);
        let code = Code::parse(CODE_A).unwrap();
        let (conn, mut a) = d.connect(DialAuth::Code(&code)).unwrap();
        let resp = d.rt.block_on(async {
            tokio::time::timeout(NET_TIMEOUT, async {
                conn::write_frame(&mut a.send, &raw_pull(p)).await?;
                Response::decode(&conn::read_frame(&mut a.recv).await?).map_err(anyhow::Error::from)
            })
            .await
            .expect("no answer to the request")
        });
        let shown = String::from_utf8_lossy(p);
        match resp {
            Ok(Response::Refused { code, text }) => {
                assert_eq!(code, pcp::error::Kind::Select.code(), "{shown}: {text}");
                assert!(text.contains("refused") || text.contains("served directory"), "{shown}: {text}");
            }
            other => panic!("{shown}: not refused: {other:?}"),
        }
        // Nothing but the refusal arrives: no data stream carries the secret.
        let next = d.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), conn.accept_uni()).await });
        assert!(!matches!(next, Ok(Ok(_))), "{shown}: a data stream was opened");
        drop(l);
    }
}
