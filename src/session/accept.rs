//! The one accept loop of every listening command (`pcp serve`, `pcp send`): take a
//! connection, authenticate it, ask the policy what the peer may reach, serve the session,
//! and decide what comes next. Limits (connections at once) and the stop signal are passed in.
//!
//! Two modes share it: one-shot (`pcp send`, `pcp serve --once`: one session, which a dropped
//! peer may resume within [`RESUME_WAIT`]; a wrong code ends it) and daemon (`pcp serve`:
//! sessions at once up to a cap, a fresh code after each use, forever).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::policy::Policy;
use super::serve::{handle, Ended};
use crate::cmd::Outcome;
use crate::error::{kind_of, tagged, Kind};
use crate::net::client::retryable;
use crate::net::conn::Conn;
use crate::net::listen::{Arrival, Listener};
use crate::report::{Reporter, Stats};

/// With one-shot, how long to wait for a dropped peer to resume before giving up.
pub const RESUME_WAIT: Duration = Duration::from_secs(120);
/// How often a waiting loop looks at the stop signal.
const TICK: Duration = Duration::from_millis(250);

/// How many sessions, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One session (resumable), then exit.
    OneShot,
    /// Serve until stopped, at most `max_connections` connections (TLS, handshakes and
    /// sessions) at once; more are refused as busy before any TLS work.
    Daemon {
        /// The cap.
        max_connections: usize,
    },
}

/// A listener, its policy and where to report.
pub struct Server<'a> {
    /// The bound listener.
    pub listener: &'a Listener,
    /// Who may reach what.
    pub policy: &'a Policy,
    /// Output.
    pub rep: &'a Reporter,
    /// `--stats` after each transfer.
    pub show_stats: bool,
    /// Set (by SIGINT/SIGTERM) to stop accepting and end running sessions.
    pub stop: &'static AtomicBool,
}

impl Server<'_> {
    /// Run the accept loop until it ends (one-shot) or is stopped.
    pub fn run(&self, mode: Mode) -> Result<Outcome> {
        let r = match mode {
            Mode::OneShot => self.one_shot(),
            Mode::Daemon { max_connections } => self.daemon(max_connections),
        };
        // Let the peers hear about closed connections before the process exits.
        self.listener.shutdown();
        r
    }

    fn stopped(&self) -> Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(tagged(Kind::Interrupted, "interrupted; stopped accepting connections"));
        }
        Ok(())
    }

    /// The next arrival, or `None` once `deadline` passed; an error when stopped or closed.
    fn next(&self, deadline: Option<Instant>) -> Result<Option<Arrival<'_>>> {
        loop {
            self.stopped()?;
            let wait = match deadline {
                Some(t) if t <= Instant::now() => return Ok(None),
                Some(t) => TICK.min(t - Instant::now()),
                None => TICK,
            };
            if let Some(a) = self.listener.arrival(wait)? {
                return Ok(Some(a));
            }
        }
    }

    /// Serve one authenticated connection; the transfer's summary goes to the reporter.
    fn session(&self, mut conn: Conn) -> Result<Ended> {
        let peer = conn.peer();
        self.rep.peer_connected(crate::report::Connected {
            who: "a peer",
            addr: conn.remote_addr(),
            path: conn.path_name(),
            rtt: conn.rtt(),
            resumed: conn.resumed(),
            verifier: conn.verifier(),
        });
        if let Some(words) = conn.verifier() {
            self.rep.verifier(words);
        }
        let stats = Arc::new(Stats::default());
        let start = Instant::now();
        let r = handle(&mut conn, self.policy.grant(&peer), self.listener, self.rep, &stats, self.stop);
        if r.is_ok() {
            // Finished: its resume secret is no longer needed.
            self.listener.forget(&peer);
        }
        if let Ok(Ended::Transfer(_)) = &r {
            self.rep.stats(&stats, start.elapsed(), self.show_stats);
        }
        r
    }

    /// One session; a dropped one may resume within RESUME_WAIT. A wrong code before any
    /// session ends it (exit 40).
    fn one_shot(&self) -> Result<Outcome> {
        let mut waiting: Option<(Instant, anyhow::Error)> = None;
        loop {
            let Some(arrival) = self.next(waiting.as_ref().map(|(t, _)| *t))? else {
                // Nobody resumed in time: the session's error stands.
                return Err(waiting.map(|(_, e)| e).unwrap_or_else(|| tagged(Kind::Connect, "the endpoint closed")));
            };
            let conn = match self.listener.authenticate(arrival, self.rep) {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(e) if kind_of(&e) == Kind::Auth && waiting.is_none() => return Err(e),
                Err(e) => {
                    self.rep.warn(&crate::report::sanitize(&crate::error::chain_text("", &e)));
                    continue;
                }
            };
            match self.session(conn) {
                Ok(Ended::Transfer(end)) => return Ok(if end.partial() { Outcome::Partial } else { Outcome::Ok }),
                Ok(Ended::Declined) => {
                    self.rep.info("the receiver declined the offer");
                    return Ok(Outcome::Ok);
                }
                Ok(Ended::Refused(e)) => return Err(e),
                Ok(Ended::Listed | Ended::Paired) => return Ok(Outcome::Ok),
                Err(e) if retryable(&e) && !self.stop.load(Ordering::Relaxed) => {
                    self.rep.warn(&crate::report::sanitize(&format!(
                        "{}; waiting for the peer to reconnect",
                        crate::error::chain_text("", &e)
                    )));
                    waiting = Some((Instant::now() + RESUME_WAIT, e));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sessions at once, at most `max` connections, a fresh code whenever one was used or
    /// burnt. The endpoint already refused connections from an address with too many
    /// handshakes in progress; this loop refuses any beyond `max`, also before TLS, and runs
    /// TLS in the connection's own thread, so a peer that stalls its TLS handshake holds one
    /// slot, not the loop.
    fn daemon(&self, max: usize) -> Result<Outcome> {
        let active = AtomicUsize::new(0);
        std::thread::scope(|s| loop {
            let Some(arrival) = self.next(None)? else { continue };
            if active.load(Ordering::Acquire) >= max {
                arrival.refuse();
                continue;
            }
            active.fetch_add(1, Ordering::AcqRel);
            let active = &active;
            s.spawn(move || {
                self.serve_one(arrival);
                active.fetch_sub(1, Ordering::AcqRel);
            });
        })
    }

    /// One connection of the daemon: TLS, the handshake (counted against the peer's address
    /// until it succeeds), then the session.
    fn serve_one(&self, arrival: Arrival<'_>) {
        match self.listener.authenticate(arrival, self.rep) {
            Ok(None) => {}
            Ok(Some(conn)) => {
                self.listener.renew_code(self.rep);
                if let Err(e) = self.session(conn) {
                    self.rep.warn(&crate::report::sanitize(&crate::error::chain_text("session failed: ", &e)));
                }
            }
            Err(e) => {
                self.rep.warn(&crate::report::sanitize(&crate::error::chain_text("", &e)));
                self.listener.renew_code(self.rep);
            }
        }
    }
}
