//! The session request: after authentication the dialer sends ONE [`Request`] on stream 0 and
//! the listener answers; then the transfer (net::transport) runs on the same connection.
//! docs/protocol.md "Session" pins the bytes.
//!
//! Owns: the request codec, path confinement of the serving side (every path a peer names is
//! parsed as a `SafeRelPath` and resolved under the served DIR without following any symlink),
//! and running one engine role over the connection. Does not own: connecting, authenticating,
//! or the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::runtime::Handle;

use super::handshake::{close, conn_err};
use super::transport::{self, Role};
use crate::engine::destination::{self, DestConfig};
use crate::engine::source::{self, SourceConfig};
use crate::error::{tagged, Kind};
use crate::filter::{Filter, Rule};
use crate::path::SafeRelPath;
use crate::proto::frame::{Dec, Enc};
use crate::proto::Error as PErr;
use crate::report::{Reporter, Stats};

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
const MAX_STR: usize = 4096;

/// Scan options bits in a request.
pub const SCAN_RECURSIVE: u8 = 1;
/// Copy symlinks as symlinks.
pub const SCAN_LINKS: u8 = 2;

/// What the dialer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The dialer sends; the listener becomes the destination under `path`.
    Push {
        /// Destination path relative to the served DIR (trailing `/` kept).
        path: String,
        /// Transfer flags (proto::Flags).
        flags: u64,
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
    },
    /// The dialer receives; the listener becomes the source of `path`.
    Pull {
        /// Source path relative to the served DIR (trailing `/`: the contents).
        path: String,
        /// Transfer flags.
        flags: u64,
        /// SCAN_* bits.
        scan: u8,
        /// Name to give a single regular file (the dialer's DEST names a file).
        rename_if_file: Option<String>,
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
        path: String,
    },
    /// `pcp receive`: show what `pcp send` offers.
    Offer,
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
    /// 0 file, 1 directory, 2 symlink, 3 other.
    pub kind: u8,
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
    let n = d.varint_max(crate::proto::message::MAX_RULES as u64, "filter rules")?;
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

fn start() -> Enc {
    let mut e = Enc::default();
    e.raw(&[0, 0, 0, 0]);
    e.u8(SESSION_VERSION);
    e
}

impl Request {
    /// Encode as a frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = start();
        match self {
            Self::Push { path, flags, max_delete, single_file, dir_as_new, rules, gitignore } => {
                e.u8(T_PUSH);
                e.bytes(path.as_bytes());
                e.varint(*flags);
                e.varint(*max_delete);
                e.u8(u8::from(*single_file));
                e.u8(u8::from(*dir_as_new));
                enc_rules(&mut e, rules, *gitignore);
            }
            Self::Pull { path, flags, scan, rename_if_file, contents_if_dir, rules, gitignore } => {
                e.u8(T_PULL);
                e.bytes(path.as_bytes());
                e.varint(*flags);
                e.u8(*scan);
                e.bytes(rename_if_file.as_deref().unwrap_or("").as_bytes());
                e.u8(u8::from(*contents_if_dir));
                enc_rules(&mut e, rules, *gitignore);
            }
            Self::List { path } => {
                e.u8(T_LIST);
                e.bytes(path.as_bytes());
            }
            Self::Offer => e.u8(T_OFFER),
        }
        frame(e)
    }

    /// Decode a frame body.
    pub fn decode(body: &[u8]) -> Result<Self, PErr> {
        let mut d = Dec::new(body);
        let v = d.u8()?;
        if v != SESSION_VERSION {
            return Err(PErr::Version(u32::from(v), u32::from(SESSION_VERSION)));
        }
        let r = match d.u8()? {
            T_PUSH => {
                let path = dec_str(&mut d, "path")?;
                let flags = d.varint()?;
                let max_delete = d.varint()?;
                let single_file = dec_bool(&mut d)?;
                let dir_as_new = dec_bool(&mut d)?;
                let (rules, gitignore) = dec_rules(&mut d)?;
                Self::Push { path, flags, max_delete, single_file, dir_as_new, rules, gitignore }
            }
            T_PULL => {
                let path = dec_str(&mut d, "path")?;
                let flags = d.varint()?;
                let scan = d.u8()?;
                let rename = dec_str(&mut d, "name")?;
                let contents_if_dir = dec_bool(&mut d)?;
                let (rules, gitignore) = dec_rules(&mut d)?;
                let rename_if_file = (!rename.is_empty()).then_some(rename);
                Self::Pull { path, flags, scan, rename_if_file, contents_if_dir, rules, gitignore }
            }
            T_LIST => Self::List { path: dec_str(&mut d, "path")? },
            T_OFFER => Self::Offer,
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
                    e.u8(x.kind);
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
        let mut d = Dec::new(body);
        let v = d.u8()?;
        if v != SESSION_VERSION {
            return Err(PErr::Version(u32::from(v), u32::from(SESSION_VERSION)));
        }
        let r = match d.u8()? {
            R_OK => Self::Ok { is_dir: dec_bool(&mut d)? },
            R_REFUSED => Self::Refused { code: d.u8()?, text: dec_str(&mut d, "text")? },
            R_ENTRIES => {
                let n = d.varint_max(ENTRIES_PER_FRAME as u64, "entries")?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let name = dec_str(&mut d, "name")?;
                    let kind = d.u8()?;
                    if kind > 3 {
                        return Err(PErr::Malformed("entry kind"));
                    }
                    let size = d.varint()?;
                    let mode = d.varint_max(0o7777, "mode")? as u32;
                    let mtime = d.svarint()?;
                    let target = d.bytes(crate::proto::message::MAX_TARGET, "link target")?.to_vec();
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

/// Write one frame on a stream.
pub async fn write_frame(send: &mut SendStream, frame: &[u8]) -> Result<()> {
    send.write_all(frame).await.map_err(|e| match e {
        quinn::WriteError::ConnectionLost(c) => conn_err(&c, "sending the request"),
        other => anyhow!("sending the request: {other}"),
    })
}

/// Read one session frame body (capped at [`MAX_SESSION_FRAME`]).
pub async fn read_frame(recv: &mut RecvStream) -> Result<Vec<u8>> {
    let map = |e: quinn::ReadExactError| match e {
        quinn::ReadExactError::FinishedEarly(_) => anyhow::Error::from(PErr::Closed),
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(c)) => conn_err(&c, "during the request"),
        quinn::ReadExactError::ReadError(other) => anyhow!("reading the request: {other}"),
    };
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(map)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_SESSION_FRAME {
        return Err(PErr::FrameTooLarge(len).into());
    }
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(map)?;
    Ok(buf)
}

/// Read a response; a `Refused` becomes an error with its exit code.
/// Stream 0 as a role takes it over after the request.
pub struct Stream0 {
    /// Our half.
    pub send: SendStream,
    /// The peer's half.
    pub recv: RecvStream,
    /// Whether the listener's answer is still ahead on `recv`.
    pub answer: Answer,
}

/// Where the listener's answer to the request is when a role starts on stream 0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Answer {
    /// Already read (the caller needed it to set the role up), or there is none (the listener).
    Read,
    /// Still ahead of the transfer's frames: a push whose naming does not depend on the answer
    /// starts sending at once, a round trip earlier, and the reader checks the answer first
    /// (a refusal ends the role with the listener's reason and exit code).
    Pending,
}

pub async fn read_response(recv: &mut RecvStream) -> Result<Response> {
    let r = Response::decode(&read_frame(recv).await?)?;
    if let Response::Refused { code, text } = &r {
        let kind = kind_from_code(*code);
        return Err(tagged(kind, format!("the peer refused: {}", crate::report::sanitize(text))));
    }
    Ok(r)
}

/// Read `Entries` frames up to `End` (a listing or an offer), within the caps.
pub async fn read_entries(recv: &mut RecvStream) -> Result<Vec<ListEntry>> {
    let mut all = Vec::new();
    let mut bytes = 0u64;
    loop {
        match read_response(recv).await? {
            Response::Entries(v) => {
                bytes += v.iter().map(|e| (e.name.len() + e.target.len()) as u64 + 32).sum::<u64>();
                all.extend(v);
                if all.len() as u64 > MAX_LIST_ENTRIES {
                    return Err(PErr::Cap("listed entries", all.len() as u64).into());
                }
                if bytes > MAX_LIST_BYTES {
                    return Err(PErr::Cap("bytes of listed names", bytes).into());
                }
            }
            Response::End { count } if count == all.len() as u64 => return Ok(all),
            _ => return Err(PErr::Malformed("listing").into()),
        }
    }
}

fn kind_from_code(c: u8) -> Kind {
    [Kind::Usage, Kind::Incompatible, Kind::Select, Kind::Connect, Kind::FileIo, Kind::Protocol, Kind::Auth]
        .into_iter()
        .find(|k| k.code() == c)
        .unwrap_or(Kind::Select)
}

/// A refusal to send to the peer.
pub fn refusal(kind: Kind, text: impl Into<String>) -> Response {
    Response::Refused { code: kind.code(), text: text.into() }
}

/// Parse a path a peer asked for: relative, canonical (`SafeRelPath`), plus whether it ended
/// in `/` (or was empty, meaning the served DIR itself: its contents).
pub fn parse_peer_path(p: &str) -> Result<(SafeRelPath, bool), Response> {
    if p.starts_with('/') || p.starts_with('\\') {
        return Err(refusal(
            Kind::Select,
            format!("absolute path {p:?} refused; paths are relative to the served directory"),
        ));
    }
    let slash = p.is_empty() || p.ends_with('/');
    let trimmed = p.trim_end_matches('/');
    let trimmed = if trimmed == "." { "" } else { trimmed };
    match SafeRelPath::new(trimmed) {
        Ok(r) => Ok((r, slash)),
        Err(e) => Err(refusal(Kind::Select, format!("{e}; paths must stay inside the served directory"))),
    }
}

/// What exists at `rel` under `dir`, found without following any symlink on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Nothing there (the parent directories exist and are real directories).
    Missing,
    /// A directory.
    Dir,
    /// A symlink (only possible for the last component).
    Link,
    /// A regular file or something else.
    Other,
}

/// Look up `rel` under `dir` component by component with lstat: every component but the last
/// must be a real directory (a symlink is refused, so nothing outside `dir` is reached); a
/// missing component before the last gives `Missing` too when `missing_ok`.
pub fn lookup(dir: &Path, rel: &SafeRelPath) -> Result<Found, Response> {
    let comps: Vec<&str> = rel.components().collect();
    let mut p = dir.to_path_buf();
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        let last = i + 1 == comps.len();
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                if last {
                    return Ok(Found::Link);
                }
                return Err(refusal(Kind::Select, format!("{rel} goes through a symlink; refused")));
            }
            Ok(md) if md.is_dir() => {}
            Ok(_) if last => return Ok(Found::Other),
            Ok(_) => return Err(refusal(Kind::Select, format!("{rel}: a parent is not a directory"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
            Err(e) => return Err(refusal(Kind::FileIo, format!("{rel}: {e}"))),
        }
    }
    Ok(Found::Dir)
}

/// Create the missing directories of `rel` under `dir`, refusing symlinks (see [`lookup`]).
pub fn make_dirs(dir: &Path, rel: &SafeRelPath) -> Result<PathBuf, Response> {
    let mut p = dir.to_path_buf();
    for c in rel.components() {
        p.push(c);
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(refusal(Kind::Select, format!("{rel} goes through a symlink; refused")))
            }
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(refusal(Kind::Select, format!("{rel}: not a directory"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&p).map_err(|e| refusal(Kind::FileIo, format!("creating {rel}: {e}")))?;
            }
            Err(e) => return Err(refusal(Kind::FileIo, format!("{rel}: {e}"))),
        }
    }
    Ok(p)
}

/// One side's part of a transfer.
pub enum RoleConfig {
    /// Send.
    Source(Box<SourceConfig>),
    /// Receive (`DestConfig::offer` limits what may arrive, for `pcp receive`).
    Destination(Box<DestConfig>),
}

/// How a transfer over the network ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferEnd {
    /// Entries the source could not send.
    pub skipped: u64,
    /// Entries that failed at the destination, or deletions limited.
    pub errors: u64,
}

/// Run one engine role over the authenticated connection (stream 0 = `send`/`recv`), then
/// end the connection: the destination closes it once it has everything; the source waits
/// for that close.
pub fn run_role(
    rt: &Handle,
    conn: &Connection,
    stream0: Stream0,
    role: RoleConfig,
    rep: &Reporter,
    stats: &Arc<Stats>,
) -> Result<TransferEnd> {
    let trole = match &role {
        RoleConfig::Source(_) => Role::Source,
        RoleConfig::Destination(_) => Role::Destination,
    };
    let Stream0 { send, recv, answer } = stream0;
    let recv = async move {
        let mut recv = recv;
        if answer == Answer::Pending {
            let Response::Ok { .. } = read_response(&mut recv).await? else {
                return Err(PErr::Malformed("unexpected answer to the request").into());
            };
        }
        Ok(recv)
    };
    let (link, tr) = transport::start(rt, conn, send, recv, trole, stats.clone())?;
    // Progress on both ends (--progress, also on `serve`): the destination reports it itself;
    // on the source side a ticker does.
    let started = std::time::Instant::now();
    rep.progress_start(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let res = std::thread::scope(|s| {
        // Ctrl-C: close the connection at once with a reason, so both engines stop within
        // moments (each records what it has) and the peer does not wait for the idle timeout.
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
                    conn.close(VarInt::from_u32(close::ERROR), b"interrupted");
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        if trole == Role::Source && rep.verbosity().progress {
            s.spawn(|| {
                let start = std::time::Instant::now();
                let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    rep.progress_total(get(&stats.total_size));
                    rep.progress(get(&stats.bytes_sent), get(&stats.total_size), start);
                }
            });
        }
        let r = match role {
            RoleConfig::Source(cfg) => {
                source::run(*cfg, link, rep, stats).map(|skipped| TransferEnd { skipped, errors: 0 })
            }
            RoleConfig::Destination(cfg) => destination::run(&cfg, link, rep, stats)
                .map(|o| TransferEnd { skipped: 0, errors: o.errors + u64::from(o.delete_limited) }),
        };
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    });
    record_link(conn, stats);
    let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    match trole {
        Role::Source => rep.progress_done(get(&stats.bytes_sent), started, "sent"),
        Role::Destination => rep.progress_done(get(&stats.bytes_written), started, "received"),
    }
    match res {
        Ok(mut end) => {
            if trole == Role::Destination {
                // The close code tells the source whether every entry made it (exit 0 or 23).
                if end.errors > 0 {
                    let why = format!("{} entries failed at the destination", end.errors);
                    conn.close(VarInt::from_u32(close::PARTIAL), why.as_bytes());
                } else {
                    conn.close(VarInt::from_u32(close::DONE), b"done");
                }
            } else {
                // Our last frames are queued; the destination closes when it has read them.
                let closed = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), conn.closed()).await });
                if let Ok(quinn::ConnectionError::ApplicationClosed(a)) = closed {
                    if a.error_code.into_inner() == u64::from(close::PARTIAL) {
                        rep.warn(&format!(
                            "the peer: {}",
                            crate::report::sanitize(&String::from_utf8_lossy(&a.reason))
                        ));
                        end.errors += 1;
                    }
                }
            }
            let _ = tr.finish();
            Ok(end)
        }
        Err(e) => {
            // A lost connection shows up in the engine as "peer closed"; say what happened.
            let closed = e.chain().any(|c| matches!(c.downcast_ref::<PErr>(), Some(PErr::Closed)));
            let terr = tr.error();
            conn.close(VarInt::from_u32(close::ERROR), b"transfer failed");
            let _ = tr.finish();
            if crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(tagged(Kind::Interrupted, "interrupted; rerun the same command to resume"));
            }
            match terr {
                Some(t) if closed => Err(t),
                _ => Err(e),
            }
        }
    }
}

/// Keep what QUIC measured of the path, for `--stats` and the `--json` summary.
fn record_link(conn: &Connection, stats: &Stats) {
    let st = conn.stats();
    let l = crate::report::LinkStats {
        rtt_ms: st.path.rtt.as_secs_f64() * 1000.0,
        sent_packets: st.path.sent_packets,
        lost_packets: st.path.lost_packets,
        lost_bytes: st.path.lost_bytes,
        congestion_events: st.path.congestion_events,
        mtu: st.path.current_mtu,
        controller: super::endpoint::congestion_controller(),
    };
    if let Ok(mut slot) = stats.link.lock() {
        *slot = Some(l);
    }
}

/// Build a `Filter` from rules received from a peer.
pub fn filter_from(rules: Vec<Rule>, gitignore: bool) -> Result<Filter, Response> {
    Filter::new(rules, gitignore).map_err(|e| refusal(Kind::Usage, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_pinned_bytes() {
        let reqs = [
            Request::Push {
                path: "a/b/".into(),
                flags: 0x1ff,
                max_delete: 3,
                single_file: false,
                dir_as_new: true,
                rules: vec![Rule::Exclude("*.tmp".into()), Rule::Include("x".into())],
                gitignore: true,
            },
            Request::Pull {
                path: "".into(),
                flags: 8,
                scan: SCAN_RECURSIVE | SCAN_LINKS,
                rename_if_file: Some("n".into()),
                contents_if_dir: false,
                rules: vec![],
                gitignore: false,
            },
            Request::List { path: "x".into() },
            Request::Offer,
        ];
        for r in reqs {
            let f = r.encode();
            assert_eq!(u32::from_le_bytes(f[..4].try_into().unwrap()) as usize, f.len() - 4);
            assert_eq!(Request::decode(&f[4..]).unwrap(), r);
        }
        assert_eq!(Request::List { path: "ab".into() }.encode(), [5, 0, 0, 0, 1, 3, 2, b'a', b'b']);
        assert_eq!(Request::Offer.encode(), [2, 0, 0, 0, 1, 4]);
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
                kind: 2,
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
        fn push_round_trip(path in "[a-z/]{0,40}", flags in 0u64..1024, max_delete in proptest::num::u64::ANY,
                           single_file: bool, dir_as_new: bool, pats in proptest::collection::vec("[a-z*.]{1,12}", 0..6)) {
            let rules = pats.iter().enumerate()
                .map(|(i, p)| if i % 2 == 0 { Rule::Exclude(p.clone()) } else { Rule::Include(p.clone()) }).collect();
            let r = Request::Push { path, flags, max_delete, single_file, dir_as_new, rules, gitignore: single_file };
            let f = r.encode();
            proptest::prop_assert_eq!(Request::decode(&f[4..]).unwrap(), r);
        }
    }

    #[test]
    fn peer_paths_are_confined() {
        assert!(parse_peer_path("../x").is_err());
        assert!(parse_peer_path("a/../../x").is_err());
        assert!(parse_peer_path("/etc/passwd").is_err());
        assert!(parse_peer_path("./x").is_err());
        assert!(parse_peer_path("a\u{1b}b").is_err());
        assert_eq!(parse_peer_path("").unwrap(), (SafeRelPath::root(), true));
        assert_eq!(parse_peer_path("a/b/").unwrap(), (SafeRelPath::new("a/b").unwrap(), true));
        assert_eq!(parse_peer_path("a").unwrap(), (SafeRelPath::new("a").unwrap(), false));
    }

    #[test]
    fn lookup_refuses_symlinked_parents() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", t.path().join("l")).unwrap();
        assert_eq!(lookup(t.path(), &SafeRelPath::new("d").unwrap()).unwrap(), Found::Dir);
        assert_eq!(lookup(t.path(), &SafeRelPath::new("l").unwrap()).unwrap(), Found::Link);
        assert!(lookup(t.path(), &SafeRelPath::new("l/passwd").unwrap()).is_err());
        assert!(make_dirs(t.path(), &SafeRelPath::new("l/x").unwrap()).is_err());
        assert_eq!(lookup(t.path(), &SafeRelPath::new("d/n").unwrap()).unwrap(), Found::Missing);
    }
}
