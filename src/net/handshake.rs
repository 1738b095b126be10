//! Authentication on stream 0 (security.md §2.3, docs/protocol.md "Handshake"): SPAKE2 with key
//! confirmation (M1–M4), then `Noise_XXpsk3` (N1–N3) bound to the TLS exporter; or, to resume a
//! session whose connection dropped, one `Noise_IKpsk2` exchange (R1–R3) keyed by the session's
//! resume secret.
//!
//! Owns: handshake framing, the 30 s deadline, the one-attempt-per-code rule and the guessing
//! budget ([`CodeGuard`]), resume tickets and what they may resume ([`ResumeTable`]), mapping
//! close codes to errors. Does not own: the cryptography (crate::auth).
//!
//! Roles in this issue: the code typer R is always the dialer, the code creator S the listener.
//! Nothing but stream 0 is read before the handshake completes; the listener never opens a
//! stream, and data streams are accepted only by net::transport, after authentication.

use crate::auth::keys::PeerId;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use hkdf::Hkdf;
use quinn::{Connection, ConnectionError, ReadError, ReadExactError, RecvStream, SendStream, VarInt};
use rand_core::OsRng;
use sha2::Sha256;

use super::resume::supersede;
pub use super::resume::{ResumeTable, ResumeTicket, SessionLease};
use crate::auth::keys::{PairPsk, KEY_LEN};
use crate::auth::noise::{ReceiverHandshake, ReconnectInitiator, ReconnectResponder, SenderHandshake};
use crate::auth::pake::{ReceiverPake, SenderPake};
use crate::auth::{Code, Error as AuthError, Identity, Key};
use crate::error::{tagged, Kind};

/// Deadline for the whole handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(600);
/// Largest handshake frame body (type byte + message).
pub const MAX_HS_FRAME: usize = 256;
/// TLS exporter label binding the handshake to this QUIC connection.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-pcp-binding-v1";
/// Reconnects accepted per session with its resume secret.
pub const MAX_RESUMES: u32 = 16;
/// How long a resume ticket stays valid after it was issued or last used.
pub const RESUME_TTL: Duration = Duration::from_secs(600);
const RESUME_INFO: &[u8] = b"pcp/1 resume psk";

/// Application close codes (QUIC `CONNECTION_CLOSE` with an application error code).
pub mod close {
    /// Normal end of a session.
    pub const DONE: u32 = 0;
    /// The PAKE or Noise handshake failed: wrong code or interception. The code is burnt.
    pub const CODE_REJECTED: u32 = 1;
    /// The code was already used (or expired) before this attempt.
    pub const CODE_USED: u32 = 2;
    /// A resume attempt failed (unknown or expired session).
    pub const RESUME_REJECTED: u32 = 3;
    /// A protocol violation.
    pub const PROTOCOL: u32 = 4;
    /// The session ended with an error (the text went in-band first when possible).
    pub const ERROR: u32 = 5;
    /// The transfer finished, but some entries failed at the destination (exit 23).
    pub const PARTIAL: u32 = 6;
    /// A code attempt during the pause after wrong codes ([`super::CodeGuard`]); nothing was
    /// spent. The reason is `retry in N s`.
    pub const COOLING_DOWN: u32 = 7;
    /// A paired reconnect from a key this listener does not know (never paired, or forgotten).
    pub const NOT_PAIRED: u32 = 8;
    /// A code attempt at a listener that takes none (`pcp serve --no-code`).
    pub const NO_CODES: u32 = 9;
}

/// Frame types on stream 0 during the handshake.
mod ty {
    pub(super) const M1: u8 = 1;
    pub(super) const M2: u8 = 2;
    pub(super) const M3: u8 = 3;
    pub(super) const M4: u8 = 4;
    pub(super) const N1: u8 = 5;
    pub(super) const N2: u8 = 6;
    pub(super) const N3: u8 = 7;
    /// Dialer → listener after N3: the name it offers to be remembered under (empty: do not
    /// remember this pairing).
    pub(super) const NAME: u8 = 8;
    pub(super) const R1: u8 = 16;
    pub(super) const R2: u8 = 17;
    pub(super) const R3: u8 = 18;
    /// Message 1 of a paired reconnect (Noise_IKpsk2 keyed by the pair's psk); answered by R2,
    /// confirmed by R3 as a resume is.
    pub(super) const P1: u8 = 19;
}

/// First pause after a failed code attempt; it doubles per consecutive failure.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest pause between code attempts after failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(600);

/// The listener's code policy (security.md §2.6), the one place it lives: one PAKE attempt per
/// code, the code's expiry, at most one code attempt in flight, and an online-guessing budget.
///
/// Every failed attempt (wrong code, interception, a peer that stops mid-PAKE) burns the code
/// and starts a pause of `BACKOFF_FIRST · 2^(failures-1)` (capped at `BACKOFF_MAX`, reset by a
/// successful handshake) during which an M1 is refused with `close::COOLING_DOWN` *without*
/// spending or replacing the current code. So a long-running `pcp serve` gives an attacker
/// about one guess per 10 minutes after a dozen failures (2^-33 each with 3 secret words),
/// instead of hundreds per second, and a legitimate user who waits can still use the code
/// printed after the last failure. Time is passed in (`*_at`) so the policy is unit-tested.
pub struct CodeGuard {
    state: Mutex<GuardState>,
}

struct GuardState {
    code: Code,
    attempts_left: u32,
    deadline: Instant,
    /// A PAKE with the current code is running: the code is spent but not yet replaced.
    in_flight: bool,
    /// Failed code attempts since the last success.
    failures: u32,
    /// No code attempt is accepted before this.
    not_before: Instant,
    /// No code at all (`pcp serve --no-code`): every attempt is refused.
    closed: bool,
}

/// The answer to a code attempt (M1).
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Go on with the PAKE; the attempt is spent.
    Go(Code),
    /// Refused without spending anything: the listener pauses after wrong codes for this long.
    CoolingDown(Duration),
    /// The code is spent (or in use) or expired.
    Used,
    /// This listener takes no codes.
    Closed,
}

/// A fresh code printed by [`CodeGuard::renew_if_spent`].
#[derive(Debug)]
pub struct Renewed {
    /// The new code.
    pub code: Code,
    /// After a failure: consecutive failures and how long until the next code attempt.
    pub cooldown: Option<(u32, Duration)>,
}

/// The pause after `failures` consecutive failed code attempts.
pub fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let shift = (failures - 1).min(20);
    BACKOFF_FIRST.saturating_mul(1u32 << shift).min(BACKOFF_MAX)
}

impl CodeGuard {
    /// A fresh code with one attempt, valid for `ttl`.
    pub fn new(code: Code, ttl: Duration) -> Self {
        Self::new_at(code, ttl, Instant::now())
    }

    /// [`CodeGuard::new`] at time `now`.
    pub fn new_at(code: Code, ttl: Duration, now: Instant) -> Self {
        Self {
            state: Mutex::new(GuardState {
                code,
                attempts_left: 1,
                deadline: now + ttl,
                in_flight: false,
                failures: 0,
                not_before: now,
                closed: false,
            }),
        }
    }

    /// A guard with no code: every code attempt is refused (`pcp serve --no-code`).
    pub fn closed(code: Code) -> Self {
        let g = Self::new(code, Duration::ZERO);
        if let Ok(mut s) = g.state.lock() {
            s.closed = true;
            s.attempts_left = 0;
        }
        g
    }

    /// A code attempt (M1) arrives at `now`: refuse it during a pause (spending nothing), or
    /// spend the code's one attempt.
    pub fn admit_at(&self, now: Instant) -> Admit {
        let Ok(mut s) = self.state.lock() else { return Admit::Used };
        if s.closed {
            return Admit::Closed;
        }
        // A spent code says so first (`pcp send` never renews it; serve renews it right after
        // the attempt ends), then the pause; neither changes the code.
        if s.attempts_left == 0 || now > s.deadline {
            s.attempts_left = 0;
            return Admit::Used;
        }
        if now < s.not_before {
            return Admit::CoolingDown(s.not_before - now);
        }
        s.attempts_left -= 1;
        s.in_flight = true;
        Admit::Go(s.code.clone())
    }

    /// The attempt admitted by [`CodeGuard::admit_at`] ended at `now`: `ok` when the whole
    /// handshake succeeded. A failure starts (or doubles) the pause.
    pub fn finish_at(&self, ok: bool, now: Instant) {
        if let Ok(mut s) = self.state.lock() {
            s.in_flight = false;
            if ok {
                s.failures = 0;
                s.not_before = now;
            } else {
                s.failures = s.failures.saturating_add(1);
                s.not_before = now + backoff(s.failures);
            }
        }
    }

    /// The current code's channel word (`None` when it takes no codes).
    pub fn channel(&self) -> Option<String> {
        let s = self.state.lock().ok()?;
        (!s.closed).then(|| s.code.channel().to_owned())
    }

    /// Whether the code can no longer be used.
    pub fn is_spent(&self) -> bool {
        self.state.lock().map(|s| s.attempts_left == 0 || Instant::now() > s.deadline).unwrap_or(true)
    }

    /// If the code is spent (and its attempt finished) or expired, replace it with `make()`
    /// (valid for `ttl`) and return it, atomically: serve prints it for the next peer. A code
    /// whose PAKE is still running is not replaced, so at most one code attempt runs at a time.
    pub fn renew_if_spent(&self, make: impl FnOnce() -> Option<Code>, ttl: Duration) -> Option<Renewed> {
        self.renew_if_spent_at(make, ttl, Instant::now())
    }

    /// [`CodeGuard::renew_if_spent`] at time `now`.
    pub fn renew_if_spent_at(
        &self,
        make: impl FnOnce() -> Option<Code>,
        ttl: Duration,
        now: Instant,
    ) -> Option<Renewed> {
        let mut s = self.state.lock().ok()?;
        if s.closed || s.in_flight || (s.attempts_left > 0 && now <= s.deadline) {
            return None;
        }
        let code = make()?;
        s.code = code.clone();
        s.attempts_left = 1;
        s.deadline = now + ttl;
        let cooldown = (s.failures > 0 && now < s.not_before).then(|| (s.failures, s.not_before - now));
        Some(Renewed { code, cooldown })
    }
}

/// The one-line notice after a failed code attempt.
pub fn cooldown_notice(failures: u32, wait: Duration) -> String {
    let what = if failures == 1 { "1 wrong code".to_owned() } else { format!("{failures} wrong codes in a row") };
    format!("{what}; the next code attempt is accepted in {} s", secs_up(wait))
}

/// Whole seconds, rounded up (a wait of 0.2 s is "1 s", never "0 s").
fn secs_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// How the dialer authenticates.
pub enum DialAuth<'a> {
    /// First contact with a one-time code.
    Code(&'a Code),
    /// Reconnect of an earlier session.
    Resume(&'a ResumeTicket),
    /// A paired peer: its pinned key and the pair's psk (Noise_IKpsk2, no code).
    Paired(&'a PeerId, &'a Key<PairPsk>),
}

/// A pairing made by a first contact: the peer's key, the pair's psk and (listener side) the
/// name the dialer offered (`None`: it asked not to be remembered).
pub struct NewPair {
    pub key: PeerId,
    pub psk: Key<PairPsk>,
    pub offered: Option<String>,
}

/// An authenticated connection: stream 0 and what is needed to resume the session.
pub struct Authenticated {
    /// Stream 0, sending half.
    pub send: SendStream,
    /// Stream 0, receiving half.
    pub recv: RecvStream,
    /// Whether this connection resumed an earlier session (listener side).
    pub resumed: bool,
    /// Dialer: how to reconnect this session.
    pub ticket: Option<ResumeTicket>,
    /// The peer's Noise static key, authenticated by the handshake.
    pub peer: PeerId,
    /// First contact with a code: the 4-word verifier both sides derive from the PAKE
    /// (security.md §2.6); equal on both sides unless someone is in the middle.
    pub verifier: Option<String>,
    /// Listener: held while this connection serves the session (see [`ResumeTable`]).
    pub lease: Option<SessionLease>,
    /// First contact: the pairing it made, for the caller to remember (or not).
    pub pair: Option<NewPair>,
}

/// Run the dialer's handshake (R: PAKE side A, Noise initiator).
///
/// `offer`: on first contact, the name this side asks the listener to remember it under
/// (`None`: do not remember the pairing).
pub async fn dial(
    conn: &Connection,
    auth: DialAuth<'_>,
    identity: &Identity,
    offer: Option<&str>,
) -> Result<Authenticated> {
    // The streams live out here so that on failure the connection is closed (with a code the
    // peer understands) before they are dropped: dropping a send stream finishes it.
    let mut streams = None;
    let r = tokio::time::timeout(HANDSHAKE_TIMEOUT, dial_inner(conn, auth, identity, offer, &mut streams)).await;
    let (resumed, ticket, verifier, pair) =
        settle(conn, r, "the peer did not finish the handshake within 30 s; try again")?;
    let (send, recv) = streams.ok_or(super::error::Error::Internal("stream 0 missing"))?;
    let ticket = ticket.ok_or(super::error::Error::Internal("resume ticket missing"))?;
    let peer = ticket.peer_static;
    Ok(Authenticated { send, recv, resumed, ticket: Some(ticket), peer, verifier, lease: None, pair })
}

/// The outcome of a handshake under its deadline. On failure the connection is closed with a
/// code the peer understands ("code rejected" for authentication failures) before the streams
/// are dropped.
fn settle<T>(conn: &Connection, r: Result<Result<T>, tokio::time::error::Elapsed>, timeout: &'static str) -> Result<T> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            let code = if is_auth(&e) { close::CODE_REJECTED } else { close::PROTOCOL };
            conn.close(VarInt::from_u32(code), b"handshake failed");
            Err(e)
        }
        Err(_) => {
            conn.close(VarInt::from_u32(close::PROTOCOL), b"handshake timeout");
            Err(tagged(Kind::Timeout, timeout))
        }
    }
}

type Dialed = (bool, Option<ResumeTicket>, Option<String>, Option<NewPair>);

async fn dial_inner(
    conn: &Connection,
    auth: DialAuth<'_>,
    identity: &Identity,
    offer: Option<&str>,
    streams: &mut Option<(SendStream, RecvStream)>,
) -> Result<Dialed> {
    let ekm = ekm(conn)?;
    let (send, recv) = streams.insert(conn.open_bi().await.map_err(|e| conn_err(&e, "opening stream 0"))?);
    match auth {
        DialAuth::Code(code) => {
            let (pake, m1) = ReceiverPake::start(code, &ekm, b"", &mut OsRng)?;
            write_hs(send, ty::M1, &m1).await?;
            let m2 = read_hs(recv, ty::M2).await?;
            let (pake, m3) = pake.on_m2(&m2)?;
            // -> e, in the same flight as M3: N1 holds only an ephemeral key, and S answers
            // it only after verifying M3 (a round trip less; docs/protocol.md "Handshake").
            let (hs, n1) = ReceiverHandshake::start(identity, &pake, &ekm)?;
            write_hs2(send, (ty::M3, &m3), (ty::N1, &n1)).await?;
            let m4 = read_hs(recv, ty::M4).await?;
            let out = pake.on_m4(&m4)?;
            // <- e, ee, s, es
            let n2 = read_hs(recv, ty::N2).await?;
            // -> s, se, psk: the first use of K_noise, only now that M4 confirmed the PAKE.
            let (fc, n3) = hs.on_n2(&n2, &out)?;
            write_hs2(send, (ty::N3, &n3), (ty::NAME, offer.unwrap_or("").as_bytes())).await?;
            let key = resume_key(fc.handshake_hash(), fc.pair_psk())?;
            let peer = PeerId::from_bytes(*fc.remote_static());
            let ticket = ResumeTicket { peer_static: peer, key };
            let pair = NewPair { key: peer, psk: fc.pair_psk().clone(), offered: None };
            Ok((false, Some(ticket), Some(out.verifier().to_owned()), Some(pair)))
        }
        DialAuth::Resume(t) => {
            // <- s (pinned from the first handshake); -> e, es, s, ss
            let (hs, r1) = ReconnectInitiator::start(identity, t.peer_static.as_bytes(), &t.key, &ekm)?;
            write_hs(send, ty::R1, &r1).await?;
            // <- e, ee, se, psk
            let r2 = read_hs(recv, ty::R2).await?;
            let (_, r3) = hs.on_msg2(&r2)?;
            write_hs(send, ty::R3, &r3).await?;
            Ok((true, Some(t.clone()), None, None))
        }
        DialAuth::Paired(peer, psk) => {
            let (hs, p1) = ReconnectInitiator::start(identity, peer.as_bytes(), psk, &ekm)?;
            write_hs(send, ty::P1, &p1).await?;
            let r2 = read_hs(recv, ty::R2).await?;
            let (done, r3) = hs.on_msg2(&r2)?;
            write_hs(send, ty::R3, &r3).await?;
            // Reconnects of this session resume it (a fresh resume secret per session).
            let key = resume_key(done.handshake_hash(), psk)?;
            Ok((false, Some(ResumeTicket { peer_static: *peer, key }), None, None))
        }
    }
}

/// Run the listener's handshake (S: PAKE side B, Noise responder). First contact spends the
/// code's one attempt before M2 is sent; any failure after that leaves the code burnt.
///
/// `paired` looks up the pair psk of a paired peer's key (a `P1` reconnect); `None` refuses it.
pub async fn listen(
    conn: &Connection,
    guard: &CodeGuard,
    resumes: &ResumeTable,
    identity: &Identity,
    paired: &(dyn Fn(&PeerId) -> Option<Key<PairPsk>> + Sync),
) -> Result<Authenticated> {
    let mut streams = None;
    // Set once M1 spent the code: the attempt's outcome feeds the guard's backoff, whatever
    // ends it (wrong code, a Noise failure, the deadline, a lost connection).
    let mut spent = false;
    let r = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        listen_inner(conn, guard, resumes, identity, paired, &mut streams, &mut spent),
    )
    .await;
    if spent {
        guard.finish_at(matches!(r, Ok(Ok(_))), Instant::now());
    }
    let (resumed, peer, verifier, lease, pair) =
        settle(conn, r, "a peer connected but did not finish the handshake within 30 s")?;
    let (send, recv) = streams.ok_or(super::error::Error::Internal("stream 0 missing"))?;
    Ok(Authenticated { send, recv, resumed, ticket: None, peer, verifier, lease: Some(lease), pair })
}

type Listened = (bool, PeerId, Option<String>, SessionLease, Option<NewPair>);

async fn listen_inner(
    conn: &Connection,
    guard: &CodeGuard,
    resumes: &ResumeTable,
    identity: &Identity,
    paired: &(dyn Fn(&PeerId) -> Option<Key<PairPsk>> + Sync),
    streams: &mut Option<(SendStream, RecvStream)>,
    spent: &mut bool,
) -> Result<Listened> {
    let ekm = ekm(conn)?;
    let (send, recv) = streams.insert(conn.accept_bi().await.map_err(|e| conn_err(&e, "waiting for stream 0"))?);
    let (t, first) = read_hs_any(recv).await?;
    match t {
        ty::M1 => {
            let code = match guard.admit_at(Instant::now()) {
                Admit::Go(code) => code,
                Admit::CoolingDown(wait) => {
                    let n = secs_up(wait);
                    conn.close(VarInt::from_u32(close::COOLING_DOWN), format!("retry in {n} s").as_bytes());
                    return Err(tagged(
                        Kind::Auth,
                        format!(
                            "refused a code attempt without trying it: cooling down after wrong codes for {n} s more"
                        ),
                    ));
                }
                Admit::Closed => {
                    conn.close(VarInt::from_u32(close::NO_CODES), b"paired peers only");
                    return Err(tagged(
                        Kind::Auth,
                        "refused a code attempt: this server takes no codes (--no-code), only paired peers",
                    ));
                }
                Admit::Used => {
                    conn.close(VarInt::from_u32(close::CODE_USED), b"code used or expired");
                    return Err(tagged(
                        Kind::Auth,
                        "a peer tried a code that is already used or expired; it was refused",
                    ));
                }
            };
            *spent = true;
            let pake = SenderPake::new(&code, &ekm, b"")?;
            let (pake, m2) = pake.on_m1(&first, &mut OsRng)?;
            write_hs(send, ty::M2, &m2).await?;
            let m3 = read_hs(recv, ty::M3).await?;
            let (out, m4) = pake.on_m3(&m3)?;
            write_hs(send, ty::M4, &m4).await?;
            let hs = SenderHandshake::new(identity, &out, &ekm)?;
            // -> e
            let n1 = read_hs(recv, ty::N1).await?;
            // <- e, ee, s, es
            let (hs, n2) = hs.on_n1(&n1)?;
            write_hs(send, ty::N2, &n2).await?;
            // -> s, se, psk
            let n3 = read_hs(recv, ty::N3).await?;
            let fc = hs.on_n3(&n3)?;
            let name = read_hs(recv, ty::NAME).await?;
            let offered = match std::str::from_utf8(&name) {
                Ok("") => None,
                Ok(n) => Some(n.to_owned()),
                Err(_) => return Err(crate::proto::Error::Malformed("offered peer name is not UTF-8").into()),
            };
            let key = resume_key(fc.handshake_hash(), fc.pair_psk())?;
            let peer = PeerId::from_bytes(*fc.remote_static());
            resumes.insert(&ResumeTicket { peer_static: peer, key });
            let (lease, _) = resumes.attach(&peer, conn);
            let pair = NewPair { key: peer, psk: fc.pair_psk().clone(), offered };
            Ok((false, peer, Some(out.verifier().to_owned()), lease, Some(pair)))
        }
        ty::P1 => {
            let mut peer = None;
            let r = ReconnectResponder::on_msg1(identity, &ekm, &first, |p| {
                let p = PeerId::from_bytes(*p);
                peer = Some(p);
                paired(&p)
            });
            let (hs, r2) = match r {
                Ok(x) => x,
                Err(e) => {
                    conn.close(VarInt::from_u32(close::NOT_PAIRED), b"not paired");
                    let who = peer.map_or_else(|| "a peer".to_owned(), |p| format!("peer {}", p.fingerprint()));
                    return Err(anyhow!(e)
                        .context(format!("{who} is not paired with this machine (or was forgotten); refused")));
                }
            };
            write_hs(send, ty::R2, &r2).await?;
            let r3 = read_hs(recv, ty::R3).await?;
            let done = hs.on_confirm(&r3)?;
            let peer = PeerId::from_bytes(*done.remote_static());
            let psk = paired(&peer).ok_or(super::error::Error::Internal("pairing vanished"))?;
            resumes.insert(&ResumeTicket { peer_static: peer, key: resume_key(done.handshake_hash(), &psk)? });
            let (lease, old) = resumes.attach(&peer, conn);
            if let Err(e) = supersede(old).await {
                conn.close(VarInt::from_u32(close::ERROR), b"earlier connection still ending; retry");
                return Err(e);
            }
            Ok((false, peer, None, lease, None))
        }
        ty::R1 => {
            let mut peer = None;
            let r = ReconnectResponder::on_msg1(identity, &ekm, &first, |p| {
                let p = PeerId::from_bytes(*p);
                peer = Some(p);
                resumes.lookup(&p)
            });
            let (hs, r2) = match r {
                Ok(x) => x,
                Err(e) => {
                    if let Some(p) = &peer {
                        resumes.burn(p);
                    }
                    conn.close(VarInt::from_u32(close::RESUME_REJECTED), b"unknown session");
                    return Err(anyhow!(e).context("a peer tried to resume an unknown or expired session"));
                }
            };
            write_hs(send, ty::R2, &r2).await?;
            let r3 = read_hs(recv, ty::R3).await?;
            match hs.on_confirm(&r3) {
                Ok(done) => {
                    // Authenticated: only now may this connection take the session over.
                    let (lease, old) = resumes.attach(&PeerId::from_bytes(*done.remote_static()), conn);
                    if let Err(e) = supersede(old).await {
                        conn.close(VarInt::from_u32(close::ERROR), b"earlier connection still ending; retry");
                        return Err(e);
                    }
                    Ok((true, PeerId::from_bytes(*done.remote_static()), None, lease, None))
                }
                Err(e) => {
                    if let Some(p) = &peer {
                        resumes.burn(p);
                    }
                    Err(e.into())
                }
            }
        }
        other => {
            Err(crate::proto::Error::Malformed(if other == 0 { "empty handshake" } else { "handshake frame type" })
                .into())
        }
    }
}

/// `resume_psk = HKDF(salt = h_noise, IKM = pair_psk, info = "pcp/1 resume psk")`.
fn resume_key(h: &[u8; 32], pair_psk: &Key<PairPsk>) -> Result<Key<PairPsk>> {
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(Some(h), pair_psk.as_bytes())
        .expand(RESUME_INFO, &mut *out)
        .map_err(|_| super::error::Error::Internal("hkdf length"))?;
    Ok(Key::from_bytes(*out))
}

fn ekm(conn: &Connection) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, EXPORTER_LABEL, b"")
        .map_err(|_| super::error::Error::Setup("TLS exporter unavailable".into()))?;
    Ok(out)
}

fn is_auth(e: &anyhow::Error) -> bool {
    crate::error::kind_of(e) == Kind::Auth
}

/// Write one handshake frame: `len: u32 LE`, `type: u8`, message (docs/protocol.md).
async fn write_hs(send: &mut SendStream, t: u8, msg: &[u8]) -> Result<()> {
    let mut buf = Vec::with_capacity(5 + msg.len());
    push_hs(&mut buf, t, msg)?;
    write_frames(send, &buf).await
}

/// Write two handshake frames in one write, so that they leave in one flight.
async fn write_hs2(send: &mut SendStream, a: (u8, &[u8]), b: (u8, &[u8])) -> Result<()> {
    let mut buf = Vec::with_capacity(10 + a.1.len() + b.1.len());
    push_hs(&mut buf, a.0, a.1)?;
    push_hs(&mut buf, b.0, b.1)?;
    write_frames(send, &buf).await
}

fn push_hs(buf: &mut Vec<u8>, t: u8, msg: &[u8]) -> Result<()> {
    let len = msg.len() + 1;
    if len > MAX_HS_FRAME {
        return Err(super::error::Error::Internal("handshake message too long").into());
    }
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.push(t);
    buf.extend_from_slice(msg);
    Ok(())
}

async fn write_frames(send: &mut SendStream, buf: &[u8]) -> Result<()> {
    send.write_all(buf).await.map_err(|e| match e {
        quinn::WriteError::ConnectionLost(c) => conn_err(&c, "sending a handshake message"),
        other => tagged(Kind::Connect, format!("sending a handshake message: {other}")),
    })
}

async fn read_hs(recv: &mut RecvStream, want: u8) -> Result<Vec<u8>> {
    let (t, body) = read_hs_any(recv).await?;
    if t != want {
        return Err(crate::proto::Error::Malformed("handshake message out of order").into());
    }
    Ok(body)
}

async fn read_hs_any(recv: &mut RecvStream) -> Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(read_err)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_HS_FRAME {
        return Err(crate::proto::Error::FrameTooLarge(len).into());
    }
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(read_err)?;
    let t = buf[0];
    buf.remove(0);
    Ok((t, buf))
}

fn read_err(e: ReadExactError) -> anyhow::Error {
    match e {
        ReadExactError::FinishedEarly(_) => crate::proto::Error::Closed.into(),
        ReadExactError::ReadError(ReadError::ConnectionLost(c)) => conn_err(&c, "during the handshake"),
        ReadExactError::ReadError(other) => tagged(Kind::Connect, format!("during the handshake: {other}")),
    }
}

/// The dialer's error when the listener no longer knows the session (it restarted, or the
/// ticket expired); a paired dialer then starts a fresh session with its pairing.
pub const RESUME_REJECTED_MSG: &str = "the peer no longer knows this session; start again with a new code";

/// Whether `e` is the listener refusing a resume ticket ([`RESUME_REJECTED_MSG`]).
pub fn is_resume_rejected(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.to_string() == RESUME_REJECTED_MSG)
}

/// Close reason of a dialer whose user said the verifier words differ.
pub const VERIFIER_DECLINED: &[u8] = b"verifier declined";

/// Map a lost connection to an error, recognising the peer's close codes.
pub fn conn_err(e: &ConnectionError, doing: &str) -> anyhow::Error {
    if let ConnectionError::ApplicationClosed(ac) = e {
        let code = ac.error_code.into_inner();
        if code == u64::from(close::CODE_REJECTED) {
            if &ac.reason[..] == VERIFIER_DECLINED {
                return tagged(
                    Kind::Auth,
                    "the peer declined the verifier words (--verify): someone may be in the middle; nothing was sent",
                );
            }
            return AuthError::CodeRejected.into();
        }
        if code == u64::from(close::CODE_USED) {
            return tagged(
                Kind::Auth,
                "code rejected: the peer says it was already used or expired; ask for a new code",
            );
        }
        if code == u64::from(close::COOLING_DOWN) {
            let secs = std::str::from_utf8(&ac.reason)
                .ok()
                .and_then(|r| r.strip_prefix("retry in "))
                .and_then(|r| r.strip_suffix(" s"))
                .and_then(|n| n.parse::<u64>().ok());
            let when = secs.map_or_else(|| "later".to_owned(), |n| format!("in {n} s"));
            return tagged(
                Kind::Auth,
                format!("the server is cooling down after wrong codes; retry {when} (the code was not used)"),
            );
        }
        if code == u64::from(close::NOT_PAIRED) {
            return tagged(
                Kind::Auth,
                "the peer does not know this machine (never paired, or it forgot this pairing); pair again: run once with the code its `pcp serve` prints (at the prompt or in PCP_CODE)",
            );
        }
        if code == u64::from(close::NO_CODES) {
            return tagged(
                Kind::Auth,
                "the peer takes no codes (`pcp serve --no-code`): only machines paired with it may connect; pair once with `pcp pair` on both machines, or ask for a server that prints a code",
            );
        }
        if code == u64::from(close::RESUME_REJECTED) {
            return tagged(Kind::Auth, RESUME_REJECTED_MSG);
        }
        let reason = crate::report::sanitize(&String::from_utf8_lossy(&ac.reason));
        return tagged(Kind::Connect, format!("the peer closed the connection {doing}: {reason}"));
    }
    match e {
        ConnectionError::TimedOut => tagged(Kind::Timeout, format!("connection timed out {doing}; rerun to resume")),
        other => tagged(Kind::Connect, format!("connection lost {doing}: {other}; rerun to resume")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::endpoint::Endpoint;

    async fn pair() -> (Endpoint, Endpoint, Connection, Connection) {
        let a = Endpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            crate::net::endpoint::Bulk::Either,
            crate::net::endpoint::IDLE_TIMEOUT,
        )
        .unwrap();
        let b = Endpoint::bind(
            "127.0.0.1:0".parse().unwrap(),
            crate::net::endpoint::Bulk::Either,
            crate::net::endpoint::IDLE_TIMEOUT,
        )
        .unwrap();
        let addr = a.local_addr().unwrap();
        let (d, l) = tokio::join!(b.dial(addr), a.accept());
        let l = l.unwrap().authenticated();
        (a, b, d.unwrap(), l)
    }

    fn code(s: &str) -> Code {
        Code::parse(s).unwrap()
    }

    #[test]
    fn backoff_doubles_per_failure_and_is_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(10), Duration::from_secs(512));
        assert_eq!(backoff(11), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    /// The guessing budget: one PAKE per code, a pause after each failure that doubles, code
    /// attempts during the pause refused without spending or replacing the code, reset on
    /// success.
    #[test]
    fn guard_pauses_after_failures_without_spending_the_code() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let g = CodeGuard::new_at(code("abandon-ability-able-about"), CODE_TTL, t0);
        let fresh = || Some(code("zoo-zone-youth-wrist"));
        assert_eq!(g.admit_at(t0), Admit::Go(code("abandon-ability-able-about")));
        // While the PAKE runs, the code is spent but not replaced: one attempt at a time.
        assert_eq!(g.admit_at(t0), Admit::Used);
        assert!(g.renew_if_spent_at(fresh, CODE_TTL, t0).is_none());
        g.finish_at(false, t0);
        let r = g.renew_if_spent_at(fresh, CODE_TTL, t0).unwrap();
        assert_eq!(r.code, code("zoo-zone-youth-wrist"));
        assert_eq!(r.cooldown, Some((1, s(1))));
        // During the pause: refused, nothing spent, nothing renewed.
        for ms in [0, 10, 999] {
            let now = t0 + Duration::from_millis(ms);
            assert_eq!(g.admit_at(now), Admit::CoolingDown(s(1) - Duration::from_millis(ms)));
            assert!(g.renew_if_spent_at(|| Some(code("cable-cactus-cage-cake")), CODE_TTL, now).is_none());
        }
        // After it: the printed code gets its one attempt; a second failure doubles the pause.
        let t1 = t0 + s(1);
        assert_eq!(g.admit_at(t1), Admit::Go(code("zoo-zone-youth-wrist")));
        g.finish_at(false, t1);
        assert_eq!(
            g.renew_if_spent_at(|| Some(code("cable-cactus-cage-cake")), CODE_TTL, t1).unwrap().cooldown,
            Some((2, s(2)))
        );
        assert_eq!(g.admit_at(t1 + s(1)), Admit::CoolingDown(s(1)));
        let t2 = t1 + s(2);
        assert_eq!(g.admit_at(t2), Admit::Go(code("cable-cactus-cage-cake")));
        g.finish_at(false, t2);
        assert_eq!(cooldown_notice(3, backoff(3)), "3 wrong codes in a row; the next code attempt is accepted in 4 s");
        assert_eq!(
            cooldown_notice(1, Duration::from_millis(200)),
            "1 wrong code; the next code attempt is accepted in 1 s"
        );
        let r = g.renew_if_spent_at(fresh, CODE_TTL, t2).unwrap();
        assert_eq!(r.cooldown, Some((3, s(4))));
        // A success resets the budget: the next code is usable at once.
        let t3 = t2 + s(4);
        assert_eq!(g.admit_at(t3), Admit::Go(code("zoo-zone-youth-wrist")));
        g.finish_at(true, t3);
        let r = g.renew_if_spent_at(|| Some(code("cable-cactus-cage-cake")), CODE_TTL, t3).unwrap();
        assert_eq!(r.cooldown, None);
        assert_eq!(g.admit_at(t3), Admit::Go(code("cable-cactus-cage-cake")));
        g.finish_at(false, t3);
        // The count started again from zero.
        assert_eq!(g.renew_if_spent_at(fresh, CODE_TTL, t3).unwrap().cooldown, Some((1, s(1))));
    }

    #[test]
    fn guard_code_expires() {
        let t0 = Instant::now();
        let g = CodeGuard::new_at(code("abandon-ability-able-about"), Duration::from_secs(10), t0);
        assert!(g.renew_if_spent_at(|| Some(code("zoo-zone-youth-wrist")), CODE_TTL, t0).is_none());
        assert_eq!(g.admit_at(t0 + Duration::from_secs(11)), Admit::Used);
        let r = g.renew_if_spent_at(|| Some(code("zoo-zone-youth-wrist")), CODE_TTL, t0 + Duration::from_secs(11));
        assert!(r.unwrap().cooldown.is_none(), "an expiry is no failure");
    }

    #[tokio::test]
    async fn right_code_then_resume() {
        let (_a, _b, d, l) = pair().await;
        let code = Code::parse("abandon-ability-able-about").unwrap();
        let guard = CodeGuard::new(code.clone(), CODE_TTL);
        let table = ResumeTable::default();
        let (ri, si) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let none = |_: &PeerId| None;
        let (r, s) = tokio::join!(dial(&d, DialAuth::Code(&code), &ri, None), listen(&l, &guard, &table, &si, &none));
        let ticket = r.unwrap().ticket.unwrap();
        assert!(!s.unwrap().resumed);
        assert!(guard.is_spent());
        // A second connection resumes with the ticket, not the code.
        let (_a2, _b2, d2, l2) = pair().await;
        let (r, s) =
            tokio::join!(dial(&d2, DialAuth::Resume(&ticket), &ri, None), listen(&l2, &guard, &table, &si, &none));
        r.unwrap();
        assert!(s.unwrap().resumed);
    }

    #[tokio::test]
    async fn wrong_code_is_rejected_on_both_sides_and_burns() {
        let (_a, _b, d, l) = pair().await;
        let code = Code::parse("abandon-ability-able-about").unwrap();
        let wrong = Code::parse("abandon-ability-able-above").unwrap();
        let guard = CodeGuard::new(code.clone(), CODE_TTL);
        let table = ResumeTable::default();
        let (ri, si) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let none = |_: &PeerId| None;
        let (r, s) = tokio::join!(dial(&d, DialAuth::Code(&wrong), &ri, None), listen(&l, &guard, &table, &si, &none));
        assert_eq!(crate::error::kind_of(&r.err().unwrap()), Kind::Auth);
        assert_eq!(crate::error::kind_of(&s.err().unwrap()), Kind::Auth);
        assert!(guard.is_spent());
        let (_a2, _b2, d2, l2) = pair().await;
        let (r, s) = tokio::join!(dial(&d2, DialAuth::Code(&code), &ri, None), listen(&l2, &guard, &table, &si, &none));
        assert_eq!(crate::error::kind_of(&r.err().unwrap()), Kind::Auth);
        assert!(s.is_err());
    }

    #[tokio::test]
    async fn a_paired_peer_reconnects_with_no_code_and_an_unknown_or_wrong_key_is_refused() {
        let (_a, _b, d, l) = pair().await;
        let code = Code::parse("abandon-ability-able-about").unwrap();
        let guard = CodeGuard::new(code.clone(), CODE_TTL);
        let table = ResumeTable::default();
        let (ri, si) = (Identity::generate().unwrap(), Identity::generate().unwrap());
        let none = |_: &PeerId| None;
        let (r, s) =
            tokio::join!(dial(&d, DialAuth::Code(&code), &ri, Some("laptop")), listen(&l, &guard, &table, &si, &none));
        let (r, s) = (r.unwrap(), s.unwrap());
        let (dp, lp) = (r.pair.unwrap(), s.pair.unwrap());
        assert_eq!(lp.offered.as_deref(), Some("laptop"));
        assert_eq!(dp.psk, lp.psk, "both sides derive the same pair psk");
        assert_eq!(&dp.key.as_bytes()[..], &si.public()[..]);
        assert_eq!(&lp.key.as_bytes()[..], &ri.public()[..]);
        // Later: no code, the pinned key and the pair psk.
        let psk = lp.psk.clone();
        let known = move |p: &PeerId| (p == &lp.key).then(|| psk.clone());
        let (_a2, _b2, d2, l2) = pair().await;
        let (r, s) = tokio::join!(
            dial(&d2, DialAuth::Paired(&dp.key, &dp.psk), &ri, None),
            listen(&l2, &guard, &table, &si, &known)
        );
        r.unwrap();
        assert!(!s.unwrap().resumed);
        // Forgotten on the listener: refused, and the dialer's error is exit 40.
        let (_a3, _b3, d3, l3) = pair().await;
        let (r, s) = tokio::join!(
            dial(&d3, DialAuth::Paired(&dp.key, &dp.psk), &ri, None),
            listen(&l3, &guard, &table, &si, &none)
        );
        let e = r.err().unwrap();
        assert_eq!(crate::error::kind_of(&e), Kind::Auth);
        assert!(format!("{e:#}").contains("pair again"), "{e:#}");
        assert!(s.is_err());
        // A tampered psk on the dialer's side: refused too.
        let (_a4, _b4, d4, l4) = pair().await;
        let wrong: Key<PairPsk> = Key::from_bytes([7; KEY_LEN]);
        let (r, s) = tokio::join!(
            dial(&d4, DialAuth::Paired(&dp.key, &wrong), &ri, None),
            listen(&l4, &guard, &table, &si, &known)
        );
        assert!(r.is_err() && s.is_err(), "a wrong psk authenticated");
    }
}
