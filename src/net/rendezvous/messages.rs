//! The rendezvous wire format (docs/protocol.md, "Rendezvous"): one UDP datagram per message,
//! on the same socket as QUIC, told apart from QUIC packets by its first byte (0x00: QUIC
//! packets have the fixed bit 0x40 set, and pcp's endpoints never grease it) and a magic.
//!
//! ```text
//! 0x00 'p' 'c' 'r'  version (1)  type  body
//! ```
//!
//! Sans-IO and capped: at most [`MAX_MESSAGE`] bytes, at most [`MAX_TOKENS`] tokens, no
//! trailing bytes; anything else is [`Malformed`] and ignored by whoever receives it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The first four bytes of every rendezvous message.
pub const MAGIC: [u8; 4] = [0x00, b'p', b'c', b'r'];
/// The format's version.
pub const VERSION: u8 = 1;
/// Largest message.
pub const MAX_MESSAGE: usize = 1024;
/// Most tokens one Register carries.
pub const MAX_TOKENS: usize = 48;

/// What a peer waits under: 16 bytes derived from its mDNS label (a code's public channel word
/// or a pairing's daily token; never a secret word or a key).
pub type Token = [u8; 16];

/// The token of a label (net::mdns's `c-WORD` / `p-HEX`).
pub fn token(label: &str) -> Token {
    let h = blake3::derive_key("pcp/1 rendezvous token", label.as_bytes());
    let mut t = [0u8; 16];
    t.copy_from_slice(&h[..16]);
    t
}

/// A short, public name of a token for logs (its first 4 bytes in hex).
pub fn token_name(t: &Token) -> String {
    t[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// How long a registration lives at the server unless renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// A code's channel: deleted once a dialer is introduced (one receiver per channel).
    Once,
    /// A pairing's token: stays for every reconnect.
    Lasting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Listener → server: reach me under these tokens (replaces what this address registered).
    /// `relay_only` (type 13 instead of 1): never give my address to a dialer, nor its to me.
    Register { tokens: Vec<(Lifetime, Token)>, relay_only: bool },
    /// Server → listener: registered; the address the server sees you at.
    Registered { observed: SocketAddr, accepted: u8 },
    /// Dialer → server: who waits under this token? (`relay_only`: tell neither side the
    /// other's address; meet through the relay.)
    Lookup { token: Token, relay_only: bool },
    /// Server → both: punch towards `peer` (none: relay only), proving it with `session`.
    Introduce { token: Token, session: u64, peer: Option<SocketAddr> },
    /// Server → dialer: nobody waits under this token.
    NotFound { token: Token },
    /// Server → anyone: over a limit; try later.
    Busy,
    /// Peer → peer: opens the NATs on the way.
    Punch { session: u64 },
    /// Peer → peer: a punch arrived (sent to where it came from).
    PunchAck { session: u64 },
    /// Dialer → server: open a relay for this introduction.
    RelayRequest { session: u64 },
    /// Server → both: the relay for `session` listens on `port` (at the server's address).
    RelayReady { session: u64, port: u16 },
    /// Peer → relay port: this socket is my end of `session`.
    RelayBind { session: u64 },
    /// Relay → peer: bound; QUIC datagrams sent here now reach the other end.
    RelayBound { session: u64 },
}

/// A message that does not parse (ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed rendezvous message: {}", self.0)
    }
}

/// Whether a datagram is a rendezvous message rather than a QUIC packet.
pub fn is_control(datagram: &[u8]) -> bool {
    datagram.len() >= MAGIC.len() + 2 && datagram[..MAGIC.len()] == MAGIC
}

fn put_addr(out: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip().to_canonical() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

/// Encode a message.
pub fn encode(m: &Message) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    match m {
        Message::Register { tokens, relay_only } => {
            out.push(if *relay_only { 13 } else { 1 });
            let n = tokens.len().min(MAX_TOKENS);
            out.push(n as u8);
            for (life, t) in &tokens[..n] {
                out.push(match life {
                    Lifetime::Once => 0,
                    Lifetime::Lasting => 1,
                });
                out.extend_from_slice(t);
            }
        }
        Message::Registered { observed, accepted } => {
            out.push(2);
            put_addr(&mut out, observed);
            out.push(*accepted);
        }
        Message::Lookup { token, relay_only } => {
            out.push(3);
            out.extend_from_slice(token);
            out.push(u8::from(*relay_only));
        }
        Message::Introduce { token, session, peer } => {
            out.push(4);
            out.extend_from_slice(token);
            out.extend_from_slice(&session.to_be_bytes());
            match peer {
                Some(p) => put_addr(&mut out, p),
                None => out.push(0),
            }
        }
        Message::NotFound { token } => {
            out.push(5);
            out.extend_from_slice(token);
        }
        Message::Busy => out.push(6),
        Message::Punch { session } => {
            out.push(7);
            out.extend_from_slice(&session.to_be_bytes());
        }
        Message::PunchAck { session } => {
            out.push(8);
            out.extend_from_slice(&session.to_be_bytes());
        }
        Message::RelayRequest { session } => {
            out.push(9);
            out.extend_from_slice(&session.to_be_bytes());
        }
        Message::RelayReady { session, port } => {
            out.push(10);
            out.extend_from_slice(&session.to_be_bytes());
            out.extend_from_slice(&port.to_be_bytes());
        }
        Message::RelayBind { session } => {
            out.push(11);
            out.extend_from_slice(&session.to_be_bytes());
        }
        Message::RelayBound { session } => {
            out.push(12);
            out.extend_from_slice(&session.to_be_bytes());
        }
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
    fn token(&mut self) -> Result<Token, Malformed> {
        let mut t = [0u8; 16];
        t.copy_from_slice(self.take(16)?);
        Ok(t)
    }
    fn addr(&mut self) -> Result<SocketAddr, Malformed> {
        let ip = match self.u8()? {
            4 => {
                let mut b = [0u8; 4];
                b.copy_from_slice(self.take(4)?);
                IpAddr::V4(Ipv4Addr::from(b))
            }
            6 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(self.take(16)?);
                let ip = Ipv6Addr::from(b);
                // One encoding per address: an IPv4 address is sent as family 4.
                if ip.to_ipv4_mapped().is_some() {
                    return Err(Malformed("IPv4-mapped address in family 6"));
                }
                IpAddr::V6(ip)
            }
            _ => return Err(Malformed("unknown address family")),
        };
        let mut p = [0u8; 2];
        p.copy_from_slice(self.take(2)?);
        let port = u16::from_be_bytes(p);
        if port == 0 || ip.is_unspecified() || ip.is_multicast() {
            return Err(Malformed("unusable address"));
        }
        Ok(SocketAddr::new(ip, port))
    }
}

/// Decode a message.
pub fn decode(p: &[u8]) -> Result<Message, Malformed> {
    if p.len() > MAX_MESSAGE {
        return Err(Malformed("too long"));
    }
    if !is_control(p) {
        return Err(Malformed("not a rendezvous message"));
    }
    let mut r = Reader(&p[MAGIC.len()..]);
    if r.u8()? != VERSION {
        return Err(Malformed("unknown version"));
    }
    let m = match r.u8()? {
        t @ (1 | 13) => {
            let n = r.u8()? as usize;
            if n > MAX_TOKENS {
                return Err(Malformed("too many tokens"));
            }
            if r.0.len() != n * 17 {
                return Err(Malformed("token count does not match the length"));
            }
            let mut tokens = Vec::with_capacity(n);
            for _ in 0..n {
                let life = match r.u8()? {
                    0 => Lifetime::Once,
                    1 => Lifetime::Lasting,
                    _ => return Err(Malformed("unknown lifetime")),
                };
                tokens.push((life, r.token()?));
            }
            Message::Register { tokens, relay_only: t == 13 }
        }
        2 => Message::Registered { observed: r.addr()?, accepted: r.u8()? },
        3 => {
            let token = r.token()?;
            let relay_only = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(Malformed("unknown lookup flag")),
            };
            Message::Lookup { token, relay_only }
        }
        4 => {
            let (token, session) = (r.token()?, r.u64()?);
            let peer = if r.0.first() == Some(&0) {
                r.u8()?;
                None
            } else {
                Some(r.addr()?)
            };
            Message::Introduce { token, session, peer }
        }
        5 => Message::NotFound { token: r.token()? },
        6 => Message::Busy,
        7 => Message::Punch { session: r.u64()? },
        8 => Message::PunchAck { session: r.u64()? },
        9 => Message::RelayRequest { session: r.u64()? },
        10 => {
            let session = r.u64()?;
            let mut p = [0u8; 2];
            p.copy_from_slice(r.take(2)?);
            let port = u16::from_be_bytes(p);
            if port == 0 {
                return Err(Malformed("unusable address"));
            }
            Message::RelayReady { session, port }
        }
        11 => Message::RelayBind { session: r.u64()? },
        12 => Message::RelayBound { session: r.u64()? },
        _ => return Err(Malformed("unknown type")),
    };
    if !r.0.is_empty() {
        return Err(Malformed("trailing bytes"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message> {
        let a: SocketAddr = "203.0.113.7:4000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        vec![
            Message::Register {
                tokens: vec![(Lifetime::Once, [1; 16]), (Lifetime::Lasting, [2; 16])],
                relay_only: false,
            },
            Message::Register { tokens: vec![], relay_only: false },
            Message::Register { tokens: vec![(Lifetime::Lasting, [3; 16])], relay_only: true },
            Message::Registered { observed: a, accepted: 2 },
            Message::Lookup { token: [3; 16], relay_only: false },
            Message::Lookup { token: [3; 16], relay_only: true },
            Message::Introduce { token: [4; 16], session: 0x0102_0304_0506_0708, peer: Some(b) },
            Message::Introduce { token: [4; 16], session: 1, peer: None },
            Message::NotFound { token: [5; 16] },
            Message::Busy,
            Message::Punch { session: 7 },
            Message::PunchAck { session: u64::MAX },
            Message::RelayRequest { session: 3 },
            Message::RelayReady { session: 3, port: 7001 },
            Message::RelayBind { session: 3 },
            Message::RelayBound { session: 3 },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in all() {
            let b = encode(&m);
            assert!(is_control(&b));
            assert_eq!(decode(&b), Ok(m));
        }
    }

    #[test]
    fn exact_bytes() {
        let m = Message::Registered { observed: "192.0.2.1:258".parse().unwrap(), accepted: 3 };
        assert_eq!(encode(&m), [0, b'p', b'c', b'r', 1, 2, 4, 192, 0, 2, 1, 1, 2, 3]);
        assert_eq!(encode(&Message::Punch { session: 1 }), [0, b'p', b'c', b'r', 1, 7, 0, 0, 0, 0, 0, 0, 0, 1]);
        // A mapped IPv6 address is sent as the IPv4 address it is.
        let m = Message::Registered { observed: "[::ffff:192.0.2.1]:258".parse().unwrap(), accepted: 3 };
        assert_eq!(encode(&m)[6], 4);
        let m = Message::Register { tokens: vec![(Lifetime::Lasting, [7; 16])], relay_only: true };
        let mut want = vec![0, b'p', b'c', b'r', 1, 13, 1, 1];
        want.extend([7; 16]);
        assert_eq!(encode(&m), want);
    }

    #[test]
    fn quic_packets_are_not_control() {
        // Long header (Initial) and short header: both have 0x40 set.
        assert!(!is_control(&[0xc0, b'p', b'c', b'r', 1, 2]));
        assert!(!is_control(&[0x40, b'p', b'c', b'r', 1, 2]));
        assert!(!is_control(&[0x00, b'p', b'c']));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let mut long = encode(&Message::Busy);
        long.resize(MAX_MESSAGE + 1, 0);
        assert_eq!(decode(&long), Err(Malformed("too long")));
        let mut trailing = encode(&Message::Busy);
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(Malformed("trailing bytes")));
        let mut reg = encode(&Message::Register { tokens: vec![(Lifetime::Once, [1; 16])], relay_only: false });
        reg[6] = 2; // claims two tokens, carries one
        assert!(decode(&reg).is_err());
        let mut many = MAGIC.to_vec();
        many.extend_from_slice(&[1, 1, (MAX_TOKENS + 1) as u8]);
        many.resize(many.len() + (MAX_TOKENS + 1) * 17, 1);
        assert_eq!(decode(&many), Err(Malformed("too many tokens")));
        let mut v = encode(&Message::Busy);
        v[4] = 2;
        assert_eq!(decode(&v), Err(Malformed("unknown version")));
        let mut mapped = vec![0, b'p', b'c', b'r', 1, 2, 6];
        mapped.extend_from_slice(&"::ffff:192.0.2.1".parse::<Ipv6Addr>().unwrap().octets());
        mapped.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode(&mapped), Err(Malformed("IPv4-mapped address in family 6")));
        let zero_port = [0, b'p', b'c', b'r', 1, 2, 4, 192, 0, 2, 1, 0, 0, 3];
        assert_eq!(decode(&zero_port), Err(Malformed("unusable address")));
        for m in all() {
            let b = encode(&m);
            for cut in 0..b.len() {
                assert!(decode(&b[..cut]).is_err(), "{m:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn tokens_differ_by_label_and_carry_no_label_text() {
        assert_ne!(token("c-apple"), token("c-apply"));
        assert_eq!(token("c-apple"), token("c-apple"));
        assert!(!token("c-apple").windows(5).any(|w| w == b"apple"));
    }
}
