//! Finding a peer on the LAN with no server: multicast DNS (RFC 6762), the first source of
//! candidates behind the connect face (the rendezvous is the next).
//!
//! A listener (`pcp serve`, `pcp send`, `pcp pair`) answers queries for its labels under
//! `_pcp._udp.local`; a dialer with no address asks for the label it expects and connects to
//! the first answer: the answer's source address and the SRV record's port. Labels carry no
//! secret: `c-WORD` for a code (its public channel word, security.md §2.2) and, for a paired
//! peer, `p-` and 16 bytes of `HKDF(pair_psk, "pcp/1 rdv" || day)` in hex, a token that changes
//! every day and links to no key (security.md §3.4). The listener answers today's and
//! yesterday's tokens (clock skew at midnight).
//!
//! An answer is only a hint: whoever answers must still pass the code's PAKE or the pinned
//! keys, so a spoofed answer costs at most the one attempt of the code (as a wrong code would).
//!
//! The codec is sans-IO and capped: packets up to [`MAX_PACKET`] bytes, names up to 255 bytes,
//! at most 16 compression jumps, counts checked against what is left of the packet.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hkdf::Hkdf;
use sha2::Sha256;

use crate::auth::keys::{Key, PairPsk};

/// The mDNS group and port.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
pub const PORT: u16 = 5353;
/// The service every label lives under.
pub const SERVICE: &str = "_pcp._udp.local";
/// Largest packet read or written.
pub const MAX_PACKET: usize = 1500;
/// Longest name.
const MAX_NAME: usize = 255;
/// Most compression pointers followed in one name.
const MAX_JUMPS: usize = 16;
const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
/// Queries answered per second at most (a flood costs no more than this).
const MAX_ANSWERS_PER_S: u32 = 50;

/// The label of a code's channel word.
pub fn code_label(channel: &str) -> String {
    format!("c-{}", channel.to_ascii_lowercase())
}

/// The label of a pairing on `day` (Unix days).
pub fn pair_label(psk: &Key<PairPsk>, day: u64) -> String {
    let hk = Hkdf::<Sha256>::new(None, psk.as_bytes());
    let mut info = b"pcp/1 rdv".to_vec();
    info.extend_from_slice(&day.to_be_bytes());
    let mut out = [0u8; 16];
    // 16 bytes are far below HKDF-SHA256's limit (255 × 32): expand cannot fail.
    if hk.expand(&info, &mut out).is_err() {
        return String::new();
    }
    let mut s = String::from("p-");
    for b in out {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Today, in Unix days.
pub fn today() -> u64 {
    crate::net::listen::unix_now() / 86_400
}

/// A decoding failure (the packet is ignored).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(&'static str);

fn encode_name(out: &mut Vec<u8>, label: &str) {
    for part in label.split('.').chain(SERVICE.split('.')) {
        out.push(part.len() as u8);
        out.extend_from_slice(part.as_bytes());
    }
    out.push(0);
}

/// A query for `label` (SRV, unicast response asked).
pub fn query(label: &str) -> Vec<u8> {
    let mut p = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    encode_name(&mut p, label);
    p.extend_from_slice(&TYPE_SRV.to_be_bytes());
    p.extend_from_slice(&(CLASS_IN | 0x8000).to_be_bytes());
    p
}

/// The answer for `label`: an SRV record with `port`.
pub fn answer(label: &str, port: u16) -> Vec<u8> {
    let mut p = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    encode_name(&mut p, label);
    p.extend_from_slice(&TYPE_SRV.to_be_bytes());
    p.extend_from_slice(&(CLASS_IN | 0x8000).to_be_bytes());
    p.extend_from_slice(&120u32.to_be_bytes());
    let target = [3, b'p', b'c', b'p', 5, b'l', b'o', b'c', b'a', b'l', 0];
    p.extend_from_slice(&((6 + target.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&target);
    p
}

struct Reader<'a> {
    p: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.p.get(self.at..self.at + 2).ok_or(Malformed("truncated"))?;
        self.at += 2;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn skip(&mut self, n: usize) -> Result<(), Malformed> {
        if self.p.len() - self.at < n {
            return Err(Malformed("truncated"));
        }
        self.at += n;
        Ok(())
    }

    /// A name, lowercase, dot-separated (compression pointers followed, capped).
    fn name(&mut self) -> Result<String, Malformed> {
        let mut out = String::new();
        let mut pos = self.at;
        let mut jumps = 0;
        let mut end = None;
        loop {
            let len = *self.p.get(pos).ok_or(Malformed("truncated name"))? as usize;
            if len == 0 {
                end.get_or_insert(pos + 1);
                break;
            }
            if len & 0xc0 == 0xc0 {
                let lo = *self.p.get(pos + 1).ok_or(Malformed("truncated pointer"))? as usize;
                end.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return Err(Malformed("too many compression pointers"));
                }
                pos = ((len & 0x3f) << 8) | lo;
                continue;
            }
            if len > 63 {
                return Err(Malformed("bad label length"));
            }
            let label = self.p.get(pos + 1..pos + 1 + len).ok_or(Malformed("truncated label"))?;
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
            if out.len() > MAX_NAME {
                return Err(Malformed("name too long"));
            }
            pos += 1 + len;
        }
        self.at = end.unwrap_or(pos + 1);
        Ok(out)
    }
}

/// The label under [`SERVICE`] of a full name, if it is one of ours.
fn our_label(name: &str) -> Option<&str> {
    let label = name.strip_suffix(SERVICE)?.strip_suffix('.')?;
    (!label.is_empty() && !label.contains('.')).then_some(label)
}

/// The labels a query asks for (questions of type SRV or ANY under [`SERVICE`]).
pub fn parse_query(p: &[u8]) -> Result<Vec<String>, Malformed> {
    let mut r = Reader { p, at: 0 };
    let _id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 != 0 {
        return Ok(Vec::new());
    }
    let qd = r.u16()?;
    r.skip(6)?;
    // Each question takes at least 5 bytes.
    if usize::from(qd) * 5 > p.len() {
        return Err(Malformed("question count beyond the packet"));
    }
    let mut out = Vec::new();
    for _ in 0..qd {
        let name = r.name()?;
        let ty = r.u16()?;
        let _class = r.u16()?;
        if let (Some(l), TYPE_SRV | 255) = (our_label(&name), ty) {
            out.push(l.to_owned());
        }
    }
    Ok(out)
}

/// The port of an answer for `label`, if the packet holds one.
pub fn parse_answer(p: &[u8], label: &str) -> Result<Option<u16>, Malformed> {
    let mut r = Reader { p, at: 0 };
    let _id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Ok(None);
    }
    let qd = r.u16()?;
    let an = r.u16()?;
    r.skip(4)?;
    if (usize::from(qd) * 5 + usize::from(an) * 11) > p.len() {
        return Err(Malformed("record count beyond the packet"));
    }
    for _ in 0..qd {
        r.name()?;
        r.skip(4)?;
    }
    for _ in 0..an {
        let name = r.name()?;
        let ty = r.u16()?;
        r.skip(6)?;
        let len = usize::from(r.u16()?);
        let start = r.at;
        r.skip(len)?;
        if ty == TYPE_SRV && len >= 7 && our_label(&name) == Some(label) {
            return Ok(Some(u16::from_be_bytes([p[start + 4], p[start + 5]])));
        }
    }
    Ok(None)
}

/// Answers queries for the labels `labels()` returns, with `port`, until dropped.
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Responder {
    /// Listen on the mDNS port (shared with any other responder on this host). `None` when
    /// the port or the group cannot be joined (no multicast here): discovery is a hint, and
    /// `--addr` still works.
    pub fn start(port: u16, labels: Box<dyn Fn() -> Vec<String> + Send>) -> Option<Self> {
        let sock = multicast_socket().ok()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pcp-mdns".into())
            .spawn(move || respond(&sock, port, &*labels, &stop2))
            .ok()?;
        Some(Self { stop, thread: Some(thread) })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn multicast_socket() -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    s.join_multicast_v4(&GROUP, &Ipv4Addr::UNSPECIFIED)?;
    s.set_read_timeout(Some(Duration::from_millis(250)))?;
    Ok(s.into())
}

fn respond(sock: &UdpSocket, port: u16, labels: &dyn Fn() -> Vec<String>, stop: &AtomicBool) {
    let mut buf = [0u8; MAX_PACKET];
    let (mut window, mut answered) = (Instant::now(), 0u32);
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
        let Ok(asked) = parse_query(&buf[..n]) else { continue };
        if asked.is_empty() {
            continue;
        }
        if window.elapsed() >= Duration::from_secs(1) {
            (window, answered) = (Instant::now(), 0);
        }
        if answered >= MAX_ANSWERS_PER_S {
            continue;
        }
        let ours = labels();
        for l in asked.iter().filter(|l| ours.contains(l)) {
            answered += 1;
            // Unicast to the asker (RFC 6762 §6.7: it asked from its own port).
            let _ = sock.send_to(&answer(l, port), from);
        }
    }
}

/// Ask the LAN for `label`; the first answer's address, or `None` after `wait`.
pub fn browse(label: &str, wait: Duration) -> Option<SocketAddr> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    let q = query(label);
    let deadline = Instant::now() + wait;
    let mut next_send = Instant::now();
    let mut gap = Duration::from_millis(25);
    let mut buf = [0u8; MAX_PACKET];
    while Instant::now() < deadline {
        if Instant::now() >= next_send {
            // Asked again after 25, 50, 100, 200 ms, then 3 times a second: a peer started at
            // the same moment is not up for the first query, and a query can be lost.
            let _ = sock.send_to(&q, (GROUP, PORT));
            next_send = Instant::now() + gap;
            gap = (gap * 2).min(Duration::from_millis(330));
        }
        let left = deadline.saturating_duration_since(Instant::now()).min(next_send - Instant::now());
        let _ = sock.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
        if let Ok(Some(port)) = parse_answer(&buf[..n], label) {
            return Some(SocketAddr::new(from.ip(), port));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_answer_round_trip_with_exact_bytes() {
        let q = query("c-abandon");
        let mut want = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9];
        want.extend_from_slice(b"c-abandon");
        want.extend_from_slice(b"\x04_pcp\x04_udp\x05local\x00\x00\x21\x80\x01");
        assert_eq!(q, want);
        assert_eq!(parse_query(&q).unwrap(), ["c-abandon"]);
        let a = answer("c-abandon", 7000);
        assert_eq!(parse_answer(&a, "c-abandon").unwrap(), Some(7000));
        assert_eq!(parse_answer(&a, "c-other").unwrap(), None);
        // A query is no answer and an answer no query.
        assert_eq!(parse_answer(&q, "c-abandon").unwrap(), None);
        assert!(parse_query(&a).unwrap().is_empty());
    }

    #[test]
    fn hostile_packets_are_refused_not_followed() {
        // A pointer to itself: a loop.
        let mut p = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1]);
        assert!(parse_query(&p).is_err());
        // Counts beyond the packet, truncation anywhere.
        let mut big = vec![0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
        big.push(0);
        assert!(parse_query(&big).is_err());
        let a = answer("p-00", 1);
        for n in 0..a.len() {
            assert!(parse_answer(&a[..n], "p-00").unwrap_or(None).is_none(), "truncated at {n}");
        }
        // Other services and nested labels are not ours.
        assert_eq!(our_label("x._pcp._udp.local"), Some("x"));
        assert_eq!(our_label("a.b._pcp._udp.local"), None);
        assert_eq!(our_label("x._ssh._tcp.local"), None);
    }

    #[test]
    fn pair_tokens_change_daily_and_depend_on_the_psk() {
        let k = Key::<PairPsk>::from_bytes([7; 32]);
        let (a, b) = (pair_label(&k, 20_000), pair_label(&k, 20_001));
        assert_ne!(a, b);
        assert_eq!(a, pair_label(&k, 20_000));
        assert_ne!(a, pair_label(&Key::from_bytes([8; 32]), 20_000));
        assert_eq!(a.len(), 2 + 32);
        assert!(a.starts_with("p-") && a.len() <= 63);
    }
}
