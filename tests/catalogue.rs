//! The hostile-peer test catalogue of security.md section 5 (tables A-E), the cases not covered
//! elsewhere; docs/security-tests.md maps every case T1-T36 to its tests. Each test is named
//! after its case (`tNN_...`) and fails if the protection it checks were removed.
//!
//! Two styles: scripted peers (the real engine roles over an in-memory link, the hostile side a
//! script, as in attack_fs.rs; frames built byte by byte where the message enum cannot even
//! express the attack) and real `pcp` processes where a CLI behaviour is checked.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pcp::chunk::{file_hash, ChunkHash, ChunkParams};
use pcp::engine::destination::Outcome;
use pcp::engine::Link;
use pcp::path::SafeRelPath;
use pcp::proto::frame::Enc;
use pcp::proto::{ChunkId, Entry, Flags, Kind, Message};

use crate::util::peer::*;
use crate::util::*;

// ---------------------------------------------------------------------------
// Scripted peers (tests/util/peer.rs), extended
// ---------------------------------------------------------------------------

fn file(path: &str, size: usize) -> Entry {
    entry(path, Kind::File { size: size as u64 }, 0o644)
}

fn dir(path: &str) -> Entry {
    entry(path, Kind::Dir, 0o755)
}

/// Send a whole file list.
fn send_list(l: &Link, list: Vec<Entry>) {
    let n = list.len() as u32;
    for (i, part) in list.chunks(4096).enumerate() {
        l.tx.send(Message::FileList { first: (i * 4096) as u32, entries: part.to_vec() }).unwrap();
    }
    l.tx.send(Message::FileListEnd { count: n }).unwrap();
}

/// Chunk size of the scripted source: 64 KiB pieces (between the default minimum and maximum).
const PIECE: usize = 64 * 1024;

fn pieces(data: &[u8]) -> Vec<&[u8]> {
    data.chunks(PIECE).collect()
}

/// Chunk list and file sum of `data` as the scripted source sends them.
fn list_and_sum(id: u32, data: &[u8]) -> (Message, Message) {
    let hs: Vec<ChunkHash> = pieces(data).iter().map(|p| ChunkHash::of(p)).collect();
    let chunks = pieces(data).iter().zip(&hs).map(|(p, h)| ChunkId { short: h.short(), len: p.len() as u32 }).collect();
    (
        Message::ChunkList { file: id, first: 0, chunks },
        Message::FileSum { file: id, count: hs.len() as u32, size: data.len() as u64, hash: file_hash(hs.iter()) },
    )
}

fn data_msg(id: u32, data: &[u8], index: u32) -> Message {
    let p = pieces(data)[index as usize];
    Message::Data { file: id, index, hash: ChunkHash::of(p), compressed: false, data: p.to_vec().into() }
}

/// What a scripted source saw from the destination.
#[derive(Default)]
struct Seen {
    /// (file, chunk index) pairs asked for with Want.
    wanted: Vec<(u32, u32)>,
    /// Error text the destination sent, if any.
    error: Option<String>,
}

/// An honest source for the files in `files` (id -> content), answering Need and Want until
/// the destination says Done; `serve(id, index)` decides whether a wanted chunk is sent (a
/// `false` ends the script: the link is dropped, as a source that vanished).
fn honest(l: Link, files: &HashMap<u32, Vec<u8>>, mut serve: impl FnMut(u32, u32) -> bool) -> Seen {
    let mut seen = Seen::default();
    loop {
        let m = match l.rx.recv_timeout(Duration::from_secs(30)) {
            Ok(m) => m,
            Err(_) => return seen,
        };
        match m {
            Message::Need { files: ids, inline } => {
                for id in ids {
                    let d = &files[&id];
                    let (list, sum) = list_and_sum(id, d);
                    if !d.is_empty() {
                        l.tx.send(list).unwrap();
                    }
                    l.tx.send(sum).unwrap();
                    if inline
                        && d.len() < PIECE
                        && pcp::proto::message::is_inline(d.len() as u32, &ChunkParams::DEFAULT)
                    {
                        l.tx.send(data_msg(id, d, 0)).unwrap();
                    }
                }
            }
            Message::Want { file, ranges } => {
                for (s, n) in ranges {
                    for i in s..s + n {
                        seen.wanted.push((file, i));
                        if !serve(file, i) {
                            return seen;
                        }
                        if l.tx.send(data_msg(file, &files[&file], i)).is_err() {
                            return seen;
                        }
                    }
                }
            }
            Message::Done => {
                let _ = l.tx.send(Message::Done);
                return seen;
            }
            Message::Error { text } => {
                seen.error = Some(text);
                return seen;
            }
            _ => {}
        }
    }
}

/// Bytes of a deterministic, incompressible pseudo-random stream.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    seeded_stream(seed).fill(&mut out);
    out
}

/// Names in `dir` (sorted), or empty if it is missing.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn temps_under(root: &Path) -> Vec<PathBuf> {
    list_tree(root)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(pcp::fsio::TEMP_PREFIX)))
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// Raw frames: what the message enum cannot express
// ---------------------------------------------------------------------------

/// Body of a `FileList` frame (type byte onwards) with raw path bytes and a raw kind byte per
/// entry, uncompressed, every path sent whole.
fn raw_list(first: u64, entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut raw = Enc::default();
    for (p, kind) in entries {
        raw.varint(0);
        raw.bytes(p);
        raw.u8(*kind);
        if *kind == 0 {
            raw.varint(1);
        }
        raw.varint(0o644);
        raw.svarint(0);
        raw.varint(0);
    }
    let mut e = Enc::default();
    e.u8(2);
    e.varint(first);
    e.varint(entries.len() as u64);
    e.u8(0);
    e.varint(raw.buf.len() as u64);
    e.raw(&raw.buf);
    e.buf
}

/// Feed frame bodies to the real destination as a network session does: each is decoded;
/// the first that fails to decode ends the session (the link drops). Returns that decode error
/// and the destination's own result.
fn wire_dest(dst: &Path, bodies: &[Vec<u8>]) -> (Option<pcp::proto::Error>, anyhow::Result<Outcome>) {
    let (l, h) = start_dest(dest_cfg(dst, Flags::PERMS | Flags::TIMES | Flags::LINKS));
    let mut err = None;
    for b in bodies {
        match Message::decode(b) {
            Ok(m) => {
                if l.tx.send(m).is_err() {
                    break;
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    drop(l);
    (err, h.join().expect("the destination panicked"))
}

/// A valid first list: the root and one file, as a frame body.
fn opening_list() -> Vec<u8> {
    Message::FileList { first: 0, entries: vec![dir("."), file("ok", 1)] }.encode()[4..].to_vec()
}

/// Hostile paths (raw bytes) are refused at decode, before any write: the destination and its
/// parent directory are exactly as before.
fn assert_paths_refused_on_the_wire(paths: &[&[u8]]) {
    for p in paths {
        let t = tempfile::tempdir().unwrap();
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        std::fs::write(t.path().join("outside/keep"), b"keep").unwrap();
        let before = fingerprint(t.path(), &[]);
        // `first` = 2: the list continues the opening one.
        let (err, r) = wire_dest(&dst, &[opening_list(), raw_list(2, &[(p, 0)])]);
        let shown: String = String::from_utf8_lossy(p).chars().take(60).collect();
        let err = err.unwrap_or_else(|| panic!("{shown:?} decoded"));
        // An unsafe path, or (over 4096 bytes) a length over the cap, read before the bytes.
        assert!(
            matches!(err, pcp::proto::Error::Path(_) | pcp::proto::Error::Cap("path length", _)),
            "{shown:?}: refused for the wrong reason: {err}"
        );
        assert!(r.is_err(), "the session must end");
        assert!(fingerprint(t.path(), &[]) == before, "{shown:?}: something was written: {:?}", names(&dst));
    }
}

// ---------------------------------------------------------------------------
// A. Names and paths
// ---------------------------------------------------------------------------

/// T1: traversal entries are refused at decode, before any write; the parent directory of the
/// destination (with a sibling `outside/`) is unchanged. Fails if `SafeRelPath` let `..` in.
#[test]
fn t1_traversal_entries_refused_before_any_write() {
    assert_paths_refused_on_the_wire(&[b"../outside", b"a/../../x", b"./../x", b"../outside/keep"]);
}

/// T2: absolute paths (and `//host/x`) are refused at decode; nothing is written.
#[test]
fn t2_absolute_entries_refused() {
    assert_paths_refused_on_the_wire(&[b"/etc/cron.d/x", b"//host/x", b"/"]);
}

/// T3: Windows forms fail the portable name policy, tested on the validator directly (a
/// Windows destination applies it to every entry; POSIX destinations accept such names).
#[test]
fn t3_windows_forms_fail_the_portable_policy() {
    for p in [
        "C:\\x",
        "C:x",
        "\\\\?\\C:\\x",
        "\\\\srv\\share\\x",
        "..\\..\\x",
        "f.txt:ads",
        "CON",
        "con.txt",
        "nul.txt",
        "COM1",
        "lpt9.log",
        "dir/AUX",
        "a.",
        "a ",
        "d./x",
    ] {
        let r = SafeRelPath::new(p).and_then(|s| s.check_portable());
        assert!(r.is_err(), "{p:?} passed the portable policy");
    }
    assert!(SafeRelPath::new("ok/con-tent.txt").unwrap().check_portable().is_ok());
}

/// T4: NUL and other control characters (C0, DEL, C1) in a name are refused at decode;
/// nothing is written. (`/` cannot sit inside a component: it is the separator, and every
/// component is validated.)
#[test]
fn t4_nul_and_control_characters_refused() {
    let mut paths: Vec<Vec<u8>> = vec![b"a\0b".to_vec(), b"x/a\0".to_vec(), b"a\x7fb".to_vec(), "c1\u{9b}x".into()];
    for c in 1u8..0x20 {
        paths.push(vec![b'n', c, b'x']);
    }
    let refs: Vec<&[u8]> = paths.iter().map(|p| p.as_slice()).collect();
    assert_paths_refused_on_the_wire(&refs);
    // Invalid UTF-8 (a raw 0x9b byte, a lone continuation byte) is refused too.
    assert_paths_refused_on_the_wire(&[b"raw\x9b", b"\xff\xfe"]);
}

/// T5: exactly one encoding per path: `a//b`, `a/./b`, a trailing `/`, a leading `./` are
/// refused at decode.
#[test]
fn t5_non_canonical_paths_refused() {
    assert_paths_refused_on_the_wire(&[b"a//b", b"a/./b", b"ok/", b"./ok", b".", b".."]);
}

/// T6: a component over 255 bytes, a path over 4096 bytes, a depth over 256 are refused at
/// decode (before any recursion: the destination never sees them).
#[test]
fn t6_long_and_deep_paths_refused() {
    let long_name = vec![b'n'; 256];
    let long_path = "d/".repeat(2100).into_bytes();
    let deep = "a/".repeat(256) + "a";
    assert_paths_refused_on_the_wire(&[&long_name, &long_path[..long_path.len() - 1], deep.as_bytes()]);
    // The limits themselves are accepted.
    assert!(SafeRelPath::new(&"n".repeat(255)).is_ok());
    assert!(SafeRelPath::new(("a/".repeat(255) + "a").as_str()).is_ok());
}

/// T7: duplicates end the transfer before anything of the second is written: the same path
/// twice, a file `a` then a directory `a` (a trailing-slash spelling `a/` cannot even be
/// decoded: T5), and a directory then a file. `A` and `a`, and NFC vs NFD `é`, are distinct
/// names on this (case-sensitive, non-normalizing) file system: both arrive, neither
/// overwrites the other.
#[test]
fn t7_duplicate_entries_refused_and_case_variants_kept_apart() {
    for list in [
        vec![dir("."), file("a", 1), file("a", 1)],
        vec![dir("."), file("a", 1), dir("a")],
        vec![dir("."), dir("a"), file("a", 1)],
    ] {
        let t = tempfile::tempdir().unwrap();
        let (l, h) = start_dest(dest_cfg(t.path(), Flags::PERMS));
        let _ = l.tx.send(Message::FileList { first: 0, entries: list.clone() });
        let _ = l.tx.send(Message::FileListEnd { count: 3 });
        let e = format!("{:#}", h.join().unwrap().expect_err("refused"));
        assert!(e.contains("duplicate entry a"), "{list:?}: {e}");
        assert!(!t.path().join("a").is_file(), "{list:?}: the duplicate file was written");
    }
    let t = tempfile::tempdir().unwrap();
    let (nfc, nfd) = ("\u{e9}", "e\u{301}");
    let files: HashMap<u32, Vec<u8>> =
        [(1, b"upper".to_vec()), (2, b"lower".to_vec()), (3, b"nfc".to_vec()), (4, b"nfd".to_vec())].into();
    let (l, h) = start_dest(dest_cfg(t.path(), Flags::PERMS));
    send_list(&l, vec![dir("."), file("A", 5), file("a", 5), file(nfc, 3), file(nfd, 3)]);
    honest(l, &files, |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert_eq!(std::fs::read(t.path().join("A")).unwrap(), b"upper");
    assert_eq!(std::fs::read(t.path().join("a")).unwrap(), b"lower");
    assert_eq!(std::fs::read(t.path().join(nfc)).unwrap(), b"nfc");
    assert_eq!(std::fs::read(t.path().join(nfd)).unwrap(), b"nfd");
}

/// No raw control, C1, bidi or line-separator character in `out`.
fn assert_no_raw_controls(what: &str, out: &[u8]) {
    let s = text(out);
    for (bad, name) in [
        ('\x1b', "ESC"),
        ('\r', "CR"),
        ('\u{9b}', "CSI"),
        ('\u{202e}', "RLO"),
        ('\u{2028}', "LINE SEPARATOR"),
        ('\u{2029}', "PARAGRAPH SEPARATOR"),
    ] {
        assert!(!s.contains(bad), "{what} shows a raw {name}:\n{s:?}");
    }
    assert!(!out.contains(&0x9b), "{what} shows a raw 0x9b byte:\n{s:?}");
}

/// T8: names with `\x1b[1A\r`, `\r`, `\x9b` (as U+009B and as a raw byte), U+202E and U+2028
/// are shown escaped in itemize output (`-i`, including `*deleting`), warnings and errors. The
/// names with controls cannot be sent at all (T4), so they show up in the sender's warnings;
/// the bidi and separator names are legal and are transferred. Fails if the reporter printed
/// names raw (it did for U+2028/U+2029 before this catalogue: fixed in report/sanitize.rs).
#[test]
fn t8_hostile_names_are_shown_escaped() {
    let td = TestDir::new();
    let src = td.mkdir("src");
    let dst = td.mkdir("dst");
    let bad: [&[u8]; 5] = [b"esc\x1b[1A\rx", b"cr\rx", "c1\u{9b}x".as_bytes(), b"raw\x9bx", b"nl\nx"];
    for b in bad {
        std::fs::write(src.join(std::ffi::OsStr::from_bytes(b)), b"x").unwrap();
    }
    let legal = ["evil\u{202e}txt.exe", "line\u{2028}break", "para\u{2029}x"];
    for n in legal {
        std::fs::write(src.join(n), b"y").unwrap();
    }
    std::fs::write(dst.join("gone\u{202e}\u{2028}"), b"z").unwrap();
    let out = run(td.pcp().args(["sync", "-a", "-i", "--delete"]).arg(slash(&src)).arg(slash(&dst)));
    assert_eq!(out.status.code(), Some(23), "{}", text(&out.stderr));
    assert_no_raw_controls("itemize output", &out.stdout);
    assert_no_raw_controls("warnings", &out.stderr);
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(o.contains("evil\\u{202e}txt.exe") && o.contains("line\\u{2028}break"), "{o}");
    assert!(o.contains("*deleting") && o.contains("gone\\u{202e}\\u{2028}"), "{o}");
    assert!(e.contains("esc\\u{1b}[1A\\u{d}x") && e.contains("c1\\u{9b}x"), "{e}");
    for n in legal {
        assert_eq!(std::fs::read(dst.join(n)).unwrap(), b"y");
    }
    // An error naming a hostile path.
    let missing = td.join("missing\x1b[2J\r\u{202e}\u{2028}");
    let out = run(td.pcp().args(["sync", "-a"]).arg(&missing).arg(td.join("d2")));
    assert!(!out.status.success());
    assert_no_raw_controls("the error", &out.stderr);
    assert!(text(&out.stderr).contains("missing\\u{1b}[2J\\u{d}\\u{202e}\\u{2028}"), "{}", text(&out.stderr));
}

/// A `pcp send` listening on 127.0.0.1:0 with `code`; returns the child, its stderr file and
/// its address.
fn spawn_sender(td: &TestDir, code: &str, what: &Path) -> (std::process::Child, PathBuf, String) {
    use std::os::unix::process::CommandExt;
    let err = td.join(format!("sender-{code}.err"));
    let child = td
        .pcp()
        .args(["send"])
        .arg(what)
        .args(["--listen", "127.0.0.1:0"])
        .env("PCP_CODE", code)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let t = std::fs::read_to_string(&err).unwrap_or_default();
        if let Some(l) = t.lines().find_map(|l| l.strip_prefix("Listening on ")) {
            break l.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "pcp send printed no address:\n{t}");
        std::thread::sleep(Duration::from_millis(20));
    };
    (child, err, addr)
}

/// `pcp receive ARGS --yes` run in `cwd` against `addr`.
fn receive_in(td: &TestDir, cwd: &Path, code: &str, addr: &str, args: &[&str]) -> std::process::Output {
    let mut c = td.pcp();
    c.current_dir(cwd).arg("receive").args(args).args(["--yes", "--addr", addr]).env("PCP_CODE", code);
    run_timeout(&mut c, Duration::from_secs(90))
}

fn reap(mut child: std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            sigkill_group(&mut child);
            panic!("pcp send did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// T9: a one-shot receive of 200 files including `.bashrc` and `.ssh/authorized_keys`: the
/// listing shows every entry by name (not just a count), everything lands under the
/// destination, and with no DEST it is a new directory in the working directory
/// (`pcp-received`, then `pcp-received-2`), never `$HOME`.
#[test]
fn t9_receive_lists_every_entry_and_defaults_to_a_new_directory() {
    let td = TestDir::new();
    let src = td.mkdir("payload");
    td.write("payload/.bashrc", "echo owned");
    td.write("payload/.ssh/authorized_keys", "ssh-ed25519 AAAA attacker");
    for i in 0..198 {
        td.write(format!("payload/f{i:03}.txt"), format!("{i}"));
    }
    let cwd = td.mkdir("cwd");
    let home = td.home();
    for (n, code, expect) in
        [(1, "abandon-ability-able-about", "pcp-received"), (2, "zoo-zone-youth-wrist", "pcp-received-2")]
    {
        let (child, err, addr) = spawn_sender(&td, code, &src);
        let out = receive_in(&td, &cwd, code, &addr, &[]);
        reap(child);
        assert!(out.status.success(), "run {n}: {}\n{}", text(&out.stderr), std::fs::read_to_string(err).unwrap());
        let shown = text(&out.stderr);
        assert!(shown.contains("payload/.bashrc") && shown.contains("payload/.ssh/authorized_keys"), "{shown}");
        for i in 0..198 {
            assert!(shown.contains(&format!("payload/f{i:03}.txt")), "run {n}: f{i:03}.txt not listed:\n{shown}");
        }
        let got = cwd.join(expect).join("payload");
        assert_eq!(std::fs::read(got.join(".ssh/authorized_keys")).unwrap(), b"ssh-ed25519 AAAA attacker");
        assert_eq!(std::fs::read_dir(&got).unwrap().count(), 200, "run {n}");
    }
    assert_eq!(names(&cwd), ["pcp-received", "pcp-received-2"], "everything lands under the new directories");
    let in_home: Vec<_> = list_tree(&home).into_iter().map(|(p, _)| p).collect();
    assert!(
        !in_home.iter().any(|p| p.ends_with(".bashrc") || p.ends_with("authorized_keys")),
        "something landed in $HOME: {in_home:?}"
    );
}

// ---------------------------------------------------------------------------
// B. Links and special files
// ---------------------------------------------------------------------------

/// T11: with --safe-links (what `pcp receive` uses) links to `/etc/passwd`, `../../x` and
/// `a/../../..` are dropped; without it they are stored verbatim, as `rsync -a` does, and never
/// followed (nothing is written to their targets; an entry beneath one is refused: T10).
#[test]
fn t11_escaping_links_dropped_with_safe_links_and_never_followed() {
    let links = [("l1", "/etc/passwd"), ("d/l2", "../../x"), ("d/l3", "a/../../.."), ("ok", "d/l2")];
    let list = || {
        let mut v = vec![dir("."), dir("d")];
        for (p, t) in links {
            v.push(entry(p, Kind::Symlink { target: t.as_bytes().to_vec() }, 0o777));
        }
        v
    };
    let t = tempfile::tempdir().unwrap();
    let safe = t.path().join("safe");
    let (l, h) = start_dest(dest_cfg(&safe, Flags::PERMS | Flags::LINKS | Flags::SAFE_LINKS));
    send_list(&l, list());
    honest(l, &HashMap::new(), |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    for (p, _) in &links[..3] {
        assert!(std::fs::symlink_metadata(safe.join(p)).is_err(), "{p} was created");
    }
    assert_eq!(std::fs::read_link(safe.join("ok")).unwrap(), Path::new("d/l2"), "an inside link is kept");

    let verbatim = t.path().join("verbatim");
    let (l, h) = start_dest(dest_cfg(&verbatim, Flags::PERMS | Flags::LINKS));
    let mut v = list();
    v.push(file("l1/x", 3));
    let _ = l.tx.send(Message::FileList { first: 0, entries: v });
    let e = format!("{:#}", h.join().unwrap().expect_err("an entry beneath a link is refused"));
    assert!(e.contains("before its directory"), "{e}");
    for (p, target) in links {
        assert_eq!(std::fs::read_link(verbatim.join(p)).unwrap(), Path::new(target), "{p} stored verbatim");
    }
}

/// T12, second half: a thread flips `dest/sub` between a directory and a symlink to a
/// directory outside while `pcp sync` writes 1000 files into it. Nothing appears outside
/// (dirfd-relative, no-follow operations only; failures are per file, exit 0 or 23).
#[test]
fn t12_directory_flipped_to_symlink_during_sync_writes_nothing_outside() {
    let td = TestDir::new();
    for i in 0..1000 {
        td.write(format!("src/sub/f{i:04}"), format!("file {i}"));
    }
    let outside = td.mkdir("outside");
    let dst = td.mkdir("dst");
    std::fs::create_dir(dst.join("sub")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, dst, outside) = (stop.clone(), dst.clone(), outside.clone());
        std::thread::spawn(move || {
            let mut flips = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if std::fs::rename(dst.join("sub"), dst.join("sub.real")).is_ok() {
                    let _ = std::os::unix::fs::symlink(&outside, dst.join("sub"));
                    std::thread::sleep(Duration::from_micros(300));
                    let _ = std::fs::remove_file(dst.join("sub"));
                    let _ = std::fs::rename(dst.join("sub.real"), dst.join("sub"));
                    flips += 1;
                }
                std::thread::sleep(Duration::from_micros(300));
            }
            flips
        })
    };
    let out = run(td.pcp().args(["sync", "-a"]).arg(slash(&td.join("src"))).arg(slash(&dst)));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 23)), "{}", text(&out.stderr));
    assert!(flips > 0, "the race never ran");
    assert!(names(&outside).is_empty(), "files were written through the symlink: {:?}", names(&outside));
}

/// T14: the protocol has no hard-link entry (kind bytes other than file, dir and symlink are
/// refused at decode) and `-H` is refused, so a hard link in the source arrives as a separate
/// file: no link to anything, inside or outside the destination, is ever made.
#[test]
fn t14_no_hard_links_are_ever_made() {
    for kind in 3u8..=8 {
        let e = Message::decode(&raw_list(0, &[(b"x", kind)])).expect_err("unknown kind decoded");
        assert!(matches!(e, pcp::proto::Error::Malformed("entry kind")), "kind {kind}: {e}");
    }
    let td = TestDir::new();
    td.write("outside/secret", "s");
    td.write("src/f", "content");
    std::fs::hard_link(td.join("src/f"), td.join("src/hl")).unwrap();
    std::fs::hard_link(td.join("outside/secret"), td.join("src/x")).unwrap();
    let out = run(td.pcp().args(["sync", "-aH"]).arg(slash(&td.join("src"))).arg(slash(&td.join("dst"))));
    assert_eq!(out.status.code(), Some(1), "-H must be refused");
    run_ok(td.pcp().args(["sync", "-a"]).arg(slash(&td.join("src"))).arg(slash(&td.join("dst"))));
    use std::os::unix::fs::MetadataExt;
    for n in ["f", "hl", "x"] {
        assert_eq!(std::fs::metadata(td.join("dst").join(n)).unwrap().nlink(), 1, "{n} is a hard link");
    }
    assert_eq!(std::fs::metadata(td.join("outside/secret")).unwrap().nlink(), 2, "only the source's own link");
}

/// T15: device nodes, FIFOs and sockets are never sent (so never created), and the sender
/// never opens a FIFO: a writer blocked on the FIFO's other end stays blocked through the
/// whole sync. The wire cannot carry them either (T14: unknown kinds are refused).
#[test]
fn t15_special_files_never_sent_created_or_opened() {
    let td = TestDir::new();
    let src = td.mkdir("src");
    td.write("src/regular", "r");
    let fifo = src.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let dev = Command::new("mknod").arg(src.join("null")).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    if !dev {
        eprintln!("t15: mknod failed (not root?): the device-node part is skipped");
    }
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (fifo, opened) = (fifo.clone(), opened.clone());
        // Blocks in open() until someone opens the FIFO for reading.
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&fifo);
            opened.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(f);
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let out = run_timeout(
        td.pcp().args(["sync", "-a", "-i"]).arg(slash(&src)).arg(slash(&td.join("dst"))),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!opened.load(std::sync::atomic::Ordering::SeqCst), "the sender opened the FIFO");
    assert_eq!(names(&td.join("dst")), ["regular"]);
    let err = text(&out.stderr);
    assert!(err.contains("skipping non-regular file") && err.contains("fifo"), "{err}");
    // Release the writer.
    let _ = std::fs::File::open(&fifo);
    writer.join().unwrap();
}

/// T16: setuid and setgid bits from the peer are stripped (files 04777 -> 0777, directories
/// 02775 -> 0775, also when only the mode of an unchanged file changes); the destination
/// root's mode is never changed from peer data unless ROOT_MODE is set (local syncs only;
/// `pcp serve` clears it for its served directory).
#[test]
fn t16_setuid_setgid_stripped_and_root_mode_untouched() {
    use std::os::unix::fs::PermissionsExt;
    for root_mode in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        set_mode(&dst, 0o755);
        std::fs::write(dst.join("same"), b"same").unwrap();
        set_mode(&dst.join("same"), 0o644);
        let flags = Flags::PERMS | if root_mode { Flags::ROOT_MODE } else { 0 };
        let (l, h) = start_dest(dest_cfg(&dst, flags));
        let files: HashMap<u32, Vec<u8>> = [(1, b"suid".to_vec()), (3, b"same".to_vec())].into();
        send_list(
            &l,
            vec![
                entry(".", Kind::Dir, 0o777),
                entry("suid", Kind::File { size: 4 }, 0o4777),
                entry("sgid", Kind::Dir, 0o2775),
                entry("same", Kind::File { size: 4 }, 0o6755),
            ],
        );
        honest(l, &files, |_, _| true);
        assert_eq!(h.join().unwrap().unwrap().errors, 0);
        assert_eq!(mode_of(&dst.join("suid")), 0o777, "setuid kept on a new file");
        assert_eq!(mode_of(&dst.join("sgid")), 0o775, "setgid kept on a directory");
        assert_eq!(mode_of(&dst.join("same")), 0o755, "setuid/setgid kept on a mode change");
        let want_root = if root_mode { 0o777 } else { 0o755 };
        assert_eq!(
            std::fs::metadata(&dst).unwrap().permissions().mode() & 0o7777,
            want_root,
            "root mode with ROOT_MODE={root_mode}"
        );
    }
}

// ---------------------------------------------------------------------------
// C. Overwrite and atomicity
// ---------------------------------------------------------------------------

/// T18: `.pcp-tmp.*` names planted in the destination as symlinks (to a file and to a
/// directory outside) are never followed: the sync (with --delete, which also sweeps
/// leftovers) writes nothing through them, and new temp files get fresh random names opened
/// with O_CREAT|O_EXCL|O_NOFOLLOW. Fails if temp handling followed a planted name.
#[test]
fn t18_planted_temp_symlinks_are_never_followed() {
    let td = TestDir::new();
    td.write("src/f", vec![b'n'; 100_000]);
    td.write("src/sub/g", "g");
    let victim = td.write("outside/victim", "keep");
    let outside = td.join("outside");
    let dst = td.mkdir("dst");
    std::fs::create_dir(dst.join("sub")).unwrap();
    for d in [dst.clone(), dst.join("sub")] {
        std::os::unix::fs::symlink(&victim, d.join(".pcp-tmp.0000000000000000")).unwrap();
        std::os::unix::fs::symlink(&outside, d.join(".pcp-tmp.ffffffffffffffff")).unwrap();
        std::os::unix::fs::symlink(&victim, d.join(".pcp-tmp.")).unwrap();
    }
    let before = fingerprint(&outside, &[]);
    for args in [&["sync", "-a"][..], &["sync", "-a", "--delete"], &["sync", "-a", "-c", "--delete"]] {
        td.write("src/f", format!("{args:?}").repeat(5000));
        run_ok(td.pcp().args(args).arg(slash(&td.join("src"))).arg(slash(&dst)));
        assert_eq!(std::fs::read(dst.join("f")).unwrap(), td.read("src/f"));
        assert!(fingerprint(&outside, &[]) == before, "{args:?}: something outside changed");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }
}

/// Run `script` (sh) in a private mount namespace, with `$PCP` the binary under test and the
/// sandbox environment of `td`. `None` (skipped loudly) if namespaces are unavailable, unless
/// PCP_REQUIRE_NETNS is set (then it fails).
fn in_mount_ns(td: &TestDir, script: &str) -> Option<std::process::Output> {
    let probe = Command::new("unshare").args(["--mount", "--propagation", "private", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(std::env::var_os("PCP_REQUIRE_NETNS").is_none(), "unshare --mount failed and PCP_REQUIRE_NETNS is set");
        eprintln!("SKIPPED: unshare --mount is not available (needs root); set PCP_REQUIRE_NETNS to make this fail");
        return None;
    }
    let p = td.pcp();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c", script]);
    for (k, v) in p.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.env("PCP", p.get_program()).current_dir(td.path());
    Some(run_timeout(&mut c, Duration::from_secs(120)))
}

/// T19: the destination fills up (a 1 MiB tmpfs, a 3 MiB file): a clear error naming the
/// file and "No space left on device", exit 23, the temp file removed, the old file under the
/// final name untouched, the small file next to it delivered.
#[test]
fn t19_destination_full_gives_clear_error_and_leaves_final_untouched() {
    let td = TestDir::new();
    std::fs::write(td.mkdir("src").join("big"), noise(19, 3 << 20)).unwrap();
    td.write("src/small", "small");
    td.mkdir("d");
    let script = r#"
        mount -t tmpfs -o size=1m tmpfs d || exit 99
        printf old > d/big
        "$PCP" sync -a src/ d/ 2> err
        echo $? > rc
        ls -A d > ls
        cat d/big > big.after
        cat d/small > small.after
    "#;
    let Some(out) = in_mount_ns(&td, script) else { return };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = String::from_utf8(td.read("err")).unwrap();
    assert_eq!(text(&td.read("rc")).trim(), "23", "{err}");
    assert!(err.contains("big") && err.contains("No space left on device"), "{err}");
    assert_no_raw_controls("the error", err.as_bytes());
    assert_eq!(td.read("big.after"), b"old", "the final name was touched");
    assert_eq!(td.read("small.after"), b"small");
    let ls = text(&td.read("ls"));
    assert!(!ls.contains(".pcp-tmp"), "a temp file was left: {ls}");
}

/// T20: deletions happen only with --delete, and only inside the destination: without it
/// extraneous files stay; with it they go, but a symlink in the destination to a directory
/// outside is removed as a link (its target and the destination's siblings untouched) and the
/// root stays. The peer cannot name a deletion at all: they follow from the destination's own
/// listing against the file list.
#[test]
fn t20_deletions_only_inside_dest_and_only_with_delete() {
    let t = tempfile::tempdir().unwrap();
    let dst = t.path().join("dst");
    std::fs::create_dir_all(dst.join("sub")).unwrap();
    std::fs::create_dir_all(t.path().join("outside/inner")).unwrap();
    std::fs::write(t.path().join("outside/inner/keep"), b"keep").unwrap();
    std::fs::write(t.path().join("sibling"), b"sibling").unwrap();
    std::fs::write(dst.join("extra"), b"x").unwrap();
    std::fs::write(dst.join("sub/extra2"), b"x").unwrap();
    std::os::unix::fs::symlink(t.path().join("outside"), dst.join("link_out")).unwrap();
    let before = fingerprint(t.path(), &["dst"]);
    let list = || vec![dir("."), dir("sub"), file("kept", 4)];
    let files: HashMap<u32, Vec<u8>> = [(2, b"kept".to_vec())].into();
    let (l, h) = start_dest(dest_cfg(&dst, Flags::PERMS));
    send_list(&l, list());
    honest(l, &files, |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert_eq!(names(&dst), ["extra", "kept", "link_out", "sub"], "nothing is deleted without --delete");
    assert_eq!(names(&dst.join("sub")), ["extra2"]);

    let (l, h) = start_dest(dest_cfg(&dst, Flags::PERMS | Flags::DELETE));
    send_list(&l, list());
    honest(l, &files, |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert_eq!(names(&dst), ["kept", "sub"]);
    assert!(names(&dst.join("sub")).is_empty());
    assert!(fingerprint(t.path(), &["dst"]) == before, "something outside the destination changed");
}

/// T20, one-shot receive: `pcp receive` never deletes, whatever the sender wants (its
/// destination role runs without DELETE): a file already in the destination stays.
#[test]
fn t20_one_shot_receive_never_deletes() {
    let td = TestDir::new();
    let src = td.mkdir("payload");
    td.write("payload/new.txt", "new");
    td.write("inbox/payload/old.txt", "old");
    td.write("inbox/mine.txt", "mine");
    let code = "cable-cactus-cage-cake";
    let (child, _, addr) = spawn_sender(&td, code, &src);
    let out = receive_in(&td, td.path(), code, &addr, &["inbox"]);
    reap(child);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(names(&td.join("inbox")), ["mine.txt", "payload"]);
    assert_eq!(names(&td.join("inbox/payload")), ["new.txt", "old.txt"]);
}

// ---------------------------------------------------------------------------
// D. Sizes and resources
// ---------------------------------------------------------------------------

/// The destination asked for file 1 (`size` bytes, fresh); returns the link and the thread.
fn dest_wanting_one(dst: &Path, size: usize) -> (Link, DestJoin) {
    let (l, h) = start_dest(dest_cfg(dst, Flags::PERMS));
    send_list(&l, vec![dir("."), file("f", size)]);
    loop {
        if let Message::Need { .. } = recv(&l) {
            return (l, h);
        }
    }
}

/// T24: checked arithmetic on chunk positions: an overlapping (repeated) or gapped chunk list,
/// a file summary whose size is not the sum of the chunk lengths, data for an index past the
/// list (u32::MAX), and (at the source) a Want range whose end overflows u32 are all refused;
/// no final file appears.
#[test]
fn t24_overlapping_gapped_and_overflowing_positions_refused() {
    let data = noise(24, 2 * PIECE);
    let (list, sum) = list_and_sum(1, &data);
    let Message::ChunkList { chunks, .. } = list.clone() else { unreachable!() };
    let Message::FileSum { hash, .. } = sum.clone() else { unreachable!() };
    let one = |first: u32, k: usize| Message::ChunkList { file: 1, first, chunks: vec![chunks[k]] };
    let cases: Vec<(&str, Vec<Message>, &str)> = vec![
        ("overlap", vec![one(0, 0), one(0, 1)], "out of order"),
        ("gap", vec![one(0, 0), one(5, 1)], "out of order"),
        ("short sum", vec![list.clone(), Message::FileSum { file: 1, count: 2, size: 3, hash }], "does not match"),
        (
            "long sum",
            vec![one(0, 0), Message::FileSum { file: 1, count: 2, size: data.len() as u64, hash }],
            "does not match",
        ),
        (
            "index",
            vec![
                list.clone(),
                sum.clone(),
                Message::Data { file: 1, index: u32::MAX, hash, compressed: false, data: vec![1].into() },
            ],
            "never listed",
        ),
    ];
    for (what, script, expect) in cases {
        let t = tempfile::tempdir().unwrap();
        let (l, h) = dest_wanting_one(t.path(), data.len());
        for m in script {
            let _ = l.tx.send(m);
        }
        let e = format!("{:#}", h.join().unwrap().expect_err(what));
        assert!(e.contains(expect), "{what}: {e}");
        assert!(!t.path().join("f").exists(), "{what}: a final file appeared");
    }
    // Source side: `Want` ranges are (start, count); start + count must not wrap.
    let mut e = Enc::default();
    e.u8(7);
    e.varint(1);
    e.varint(1);
    e.varint(u64::from(u32::MAX));
    e.varint(2);
    assert!(matches!(Message::decode(&e.buf), Err(pcp::proto::Error::Malformed("chunk range"))));
}

/// T26: the "compressed" flag on raw data, raw data flagged compressed, and a corrupt zstd
/// frame: an error (the transfer, or that one file), never a panic; no temp file, no final file.
#[test]
fn t26_compression_flag_mismatch_and_corrupt_frames_never_panic() {
    let data = noise(26, 20_000);
    let h0 = ChunkHash::of(&data);
    let z = zstd::bulk::compress(&data, 3).unwrap();
    let zeros = vec![0u8; 20_000];
    let zz = zstd::bulk::compress(&zeros, 3).unwrap();
    let cases: Vec<(&str, bool, Vec<u8>, &[u8])> = vec![
        ("raw flagged compressed", true, data.clone(), &data),
        ("compressed sent as raw", false, zz.clone(), &zeros),
        ("truncated frame", true, z[..z.len() / 2].to_vec(), &data),
        ("garbage frame", true, vec![0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff, 0xff], &data),
    ];
    for (what, compressed, bytes, content) in cases {
        let t = tempfile::tempdir().unwrap();
        let (l, h) = dest_wanting_one(t.path(), content.len());
        let (list, sum) = list_and_sum(1, content);
        l.tx.send(list).unwrap();
        l.tx.send(sum).unwrap();
        let hash = if content == data.as_slice() { h0 } else { ChunkHash::of(content) };
        let _ = l.tx.send(Message::Data { file: 1, index: 0, hash, compressed, data: bytes.into() });
        // A failed file lets the transfer finish: play the rest of a source that sends no
        // more data (a Want, sent before the bad Data was read, stays unanswered) until the
        // destination's Done, without closing the link under it.
        loop {
            match l.rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Message::Done) => {
                    let _ = l.tx.send(Message::Done);
                    break;
                }
                Ok(Message::Error { .. }) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let r = h.join().unwrap_or_else(|_| panic!("{what}: the destination panicked"));
        match r {
            Ok(o) => assert_eq!(o.errors, 1, "{what}: must fail the file"),
            Err(e) => assert!(format!("{e:#}").contains("compression"), "{what}: {e:#}"),
        }
        assert!(!t.path().join("f").exists(), "{what}: a final file appeared");
        assert!(temps_under(t.path()).is_empty(), "{what}: a temp file was left");
    }
}

/// T27: 100,000-level nesting. On the wire: one path of 100,000 components is refused by its
/// length before it is read, a list whose entries nest one level deeper each is refused at
/// depth 257 (iteratively: no stack overflow). On disk: a source tree 1,500 levels deep is
/// walked without recursion trouble; everything below depth 256 is reported and skipped
/// (exit 23), what is above arrives.
#[test]
fn t27_deep_nesting_is_capped_without_stack_overflow() {
    let deep = "a/".repeat(99_999) + "a";
    assert!(matches!(
        Message::decode(&raw_list(0, &[(deep.as_bytes(), 1)])),
        Err(pcp::proto::Error::Cap("path length", _))
    ));
    assert!(SafeRelPath::new(&deep).is_err());
    // Entries a, a/a, a/a/a, ... as directories, each sharing the previous path as prefix.
    let mut raw = Enc::default();
    let n = 4000;
    for i in 0..n {
        raw.varint(if i == 0 { 0 } else { (2 * i - 1) as u64 });
        raw.bytes(if i == 0 { b"a" } else { b"/a" });
        raw.u8(1);
        raw.varint(0o755);
        raw.svarint(0);
        raw.varint(0);
    }
    let mut e = Enc::default();
    e.u8(2);
    e.varint(0);
    e.varint(n as u64);
    e.u8(0);
    e.varint(raw.buf.len() as u64);
    e.raw(&raw.buf);
    match Message::decode(&e.buf) {
        Err(pcp::proto::Error::Path(p)) => assert!(p.to_string().contains("too long or too deep"), "{p}"),
        other => panic!("a 4000-deep list decoded: {:?}", other.map(|_| ())),
    }

    let td = TestDir::new();
    let mut p = td.mkdir("src");
    for _ in 0..1500 {
        p.push("d");
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("bottom"), b"deep").unwrap();
    let out = run(td.pcp().args(["sync", "-a"]).arg(slash(&td.join("src"))).arg(slash(&td.join("dst"))));
    assert_eq!(out.status.code(), Some(23), "{}", text(&out.stderr).chars().take(2000).collect::<String>());
    assert!(text(&out.stderr).contains("too long or too deep"));
    let mut got = td.join("dst");
    for _ in 0..256 {
        got.push("d");
    }
    assert!(got.is_dir(), "the allowed depth arrived");
    assert!(!got.join("d").exists(), "nothing deeper than 256 levels");
}

/// T28: 100,000 empty files from a scripted source: all arrive, and the destination never
/// has more than its window of files (256) asked for and unanswered (memory stays bounded
/// whatever the list length). Inode exhaustion (a tmpfs with 200 inodes, 500 files) is a
/// per-file error (exit 23) with a clear message, no panic, no temp left.
#[test]
fn t28_many_empty_files_are_bounded_and_inode_exhaustion_is_handled() {
    let t = tempfile::tempdir().unwrap();
    let dst = t.path().join("dst");
    let (dirs, per) = (100, 1000);
    let mut list = vec![dir(".")];
    for d in 0..dirs {
        list.push(dir(&format!("d{d}")));
        for f in 0..per {
            list.push(file(&format!("d{d}/f{f}"), 0));
        }
    }
    let (l, h) = start_dest(dest_cfg(&dst, Flags::PERMS));
    let lister = {
        let tx = l.tx.clone();
        std::thread::spawn(move || {
            let n = list.len() as u32;
            for (i, part) in list.chunks(4096).enumerate() {
                tx.send(Message::FileList { first: (i * 4096) as u32, entries: part.to_vec() }).unwrap();
            }
            tx.send(Message::FileListEnd { count: n }).unwrap();
        })
    };
    let (mut outstanding, mut most, mut answered) = (0usize, 0usize, 0usize);
    let empty = file_hash(std::iter::empty::<&ChunkHash>());
    loop {
        match recv(&l) {
            Message::Need { files, .. } => {
                outstanding += files.len();
                most = most.max(outstanding);
                for id in files {
                    l.tx.send(Message::FileSum { file: id, count: 0, size: 0, hash: empty }).unwrap();
                    outstanding -= 1;
                    answered += 1;
                }
            }
            Message::Done => {
                l.tx.send(Message::Done).unwrap();
                break;
            }
            Message::Error { text } => panic!("{text}"),
            _ => {}
        }
    }
    lister.join().unwrap();
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert_eq!(answered, dirs * per);
    assert!(most <= pcp::engine::FILE_WINDOW, "{most} files asked for at once");
    assert_eq!(std::fs::read_dir(dst.join("d99")).unwrap().count(), per);

    let td = TestDir::new();
    for i in 0..500 {
        td.write(format!("src/e{i:03}"), "");
    }
    td.mkdir("d");
    let script = r#"
        mount -t tmpfs -o size=16m,nr_inodes=200 tmpfs d || exit 99
        "$PCP" sync -a src/ d/ 2> err
        echo $? > rc
        ls -A d > ls
    "#;
    let Some(out) = in_mount_ns(&td, script) else { return };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&td.read("err"));
    assert_eq!(text(&td.read("rc")).trim(), "23", "{err}");
    assert!(err.contains("No space left on device"), "{}", err.chars().take(2000).collect::<String>());
    let ls = text(&td.read("ls"));
    assert!(!ls.contains(".pcp-tmp"), "a temp file was left");
    assert!(ls.lines().count() < 200 && ls.lines().count() > 100, "{} files", ls.lines().count());
}

// ---------------------------------------------------------------------------
// E. Integrity
// ---------------------------------------------------------------------------

/// T30: every chunk is valid but the file hash differs from the summary: that file fails,
/// its temp is deleted, the old file under the final name is untouched.
#[test]
fn t30_valid_chunks_but_wrong_file_hash_leave_final_untouched() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("f"), b"old content").unwrap();
    let data = noise(30, 2 * PIECE);
    let (l, h) = start_dest(dest_cfg(t.path(), Flags::PERMS));
    send_list(&l, vec![dir("."), file("f", data.len())]);
    while !matches!(recv(&l), Message::Need { .. }) {}
    let (list, sum) = list_and_sum(1, &data);
    let Message::FileSum { count, size, .. } = sum else { unreachable!() };
    l.tx.send(list).unwrap();
    l.tx.send(Message::FileSum { file: 1, count, size, hash: ChunkHash::of(b"another file") }).unwrap();
    let files: HashMap<u32, Vec<u8>> = [(1, data)].into();
    let seen = honest(l, &files, |_, _| true);
    assert_eq!(seen.wanted.len(), 2, "both chunks were sent");
    assert_eq!(h.join().unwrap().unwrap().errors, 1);
    assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"old content");
    assert!(temps_under(t.path()).is_empty(), "the temp file was left");
}

/// T31: the file list names a file, its chunk list names chunk X, X never comes and the source
/// says Done: an error naming the file and the missing chunk, no rename, no temp; with a
/// manifest the resume state stays consistent (the rerun completes the file).
#[test]
fn t31_missing_chunk_then_done_is_named_and_nothing_is_renamed() {
    let t = tempfile::tempdir().unwrap();
    let dst = t.path().join("dst");
    let data = noise(31, 3 * PIECE);
    let (l, h) = dest_wanting_one(&dst, data.len());
    let (list, sum) = list_and_sum(1, &data);
    l.tx.send(list).unwrap();
    l.tx.send(sum).unwrap();
    l.tx.send(data_msg(1, &data, 0)).unwrap();
    l.tx.send(data_msg(1, &data, 2)).unwrap();
    l.tx.send(Message::Done).unwrap();
    let e = format!("{:#}", h.join().unwrap().expect_err("refused"));
    assert!(e.contains("f") && e.contains("1 of 3 chunks missing"), "{e}");
    assert!(!dst.join("f").exists());
    assert!(temps_under(&dst).is_empty(), "a small file's temp is not kept");
    let mut cfg = dest_cfg(&dst, Flags::PERMS);
    cfg.manifest = Some(t.path().join("m.db"));
    let (l, h) = start_dest(cfg);
    send_list(&l, vec![dir("."), file("f", data.len())]);
    honest(l, &[(1, data.clone())].into(), |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert_eq!(std::fs::read(dst.join("f")).unwrap(), data);
}

/// T33 at the destination: the same chunk sent 100,000 times is idempotent (ignored after the
/// first, no rewrite, no hashing) and bounded in time; the file is right.
#[test]
fn t33_same_chunk_sent_100000_times_is_idempotent() {
    let t = tempfile::tempdir().unwrap();
    let data = noise(33, 2 * PIECE);
    let (l, h) = dest_wanting_one(t.path(), data.len());
    let (list, sum) = list_and_sum(1, &data);
    l.tx.send(list).unwrap();
    l.tx.send(sum).unwrap();
    let start = Instant::now();
    let first = data_msg(1, &data, 0);
    for _ in 0..100_000 {
        l.tx.send(first.clone()).unwrap();
    }
    l.tx.send(data_msg(1, &data, 1)).unwrap();
    honest(l, &[(1, data.clone())].into(), |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    assert_eq!(std::fs::read(t.path().join("f")).unwrap(), data);
}

/// An interrupted transfer of a 5 MiB file (80 chunks) with a manifest: the scripted source
/// sends the first `sent` chunks, waits until they are recorded, and vanishes. Returns the
/// manifest path and the staged temp file.
fn interrupted_staged(t: &Path, data: &[u8], sent: u32) -> (PathBuf, PathBuf) {
    let dst = t.join("dst");
    let mut cfg = dest_cfg(&dst, Flags::PERMS);
    let m = t.join("m.db");
    cfg.manifest = Some(m.clone());
    let (l, h) = start_dest(cfg);
    send_list(&l, vec![dir("."), file("big", data.len())]);
    let files: HashMap<u32, Vec<u8>> = [(1, data.to_vec())].into();
    honest(l, &files, |_, i| {
        if i == sent {
            // Past the 200 ms commit interval of the resume record.
            std::thread::sleep(Duration::from_millis(600));
        }
        i < sent
    });
    assert!(h.join().unwrap().is_err(), "the source vanished");
    let temps = temps_under(&dst);
    assert_eq!(temps.len(), 1, "the staged temp is kept for resume: {temps:?}");
    (m, dst.join(&temps[0]))
}

/// Rerun of [`interrupted_staged`] with an honest source; returns the chunk indices it asked for.
fn resume(t: &Path, m: &Path, data: &[u8]) -> Vec<u32> {
    let dst = t.join("dst");
    let mut cfg = dest_cfg(&dst, Flags::PERMS);
    cfg.manifest = Some(m.to_path_buf());
    let (l, h) = start_dest(cfg);
    send_list(&l, vec![dir("."), file("big", data.len())]);
    let seen = honest(l, &[(1, data.to_vec())].into(), |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    assert_eq!(std::fs::read(dst.join("big")).unwrap(), data, "the resumed file is wrong");
    assert!(temps_under(&dst).is_empty());
    seen.wanted.iter().map(|(_, i)| *i).collect()
}

/// T34: resume never trusts a claim about the receiver's disk: the rerun re-verifies every
/// staged chunk by hash before reusing it. Chunk 0 of the staged temp is overwritten between
/// the runs: the rerun asks for it (and for the chunks never received), reuses the rest, and
/// the file is right. Fails if staged data were reused unverified.
#[test]
fn t34_resume_reverifies_staged_data_by_hash() {
    let t = tempfile::tempdir().unwrap();
    let data = noise(34, 80 * PIECE);
    let (m, temp) = interrupted_staged(t.path(), &data, 40);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&temp).unwrap();
        f.write_all_at(&vec![b'X'; PIECE], 0).unwrap();
    }
    let wanted = resume(t.path(), &m, &data);
    let mut expect: Vec<u32> = vec![0];
    expect.extend(40..80);
    assert_eq!(wanted, expect, "asked for the corrupted chunk and the missing ones only");
}

/// T18/T34: the staged temp of an interrupted run is replaced by a symlink to a file outside
/// with the same content. The rerun does not read through it (no chunk reused from it: all
/// 80 are asked for), the outside file is untouched and the link is swept.
#[test]
fn t18_staged_temp_swapped_for_symlink_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let data = noise(18, 80 * PIECE);
    let (m, temp) = interrupted_staged(t.path(), &data, 40);
    let outside = t.path().join("outside-copy");
    std::fs::rename(&temp, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &temp).unwrap();
    let before = fingerprint(t.path(), &["dst", "m.db", "m.db-wal", "m.db-shm"]);
    let wanted = resume(t.path(), &m, &data);
    assert_eq!(wanted, (0..80).collect::<Vec<u32>>(), "chunks were read through the planted link");
    assert!(fingerprint(t.path(), &["dst", "m.db", "m.db-wal", "m.db-shm"]) == before, "outside changed");
}

/// T35: the destination reuses local chunks only from its own destination tree. A manifest
/// shared with another tree (`a/`, which holds a secret file) and a symlink in `b/` to that
/// file: a hostile source probing `b/` with the secret's chunk ids gets a `Want` for every
/// chunk (not found), and without the data no file appears. For comparison, when `b/` itself
/// holds the content the chunks are reused and not asked for: a source can learn that the
/// destination already has content it knows (inherent in deduplication), never read it — the
/// destination role sends no chunk data at all.
#[test]
fn t35_chunks_are_reused_only_from_the_own_destination_tree() {
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("m.db");
    let secret = noise(35, 4 * PIECE);
    let run_into = |root: &Path, serve: bool| -> Seen {
        let mut cfg = dest_cfg(root, Flags::PERMS);
        cfg.manifest = Some(m.clone());
        let (l, h) = start_dest(cfg);
        send_list(&l, vec![dir("."), file("probe", secret.len())]);
        let seen = honest(l, &[(1, secret.clone())].into(), |_, _| serve);
        let _ = h.join().unwrap();
        seen
    };
    let a = t.path().join("a");
    let (l, h) = {
        let mut cfg = dest_cfg(&a, Flags::PERMS);
        cfg.manifest = Some(m.clone());
        start_dest(cfg)
    };
    send_list(&l, vec![dir("."), file("secret", secret.len())]);
    honest(l, &[(1, secret.clone())].into(), |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);

    let b = t.path().join("b");
    std::fs::create_dir(&b).unwrap();
    std::os::unix::fs::symlink(a.join("secret"), b.join("secret")).unwrap();
    let seen = run_into(&b, false);
    assert_eq!(seen.wanted.len(), 1, "the first Want is the whole file: {:?}", seen.wanted);
    assert!(!b.join("probe").exists());

    let c = t.path().join("c");
    std::fs::create_dir(&c).unwrap();
    std::fs::write(c.join("secret"), &secret).unwrap();
    // Index c's own copy in the manifest with an honest run that changes nothing.
    let (l, h) = {
        let mut cfg = dest_cfg(&c, Flags::PERMS | Flags::CHECKSUM);
        cfg.manifest = Some(m.clone());
        start_dest(cfg)
    };
    send_list(&l, vec![dir("."), file("secret", secret.len())]);
    honest(l, &[(1, secret.clone())].into(), |_, _| true);
    assert_eq!(h.join().unwrap().unwrap().errors, 0);
    let seen = run_into(&c, true);
    assert!(seen.wanted.is_empty(), "the destination's own copy is reused: {:?}", seen.wanted);
    assert_eq!(std::fs::read(c.join("probe")).unwrap(), secret);
}

/// T36: a hostile receiver names entries by id, never by path: an id past the list, the id of
/// a directory, a Want before the chunk list and a Want for an index past it are all refused;
/// no chunk data is sent for any of them.
#[test]
fn t36_receiver_requests_name_ids_and_bad_ids_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("f"), noise(36, 100_000)).unwrap();
    let cases: Vec<(&str, &str)> = vec![
        ("past the list", "need for unknown entry"),
        ("a directory", "not a regular file"),
        ("want first", "before its chunk list"),
        ("index past the list", "not listed"),
    ];
    for (what, expect) in cases {
        let (l, entries, h) = start_source(&src);
        let (f, d) = (id_of(&entries, "f"), id_of(&entries, "d"));
        let mut got = Vec::new();
        match what {
            "past the list" => {
                l.tx.send(Message::Need { files: vec![entries.len() as u32 + 5], inline: true }).unwrap()
            }
            "a directory" => {
                // Refused by the chunker; the session ends with that error once the peer stops.
                l.tx.send(Message::Need { files: vec![d], inline: true }).unwrap();
                l.tx.send(Message::Done).unwrap();
            }
            "want first" => l.tx.send(Message::Want { file: f, ranges: vec![(0, 1)] }).unwrap(),
            _ => {
                l.tx.send(Message::Need { files: vec![f], inline: false }).unwrap();
                let n = loop {
                    match recv(&l) {
                        Message::FileSum { count, .. } => break count,
                        m => got.push(m),
                    }
                };
                l.tx.send(Message::Want { file: f, ranges: vec![(n, 1)] }).unwrap();
            }
        }
        let e = format!("{:#}", h.join().unwrap().expect_err(what));
        assert!(e.contains(expect), "{what}: {e}");
        got.extend(l.rx.try_iter());
        assert!(!got.iter().any(|m| matches!(m, Message::Data { .. })), "{what}: data was sent");
    }
}
