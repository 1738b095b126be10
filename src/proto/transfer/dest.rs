//! The destination's protocol state machine, sans-IO. [`DestState::handle`] takes each message
//! from the source and either refuses it ([`Error`]: the transfer ends) or returns an [`Event`]
//! that tells the driver (`engine::destination`) what to do: plan entries, look for listed
//! chunks locally, write a verified chunk, install a complete file, finish. The driver tells it
//! its own decisions back: [`DestState::queue`] (this entry needs data), [`DestState::pop_next`]
//! and [`DestState::ask`] (the Need window), [`DestState::fill`] / [`DestState::want`] (where
//! each listed chunk comes from), [`DestState::fail`] and [`DestState::release`] (a file is
//! finished with).
//!
//! What it owns: message order (Hello first with the same version, FileList ids contiguous, no
//! entries after FileListEnd, ChunkList / FileSum / Data only for files asked for), the
//! accepted-offer check, path rules (no duplicate, parent sent as a directory first), the
//! windows (files and chunk-list slots in flight), the chunk-list caps, Data checks (listed,
//! asked for, decompressed within its listed length, BLAKE3-verified; duplicates ignored; bad
//! chunks counted) and the end checks (FileListEnd's count, no Done while files wait).
//! It holds no file, socket or clock: the driver owns all IO.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::offer::Offer;
use super::{kind_name, shown, FILE_WINDOW, MAX_STRIKES, RELEASED_MAX, WINDOW_CHUNKS};
use crate::chunk::{ChunkHash, ChunkParams};
use crate::path::SafeRelPath;
use crate::proto::message::{is_inline, MAX_CHUNK_ACCEPTED, VERSION};
use crate::proto::{ChunkId, Entry, Error, Hello, Kind, Message};

/// Where the transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing yet: only Hello is accepted.
    Hello,
    /// Entries may come; files may be asked for.
    List,
    /// FileListEnd came: no more entries.
    Listed,
    /// Everything is applied and the driver sent Done: waiting for the source's Done.
    Finishing,
}

/// One listed chunk of a file in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Listed; the driver has not placed it yet.
    Listed,
    /// Asked for (Want, or the unasked data of an inline file): Data may come.
    Wanted,
    /// Filled (from local data or verified Data), with its full hash.
    Filled(ChunkHash),
}

/// Why a file failed on the source's account (the file fails, the transfer goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// An empty, uncompressed Data: the source withdrew the file (docs/protocol.md).
    Withdrawn,
    /// Data whose length, short id or BLAKE3 does not match the chunk list (T29).
    Mismatch,
}

impl Rejection {
    /// What to tell the user.
    pub fn why(self) -> &'static str {
        match self {
            Self::Withdrawn => "changed or vanished on the source while it was sent; rerun to send it",
            Self::Mismatch => {
                "its data did not match its chunk list (changed on the source while it was sent?); rerun to send it"
            }
        }
    }
}

/// What the driver does for a message.
#[derive(Debug)]
pub enum Event {
    /// Nothing (an ignored duplicate, Data of a failed file, a message while finishing).
    Nothing,
    /// The source's Hello, accepted: open the manifest for its chunk parameters and answer.
    Hello(Hello),
    /// A batch of entries in order: take each through [`DestState::next_entry`], which checks
    /// it (offer, path rules) as it hands it out, then plan and apply it before taking the next
    /// (so an entry may name a directory made by an earlier one); queue
    /// ([`DestState::queue`]) those that need data.
    Entries(EntryBatch),
    /// FileListEnd, its count checked: no more entries.
    ListEnd,
    /// `file`'s chunk list grew from chunk `start`: place each new chunk ([`DestState::fill`]
    /// from local data, else [`DestState::want`] and a Want). `inline`: the one chunk of an
    /// inline file, whose data comes unasked; nothing to look for or ask.
    Chunks {
        /// Entry id.
        file: u32,
        /// First new chunk.
        start: usize,
        /// Inline file.
        inline: bool,
    },
    /// Chunk `index` of `file`, verified against its listing (length, short id, BLAKE3):
    /// write `data` at `offset`. `complete`: this was the file's last missing chunk.
    Chunk {
        /// Entry id.
        file: u32,
        /// Chunk index.
        index: u32,
        /// Where it goes in the file.
        offset: u64,
        /// The plain bytes (the received buffer itself when it was not compressed).
        data: Bytes,
        /// Bytes it took on the wire (for --bwlimit).
        wire: usize,
        /// Every chunk and the FileSum are in: install it ([`DestState::release`]).
        complete: bool,
    },
    /// The FileSum came and every chunk is filled: check and install the file, then
    /// [`DestState::release`] it.
    Complete {
        /// Entry id.
        file: u32,
    },
    /// The source withdrew `file` or sent bad data for it: it fails (its temp goes).
    /// `released`: it left the window too (the driver drops its state).
    Rejected {
        /// Entry id.
        file: u32,
        /// Its path.
        path: SafeRelPath,
        /// Why.
        why: Rejection,
        /// Out of the window.
        released: bool,
    },
    /// A failed file got its FileSum: it left the window.
    Released {
        /// Entry id.
        file: u32,
    },
    /// The source could not read `file` (a FileSum with the impossible count): it failed and
    /// left the window.
    Unreadable {
        /// Entry id.
        file: u32,
    },
    /// The source's final Done (after [`DestState::finishing`]).
    PeerDone,
}

/// Entries of one FileList, not yet checked: only [`DestState::next_entry`] hands them out.
#[derive(Debug)]
pub struct EntryBatch {
    next: u32,
    entries: std::vec::IntoIter<Entry>,
}

/// An entry waiting for the window, with the driver's plan for it.
#[derive(Debug)]
pub struct Queued<P> {
    /// Entry id.
    pub id: u32,
    /// The entry.
    pub entry: Entry,
    /// Whatever the driver keeps for it (itemize line, previous mode).
    pub plan: P,
}

/// A file in the window: its entry, its chunk list as far as it came, which chunks are filled.
#[derive(Debug)]
pub struct FileState {
    entry: Entry,
    declared: u64,
    max_chunks: usize,
    inline_ok: bool,
    chunks: Vec<ChunkId>,
    offsets: Vec<u64>,
    slots: Vec<Slot>,
    end: u64,
    filled: usize,
    sum: Option<ChunkHash>,
    failed: bool,
}

impl FileState {
    /// The file-list entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The chunk list so far.
    pub fn chunks(&self) -> &[ChunkId] {
        &self.chunks
    }

    /// Each listed chunk's offset in the file.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Chunk `i`'s full hash, once filled.
    pub fn hash(&self, i: usize) -> Option<ChunkHash> {
        match self.slots.get(i) {
            Some(Slot::Filled(h)) => Some(*h),
            _ => None,
        }
    }

    /// Every chunk's full hash (`None`: not filled).
    pub fn hashes(&self) -> impl Iterator<Item = Option<ChunkHash>> + '_ {
        (0..self.slots.len()).map(|i| self.hash(i))
    }

    /// The size the chunk list adds up to so far (the file's size once its FileSum is in).
    pub fn size(&self) -> u64 {
        self.end
    }

    /// The source's file hash, once the FileSum is in.
    pub fn sum(&self) -> Option<ChunkHash> {
        self.sum
    }

    /// Failed (its Data is ignored).
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// FileSum in, every chunk filled, not failed.
    pub fn is_complete(&self) -> bool {
        !self.failed && self.sum.is_some() && self.filled == self.chunks.len()
    }

    /// The entry, consuming the state.
    pub fn into_entry(self) -> Entry {
        self.entry
    }
}

/// Chunk-list slots the declared size allows: every chunk but a file's last is at least the
/// minimum size (FastCDC).
fn max_chunks_for(size: u64, params: &ChunkParams) -> usize {
    usize::try_from(size / u64::from(params.min.max(1)) + 1).unwrap_or(usize::MAX)
}

fn declared_size(e: &Entry) -> u64 {
    match e.kind {
        Kind::File { size } => size,
        _ => 0,
    }
}

fn state(s: String) -> Error {
    Error::State(s)
}

/// A listed path, as the destination remembers it for the whole transfer: 64 bits of its
/// BLAKE3 hash instead of the path (8 bytes an entry rather than ~80: a million entries fit in
/// a few MiB). Fail-safe: the same path always has the same key, so a duplicate (T7) is always
/// caught; two different paths with one key (odds about n²/2⁶⁵, 3·10⁻⁸ at a million entries)
/// can only make an honest transfer stop as a "duplicate", or keep an extraneous file that
/// `--delete` would have removed, never write where it must not (fsio checks every path).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct PathKey(u64);

impl PathKey {
    fn of(p: &SafeRelPath) -> Self {
        let h = blake3::hash(p.as_str().as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        Self(u64::from_le_bytes(b))
    }
}

/// The destination's protocol state (see the module documentation). `P` is what the driver
/// keeps with each queued entry until it is asked for.
pub struct DestState<P = ()> {
    phase: Phase,
    params: ChunkParams,
    offer: Option<Arc<Offer>>,
    /// Entries accepted so far (the next entry's id).
    seen: u32,
    /// Every path of this transfer.
    paths: HashSet<PathKey>,
    /// The paths this transfer sent as directories (entries beneath them may come).
    dirs: HashSet<PathKey>,
    /// Files that need data, waiting for the window.
    queue: VecDeque<Queued<P>>,
    /// The window: files asked for.
    /// By id: the lowest unfinished one is the first (Progress asks for it after every event).
    files: BTreeMap<u32, FileState>,
    /// Chunk-list slots the window's files may use in all.
    window_chunks: usize,
    /// Failed files released from the window, newest last (late Data for them is ignored).
    released: VecDeque<u32>,
    released_set: HashSet<u32>,
    /// Chunks that did not match their hashes so far.
    strikes: u32,
    /// One zstd context for the whole transfer.
    unzstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl<P> DestState<P> {
    /// A fresh destination; with `offer`, only entries it lists are accepted.
    pub fn new(offer: Option<Arc<Offer>>) -> Self {
        let mut dirs = HashSet::new();
        dirs.insert(PathKey::of(&SafeRelPath::root()));
        Self {
            phase: Phase::Hello,
            params: ChunkParams::DEFAULT,
            offer,
            seen: 0,
            paths: HashSet::new(),
            dirs,
            queue: VecDeque::new(),
            files: BTreeMap::new(),
            window_chunks: 0,
            released: VecDeque::new(),
            released_set: HashSet::new(),
            strikes: 0,
            unzstd: None,
        }
    }

    /// The source's chunk parameters (from its Hello).
    pub fn params(&self) -> ChunkParams {
        self.params
    }

    /// Whether `path` is an entry of this transfer.
    pub fn is_listed(&self, path: &SafeRelPath) -> bool {
        self.paths.contains(&PathKey::of(path))
    }

    /// Whether this transfer sent `path` as a directory.
    pub fn is_dir(&self, path: &SafeRelPath) -> bool {
        self.dirs.contains(&PathKey::of(path))
    }

    /// Entries accepted so far: the next entry's id.
    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// The lowest id this side still works on: queued for the window, or in it.
    pub fn first_unfinished(&self) -> Option<u32> {
        let q = self.queue.front().map(|q| q.id);
        let w = self.files.keys().next().copied();
        q.into_iter().chain(w).min()
    }

    /// A file in the window.
    pub fn file(&self, id: u32) -> Option<&FileState> {
        self.files.get(&id)
    }

    /// The files in the window.
    pub fn files(&self) -> impl Iterator<Item = (u32, &FileState)> {
        self.files.iter().map(|(id, f)| (*id, f))
    }

    /// Take one message from the source.
    pub fn handle(&mut self, msg: Message) -> Result<Event, Error> {
        if self.phase == Phase::Finishing {
            return match msg {
                Message::Done => Ok(Event::PeerDone),
                Message::Error { text } => Err(Error::Remote(text)),
                _ => Ok(Event::Nothing),
            };
        }
        match msg {
            Message::Hello(h) if self.phase == Phase::Hello => {
                if h.version != VERSION {
                    return Err(Error::Version(h.version, VERSION));
                }
                if h.params.max > MAX_CHUNK_ACCEPTED {
                    return Err(Error::Cap("maximum chunk size", u64::from(h.params.max)));
                }
                self.params = h.params;
                self.phase = Phase::List;
                Ok(Event::Hello(h))
            }
            _ if self.phase == Phase::Hello => Err(state("first message was not Hello".into())),
            Message::Hello(_) => Err(state("second Hello".into())),
            Message::FileList { first, entries } => {
                if first != self.seen || self.phase != Phase::List {
                    return Err(state(format!("file list out of order at entry {first}")));
                }
                let n = u32::try_from(entries.len()).map_err(|_| state("too many entries".into()))?;
                self.seen = self.seen.checked_add(n).ok_or_else(|| state("too many entries".into()))?;
                Ok(Event::Entries(EntryBatch { next: first, entries: entries.into_iter() }))
            }
            Message::FileListEnd { count } => {
                if self.phase != Phase::List {
                    return Err(state("second file list end".into()));
                }
                if count != self.seen {
                    return Err(state(format!("file list end says {count} entries, got {}", self.seen)));
                }
                self.phase = Phase::Listed;
                Ok(Event::ListEnd)
            }
            Message::ChunkList { file, first, chunks } => self.chunk_list(file, first, &chunks),
            Message::FileSum { file, count, size, hash } => self.file_sum(file, count, size, hash),
            Message::Data { file, index, hash, compressed, data } => self.data(file, index, hash, compressed, data),
            Message::Error { text } => Err(Error::Remote(text)),
            Message::Done => {
                // T31: the source says it is finished while files still wait for chunks.
                let mut waiting: Vec<String> = self
                    .files
                    .values()
                    .filter(|f| !f.failed)
                    .map(|f| {
                        let n = f.chunks.len();
                        format!("{} ({} of {n} chunks missing)", shown(f.entry.path.as_str()), n - f.filled)
                    })
                    .collect();
                if waiting.is_empty() {
                    return Err(state("unexpected Done at the destination".into()));
                }
                waiting.sort();
                Err(state(format!("the source finished without sending {}", waiting.join(", "))))
            }
            other => Err(state(format!("unexpected {} at the destination", kind_name(&other)))),
        }
    }

    /// The next entry of `batch` with its id, checked; `None` when the batch is done. An
    /// entry that breaks a rule ends the transfer, after the entries before it were applied.
    pub fn next_entry(&mut self, batch: &mut EntryBatch) -> Option<Result<(u32, Entry), Error>> {
        let e = batch.entries.next()?;
        let id = batch.next;
        batch.next = batch.next.wrapping_add(1);
        Some(self.admit(&e).map(|()| (id, e)))
    }

    /// Check one entry (T7/T10 and the offer): one entry per path, a parent that this transfer
    /// sent as a directory, the root a directory, and with an offer, exactly what it listed.
    fn admit(&mut self, e: &Entry) -> Result<(), Error> {
        if cfg!(windows) {
            e.path.check_portable()?;
        }
        if self.offer.as_ref().is_some_and(|o| !o.admits(e)) {
            return Err(state(format!(
                "the sender sent {}, which is not what it offered; nothing of it was written",
                shown(if e.path.is_root() { "." } else { e.path.as_str() })
            )));
        }
        let key = PathKey::of(&e.path);
        if !self.paths.insert(key) {
            return Err(state(format!("duplicate entry {}", e.path)));
        }
        if let Some((parent, _)) = e.path.split_last() {
            if !self.dirs.contains(&PathKey::of(&parent)) {
                return Err(state(format!("entry {} arrived before its directory", e.path)));
            }
        } else if !matches!(e.kind, Kind::Dir) {
            return Err(state("the root entry must be a directory".into()));
        }
        if matches!(e.kind, Kind::Dir) && !e.path.is_root() {
            self.dirs.insert(key);
        }
        Ok(())
    }

    fn chunk_list(&mut self, file: u32, first: u32, chunks: &[ChunkId]) -> Result<Event, Error> {
        let params = self.params;
        let Some(f) = self.files.get_mut(&file) else {
            return Err(state(format!("chunk list for file {file}, which was not asked for")));
        };
        if first as usize != f.chunks.len() || f.sum.is_some() {
            return Err(state(format!("chunk list for file {file} out of order")));
        }
        if f.chunks.len() + chunks.len() > f.max_chunks {
            return Err(state(format!("chunk list for {} is longer than its size allows", f.entry.path)));
        }
        let start = f.chunks.len();
        for (k, c) in chunks.iter().enumerate() {
            if c.len > params.max || c.len == 0 {
                return Err(Error::Cap("chunk length", u64::from(c.len)));
            }
            // Only a file's last chunk may be under the minimum (FastCDC): a list of tiny
            // chunks cannot grow without bound.
            let prev = if k == 0 { f.chunks.last() } else { chunks.get(k - 1) };
            if prev.is_some_and(|p| p.len < params.min) {
                return Err(state(format!("chunk list for {} has a short chunk before its end", f.entry.path)));
            }
            let end = f.end.checked_add(u64::from(c.len)).ok_or(Error::Malformed("file size overflows"))?;
            // The moment the list passes the size the file list declared, it is refused.
            if end > f.declared {
                return Err(state(format!("chunk list for {} runs past its declared size", f.entry.path)));
            }
            f.offsets.push(f.end);
            f.end = end;
            f.slots.push(Slot::Listed);
        }
        f.chunks.extend_from_slice(chunks);
        if f.failed {
            return Ok(Event::Nothing);
        }
        // Inline file: its data comes unasked, right behind the list (docs/protocol.md).
        let inline = f.inline_ok && start == 0 && f.chunks.first().is_some_and(|c| is_inline(c.len, &params));
        if inline {
            f.slots[0] = Slot::Wanted;
        }
        Ok(Event::Chunks { file, start, inline })
    }

    fn file_sum(&mut self, file: u32, count: u32, size: u64, hash: ChunkHash) -> Result<Event, Error> {
        let Some(f) = self.files.get_mut(&file) else {
            return Err(state(format!("file summary for file {file}, which was not asked for")));
        };
        if f.sum.is_some() {
            return Err(state(format!("second file summary for file {file}")));
        }
        if count == u32::MAX {
            // The source could not read the file.
            self.drop_failed(file);
            return Ok(Event::Unreadable { file });
        }
        if count as usize != f.chunks.len() || size != f.end || size != f.declared {
            return Err(state(format!("file summary for {} does not match its chunk list", f.entry.path)));
        }
        f.sum = Some(hash);
        if f.failed {
            self.drop_failed(file);
            return Ok(Event::Released { file });
        }
        if f.filled == f.chunks.len() {
            return Ok(Event::Complete { file });
        }
        Ok(Event::Nothing)
    }

    fn data(&mut self, file: u32, index: u32, hash: ChunkHash, compressed: bool, data: Bytes) -> Result<Event, Error> {
        let Some(f) = self.files.get_mut(&file) else {
            if self.released_set.contains(&file) {
                // A failed file's data, sent before the source could know: ignored.
                return Ok(Event::Nothing);
            }
            return Err(state(format!("chunk data for file {file}, which was not asked for")));
        };
        let i = index as usize;
        let (Some(c), Some(slot)) = (f.chunks.get(i).copied(), f.slots.get(i).copied()) else {
            return Err(state(format!("chunk {index} of {} was never listed", f.entry.path)));
        };
        match slot {
            // T33: duplicate (or for a failed file): idempotent, ignored.
            Slot::Filled(_) => return Ok(Event::Nothing),
            _ if f.failed => return Ok(Event::Nothing),
            Slot::Listed => {
                return Err(state(format!("chunk {index} of {} was not asked for", f.entry.path)));
            }
            Slot::Wanted => {}
        }
        if data.is_empty() && !compressed {
            // The source withdrew the file: it could not read it any more (docs/protocol.md).
            return Ok(self.reject(file, Rejection::Withdrawn));
        }
        let wire = data.len();
        let plain = if compressed {
            // T25: output capped at the listed chunk length. One context for the whole transfer
            // (creating one per chunk dominated syncs of many small files).
            if self.unzstd.is_none() {
                self.unzstd = Some(zstd::bulk::Decompressor::new().map_err(|_| Error::Malformed("chunk compression"))?);
            }
            let z = self.unzstd.as_mut().ok_or(Error::Malformed("chunk compression"))?;
            Bytes::from(z.decompress(&data, c.len as usize).map_err(|_| Error::Malformed("chunk compression"))?)
        } else {
            data
        };
        // T29: data must be exactly what was listed; never stored otherwise. A source file
        // that changed after it was chunked gives such data too: that file fails (exit 23) and
        // the transfer goes on; a source that keeps sending bad data is cut off.
        if plain.len() != c.len as usize || hash.short() != c.short || ChunkHash::of(&plain) != hash {
            self.strikes += 1;
            if self.strikes > MAX_STRIKES {
                return Err(state(format!("{} chunks did not match their hashes", self.strikes)));
            }
            return Ok(self.reject(file, Rejection::Mismatch));
        }
        let Some(f) = self.files.get_mut(&file) else { return Ok(Event::Nothing) };
        f.slots[i] = Slot::Filled(hash);
        f.filled += 1;
        Ok(Event::Chunk { file, index, offset: f.offsets[i], data: plain, wire, complete: f.is_complete() })
    }

    /// The source's account: `file` fails.
    fn reject(&mut self, file: u32, why: Rejection) -> Event {
        let Some(f) = self.files.get_mut(&file) else { return Event::Nothing };
        f.failed = true;
        let path = f.entry.path.clone();
        let released = f.sum.is_some();
        if released {
            self.drop_failed(file);
        }
        Event::Rejected { file, path, why, released }
    }

    /// Take a failed file out of the window, remembering it (bounded) so that Data already on
    /// the way for it is ignored.
    fn drop_failed(&mut self, file: u32) {
        if self.remove(file).is_some() {
            if self.released.len() >= RELEASED_MAX {
                if let Some(old) = self.released.pop_front() {
                    self.released_set.remove(&old);
                }
            }
            if self.released_set.insert(file) {
                self.released.push_back(file);
            }
        }
    }

    fn remove(&mut self, file: u32) -> Option<FileState> {
        let f = self.files.remove(&file)?;
        self.window_chunks = self.window_chunks.saturating_sub(f.max_chunks);
        Some(f)
    }

    /// The driver's plan: entry `id` (from [`DestState::next_entry`]) needs data.
    pub fn queue(&mut self, id: u32, entry: Entry, plan: P) {
        self.queue.push_back(Queued { id, entry, plan });
    }

    /// The next queued file, if the window has room for it (at most [`FILE_WINDOW`] files and
    /// [`WINDOW_CHUNKS`] chunk-list slots; a larger file gets the window alone). The driver
    /// either [`ask`](Self::ask)s for it at once or drops it (a failure of its own).
    pub fn pop_next(&mut self) -> Option<Queued<P>> {
        if self.files.len() >= FILE_WINDOW {
            return None;
        }
        let front = self.queue.front()?;
        let max_chunks = max_chunks_for(declared_size(&front.entry), &self.params);
        if !self.files.is_empty() && self.window_chunks.saturating_add(max_chunks) > WINDOW_CHUNKS {
            return None;
        }
        self.queue.pop_front()
    }

    /// Files asked for and not finished (the window's occupancy).
    pub fn in_flight(&self) -> usize {
        self.files.len()
    }

    /// The driver sends a Need for `q` (from [`pop_next`](Self::pop_next)): it joins the
    /// window, and its ChunkList, FileSum and Data are accepted from now on. `inline_ok`: the
    /// Need had `inline` set (an inline file's data may come unasked). Returns the driver's plan.
    pub fn ask(&mut self, q: Queued<P>, inline_ok: bool) -> (u32, P) {
        let declared = declared_size(&q.entry);
        let max_chunks = max_chunks_for(declared, &self.params);
        let f = FileState {
            entry: q.entry,
            declared,
            max_chunks,
            inline_ok,
            chunks: Vec::new(),
            offsets: Vec::new(),
            slots: Vec::new(),
            end: 0,
            filled: 0,
            sum: None,
            failed: false,
        };
        if let Some(old) = self.files.insert(q.id, f) {
            self.window_chunks = self.window_chunks.saturating_sub(old.max_chunks);
        }
        self.window_chunks = self.window_chunks.saturating_add(max_chunks);
        (q.id, q.plan)
    }

    /// Listed chunk `i` of `file` was found locally and verified: filled with `hash`.
    pub fn fill(&mut self, file: u32, i: usize, hash: ChunkHash) {
        if let Some(f) = self.files.get_mut(&file) {
            if let Some(s @ (Slot::Listed | Slot::Wanted)) = f.slots.get_mut(i) {
                *s = Slot::Filled(hash);
                f.filled += 1;
            }
        }
    }

    /// The driver asks for listed chunk `i` of `file` (a Want): its Data is accepted.
    pub fn want(&mut self, file: u32, i: usize) {
        if let Some(f) = self.files.get_mut(&file) {
            if let Some(s @ Slot::Listed) = f.slots.get_mut(i) {
                *s = Slot::Wanted;
            }
        }
    }

    /// The driver gave up on `file` (IO of its own): it fails; its Data is ignored from now on.
    /// Returns whether it left the window (its FileSum was in; otherwise it stays until then,
    /// so the rest of its chunk list and its FileSum are still checked).
    pub fn fail(&mut self, file: u32) -> bool {
        let Some(f) = self.files.get_mut(&file) else { return false };
        f.failed = true;
        if f.sum.is_some() {
            self.drop_failed(file);
            return true;
        }
        false
    }

    /// A complete file (after [`Event::Complete`] or a completing [`Event::Chunk`]) leaves the
    /// window; the driver installs it from the returned state.
    pub fn release(&mut self, file: u32) -> Option<FileState> {
        self.remove(file)
    }

    /// FileListEnd came, and every file was asked for and finished with: the driver applies
    /// what comes last (deletions, directory metadata), sends Done and calls
    /// [`finishing`](Self::finishing).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Listed && self.queue.is_empty() && self.files.is_empty()
    }

    /// The driver sent Done: from now on only the source's Done (or Error) matters.
    pub fn finishing(&mut self) {
        self.phase = Phase::Finishing;
    }

    /// How much per-file and per-chunk state is held: files queued and in the window, chunk
    /// slots listed, released ids remembered (paths of the transfer not counted: one per entry).
    pub fn state_size(&self) -> usize {
        self.queue.len()
            + self.files.len()
            + self.files.values().map(|f| f.chunks.len()).sum::<usize>()
            + self.released.len()
    }

    /// Check the bounds the windows promise: at most [`FILE_WINDOW`] files; chunk lists within
    /// each file's declared size and within [`WINDOW_CHUNKS`] in all (or one file alone);
    /// at most [`RELEASED_MAX`] released ids. `Err` names the broken bound.
    pub fn check_bounds(&self) -> Result<(), String> {
        if self.files.len() > FILE_WINDOW {
            return Err(format!("{} files in the window", self.files.len()));
        }
        let slots: usize = self.files.values().map(|f| f.max_chunks).sum();
        if slots != self.window_chunks {
            return Err(format!("window accounting: {slots} != {}", self.window_chunks));
        }
        if self.files.len() > 1 && self.window_chunks > WINDOW_CHUNKS {
            return Err(format!("{} chunk slots in the window", self.window_chunks));
        }
        for f in self.files.values() {
            let n = f.chunks.len();
            if n > f.max_chunks || f.offsets.len() != n || f.slots.len() != n || f.filled > n || f.end > f.declared {
                return Err(format!("file {} holds {n} chunks of {}", f.entry.path, f.max_chunks));
            }
        }
        if self.released.len() > RELEASED_MAX || self.released.len() != self.released_set.len() {
            return Err(format!("{} released ids", self.released.len()));
        }
        if self.queue.len() + self.files.len() > self.seen as usize {
            return Err("more files queued than entries".into());
        }
        Ok(())
    }
}
