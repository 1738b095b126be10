//! The messages of protocol version 1 and their codec (docs/protocol.md). Decoding checks every
//! length and count against a named cap before allocating.

use super::frame::{Dec, Enc};
use super::Error;
use crate::chunk::{ChunkHash, ChunkParams};
use crate::path::SafeRelPath;

/// Protocol version carried in `Hello`.
pub const VERSION: u32 = 3;
/// Chunks shorter than this (and than the minimum chunk size) are "inline": a file that is one
/// such chunk, asked for by a `Need` with `inline` set (the destination has nothing at that
/// path), gets its `Data` unasked right after its `FileSum`; `Data` this small travels on the
/// control stream, in order after its chunk list (docs/protocol.md).
pub const INLINE_MAX: u32 = 16 * 1024;

/// Largest maximum chunk size a destination accepts in `Hello` (pcp uses 256 KiB): with it,
/// a data stream frame holds at most this much plus its header (`MAX_DATA_FRAME`), whatever a
/// source sends.
pub const MAX_CHUNK_ACCEPTED: u32 = 1 << 20;
/// Largest frame on a data stream: one `Data` of the largest accepted chunk.
pub const MAX_DATA_FRAME: usize = MAX_CHUNK_ACCEPTED as usize + 64;

/// Whether a file whose chunk list starts with a chunk of `first` bytes is a single inline
/// chunk (see [`INLINE_MAX`]): only a file's last chunk may be shorter than the minimum size,
/// so at index 0 it is the whole file.
pub fn is_inline(first: u32, params: &ChunkParams) -> bool {
    first < params.min.min(INLINE_MAX)
}
/// Entries per `FileList` message.
pub const MAX_ENTRIES: usize = 4096;
/// Uncompressed size of one `FileList` body.
pub const MAX_LIST_RAW: usize = 8 << 20;
/// File ids per `Need`.
pub const MAX_NEED: usize = 65536;
/// Chunks per `ChunkList`.
pub const MAX_CHUNKS: usize = 4096;
/// Ranges per `Want`.
pub const MAX_RANGES: usize = 4096;
/// Bytes of a symlink target.
pub const MAX_TARGET: usize = 4096;
/// Bytes of an error text.
pub const MAX_TEXT: usize = 4096;
/// Filter rules in `Hello`.
pub const MAX_RULES: usize = 4096;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Regular file of `size` bytes.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// Directory.
    Dir,
    /// Symbolic link with its target, verbatim.
    Symlink {
        /// Target bytes.
        target: Vec<u8>,
    },
}

/// One file-list entry: what the source has at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the transfer root (empty = the root itself).
    pub path: SafeRelPath,
    /// Type and type-specific data.
    pub kind: Kind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_ns: u32,
}

/// Options the destination applies; sent by whichever side started the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u64);

impl Flags {
    /// Delete extraneous files on the destination.
    pub const DELETE: u64 = 1;
    /// Change nothing; report what would change.
    pub const DRY_RUN: u64 = 2;
    /// Compare content, not size and mtime.
    pub const CHECKSUM: u64 = 4;
    /// Preserve permissions.
    pub const PERMS: u64 = 8;
    /// Preserve modification times.
    pub const TIMES: u64 = 16;
    /// Copy symlinks as symlinks.
    pub const LINKS: u64 = 32;
    /// Drop symlinks that point outside the tree.
    pub const SAFE_LINKS: u64 = 64;
    /// The source may send zstd-compressed chunks.
    pub const COMPRESS: u64 = 128;
    /// Set the root directory's mode too (local syncs, like rsync).
    pub const ROOT_MODE: u64 = 256;
    /// -u: keep a destination file whose mtime is newer than the source's.
    pub const UPDATE: u64 = 512;
    /// --ignore-existing: keep whatever exists at the destination.
    pub const IGNORE_EXISTING: u64 = 1024;
    /// --size-only: the quick check compares sizes only.
    pub const SIZE_ONLY: u64 = 2048;
    /// -I: no quick check: every file is compared (by chunks).
    pub const IGNORE_TIMES: u64 = 4096;
    /// -O: directories' mtimes are not set (files' still are with TIMES).
    pub const OMIT_DIR_TIMES: u64 = 8192;
    /// --existing: nothing new is created at the destination (existing entries are updated).
    pub const EXISTING: u64 = 16384;
    /// The source shows what the destination changes (-v, -i on a push): the destination
    /// sends a `Change` for each line it itemizes.
    pub const ECHO_CHANGES: u64 = 32768;
    /// With -p, set-user-ID, set-group-ID and sticky bits are copied too (as rsync -p). The
    /// destination's own choice (a local sync, a pull): a serving peer never takes it from
    /// the network, so a push cannot plant a set-user-ID file in a served tree.
    pub const SPECIAL_BITS: u64 = 65536;
    /// --delete-excluded: excluded files at the destination are deleted too, not protected.
    pub const DELETE_EXCLUDED: u64 = 131072;
    /// --mkpath: a serving peer creates the destination's missing parents too (else only
    /// its last component, as rsync).
    pub const MKPATH: u64 = 262144;
    /// The permission bits -p copies under `flags`.
    pub fn mode_mask(self) -> u32 {
        if self.has(Self::SPECIAL_BITS) {
            0o7777
        } else {
            0o777
        }
    }
    /// Whether `bit` is set.
    pub fn has(self, bit: u64) -> bool {
        self.0 & bit != 0
    }
}

/// First message on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version.
    pub version: u32,
    /// Chunker parameters of the sender of this `Hello`.
    pub params: ChunkParams,
    /// Transfer options.
    pub flags: Flags,
    /// Most deletions allowed (0 = unlimited).
    pub max_delete: u64,
}

/// A chunk as listed: short id and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkId {
    /// First 8 bytes of the chunk's BLAKE3 hash.
    pub short: u64,
    /// Length in bytes.
    pub len: u32,
}

/// Every message of protocol v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Version, chunker and options.
    Hello(Hello),
    /// A batch of entries; ids run on from `first`.
    FileList {
        /// Id of the first entry.
        first: u32,
        /// Entries.
        entries: Vec<Entry>,
    },
    /// No more entries; `count` in all.
    FileListEnd {
        /// Number of entries sent.
        count: u32,
    },
    /// Destination asks for the chunk lists of these files.
    Need {
        /// Entry ids.
        files: Vec<u32>,
        /// The destination has no file at these paths: send inline files' data unasked
        /// (see [`INLINE_MAX`]).
        inline: bool,
    },
    /// Part of a file's chunk list, from chunk index `first`.
    ChunkList {
        /// Entry id.
        file: u32,
        /// Index of the first chunk here.
        first: u32,
        /// Chunks.
        chunks: Vec<ChunkId>,
    },
    /// End of a file's chunk list with the file's hash.
    FileSum {
        /// Entry id.
        file: u32,
        /// Chunks in the file.
        count: u32,
        /// Size of the file as chunked.
        size: u64,
        /// BLAKE3 over the concatenated chunk hashes.
        hash: ChunkHash,
    },
    /// Destination asks for chunk data: ranges of chunk indices `(start, count)`.
    Want {
        /// Entry id.
        file: u32,
        /// Index ranges.
        ranges: Vec<(u32, u32)>,
    },
    /// Chunk data.
    Data {
        /// Entry id.
        file: u32,
        /// Chunk index.
        index: u32,
        /// Full BLAKE3 of the uncompressed bytes.
        hash: ChunkHash,
        /// Whether `data` is a zstd frame.
        compressed: bool,
        /// The bytes (shared, so a received frame is not copied again).
        data: bytes::Bytes,
    },
    /// The destination's progress: every entry with an id below `done` is finished there
    /// (decided, and if it needed data, installed or failed); no Need or Want will name it
    /// again. The source forgets what it kept for those entries and may list up to
    /// [`LIST_AHEAD`] entries beyond `done` (the file list's window: bounded memory on both
    /// sides whatever the tree's size).
    Progress {
        /// The first entry id not yet finished.
        done: u32,
    },
    /// What the destination did, sent just before its Done, so the source's `--stats` tells
    /// the truth on a push (rsync's sender reports the files it transferred). Numbers to show,
    /// nothing is decided on them.
    Summary {
        /// Files and directories created.
        created: u64,
        /// Entries deleted.
        deleted: u64,
        /// Regular files transferred (written anew).
        files: u64,
        /// Their total size.
        size: u64,
        /// Bytes written to disk.
        written: u64,
    },
    /// One line the destination itemized (`-i` code and the name as shown, `*deleting  ` for
    /// a deletion), for a source that asked with `ECHO_CHANGES`: shown, never acted on.
    Change {
        /// At most [`MAX_ITEM`] bytes.
        item: String,
        /// At most [`MAX_TEXT`] bytes.
        name: String,
    },
    /// The sender of this message has finished.
    Done,
    /// Fatal error on the other side.
    Error {
        /// Human-readable message.
        text: String,
    },
}

const T_HELLO: u8 = 1;
const T_LIST: u8 = 2;
const T_LIST_END: u8 = 3;
const T_NEED: u8 = 4;
const T_CHUNKS: u8 = 5;
const T_SUM: u8 = 6;
const T_WANT: u8 = 7;
const T_DATA: u8 = 8;
const T_DONE: u8 = 9;
const T_ERROR: u8 = 10;
const T_PROGRESS: u8 = 11;
const T_SUMMARY: u8 = 12;
const T_CHANGE: u8 = 13;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn utf8_prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
/// Longest itemize code in a `Change` (rsync's are 11 bytes).
pub const MAX_ITEM: usize = 16;

/// Entries the source may list beyond the destination's last [`Message::Progress`].
pub const LIST_AHEAD: u32 = 8192;

const K_FILE: u8 = 0;
const K_DIR: u8 = 1;
const K_LINK: u8 = 2;

impl Message {
    /// Encode as a whole frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let (mut head, tail) = self.encode_parts();
        if let Some(t) = tail {
            head.extend_from_slice(&t);
        }
        head
    }

    /// Encode as a frame in two parts: the first holds the length prefix and everything but a
    /// `Data` message's chunk bytes, which come back as the shared second part (no copy).
    pub fn encode_parts(&self) -> (Vec<u8>, Option<bytes::Bytes>) {
        let mut e = Enc::default();
        let mut tail = None;
        e.raw(&[0, 0, 0, 0]);
        match self {
            Self::Hello(h) => {
                e.u8(T_HELLO);
                e.varint(u64::from(h.version));
                e.varint(u64::from(h.params.min));
                e.varint(u64::from(h.params.avg));
                e.varint(u64::from(h.params.max));
                e.varint(h.flags.0);
                e.varint(h.max_delete);
            }
            Self::FileList { first, entries } => {
                e.u8(T_LIST);
                e.varint(u64::from(*first));
                e.varint(entries.len() as u64);
                let raw = encode_entries(entries);
                // zstd level 3 shrinks sorted names and similar mtimes several-fold.
                match zstd::bulk::compress(&raw, 3) {
                    Ok(z) if z.len() < raw.len() => {
                        e.u8(1);
                        e.varint(raw.len() as u64);
                        e.raw(&z);
                    }
                    _ => {
                        e.u8(0);
                        e.varint(raw.len() as u64);
                        e.raw(&raw);
                    }
                }
            }
            Self::FileListEnd { count } => {
                e.u8(T_LIST_END);
                e.varint(u64::from(*count));
            }
            Self::Need { files, inline } => {
                e.u8(T_NEED);
                e.u8(u8::from(*inline));
                e.varint(files.len() as u64);
                let mut prev = 0u32;
                for &f in files {
                    // delta from the previous id (ids are usually ascending)
                    e.svarint(i64::from(f) - i64::from(prev));
                    prev = f;
                }
            }
            Self::ChunkList { file, first, chunks } => {
                e.u8(T_CHUNKS);
                e.varint(u64::from(*file));
                e.varint(u64::from(*first));
                e.varint(chunks.len() as u64);
                for c in chunks {
                    e.u64(c.short);
                    e.varint(u64::from(c.len));
                }
            }
            Self::FileSum { file, count, size, hash } => {
                e.u8(T_SUM);
                e.varint(u64::from(*file));
                e.varint(u64::from(*count));
                e.varint(*size);
                e.raw(hash.as_bytes());
            }
            Self::Want { file, ranges } => {
                e.u8(T_WANT);
                e.varint(u64::from(*file));
                e.varint(ranges.len() as u64);
                for &(s, n) in ranges {
                    e.varint(u64::from(s));
                    e.varint(u64::from(n));
                }
            }
            Self::Data { file, index, hash, compressed, data } => {
                e.u8(T_DATA);
                e.varint(u64::from(*file));
                e.varint(u64::from(*index));
                e.raw(hash.as_bytes());
                e.u8(u8::from(*compressed));
                tail = Some(data.clone());
            }
            Self::Progress { done } => {
                e.u8(T_PROGRESS);
                e.varint(u64::from(*done));
            }
            Self::Summary { created, deleted, files, size, written } => {
                e.u8(T_SUMMARY);
                for v in [created, deleted, files, size, written] {
                    e.varint(*v);
                }
            }
            Self::Change { item, name } => {
                e.u8(T_CHANGE);
                e.bytes(utf8_prefix(item, MAX_ITEM).as_bytes());
                e.bytes(utf8_prefix(name, MAX_TEXT).as_bytes());
            }
            Self::Done => e.u8(T_DONE),
            Self::Error { text } => {
                e.u8(T_ERROR);
                let t = text.as_bytes();
                e.bytes(&t[..t.len().min(MAX_TEXT)]);
            }
        }
        let len = (e.buf.len() - 4 + tail.as_ref().map_or(0, |t| t.len())) as u32;
        e.buf[..4].copy_from_slice(&len.to_le_bytes());
        (e.buf, tail)
    }

    /// Decode one frame body (type byte + body, without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, Error> {
        Self::decode_shared(&bytes::Bytes::copy_from_slice(body))
    }

    /// [`Message::decode`] of a shared buffer: a `Data` message's bytes stay in it (no copy).
    pub fn decode_shared(body: &bytes::Bytes) -> Result<Self, Error> {
        let mut d = Dec::new(body);
        let t = d.u8()?;
        let m = match t {
            T_HELLO => {
                let version = d.u32v("version")?;
                let min = d.u32v("chunk min")?;
                let avg = d.u32v("chunk avg")?;
                let max = d.u32v("chunk max")?;
                let params = ChunkParams::new(min, avg, max).map_err(|_| Error::Malformed("chunk parameters"))?;
                let flags = Flags(d.varint()?);
                let max_delete = d.varint()?;
                Self::Hello(Hello { version, params, flags, max_delete })
            }
            T_LIST => {
                let first = d.u32v("first entry")?;
                let n = d.varint_max(MAX_ENTRIES as u64, "entries per list")? as usize;
                let compressed = d.u8()?;
                let raw_len = d.varint_max(MAX_LIST_RAW as u64, "file list size")? as usize;
                let rest = d.rest();
                let raw = match compressed {
                    0 => rest.to_vec(),
                    1 => {
                        zstd::bulk::decompress(rest, raw_len).map_err(|_| Error::Malformed("file list compression"))?
                    }
                    _ => return Err(Error::Malformed("file list flag")),
                };
                if raw.len() != raw_len {
                    return Err(Error::Malformed("file list size"));
                }
                let entries = decode_entries(&raw, n)?;
                return Ok(Self::FileList { first, entries });
            }
            T_LIST_END => Self::FileListEnd { count: d.u32v("entry count")? },
            T_NEED => {
                let inline = match d.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(Error::Malformed("need flag")),
                };
                let n = d.varint_max(MAX_NEED as u64, "files per need")? as usize;
                let mut files = Vec::with_capacity(n);
                let mut prev = 0i64;
                for _ in 0..n {
                    let v = prev.checked_add(d.svarint()?).ok_or(Error::Malformed("file id"))?;
                    let f = u32::try_from(v).map_err(|_| Error::Malformed("file id"))?;
                    files.push(f);
                    prev = v;
                }
                Self::Need { files, inline }
            }
            T_CHUNKS => {
                let file = d.u32v("file id")?;
                let first = d.u32v("chunk index")?;
                let n = d.varint_max(MAX_CHUNKS as u64, "chunks per list")? as usize;
                let mut chunks = Vec::with_capacity(n);
                for _ in 0..n {
                    let short = d.u64()?;
                    let len = d.varint_max(u64::from(ChunkParams::MAX_MAX), "chunk length")? as u32;
                    if len == 0 {
                        return Err(Error::Malformed("zero-length chunk"));
                    }
                    chunks.push(ChunkId { short, len });
                }
                Self::ChunkList { file, first, chunks }
            }
            T_SUM => Self::FileSum {
                file: d.u32v("file id")?,
                count: d.u32v("chunk count")?,
                size: d.varint()?,
                hash: ChunkHash(d.hash()?),
            },
            T_WANT => {
                let file = d.u32v("file id")?;
                let n = d.varint_max(MAX_RANGES as u64, "ranges per want")? as usize;
                let mut ranges = Vec::with_capacity(n);
                for _ in 0..n {
                    let s = d.u32v("chunk index")?;
                    let c = d.u32v("chunk count")?;
                    if c == 0 || s.checked_add(c).is_none() {
                        return Err(Error::Malformed("chunk range"));
                    }
                    ranges.push((s, c));
                }
                Self::Want { file, ranges }
            }
            T_DATA => {
                let file = d.u32v("file id")?;
                let index = d.u32v("chunk index")?;
                let hash = ChunkHash(d.hash()?);
                let compressed = match d.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(Error::Malformed("data flag")),
                };
                let rest = d.rest().len();
                if rest > ChunkParams::MAX_MAX as usize {
                    return Err(Error::Cap("chunk length", rest as u64));
                }
                let data = body.slice(body.len() - rest..);
                return Ok(Self::Data { file, index, hash, compressed, data });
            }
            T_PROGRESS => Self::Progress { done: d.u32v("progress")? },
            T_SUMMARY => Self::Summary {
                created: d.varint()?,
                deleted: d.varint()?,
                files: d.varint()?,
                size: d.varint()?,
                written: d.varint()?,
            },
            T_CHANGE => {
                let utf8 = |b: &[u8], what: &'static str| {
                    std::str::from_utf8(b).map(str::to_owned).map_err(|_| Error::Malformed(what))
                };
                let item = utf8(d.bytes(MAX_ITEM, "change item")?, "change item is not UTF-8")?;
                let name = utf8(d.bytes(MAX_TEXT, "change name")?, "change name is not UTF-8")?;
                Self::Change { item, name }
            }
            T_DONE => Self::Done,
            T_ERROR => {
                let b = d.bytes(MAX_TEXT, "error text")?;
                Self::Error { text: String::from_utf8_lossy(b).into_owned() }
            }
            _ => return Err(Error::UnknownType(t)),
        };
        d.finish()?;
        Ok(m)
    }
}

fn encode_entries(entries: &[Entry]) -> Vec<u8> {
    let mut e = Enc::default();
    let mut prev: &str = "";
    let mut prev_mtime = 0i64;
    for en in entries {
        let p = en.path.as_str();
        let shared = common_prefix(prev, p);
        e.varint(shared as u64);
        e.bytes(&p.as_bytes()[shared..]);
        match &en.kind {
            Kind::File { size } => {
                e.u8(K_FILE);
                e.varint(*size);
            }
            Kind::Dir => e.u8(K_DIR),
            Kind::Symlink { target } => {
                e.u8(K_LINK);
                e.bytes(target);
            }
        }
        e.varint(u64::from(en.mode));
        e.svarint(en.mtime.wrapping_sub(prev_mtime));
        e.varint(u64::from(en.mtime_ns));
        prev = p;
        prev_mtime = en.mtime;
    }
    e.buf
}

fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

fn decode_entries(raw: &[u8], n: usize) -> Result<Vec<Entry>, Error> {
    let mut d = Dec::new(raw);
    let mut out: Vec<Entry> = Vec::with_capacity(n);
    let mut prev_mtime = 0i64;
    for _ in 0..n {
        let shared = d.varint_max(crate::path::MAX_PATH as u64, "path prefix")? as usize;
        let suffix = d.bytes(crate::path::MAX_PATH, "path length")?;
        let prev = out.last().map(|e| e.path.as_str().as_bytes()).unwrap_or(b"");
        if shared > prev.len() {
            return Err(Error::Malformed("path prefix longer than previous path"));
        }
        let mut p = Vec::with_capacity(shared + suffix.len());
        p.extend_from_slice(&prev[..shared]);
        p.extend_from_slice(suffix);
        let path = SafeRelPath::from_bytes(&p).map_err(Error::Path)?;
        let kind = match d.u8()? {
            K_FILE => Kind::File { size: d.varint()? },
            K_DIR => Kind::Dir,
            K_LINK => {
                let t = d.bytes(MAX_TARGET, "symlink target")?;
                if t.is_empty() || t.contains(&0) {
                    return Err(Error::Malformed("symlink target"));
                }
                Kind::Symlink { target: t.to_vec() }
            }
            _ => return Err(Error::Malformed("entry kind")),
        };
        let mode = d.varint_max(0o7777, "mode")? as u32;
        let mtime = prev_mtime.wrapping_add(d.svarint()?);
        let mtime_ns = d.varint_max(999_999_999, "mtime nanoseconds")? as u32;
        prev_mtime = mtime;
        out.push(Entry { path, kind, mode, mtime, mtime_ns });
    }
    d.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        &frame[4..]
    }

    fn sample() -> Vec<Message> {
        let p = |s: &str| SafeRelPath::new(s).unwrap();
        vec![
            Message::Hello(Hello {
                version: 1,
                params: ChunkParams::DEFAULT,
                flags: Flags(Flags::DELETE | Flags::TIMES),
                max_delete: 0,
            }),
            Message::FileList {
                first: 7,
                entries: vec![
                    Entry { path: p(""), kind: Kind::Dir, mode: 0o755, mtime: 1_600_000_000, mtime_ns: 5 },
                    Entry {
                        path: p("a/é b"),
                        kind: Kind::File { size: 123 },
                        mode: 0o644,
                        mtime: 1_500_000_000,
                        mtime_ns: 999_999_999,
                    },
                    Entry {
                        path: p("a/é c"),
                        kind: Kind::Symlink { target: b"../x".to_vec() },
                        mode: 0o777,
                        mtime: -5,
                        mtime_ns: 0,
                    },
                ],
            },
            Message::FileListEnd { count: 10 },
            Message::Need { files: vec![3, 1, 4_000_000_000], inline: true },
            Message::ChunkList { file: 1, first: 0, chunks: vec![ChunkId { short: 42, len: 65536 }] },
            Message::FileSum { file: 1, count: 1, size: 65536, hash: ChunkHash([7; 32]) },
            Message::Want { file: 1, ranges: vec![(0, 1), (5, 10)] },
            Message::Data {
                file: 1,
                index: 0,
                hash: ChunkHash([9; 32]),
                compressed: false,
                data: vec![1, 2, 3].into(),
            },
            Message::Progress { done: 300 },
            Message::Summary { created: 1, deleted: 2, files: 3, size: 1 << 40, written: 5 },
            Message::Change { item: ">f+++++++++".into(), name: "a/b.txt".into() },
            Message::Done,
            Message::Error { text: "boom".into() },
        ]
    }

    #[test]
    fn round_trip() {
        for m in sample() {
            let f = m.encode();
            assert_eq!(crate::proto::frame::check(&f).unwrap(), Some(f.len()));
            assert_eq!(Message::decode(body(&f)).unwrap(), m);
        }
    }

    /// A Change is capped on a character boundary and must be UTF-8 (so what decodes
    /// re-encodes to the same bytes: the fuzz target's round-trip check).
    #[test]
    fn change_is_capped_on_a_char_boundary_and_must_be_utf8() {
        let long = Message::Change { item: "ééééééééé".into(), name: "n".into() };
        let f = long.encode();
        let Message::Change { item, .. } = Message::decode(body(&f)).unwrap() else { panic!() };
        assert_eq!(item, "éééééééé", "16 bytes: 8 whole characters");
        // Type 13, item of 2 bytes that are not UTF-8, empty name.
        assert!(Message::decode(&[13, 2, 0xff, 0xfe, 0]).is_err());
    }

    /// Exact bytes: the wire format must not drift without a version bump.
    #[test]
    fn exact_bytes() {
        assert_eq!(Message::Done.encode(), vec![1, 0, 0, 0, 9]);
        assert_eq!(
            Message::Summary { created: 1, deleted: 0, files: 1, size: 300, written: 300 }.encode(),
            vec![8, 0, 0, 0, 12, 1, 0, 1, 0xac, 0x02, 0xac, 0x02]
        );
        assert_eq!(Message::Progress { done: 300 }.encode(), vec![3, 0, 0, 0, 11, 0xac, 0x02]);
        assert_eq!(
            Message::Want { file: 1, ranges: vec![(0, 1), (5, 10)] }.encode(),
            vec![7, 0, 0, 0, 7, 1, 2, 0, 1, 5, 10]
        );
        assert_eq!(
            Message::Hello(Hello { version: 1, params: ChunkParams::DEFAULT, flags: Flags(3), max_delete: 0 }).encode(),
            vec![13, 0, 0, 0, 1, 1, 0x80, 0x80, 1, 0x80, 0x80, 4, 0x80, 0x80, 0x10, 3, 0]
        );
        // type 4, inline flag, count 3, zig-zag deltas 3, -2, +4
        assert_eq!(Message::Need { files: vec![3, 1, 5], inline: true }.encode(), vec![6, 0, 0, 0, 4, 1, 3, 6, 3, 8]);
        assert!(Message::decode(&[4, 2, 0]).is_err(), "need flag other than 0/1");
    }

    #[test]
    fn truncations_never_panic() {
        for m in sample() {
            let f = m.encode();
            for cut in 1..f.len() - 4 {
                let _ = Message::decode(&body(&f)[..cut]);
            }
        }
    }

    /// T1/T23: a file list with `..` or an oversized count is refused.
    #[test]
    fn hostile_lists_refused() {
        let mut e = Enc::default();
        e.u8(T_LIST);
        e.varint(0);
        e.varint(1);
        e.u8(0);
        let mut raw = Enc::default();
        raw.varint(0);
        raw.bytes(b"../x");
        raw.u8(K_FILE);
        raw.varint(1);
        raw.varint(0o644);
        raw.svarint(0);
        raw.varint(0);
        e.varint(raw.buf.len() as u64);
        e.raw(&raw.buf);
        assert!(matches!(Message::decode(&e.buf), Err(Error::Path(_))));

        let mut e = Enc::default();
        e.u8(T_LIST);
        e.varint(0);
        e.varint(1 << 40);
        assert!(matches!(Message::decode(&e.buf), Err(Error::Cap(..))));

        let mut e = Enc::default();
        e.u8(T_CHUNKS);
        e.varint(0);
        e.varint(0);
        e.varint(1);
        e.u64(1);
        e.varint(0);
        assert!(Message::decode(&e.buf).is_err(), "zero-length chunk");
    }

    #[test]
    fn unknown_type_rejected() {
        assert!(matches!(Message::decode(&[200]), Err(Error::UnknownType(200))));
        assert!(Message::decode(&[T_DONE, 0]).is_err(), "trailing bytes");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn path() -> impl Strategy<Value = SafeRelPath> {
        prop::collection::vec("[a-zA-Z0-9 é日._-]{1,12}", 0..4).prop_filter_map("safe path", |cs| {
            let s = cs.join("/");
            SafeRelPath::new(&s).ok()
        })
    }

    fn entry() -> impl Strategy<Value = Entry> {
        let kind = prop_oneof![
            any::<u64>().prop_map(|size| Kind::File { size }),
            Just(Kind::Dir),
            prop::collection::vec(1u8..=255, 1..64).prop_map(|target| Kind::Symlink { target }),
        ];
        (path(), kind, 0u32..=0o7777, any::<i64>(), 0u32..1_000_000_000)
            .prop_map(|(path, kind, mode, mtime, mtime_ns)| Entry { path, kind, mode, mtime, mtime_ns })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u32>(), prop::collection::vec(entry(), 0..20))
                .prop_map(|(first, entries)| Message::FileList { first, entries }),
            (prop::collection::vec(any::<u32>(), 0..50), any::<bool>())
                .prop_map(|(files, inline)| Message::Need { files, inline }),
            (any::<u32>(), any::<u32>(), prop::collection::vec((any::<u64>(), 1u32..=ChunkParams::MAX_MAX), 0..50))
                .prop_map(|(file, first, cs)| Message::ChunkList {
                    file,
                    first,
                    chunks: cs.into_iter().map(|(short, len)| ChunkId { short, len }).collect()
                }),
            (any::<u32>(), prop::collection::vec((0u32..1 << 20, 1u32..1 << 20), 0..20))
                .prop_map(|(file, ranges)| Message::Want { file, ranges }),
            (any::<u32>(), any::<u32>(), any::<[u8; 32]>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..300))
                .prop_map(|(file, index, h, compressed, data)| Message::Data {
                    file,
                    index,
                    hash: ChunkHash(h),
                    compressed,
                    data: data.into()
                }),
            (any::<u32>(), any::<u32>(), any::<u64>(), any::<[u8; 32]>())
                .prop_map(|(file, count, size, h)| Message::FileSum { file, count, size, hash: ChunkHash(h) }),
            "[ -~]{0,100}".prop_map(|text| Message::Error { text }),
        ]
    }

    proptest! {
        /// decode(encode(m)) == m, and the frame's length prefix is exact.
        #[test]
        fn round_trip(m in message()) {
            let f = m.encode();
            prop_assert_eq!(crate::proto::frame::check(&f).unwrap(), Some(f.len()));
            prop_assert_eq!(Message::decode(&f[4..]).unwrap(), m);
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn garbage_never_panics(b in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&b);
        }
    }
}
