//! The session request and its answers (docs/protocol.md "Session"): after authentication the
//! dialer sends ONE [`Request`] on stream 0 and the listener answers with [`Response`]s; then
//! the transfer runs on the same connection. Pure codec: bytes in, typed values out. Every
//! field is parsed at the edge: a peer path is a [`PeerPath`] (a `SafeRelPath` plus the
//! trailing-slash rule), a file name a one-component [`FileName`], scan options a [`Scan`],
//! flags [`Flags`], entry kinds a [`ListKind`]; nothing is re-parsed later.

use super::frame::{Dec, Enc};
use super::{Error as PErr, Flags};
use crate::filter::Rule;
use crate::path::SafeRelPath;

/// Version byte that opens every request and response.
pub const SESSION_VERSION: u8 = 1;
/// Largest request or response frame.
pub const MAX_SESSION_FRAME: usize = 8 << 20;
/// Entries per `Entries` frame.
pub const ENTRIES_PER_FRAME: usize = 4096;
/// Most entries in a listing or an offer.
pub const MAX_LIST_ENTRIES: u64 = 1_000_000;
/// Most bytes of names and link targets in a listing or an offer.
pub const MAX_LIST_BYTES: u64 = 64 << 20;
/// Longest path or pattern in a request.
pub const MAX_STR: usize = 4096;

/// Scan option bit: recurse into directories.
const SCAN_RECURSIVE: u8 = 1;
/// Scan option bit: copy symlinks as symlinks.
const SCAN_LINKS: u8 = 2;
const SCAN_ONE_FS: u8 = 4;
const SCAN_PRUNE: u8 = 8;

/// How the source scans (a pull's scan options, chosen by the dialer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scan {
    /// Recurse into directories.
    pub recursive: bool,
    /// Copy symlinks as symlinks.
    pub links: bool,
    /// -x: stay on the source's file system.
    pub one_file_system: bool,
    /// -m: prune empty directory chains from the list.
    pub prune_empty_dirs: bool,
}

impl Scan {
    fn bits(self) -> u8 {
        (if self.recursive { SCAN_RECURSIVE } else { 0 })
            | (if self.links { SCAN_LINKS } else { 0 })
            | (if self.one_file_system { SCAN_ONE_FS } else { 0 })
            | (if self.prune_empty_dirs { SCAN_PRUNE } else { 0 })
    }

    fn from_bits(b: u8) -> Result<Self, PErr> {
        if b & !(SCAN_RECURSIVE | SCAN_LINKS | SCAN_ONE_FS | SCAN_PRUNE) != 0 {
            return Err(PErr::Malformed("unknown scan option bits"));
        }
        Ok(Self {
            recursive: b & SCAN_RECURSIVE != 0,
            links: b & SCAN_LINKS != 0,
            one_file_system: b & SCAN_ONE_FS != 0,
            prune_empty_dirs: b & SCAN_PRUNE != 0,
        })
    }
}

/// A path a peer names, relative to what the listener serves: a canonical relative path and
/// whether it ended in `/` (rsync's "the contents of"). The empty path names the served
/// directory itself, with the slash (its contents); `.` names it without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPath {
    rel: SafeRelPath,
    slash: bool,
}

impl PeerPath {
    /// Parse a path as typed by a user (`nas:photos/` gives `photos/`) or sent by a peer.
    pub fn parse(p: &str) -> Result<Self, PErr> {
        if p.starts_with('/') || p.starts_with('\\') {
            return Err(PErr::PeerPath(format!(
                "absolute path {p:?} refused; paths are relative to the served directory"
            )));
        }
        let slash = p.is_empty() || p.ends_with('/');
        let trimmed = p.trim_end_matches('/');
        let trimmed = if trimmed == "." { "" } else { trimmed };
        match SafeRelPath::new(trimmed) {
            Ok(rel) => Ok(Self { rel, slash }),
            Err(e) => Err(PErr::PeerPath(format!("{e}; paths must stay inside the served directory"))),
        }
    }

    /// The path, relative to the served directory.
    pub fn rel(&self) -> &SafeRelPath {
        &self.rel
    }

    /// Whether it ended in `/` (or was empty).
    pub fn slash(&self) -> bool {
        self.slash
    }

    fn to_wire(&self) -> String {
        match (self.rel.is_root(), self.slash) {
            (true, true) => String::new(),
            (true, false) => ".".to_owned(),
            (false, true) => format!("{}/", self.rel),
            (false, false) => self.rel.as_str().to_owned(),
        }
    }
}

/// One path component: the name a single file gets at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Parse a name; refused unless it is one canonical component.
    pub fn parse(n: &str) -> Result<Self, PErr> {
        let r = SafeRelPath::new(n).map_err(|e| PErr::PeerPath(e.to_string()))?;
        if r.components().count() != 1 {
            return Err(PErr::PeerPath("a file name for the copy must be one path component".to_owned()));
        }
        Ok(Self(n.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a listing entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else (device, FIFO, socket).
    Other,
}

impl ListKind {
    fn byte(self) -> u8 {
        match self {
            Self::File => 0,
            Self::Dir => 1,
            Self::Symlink => 2,
            Self::Other => 3,
        }
    }

    fn from_byte(b: u8) -> Result<Self, PErr> {
        Ok(match b {
            0 => Self::File,
            1 => Self::Dir,
            2 => Self::Symlink,
            3 => Self::Other,
            _ => return Err(PErr::Malformed("entry kind")),
        })
    }
}

/// What the dialer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The dialer sends; the listener becomes the destination under `path`.
    Push {
        /// Destination path relative to the served DIR (trailing `/` kept).
        path: PeerPath,
        /// Transfer flags.
        flags: Flags,
        /// --max-delete (0 = unlimited).
        max_delete: u64,
        /// The dialer sends one regular file (DEST may name the file).
        single_file: bool,
        /// cp -r DIR NEW: a single directory whose copy becomes `path` if it does not exist.
        dir_as_new: bool,
        /// Filter rules protecting destination files from --delete.
        rules: Vec<Rule>,
        /// Honour .gitignore files too.
        gitignore: bool,
        /// --max-size, --min-size, --modify-window.
        tuning: Tuning,
    },
    /// The dialer receives; the listener becomes the source of `path`.
    Pull {
        /// Source path relative to the served DIR (trailing `/`: the contents).
        path: PeerPath,
        /// Transfer flags.
        flags: Flags,
        /// How the source scans.
        scan: Scan,
        /// Name to give a single regular file (the dialer's DEST names a file).
        rename_if_file: Option<FileName>,
        /// cp -r: if the source is a directory, send its contents (DEST is new).
        contents_if_dir: bool,
        /// Include/exclude rules for the scan.
        rules: Vec<Rule>,
        /// Honour .gitignore files too.
        gitignore: bool,
    },
    /// List `path` (like rsync --list-only).
    List {
        /// Path relative to the served DIR.
        path: PeerPath,
    },
    /// `pcp receive`: show what `pcp send` offers.
    Offer,
    /// `pcp pair`: the handshake that just ended paired the two sides; nothing else follows.
    /// Answered `Ok` (after the listener stored the pairing) by `pcp pair` and `pcp serve`.
    Pair,
}

/// The listener's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Accepted; for Push whether the destination path is an existing directory, for Pull
    /// whether the source is a directory.
    Ok {
        /// See above.
        is_dir: bool,
    },
    /// Refused, with the exit code's kind and a one-line reason.
    Refused {
        /// Exit code to use.
        code: u8,
        /// Why.
        text: String,
    },
    /// Part of a listing or an offer.
    Entries(Vec<ListEntry>),
    /// End of a listing or offer.
    End {
        /// Entries sent.
        count: u64,
    },
    /// The receiver's answer to an offer.
    Confirm {
        /// Accept the offer.
        accept: bool,
    },
}

/// One entry of a listing or an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Name (listing) or relative path (offer), as the peer sent it (sanitise before display).
    pub name: String,
    /// What it is.
    pub kind: ListKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: i64,
    /// Link target (symlinks).
    pub target: Vec<u8>,
}

const T_PUSH: u8 = 1;
const T_PULL: u8 = 2;
const T_LIST: u8 = 3;
const T_OFFER: u8 = 4;
const T_PAIR: u8 = 5;
const R_OK: u8 = 1;
const R_REFUSED: u8 = 2;
const R_ENTRIES: u8 = 3;
const R_END: u8 = 4;
const R_CONFIRM: u8 = 5;

fn enc_rules(e: &mut Enc, rules: &[Rule], gitignore: bool) {
    e.varint(rules.len() as u64);
    for r in rules {
        let (k, p) = match r {
            Rule::Exclude(p) => (0, p),
            Rule::Include(p) => (1, p),
        };
        e.u8(k);
        e.bytes(p.as_bytes());
    }
    e.u8(u8::from(gitignore));
}

fn dec_str(d: &mut Dec<'_>, what: &'static str) -> Result<String, PErr> {
    let b = d.bytes(MAX_STR, what)?;
    String::from_utf8(b.to_vec()).map_err(|_| PErr::Malformed("string is not UTF-8"))
}

fn dec_bool(d: &mut Dec<'_>) -> Result<bool, PErr> {
    match d.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(PErr::Malformed("boolean")),
    }
}

fn dec_rules(d: &mut Dec<'_>) -> Result<(Vec<Rule>, bool), PErr> {
    let n = d.varint_max(super::message::MAX_RULES as u64, "filter rules")?;
    let mut rules = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let k = d.u8()?;
        let p = dec_str(d, "filter pattern")?;
        rules.push(match k {
            0 => Rule::Exclude(p),
            1 => Rule::Include(p),
            _ => return Err(PErr::Malformed("filter rule kind")),
        });
    }
    Ok((rules, dec_bool(d)?))
}

/// `s` cut to at most `max` bytes at a character boundary, so that what the decoder accepts
/// (any UTF-8 text up to `max` bytes) re-encodes unchanged.
fn truncated(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn frame(e: Enc) -> Vec<u8> {
    let mut buf = e.buf;
    let len = (buf.len() - 4) as u32;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    buf
}

/// A decoder past the version byte that opens every request and response.
fn opened(body: &[u8]) -> Result<Dec<'_>, PErr> {
    let mut d = Dec::new(body);
    let v = d.u8()?;
    if v != SESSION_VERSION {
        return Err(PErr::Version(u32::from(v), u32::from(SESSION_VERSION)));
    }
    Ok(d)
}

fn start() -> Enc {
    let mut e = Enc::default();
    e.raw(&[0, 0, 0, 0]);
    e.u8(SESSION_VERSION);
    e
}

/// Value options the destination applies (rsync's transfer rules), beside the flags: they
/// travel with a push (docs/protocol.md "Session"), and stay local on a pull.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tuning {
    /// `--max-size`: files larger than this are not transferred (nor deleted).
    pub max_size: Option<u64>,
    /// `--min-size`: files smaller than this are not transferred (nor deleted).
    pub min_size: Option<u64>,
    /// `--modify-window`: mtimes at most this many seconds apart (compared in whole seconds)
    /// are equal. `None`: compared to the nanosecond.
    pub modify_window: Option<u32>,
    /// `--backup`: keep what is replaced or deleted, renamed with `suffix`, beside itself or
    /// (`dir`, relative to the destination) in a backup directory.
    pub backup: Option<BackupSpec>,
    /// `--chmod`: applied to the modes the source sent, at the destination.
    pub chmod: Option<crate::chmod::Chmod>,
}

/// `--backup`, `--suffix`, `--backup-dir`, as the peer sent them (checked where applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSpec {
    /// Appended to backups' names (at most 255 bytes, no `/`).
    pub suffix: String,
    /// The backup directory, relative to the destination (`None`: beside each file).
    pub dir: Option<String>,
}

impl BackupSpec {
    /// rsync's rules for the suffix: no `/`; not empty without a backup directory.
    pub fn check(&self) -> Result<(), String> {
        if self.suffix.contains('/') || self.suffix.len() > 255 || self.suffix.chars().any(char::is_control) {
            return Err(format!(
                "--suffix {:?}: a suffix names no directory and has no control characters",
                self.suffix
            ));
        }
        if self.suffix.is_empty() && self.dir.is_none() {
            return Err("--suffix cannot be empty without --backup-dir (backups would overwrite the files)".into());
        }
        if self.dir.as_deref().is_some_and(|d| d.is_empty() || d.len() > 4096) {
            return Err("--backup-dir: give a directory".into());
        }
        Ok(())
    }
}

const TUNE_MAX_SIZE: u8 = 1;
const TUNE_MIN_SIZE: u8 = 2;
const TUNE_MODIFY_WINDOW: u8 = 3;
const TUNE_BACKUP: u8 = 4;
const TUNE_CHMOD: u8 = 5;

impl Tuning {
    fn fields(&self) -> Vec<(u8, u64)> {
        [
            (TUNE_MAX_SIZE, self.max_size),
            (TUNE_MIN_SIZE, self.min_size),
            (TUNE_MODIFY_WINDOW, self.modify_window.map(u64::from)),
        ]
        .into_iter()
        .filter_map(|(t, v)| Some((t, v?)))
        .collect()
    }

    /// Nothing when every option is unset (a push without them ends after its rules); else
    /// `u8 n ≥ 1`, then n × (`u8 tag`, strictly increasing, value): tags 1–3 a varint, tag 4
    /// (backup) `bytes suffix`, `bytes dir` (empty: none).
    fn encode(&self, e: &mut Enc) {
        let f = self.fields();
        let n = f.len() + usize::from(self.backup.is_some()) + usize::from(self.chmod.is_some());
        if n == 0 {
            return;
        }
        e.u8(n as u8);
        for (t, v) in f {
            e.u8(t);
            e.varint(v);
        }
        if let Some(b) = &self.backup {
            e.u8(TUNE_BACKUP);
            e.bytes(b.suffix.as_bytes());
            e.bytes(b.dir.as_deref().unwrap_or("").as_bytes());
        }
        if let Some(c) = &self.chmod {
            e.u8(TUNE_CHMOD);
            e.bytes(c.as_str().as_bytes());
        }
    }

    fn decode(d: &mut Dec<'_>) -> Result<Self, PErr> {
        let mut t = Self::default();
        if d.is_done() {
            return Ok(t);
        }
        let n = d.u8()?;
        if n == 0 || n > 5 {
            return Err(PErr::Malformed("tuning count"));
        }
        let mut last = 0;
        for _ in 0..n {
            let tag = d.u8()?;
            if tag <= last {
                return Err(PErr::Malformed("tuning tags out of order"));
            }
            last = tag;
            if tag == TUNE_BACKUP {
                let suffix = dec_str(d, "suffix")?;
                let dir = dec_str(d, "backup dir")?;
                let b = BackupSpec { suffix, dir: (!dir.is_empty()).then_some(dir) };
                b.check().map_err(|_| PErr::Malformed("backup suffix or directory"))?;
                t.backup = Some(b);
                continue;
            }
            if tag == TUNE_CHMOD {
                let s = dec_str(d, "chmod")?;
                t.chmod = Some(crate::chmod::Chmod::parse(&s).map_err(|_| PErr::Malformed("chmod"))?);
                continue;
            }
            let v = d.varint()?;
            match tag {
                TUNE_MAX_SIZE => t.max_size = Some(v),
                TUNE_MIN_SIZE => t.min_size = Some(v),
                TUNE_MODIFY_WINDOW => {
                    t.modify_window = Some(u32::try_from(v).map_err(|_| PErr::Malformed("modify window"))?)
                }
                _ => return Err(PErr::Malformed("unknown tuning option (a newer pcp?)")),
            }
        }
        Ok(t)
    }
}

impl Request {
    /// Encode as a frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = start();
        match self {
            Self::Push { path, flags, max_delete, single_file, dir_as_new, rules, gitignore, tuning } => {
                e.u8(T_PUSH);
                e.bytes(path.to_wire().as_bytes());
                e.varint(flags.0);
                e.varint(*max_delete);
                e.u8(u8::from(*single_file));
                e.u8(u8::from(*dir_as_new));
                enc_rules(&mut e, rules, *gitignore);
                tuning.encode(&mut e);
            }
            Self::Pull { path, flags, scan, rename_if_file, contents_if_dir, rules, gitignore } => {
                e.u8(T_PULL);
                e.bytes(path.to_wire().as_bytes());
                e.varint(flags.0);
                e.u8(scan.bits());
                e.bytes(rename_if_file.as_ref().map_or("", FileName::as_str).as_bytes());
                e.u8(u8::from(*contents_if_dir));
                enc_rules(&mut e, rules, *gitignore);
            }
            Self::List { path } => {
                e.u8(T_LIST);
                e.bytes(path.to_wire().as_bytes());
            }
            Self::Offer => e.u8(T_OFFER),
            Self::Pair => e.u8(T_PAIR),
        }
        frame(e)
    }

    /// Decode a frame body.
    pub fn decode(body: &[u8]) -> Result<Self, PErr> {
        let mut d = opened(body)?;
        let r = match d.u8()? {
            T_PUSH => {
                let path = PeerPath::parse(&dec_str(&mut d, "path")?)?;
                let flags = Flags(d.varint()?);
                let max_delete = d.varint()?;
                let single_file = dec_bool(&mut d)?;
                let dir_as_new = dec_bool(&mut d)?;
                let (rules, gitignore) = dec_rules(&mut d)?;
                let tuning = Tuning::decode(&mut d)?;
                Self::Push { path, flags, max_delete, single_file, dir_as_new, rules, gitignore, tuning }
            }
            T_PULL => {
                let path = PeerPath::parse(&dec_str(&mut d, "path")?)?;
                let flags = Flags(d.varint()?);
                let scan = Scan::from_bits(d.u8()?)?;
                let rename = dec_str(&mut d, "name")?;
                let contents_if_dir = dec_bool(&mut d)?;
                let (rules, gitignore) = dec_rules(&mut d)?;
                let rename_if_file = if rename.is_empty() { None } else { Some(FileName::parse(&rename)?) };
                Self::Pull { path, flags, scan, rename_if_file, contents_if_dir, rules, gitignore }
            }
            T_LIST => Self::List { path: PeerPath::parse(&dec_str(&mut d, "path")?)? },
            T_OFFER => Self::Offer,
            T_PAIR => Self::Pair,
            t => return Err(PErr::UnknownType(t)),
        };
        d.finish()?;
        Ok(r)
    }
}

impl Response {
    /// Encode as a frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = start();
        match self {
            Self::Ok { is_dir } => {
                e.u8(R_OK);
                e.u8(u8::from(*is_dir));
            }
            Self::Refused { code, text } => {
                e.u8(R_REFUSED);
                e.u8(*code);
                e.bytes(truncated(text, MAX_STR).as_bytes());
            }
            Self::Entries(list) => {
                e.u8(R_ENTRIES);
                e.varint(list.len() as u64);
                for x in list {
                    e.bytes(x.name.as_bytes());
                    e.u8(x.kind.byte());
                    e.varint(x.size);
                    e.varint(u64::from(x.mode));
                    e.svarint(x.mtime);
                    e.bytes(&x.target);
                }
            }
            Self::End { count } => {
                e.u8(R_END);
                e.varint(*count);
            }
            Self::Confirm { accept } => {
                e.u8(R_CONFIRM);
                e.u8(u8::from(*accept));
            }
        }
        frame(e)
    }

    /// Decode a frame body.
    pub fn decode(body: &[u8]) -> Result<Self, PErr> {
        let mut d = opened(body)?;
        let r = match d.u8()? {
            R_OK => Self::Ok { is_dir: dec_bool(&mut d)? },
            R_REFUSED => Self::Refused { code: d.u8()?, text: dec_str(&mut d, "text")? },
            R_ENTRIES => {
                let n = d.varint_max(ENTRIES_PER_FRAME as u64, "entries")?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let name = dec_str(&mut d, "name")?;
                    let kind = ListKind::from_byte(d.u8()?)?;
                    let size = d.varint()?;
                    let mode = d.varint_max(0o7777, "mode")? as u32;
                    let mtime = d.svarint()?;
                    let target = d.bytes(super::message::MAX_TARGET, "link target")?.to_vec();
                    v.push(ListEntry { name, kind, size, mode, mtime, target });
                }
                Self::Entries(v)
            }
            R_END => Self::End { count: d.varint()? },
            R_CONFIRM => Self::Confirm { accept: dec_bool(&mut d)? },
            t => return Err(PErr::UnknownType(t)),
        };
        d.finish()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_pinned_bytes() {
        let reqs = [
            Request::Push {
                path: PeerPath::parse("a/b/").unwrap(),
                flags: Flags(0x1ff),
                max_delete: 3,
                single_file: false,
                dir_as_new: true,
                rules: vec![Rule::Exclude("*.tmp".into()), Rule::Include("x".into())],
                gitignore: true,
                tuning: Tuning::default(),
            },
            Request::Push {
                path: PeerPath::parse("a").unwrap(),
                flags: Flags(0),
                max_delete: 0,
                single_file: true,
                dir_as_new: false,
                rules: vec![],
                gitignore: false,
                tuning: Tuning {
                    max_size: Some(100),
                    min_size: None,
                    modify_window: Some(1),
                    backup: Some(BackupSpec { suffix: ".old".into(), dir: Some("../bak".into()) }),
                    chmod: Some(crate::chmod::Chmod::parse("D755,u+rwX").unwrap()),
                },
            },
            Request::Pull {
                path: PeerPath::parse("").unwrap(),
                flags: Flags(8),
                scan: Scan { recursive: true, links: true, one_file_system: true, prune_empty_dirs: true },
                rename_if_file: Some(FileName::parse("n").unwrap()),
                contents_if_dir: false,
                rules: vec![],
                gitignore: false,
            },
            Request::List { path: PeerPath::parse("x").unwrap() },
            Request::Offer,
            Request::Pair,
        ];
        for r in reqs {
            let f = r.encode();
            assert_eq!(u32::from_le_bytes(f[..4].try_into().unwrap()) as usize, f.len() - 4);
            assert_eq!(Request::decode(&f[4..]).unwrap(), r);
        }
        assert_eq!(Request::List { path: PeerPath::parse("ab").unwrap() }.encode(), [5, 0, 0, 0, 1, 3, 2, b'a', b'b']);
        assert_eq!(Request::Offer.encode(), [2, 0, 0, 0, 1, 4]);
        assert_eq!(Request::Pair.encode(), [2, 0, 0, 0, 1, 5]);
        assert!(Request::decode(&[2, 3, 0]).is_err());
        assert!(Request::decode(&[1, 9]).is_err());
        assert!(Request::decode(&[1, 3, 0, 0]).is_err(), "trailing bytes");
    }

    #[test]
    fn response_round_trip() {
        let rs = [
            Response::Ok { is_dir: true },
            Response::Refused { code: 3, text: "no".into() },
            Response::Entries(vec![ListEntry {
                name: "f".into(),
                kind: ListKind::Symlink,
                size: 9,
                mode: 0o644,
                mtime: -5,
                target: b"../x".to_vec(),
            }]),
            Response::End { count: 7 },
            Response::Confirm { accept: false },
        ];
        for r in rs {
            let f = r.encode();
            assert_eq!(Response::decode(&f[4..]).unwrap(), r);
        }
        assert_eq!(Response::Ok { is_dir: true }.encode(), [3, 0, 0, 0, 1, 1, 1]);
    }

    /// A refusal text the decoder accepts (up to MAX_STR bytes) re-encodes unchanged; a longer
    /// one is cut at a character boundary to what the decoder accepts. Guards the round-trip
    /// property of the `session` fuzz target: the encoder used to keep only MAX_STR / 4
    /// characters, so a 4096-byte ASCII refusal decoded but did not re-encode to itself.
    #[test]
    fn refusal_text_round_trips_up_to_the_cap() {
        let full = Response::Refused { code: 3, text: "x".repeat(MAX_STR) };
        assert_eq!(Response::decode(&full.encode()[4..]).unwrap(), full);
        let long = Response::Refused { code: 3, text: format!("{}é", "x".repeat(MAX_STR - 1)) };
        let Response::Refused { text, .. } = Response::decode(&long.encode()[4..]).unwrap() else {
            panic!("not a refusal")
        };
        assert_eq!(text, "x".repeat(MAX_STR - 1));
        assert_eq!(truncated("aé", 2), "a");
        assert_eq!(truncated("aé", 3), "aé");
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the decoders, and what decodes round-trips (the
        /// property of the `session` fuzz target).
        #[test]
        fn decoders_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(r) = Request::decode(&body) {
                proptest::prop_assert_eq!(Request::decode(&r.encode()[4..]).unwrap(), r);
            }
            if let Ok(r) = Response::decode(&body) {
                proptest::prop_assert_eq!(Response::decode(&r.encode()[4..]).unwrap(), r);
            }
        }

        /// Round trip of arbitrary push requests.
        #[test]
        fn push_round_trip(path in "[a-z]{1,8}(/[a-z]{1,8}){0,3}/?", flags in 0u64..1024, max_delete in proptest::num::u64::ANY,
                           single_file: bool, dir_as_new: bool, pats in proptest::collection::vec("[a-z*.]{1,12}", 0..6)) {
            let rules = pats.iter().enumerate()
                .map(|(i, p)| if i % 2 == 0 { Rule::Exclude(p.clone()) } else { Rule::Include(p.clone()) }).collect();
            let tuning = Tuning { max_size: (flags % 3 == 0).then_some(max_delete), min_size: (flags % 5 == 0).then_some(flags), modify_window: dir_as_new.then_some(2), backup: single_file.then(|| BackupSpec { suffix: "~".into(), dir: None }), chmod: None };
            let r = Request::Push { path: PeerPath::parse(&path).unwrap(), flags: Flags(flags), max_delete, single_file, dir_as_new, rules, gitignore: single_file, tuning };
            let f = r.encode();
            proptest::prop_assert_eq!(Request::decode(&f[4..]).unwrap(), r);
        }
    }

    #[test]
    fn tuning_has_one_encoding_and_pinned_bytes() {
        let push = |tuning| Request::Push {
            path: PeerPath::parse("a").unwrap(),
            flags: Flags(0),
            max_delete: 0,
            single_file: false,
            dir_as_new: false,
            rules: vec![],
            gitignore: false,
            tuning,
        };
        let plain = push(Tuning::default()).encode();
        let tuned = push(Tuning { max_size: Some(300), modify_window: Some(1), ..Tuning::default() }).encode();
        // After the plain request: 2 options, tag 1 = 300 (varint ac 02), tag 3 = 1.
        assert_eq!(&tuned[plain.len()..], &[2, 1, 0xac, 0x02, 3, 1]);
        let body = |tail: &[u8]| [&plain[4..], tail].concat();
        let backup = push(Tuning { backup: Some(BackupSpec { suffix: "~".into(), dir: None }), ..Tuning::default() });
        assert_eq!(&backup.encode()[plain.len()..], &[1, 4, 1, b'~', 0]);
        // An empty suffix without a directory, a suffix naming a directory: malformed.
        for bad in [&[0u8][..], &[1, 3, 1, 1, 1], &[2, 3, 1, 1, 1], &[1, 9, 1], &[5, 1, 1, 2, 1, 3, 1, 3, 1, 4, 0, 0]] {
            assert!(Request::decode(&body(bad)).is_err(), "{bad:?}");
        }
        for bad in [&[1u8, 4, 0, 0][..], &[1, 4, 2, b'a', b'/', 0]] {
            assert!(Request::decode(&body(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn peer_paths_are_confined() {
        assert!(PeerPath::parse("../x").is_err());
        assert!(PeerPath::parse("a/../../x").is_err());
        assert!(PeerPath::parse("/etc/passwd").is_err());
        assert!(PeerPath::parse("./x").is_err());
        assert!(PeerPath::parse("a\u{1b}b").is_err());
        assert_eq!(PeerPath::parse("").unwrap(), PeerPath { rel: SafeRelPath::root(), slash: true });
        assert_eq!(PeerPath::parse("a/b/").unwrap(), PeerPath { rel: SafeRelPath::new("a/b").unwrap(), slash: true });
        assert_eq!(PeerPath::parse("a").unwrap(), PeerPath { rel: SafeRelPath::new("a").unwrap(), slash: false });
    }

    #[test]
    fn typed_fields_refuse_what_they_cannot_hold() {
        // Unknown scan bits, a file name of two components, an escaping path: refused at decode.
        let mut pull = Request::Pull {
            path: PeerPath::parse("a").unwrap(),
            flags: Flags(0),
            scan: Scan::default(),
            rename_if_file: None,
            contents_if_dir: false,
            rules: vec![],
            gitignore: false,
        }
        .encode();
        // [len 4][version][type][path len 1]['a'][flags 0][scan]...
        assert_eq!(&pull[4..10], &[1, 2, 1, b'a', 0, 0]);
        pull[9] = 16;
        assert!(matches!(Request::decode(&pull[4..]), Err(PErr::Malformed(_))));
        assert!(FileName::parse("a/b").is_err());
        assert!(FileName::parse("..").is_err());
        assert!(FileName::parse("").is_err());
        let list = [5, 0, 0, 0, 1, 3, 2, b'.', b'.'];
        assert!(matches!(Request::decode(&list[4..]), Err(PErr::PeerPath(_))));
        assert_eq!(PeerPath::parse(".").unwrap().to_wire(), ".");
        assert_eq!(PeerPath::parse("a//").unwrap().to_wire(), "a/");
    }
}
