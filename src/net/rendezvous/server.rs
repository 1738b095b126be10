//! The rendezvous server's core, sans-IO: datagrams and times in, datagrams and events out
//! (`cmd::rendezvous` drives it over a UDP socket).
//!
//! - A listener registers its tokens; the server keeps each for [`REGISTRATION_TTL`] unless
//!   renewed, and answers with the address it sees the listener at (reflexive, as STUN).
//! - A dialer looks a token up; the server introduces the two: each gets the other's observed
//!   address and one random session number their punches carry. A code's channel is deleted
//!   on the introduction (one receiver per channel); a pairing's token stays.
//! - Limits: per source IP a token bucket of requests and a cap on tokens, a cap on tokens
//!   in all; over any, the answer is `Busy` (at most one per second per source, so a flood is
//!   not answered in kind), never a hang for the others.
//!
//! The server sees tokens (hashes of a public channel word or of a daily pairing token) and
//! the addresses it observes, never a secret word, a key, a file name or a private address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::messages::{decode, encode, Lifetime, Message, Token};

/// How long a registration lives without a renewal (listeners renew every 10 s).
pub const REGISTRATION_TTL: Duration = Duration::from_secs(30);
/// How long an introduction may still ask for a relay.
pub const INTRODUCTION_TTL: Duration = Duration::from_secs(30);
/// Introductions remembered at once (for relay requests).
const MAX_INTRODUCTIONS: usize = 4096;
/// A lookup for a token nobody holds yet waits this long for its listener to register (a
/// receiver started at the same moment as the sender is introduced the moment the sender
/// registers, not at its next lookup).
pub const PENDING_TTL: Duration = Duration::from_secs(3);
/// Lookups waiting at once.
const MAX_PENDING: usize = 4096;

/// The server's limits (`pcp rendezvous` flags set some).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Tokens registered in all.
    pub max_tokens: usize,
    /// Tokens one source IP may hold.
    pub per_ip_tokens: usize,
    /// Requests per second per source IP, sustained, and the burst above it.
    pub rate: f64,
    pub burst: f64,
    /// Source IPs tracked for rate limiting at once.
    pub max_sources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_tokens: 100_000, per_ip_tokens: 256, rate: 20.0, burst: 40.0, max_sources: 65_536 }
    }
}

struct Registration {
    addr: SocketAddr,
    life: Lifetime,
    expires: Instant,
    /// The listener registered relay-only: no addresses in its introductions.
    relay_only: bool,
}

struct Source {
    credit: f64,
    last: Instant,
    last_busy: Option<Instant>,
}

/// What the server did, for its log (`--json`: one line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Two peers were introduced under a token.
    Introduced { token: Token, listener: SocketAddr, dialer: SocketAddr },
    /// A source was refused for a limit.
    Busy { from: SocketAddr },
    /// The dialer of an introduction asks for a relay: open one and call
    /// [`Server::relay_ready`] with its port (or refuse with [`Server::relay_refused`]).
    RelayWanted { session: u64, listener: SocketAddr, dialer: SocketAddr },
}

struct Introduction {
    listener: SocketAddr,
    dialer: SocketAddr,
    at: Instant,
    /// The relay's port, once open.
    relay: Option<u16>,
}

/// Counters for `--json` stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub registrations: u64,
    pub lookups: u64,
    pub introductions: u64,
    pub busy: u64,
    pub malformed: u64,
}

pub struct Server {
    limits: Limits,
    regs: HashMap<Token, Registration>,
    /// Tokens per registering address (a Register replaces its address's earlier set).
    by_addr: HashMap<SocketAddr, Vec<Token>>,
    per_ip: HashMap<IpAddr, usize>,
    sources: HashMap<IpAddr, Source>,
    intros: HashMap<u64, Introduction>,
    /// Lookups waiting for their token: the dialer, relay-only, until when.
    pending: HashMap<Token, (SocketAddr, bool, Instant)>,
    rng: Box<dyn FnMut() -> u64 + Send>,
    pub counters: Counters,
}

/// Datagrams to send: (destination, bytes).
pub type Out = Vec<(SocketAddr, Vec<u8>)>;

impl Server {
    /// `rng` gives the session numbers (the caller seeds it from the OS).
    pub fn new(limits: Limits, rng: Box<dyn FnMut() -> u64 + Send>) -> Self {
        Self {
            limits,
            regs: HashMap::new(),
            by_addr: HashMap::new(),
            per_ip: HashMap::new(),
            sources: HashMap::new(),
            intros: HashMap::new(),
            pending: HashMap::new(),
            rng,
            counters: Counters::default(),
        }
    }

    /// Tokens registered now.
    pub fn registered(&self) -> usize {
        self.regs.len()
    }

    /// One datagram from `from` at `now`.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> (Out, Option<Event>) {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        let Ok(msg) = decode(bytes) else {
            self.counters.malformed += 1;
            return (Vec::new(), None);
        };
        match self.admit(now, from.ip()) {
            Admit::Yes => {}
            Admit::Busy => return self.busy(from),
            Admit::Silent => return (Vec::new(), None),
        }
        match msg {
            Message::Register { tokens, relay_only } => self.register(now, from, &tokens, relay_only),
            Message::Lookup { token, relay_only } => self.lookup(now, from, token, relay_only),
            Message::RelayRequest { session } => self.relay_request(from, session),
            // Only peers send the others.
            _ => (Vec::new(), None),
        }
    }

    fn busy(&mut self, from: SocketAddr) -> (Out, Option<Event>) {
        self.counters.busy += 1;
        (vec![(from, encode(&Message::Busy))], Some(Event::Busy { from }))
    }

    fn admit(&mut self, now: Instant, ip: IpAddr) -> Admit {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.limits.max_sources {
            // Forget sources whose bucket has refilled: they are as good as new.
            let (rate, burst) = (self.limits.rate, self.limits.burst);
            self.sources.retain(|_, s| s.credit + rate * now.saturating_duration_since(s.last).as_secs_f64() < burst);
            if self.sources.len() >= self.limits.max_sources {
                return Admit::Silent;
            }
        }
        let s = self.sources.entry(ip).or_insert(Source { credit: self.limits.burst, last: now, last_busy: None });
        let dt = now.saturating_duration_since(s.last).as_secs_f64();
        s.credit = (s.credit + dt * self.limits.rate).min(self.limits.burst);
        s.last = now;
        if s.credit >= 1.0 {
            s.credit -= 1.0;
            return Admit::Yes;
        }
        // Over the rate: say so at most once a second.
        if s.last_busy.is_some_and(|b| now.saturating_duration_since(b) < Duration::from_secs(1)) {
            return Admit::Silent;
        }
        s.last_busy = Some(now);
        Admit::Busy
    }

    fn register(
        &mut self,
        now: Instant,
        from: SocketAddr,
        tokens: &[(Lifetime, Token)],
        relay_only: bool,
    ) -> (Out, Option<Event>) {
        self.counters.registrations += 1;
        self.expire(now);
        // The new set replaces what this address registered before.
        let old = self.by_addr.remove(&from).unwrap_or_default();
        for t in old.iter().filter(|t| !tokens.iter().any(|(_, n)| n == *t)) {
            self.drop_token(t);
        }
        let mut accepted = 0u8;
        let mut kept = Vec::new();
        let mut refused = false;
        for (life, t) in tokens {
            if let Some(r) = self.regs.get_mut(t) {
                // First come keeps a token; the same host may take it over (a restart on a new
                // port), as may anyone once it has expired.
                if r.addr == from || r.addr.ip() == from.ip() {
                    if r.addr != from {
                        let prior = r.addr;
                        r.addr = from;
                        if let Some(v) = self.by_addr.get_mut(&prior) {
                            v.retain(|x| x != t);
                        }
                    }
                    r.expires = now + REGISTRATION_TTL;
                    r.life = *life;
                    r.relay_only = relay_only;
                    kept.push(*t);
                    accepted += 1;
                }
                continue;
            }
            let ip_count = self.per_ip.get(&from.ip()).copied().unwrap_or(0);
            if self.regs.len() >= self.limits.max_tokens || ip_count >= self.limits.per_ip_tokens {
                refused = true;
                continue;
            }
            self.regs.insert(*t, Registration { addr: from, life: *life, expires: now + REGISTRATION_TTL, relay_only });
            *self.per_ip.entry(from.ip()).or_insert(0) += 1;
            kept.push(*t);
            accepted += 1;
        }
        let mut out = vec![(from, encode(&Message::Registered { observed: from, accepted }))];
        let mut event = None;
        // Dialers that looked a token up before its listener came: introduce them now.
        for t in &kept {
            if let Some((dialer, relay_only, until)) = self.pending.remove(t) {
                if until > now {
                    let (o, e) = self.introduce(now, *t, from, dialer, relay_only);
                    out.extend(o);
                    event = event.or(e);
                }
            }
        }
        if !kept.is_empty() {
            self.by_addr.insert(from, kept);
        }
        if refused && accepted == 0 && !tokens.is_empty() {
            return self.busy(from);
        }
        (out, event)
    }

    fn relay_request(&mut self, from: SocketAddr, session: u64) -> (Out, Option<Event>) {
        let Some(i) = self.intros.get(&session).filter(|i| i.dialer == from) else {
            return (Vec::new(), None);
        };
        match i.relay {
            // A repeated request: the answer was lost.
            Some(port) => (vec![(from, encode(&Message::RelayReady { session, port }))], None),
            None => (Vec::new(), Some(Event::RelayWanted { session, listener: i.listener, dialer: i.dialer })),
        }
    }

    /// The relay for `session` listens on `port`: tell both peers.
    pub fn relay_ready(&mut self, session: u64, port: u16) -> Out {
        let Some(i) = self.intros.get_mut(&session) else { return Vec::new() };
        i.relay = Some(port);
        let m = encode(&Message::RelayReady { session, port });
        vec![(i.dialer, m.clone()), (i.listener, m)]
    }

    /// No relay for `session` (too many open): the dialer hears `Busy`.
    pub fn relay_refused(&mut self, session: u64) -> Out {
        self.counters.busy += 1;
        self.intros.get(&session).map(|i| vec![(i.dialer, encode(&Message::Busy))]).unwrap_or_default()
    }

    fn lookup(&mut self, now: Instant, from: SocketAddr, token: Token, relay_only: bool) -> (Out, Option<Event>) {
        self.counters.lookups += 1;
        let live = self.regs.get(&token).filter(|r| r.expires > now).map(|r| r.addr);
        let Some(listener) = live else {
            if self.pending.len() >= MAX_PENDING {
                self.pending.retain(|_, p| p.2 > now);
            }
            if self.pending.len() < MAX_PENDING || self.pending.contains_key(&token) {
                self.pending.insert(token, (from, relay_only, now + PENDING_TTL));
            }
            return (vec![(from, encode(&Message::NotFound { token }))], None);
        };
        self.pending.remove(&token);
        self.introduce(now, token, listener, from, relay_only)
    }

    /// Introduce `dialer` to the `listener` holding `token`.
    fn introduce(
        &mut self,
        now: Instant,
        token: Token,
        listener: SocketAddr,
        from: SocketAddr,
        relay_only: bool,
    ) -> (Out, Option<Event>) {
        // Either side may ask that neither learns the other's address.
        let relay_only = relay_only || self.regs.get(&token).is_some_and(|r| r.relay_only);
        if self.regs.get(&token).is_some_and(|r| r.life == Lifetime::Once) {
            self.drop_token(&token);
            if let Some(v) = self.by_addr.get_mut(&listener) {
                v.retain(|x| *x != token);
            }
        }
        self.counters.introductions += 1;
        let session = (self.rng)();
        if self.intros.len() >= MAX_INTRODUCTIONS {
            self.intros.retain(|_, i| now.saturating_duration_since(i.at) < INTRODUCTION_TTL);
            if self.intros.len() >= MAX_INTRODUCTIONS {
                if let Some(k) = self.intros.iter().min_by_key(|(_, i)| i.at).map(|(k, _)| *k) {
                    self.intros.remove(&k);
                }
            }
        }
        self.intros.insert(session, Introduction { listener, dialer: from, at: now, relay: None });
        // relay_only: neither learns the other's address.
        let (to_dialer, to_listener) = if relay_only { (None, None) } else { (Some(listener), Some(from)) };
        let out = vec![
            (from, encode(&Message::Introduce { token, session, peer: to_dialer })),
            (listener, encode(&Message::Introduce { token, session, peer: to_listener })),
        ];
        (out, Some(Event::Introduced { token, listener, dialer: from }))
    }

    fn drop_token(&mut self, t: &Token) {
        if let Some(r) = self.regs.remove(t) {
            if let Some(n) = self.per_ip.get_mut(&r.addr.ip()) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(&r.addr.ip());
                }
            }
        }
    }

    /// Drop registrations and introductions past their time.
    pub fn expire(&mut self, now: Instant) {
        self.intros.retain(|_, i| now.saturating_duration_since(i.at) < INTRODUCTION_TTL);
        self.pending.retain(|_, p| p.2 > now);
        let dead: Vec<Token> = self.regs.iter().filter(|(_, r)| r.expires <= now).map(|(t, _)| *t).collect();
        for t in &dead {
            if let Some(addr) = self.regs.get(t).map(|r| r.addr) {
                if let Some(v) = self.by_addr.get_mut(&addr) {
                    v.retain(|x| x != t);
                    if v.is_empty() {
                        self.by_addr.remove(&addr);
                    }
                }
            }
            self.drop_token(t);
        }
    }
}

enum Admit {
    Yes,
    Busy,
    Silent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        let mut n = 0u64;
        Server::new(
            Limits::default(),
            Box::new(move || {
                n += 1;
                n
            }),
        )
    }

    fn reg(tokens: &[(Lifetime, Token)]) -> Vec<u8> {
        encode(&Message::Register { tokens: tokens.to_vec(), relay_only: false })
    }

    fn msgs(out: &Out) -> Vec<(SocketAddr, Message)> {
        out.iter().map(|(a, b)| (*a, decode(b).unwrap())).collect()
    }

    const L: &str = "198.51.100.1:4000";
    const D: &str = "203.0.113.9:5000";

    #[test]
    fn a_lookup_introduces_both_sides_with_their_observed_addresses() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        let (out, _) = s.handle(t0, l, &reg(&[(Lifetime::Lasting, [1; 16])]));
        assert_eq!(msgs(&out), vec![(l, Message::Registered { observed: l, accepted: 1 })]);
        let (out, ev) = s.handle(t0, d, &encode(&Message::Lookup { token: [1; 16], relay_only: false }));
        assert_eq!(
            msgs(&out),
            vec![
                (d, Message::Introduce { token: [1; 16], session: 1, peer: Some(l) }),
                (l, Message::Introduce { token: [1; 16], session: 1, peer: Some(d) }),
            ]
        );
        assert_eq!(ev, Some(Event::Introduced { token: [1; 16], listener: l, dialer: d }));
        // A pairing's token stays for the next reconnect.
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [1; 16], relay_only: false }));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_code_channel_has_one_receiver() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        s.handle(t0, l, &reg(&[(Lifetime::Once, [2; 16])]));
        assert_eq!(s.handle(t0, d, &encode(&Message::Lookup { token: [2; 16], relay_only: false })).0.len(), 2);
        let (out, _) = s.handle(
            t0,
            "203.0.113.10:1".parse().unwrap(),
            &encode(&Message::Lookup { token: [2; 16], relay_only: false }),
        );
        assert_eq!(msgs(&out)[0].1, Message::NotFound { token: [2; 16] });
    }

    #[test]
    fn registrations_expire_and_a_new_set_replaces_the_old() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        s.handle(t0, l, &reg(&[(Lifetime::Lasting, [1; 16]), (Lifetime::Lasting, [2; 16])]));
        s.handle(t0, l, &reg(&[(Lifetime::Lasting, [2; 16])]));
        assert_eq!(s.registered(), 1);
        let later = t0 + REGISTRATION_TTL + Duration::from_secs(1);
        let (out, _) = s.handle(later, d, &encode(&Message::Lookup { token: [2; 16], relay_only: false }));
        assert_eq!(msgs(&out)[0].1, Message::NotFound { token: [2; 16] });
        s.expire(later);
        assert_eq!(s.registered(), 0);
    }

    #[test]
    fn a_squatter_cannot_take_a_registered_token() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        s.handle(t0, l, &reg(&[(Lifetime::Once, [3; 16])]));
        let (out, _) = s.handle(t0, d, &reg(&[(Lifetime::Once, [3; 16])]));
        assert_eq!(msgs(&out)[0].1, Message::Registered { observed: d, accepted: 0 });
        let (out, _) = s.handle(
            t0,
            "192.0.2.5:9".parse().unwrap(),
            &encode(&Message::Lookup { token: [3; 16], relay_only: false }),
        );
        assert_eq!(msgs(&out)[0].1, Message::Introduce { token: [3; 16], session: 1, peer: Some(l) });
        // The same host on a new port (a restart) takes its token back.
        let l2: SocketAddr = "198.51.100.1:4001".parse().unwrap();
        s.handle(t0, l2, &reg(&[(Lifetime::Lasting, [4; 16])]));
        s.handle(t0, l, &reg(&[(Lifetime::Lasting, [4; 16])]));
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [4; 16], relay_only: false }));
        assert_eq!(msgs(&out)[0].1, Message::Introduce { token: [4; 16], session: 2, peer: Some(l) });
    }

    #[test]
    fn a_flood_from_one_source_is_refused_and_others_still_get_answers() {
        let mut s = server();
        let t0 = Instant::now();
        let flood: SocketAddr = "192.0.2.66:1000".parse().unwrap();
        let mut answered = 0;
        let mut busy = 0;
        for i in 0..10_000u32 {
            let mut t = [0u8; 16];
            t[..4].copy_from_slice(&i.to_be_bytes());
            let (out, _) = s.handle(t0, flood, &reg(&[(Lifetime::Once, t)]));
            for (_, m) in msgs(&out) {
                match m {
                    Message::Busy => busy += 1,
                    _ => answered += 1,
                }
            }
        }
        assert_eq!(answered, 40, "the burst");
        assert_eq!(busy, 1, "one Busy per second, not one per request");
        assert!(s.registered() <= 40);
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        s.handle(t0, l, &reg(&[(Lifetime::Lasting, [9; 16])]));
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [9; 16], relay_only: false }));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn token_caps_hold() {
        let mut s = Server::new(Limits { max_tokens: 3, per_ip_tokens: 2, ..Limits::default() }, Box::new(|| 0));
        let t0 = Instant::now();
        let a: SocketAddr = L.parse().unwrap();
        let (out, _) =
            s.handle(t0, a, &reg(&[(Lifetime::Once, [1; 16]), (Lifetime::Once, [2; 16]), (Lifetime::Once, [3; 16])]));
        assert_eq!(msgs(&out)[0].1, Message::Registered { observed: a, accepted: 2 });
        let b: SocketAddr = D.parse().unwrap();
        s.handle(t0, b, &reg(&[(Lifetime::Once, [4; 16])]));
        let (out, _) = s.handle(t0, "192.0.2.1:1".parse().unwrap(), &reg(&[(Lifetime::Once, [5; 16])]));
        assert_eq!(msgs(&out)[0].1, Message::Busy);
    }

    #[test]
    fn a_relay_only_listener_is_introduced_without_addresses_either_way() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        let relay_only = encode(&Message::Register { tokens: vec![(Lifetime::Lasting, [8; 16])], relay_only: true });
        s.handle(t0, l, &relay_only);
        // The dialer did not ask for relay-only; the listener did.
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [8; 16], relay_only: false }));
        assert_eq!(
            msgs(&out),
            vec![
                (d, Message::Introduce { token: [8; 16], session: 1, peer: None }),
                (l, Message::Introduce { token: [8; 16], session: 1, peer: None }),
            ]
        );
        // A renewal without the flag gives the addresses again.
        s.handle(t0, l, &reg(&[(Lifetime::Lasting, [8; 16])]));
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [8; 16], relay_only: false }));
        assert_eq!(msgs(&out)[0].1, Message::Introduce { token: [8; 16], session: 2, peer: Some(l) });
    }

    #[test]
    fn only_the_introduced_dialer_gets_a_relay_and_relay_only_hides_both_addresses() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        s.handle(t0, l, &reg(&[(Lifetime::Lasting, [1; 16])]));
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [1; 16], relay_only: true }));
        assert_eq!(
            msgs(&out),
            vec![
                (d, Message::Introduce { token: [1; 16], session: 1, peer: None }),
                (l, Message::Introduce { token: [1; 16], session: 1, peer: None }),
            ]
        );
        // Someone else naming the session gets nothing.
        let other: SocketAddr = "192.0.2.99:1".parse().unwrap();
        assert_eq!(s.handle(t0, other, &encode(&Message::RelayRequest { session: 1 })), (vec![], None));
        let (out, ev) = s.handle(t0, d, &encode(&Message::RelayRequest { session: 1 }));
        assert!(out.is_empty());
        assert_eq!(ev, Some(Event::RelayWanted { session: 1, listener: l, dialer: d }));
        let out = s.relay_ready(1, 7001);
        assert_eq!(
            msgs(&out),
            vec![
                (d, Message::RelayReady { session: 1, port: 7001 }),
                (l, Message::RelayReady { session: 1, port: 7001 }),
            ]
        );
        // A repeated request is answered again, with no second relay.
        let (out, ev) = s.handle(t0, d, &encode(&Message::RelayRequest { session: 1 }));
        assert_eq!(msgs(&out), vec![(d, Message::RelayReady { session: 1, port: 7001 })]);
        assert_eq!(ev, None);
        s.expire(t0 + INTRODUCTION_TTL);
        assert_eq!(s.handle(t0 + INTRODUCTION_TTL, d, &encode(&Message::RelayRequest { session: 1 })).1, None);
    }

    #[test]
    fn a_lookup_before_the_listener_registers_is_introduced_when_it_does() {
        let (l, d): (SocketAddr, SocketAddr) = (L.parse().unwrap(), D.parse().unwrap());
        let mut s = server();
        let t0 = Instant::now();
        let (out, _) = s.handle(t0, d, &encode(&Message::Lookup { token: [6; 16], relay_only: false }));
        assert_eq!(msgs(&out), vec![(d, Message::NotFound { token: [6; 16] })]);
        let (out, ev) = s.handle(t0 + Duration::from_millis(100), l, &reg(&[(Lifetime::Once, [6; 16])]));
        assert_eq!(
            msgs(&out),
            vec![
                (l, Message::Registered { observed: l, accepted: 1 }),
                (d, Message::Introduce { token: [6; 16], session: 1, peer: Some(l) }),
                (l, Message::Introduce { token: [6; 16], session: 1, peer: Some(d) }),
            ]
        );
        assert!(matches!(ev, Some(Event::Introduced { .. })));
        // The code's channel is used up; a late lookup no longer waits past its time.
        assert_eq!(s.registered(), 0);
        s.handle(t0, d, &encode(&Message::Lookup { token: [7; 16], relay_only: false }));
        let (out, _) = s.handle(t0 + PENDING_TTL, l, &reg(&[(Lifetime::Once, [7; 16])]));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn garbage_and_peer_messages_get_no_answer() {
        let mut s = server();
        let t0 = Instant::now();
        let a: SocketAddr = L.parse().unwrap();
        assert!(s.handle(t0, a, b"\xc0quic").0.is_empty());
        assert!(s.handle(t0, a, &encode(&Message::Punch { session: 1 })).0.is_empty());
        assert_eq!(s.counters.malformed, 1);
    }
}
