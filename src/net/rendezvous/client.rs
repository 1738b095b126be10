//! The peers' side of the rendezvous, over the endpoint's own socket (net::demux), so the
//! address the server observes and the holes punched are those QUIC then uses.
//!
//! - A listener runs an [`Agent`]: it registers its tokens at once and every
//!   [`REGISTER_EVERY`] (which also keeps its NAT's mapping towards the server alive), and on
//!   an introduction punches towards the dialer's observed address until a punch from the
//!   dialer arrives; every punch it receives it answers to the address it came from
//!   (peer-reflexive: behind some NATs the only address that works).
//! - A dialer calls [`find`]: it looks the token up, punches towards the listener, and returns
//!   the address the listener's punch or answer came from, the one to dial.
//!
//! Punches are bounded: one every [`PUNCH_EVERY`] for at most [`PUNCH_TIME`], per
//! introduction, and a listener punches for at most [`MAX_SESSIONS`] introductions at once.
//! A dialer that went through the relay while a peer address was known keeps punching in the
//! background (every [`LATE_PUNCH_EVERY`] after the first [`PUNCH_TIME`], until
//! [`LATE_PUNCH_TIME`] after the introduction); the first punch that comes through upgrades
//! the connection to the direct path (net::demux, "Upgrades"), so a slow punch never delays
//! the first byte and does not leave it on the relay either. A listener answers punches of an
//! introduction for as long.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::messages::{decode, encode, Lifetime, Message, Token};
use crate::net::demux::{Control, Datagram};

/// How often a listener renews its registration (the server keeps it 30 s).
pub const REGISTER_EVERY: Duration = Duration::from_secs(10);
/// How often a listener retries until the server first answers.
const REGISTER_RETRY: Duration = Duration::from_millis(500);
/// How often a listener looks for a changed set of tokens (a new code, a new pairing), which
/// it registers at once.
const TOKENS_EVERY: Duration = Duration::from_secs(1);
/// One punch every this long...
pub const PUNCH_EVERY: Duration = Duration::from_millis(20);
/// ...for at most this long.
pub const PUNCH_TIME: Duration = Duration::from_millis(2500);
/// A relayed dialer keeps punching this long after the introduction...
pub const LATE_PUNCH_TIME: Duration = Duration::from_secs(10);
/// ...once every this long after the first `PUNCH_TIME`.
pub const LATE_PUNCH_EVERY: Duration = Duration::from_millis(250);
/// Introductions a listener punches for at once.
pub const MAX_SESSIONS: usize = 32;
/// How often a dialer repeats its lookup while no answer came.
const LOOKUP_EVERY: Duration = Duration::from_millis(250);
/// A server silent this long is not there.
const NO_ANSWER_WAIT: Duration = Duration::from_secs(3);

/// Canonical form (an IPv4 peer on a dual-stack socket is an IPv4-mapped address).
fn canon(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Relay addresses a listener keeps (to tell relayed connections from direct ones).
const MAX_RELAYS_KEPT: usize = 64;

/// A listener's registration, alive while this value is.
pub struct Agent {
    task: tokio::task::JoinHandle<()>,
    relays: Arc<std::sync::Mutex<std::collections::VecDeque<SocketAddr>>>,
}

impl Agent {
    /// Whether `addr` is a relay this listener bound to (a connection from there is relayed).
    pub fn is_relay(&self, addr: SocketAddr) -> bool {
        self.relay_set().contains(addr)
    }

    /// The relays this listener bound, as they change.
    pub fn relay_set(&self) -> RelaySet {
        RelaySet(self.relays.clone())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a listener registers: called before each registration (a code renews, pairings
/// change, days pass).
pub type Tokens = Box<dyn Fn() -> Vec<(Lifetime, Token)> + Send + Sync>;

/// Start a listener's agent on the current runtime; the receiver gets the address the server
/// first sees this socket at. `None` when the endpoint's control datagrams are already taken.
pub fn start(
    control: Arc<Control>,
    server: SocketAddr,
    tokens: Tokens,
    relay_only: bool,
) -> Option<(Agent, oneshot::Receiver<SocketAddr>)> {
    let rx = control.take_receiver()?;
    let (tx, first) = oneshot::channel();
    let relays = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let task = tokio::spawn(agent(control, rx, canon(server), tokens, tx, relays.clone(), relay_only));
    Some((Agent { task, relays }, first))
}

/// One introduction a listener takes part in.
struct Session {
    /// Where to punch (none: the dialer asked for the relay only).
    peer: Option<SocketAddr>,
    /// Answer its punches until then (a relayed dialer punches late: LATE_PUNCH_TIME)...
    until: Instant,
    /// ...and punch until then.
    punch_until: Instant,
    /// A punch came from the dialer: both NATs are open, stop punching.
    punched: bool,
    /// The relay the server opened for it, and whether it confirmed our end.
    relay: Option<(SocketAddr, bool)>,
}

async fn agent(
    control: Arc<Control>,
    mut rx: mpsc::Receiver<Datagram>,
    server: SocketAddr,
    tokens: Tokens,
    first: oneshot::Sender<SocketAddr>,
    relays: Arc<std::sync::Mutex<std::collections::VecDeque<SocketAddr>>>,
    relay_only: bool,
) {
    let mut first = Some(first);
    let mut next_register = Instant::now();
    let mut registered = Vec::new();
    let mut next_tokens = Instant::now() + TOKENS_EVERY;
    let mut sessions: HashMap<u64, Session> = HashMap::new();
    let mut tick = tokio::time::interval(PUNCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                if now >= next_tokens {
                    next_tokens = now + TOKENS_EVERY;
                    if tokens() != registered {
                        next_register = now;
                    }
                }
                if now >= next_register {
                    registered = tokens();
                    control.send(server, &encode(&Message::Register { tokens: registered.clone(), relay_only }));
                    next_register = now + if first.is_some() { REGISTER_RETRY } else { REGISTER_EVERY };
                }
                sessions.retain(|_, p| p.until > now);
                for (session, p) in &sessions {
                    if let (Some(peer), false, true) = (p.peer, p.punched, now < p.punch_until) {
                        control.send(peer, &encode(&Message::Punch { session: *session }));
                    }
                    if let (Some((relay, false)), true) = (p.relay, now < p.punch_until) {
                        control.send(relay, &encode(&Message::RelayBind { session: *session }));
                    }
                }
            }
            d = rx.recv() => {
                let Some((from, bytes)) = d else { return };
                let from = canon(from);
                let Ok(msg) = decode(&bytes) else { continue };
                match msg {
                    Message::Registered { observed, .. } if from == server => {
                        if let Some(tx) = first.take() {
                            let _ = tx.send(observed);
                            next_register = Instant::now() + REGISTER_EVERY;
                        }
                    }
                    Message::Introduce { session, peer, .. } if from == server => {
                        if sessions.len() >= MAX_SESSIONS {
                            // The oldest introduction gives way.
                            if let Some(k) = sessions.iter().min_by_key(|(_, p)| p.until).map(|(k, _)| *k) {
                                sessions.remove(&k);
                            }
                        }
                        let peer = peer.map(canon);
                        if let Some(p) = peer {
                            control.send(p, &encode(&Message::Punch { session }));
                        }
                        let now = Instant::now();
                        let (until, punch_until) = (now + LATE_PUNCH_TIME, now + PUNCH_TIME);
                        sessions.insert(session, Session { peer, until, punch_until, punched: false, relay: None });
                    }
                    Message::RelayReady { session, port } if from == server => {
                        if let Some(p) = sessions.get_mut(&session) {
                            let relay = SocketAddr::new(server.ip(), port);
                            control.send(relay, &encode(&Message::RelayBind { session }));
                            p.relay = Some((relay, false));
                            let t = Instant::now() + PUNCH_TIME;
                            (p.until, p.punch_until) = (p.until.max(t), p.punch_until.max(t));
                        }
                    }
                    Message::RelayBound { session } => {
                        if let Some(Session { relay: Some((relay, bound)), .. }) = sessions.get_mut(&session) {
                            if *relay == from && !*bound {
                                *bound = true;
                                if let Ok(mut r) = relays.lock() {
                                    if r.len() >= MAX_RELAYS_KEPT {
                                        r.pop_front();
                                    }
                                    r.push_back(from);
                                }
                            }
                        }
                    }
                    Message::Punch { session } => {
                        if let Some(p) = sessions.get_mut(&session) {
                            control.send(from, &encode(&Message::PunchAck { session }));
                            p.punched = true;
                        }
                    }
                    Message::PunchAck { session } => {
                        if let Some(p) = sessions.get_mut(&session) {
                            p.punched = true;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// How long after an introduction a punch may still win over a relay that is already open:
/// 1.5 round trips to the server (a punch through cone NATs takes about one; a relay two),
/// within these bounds (the most when no round trip was measured).
pub const PUNCH_GRACE: (Duration, Duration) = (Duration::from_millis(40), Duration::from_millis(250));

/// Why a dialer found no path through the rendezvous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindError {
    /// The server never answered.
    NoAnswer,
    /// The server answered, but nobody waits under the token.
    NotFound,
    /// The server refused the lookup, or a relay (over a limit).
    Busy,
    /// Introduced, but no punch came through (symmetric NATs, a firewall) and no relay opened.
    PunchFailed { peer: Option<SocketAddr> },
    /// The endpoint's control datagrams are already taken.
    Unavailable,
}

impl std::fmt::Display for FindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoAnswer => write!(f, "the rendezvous did not answer"),
            Self::NotFound => write!(f, "nobody waits there under this code or pairing"),
            Self::Busy => write!(f, "rendezvous busy"),
            Self::PunchFailed { peer: Some(peer) } => {
                write!(f, "introduced to {peer}, but no packet came through the NATs and no relay opened")
            }
            Self::PunchFailed { peer: None } => write!(f, "introduced, but no relay opened"),
            Self::Unavailable => write!(f, "the rendezvous is already in use on this socket"),
        }
    }
}

/// The relay addresses a listener bound (shared with its agent).
#[derive(Clone, Debug)]
pub struct RelaySet(Arc<std::sync::Mutex<std::collections::VecDeque<SocketAddr>>>);

impl RelaySet {
    /// Whether `addr` is one of them.
    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.0.lock().is_ok_and(|r| r.contains(&canon(addr)))
    }
}

/// Where a dialer's lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A punched path: dial the address the listener's punch came from.
    Direct(SocketAddr),
    /// The relay's address (it forwards to the listener).
    Relay(SocketAddr),
}

struct Intro {
    session: u64,
    peer: Option<SocketAddr>,
    at: Instant,
    next_request: Instant,
    relay: Option<SocketAddr>,
    bound: bool,
    refused: bool,
}

/// Find the listener waiting under `token` through the rendezvous at `server`, within `wait`:
/// punch and ask for a relay at once; a punch that succeeds first (or within
/// [`PUNCH_GRACE`] of it) wins, else the relay. `relay_only`: no punch, and neither side learns
/// the other's address.
pub async fn find(
    control: Arc<Control>,
    server: SocketAddr,
    token: Token,
    wait: Duration,
    relay_only: bool,
) -> Result<Found, FindError> {
    // A relayed connection's late punching may still hold the receiver (a reconnect soon
    // after): it gives it back within LATE_PUNCH_TIME.
    let mut rx = None;
    let until = Instant::now() + LATE_PUNCH_TIME + Duration::from_secs(1);
    while rx.is_none() {
        rx = control.take_receiver();
        if rx.is_none() {
            if Instant::now() >= until {
                return Err(FindError::Unavailable);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let Some(mut rx) = rx else { return Err(FindError::Unavailable) };
    // Stale datagrams of an earlier lookup are not this one's.
    while rx.try_recv().is_ok() {}
    match find_with(&control, &mut rx, server, token, wait, relay_only).await {
        Ok((Found::Relay(relay), Some(late))) => {
            tokio::spawn(punch_late(control, rx, relay, late));
            Ok(Found::Relay(relay))
        }
        r => {
            control.put_back(rx);
            r.map(|(f, _)| f)
        }
    }
}

/// A relayed introduction whose peer address is known: punching goes on after the relay won.
#[derive(Debug, Clone, Copy)]
pub struct LatePunch {
    session: u64,
    peer: SocketAddr,
    at: Instant,
}

/// Keep punching towards the peer of a relayed connection; the first punch or answer that
/// comes through moves the connection's QUIC datagrams off `relay` (net::demux). Gives the
/// receiver back when done.
async fn punch_late(control: Arc<Control>, mut rx: mpsc::Receiver<Datagram>, relay: SocketAddr, late: LatePunch) {
    let end = late.at + LATE_PUNCH_TIME;
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now >= next {
            control.send(late.peer, &encode(&Message::Punch { session: late.session }));
            next = now + if now < late.at + PUNCH_TIME { PUNCH_EVERY } else { LATE_PUNCH_EVERY };
        }
        let wait = next.min(end);
        tokio::select! {
            _ = tokio::time::sleep_until(wait) => {}
            d = rx.recv() => {
                let Some((from, bytes)) = d else { return };
                let from = canon(from);
                match decode(&bytes) {
                    Ok(Message::Punch { session }) if session == late.session => {
                        control.send(from, &encode(&Message::PunchAck { session }));
                        control.upgrade(relay, from);
                        break;
                    }
                    Ok(Message::PunchAck { session }) if session == late.session => {
                        control.upgrade(relay, from);
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    control.put_back(rx);
}

async fn find_with(
    control: &Control,
    rx: &mut mpsc::Receiver<Datagram>,
    server: SocketAddr,
    token: Token,
    wait: Duration,
    relay_only: bool,
) -> Result<(Found, Option<LatePunch>), FindError> {
    let server = canon(server);
    let start = Instant::now();
    let deadline = start + wait;
    let mut next_lookup = Instant::now();
    let mut answered = false;
    let mut intro: Option<Intro> = None;
    // The round trip to the server, from the first lookup to the first answer.
    let mut first_sent: Option<Instant> = None;
    let mut grace = PUNCH_GRACE.1;
    let measure = |first_sent: Option<Instant>, grace: &mut Duration| {
        if let (Some(t), true) = (first_sent, *grace == PUNCH_GRACE.1) {
            *grace = (t.elapsed() * 3 / 2).clamp(PUNCH_GRACE.0, PUNCH_GRACE.1);
        }
    };
    let mut tick = tokio::time::interval(PUNCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let now = Instant::now();
        match &mut intro {
            None if now >= deadline || (!answered && now >= start + NO_ANSWER_WAIT) => {
                return Err(if answered { FindError::NotFound } else { FindError::NoAnswer })
            }
            None => {}
            Some(i) => {
                if let (Some(relay), true) = (i.relay, i.bound) {
                    if i.peer.is_none() || now >= i.at + grace {
                        let late = i.peer.map(|peer| LatePunch { session: i.session, peer, at: i.at });
                        return Ok((Found::Relay(relay), late));
                    }
                }
                if now >= i.at + PUNCH_TIME {
                    return Err(if i.refused { FindError::Busy } else { FindError::PunchFailed { peer: i.peer } });
                }
            }
        }
        tokio::select! {
            _ = tick.tick() => match &mut intro {
                None => {
                    if now >= next_lookup {
                        control.send(server, &encode(&Message::Lookup { token, relay_only }));
                        first_sent.get_or_insert(now);
                        next_lookup = now + LOOKUP_EVERY;
                    }
                }
                Some(i) => {
                    if let Some(peer) = i.peer {
                        control.send(peer, &encode(&Message::Punch { session: i.session }));
                    }
                    match i.relay {
                        None if !i.refused && now >= i.next_request => {
                            control.send(server, &encode(&Message::RelayRequest { session: i.session }));
                            i.next_request = now + LOOKUP_EVERY;
                        }
                        Some(relay) if !i.bound => {
                            control.send(relay, &encode(&Message::RelayBind { session: i.session }));
                        }
                        _ => {}
                    }
                }
            },
            d = rx.recv() => {
                let Some((from, bytes)) = d else { return Err(FindError::Unavailable) };
                let from = canon(from);
                let Ok(msg) = decode(&bytes) else { continue };
                let ours = |s: u64| intro.as_ref().is_some_and(|i| i.session == s);
                match msg {
                    Message::Introduce { token: t, session, peer } if from == server && t == token && intro.is_none() => {
                        if !answered {
                            measure(first_sent, &mut grace);
                        }
                        let peer = if relay_only { None } else { peer.map(canon) };
                        if let Some(p) = peer {
                            control.send(p, &encode(&Message::Punch { session }));
                        }
                        control.send(server, &encode(&Message::RelayRequest { session }));
                        let now = Instant::now();
                        intro = Some(Intro { session, peer, at: now, next_request: now + LOOKUP_EVERY, relay: None, bound: false, refused: false });
                    }
                    Message::NotFound { token: t } if from == server && t == token => {
                        if !answered {
                            measure(first_sent, &mut grace);
                        }
                        answered = true;
                    }
                    Message::Busy if from == server => match &mut intro {
                        None => return Err(FindError::Busy),
                        Some(i) => i.refused = true,
                    },
                    Message::RelayReady { session, port } if from == server && ours(session) => {
                        if let Some(i) = &mut intro {
                            let relay = SocketAddr::new(server.ip(), port);
                            control.send(relay, &encode(&Message::RelayBind { session }));
                            i.relay = Some(relay);
                        }
                    }
                    Message::RelayBound { session } if ours(session) => {
                        if let Some(i) = &mut intro {
                            i.bound |= i.relay == Some(from);
                        }
                    }
                    Message::Punch { session } | Message::PunchAck { session } if ours(session) && !relay_only => {
                        if matches!(msg, Message::Punch { .. }) {
                            control.send(from, &encode(&Message::PunchAck { session }));
                        }
                        return Ok((Found::Direct(from), None));
                    }
                    _ => {}
                }
            }
        }
    }
}
