//! The destination role's driver: rsync's generator and receiver, doing the IO. The protocol
//! itself (message order, the accepted-offer check, the Need window, which chunks were asked
//! for, every check of what the source sends) is the state machine
//! [`crate::proto::transfer::DestState`]; this driver receives messages from the `Link`, feeds
//! them to it and does what its events say:
//!
//! - `mod.rs` (here): the loop, the Hello answer, the end (deletions, directory metadata, Done);
//! - `entry.rs`: each accepted entry against the tree (quick check through `plan`, applying
//!   what needs no data) and the Need window (`pump`);
//! - `build.rs`: assembling a needed file in a temp file: each listed chunk from the old file
//!   at that path (the basis), then any chunk the manifest knows, else a Want; received chunks
//!   written (verified by the state machine) and recorded for resume;
//! - `install.rs`: the whole-file check, then (a batch at a time, with fsync: one `syncfs`)
//!   the rename over the final name;
//! - `cleanup.rs`: `--delete` and leftover temp files.
//!
//! Every reused or received chunk is BLAKE3-checked before it is written, the whole file is
//! checked against the source's file hash, and only then is the temp renamed over the final
//! name. Deletions and directory metadata come last.

mod build;
mod cleanup;
mod entry;
mod install;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use super::Link;
use crate::chunk::{ChunkHash, ChunkParams, ChunkRef};
use crate::filter::Filter;
use crate::fsio::{DestRoot, TempFile};
use crate::manifest::Manifest;
use crate::path::SafeRelPath;
use crate::plan;
use crate::proto::transfer::{DestEvent, DestState};
use crate::proto::{Error as PErr, Flags, Message};
use crate::report::{add, Reporter, Stats};

/// What the destination needs to know.
#[derive(Debug, Clone)]
pub struct DestConfig {
    /// Destination root directory.
    pub root: PathBuf,
    /// Options.
    pub flags: Flags,
    /// Most deletions allowed (0 = unlimited).
    pub max_delete: u64,
    /// Rules that protect destination files from `--delete`.
    pub filter: Filter,
    /// Destination manifest database (None: in memory).
    pub manifest: Option<PathBuf>,
    /// Make files durable before renaming them into place (a group commit: one `syncfs` per
    /// batch of finished files).
    pub fsync: bool,
    /// Process umask (applied to new files without -p).
    pub umask: u32,
    /// --bwlimit when this side receives from a peer: data is taken at most this fast, and QUIC
    /// flow control slows the sender to match (None: unlimited).
    pub bwlimit: Option<u64>,
    /// How long to wait for another run's lock on this root (fsio::lock); only with a manifest.
    pub wait_lock: std::time::Duration,
    /// Only these entries may arrive (`pcp receive`: what the user accepted); anything else
    /// ends the transfer as a protocol violation before it touches the disk.
    pub offer: Option<std::sync::Arc<plan::Offer>>,
    /// The root, already opened beneath a served directory (`pcp serve`): used instead of
    /// opening `root` by path, which a concurrent session could have made a symlink.
    pub root_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    /// The stop signal (SIGINT/SIGTERM): once set, the role stops with `Kind::Interrupted`
    /// after recording what it has.
    pub stop: &'static std::sync::atomic::AtomicBool,
    /// Count the file list into the stats (files, their kinds, total size): a destination
    /// whose source runs in another process (a pull, a receive), for a true `--stats`.
    pub count_list: bool,
    /// --max-size, --min-size, --modify-window, --backup.
    pub tuning: crate::proto::session::Tuning,
    /// The backup directory, already opened beneath a served directory (`pcp serve`); else a
    /// `--backup-dir` is resolved against `root` (absolute: as it is) and created.
    pub backup_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

impl DestConfig {
    /// A plain configuration for scripted and fuzzed runs into `root`: no manifest, no fsync,
    /// umask 022, no limits. Commands build theirs from the user's options instead.
    pub fn scratch(root: PathBuf, flags: Flags) -> Self {
        Self {
            root,
            flags,
            max_delete: 0,
            filter: Filter::none(),
            manifest: None,
            fsync: false,
            umask: 0o022,
            bwlimit: None,
            wait_lock: std::time::Duration::ZERO,
            offer: None,
            root_fd: None,
            stop: &NEVER,
            count_list: false,
            tuning: Default::default(),
            backup_fd: None,
        }
    }
}

/// A stop signal that is never set (scripted and fuzzed runs).
static NEVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What the destination reports back.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Files or entries that failed.
    pub errors: u64,
    /// Deletions skipped because of --max-delete.
    pub delete_limited: bool,
}

/// What the driver keeps for a queued entry until it is asked for (the state machine holds
/// the entry itself).
struct Plan {
    /// Itemize line.
    item: String,
    /// Mode of what was at the path (`None`: nothing was).
    existed_mode: Option<u32>,
    /// A directory was at the path: it goes just before the file is renamed into place.
    dir_in_way: bool,
}

/// The IO side of a file in the window (its protocol side is the state machine's `FileState`).
struct Build {
    plan: Plan,
    tmp: Option<TempFile>,
    basis: Option<Basis>,
    basis_tried: bool,
    /// Chunks recorded for resume.
    staged: usize,
    /// Chunks that sit in the basis at the very offset they belong at.
    in_place: Vec<usize>,
}

impl Build {
    fn new(plan: Plan) -> Self {
        Self { plan, tmp: None, basis: None, basis_tried: false, staged: 0, in_place: Vec::new() }
    }
}

/// The old file at a path and its chunks by short id.
struct Basis {
    file: File,
    by_short: HashMap<u64, Vec<ChunkRef>>,
}

/// A file ready to be renamed into place: verified against the source's file hash, with its
/// final mode and mtime. With fsync on, files wait here so that one `syncfs` makes a whole
/// batch durable before their renames (see [`Dest::install_ready`]).
struct Ready {
    /// Entry id (unfinished until installed: see `Dest::progress`).
    id: u32,
    tmp: TempFile,
    path: SafeRelPath,
    item: String,
    created: bool,
    /// The plan saw a directory at the path.
    dir_in_way: bool,
    size: u64,
    hash: ChunkHash,
    chunks: Vec<ChunkRef>,
    /// The temp's staged chunk rows (resume state) to drop once the file is in place.
    staged: Option<String>,
}

struct Dest<'a> {
    cfg: &'a DestConfig,
    rep: &'a Reporter,
    stats: &'a Stats,
    link: &'a Link,
    root: DestRoot,
    /// The protocol.
    st: DestState<Plan>,
    manifest: Option<Manifest>,
    /// Directory entries whose metadata is applied last.
    dir_meta: Vec<crate::proto::Entry>,
    /// By id (the lowest is the first: see `progress`).
    builds: BTreeMap<u32, Build>,
    outcome: Outcome,
    seed: Option<(String, File)>,
    start: Instant,
    done_bytes: u64,
    buf: Vec<u8>,
    last_stage_flush: Instant,
    interrupted_before: bool,
    unflushed: u64,
    pacer: super::Pacer,
    /// --backup: where what is replaced or deleted goes.
    backup: Option<crate::fsio::backup::BackupTo>,
    /// The backup directory, when it is inside the destination: --delete leaves it alone.
    backup_rel: Option<SafeRelPath>,
    /// Complete, verified, sealed files waiting for the next group commit (with fsync).
    ready: Vec<Ready>,
    ready_bytes: u64,
    /// The lowest id in `ready`.
    ready_min: Option<u32>,
    ready_since: Instant,
    /// The last Progress sent.
    progress_sent: u32,
    /// Temp files staged by earlier runs → the path each was built for (loaded when needed).
    staged_for: Option<HashMap<String, String>>,
    /// Directories this run created (the most recent [`MADE_DIRS`]): nothing is in them but
    /// what this run puts there, so their entries need no lstat (issue 11: an existence probe
    /// per new file).
    made_dirs: std::collections::HashSet<SafeRelPath>,
    /// The root was there before this run (else its line is `cd+++++++++ ./`).
    root_existed: bool,
}

/// Most directories [`Dest::made_dirs`] remembers (then it starts again: only a probe saved).
const MADE_DIRS: usize = 4096;

/// Files smaller than this are not staged for resume.
const STAGE_MIN: u64 = 4 << 20;
/// Files at least this large are checked against the destination's free space before they
/// are asked for (a declared size is a peer's claim: security.md T21).
const SPACE_CHECK_MIN: u64 = 16 << 20;

/// Group commit: at most this many files, bytes or seconds between two `syncfs` calls.
const READY_FILES: usize = 1024;
const READY_BYTES: u64 = 1 << 30;
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Run the destination role until everything is applied. Returns the outcome; fatal errors
/// (protocol violations, an unusable destination) are `Err`.
pub fn run(cfg: &DestConfig, link: Link, rep: &Reporter, stats: &Stats) -> Result<Outcome> {
    let dry = cfg.flags.has(Flags::DRY_RUN);
    if cfg.count_list {
        // The counts are of this run's list: a reconnect is sent the list again.
        for c in [&stats.files, &stats.regular, &stats.dirs, &stats.links, &stats.total_size] {
            c.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }
    // A root this run creates is itemized `cd+++++++++ ./`, as rsync does.
    let root_existed = cfg.root_fd.is_some() || std::fs::symlink_metadata(&cfg.root).is_ok();
    let mut scratch = None;
    let root = if dry && std::fs::symlink_metadata(&cfg.root).is_err() {
        // Dry run into a missing directory: nothing exists there; plan against an empty tree,
        // a private directory of our own (0700, a fresh name, not following anything) that
        // goes away with the run.
        let s = crate::fsio::Scratch::new()?;
        let r = DestRoot::open(s.path(), false)?;
        scratch = Some(s);
        r
    } else {
        match &cfg.root_fd {
            Some(fd) => DestRoot::from_fd(fd.try_clone().context("duplicating the destination's fd")?, &cfg.root),
            None => DestRoot::open(&cfg.root, true)
                .with_context(|| format!("opening destination {}", cfg.root.display()))?,
        }
    };
    // One run per destination root: the lock lives beside its manifest.
    let _lock = match &cfg.manifest {
        Some(m) if !dry => Some(crate::fsio::lock::DestLock::acquire(m, &cfg.root, cfg.wait_lock, &|| {
            cfg.stop.load(std::sync::atomic::Ordering::Relaxed)
        })?),
        _ => None,
    };
    let mut d = Dest {
        cfg,
        rep,
        stats,
        link: &link,
        root,
        st: DestState::new(cfg.offer.clone()),
        manifest: None,
        dir_meta: Vec::new(),
        builds: BTreeMap::new(),
        outcome: Outcome::default(),
        seed: None,
        start: Instant::now(),
        done_bytes: 0,
        buf: Vec::new(),
        last_stage_flush: Instant::now(),
        interrupted_before: false,
        unflushed: 0,
        pacer: super::Pacer::new(cfg.bwlimit),
        backup: if dry { None } else { open_backup(cfg)? },
        backup_rel: cfg.tuning.backup.as_ref().and_then(|b| b.dir.as_deref()).and_then(|d| inside(&cfg.root, d)),
        ready: Vec::new(),
        ready_bytes: 0,
        ready_min: None,
        ready_since: Instant::now(),
        progress_sent: 0,
        staged_for: None,
        made_dirs: Default::default(),
        root_existed,
    };
    let r = d.main_loop();
    if let Err(e) = &r {
        // Tell the source why, then keep resumable temp files (already staged) on disk.
        let _ = link.tx.send(Message::Error { text: crate::error::chain_text("", e) });
        // Files already complete and verified still go into place.
        let _ = d.install_ready();
        for b in d.builds.values_mut() {
            if let Some(t) = b.tmp.as_mut() {
                if b.staged > 0 {
                    t.keep();
                }
            }
        }
        if let Some(m) = d.manifest.as_mut() {
            let _ = m.flush();
        }
    }
    drop(scratch);
    r?;
    Ok(d.outcome)
}

impl Dest<'_> {
    /// One itemized line: shown here, and sent to a source that asked (`ECHO_CHANGES`: a push
    /// with -v or -i, whose dialer shows it as rsync's sender does).
    fn changed(&self, item: &str, name: &str) {
        self.rep.change(item, name);
        if self.cfg.flags.has(Flags::ECHO_CHANGES) {
            let _ = self.link.tx.send(Message::Change { item: item.to_owned(), name: name.to_owned() });
        }
    }

    fn main_loop(&mut self) -> Result<()> {
        loop {
            // The stop signal it was given (SIGINT/SIGTERM) is the driver's to read.
            if self.cfg.stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(crate::error::tagged(
                    crate::error::Kind::Interrupted,
                    "interrupted; rerun the same command to resume",
                ));
            }
            // Finished files wait at most READY_WAIT for their group commit, even while the
            // next file takes long to arrive.
            if !self.ready.is_empty() && self.ready_since.elapsed() >= READY_WAIT {
                self.install_ready()?;
                self.progress()?;
            }
            let msg = match self.link.rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok(m) => m,
                Err(crate::chan::RecvTimeoutError::Timeout) => {
                    // Nothing arrives (a stalled or vanished peer): commit what is recorded,
                    // so a rerun, which may start before this run notices the loss, finds
                    // the received chunks instead of waiting on the manifest's lock.
                    if let Some(m) = self.manifest.as_mut() {
                        m.flush()?;
                    }
                    continue;
                }
                Err(crate::chan::RecvTimeoutError::Disconnected) => return Err(PErr::Closed.into()),
            };
            let ev = self.st.handle(msg)?;
            let may_finish = !matches!(ev, DestEvent::Nothing | DestEvent::Chunk { complete: false, .. });
            self.on_event(ev)?;
            if may_finish {
                self.progress()?;
            }
            if self.st.is_finished() {
                return self.finish();
            }
        }
    }

    /// Tell the source how far this side has finished ([`Message::Progress`]): it forgets what it
    /// kept for those entries and lists further. Sent every quarter window, and whenever
    /// everything received is finished (so a source waiting for room always hears).
    fn progress(&mut self) -> Result<()> {
        let seen = self.st.seen();
        let done = [self.st.first_unfinished(), self.builds.keys().next().copied(), self.ready_min]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(seen)
            .min(seen);
        let step = crate::proto::message::LIST_AHEAD / 4;
        if done > self.progress_sent && (done >= self.progress_sent.saturating_add(step) || done == seen) {
            self.progress_sent = done;
            self.link.tx.send(Message::Progress { done }).map_err(|_| PErr::Closed)?;
        }
        Ok(())
    }

    /// Do what the state machine says a message means.
    fn on_event(&mut self, ev: DestEvent) -> Result<()> {
        match ev {
            DestEvent::Nothing | DestEvent::PeerDone => Ok(()),
            DestEvent::Hello(h) => self.hello(h.params),
            DestEvent::Entries(mut batch) => {
                while let Some(next) = self.st.next_entry(&mut batch) {
                    let (id, e) = next?;
                    self.entry(id, e)?;
                }
                self.pump()
            }
            DestEvent::ListEnd => self.pump(),
            DestEvent::Chunks { file, start, inline } => self.chunks(file, start, inline),
            DestEvent::Chunk { file, index, offset, data, wire, complete } => {
                self.write_chunk(file, index as usize, offset, &data, wire, complete)
            }
            DestEvent::Complete { file } => match self.builds.remove(&file) {
                Some(b) => self.complete(file, b),
                None => Ok(()),
            },
            DestEvent::Rejected { file, path, why, released } => {
                // This file failed (its temp goes); the transfer goes on.
                self.fail(&path, &anyhow!("{}", why.why()));
                if released {
                    self.builds.remove(&file);
                    return self.pump();
                }
                if let Some(b) = self.builds.get_mut(&file) {
                    b.tmp = None;
                }
                Ok(())
            }
            DestEvent::Released { file } => {
                self.builds.remove(&file);
                self.pump()
            }
            DestEvent::Unreadable { file } => {
                // The source could not read the file (it said so).
                self.outcome.errors += 1;
                add(&self.stats.errors, 1);
                self.builds.remove(&file);
                self.pump()
            }
        }
    }

    /// The source's Hello was accepted: open the manifest for its chunk parameters, answer.
    fn hello(&mut self, params: ChunkParams) -> Result<()> {
        let m = match &self.cfg.manifest {
            Some(p) if !self.cfg.flags.has(Flags::DRY_RUN) => Manifest::open(p, params).or_else(|e| {
                self.rep.warn(&format!("{e}; continuing without a manifest"));
                Manifest::in_memory(params)
            }),
            _ => Manifest::in_memory(params),
        }?;
        self.manifest = Some(m);
        if !self.cfg.flags.has(Flags::DRY_RUN) {
            if let Some(m) = self.manifest.as_mut() {
                self.interrupted_before = m.mark_running(true)?;
            }
        }
        self.link
            .tx
            .send(Message::Hello(crate::proto::Hello {
                version: crate::proto::message::VERSION,
                params,
                flags: self.cfg.flags,
                max_delete: self.cfg.max_delete,
            }))
            .map_err(|_| PErr::Closed)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.install_ready()?;
        let dry = self.cfg.flags.has(Flags::DRY_RUN);
        if self.cfg.flags.has(Flags::DELETE) {
            self.delete_pass()?;
        }
        if !dry {
            // Temp files of interrupted runs go before directory times are set.
            self.cleanup_staged()?;
            // Directory metadata after contents, deepest first.
            let metas = std::mem::take(&mut self.dir_meta);
            for e in metas.iter().rev() {
                let perms =
                    self.cfg.flags.has(Flags::PERMS) && (!e.path.is_root() || self.cfg.flags.has(Flags::ROOT_MODE));
                let mode = perms.then_some(e.mode & (self.cfg.flags.mode_mask() | 0o1000));
                let dir_times = self.cfg.flags.has(Flags::TIMES) && !self.cfg.flags.has(Flags::OMIT_DIR_TIMES);
                // With --modify-window, as rsync: a directory whose mtime (a new one's: now)
                // is within the window of the source's keeps it.
                let mut outside = |w: u32| {
                    let now = self.root.lstat(&e.path).ok().flatten();
                    now.map_or(true, |m| m.stat.mtime.abs_diff(e.mtime) > u64::from(w))
                };
                let in_window = self.cfg.tuning.modify_window.is_some_and(|w| !outside(w));
                let mtime = (dir_times && !in_window).then_some((e.mtime, e.mtime_ns));
                if let Err(err) = self.root.set_meta(&e.path, false, mode, mtime) {
                    self.fail(&e.path, &err.into());
                }
            }
        }
        if let Some(m) = self.manifest.as_mut() {
            if !dry {
                m.mark_running(false)?;
            }
            m.flush()?;
        }
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let s = self.stats;
        let summary = Message::Summary {
            created: get(&s.created),
            deleted: get(&s.deleted),
            files: get(&s.transferred_files),
            size: get(&s.transferred_size),
            written: get(&s.bytes_written),
        };
        self.link.tx.send(summary).map_err(|_| PErr::Closed)?;
        self.link.tx.send(Message::Done).map_err(|_| PErr::Closed)?;
        self.st.finishing();
        // Drain until the source acknowledges.
        loop {
            match self.link.rx.recv() {
                Ok(m) => {
                    if let DestEvent::PeerDone = self.st.handle(m)? {
                        return Ok(());
                    }
                }
                Err(_) => return Ok(()),
            }
        }
    }

    fn fail(&mut self, path: &SafeRelPath, e: &anyhow::Error) {
        self.outcome.errors += 1;
        add(&self.stats.errors, 1);
        let shown = self.root.path().join(path.as_str()).display().to_string();
        self.rep.warn(&crate::report::sanitize(&crate::error::chain_text(&format!("{shown}: "), e)));
    }
}

/// The `--backup` target of `cfg`: beside each file, or the backup directory (opened beneath
/// a served directory already, else resolved lexically against the destination and created,
/// each symlink on the way checked as a destination's are).
fn open_backup(cfg: &DestConfig) -> Result<Option<crate::fsio::backup::BackupTo>> {
    let Some(b) = &cfg.tuning.backup else { return Ok(None) };
    let dir = match (&cfg.backup_fd, &b.dir) {
        (Some(fd), Some(d)) => {
            Some(DestRoot::from_fd(fd.try_clone().context("duplicating the backup directory's fd")?, Path::new(d)))
        }
        (None, Some(d)) => {
            let path = crate::path::lexical_join(&cfg.root, Path::new(d));
            Some(DestRoot::open(&path, true).with_context(|| format!("opening --backup-dir {}", path.display()))?)
        }
        (_, None) => None,
    };
    Ok(Some(crate::fsio::backup::BackupTo { suffix: b.suffix.clone(), dir }))
}

/// `dir` (a `--backup-dir`) relative to the destination `root` when it lies inside it.
fn inside(root: &Path, dir: &str) -> Option<SafeRelPath> {
    let base = crate::path::lexical_join(Path::new("/"), root);
    let full = crate::path::lexical_join(&base, Path::new(dir));
    let rel = full.strip_prefix(&base).ok()?;
    let rel = rel.to_str()?;
    if rel.is_empty() {
        return None;
    }
    SafeRelPath::new(rel).ok()
}
