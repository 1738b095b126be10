//! What the commands share on the network side: the runtime, codes (creating and reading),
//! and the dialer with its reconnect loop (`--retries`).
//!
//! Owns: where a code comes from (never argv), retry policy and backoff. Does not own: what a
//! session does once connected (`session`), or asking the user anything (`tty`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use rand_core::OsRng;
use tokio::runtime::Runtime;

use super::conn::Conn;
use super::connect;
use super::endpoint::{Bulk, Endpoint};
use super::handshake::{self, DialAuth, ResumeTicket};
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
        .map_err(|e| super::error::Error::Setup(format!("starting the network runtime: {e}")).into())
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

/// How to reach a peer, resolved from the command line (`--addr`, `--timeout`, `--verify`).
#[derive(Debug, Clone, Default)]
pub struct DialOptions {
    /// `--addr HOST:PORT`: a known address (discovery comes later).
    pub addr: Option<String>,
    /// Idle timeout: give up on a silent peer after this long.
    pub timeout: Duration,
    /// `--verify`: show the verifier words and ask before going on.
    pub verify: bool,
    /// `--retries`: reconnects after a dropped connection.
    pub retries: u32,
}

/// Asks the user whether the verifier words match (`--verify`); supplied by the command.
pub type VerifyPrompt<'a> = &'a dyn Fn(&str) -> Result<bool>;

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
    retries: u32,
}

impl Dialer {
    /// Prepare to reach `peer` as `conn` says (`--addr`, `--timeout`), authenticating with
    /// `code`; `bulk` says which way the data will flow.
    pub fn new(peer: &str, conn: &DialOptions, code: Code, bulk: Bulk) -> Result<Self> {
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
            Endpoint::bind(connect::bind_addr_for(&target), bulk, conn.timeout)?
        };
        let (verify, retries) = (conn.verify, conn.retries);
        Ok(Self { rt, ep, identity: identity()?, code, ticket: None, peer: peer.to_owned(), target, verify, retries })
    }

    /// Connect and authenticate: the code on the first connection, the session's resume
    /// ticket on later ones.
    pub fn connect(&mut self, rep: &Reporter, prompt: VerifyPrompt<'_>) -> Result<Conn> {
        let (conn, path) = self.rt.block_on(connect::dial(&self.ep, &self.peer, Some(self.target)))?;
        let auth = match &self.ticket {
            Some(t) => self.rt.block_on(handshake::dial(&conn, DialAuth::Resume(t), &self.identity))?,
            None => self.rt.block_on(handshake::dial(&conn, DialAuth::Code(&self.code), &self.identity))?,
        };
        rep.peer_connected(conn.remote_address(), path.name(), auth.resumed, auth.verifier.as_deref());
        if let (true, Some(words)) = (self.verify, auth.verifier.as_deref()) {
            let same = prompt(words)?;
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
        Ok(Conn::new(self.rt.handle().clone(), conn, auth, path.name()))
    }

    /// Run `f` (one connection's worth of work) and, when the connection drops, reconnect and
    /// run it again, up to `retries` times with exponential backoff.
    pub fn with_retries<T>(
        &mut self,
        rep: &Reporter,
        stop: &std::sync::atomic::AtomicBool,
        mut f: impl FnMut(&mut Self, u32) -> Result<T>,
    ) -> Result<T> {
        let mut delay = BACKOFF_START;
        let mut attempt = 0u32;
        let retries = self.retries;
        loop {
            match f(self, attempt) {
                Ok(v) => {
                    self.rt.block_on(self.ep.shutdown());
                    return Ok(v);
                }
                // Only a dropped session is retried: a first connection that fails is reported
                // at once, and a spent code is never tried again.
                Err(e)
                    if attempt < retries
                        && retryable(&e)
                        && self.ticket.is_some()
                        && !stop.load(std::sync::atomic::Ordering::Relaxed) =>
                {
                    attempt += 1;
                    rep.warn(&format!(
                        "{}; reconnecting in {:.1} s (attempt {attempt} of {retries})",
                        crate::report::sanitize(&crate::error::chain_text("", &e)),
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
    if e.chain().any(|c| matches!(c.downcast_ref::<crate::proto::Error>(), Some(crate::proto::Error::Closed))) {
        return true;
    }
    matches!(crate::error::kind_of(e), Kind::Connect | Kind::Timeout)
}
