//! `pcp serve DIR`: answer sync/cp/ls for DIR. Prints a one-time code (or uses `PCP_CODE`);
//! after a code is used or burnt it prints a fresh one, except with `--once`, which exits after
//! one session (exit 40 when the code was rejected). After a wrong code, code attempts pause
//! for a doubling delay (the guessing budget lives in `net::handshake::CodeGuard`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Outcome;
use crate::cli::ServeArgs;
use crate::error::{tagged, Kind};
use crate::net::client::{random_code, retryable};
use crate::net::endpoint::{Endpoint, Incoming};
use crate::net::handshake::{self, CodeGuard, ResumeTable, CODE_TTL, RESUME_TTL};
use crate::net::server::{self, Ended, Served};
use crate::report::{Reporter, Stats};

/// `pcp serve`.
pub fn run(a: &ServeArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::remote::reported(&rep, serve(a, &rep))
}

fn serve(a: &ServeArgs, rep: &Reporter) -> Result<Outcome> {
    // Peers write here: never through a symlink someone else planted on the way.
    crate::fsio::trust::check(&a.dir)?;
    let dir = std::fs::canonicalize(&a.dir).ok().filter(|d| d.is_dir()).ok_or_else(|| {
        tagged(Kind::Select, format!("{} is not a directory; give the directory to serve", a.dir.display()))
    })?;
    let root = crate::fsio::source::SourceRoot::open(&dir)
        .map_err(|e| tagged(Kind::Select, format!("{}: {e}; give the directory to serve", dir.display())))?;
    let served = Served::Dir { dir, root: Arc::new(root), read_only: a.read_only };
    let server::Listener { rt, ep, id, guard, resumes } = server::start_listening(a.listen.as_deref(), rep)?;
    let ctx = Ctx {
        rt: rt.handle().clone(),
        ep: &ep,
        id: &id,
        guard: &guard,
        resumes: &resumes,
        served: &served,
        rep,
        stats: a.out.stats,
    };
    let res = if a.once { ctx.once() } else { ctx.many() };
    // Let the peers hear about closed connections before the process exits.
    rt.block_on(ep.shutdown());
    res
}

/// Most connections (TLS, handshakes and sessions) served at once; more are refused as busy.
const MAX_CONNECTIONS: usize = 4;

struct Ctx<'a> {
    rt: tokio::runtime::Handle,
    ep: &'a Endpoint,
    id: &'a crate::auth::Identity,
    guard: &'a CodeGuard,
    resumes: &'a ResumeTable,
    served: &'a Served,
    rep: &'a Reporter,
    stats: bool,
}

impl Ctx<'_> {
    /// After a handshake spent the code (or it expired), print a fresh one for the next peer;
    /// after a failed one, also when the next code attempt will be accepted (CodeGuard's pause).
    fn renew(&self) {
        if let Some(r) = self.guard.renew_if_spent(|| random_code().ok(), CODE_TTL) {
            if let Some((failures, wait)) = r.cooldown {
                self.rep.warn(&handshake::cooldown_notice(failures, wait));
            }
            self.rep.code(&r.code.to_string());
        }
    }

    /// Serve one authenticated connection; the transfer's summary goes to the reporter.
    fn session(&self, conn: &quinn::Connection, auth: handshake::Authenticated) -> Result<Ended> {
        let peer = auth.peer;
        self.rep.peer_connected(conn.remote_address(), "direct", auth.resumed, auth.verifier.as_deref());
        if let Some(words) = auth.verifier.as_deref() {
            self.rep.verifier(words);
        }
        let stats = Arc::new(Stats::default());
        let start = Instant::now();
        let r = server::handle(&self.rt, conn, auth, self.served, self.resumes, self.rep, &stats);
        if r.is_ok() {
            // Finished: its resume secret is no longer needed.
            self.resumes.forget(&peer);
        }
        if let Ok(Ended::Transfer(_)) = &r {
            self.rep.stats(&stats, start.elapsed(), self.stats);
        }
        r
    }

    /// `--once`: one session, sequentially; a dropped one may resume within RESUME_WAIT.
    fn once(&self) -> Result<Outcome> {
        let mut resume_deadline: Option<(Instant, anyhow::Error)> = None;
        loop {
            let pending = match &resume_deadline {
                Some((t, _)) => {
                    let left = t.saturating_duration_since(Instant::now());
                    self.rt.block_on(async { tokio::time::timeout(left, self.ep.accept()).await.ok().flatten() })
                }
                None => self.rt.block_on(self.ep.accept()),
            };
            let Some(pending) = pending else {
                return Err(resume_deadline
                    .take()
                    .map(|(_, e)| e)
                    .unwrap_or_else(|| tagged(Kind::Connect, "the endpoint closed")));
            };
            let auth = match self.rt.block_on(handshake::listen(pending.conn(), self.guard, self.resumes, self.id)) {
                Ok(x) => x,
                Err(e) => {
                    self.rep.warn(&crate::report::sanitize(&format!("{e:#}")));
                    if crate::error::kind_of(&e) == Kind::Auth && resume_deadline.is_none() {
                        return Err(e);
                    }
                    continue;
                }
            };
            let conn = pending.authenticated();
            match self.session(&conn, auth) {
                Ok(Ended::Transfer(end)) if end.errors > 0 || end.skipped > 0 => return Ok(Outcome::Partial),
                Ok(Ended::Refused(e)) => return Err(e),
                Ok(_) => return Ok(Outcome::Ok),
                Err(e) => {
                    self.rep.warn(&crate::report::sanitize(&format!("session failed: {e:#}")));
                    if !retryable(&e) {
                        return Err(e);
                    }
                    // The peer may reconnect with its resume secret.
                    resume_deadline = Some((Instant::now() + RESUME_WAIT.min(RESUME_TTL), e));
                }
            }
        }
    }

    /// Without `--once`: serve connections concurrently (at most MAX_CONNECTIONS), printing a
    /// fresh code whenever one was used or burnt. The endpoint already refused connections from
    /// an address with too many handshakes in progress; this loop refuses any beyond
    /// MAX_CONNECTIONS, also before TLS, and runs TLS in the connection's own thread, so a peer
    /// that stalls its TLS handshake holds one slot, not the accept loop.
    fn many(&self) -> Result<Outcome> {
        let active = AtomicUsize::new(0);
        std::thread::scope(|s| loop {
            let Some(incoming) = self.rt.block_on(self.ep.incoming()) else {
                return Err(tagged(Kind::Connect, "the endpoint closed"));
            };
            if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                incoming.refuse();
                continue;
            }
            active.fetch_add(1, Ordering::AcqRel);
            let active = &active;
            s.spawn(move || {
                self.serve_one(incoming);
                active.fetch_sub(1, Ordering::AcqRel);
            });
        })
    }

    /// One connection of `many`: TLS, the handshake (counted against the peer's address until
    /// it succeeds), then the session.
    fn serve_one(&self, incoming: Incoming<'_>) {
        // A failed TLS handshake never reached pcp: nothing to report.
        let Ok(pending) = self.rt.block_on(incoming.connect()) else {
            return;
        };
        match self.rt.block_on(handshake::listen(pending.conn(), self.guard, self.resumes, self.id)) {
            Ok(auth) => {
                let conn = pending.authenticated();
                self.renew();
                if let Err(e) = self.session(&conn, auth) {
                    self.rep.warn(&crate::report::sanitize(&format!("session failed: {e:#}")));
                }
            }
            Err(e) => {
                drop(pending);
                self.rep.warn(&crate::report::sanitize(&format!("{e:#}")));
                self.renew();
            }
        }
    }
}

/// With --once, how long to wait for a dropped peer to resume before giving up.
const RESUME_WAIT: Duration = Duration::from_secs(120);
