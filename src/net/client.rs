//! What the commands share on the network side: the runtime, codes (creating and reading),
//! and the dialer with its reconnect loop (`--retries`).
//!
//! Owns: where a code comes from (never argv), retry policy and backoff. Does not own: what a
//! session does once connected (the commands and net::server decide).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Result};
use rand_core::OsRng;
use tokio::runtime::{Handle, Runtime};

use super::connect;
use super::endpoint::{Bulk, Endpoint};
use super::handshake::{self, Authenticated, DialAuth, ResumeTicket};
use crate::auth::{Code, Identity};
use crate::error::{tagged, Kind};
use crate::report::Reporter;

/// First delay between reconnect attempts (doubles each time).
const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest delay between reconnect attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// The async runtime of a network command: two workers (QUIC drivers); engine threads stay
/// outside it.
pub fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pcp-net")
        .enable_all()
        .build()
        .map_err(|e| anyhow!("starting the network runtime: {e}"))
}

/// This process's Noise identity. Pairing (stored identities) comes later; for one-time codes
/// a fresh static key per process is enough, and nothing is written to disk.
pub fn identity() -> Result<Identity> {
    Ok(Identity::generate()?)
}

/// The code of the side that creates it: `PCP_CODE` if set (scripts and tests), else random.
pub fn new_code() -> Result<Code> {
    match std::env::var("PCP_CODE") {
        Ok(s) if !s.trim().is_empty() => Code::parse(&s).map_err(|e| {
            tagged(Kind::Usage, format!("PCP_CODE: {e}; use at least a channel word and 2 secret words, or unset it"))
        }),
        _ => Ok(Code::generate(&mut OsRng, crate::auth::code::DEFAULT_SECRET_WORDS)?),
    }
}

/// A fresh random code (after the previous one was used).
pub fn random_code() -> Result<Code> {
    Ok(Code::generate(&mut OsRng, crate::auth::code::DEFAULT_SECRET_WORDS)?)
}

/// The code of the side that types it: `PCP_CODE`, `--code-file FILE`, or a terminal prompt
/// that does not echo it. Never argv; with no terminal and no code, an error instead of a hang.
pub fn read_code(code_file: Option<&Path>) -> Result<Code> {
    let text = if let Some(s) = std::env::var("PCP_CODE").ok().filter(|s| !s.trim().is_empty()) {
        s
    } else if let Some(f) = code_file {
        // A code file planted behind another user's symlink would connect to their peer.
        let mut s = String::new();
        crate::fsio::trust::open_file(f)
            .map_err(|e| tagged(Kind::Usage, format!("cannot read the code file: {e}")))
            .and_then(|file| {
                use std::io::Read;
                file.take(4096)
                    .read_to_string(&mut s)
                    .map_err(|e| tagged(Kind::Usage, format!("cannot read the code file {}: {e}", f.display())))
            })?;
        s.lines().next().unwrap_or("").to_owned()
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        // Typed without echo, like a password: the code stays off the screen and scrollback.
        crate::tty::read_hidden_line("Enter code (not shown): ").map_err(|e| {
            tagged(
                Kind::Usage,
                format!("cannot read the code from the terminal: {e}; set PCP_CODE or pass --code-file FILE instead"),
            )
        })?
    } else {
        return Err(tagged(
            Kind::Usage,
            "no code: set PCP_CODE, pass --code-file FILE, or run in a terminal to be asked (codes are never taken from the command line)",
        ));
    };
    Code::parse(text.trim()).map_err(|e| tagged(Kind::Usage, e.to_string()))
}

/// Ask a yes/no question on the terminal. No terminal: an error naming `--yes`.
pub fn confirm(question: &str) -> Result<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(tagged(Kind::Usage, "cannot ask for confirmation without a terminal; pass --yes to accept"));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

/// The dialing side of a session: connects, authenticates (code first, resume ticket after),
/// and reconnects on a dropped connection.
pub struct Dialer {
    rt: Runtime,
    ep: Endpoint,
    identity: Identity,
    code: Code,
    ticket: Option<ResumeTicket>,
    peer: String,
    target: SocketAddr,
    /// `--verify`: show the verifier words and ask before going on.
    verify: bool,
}

impl Dialer {
    /// Prepare to reach `peer` as `conn` says (`--addr`, `--timeout`), authenticating with
    /// `code`; `bulk` says which way the data will flow.
    pub fn new(peer: &str, conn: &crate::cli::ConnectArgs, code: Code, bulk: Bulk) -> Result<Self> {
        let addr = conn.addr.as_deref();
        let rt = runtime()?;
        let target = match addr {
            Some(a) => rt.block_on(connect::resolve(a))?,
            None => {
                return Err(tagged(
                    Kind::Connect,
                    format!("cannot find peer {peer:?}: discovery is not available yet; pass --addr HOST:PORT (printed by the peer's `pcp serve` or `pcp send`)"),
                ))
            }
        };
        let ep = {
            let _g = rt.enter();
            Endpoint::bind(connect::bind_addr_for(&target), bulk, Duration::from_secs(conn.timeout))?
        };
        let verify = conn.verify;
        Ok(Self { rt, ep, identity: identity()?, code, ticket: None, peer: peer.to_owned(), target, verify })
    }

    /// The runtime handle (for the transport threads).
    pub fn handle(&self) -> Handle {
        self.rt.handle().clone()
    }

    /// Connect and authenticate: the code on the first connection, the session's resume
    /// ticket on later ones.
    pub fn connect(&mut self, rep: &Reporter) -> Result<(quinn::Connection, Authenticated)> {
        let (conn, path) = self.rt.block_on(connect::dial(&self.ep, &self.peer, Some(self.target)))?;
        let auth = match &self.ticket {
            Some(t) => self.rt.block_on(handshake::dial(&conn, DialAuth::Resume(t), &self.identity))?,
            None => self.rt.block_on(handshake::dial(&conn, DialAuth::Code(&self.code), &self.identity))?,
        };
        rep.peer_connected(conn.remote_address(), path.name(), auth.resumed, auth.verifier.as_deref());
        if let (true, Some(words)) = (self.verify, auth.verifier.as_deref()) {
            let same = confirm(&format!("Verifier: {words}\nDoes the other side show exactly these words?"))?;
            if !same {
                conn.close(quinn::VarInt::from_u32(handshake::close::CODE_REJECTED), handshake::VERIFIER_DECLINED);
                return Err(tagged(
                    Kind::Auth,
                    "the verifier words were declined: someone may be between you and the peer; nothing was sent. Make a new code and try again, over another channel if you can",
                ));
            }
        }
        if let Some(t) = &auth.ticket {
            self.ticket = Some(t.clone());
        }
        Ok((conn, auth))
    }

    /// Run `f` (one connection's worth of work) and, when the connection drops, reconnect and
    /// run it again, up to `retries` times with exponential backoff.
    pub fn with_retries<T>(
        &mut self,
        retries: u32,
        rep: &Reporter,
        mut f: impl FnMut(&mut Self, u32) -> Result<T>,
    ) -> Result<T> {
        let mut delay = BACKOFF_START;
        let mut attempt = 0u32;
        loop {
            match f(self, attempt) {
                Ok(v) => {
                    self.rt.block_on(self.ep.shutdown());
                    return Ok(v);
                }
                // Only a dropped session is retried: a first connection that fails is reported
                // at once, and a spent code is never tried again.
                Err(e) if attempt < retries && retryable(&e) && self.ticket.is_some() => {
                    attempt += 1;
                    rep.warn(&format!(
                        "{}; reconnecting in {:.1} s (attempt {attempt} of {retries})",
                        crate::report::sanitize(&format!("{e:#}")),
                        delay.as_secs_f64()
                    ));
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
                Err(e) => {
                    // Tell the peer at once instead of leaving it to the idle timeout.
                    self.rt.block_on(self.ep.shutdown());
                    return Err(e);
                }
            }
        }
    }
}

/// Whether an error is a dropped connection worth reconnecting for.
pub fn retryable(e: &anyhow::Error) -> bool {
    if crate::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    if e.chain().any(|c| matches!(c.downcast_ref::<crate::proto::Error>(), Some(crate::proto::Error::Closed))) {
        return true;
    }
    matches!(crate::error::kind_of(e), Kind::Connect | Kind::Timeout)
}
