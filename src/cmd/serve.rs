//! `pcp serve DIR`: answer sync/cp/ls for DIR. Prints a one-time code (or uses `PCP_CODE`);
//! after a code is used or burnt it prints a fresh one, except with `--once`, which exits after
//! one session (exit 40 when the code was rejected).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Outcome;
use crate::cli::ServeArgs;
use crate::error::{tagged, Kind};
use crate::net::client::{identity, new_code, random_code, retryable, runtime};
use crate::net::connect::DEFAULT_LISTEN;
use crate::net::endpoint::Endpoint;
use crate::net::handshake::{self, CodeGuard, ResumeTable, CODE_TTL, RESUME_TTL};
use crate::net::server::{self, Ended, Served};
use crate::report::{Reporter, Stats};

/// `pcp serve`.
pub fn run(a: &ServeArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::remote::reported(&rep, serve(a, &rep))
}

fn serve(a: &ServeArgs, rep: &Reporter) -> Result<Outcome> {
    let dir = std::fs::canonicalize(&a.dir).ok().filter(|d| d.is_dir()).ok_or_else(|| {
        tagged(Kind::Select, format!("{} is not a directory; give the directory to serve", a.dir.display()))
    })?;
    let served = Served::Dir { dir, read_only: a.read_only };
    let listen = a.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let addr = listen.parse().map_err(|_| {
        tagged(Kind::Usage, format!("--listen {listen:?}: give an address like 0.0.0.0:7878 or [::]:0"))
    })?;
    let code = new_code()?;
    let rt = runtime()?;
    let ep = {
        let _g = rt.enter();
        Endpoint::bind(addr)?
    };
    let id = identity()?;
    rep.listening(ep.local_addr()?);
    rep.code(&code.to_string());
    let guard = CodeGuard::new(code, CODE_TTL);
    let resumes = ResumeTable::default();
    // With --once, after a dropped session: wait this long for the dialer to resume.
    let res = (|| -> Result<Outcome> {
        let mut resume_deadline: Option<(Instant, anyhow::Error)> = None;
        loop {
            let conn = match &resume_deadline {
                Some((t, _)) => {
                    let left = t.saturating_duration_since(Instant::now());
                    rt.block_on(async { tokio::time::timeout(left, ep.accept()).await.ok().flatten() })
                }
                None => rt.block_on(ep.accept()),
            };
            let Some(conn) = conn else {
                if let Some((_, e)) = resume_deadline.take() {
                    return Err(e);
                }
                return Err(tagged(Kind::Connect, "the endpoint closed"));
            };
            let auth = match rt.block_on(handshake::listen(&conn, &guard, &resumes, &id)) {
                Ok(x) => x,
                Err(e) => {
                    let auth_failed = crate::error::kind_of(&e) == Kind::Auth;
                    rep.warn(&crate::report::sanitize(&format!("{e:#}")));
                    if a.once && auth_failed && resume_deadline.is_none() {
                        return Err(e);
                    }
                    if guard.is_spent() && !a.once {
                        let c = random_code()?;
                        rep.code(&c.to_string());
                        guard.renew(c, CODE_TTL);
                    }
                    continue;
                }
            };
            rep.peer_connected(conn.remote_address(), "direct", auth.resumed);
            let stats = Arc::new(Stats::default());
            let start = Instant::now();
            let res = server::handle(&rt.handle().clone(), &conn, auth, &served, rep, &stats);
            match res {
                Ok(ended) => {
                    resume_deadline = None;
                    resumes.clear();
                    if let Ended::Transfer(_) = ended {
                        rep.stats(&stats, start.elapsed(), a.out.stats);
                    }
                    if a.once {
                        rt.block_on(ep.shutdown());
                        return match ended {
                            Ended::Transfer(end) if end.errors > 0 || end.skipped > 0 => Ok(Outcome::Partial),
                            Ended::Refused(e) => Err(e),
                            _ => Ok(Outcome::Ok),
                        };
                    }
                }
                Err(e) => {
                    rep.warn(&crate::report::sanitize(&format!("session failed: {e:#}")));
                    if a.once {
                        if !retryable(&e) {
                            return Err(e);
                        }
                        // The peer may reconnect with its resume secret.
                        resume_deadline = Some((Instant::now() + RESUME_WAIT.min(RESUME_TTL), e));
                    }
                }
            }
            if guard.is_spent() && !a.once {
                let c = random_code()?;
                rep.code(&c.to_string());
                guard.renew(c, CODE_TTL);
            }
        }
    })();
    // Let the peers hear about closed connections before the process exits.
    rt.block_on(ep.shutdown());
    res
}

/// With --once, how long to wait for a dropped peer to resume before giving up.
const RESUME_WAIT: Duration = Duration::from_secs(120);
