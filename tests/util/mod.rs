//! Shared helpers for the integration tests.
//!
//! - [`pcp`] / [`TestDir::pcp`]: a `Command` for the binary under test with a
//!   sandboxed environment (HOME, XDG_*_HOME and TMPDIR inside a temp dir).
//! - [`TestDir`]: a temp dir that removes itself, with small file helpers.
//! - [`run`], [`run_ok`], [`spawn_in_own_group`], [`sigkill_group`]: bounded
//!   process handling.
//! - [`gen_tree`] / [`TreeSpec`]: a seeded random tree with awkward names,
//!   symlinks of every kind, modes and old mtimes.
//! - [`Mutator`]: seeded mutations of such a tree, a round at a time.
//! - [`check_trees_equal`] / [`assert_trees_equal`] / [`tree_diff`]: compare
//!   two trees (types, content, mode bits, mtimes to the second, link
//!   targets) with a readable diff.
//!
//! Everything is deterministic per seed (ChaCha8), except mtimes that a real
//! edit would set to "now" (front insertion, append, truncate, new entries).

#![allow(dead_code)] // each test module uses a different subset

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod netns;
pub mod peer;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

/// Path of the binary under test.
pub const PCP: &str = env!("CARGO_BIN_EXE_pcp");

/// Default bound for any single command run by the tests.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Sandboxed commands
// ---------------------------------------------------------------------------

/// Point every per-user location of `cmd` into `home` (created if needed):
/// HOME, XDG_CONFIG_HOME, XDG_STATE_HOME (pcp's manifests), XDG_DATA_HOME,
/// XDG_CACHE_HOME and TMPDIR. Any inherited `PCP_*` variable is removed, so
/// the developer's own settings never leak into a test.
pub fn sandbox_env<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    let dirs = [
        ("XDG_CONFIG_HOME", home.join(".config")),
        ("XDG_STATE_HOME", home.join(".local/state")),
        ("XDG_DATA_HOME", home.join(".local/share")),
        ("XDG_CACHE_HOME", home.join(".cache")),
        ("TMPDIR", home.join("tmp")),
    ];
    for (_, d) in &dirs {
        fs::create_dir_all(d).expect("create sandbox dir");
    }
    for (k, _) in std::env::vars_os() {
        if k.as_bytes().starts_with(b"PCP_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home);
    // No mDNS on the host's own network (a test that wants it, in its namespaces, removes this).
    cmd.env("PCP_NO_MDNS", "1");
    for (k, d) in dirs {
        cmd.env(k, d);
    }
    cmd.stdin(Stdio::null());
    cmd
}

thread_local! {
    // libtest runs every test on its own thread, so this is a per-test
    // sandbox; it is removed when the test's thread ends.
    static THREAD_SANDBOX: tempfile::TempDir = tempfile::Builder::new()
        .prefix("pcp-it-home.")
        .tempdir()
        .expect("create sandbox home");
}

/// `pcp` with a per-test sandboxed environment (a temp HOME shared by every
/// `pcp()` call of the same test). Use [`TestDir::pcp`] when the sandbox
/// should live inside the test's own `TestDir`.
pub fn pcp() -> Command {
    THREAD_SANDBOX.with(|d| pcp_with_home(d.path()))
}

/// `pcp` with its sandbox at `home`.
pub fn pcp_with_home(home: &Path) -> Command {
    let mut cmd = Command::new(PCP);
    sandbox_env(&mut cmd, home);
    cmd
}

/// Panic with a clear message unless `rsync` is runnable (the oracle needs it).
pub fn require_rsync() {
    let ok = Command::new("rsync")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "these tests use rsync as an oracle: install it (apt-get install -y rsync)");
}

/// `SRC/`: a path with a trailing slash (rsync's "contents of" form).
pub fn slash(p: &Path) -> OsString {
    let mut s = p.as_os_str().to_owned();
    if !s.as_bytes().ends_with(b"/") {
        s.push("/");
    }
    s
}

// ---------------------------------------------------------------------------
// TestDir
// ---------------------------------------------------------------------------

/// A temp directory removed on drop. Its `home/` subdir is the sandbox used
/// by [`TestDir::pcp`] and [`TestDir::rsync`]; put trees in other subdirs.
pub struct TestDir {
    tmp: tempfile::TempDir,
}

/// Name of the sandbox subdir inside every [`TestDir`].
pub const SANDBOX_NAME: &str = "home";

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDir {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new().prefix("pcp-it.").tempdir().expect("create temp dir");
        TestDir { tmp }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// The sandbox HOME used by [`TestDir::pcp`].
    pub fn home(&self) -> PathBuf {
        self.join(SANDBOX_NAME)
    }

    /// `pcp` sandboxed in this dir's `home/`, run from this dir.
    pub fn pcp(&self) -> Command {
        let mut cmd = pcp_with_home(&self.home());
        cmd.current_dir(self.path());
        cmd
    }

    /// `rsync` (the oracle) with the same sandbox, run from this dir.
    pub fn rsync(&self) -> Command {
        let mut cmd = Command::new("rsync");
        sandbox_env(&mut cmd, &self.home());
        cmd.current_dir(self.path());
        cmd
    }

    /// `mkdir -p` of `rel`; returns its path.
    pub fn mkdir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let p = self.join(rel);
        fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// Write `bytes` to `rel`, creating parents; returns its path.
    pub fn write(&self, rel: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir parent");
        }
        fs::write(&p, bytes).expect("write");
        p
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        fs::read(self.join(rel)).expect("read")
    }
}

// ---------------------------------------------------------------------------
// Running processes, always bounded in time
// ---------------------------------------------------------------------------

/// Run `cmd` to completion (stdout/stderr captured, stdin null), killing it
/// and panicking after `timeout`.
pub fn run_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {timeout:?}: {desc}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: out_t.join().expect("stdout reader"), stderr: err_t.join().expect("stderr reader") }
}

/// [`run_timeout`] with [`DEFAULT_TIMEOUT`].
pub fn run(cmd: &mut Command) -> Output {
    run_timeout(cmd, DEFAULT_TIMEOUT)
}

/// [`run`], panicking (with the command's output) unless it exited 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "command failed ({}): {desc}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Spawn `cmd` as the leader of a new process group (so [`sigkill_group`]
/// can kill it and every helper it forked at once), output discarded.
pub fn spawn_in_own_group(cmd: &mut Command) -> Child {
    cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn")
}

/// What [`sigkill_group`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    /// The process was still running and died of SIGKILL.
    Killed,
    /// It had already exited by itself with this status.
    Finished(ExitStatus),
}

/// SIGKILL the whole process group led by `child` (spawned with
/// [`spawn_in_own_group`]), reap it, and wait (≤ 2 s) until no live member
/// of the group is left, so nothing still writes when the caller inspects
/// the file system.
pub fn sigkill_group(child: &mut Child) -> KillOutcome {
    let pgid = child.id();
    // The leader is not reaped yet, so its pid (= pgid) cannot be reused.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill(); // in case `kill` was unavailable; harmless otherwise
    let status = child.wait().expect("wait for killed child");
    let deadline = Instant::now() + Duration::from_secs(2);
    while group_has_live_members(pgid) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    if status.signal() == Some(9) {
        KillOutcome::Killed
    } else {
        KillOutcome::Finished(status)
    }
}

/// Whether any non-zombie process in /proc has process group `pgid`.
fn group_has_live_members(pgid: u32) -> bool {
    let Ok(rd) = fs::read_dir("/proc") else {
        return false;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if !name.as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(stat) = fs::read(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may contain anything, so
        // parse after the last ')'.
        let Some(close) = stat.iter().rposition(|&b| b == b')') else {
            continue;
        };
        let rest = String::from_utf8_lossy(&stat[close + 1..]).into_owned();
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let _ppid = fields.next();
        let pgrp = fields.next().and_then(|f| f.parse::<u32>().ok());
        if pgrp == Some(pgid) && state != "Z" && state != "X" {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------
// Low-level file helpers
// ---------------------------------------------------------------------------

/// Set the mtime (atime untouched) of a regular file or directory.
pub fn set_mtime(path: &Path, t: SystemTime) {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    f.set_times(FileTimes::new().set_modified(t)).unwrap_or_else(|e| panic!("set mtime of {path:?}: {e}"));
}

/// Set the mtime of a symlink itself (std has no lutimes: uses `touch -h`).
pub fn set_symlink_mtime(path: &Path, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).expect("mtime after epoch");
    let st = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("@{}.{:09}", d.as_secs(), d.subsec_nanos()))
        .arg("--")
        .arg(path)
        .status()
        .expect("run touch");
    assert!(st.success(), "touch -h {path:?} failed");
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {path:?}: {e}"));
}

/// mode & 0o7777 of `path` (not following symlinks).
pub fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("lstat").mode() & 0o7777
}

/// Whole-second mtime of `path` (not following symlinks).
pub fn mtime_secs(path: &Path) -> i64 {
    fs::symlink_metadata(path).expect("lstat").mtime()
}

/// A random instant between 2000-01-01 and 2024-01-01 with random nanoseconds.
pub fn random_past_time(rng: &mut impl Rng) -> SystemTime {
    let secs = rng.random_range(946_684_800u64..1_704_067_200);
    let nanos = rng.random_range(0..1_000_000_000u32);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Like [`random_past_time`] but never in whole second `not_secs`.
pub fn random_past_time_not(rng: &mut impl Rng, not_secs: i64) -> SystemTime {
    for _ in 0..100 {
        let t = random_past_time(rng);
        if system_time_secs(t) != not_secs {
            return t;
        }
    }
    UNIX_EPOCH + Duration::from_secs(not_secs.unsigned_abs() ^ 1)
}

fn system_time_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).expect("after epoch").as_secs() as i64
}

/// `len` random bytes drawn from `rng`. Large buffers are expanded from a
/// 32-byte key with the blake3 XOF: ChaCha in a debug-built test binary
/// runs at ~50 MB/s, the (optimised, SIMD) XOF at several GB/s.
pub fn random_bytes(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    if len <= 4096 {
        rng.fill_bytes(&mut v);
    } else {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        blake3::Hasher::new_keyed(&key).finalize_xof().fill(&mut v);
    }
    v
}

/// Stream of pseudo-random content determined by `seed` (a ChaCha8-drawn
/// key expanded by the blake3 XOF, see [`random_bytes`]).
pub fn seeded_stream(seed: u64) -> blake3::OutputReader {
    let mut key = [0u8; 32];
    ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut key);
    blake3::Hasher::new_keyed(&key).finalize_xof()
}

/// Write `len` bytes of [`seeded_stream`]`(seed)` to `path`, streaming in
/// 1 MiB chunks; returns the content's blake3. The same seed gives the same
/// content (a shorter length gives a prefix of it).
pub fn write_seeded_file(path: &Path, seed: u64, len: u64) -> blake3::Hash {
    let mut stream = seeded_stream(seed);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {parent:?}: {e}"));
    }
    let mut f = File::create(path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        stream.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).expect("write");
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    hasher.finalize()
}

/// blake3 of what [`write_seeded_file`] writes, without writing it.
pub fn seeded_hash(seed: u64, len: u64) -> blake3::Hash {
    let mut stream = seeded_stream(seed);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        stream.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    hasher.finalize()
}

/// blake3 of a file's content.
pub fn hash_file(path: &Path) -> blake3::Hash {
    let f = File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    let mut h = blake3::Hasher::new();
    h.update_reader(f).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
    h.finalize()
}

/// `cp -a src dst` (dst must not exist): an exact copy incl. modes, mtimes
/// and symlinks, independent of the tool under test.
pub fn copy_tree(src: &Path, dst: &Path) {
    let out = run(Command::new("cp").arg("-a").arg("--").arg(src).arg(dst));
    assert!(out.status.success(), "cp -a {src:?} {dst:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Make `path` owner-writable for the duration of `f` (a 0444 file can then
/// be edited even when not running as root), restoring its mode after.
fn with_writable<T>(path: &Path, f: impl FnOnce() -> T) -> T {
    let mode = mode_of(path);
    if mode & 0o200 == 0 {
        set_mode(path, mode | 0o200);
    }
    let r = f();
    if mode & 0o200 == 0 {
        set_mode(path, mode);
    }
    r
}

// ---------------------------------------------------------------------------
// Walking and comparing trees
// ---------------------------------------------------------------------------

/// Type of a directory entry, as seen without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    Other,
}

/// All entries under `root` (not `root` itself), depth-first in sorted
/// order, as (relative path, type). Never follows symlinks.
pub fn list_tree(root: &Path) -> Vec<(PathBuf, EntryType)> {
    fn rec(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, EntryType)>) {
        let dir = root.join(rel);
        let mut names: Vec<OsString> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read_dir {dir:?}: {e}"))
            .map(|e| e.expect("dir entry").file_name())
            .collect();
        names.sort();
        for name in names {
            let r = rel.join(&name);
            let ft = fs::symlink_metadata(root.join(&r)).unwrap_or_else(|e| panic!("lstat {r:?}: {e}")).file_type();
            let t = if ft.is_symlink() {
                EntryType::Symlink
            } else if ft.is_dir() {
                EntryType::Dir
            } else if ft.is_file() {
                EntryType::File
            } else {
                EntryType::Other
            };
            out.push((r.clone(), t));
            if t == EntryType::Dir {
                rec(root, &r, out);
            }
        }
    }
    let mut out = Vec::new();
    rec(root, Path::new(""), &mut out);
    out
}

/// What [`snapshot`] records per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File { len: u64, hash: blake3::Hash },
    Dir,
    Symlink(PathBuf),
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub content: Content,
    /// mode & 0o7777
    pub mode: u32,
    /// whole seconds
    pub mtime: i64,
}

/// Every entry of the tree at `root`, keyed by relative path; the root
/// itself is the empty path. Never follows symlinks.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, EntryInfo> {
    let mut map = BTreeMap::new();
    let mut entries = vec![(PathBuf::new(), EntryType::Dir)];
    entries.extend(list_tree(root));
    for (rel, t) in entries {
        let p = root.join(&rel);
        let md = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("lstat {p:?}: {e}"));
        let content = match t {
            EntryType::File => Content::File { len: md.len(), hash: hash_file(&p) },
            EntryType::Dir => Content::Dir,
            EntryType::Symlink => Content::Symlink(fs::read_link(&p).expect("readlink")),
            EntryType::Other => Content::Other(format!("{:?}", md.file_type())),
        };
        map.insert(rel, EntryInfo { content, mode: md.mode() & 0o7777, mtime: md.mtime() });
    }
    map
}

/// Which attributes [`tree_diff`] compares besides paths, types, file
/// content and link targets (always compared).
#[derive(Debug, Clone, Copy)]
pub struct Compare {
    /// Permission bits (mode & 0o7777) of files and dirs (a symlink's own
    /// mode is meaningless on Linux and never compared).
    pub mode: bool,
    /// mtime to the second of files, dirs and symlinks.
    pub mtime: bool,
    /// Also compare the two roots' own mode/mtime (rsync `SRC/ DEST/` sets
    /// DEST's to SRC's).
    pub root_meta: bool,
}

impl Compare {
    pub const ALL: Compare = Compare { mode: true, mtime: true, root_meta: true };
    pub const CONTENT_ONLY: Compare = Compare { mode: false, mtime: false, root_meta: false };
}

fn show(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        "<root>".to_string()
    } else {
        format!("{rel:?}")
    }
}

fn kind_name(c: &Content) -> String {
    match c {
        Content::File { len, .. } => format!("file ({len} B)"),
        Content::Dir => "dir".into(),
        Content::Symlink(t) => format!("symlink -> {t:?}"),
        Content::Other(s) => format!("other ({s})"),
    }
}

/// Every difference between the trees at `a` and `b`, one line each.
pub fn tree_diff(a: &Path, b: &Path, cmp: Compare) -> Vec<String> {
    let sa = snapshot(a);
    let sb = snapshot(b);
    let mut diffs = Vec::new();
    for (rel, ea) in &sa {
        let Some(eb) = sb.get(rel) else {
            diffs.push(format!("only in A: {} ({})", show(rel), kind_name(&ea.content)));
            continue;
        };
        let is_root = rel.as_os_str().is_empty();
        match (&ea.content, &eb.content) {
            (Content::File { len: la, hash: ha }, Content::File { len: lb, hash: hb }) => {
                if ha != hb {
                    diffs.push(format!("{}: file content differs (A {la} B, B {lb} B)", show(rel)));
                }
            }
            (Content::Symlink(ta), Content::Symlink(tb)) => {
                if ta != tb {
                    diffs.push(format!("{}: symlink target differs: A {ta:?} vs B {tb:?}", show(rel)));
                }
            }
            (Content::Dir, Content::Dir) => {}
            (ca, cb) => {
                diffs.push(format!("{}: type differs: A {} vs B {}", show(rel), kind_name(ca), kind_name(cb)));
                continue;
            }
        }
        if is_root && !cmp.root_meta {
            continue;
        }
        let is_link = matches!(ea.content, Content::Symlink(_));
        if cmp.mode && !is_link && ea.mode != eb.mode {
            diffs.push(format!("{}: mode differs: A {:04o} vs B {:04o}", show(rel), ea.mode, eb.mode));
        }
        if cmp.mtime && ea.mtime != eb.mtime {
            diffs.push(format!(
                "{}: mtime differs: A {} vs B {} ({:+} s)",
                show(rel),
                ea.mtime,
                eb.mtime,
                eb.mtime - ea.mtime
            ));
        }
    }
    for (rel, eb) in &sb {
        if !sa.contains_key(rel) {
            diffs.push(format!("only in B: {} ({})", show(rel), kind_name(&eb.content)));
        }
    }
    diffs
}

/// Number of differences shown by [`check_trees_equal_with`].
pub const DIFF_LINES_SHOWN: usize = 20;

/// `Err` with a readable report (first [`DIFF_LINES_SHOWN`] differences)
/// unless the trees are equal under `cmp`.
pub fn check_trees_equal_with(a: &Path, b: &Path, cmp: Compare) -> Result<(), String> {
    let diffs = tree_diff(a, b, cmp);
    if diffs.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "trees differ ({} difference(s){})\n  A = {a:?}\n  B = {b:?}\n",
        diffs.len(),
        if diffs.len() > DIFF_LINES_SHOWN { format!(", first {DIFF_LINES_SHOWN} shown") } else { String::new() }
    );
    for d in diffs.iter().take(DIFF_LINES_SHOWN) {
        msg.push_str("  - ");
        msg.push_str(d);
        msg.push('\n');
    }
    Err(msg)
}

/// [`check_trees_equal_with`] comparing everything ([`Compare::ALL`]).
pub fn check_trees_equal(a: &Path, b: &Path) -> Result<(), String> {
    check_trees_equal_with(a, b, Compare::ALL)
}

/// Panic with a readable diff unless the trees at `a` and `b` have the same
/// paths, types, file contents, link targets, permission bits and mtimes
/// (to the second; files, dirs and symlinks; roots included).
pub fn assert_trees_equal(a: &Path, b: &Path) {
    if let Err(msg) = check_trees_equal(a, b) {
        panic!("{msg}");
    }
}

/// Like [`assert_trees_equal`] but only paths, types, file contents and
/// link targets.
pub fn assert_same_content(a: &Path, b: &Path) {
    if let Err(msg) = check_trees_equal_with(a, b, Compare::CONTENT_ONLY) {
        panic!("{msg}");
    }
}

/// Cheap fingerprint of a tree (type, size, mtime in ns, mode, link target;
/// no hashing), skipping top-level names in `exclude`. For "nothing else
/// changed" checks.
pub fn fingerprint(root: &Path, exclude: &[&str]) -> BTreeMap<PathBuf, String> {
    let mut map = BTreeMap::new();
    for (rel, t) in list_tree(root) {
        let top = rel.components().next().map(|c| c.as_os_str().to_owned());
        if top.is_some_and(|top| exclude.iter().any(|x| OsStr::new(x) == top)) {
            continue;
        }
        let md = fs::symlink_metadata(root.join(&rel)).expect("lstat");
        let target = if t == EntryType::Symlink {
            format!(" -> {:?}", fs::read_link(root.join(&rel)).expect("readlink"))
        } else {
            String::new()
        };
        let v = format!(
            "{t:?} len={} mtime={}.{:09} mode={:o}{target}",
            if t == EntryType::Dir { 0 } else { md.len() },
            md.mtime(),
            md.mtime_nsec(),
            md.mode() & 0o7777
        );
        map.insert(rel, v);
    }
    map
}

/// Lines describing how two [`fingerprint`]s differ (empty: identical).
pub fn fingerprint_diff(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut v = Vec::new();
    for (k, b) in before {
        match after.get(k) {
            None => v.push(format!("removed: {k:?} ({b})")),
            Some(a) if a != b => v.push(format!("changed: {k:?}: {b} => {a}")),
            Some(_) => {}
        }
    }
    for (k, a) in after {
        if !before.contains_key(k) {
            v.push(format!("created: {k:?} ({a})"));
        }
    }
    v
}

// ---------------------------------------------------------------------------
// Random trees
// ---------------------------------------------------------------------------

/// Shape of a [`gen_tree`] tree.
#[derive(Debug, Clone)]
pub struct TreeSpec {
    /// Deepest directory level (root = 0).
    pub max_depth: usize,
    /// Random directories besides the fixed ones.
    pub dirs: usize,
    /// Random files besides the fixed ones.
    pub files: usize,
    /// Random symlinks besides one of each kind.
    pub symlinks: usize,
    /// Largest file.
    pub max_file_bytes: u64,
    /// Total bytes of all files (also the budget the [`Mutator`] keeps to).
    pub max_total_bytes: u64,
}

impl Default for TreeSpec {
    fn default() -> Self {
        TreeSpec {
            max_depth: 4,
            dirs: 20,
            files: 110,
            symlinks: 10,
            max_file_bytes: 3 * MIB,
            max_total_bytes: 12 * MIB,
        }
    }
}

/// Counts of what [`gen_tree`] made.
#[derive(Debug, Clone, Default)]
pub struct TreeSummary {
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    pub bytes: u64,
}

const NAME_STEMS: &[&str] = &[
    "file",
    "data",
    "notes",
    "with space",
    "two  spaces",
    " leading space",
    "café",
    "é",
    "日本",
    "日本語のファイル",
    "emoji 🦀",
    "🎉",
    "-rf",
    "--delete",
    "-n",
    "UPPER",
    "MiXeD",
    "a.b.c",
    "semi;colon",
    "quote'd",
    "dq\"uote",
    "brackets[1]",
    "star*",
    "q?mark",
    "percent%20",
    "back\\slash",
    "colon:name",
    "#hash",
    "~tilde",
    "$dollar",
    ".hidden",
];

const EXTS: &[&str] = &["", ".txt", ".bin", ".tar.gz", ".rs", ".log"];

const FILE_MODES: &[u32] = &[0o644, 0o644, 0o644, 0o600, 0o755, 0o444];
const DIR_MODES: &[u32] = &[0o755, 0o755, 0o700];

/// A name not yet present in `dir`.
fn fresh_name(rng: &mut impl Rng, dir: &Path) -> OsString {
    for attempt in 0..1000u32 {
        let stem = NAME_STEMS.choose(rng).expect("stems");
        let ext = EXTS.choose(rng).expect("exts");
        let name = if attempt == 0 && rng.random_bool(0.3) {
            format!("{stem}{ext}")
        } else {
            format!("{stem}-{}{ext}", rng.random_range(0..10_000u32))
        };
        if fs::symlink_metadata(dir.join(&name)).is_err() {
            return name.into();
        }
    }
    panic!("no fresh name in {dir:?}");
}

/// Mostly small; a few up to `max`; never more than `budget` (when the
/// drawn size does not fit, a small one is drawn instead).
fn random_size(rng: &mut impl Rng, max: u64, budget: u64) -> u64 {
    let r = rng.random_range(0..100u32);
    let (lo, hi) = match r {
        0..=4 => (0, 0),
        5..=61 => (1, 2 * KIB),
        62..=86 => (2 * KIB, 64 * KIB),
        87..=96 => (64 * KIB, 512 * KIB),
        _ => (512 * KIB, max),
    };
    let len = rng.random_range(lo..=hi.max(lo));
    if len <= budget {
        len
    } else {
        rng.random_range(0..=budget.min(2 * KIB))
    }
}

fn depth_of(rel: &Path) -> usize {
    rel.components().filter(|c| matches!(c, Component::Normal(_))).count()
}

/// Link text that reaches `target_rel` (relative to the tree root) from a
/// symlink placed in directory `link_dir_rel`.
fn relative_link(link_dir_rel: &Path, target_rel: &Path) -> PathBuf {
    let mut p = PathBuf::new();
    for _ in 0..depth_of(link_dir_rel) {
        p.push("..");
    }
    p.push(target_rel);
    p
}

fn total_file_bytes(root: &Path) -> u64 {
    list_tree(root)
        .iter()
        .filter(|(_, t)| *t == EntryType::File)
        .map(|(r, _)| fs::symlink_metadata(root.join(r)).expect("lstat").len())
        .sum()
}

/// Shared state of [`gen_tree`] and [`Mutator`].
struct Maker {
    rng: ChaCha8Rng,
    spec: TreeSpec,
}

impl Maker {
    fn write_file(&mut self, root: &Path, rel: &Path, len: u64) {
        let data = random_bytes(&mut self.rng, len as usize);
        fs::write(root.join(rel), data).unwrap_or_else(|e| panic!("write {rel:?}: {e}"));
    }

    /// A file with random size (≤ `budget`), mode and old mtime.
    fn new_file(&mut self, root: &Path, rel: &Path, budget: u64) -> u64 {
        let len = random_size(&mut self.rng, self.spec.max_file_bytes, budget);
        self.write_file(root, rel, len);
        let mode = *FILE_MODES.choose(&mut self.rng).expect("modes");
        set_mode(&root.join(rel), mode);
        let t = random_past_time(&mut self.rng);
        set_mtime(&root.join(rel), t);
        len
    }

    /// A random symlink target as seen from `link_dir`: kind 0 = relative to
    /// a file, 1 = relative to a dir, 2 = dangling relative, 3 = absolute
    /// nonexistent; other = random kind.
    fn link_target(&mut self, root: &Path, link_dir: &Path, kind: u32) -> PathBuf {
        let entries = list_tree(root);
        let files: Vec<&PathBuf> = entries.iter().filter(|(_, t)| *t == EntryType::File).map(|(r, _)| r).collect();
        let dirs: Vec<&PathBuf> = entries.iter().filter(|(_, t)| *t == EntryType::Dir).map(|(r, _)| r).collect();
        let kind = if kind > 3 { self.rng.random_range(0..4) } else { kind };
        match kind {
            0 if !files.is_empty() => relative_link(link_dir, files.choose(&mut self.rng).expect("file")),
            1 if !dirs.is_empty() => relative_link(link_dir, dirs.choose(&mut self.rng).expect("dir")),
            3 => PathBuf::from(if self.rng.random_bool(0.5) { "/nonexistent/x" } else { "/nonexistent/dir/" }),
            _ => PathBuf::from(format!("does-not-exist/{}", self.rng.random_range(0..1000u32))),
        }
    }

    fn new_symlink(&mut self, root: &Path, link_dir: &Path, kind: u32) {
        let target = self.link_target(root, link_dir, kind);
        let name = fresh_name(&mut self.rng, &root.join(link_dir));
        let p = root.join(link_dir).join(name);
        symlink(&target, &p).unwrap_or_else(|e| panic!("symlink {p:?}: {e}"));
        let t = random_past_time(&mut self.rng);
        set_symlink_mtime(&p, t);
    }

    fn dirs_below_depth(&self, root: &Path, max_depth: usize) -> Vec<PathBuf> {
        let mut v = vec![PathBuf::new()];
        v.extend(
            list_tree(root)
                .into_iter()
                .filter(|(r, t)| *t == EntryType::Dir && depth_of(r) < max_depth)
                .map(|(r, _)| r),
        );
        v
    }
}

/// Generate a random tree at `root` (created) with [`TreeSpec::default`].
pub fn gen_tree(root: &Path, seed: u64) -> TreeSummary {
    gen_tree_with(root, seed, &TreeSpec::default())
}

/// Generate a random tree at `root` (created if missing): fixed awkward
/// entries (a `-rf` file, names with spaces/é/日本/emoji, an empty dir, a
/// zero-byte file, a depth-4 chain, a `.gitignore` that rsync must ignore,
/// one symlink of each kind) plus random dirs, files and symlinks. Files
/// get modes 600/644/755/444, dirs 755/700, everything (symlinks too) a
/// random old mtime with nanoseconds.
pub fn gen_tree_with(root: &Path, seed: u64, spec: &TreeSpec) -> TreeSummary {
    let mut mk = Maker { rng: ChaCha8Rng::seed_from_u64(seed), spec: spec.clone() };
    fs::create_dir_all(root).expect("mkdir root");
    let mut budget = spec.max_total_bytes;

    // Fixed awkward entries.
    for d in ["日本", "deep/a/b/c", "ignored", "emoji 🦀 dir"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let small: &[(&str, &[u8])] = &[
        ("-rf", b"not an option\n"),
        ("with space.txt", b"spaces\n"),
        ("café é.txt", "é\n".as_bytes()),
        ("日本/ファイル.txt", "日本\n".as_bytes()),
        ("emoji 🦀 dir/🎉.bin", b"\x00\x01\x02party"),
        ("zero", b""),
        ("deep/a/b/c/leaf.txt", b"depth 4\n"),
        (".gitignore", b"*.log\nignored/\n*\n"),
        ("debug.log", b"rsync copies this despite .gitignore\n"),
        ("ignored/kept.txt", b"kept\n"),
    ];
    for (rel, bytes) in small {
        let p = root.join(rel);
        fs::write(&p, bytes).expect("write fixed file");
        let mode = *FILE_MODES.choose(&mut mk.rng).expect("modes");
        set_mode(&p, mode);
        set_mtime(&p, random_past_time(&mut mk.rng));
        budget = budget.saturating_sub(bytes.len() as u64);
    }

    // Random dirs, then files (the first one large), then symlinks.
    for _ in 0..spec.dirs {
        let parents = mk.dirs_below_depth(root, spec.max_depth);
        let parent = parents.choose(&mut mk.rng).expect("parent").clone();
        let name = fresh_name(&mut mk.rng, &root.join(&parent));
        fs::create_dir(root.join(&parent).join(name)).expect("mkdir");
    }
    let all_dirs = mk.dirs_below_depth(root, spec.max_depth + 1);
    for i in 0..spec.files {
        let dir = all_dirs.choose(&mut mk.rng).expect("dir").clone();
        let name = fresh_name(&mut mk.rng, &root.join(&dir));
        let rel = dir.join(name);
        if i == 0 {
            let len = mk.rng.random_range(MIB..=spec.max_file_bytes.max(MIB)).min(budget);
            mk.write_file(root, &rel, len);
            set_mode(&root.join(&rel), 0o644);
            set_mtime(&root.join(&rel), random_past_time(&mut mk.rng));
            budget -= len;
        } else {
            budget -= mk.new_file(root, &rel, budget);
        }
    }
    let link_dirs = mk.dirs_below_depth(root, spec.max_depth + 1);
    for i in 0..(4 + spec.symlinks) {
        let dir = link_dirs.choose(&mut mk.rng).expect("dir").clone();
        mk.new_symlink(root, &dir, i as u32); // 0..3: one of each kind
    }

    // Made last, so that nothing random lands in it.
    fs::create_dir(root.join("empty dir")).expect("mkdir");

    // Dir modes, then dir mtimes deepest first (creating children bumps
    // the parent's mtime; chmod and utimes do not).
    let mut dirs: Vec<PathBuf> =
        list_tree(root).into_iter().filter(|(_, t)| *t == EntryType::Dir).map(|(r, _)| r).collect();
    for d in &dirs {
        let mode = *DIR_MODES.choose(&mut mk.rng).expect("modes");
        set_mode(&root.join(d), mode);
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(depth_of(d)));
    dirs.push(PathBuf::new());
    for d in &dirs {
        set_mtime(&root.join(d), random_past_time(&mut mk.rng));
    }

    let mut s = TreeSummary::default();
    for (rel, t) in list_tree(root) {
        match t {
            EntryType::File => {
                s.files += 1;
                s.bytes += fs::symlink_metadata(root.join(rel)).expect("lstat").len();
            }
            EntryType::Dir => s.dirs += 1,
            EntryType::Symlink => s.symlinks += 1,
            EntryType::Other => {}
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/// One kind of change [`Mutator`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutOp {
    /// Same size, new bytes, new distinct (past) mtime.
    EditInPlace,
    InsertFront,
    Append,
    Truncate,
    DeleteFile,
    DeleteSubtree,
    /// Move a file or symlink to another dir and/or name (sometimes
    /// replacing an existing file).
    Rename,
    FileToDir,
    DirToFile,
    SymlinkRetarget,
    Chmod,
    /// mtime only, content unchanged.
    Touch,
    AddEntries,
}

impl MutOp {
    pub const ALL: [MutOp; 13] = [
        MutOp::EditInPlace,
        MutOp::InsertFront,
        MutOp::Append,
        MutOp::Truncate,
        MutOp::DeleteFile,
        MutOp::DeleteSubtree,
        MutOp::Rename,
        MutOp::FileToDir,
        MutOp::DirToFile,
        MutOp::SymlinkRetarget,
        MutOp::Chmod,
        MutOp::Touch,
        MutOp::AddEntries,
    ];
}

/// Seeded mutator of a tree made by [`gen_tree`].
pub struct Mutator {
    mk: Maker,
    /// Every change made so far, one line each (print it when a test fails).
    pub log: Vec<String>,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self::with_spec(seed, &TreeSpec::default())
    }

    pub fn with_spec(seed: u64, spec: &TreeSpec) -> Self {
        Mutator { mk: Maker { rng: ChaCha8Rng::seed_from_u64(seed), spec: spec.clone() }, log: Vec::new() }
    }

    /// One round: every [`MutOp`] once (shuffled order), then `extra` random
    /// ones. Returns the lines this round added to [`Mutator::log`].
    pub fn round(&mut self, root: &Path, extra: usize) -> Vec<String> {
        let start = self.log.len();
        let mut ops = MutOp::ALL.to_vec();
        ops.shuffle(&mut self.mk.rng);
        for _ in 0..extra {
            ops.push(*MutOp::ALL.choose(&mut self.mk.rng).expect("ops"));
        }
        for op in ops {
            self.apply(root, op);
        }
        self.log[start..].to_vec()
    }

    fn pick(&mut self, root: &Path, want: &[EntryType]) -> Option<PathBuf> {
        let v: Vec<PathBuf> = list_tree(root).into_iter().filter(|(_, t)| want.contains(t)).map(|(r, _)| r).collect();
        v.choose(&mut self.mk.rng).cloned()
    }

    /// The dir with the fewest entries below it among three random picks,
    /// so that subtree removals do not wipe most of the tree.
    fn pick_small_dir(&mut self, root: &Path) -> Option<PathBuf> {
        (0..3).filter_map(|_| self.pick(root, &[EntryType::Dir])).min_by_key(|d| list_tree(&root.join(d)).len())
    }

    fn pick_nonempty_file(&mut self, root: &Path) -> Option<PathBuf> {
        let v: Vec<PathBuf> = list_tree(root)
            .into_iter()
            .filter(|(r, t)| *t == EntryType::File && fs::symlink_metadata(root.join(r)).expect("lstat").len() > 0)
            .map(|(r, _)| r)
            .collect();
        v.choose(&mut self.mk.rng).cloned()
    }

    fn budget(&self, root: &Path) -> u64 {
        self.mk.spec.max_total_bytes.saturating_sub(total_file_bytes(root))
    }

    /// Apply one change; returns its description (also logged), or `None`
    /// when the tree has nothing it applies to.
    pub fn apply(&mut self, root: &Path, op: MutOp) -> Option<String> {
        let desc = self.apply_inner(root, op)?;
        self.log.push(desc.clone());
        Some(desc)
    }

    fn apply_inner(&mut self, root: &Path, op: MutOp) -> Option<String> {
        match op {
            MutOp::EditInPlace => {
                let rel = self.pick_nonempty_file(root)?;
                let p = root.join(&rel);
                let old = fs::read(&p).expect("read");
                let mut new = random_bytes(&mut self.mk.rng, old.len());
                if new == old {
                    new[0] ^= 0xff;
                }
                with_writable(&p, || {
                    let mut f = OpenOptions::new().write(true).open(&p).expect("open");
                    f.seek(SeekFrom::Start(0)).expect("seek");
                    f.write_all(&new).expect("write");
                });
                let t = random_past_time_not(&mut self.mk.rng, mtime_secs(&p));
                set_mtime(&p, t);
                Some(format!("edit in place {rel:?} ({} B)", old.len()))
            }
            MutOp::InsertFront => {
                let rel = self.pick(root, &[EntryType::File])?;
                let p = root.join(&rel);
                let n = self.mk.rng.random_range(1..=4096usize);
                let mut data = random_bytes(&mut self.mk.rng, n);
                data.extend(fs::read(&p).expect("read"));
                with_writable(&p, || fs::write(&p, &data).expect("write"));
                Some(format!("insert {n} B at front of {rel:?}"))
            }
            MutOp::Append => {
                let rel = self.pick(root, &[EntryType::File])?;
                let p = root.join(&rel);
                let max = if self.mk.rng.random_bool(0.2) { 256 * KIB } else { 8 * KIB };
                let n = self.mk.rng.random_range(1..=max).min(self.budget(root).max(1));
                let data = random_bytes(&mut self.mk.rng, n as usize);
                with_writable(&p, || {
                    let mut f = OpenOptions::new().append(true).open(&p).expect("open");
                    f.write_all(&data).expect("append");
                });
                Some(format!("append {n} B to {rel:?}"))
            }
            MutOp::Truncate => {
                let rel = self.pick_nonempty_file(root)?;
                let p = root.join(&rel);
                let len = fs::symlink_metadata(&p).expect("lstat").len();
                let new_len = self.mk.rng.random_range(0..len);
                with_writable(&p, || {
                    OpenOptions::new().write(true).open(&p).expect("open").set_len(new_len).expect("truncate")
                });
                Some(format!("truncate {rel:?} {len} -> {new_len} B"))
            }
            MutOp::DeleteFile => {
                let rel = self.pick(root, &[EntryType::File, EntryType::Symlink])?;
                fs::remove_file(root.join(&rel)).expect("rm");
                Some(format!("delete {rel:?}"))
            }
            MutOp::DeleteSubtree => {
                let rel = self.pick_small_dir(root)?;
                fs::remove_dir_all(root.join(&rel)).expect("rm -r");
                Some(format!("delete subtree {rel:?}"))
            }
            MutOp::Rename => {
                let rel = self.pick(root, &[EntryType::File, EntryType::Symlink])?;
                let dirs = self.mk.dirs_below_depth(root, usize::MAX);
                let to_dir = dirs.choose(&mut self.mk.rng).expect("dir").clone();
                // Sometimes replace an existing file in place of a fresh name.
                let existing: Vec<PathBuf> = list_tree(&root.join(&to_dir))
                    .into_iter()
                    .filter(|(r, t)| *t == EntryType::File && depth_of(r) == 1)
                    .map(|(r, _)| to_dir.join(r))
                    .filter(|r| *r != rel)
                    .collect();
                let to = if !existing.is_empty() && self.mk.rng.random_bool(0.25) {
                    existing.choose(&mut self.mk.rng).expect("file").clone()
                } else {
                    to_dir.join(fresh_name(&mut self.mk.rng, &root.join(&to_dir)))
                };
                fs::rename(root.join(&rel), root.join(&to)).expect("rename");
                Some(format!("rename {rel:?} -> {to:?}"))
            }
            MutOp::FileToDir => {
                let rel = self.pick(root, &[EntryType::File])?;
                let p = root.join(&rel);
                fs::remove_file(&p).expect("rm");
                fs::create_dir(&p).expect("mkdir");
                let n = self.mk.rng.random_range(0..=2);
                let budget = self.budget(root);
                for _ in 0..n {
                    let name = fresh_name(&mut self.mk.rng, &p);
                    self.mk.new_file(root, &rel.join(name), budget.min(64 * KIB));
                }
                Some(format!("file -> dir {rel:?} (with {n} files)"))
            }
            MutOp::DirToFile => {
                let rel = self.pick_small_dir(root)?;
                let p = root.join(&rel);
                fs::remove_dir_all(&p).expect("rm -r");
                let budget = self.budget(root);
                self.mk.new_file(root, &rel, budget);
                Some(format!("dir -> file {rel:?}"))
            }
            MutOp::SymlinkRetarget => {
                let rel = self.pick(root, &[EntryType::Symlink])?;
                let p = root.join(&rel);
                let old = fs::read_link(&p).expect("readlink");
                let dir = rel.parent().unwrap_or(Path::new("")).to_path_buf();
                let mut target = self.mk.link_target(root, &dir, 99);
                if target == old {
                    target = PathBuf::from(format!("{}-retargeted", old.display()));
                }
                fs::remove_file(&p).expect("rm link");
                symlink(&target, &p).expect("symlink");
                Some(format!("retarget {rel:?}: {old:?} -> {target:?}"))
            }
            MutOp::Chmod => {
                let rel = self.pick(root, &[EntryType::File, EntryType::Dir])?;
                let p = root.join(&rel);
                let is_dir = fs::symlink_metadata(&p).expect("lstat").is_dir();
                let old = mode_of(&p);
                let choices: Vec<u32> =
                    (if is_dir { DIR_MODES } else { FILE_MODES }).iter().copied().filter(|m| *m != old).collect();
                let mode = *choices.choose(&mut self.mk.rng)?;
                set_mode(&p, mode);
                Some(format!("chmod {old:o} -> {mode:o} {rel:?}"))
            }
            MutOp::Touch => {
                let rel = self.pick(root, &[EntryType::File])?;
                let p = root.join(&rel);
                let t = random_past_time_not(&mut self.mk.rng, mtime_secs(&p));
                set_mtime(&p, t);
                Some(format!("touch {rel:?}"))
            }
            MutOp::AddEntries => {
                let max_depth = self.mk.spec.max_depth;
                let parents = self.mk.dirs_below_depth(root, max_depth);
                let parent = parents.choose(&mut self.mk.rng).expect("dir").clone();
                let new_dir = parent.join(fresh_name(&mut self.mk.rng, &root.join(&parent)));
                fs::create_dir(root.join(&new_dir)).expect("mkdir");
                let mut made = vec![format!("{new_dir:?}/")];
                let n_in = self.mk.rng.random_range(0..=3);
                for _ in 0..n_in {
                    let rel = new_dir.join(fresh_name(&mut self.mk.rng, &root.join(&new_dir)));
                    let budget = self.budget(root);
                    self.mk.new_file(root, &rel, budget);
                    made.push(format!("{rel:?}"));
                }
                let all = self.mk.dirs_below_depth(root, max_depth + 1);
                for _ in 0..self.mk.rng.random_range(1..=3) {
                    let d = all.choose(&mut self.mk.rng).expect("dir").clone();
                    let rel = d.join(fresh_name(&mut self.mk.rng, &root.join(&d)));
                    let budget = self.budget(root);
                    self.mk.new_file(root, &rel, budget);
                    made.push(format!("{rel:?}"));
                }
                if self.mk.rng.random_bool(0.5) {
                    let d = all.choose(&mut self.mk.rng).expect("dir").clone();
                    self.mk.new_symlink(root, &d, 99);
                    made.push(format!("symlink in {d:?}"));
                }
                Some(format!("add {}", made.join(", ")))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Self-tests of the harness (no pcp involved)
// ---------------------------------------------------------------------------

#[cfg(test)]
mod selftest {
    use super::*;

    #[test]
    fn harness_tree_generation_is_deterministic_and_varied() {
        let td = TestDir::new();
        let s = gen_tree(&td.join("a"), 7);
        gen_tree(&td.join("b"), 7);
        assert_same_content(&td.join("a"), &td.join("b"));
        assert!(s.files > 100 && s.dirs > 20 && s.symlinks >= 14, "{s:?}");
        assert!(s.bytes > 2 * MIB && s.bytes <= 12 * MIB, "{s:?}");
        let snap = snapshot(&td.join("a"));
        let depth = snap.keys().map(|k| depth_of(k)).max().unwrap_or(0);
        assert!(depth >= 5, "a file at dir depth 4 is 5 components deep");
        let links: Vec<&PathBuf> = snap
            .values()
            .filter_map(|e| match &e.content {
                Content::Symlink(t) => Some(t),
                _ => None,
            })
            .collect();
        assert!(links.iter().any(|t| t.is_absolute()));
        assert!(links.iter().any(|t| t.starts_with("does-not-exist")));

        let mut m1 = Mutator::new(9);
        let mut m2 = Mutator::new(9);
        for _ in 0..3 {
            m1.round(&td.join("a"), 10);
            m2.round(&td.join("b"), 10);
        }
        assert_eq!(m1.log, m2.log);
        assert_same_content(&td.join("a"), &td.join("b"));
        assert!(total_file_bytes(&td.join("a")) <= 13 * MIB);
    }

    #[test]
    fn harness_sandboxes_pcp_environment() {
        let td = TestDir::new();
        for cmd in [pcp(), td.pcp()] {
            assert_eq!(cmd.get_program(), OsStr::new(PCP));
            let envs: BTreeMap<&OsStr, Option<&OsStr>> = cmd.get_envs().collect();
            let home = PathBuf::from(envs[OsStr::new("HOME")].expect("HOME set"));
            assert!(home.is_dir() && home.as_os_str() != std::env::var_os("HOME").unwrap_or_default());
            for k in ["XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR"] {
                let v = PathBuf::from(envs[OsStr::new(k)].expect("set"));
                assert!(v.starts_with(&home) && v.is_dir(), "{k}={v:?}");
            }
        }
        assert!(td.pcp().get_envs().any(|(k, v)| k == "HOME" && v == Some(td.home().as_os_str())));
    }

    #[test]
    fn harness_detects_each_kind_of_difference() {
        let td = TestDir::new();
        let a = td.join("a");
        gen_tree(&a, 3);
        type Case = (&'static str, fn(&Path));
        let cases: &[Case] = &[
            ("content", |b| {
                let p = b.join("with space.txt");
                let t = fs::symlink_metadata(&p).expect("lstat").modified().expect("mtime");
                with_writable(&p, || fs::write(&p, b"SPACES\n").expect("write"));
                set_mtime(&p, t);
            }),
            ("mode", |b| set_mode(&b.join("-rf"), 0o640)),
            ("mtime", |b| {
                let p = b.join("zero");
                set_mtime(&p, UNIX_EPOCH + Duration::from_secs(1000))
            }),
            ("dir mtime", |b| set_mtime(&b.join("日本"), UNIX_EPOCH + Duration::from_secs(1000))),
            ("root mtime", |b| set_mtime(b, UNIX_EPOCH + Duration::from_secs(1000))),
            ("symlink mtime", |b| {
                let (rel, _) = list_tree(b).into_iter().find(|(_, t)| *t == EntryType::Symlink).expect("a symlink");
                set_symlink_mtime(&b.join(rel), UNIX_EPOCH + Duration::from_secs(1000));
            }),
            ("extra", |b| fs::write(b.join(".pcp-tmp-leftover"), b"x").expect("write")),
            ("missing", |b| fs::remove_file(b.join("zero")).expect("rm")),
            ("type", |b| {
                fs::remove_dir(b.join("empty dir")).expect("rmdir");
                fs::write(b.join("empty dir"), b"").expect("write");
            }),
            ("link target", |b| {
                let (rel, _) = list_tree(b).into_iter().find(|(_, t)| *t == EntryType::Symlink).expect("a symlink");
                let p = b.join(rel);
                let t = fs::read_link(&p).expect("readlink");
                fs::remove_file(&p).expect("rm");
                symlink(t.join("x"), &p).expect("symlink");
            }),
        ];
        for (i, (what, change)) in cases.iter().enumerate() {
            let b = td.join(format!("b{i}"));
            copy_tree(&a, &b);
            assert_trees_equal(&a, &b);
            change(&b);
            let err = check_trees_equal(&a, &b).expect_err(what);
            assert!(err.contains("differ"), "{what}: {err}");
        }
        // The report is bounded.
        let b = td.join("big-diff");
        fs::create_dir(&b).expect("mkdir");
        let err = check_trees_equal(&a, &b).expect_err("empty vs full");
        assert!(err.lines().count() <= DIFF_LINES_SHOWN + 3, "{err}");
    }
}
