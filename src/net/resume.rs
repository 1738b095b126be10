//! Resume tickets (docs/protocol.md "Resume secret and reconnects"): what a dialer keeps to
//! reconnect a session, and what the listener accepts, bound to the session's first request.
//! Split from net::handshake, which derives the secrets and runs the messages.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use quinn::{Connection, VarInt};

use super::handshake::{close, MAX_RESUMES, RESUME_TTL};
use crate::auth::keys::{PairPsk, PeerId};
use crate::auth::Key;
use crate::error::{tagged, Kind};

/// What the dialer keeps to reconnect a session: the listener's static key and the resume
/// secret both sides derived from the first handshake.
#[derive(Clone, Debug)]
pub struct ResumeTicket {
    pub(super) peer_static: PeerId,
    pub(super) key: Key<PairPsk>,
}

/// A stored resume secret and what it may resume.
struct Stored {
    key: Key<PairPsk>,
    /// Reconnects left.
    left: u32,
    expires: Instant,
    /// SHA-256 of the session's first request frame: a resumed connection must repeat it.
    request: Option<[u8; 32]>,
    /// The connection currently serving this session, if any.
    live: Option<Live>,
}

/// The connection a session runs on, and a signal that its work ended.
pub(super) struct Live {
    conn: Connection,
    /// Resolves (with an error) when the session's [`SessionLease`] is dropped.
    done: tokio::sync::watch::Receiver<()>,
}

/// Held by whoever serves a session's connection (session::serve::handle) until it stops touching
/// files; a resume of the same session waits for it to be dropped.
#[derive(Debug)]
pub struct SessionLease {
    _alive: tokio::sync::watch::Sender<()>,
}

/// How long a resume waits for the superseded connection's session to stop.
const TAKEOVER_WAIT: Duration = Duration::from_secs(10);

/// Resume tickets the listener accepts, by the dialer's static key (security issue #8: one
/// ticket resumes one session, one connection at a time, with its original request).
///
/// A resume ticket must not become a second, concurrent session of the same peer (it could,
/// say, push a symlink swap into the tree a first session is still pulling). So each ticket
/// is bound to the hash of its session's first request ([`ResumeTable::bind_request`]; a
/// resumed connection that asks for anything else is refused and the ticket burnt), and a
/// resume *supersedes* the connection still attached to the session: that one is closed and
/// its session's [`SessionLease`] awaited before the new connection may send its request.
/// Closing rather than refusing, because an honest dialer only reconnects after its side of
/// the connection died: the listener's side may then look alive until its idle timeout
/// (30 s), and refusing would turn every such reconnect into a failure.
#[derive(Default)]
pub struct ResumeTable {
    tickets: Mutex<HashMap<PeerId, Stored>>,
}

impl ResumeTable {
    pub(super) fn insert(&self, t: &ResumeTicket) {
        if let Ok(mut m) = self.tickets.lock() {
            m.retain(|_, st| st.expires > Instant::now());
            m.insert(
                t.peer_static,
                Stored {
                    key: t.key.clone(),
                    left: MAX_RESUMES,
                    expires: Instant::now() + RESUME_TTL,
                    request: None,
                    live: None,
                },
            );
        }
    }

    /// Take one use of the ticket of `peer`.
    pub(super) fn lookup(&self, peer: &PeerId) -> Option<Key<PairPsk>> {
        let mut m = self.tickets.lock().ok()?;
        let st = m.get_mut(peer)?;
        if st.left == 0 || st.expires < Instant::now() {
            m.remove(peer);
            return None;
        }
        st.left -= 1;
        st.expires = Instant::now() + RESUME_TTL;
        Some(st.key.clone())
    }

    /// Make `conn` the session's connection and return a lease for it, with the connection it
    /// replaces (a resume while the earlier one is still attached). Atomic, so of two racing
    /// resumes one supersedes the other.
    pub(super) fn attach(&self, peer: &PeerId, conn: &Connection) -> (SessionLease, Option<Live>) {
        let (tx, rx) = tokio::sync::watch::channel(());
        let lease = SessionLease { _alive: tx };
        let old =
            self.tickets.lock().ok().and_then(|mut m| {
                m.get_mut(peer).and_then(|st| st.live.replace(Live { conn: conn.clone(), done: rx }))
            });
        (lease, old)
    }

    /// The session of `peer` sent its request frame `body`: remember it on a first connection
    /// (or a resume whose first connection never sent one); on a resumed connection, refuse a
    /// request that differs from the original and burn the ticket.
    pub fn bind_request(&self, peer: &PeerId, resumed: bool, body: &[u8]) -> Result<(), &'static str> {
        use sha2::Digest;
        let h: [u8; 32] = sha2::Sha256::digest(body).into();
        let Ok(mut m) = self.tickets.lock() else { return Err("resume table unavailable (internal error)") };
        match m.get_mut(peer) {
            Some(st) => match st.request {
                None => {
                    st.request = Some(h);
                    Ok(())
                }
                Some(orig) if orig == h => Ok(()),
                Some(_) if !resumed => Ok(()),
                Some(_) => {
                    m.remove(peer);
                    Err("a resumed connection asked for something other than its session's original request; refused, and the session can no longer be resumed")
                }
            },
            // A first connection whose ticket is gone (expired) has nothing to bind; a resumed
            // one was authenticated by a ticket that no longer exists: refuse.
            None if !resumed => Ok(()),
            None => Err("the resumed session is no longer known; start again with a new code"),
        }
    }

    pub(super) fn burn(&self, peer: &PeerId) {
        if let Ok(mut m) = self.tickets.lock() {
            m.remove(peer);
        }
    }

    /// Forget the ticket of `peer` (its session ended cleanly).
    pub fn forget(&self, peer: &PeerId) {
        self.burn(peer);
    }
}

/// A resume supersedes `old`: close it and wait (bounded) until its session stopped.
pub(super) async fn supersede(old: Option<Live>) -> Result<()> {
    let Some(mut old) = old else { return Ok(()) };
    old.conn.close(VarInt::from_u32(close::ERROR), b"superseded by a resumed connection");
    // `changed` fails once the lease's sender is dropped (the session ended).
    let r = tokio::time::timeout(TAKEOVER_WAIT, async { while old.done.changed().await.is_ok() {} }).await;
    r.map_err(|_| {
        tagged(Kind::Connect, "the earlier connection of this session is still ending; the resume was refused, retry")
    })
}
