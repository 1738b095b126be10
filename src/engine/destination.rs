//! The destination role: rsync's generator and receiver. For each entry it runs the quick check
//! (size + mtime) against its own tree; only files that differ are asked for (`Need`), a bounded
//! window at a time. Each needed file is assembled in a temp file from, in order, the old file at
//! that path (the basis), any chunk the manifest knows anywhere in the tree, and only then data
//! from the source (`Want`). Every reused or received chunk is BLAKE3-checked before it is
//! written, the whole file is checked against the source's file hash, and only then is the temp
//! renamed over the final name. Deletions and directory metadata come last.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use super::{Link, FILE_WINDOW};
use crate::chunk::{file_hash, ChunkHash, ChunkParams, ChunkRef, Chunker};
use crate::filter::Filter;
use crate::fsio::{DestRoot, TempFile, TEMP_PREFIX};
use crate::manifest::Manifest;
use crate::meta::{FType, Meta};
use crate::path::SafeRelPath;
use crate::plan;
use crate::proto::message::is_inline;
use crate::proto::{ChunkId, Entry, Error as PErr, Flags, Kind, Message};
use crate::report::{add, Reporter, Stats};

/// Files smaller than this are not staged for resume.
const STAGE_MIN: u64 = 4 << 20;

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
    /// Only these entries may arrive (`pcp receive`: what the user accepted); anything else
    /// ends the transfer as a protocol violation before it touches the disk.
    pub offer: Option<std::sync::Arc<plan::Offer>>,
    /// The root, already opened beneath a served directory (`pcp serve`): used instead of
    /// opening `root` by path, which a concurrent session could have made a symlink.
    pub root_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
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
            offer: None,
            root_fd: None,
        }
    }
}

/// What the destination reports back.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Files or entries that failed.
    pub errors: u64,
    /// Deletions skipped because of --max-delete.
    pub delete_limited: bool,
}

struct Build {
    id: u32,
    entry: Entry,
    item: String,
    existed_mode: Option<u32>,
    tmp: Option<TempFile>,
    chunks: Vec<ChunkId>,
    offsets: Vec<u64>,
    end: u64,
    hashes: Vec<Option<ChunkHash>>,
    filled: usize,
    sum: Option<(u32, u64, ChunkHash)>,
    basis: Option<Basis>,
    basis_tried: bool,
    max_chunks: usize,
    staged: usize,
    failed: bool,
    in_place: Vec<usize>,
    /// Asked for with `Need { inline: true }`: a one-chunk small file comes unasked.
    inline_ok: bool,
}

struct Basis {
    file: File,
    by_short: HashMap<u64, Vec<ChunkRef>>,
}

struct Dest<'a> {
    cfg: &'a DestConfig,
    rep: &'a Reporter,
    stats: &'a Stats,
    link: &'a Link,
    root: DestRoot,
    manifest: Option<Manifest>,
    params: ChunkParams,
    /// Inline files given up (failed) before their unasked data came.
    dropped_inline: HashSet<u32>,
    seen: u32,
    paths: HashSet<SafeRelPath>,
    dirs: HashSet<SafeRelPath>,
    dir_meta: Vec<Entry>,
    queue: VecDeque<(u32, Entry, String, Option<u32>)>,
    builds: HashMap<u32, Build>,
    list_done: bool,
    outcome: Outcome,
    seed: Option<(String, File)>,
    start: Instant,
    done_bytes: u64,
    buf: Vec<u8>,
    last_stage_flush: Instant,
    interrupted_before: bool,
    unflushed: u64,
    pacer: super::Pacer,
    unzstd: Option<zstd::bulk::Decompressor<'static>>,
    /// Complete, verified, sealed files waiting for the next group commit (with fsync).
    ready: Vec<Ready>,
    ready_bytes: u64,
    ready_since: Instant,
    /// Chunks that did not match their hashes so far.
    strikes: u32,
    /// Temp files staged by earlier runs → the path each was built for (loaded when needed).
    staged_for: Option<HashMap<String, String>>,
}

/// A file ready to be renamed into place: verified against the source's file hash, with its
/// final mode and mtime. With fsync on, files wait here so that one `syncfs` makes a whole
/// batch durable before their renames (see [`Dest::install_ready`]).
struct Ready {
    tmp: TempFile,
    path: SafeRelPath,
    item: String,
    created: bool,
    size: u64,
    hash: ChunkHash,
    chunks: Vec<ChunkRef>,
    /// The temp's staged chunk rows (resume state) to drop once the file is in place.
    staged: Option<String>,
}

/// Most chunk-list slots (declared size / minimum chunk, per file) the window holds at once:
/// about 57 bytes each, so chunk lists take at most ~115 MiB however large the files a source
/// declares (one file larger than that still gets the window to itself).
const WINDOW_CHUNKS: usize = 2 << 20;
/// Files at least this large are checked against the destination's free space before they
/// are asked for (a declared size is a peer's claim: security.md T21).
const SPACE_CHECK_MIN: u64 = 16 << 20;

/// Bad chunks (not matching their hashes) tolerated before the source is cut off (T29).
const MAX_STRIKES: u32 = 16;

/// Group commit: at most this many files, bytes or seconds between two `syncfs` calls.
const READY_FILES: usize = 1024;
const READY_BYTES: u64 = 1 << 30;
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Run the destination role until everything is applied. Returns the outcome; fatal errors
/// (protocol violations, an unusable destination) are `Err`.
pub fn run(cfg: &DestConfig, link: Link, rep: &Reporter, stats: &Stats) -> Result<Outcome> {
    let dry = cfg.flags.has(Flags::DRY_RUN);
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
    let mut d = Dest {
        cfg,
        rep,
        stats,
        link: &link,
        root,
        manifest: None,
        params: ChunkParams::DEFAULT,
        dropped_inline: HashSet::new(),
        seen: 0,
        paths: HashSet::new(),
        dirs: HashSet::new(),
        dir_meta: Vec::new(),
        queue: VecDeque::new(),
        builds: HashMap::new(),
        list_done: false,
        outcome: Outcome::default(),
        seed: None,
        start: Instant::now(),
        done_bytes: 0,
        buf: Vec::new(),
        last_stage_flush: Instant::now(),
        interrupted_before: false,
        unflushed: 0,
        pacer: super::Pacer::new(cfg.bwlimit),
        unzstd: None,
        ready: Vec::new(),
        ready_bytes: 0,
        ready_since: Instant::now(),
        strikes: 0,
        staged_for: None,
    };
    d.dirs.insert(SafeRelPath::root());
    let r = d.main_loop();
    if let Err(e) = &r {
        // Tell the source why, then keep resumable temp files (already staged) on disk.
        let _ = link.tx.send(Message::Error { text: format!("{e:#}") });
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
    fn main_loop(&mut self) -> Result<()> {
        let mut hello = false;
        loop {
            crate::check_interrupted()?;
            // Finished files wait at most READY_WAIT for their group commit, even while the
            // next file takes long to arrive.
            if !self.ready.is_empty() && self.ready_since.elapsed() >= READY_WAIT {
                self.install_ready()?;
            }
            let msg = match self.link.rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok(m) => m,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    // Nothing arrives (a stalled or vanished peer): commit what is recorded,
                    // so a rerun, which may start before this run notices the loss, finds
                    // the received chunks instead of waiting on the manifest's lock.
                    if let Some(m) = self.manifest.as_mut() {
                        m.flush()?;
                    }
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Err(PErr::Closed.into()),
            };
            match msg {
                Message::Hello(h) => {
                    if h.version != crate::proto::message::VERSION {
                        return Err(PErr::Version(h.version, crate::proto::message::VERSION).into());
                    }
                    if h.params.max > crate::proto::message::MAX_CHUNK_ACCEPTED {
                        return Err(PErr::Cap("maximum chunk size", u64::from(h.params.max)).into());
                    }
                    self.params = h.params;
                    let m = match &self.cfg.manifest {
                        Some(p) if !self.cfg.flags.has(Flags::DRY_RUN) => Manifest::open(p, h.params).or_else(|e| {
                            self.rep.warn(&format!("{e}; continuing without a manifest"));
                            Manifest::in_memory(h.params)
                        }),
                        _ => Manifest::in_memory(h.params),
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
                            params: h.params,
                            flags: self.cfg.flags,
                            max_delete: self.cfg.max_delete,
                        }))
                        .map_err(|_| PErr::Closed)?;
                    hello = true;
                }
                _ if !hello => return Err(PErr::State("first message was not Hello".into()).into()),
                Message::FileList { first, entries } => {
                    if first != self.seen || self.list_done {
                        return Err(PErr::State(format!("file list out of order at entry {first}")).into());
                    }
                    for e in entries {
                        let id = self.seen;
                        self.seen = self.seen.checked_add(1).ok_or_else(|| PErr::State("too many entries".into()))?;
                        self.entry(id, e)?;
                    }
                    self.pump()?;
                }
                Message::FileListEnd { count } => {
                    if count != self.seen {
                        return Err(
                            PErr::State(format!("file list end says {count} entries, got {}", self.seen)).into()
                        );
                    }
                    self.list_done = true;
                    self.pump()?;
                }
                Message::ChunkList { file, first, chunks } => self.chunk_list(file, first, chunks)?,
                Message::FileSum { file, count, size, hash } => self.file_sum(file, count, size, hash)?,
                Message::Data { file, index, hash, compressed, data } => {
                    self.data(file, index, hash, compressed, data)?
                }
                Message::Error { text } => return Err(PErr::Remote(text).into()),
                Message::Done if self.builds.values().any(|b| !b.failed) => {
                    // T31: the source says it is finished while files still wait for chunks.
                    let mut waiting: Vec<String> = self
                        .builds
                        .values()
                        .filter(|b| !b.failed)
                        .map(|b| {
                            let n = b.chunks.len();
                            format!(
                                "{} ({} of {n} chunks missing)",
                                crate::report::sanitize(b.entry.path.as_str()),
                                n - b.filled
                            )
                        })
                        .collect();
                    waiting.sort();
                    return Err(
                        PErr::State(format!("the source finished without sending {}", waiting.join(", "))).into()
                    );
                }
                other => {
                    return Err(PErr::State(format!(
                        "unexpected {} at the destination",
                        super::source::kind_name(&other)
                    ))
                    .into())
                }
            }
            if self.list_done && self.queue.is_empty() && self.builds.is_empty() {
                return self.finish();
            }
        }
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
                let mode = perms.then_some(e.mode & 0o1777);
                let mtime = self.cfg.flags.has(Flags::TIMES).then_some((e.mtime, e.mtime_ns));
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
        self.link.tx.send(Message::Done).map_err(|_| PErr::Closed)?;
        // Drain until the source acknowledges.
        loop {
            match self.link.rx.recv() {
                Ok(Message::Done) | Err(_) => return Ok(()),
                Ok(Message::Error { text }) => return Err(PErr::Remote(text).into()),
                Ok(_) => {}
            }
        }
    }

    fn fail(&mut self, path: &SafeRelPath, e: &anyhow::Error) {
        self.outcome.errors += 1;
        add(&self.stats.errors, 1);
        self.rep.warn(&format!(
            "{}: {e:#}",
            crate::report::sanitize(&self.root.path().join(path.as_str()).display().to_string())
        ));
    }

    /// Validate one entry and apply what needs no data; queue files that differ.
    fn entry(&mut self, id: u32, e: Entry) -> Result<()> {
        // T7/T10: one entry per path, and a parent that this transfer made a directory.
        if cfg!(windows) {
            e.path.check_portable().map_err(PErr::Path)?;
        }
        if self.cfg.offer.as_ref().is_some_and(|o| !o.admits(&e)) {
            return Err(PErr::State(format!(
                "the sender sent {}, which is not what it offered; nothing of it was written",
                crate::report::sanitize(if e.path.is_root() { "." } else { e.path.as_str() })
            ))
            .into());
        }
        if !self.paths.insert(e.path.clone()) {
            return Err(PErr::State(format!("duplicate entry {}", e.path)).into());
        }
        if let Some((parent, _)) = e.path.split_last() {
            if !self.dirs.contains(&parent) {
                return Err(PErr::State(format!("entry {} arrived before its directory", e.path)).into());
            }
        } else if !matches!(e.kind, Kind::Dir) {
            return Err(PErr::State("the root entry must be a directory".into()).into());
        }
        let dry = self.cfg.flags.has(Flags::DRY_RUN);
        let opts = plan::Opts::from_flags(self.cfg.flags);
        let cur = match self.root.lstat(&e.path) {
            Ok(m) => m,
            Err(err) => {
                self.fail(&e.path, &err.into());
                return Ok(());
            }
        };
        let target = match (&e.kind, cur.map(|m| m.ftype)) {
            (Kind::Symlink { .. }, Some(FType::Symlink)) => self.root.readlink(&e.path).ok(),
            _ => None,
        };
        if matches!(e.kind, Kind::Dir) {
            self.dirs.insert(e.path.clone());
            if e.path.is_root() {
                self.dir_meta.push(e);
                return Ok(());
            }
        }
        let action = plan::decide(&e, plan::Current { meta: cur, link_target: target.as_deref() }, opts);
        let name = e.path.as_str().to_owned();
        let mtime = opts.times.then_some((e.mtime, e.mtime_ns));
        // Apply: every change goes through fsio; a failure is this entry's, not the transfer's.
        let applied = (|| -> Result<()> {
            match &action {
                _ if dry => {}
                plan::Action::Keep
                | plan::Action::DirExists { .. }
                | plan::Action::SkipUnsafeLink
                | plan::Action::Transfer { .. } => {}
                plan::Action::MakeDir { replace } => {
                    if *replace {
                        self.root.remove_all(&e.path)?;
                    }
                    self.root.mkdir(&e.path, 0o700)?;
                    if !opts.perms {
                        self.root.set_meta(&e.path, false, Some(0o777 & !self.cfg.umask), None)?;
                    }
                }
                plan::Action::LinkTime => self.root.set_meta(&e.path, true, None, mtime)?,
                plan::Action::MakeLink { remove_dir, .. } => {
                    if *remove_dir {
                        self.root.remove_all(&e.path)?;
                    }
                    if let Kind::Symlink { target } = &e.kind {
                        self.root.symlink(&e.path, target)?;
                    }
                    if opts.times {
                        self.root.set_meta(&e.path, true, None, mtime)?;
                    }
                }
                plan::Action::FileMode { mode } => self.root.set_meta(&e.path, false, Some(*mode), None)?,
            }
            Ok(())
        })();
        if let Err(err) = applied {
            self.fail(&e.path, &err);
            return Ok(());
        }
        match action {
            plan::Action::Keep | plan::Action::LinkTime => {}
            plan::Action::DirExists { item } => {
                if let Some(item) = item {
                    self.rep.change(item, &format!("{name}/"));
                }
                self.dir_meta.push(e);
            }
            plan::Action::MakeDir { .. } => {
                add(&self.stats.created, 1);
                self.rep.change("cd+++++++++", &format!("{name}/"));
                self.dir_meta.push(e);
            }
            plan::Action::SkipUnsafeLink => {
                if let Kind::Symlink { target } = &e.kind {
                    self.rep.warn(&format!(
                        "ignoring unsafe symlink {} -> {}",
                        crate::report::sanitize(&name),
                        crate::report::sanitize::sanitize_bytes(target)
                    ));
                }
            }
            plan::Action::MakeLink { created, .. } => {
                if created {
                    add(&self.stats.created, 1);
                }
                if let Kind::Symlink { target } = &e.kind {
                    self.rep.change("cL+++++++++", &format!("{name} -> {}", String::from_utf8_lossy(target)));
                }
            }
            plan::Action::FileMode { .. } => self.rep.change(".f...p.....", &name),
            plan::Action::Transfer { item, existed_mode } => {
                if dry {
                    if let Kind::File { size } = e.kind {
                        add(&self.stats.transferred_files, 1);
                        add(&self.stats.transferred_size, size);
                    }
                    self.rep.change(&item, &name);
                } else {
                    self.queue.push_back((id, e, item, existed_mode));
                }
            }
        }
        Ok(())
    }

    /// Ask for the next files while the window has room.
    fn pump(&mut self) -> Result<()> {
        let mut ids = Vec::new();
        let mut window_chunks: usize = self.builds.values().map(|b| b.max_chunks).sum();
        while self.builds.len() < FILE_WINDOW {
            let Some((_, front, _, _)) = self.queue.front() else { break };
            let size = match front.kind {
                Kind::File { size } => size,
                _ => 0,
            };
            // Every chunk but a file's last is at least the minimum size (FastCDC), so this
            // bounds the chunk list the declared size allows.
            let max_chunks = usize::try_from(size / u64::from(self.params.min.max(1)) + 1).unwrap_or(usize::MAX);
            if !self.builds.is_empty() && window_chunks.saturating_add(max_chunks) > WINDOW_CHUNKS {
                break;
            }
            let Some((id, entry, item, existed_mode)) = self.queue.pop_front() else { break };
            if size >= SPACE_CHECK_MIN {
                let free = self.root.free_space().unwrap_or(u64::MAX);
                let have =
                    existed_mode.map_or(0, |_| self.root.lstat(&entry.path).ok().flatten().map_or(0, |m| m.stat.size));
                if size > free.saturating_add(have) {
                    let p = entry.path.clone();
                    self.fail(
                        &p,
                        &anyhow!(
                            "needs {} but the destination has {} free; free some space and rerun",
                            crate::report::human(size),
                            crate::report::human(free)
                        ),
                    );
                    continue;
                }
            }
            window_chunks = window_chunks.saturating_add(max_chunks);
            self.builds.insert(
                id,
                Build {
                    id,
                    entry,
                    item,
                    existed_mode,
                    tmp: None,
                    chunks: Vec::new(),
                    offsets: Vec::new(),
                    end: 0,
                    hashes: Vec::new(),
                    filled: 0,
                    sum: None,
                    basis: None,
                    basis_tried: false,
                    max_chunks,
                    staged: 0,
                    failed: false,
                    in_place: Vec::new(),
                    inline_ok: existed_mode.is_none() && !self.cfg.flags.has(Flags::DRY_RUN),
                },
            );
            ids.push(id);
        }
        // Files with nothing at their path may come inline (no local data to look for).
        let (fresh, old): (Vec<u32>, Vec<u32>) =
            ids.into_iter().partition(|id| self.builds.get(id).is_some_and(|b| b.inline_ok));
        for (files, inline) in [(fresh, true), (old, false)] {
            if !files.is_empty() {
                self.link.tx.send(Message::Need { files, inline }).map_err(|_| PErr::Closed)?;
            }
        }
        Ok(())
    }

    fn chunk_list(&mut self, file: u32, first: u32, chunks: Vec<ChunkId>) -> Result<()> {
        let Some(mut b) = self.builds.remove(&file) else {
            return Err(PErr::State(format!("chunk list for file {file}, which was not asked for")).into());
        };
        if first as usize != b.chunks.len() || b.sum.is_some() {
            return Err(PErr::State(format!("chunk list for file {file} out of order")).into());
        }
        if b.chunks.len() + chunks.len() > b.max_chunks {
            return Err(PErr::State(format!("chunk list for {} is longer than its size allows", b.entry.path)).into());
        }
        let declared = match b.entry.kind {
            Kind::File { size } => size,
            _ => 0,
        };
        let start = b.chunks.len();
        for (k, c) in chunks.iter().enumerate() {
            if c.len > self.params.max || c.len == 0 {
                return Err(PErr::Cap("chunk length", u64::from(c.len)).into());
            }
            // Only a file's last chunk may be under the minimum (FastCDC): a list of tiny
            // chunks cannot grow without bound.
            let prev = if k == 0 { b.chunks.last() } else { chunks.get(k - 1) };
            if prev.is_some_and(|p| p.len < self.params.min) {
                return Err(
                    PErr::State(format!("chunk list for {} has a short chunk before its end", b.entry.path)).into()
                );
            }
            b.offsets.push(b.end);
            b.end = b.end.checked_add(u64::from(c.len)).ok_or(PErr::Malformed("file size overflows"))?;
            // The moment the list passes the size the file list declared, it is refused.
            if b.end > declared {
                return Err(PErr::State(format!("chunk list for {} runs past its declared size", b.entry.path)).into());
            }
            b.hashes.push(None);
        }
        b.chunks.extend_from_slice(&chunks);
        if !b.failed {
            if let Err(e) = self.resolve(&mut b, start) {
                if e.downcast_ref::<PErr>().is_some() {
                    // The link is gone (or the peer broke the protocol): not this file's
                    // fault. Keep it in the window, so the temp file and its recorded chunks
                    // stay for the reconnect or rerun (dropping it deleted them, and a
                    // resume sent the whole file again).
                    self.builds.insert(file, b);
                    return Err(e);
                }
                self.fail(&b.entry.path.clone(), &e);
                b.failed = true;
                b.tmp = None;
            }
        }
        self.builds.insert(file, b);
        Ok(())
    }

    /// Fill chunks `start..` from local data; ask the source for the rest.
    fn resolve(&mut self, b: &mut Build, start: usize) -> Result<()> {
        if b.tmp.is_none() {
            b.tmp = Some(self.root.create_temp(&b.entry.path)?);
        }
        if !b.basis_tried {
            b.basis_tried = true;
            if b.existed_mode.is_some() {
                b.basis = self.open_basis(&b.entry.path).ok().flatten();
            }
        }
        if b.inline_ok && start == 0 && b.chunks.first().is_some_and(|c| is_inline(c.len, &self.params)) {
            // Inline file: its data comes unasked, right behind the list (docs/protocol.md).
            return Ok(());
        }
        let mut missing: Vec<(u32, u32)> = Vec::new();
        for i in start..b.chunks.len() {
            let c = b.chunks[i];
            let found = self.local_chunk(b, c, b.offsets[i])?;
            match found {
                Some((h, in_place)) => {
                    if in_place {
                        // Already where it belongs: copied (in the kernel) only if the file changed.
                        b.in_place.push(i);
                    } else {
                        let tmp = b.tmp.as_ref().ok_or_else(|| anyhow!("temp file"))?;
                        crate::fsio::write_at(&tmp.file, &self.buf[..c.len as usize], b.offsets[i])?;
                        add(&self.stats.bytes_written, u64::from(c.len));
                    }
                    add(&self.stats.chunks_reused, 1);
                    add(&self.stats.bytes_reused, u64::from(c.len));
                    b.hashes[i] = Some(h);
                    b.filled += 1;
                }
                None => match missing.last_mut() {
                    Some((s, n)) if *s + *n == i as u32 => *n += 1,
                    _ => missing.push((i as u32, 1)),
                },
            }
        }
        add(&self.stats.chunks, (b.chunks.len() - start) as u64);
        if !missing.is_empty() {
            self.link.tx.send(Message::Want { file: b.id, ranges: missing }).map_err(|_| PErr::Closed)?;
        }
        Ok(())
    }

    /// Chunk list of the old file at `path`: from the manifest if its stat matches, else by
    /// chunking it now (and recording it).
    fn open_basis(&mut self, path: &SafeRelPath) -> Result<Option<Basis>> {
        let file = self.root.open_read(path)?;
        let md = file.metadata()?;
        let stat = crate::meta::Stat::from_meta(&md);
        let m = self.manifest.as_mut().ok_or_else(|| anyhow!("manifest"))?;
        let chunks = match m.file_chunks(path.as_str(), &stat)? {
            Some((_, c)) => c,
            None => {
                let mut ch = Chunker::with_size_hint(&file, self.params, stat.size);
                let mut v = Vec::new();
                while let Some((r, _)) = ch.next_chunk()? {
                    v.push(r);
                }
                add(&self.stats.dest_read, ch.position());
                let h = file_hash(v.iter().map(|c| &c.hash));
                m.record_file(path.as_str(), &stat, &h, &v)?;
                v
            }
        };
        let mut by_short: HashMap<u64, Vec<ChunkRef>> = HashMap::with_capacity(chunks.len());
        for c in chunks {
            by_short.entry(c.hash.short()).or_default().push(c);
        }
        Ok(Some(Basis { file, by_short }))
    }

    /// Whether local data at `rel` may serve this transfer. Any file of the destination tree
    /// may, for a sync into one's own tree; after an accepted offer (`pcp receive`, a sender
    /// one does not control) only entries of this very transfer and temp files staged for them
    /// may, so a sender cannot learn from the Wants it gets whether chunks it guesses exist in
    /// other files of the destination (security.md T35).
    fn in_scope(&mut self, rel: &SafeRelPath) -> Result<bool> {
        if self.cfg.offer.is_none() {
            return Ok(true);
        }
        if self.paths.contains(rel) {
            return Ok(true);
        }
        if self.staged_for.is_none() {
            let staged = match self.manifest.as_ref() {
                Some(m) => m.staged()?,
                None => Vec::new(),
            };
            self.staged_for = Some(staged.into_iter().map(|s| (s.temp, s.path)).collect());
        }
        let target = self.staged_for.as_ref().and_then(|m| m.get(rel.as_str()));
        Ok(target.and_then(|p| SafeRelPath::new(p).ok()).is_some_and(|p| self.paths.contains(&p)))
    }

    /// Find chunk `c` in local data, verify it, leave it in `self.buf`; return its full hash.
    /// The flag says the chunk sits in the basis at the very offset it belongs at (no copy is
    /// needed if the whole file turns out unchanged).
    fn local_chunk(&mut self, b: &mut Build, c: ChunkId, at: u64) -> Result<Option<(ChunkHash, bool)>> {
        let len = c.len as usize;
        if let Some(basis) = &b.basis {
            if let Some(cands) = basis.by_short.get(&c.short) {
                let mut cands: Vec<&ChunkRef> = cands.iter().filter(|r| r.len == c.len).collect();
                cands.sort_by_key(|r| r.offset != at);
                for r in cands {
                    self.buf.resize(len, 0);
                    if crate::fsio::read_at(&basis.file, &mut self.buf[..len], r.offset).is_ok() {
                        add(&self.stats.dest_read, u64::from(c.len));
                        if ChunkHash::of(&self.buf[..len]) == r.hash {
                            return Ok(Some((r.hash, r.offset == at)));
                        }
                    }
                }
            }
        }
        let locs = match self.manifest.as_ref() {
            Some(m) => m.find_chunk(c.short)?,
            None => Vec::new(),
        };
        for loc in locs.into_iter().filter(|l| l.len == c.len && l.hash.short() == c.short) {
            let Ok(rel) = SafeRelPath::new(&loc.path) else { continue };
            if !self.in_scope(&rel)? {
                continue;
            }
            if self.seed.as_ref().map(|(p, _)| p.as_str()) != Some(loc.path.as_str()) {
                match self.root.open_read(&rel) {
                    Ok(f) => self.seed = Some((loc.path.clone(), f)),
                    Err(_) => continue,
                }
            }
            let Some((_, f)) = &self.seed else { continue };
            self.buf.resize(len, 0);
            if crate::fsio::read_at(f, &mut self.buf[..len], loc.offset).is_ok() {
                add(&self.stats.dest_read, u64::from(c.len));
                if ChunkHash::of(&self.buf[..len]) == loc.hash {
                    return Ok(Some((loc.hash, false)));
                }
            }
        }
        Ok(None)
    }

    fn file_sum(&mut self, file: u32, count: u32, size: u64, hash: ChunkHash) -> Result<()> {
        let Some(mut b) = self.builds.remove(&file) else {
            return Err(PErr::State(format!("file summary for file {file}, which was not asked for")).into());
        };
        if b.sum.is_some() {
            return Err(PErr::State(format!("second file summary for file {file}")).into());
        }
        if count == u32::MAX {
            // The source could not read the file.
            self.outcome.errors += 1;
            add(&self.stats.errors, 1);
            return self.pump();
        }
        let declared = match b.entry.kind {
            Kind::File { size } => size,
            _ => 0,
        };
        if count as usize != b.chunks.len() || size != b.end || size != declared {
            return Err(PErr::State(format!("file summary for {} does not match its chunk list", b.entry.path)).into());
        }
        b.sum = Some((count, size, hash));
        if b.chunks.is_empty() && b.tmp.is_none() && !b.failed {
            match self.root.create_temp(&b.entry.path) {
                Ok(t) => b.tmp = Some(t),
                Err(e) => {
                    self.fail(&b.entry.path.clone(), &e.into());
                    b.failed = true;
                }
            }
        }
        self.maybe_complete(file, b)
    }

    fn data(&mut self, file: u32, index: u32, hash: ChunkHash, compressed: bool, data: bytes::Bytes) -> Result<()> {
        let Some(mut b) = self.builds.remove(&file) else {
            if self.dropped_inline.remove(&file) {
                return Ok(());
            }
            return Err(PErr::State(format!("chunk data for file {file}, which was not asked for")).into());
        };
        let i = index as usize;
        let Some(c) = b.chunks.get(i).copied() else {
            return Err(PErr::State(format!("chunk {index} of {} was never listed", b.entry.path)).into());
        };
        if b.hashes[i].is_some() || b.failed {
            // T33: duplicate (or for a failed file): idempotent, ignored.
            self.builds.insert(file, b);
            return Ok(());
        }
        if data.is_empty() && !compressed {
            // The source withdrew the file: it could not read it any more (docs/protocol.md).
            return self.give_up(b, "changed or vanished on the source while it was sent; rerun to send it");
        }
        let plain;
        let bytes: &[u8] = if compressed {
            // T25: output capped at the listed chunk length. One context for the whole transfer
            // (creating one per chunk dominated syncs of many small files).
            if self.unzstd.is_none() {
                self.unzstd = Some(zstd::bulk::Decompressor::new().map_err(|_| PErr::Malformed("chunk compression"))?);
            }
            let z = self.unzstd.as_mut().ok_or(PErr::Malformed("chunk compression"))?;
            plain = z.decompress(&data, c.len as usize).map_err(|_| PErr::Malformed("chunk compression"))?;
            &plain
        } else {
            &data
        };
        // T29: data must be exactly what was listed; never stored otherwise. A source file
        // that changed after it was chunked gives such data too: that file fails (exit 23) and
        // the transfer goes on; a source that keeps sending bad data is cut off.
        if bytes.len() != c.len as usize || hash.short() != c.short || ChunkHash::of(bytes) != hash {
            self.strikes += 1;
            if self.strikes > MAX_STRIKES {
                return Err(PErr::State(format!("{} chunks did not match their hashes", self.strikes)).into());
            }
            return self.give_up(
                b,
                "its data did not match its chunk list (changed on the source while it was sent?); rerun to send it",
            );
        }
        let tmp = b.tmp.as_ref().ok_or_else(|| anyhow!("temp file"))?;
        if let Err(e) = crate::fsio::write_at(&tmp.file, bytes, b.offsets[i]) {
            let p = b.entry.path.clone();
            self.fail(&p, &anyhow::Error::from(e).context("writing"));
            b.failed = true;
            b.tmp = None;
            return self.maybe_complete(file, b);
        }
        add(&self.stats.bytes_written, bytes.len() as u64);
        let _ = self.pacer.pace(data.len() as u64);
        self.done_bytes += bytes.len() as u64;
        self.rep.progress(
            self.done_bytes,
            self.stats.total_size.load(std::sync::atomic::Ordering::Relaxed),
            self.start,
        );
        b.hashes[i] = Some(hash);
        b.filled += 1;
        // Resume: remember verified chunks of the temp file so a rerun can reuse them (only for
        // files big enough for it to matter: small files are cheaper to send again).
        if let Err(e) = self.record_staged(&mut b, i, hash) {
            // Keep the file (and what is recorded of it) for the error path.
            self.builds.insert(file, b);
            return Err(e);
        }
        self.maybe_complete(file, b)
    }

    /// Resume: record verified chunk `i` of the temp file so a rerun can reuse it (only for
    /// files big enough for it to matter: small files are cheaper to send again).
    fn record_staged(&mut self, b: &mut Build, i: usize, hash: ChunkHash) -> Result<()> {
        if let (Some(m), Some(t), true) = (self.manifest.as_mut(), b.tmp.as_ref(), b.end >= STAGE_MIN) {
            let rel = t.rel();
            if b.staged == 0 {
                m.stage(&rel, b.entry.path.as_str(), b.end, &hash)?;
            }
            m.add_chunk(&rel, &ChunkRef { hash, offset: b.offsets[i], len: b.chunks[i].len })?;
            b.staged += 1;
            self.unflushed += u64::from(b.chunks[i].len);
            // Commit the resume record every 200 ms or 16 MiB, whichever comes first.
            if self.unflushed >= 16 << 20 || self.last_stage_flush.elapsed().as_millis() > 200 {
                self.unflushed = 0;
                m.flush()?;
                self.last_stage_flush = Instant::now();
            }
        }
        Ok(())
    }

    /// This file failed (its temp goes); the transfer goes on.
    fn give_up(&mut self, mut b: Build, why: &str) -> Result<()> {
        let p = b.entry.path.clone();
        self.fail(&p, &anyhow!("{why}"));
        b.failed = true;
        b.tmp = None;
        self.maybe_complete(b.id, b)
    }

    fn maybe_complete(&mut self, file: u32, mut b: Build) -> Result<()> {
        if b.failed {
            if b.sum.is_some() || b.tmp.is_none() {
                if b.inline_ok
                    && b.chunks.len() == 1
                    && b.hashes[0].is_none()
                    && is_inline(b.chunks[0].len, &self.params)
                {
                    // Its data is on the way unasked: ignore it when it comes.
                    self.dropped_inline.insert(file);
                }
                // Drop the temp (deletes it); forget its staged chunks.
                if let (Some(m), Some(t)) = (self.manifest.as_mut(), b.tmp.as_ref()) {
                    let rel = t.rel();
                    m.forget_file(&rel)?;
                    m.unstage(&rel)?;
                }
                if b.sum.is_some() {
                    return self.pump();
                }
            }
            self.builds.insert(file, b);
            return Ok(());
        }
        let Some((_, size, hash)) = b.sum else {
            self.builds.insert(file, b);
            return Ok(());
        };
        if b.filled < b.chunks.len() {
            self.builds.insert(file, b);
            return Ok(());
        }
        let path = b.entry.path.clone();
        let staged = b.tmp.as_ref().map(TempFile::rel).filter(|_| b.staged > 0);
        match self.prepare(&mut b, size, hash) {
            Err(e) => {
                self.fail(&path, &e);
                self.forget_staged(staged)?;
            }
            Ok(None) => self.forget_staged(staged)?,
            Ok(Some(r)) => {
                self.ready_bytes += r.size;
                if self.ready.is_empty() {
                    self.ready_since = Instant::now();
                }
                self.ready.push(r);
                if !self.cfg.fsync
                    || self.ready.len() >= READY_FILES
                    || self.ready_bytes >= READY_BYTES
                    || self.ready_since.elapsed() >= READY_WAIT
                {
                    self.install_ready()?;
                }
            }
        }
        self.pump()
    }

    fn forget_staged(&mut self, temp: Option<String>) -> Result<()> {
        if let (Some(m), Some(rel)) = (self.manifest.as_mut(), temp) {
            m.forget_file(&rel)?;
            m.unstage(&rel)?;
        }
        Ok(())
    }

    /// Group commit: make the ready files durable with one `syncfs` (with fsync on), then
    /// rename each into place and record it.
    fn install_ready(&mut self) -> Result<()> {
        if self.ready.is_empty() {
            return Ok(());
        }
        if self.cfg.fsync {
            if let Err(e) = self.root.sync_fs() {
                // Not durable: leave them as temp files (cleaned up, resent next run).
                let lost = std::mem::take(&mut self.ready);
                self.ready_bytes = 0;
                for r in lost {
                    self.fail(&r.path, &anyhow!("not made durable ({e}); it will be sent again next run"));
                }
                return Ok(());
            }
        }
        for r in std::mem::take(&mut self.ready) {
            let path = r.path.clone();
            if let Err(e) = self.install(r) {
                self.fail(&path, &e);
            }
        }
        self.ready_bytes = 0;
        Ok(())
    }

    fn install(&mut self, r: Ready) -> Result<()> {
        // A directory in the way goes just before the rename.
        if let Ok(Some(Meta { ftype: FType::Dir, .. })) = self.root.lstat(&r.path) {
            self.root.remove_all(&r.path)?;
        }
        let meta = self.root.install(r.tmp, &r.path)?;
        if let Some(m) = self.manifest.as_mut() {
            if r.size >= u64::from(self.params.min) {
                m.record_file(r.path.as_str(), &meta.stat, &r.hash, &r.chunks)?;
            } else if !r.created {
                // Small files are not indexed (cheaper to resend than to record); drop stale rows.
                m.forget_file(r.path.as_str())?;
            }
        }
        self.forget_staged(r.staged)?;
        add(&self.stats.transferred_files, 1);
        add(&self.stats.transferred_size, r.size);
        if r.created {
            add(&self.stats.created, 1);
        }
        self.rep.change(&r.item, r.path.as_str());
        Ok(())
    }

    /// Check the assembled temp file against the source's file hash and give it its final
    /// size, mode and mtime. `None` when the file in place already had this content.
    fn prepare(&mut self, b: &mut Build, size: u64, hash: ChunkHash) -> Result<Option<Ready>> {
        let hashes: Vec<ChunkHash> = b.hashes.iter().map(|h| h.unwrap_or(ChunkHash([0; 32]))).collect();
        // T30: the whole file must match the source's file hash.
        if file_hash(hashes.iter()) != hash {
            return Err(anyhow!("assembled content does not match the source's file hash; rerun with --checksum"));
        }
        let unchanged = b.in_place.len() == b.chunks.len()
            && b.basis.as_ref().and_then(|x| x.file.metadata().ok()).is_some_and(|m| m.len() == size);
        if unchanged {
            // Same content (e.g. -c, or only the mtime changed): keep the file, fix metadata.
            drop(b.tmp.take());
            self.keep_unchanged(b)?;
            return Ok(None);
        }
        let tmp = b.tmp.take().ok_or_else(|| anyhow!("temp file"))?;
        if let Some(basis) = &b.basis {
            for &i in &b.in_place {
                let (off, len) = (b.offsets[i], u64::from(b.chunks[i].len));
                crate::fsio::copy_range(&basis.file, &tmp.file, off, len)?;
                add(&self.stats.bytes_written, len);
            }
        }
        tmp.file.set_len(size)?;
        let mode = if self.cfg.flags.has(Flags::PERMS) {
            b.entry.mode & 0o777
        } else {
            b.existed_mode.unwrap_or(b.entry.mode & 0o777 & !self.cfg.umask)
        };
        let mtime = self.cfg.flags.has(Flags::TIMES).then_some((b.entry.mtime, b.entry.mtime_ns));
        self.root.seal(&tmp, &b.entry.path, mode, mtime)?;
        let chunks: Vec<ChunkRef> = b
            .chunks
            .iter()
            .zip(&hashes)
            .zip(&b.offsets)
            .map(|((c, h), o)| ChunkRef { hash: *h, offset: *o, len: c.len })
            .collect();
        let staged = (b.staged > 0).then(|| tmp.rel());
        Ok(Some(Ready {
            tmp,
            path: b.entry.path.clone(),
            item: b.item.clone(),
            created: b.existed_mode.is_none(),
            size,
            hash,
            chunks,
            staged,
        }))
    }

    /// The assembled file equals the one in place: only metadata may differ.
    fn keep_unchanged(&mut self, b: &Build) -> Result<()> {
        let Some(cur) = self.root.lstat(&b.entry.path)? else { return Ok(()) };
        let perms = self.cfg.flags.has(Flags::PERMS);
        let times = self.cfg.flags.has(Flags::TIMES);
        let mode = (perms && cur.mode != b.entry.mode & 0o777).then_some(b.entry.mode & 0o777);
        let t_differs = cur.stat.mtime != b.entry.mtime || cur.stat.mtime_ns != b.entry.mtime_ns;
        let mtime = (times && t_differs).then_some((b.entry.mtime, b.entry.mtime_ns));
        if mode.is_some() || mtime.is_some() {
            self.root.set_meta(&b.entry.path, false, mode, mtime)?;
            let item = format!(
                ".f..{}{}.....",
                if mtime.is_some() { 't' } else { '.' },
                if mode.is_some() { 'p' } else { '.' }
            );
            self.rep.change(&item, b.entry.path.as_str());
        }
        if let (Some(m), Ok(Some(meta))) = (self.manifest.as_mut(), self.root.lstat(&b.entry.path)) {
            let chunks: Vec<ChunkRef> = b
                .chunks
                .iter()
                .zip(&b.hashes)
                .zip(&b.offsets)
                .map(|((c, h), o)| ChunkRef { hash: h.unwrap_or(ChunkHash([0; 32])), offset: *o, len: c.len })
                .collect();
            let h = file_hash(chunks.iter().map(|c| &c.hash));
            m.record_file(b.entry.path.as_str(), &meta.stat, &h, &chunks)?;
        }
        Ok(())
    }

    fn delete_pass(&mut self) -> Result<()> {
        let dry = self.cfg.flags.has(Flags::DRY_RUN);
        let mut stack = vec![SafeRelPath::root()];
        let mut deleted = 0u64;
        let mut visited = 0usize;
        while let Some(dir) = stack.pop() {
            visited += 1;
            if visited > 10_000_000 {
                break;
            }
            let mut names = match self.root.list(&dir) {
                Ok(n) => n,
                Err(e) => {
                    self.fail(&dir, &e.into());
                    continue;
                }
            };
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, ft) in names {
                let Ok(rel) = dir.join(&name) else {
                    self.rep.warn(&format!(
                        "not deleting {}: name cannot be handled safely",
                        crate::report::sanitize(&name)
                    ));
                    continue;
                };
                if self.paths.contains(&rel) {
                    if ft == FType::Dir && self.dirs.contains(&rel) {
                        stack.push(rel);
                    }
                    continue;
                }
                if name.starts_with(TEMP_PREFIX) {
                    continue; // our own temp files: cleanup_staged handles them
                }
                if self.cfg.filter.excluded_or_parent(rel.as_str(), ft == FType::Dir) {
                    continue;
                }
                if self.cfg.max_delete > 0 && deleted >= self.cfg.max_delete {
                    self.outcome.delete_limited = true;
                    continue;
                }
                deleted += 1;
                let shown = if ft == FType::Dir { format!("{}/", rel.as_str()) } else { rel.as_str().to_owned() };
                self.rep.change("*deleting  ", &shown);
                add(&self.stats.deleted, 1);
                if !dry {
                    if let Err(e) = self.root.remove_all(&rel) {
                        self.fail(&rel, &e.into());
                        continue;
                    }
                    if let Some(m) = self.manifest.as_mut() {
                        m.forget(rel.as_str())?;
                    }
                }
            }
        }
        if self.outcome.delete_limited {
            self.rep.warn(&format!("deletions stopped due to --max-delete limit ({} deleted)", deleted));
        }
        Ok(())
    }

    /// Remove temp files left by interrupted runs once this run has finished.
    fn cleanup_staged(&mut self) -> Result<()> {
        let Some(m) = self.manifest.as_mut() else { return Ok(()) };
        let staged = m.staged()?;
        for s in staged {
            if let Ok(rel) = SafeRelPath::new(&s.temp) {
                if let Ok(Some(meta)) = self.root.lstat(&rel) {
                    if meta.ftype == FType::File {
                        let _ = self.root.remove_all(&rel);
                    }
                }
            }
            if let Some(m) = self.manifest.as_mut() {
                m.forget_file(&s.temp)?;
                m.unstage(&s.temp)?;
            }
        }
        // Also unrecorded leftovers (killed before the first record was committed): only after an
        // interrupted run, or with --delete, which walks the tree anyway.
        if self.cfg.flags.has(Flags::DELETE) || self.interrupted_before {
            let mut stack = vec![SafeRelPath::root()];
            let mut n = 0;
            while let Some(dir) = stack.pop() {
                n += 1;
                if n > 1_000_000 {
                    break;
                }
                let Ok(names) = self.root.list(&dir) else { continue };
                for (name, ft) in names {
                    let Ok(rel) = dir.join(&name) else { continue };
                    if name.starts_with(TEMP_PREFIX) && ft != FType::Dir {
                        let _ = self.root.remove_all(&rel);
                    } else if ft == FType::Dir && self.dirs.contains(&rel) {
                        stack.push(rel);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T11: --safe-links drops links that leave the tree.
    #[test]
    fn safe_links() {
        use crate::plan::link_is_safe;
        let p = |s| SafeRelPath::new(s).unwrap();
        assert!(link_is_safe(&p("a/l"), b"../b"));
        assert!(!link_is_safe(&p("a/l"), b"../../b"));
        assert!(!link_is_safe(&p("l"), b"/etc/passwd"));
        assert!(!link_is_safe(&p("a/l"), b"x/../../.."));
        assert!(!link_is_safe(&p("l"), b"x/y/../z")); // rsync 3.4: no ".." after a name
    }
}

/// The destination against a scripted, hostile source (security.md T7, T10, T23, T29, T31, T32
/// and the strict state machine of section F), in memory.
#[cfg(test)]
mod hostile {
    use super::*;
    use crate::proto::Hello;

    fn cfg(root: &std::path::Path) -> DestConfig {
        DestConfig::scratch(root.to_path_buf(), Flags(Flags::PERMS | Flags::TIMES | Flags::DELETE))
    }

    fn hello() -> Message {
        Message::Hello(Hello {
            version: crate::proto::message::VERSION,
            params: ChunkParams::DEFAULT,
            flags: Flags(0),
            max_delete: 0,
        })
    }

    fn entry(p: &str, kind: Kind) -> Entry {
        Entry { path: SafeRelPath::new(p).unwrap(), kind, mode: 0o644, mtime: 1_000_000_000, mtime_ns: 0 }
    }

    fn run_script(root: &std::path::Path, script: Vec<Message>) -> Result<Outcome> {
        let (src, dst) = super::super::local_pair(1024);
        for m in script {
            src.tx.send(m).unwrap();
        }
        drop(src.tx);
        let rep = Reporter::new(crate::report::Verbosity { quiet: true, ..Default::default() });
        let stats = Stats::default();
        run(&cfg(root), dst, &rep, &stats)
    }

    fn err_text(r: Result<Outcome>) -> String {
        format!("{:#}", r.expect_err("the hostile script must fail"))
    }

    #[test]
    fn data_before_hello_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = err_text(run_script(d.path(), vec![Message::FileListEnd { count: 0 }]));
        assert!(e.contains("Hello"), "{e}");
    }

    #[test]
    fn wrong_version_is_incompatible() {
        let d = tempfile::tempdir().unwrap();
        let h = Message::Hello(Hello { version: 99, params: ChunkParams::DEFAULT, flags: Flags(0), max_delete: 0 });
        let r = run_script(d.path(), vec![h]);
        let e = r.expect_err("version");
        assert_eq!(crate::error::kind_of(&e), crate::error::Kind::Incompatible);
    }

    /// T10: a symlink entry followed by an entry beneath it never writes through the link.
    #[test]
    fn t10_entry_under_a_symlink_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("dst");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let target = outside.to_str().unwrap().as_bytes().to_vec();
        let script = vec![
            hello(),
            Message::FileList {
                first: 0,
                entries: vec![
                    entry("", Kind::Dir),
                    entry("d", Kind::Symlink { target }),
                    entry("d/f", Kind::File { size: 3 }),
                ],
            },
        ];
        let e = err_text(run_script(&root, script));
        assert!(e.contains("before its directory"), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    /// T7: the same path twice is refused.
    #[test]
    fn t7_duplicate_entries_refused() {
        let d = tempfile::tempdir().unwrap();
        let script = vec![
            hello(),
            Message::FileList {
                first: 0,
                entries: vec![entry("", Kind::Dir), entry("a", Kind::Dir), entry("a", Kind::File { size: 1 })],
            },
        ];
        assert!(err_text(run_script(d.path(), script)).contains("duplicate"));
    }

    fn one_file_script(data: &[u8], sent: &[u8], extra: Vec<Message>) -> Vec<Message> {
        let h = ChunkHash::of(data);
        let mut v = vec![
            hello(),
            Message::FileList {
                first: 0,
                entries: vec![entry("", Kind::Dir), entry("f", Kind::File { size: data.len() as u64 })],
            },
            Message::FileListEnd { count: 2 },
            Message::ChunkList {
                file: 1,
                first: 0,
                chunks: vec![ChunkId { short: h.short(), len: data.len() as u32 }],
            },
            Message::FileSum { file: 1, count: 1, size: data.len() as u64, hash: file_hash([&h]) },
        ];
        v.extend(extra);
        v.push(Message::Data { file: 1, index: 0, hash: h, compressed: false, data: sent.to_vec().into() });
        v.push(Message::Done);
        v
    }

    /// What the destination sends for a one-file script.
    fn sent_for(data: &[u8], existing: Option<&[u8]>) -> Vec<Message> {
        let d = tempfile::tempdir().unwrap();
        if let Some(old) = existing {
            std::fs::write(d.path().join("f"), old).unwrap();
        }
        let (src, dst) = super::super::local_pair(1024);
        for m in one_file_script(data, data, vec![]) {
            src.tx.send(m).unwrap();
        }
        drop(src.tx);
        let rep = Reporter::new(crate::report::Verbosity { quiet: true, ..Default::default() });
        run(&cfg(d.path()), dst, &rep, &Stats::default()).unwrap();
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), data);
        src.rx.try_iter().collect()
    }

    /// A file of one chunk below INLINE_MAX comes unasked: no Want for it. A bigger one is
    /// asked for.
    #[test]
    fn inline_files_are_not_asked_for() {
        let small = sent_for(b"hello", None);
        assert!(small.iter().any(|m| matches!(m, Message::Need { inline: true, .. })));
        assert!(!small.iter().any(|m| matches!(m, Message::Want { .. })), "{small:?}");
        let big = sent_for(&vec![7u8; 20_000], None);
        assert!(big.iter().any(|m| matches!(m, Message::Want { .. })), "{big:?}");
        // Something at the path already: its old content may hold the chunk, so it is asked for.
        let changed = sent_for(b"hello", Some(b"hellO"));
        assert!(changed.iter().any(|m| matches!(m, Message::Need { inline: false, .. })), "{changed:?}");
        assert!(changed.iter().any(|m| matches!(m, Message::Want { .. })), "{changed:?}");
    }

    #[test]
    fn honest_script_writes_the_file() {
        let d = tempfile::tempdir().unwrap();
        let o = run_script(d.path(), one_file_script(b"hello", b"hello", vec![])).unwrap();
        assert_eq!(o.errors, 0);
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"hello");
    }

    /// T29: chunk bytes that do not match their hash are never stored.
    #[test]
    fn t29_bad_chunk_data_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let out = run_script(d.path(), one_file_script(b"hello", b"HELLO", vec![])).unwrap();
        assert_eq!(out.errors, 1, "that file fails, the transfer goes on");
        assert!(!d.path().join("f").exists());
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert!(left.is_empty(), "no temp file may remain: {left:?}");
    }

    /// T32: data for a file that was never asked for.
    #[test]
    fn t32_unsolicited_data_refused() {
        let d = tempfile::tempdir().unwrap();
        let extra = vec![Message::Data {
            file: 0,
            index: 0,
            hash: ChunkHash::of(b"x"),
            compressed: false,
            data: b"x".to_vec().into(),
        }];
        let e = err_text(run_script(d.path(), one_file_script(b"hello", b"hello", extra)));
        assert!(e.contains("not asked for"), "{e}");
    }

    /// T23/T24: chunk lengths above the maximum, or lists longer than the file allows.
    #[test]
    fn t23_oversized_chunk_and_overlong_list_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        s[3] = Message::ChunkList {
            file: 1,
            first: 0,
            chunks: vec![ChunkId { short: 1, len: ChunkParams::DEFAULT.max + 2 }],
        };
        assert!(run_script(d.path(), s).is_err());
        let d = tempfile::tempdir().unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        s[3] = Message::ChunkList { file: 1, first: 0, chunks: vec![ChunkId { short: 1, len: 1 }; 4096] };
        let mut s2 = s.clone();
        s2.insert(4, Message::ChunkList { file: 1, first: 4096, chunks: vec![ChunkId { short: 1, len: 1 }; 10] });
        assert!(err_text(run_script(d.path(), s2)).contains("longer than its size allows"));
    }

    /// T31: the source hangs up before sending a listed chunk: no rename, clear error.
    #[test]
    fn t31_missing_chunk_then_close_leaves_no_final_file() {
        let d = tempfile::tempdir().unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        s.truncate(5);
        let e = err_text(run_script(d.path(), s));
        assert!(e.contains("closed the connection"), "{e}");
        assert!(!d.path().join("f").exists());
    }

    /// T25: a compressed chunk that inflates beyond its listed length is refused.
    #[test]
    fn t25_zstd_bomb_refused() {
        let d = tempfile::tempdir().unwrap();
        let big = vec![0u8; 8 << 20];
        let bomb = zstd::bulk::compress(&big, 3).unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        let n = s.len();
        s[n - 2] =
            Message::Data { file: 1, index: 0, hash: ChunkHash::of(b"hello"), compressed: true, data: bomb.into() };
        assert!(run_script(d.path(), s).is_err());
        assert!(!d.path().join("f").exists());
    }
}
