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

use super::conn::{Conn, PathWatch};
use super::connect::{self, PathKind};
use super::endpoint::{Bulk, Endpoint};
use super::handshake::{self, DialAuth, ResumeTicket};
use crate::auth::peers::{PeerName, PeerRecord};
use crate::auth::{Code, Identity};
use crate::error::{tagged, Kind};
use crate::report::Reporter;

/// First delay between reconnect attempts (doubles each time).
const BACKOFF_START: Duration = Duration::from_millis(500);
/// How long a dialer waits for a LAN (mDNS) answer.
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

/// This installation's Noise identity: `identity.key` in the config directory, created on
/// first use (0600 in a 0700 directory; refused, with the fix, when others could read it).
pub fn identity() -> Result<Identity> {
    Ok(crate::fsio::keyfile::load_or_create(&crate::config::config_dir())?)
}

/// How a dialer authenticates its first connection.
pub enum FirstAuth {
    /// A one-time code (first contact, or pairing again).
    Code(Code),
    /// A paired peer: no code (Noise_IKpsk2 with its pinned key and the pair's psk).
    Paired(PeerRecord),
}

/// What a dialer remembers of a first contact that succeeds.
#[derive(Debug, Clone, Default)]
pub struct Remember {
    /// Keep the listener as a paired peer under the name the user gave it (`nas` of
    /// `nas:dir`); false: `--no-remember`, and the listener is asked not to keep this side.
    pub enabled: bool,
    /// The name offered to the listener for this machine (`--as`, else the hostname).
    pub offer: Option<String>,
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
    /// What to remember of a first contact (`--no-remember`, `--as`).
    pub remember: Remember,
    /// How to find the peer when no address is known (mDNS, the rendezvous).
    pub reach: connect::Reach,
}

/// Asks the user whether the verifier words match (`--verify`); supplied by the command.
pub type VerifyPrompt<'a> = &'a dyn Fn(&str) -> Result<bool>;

/// The dialing side of a session: connects, authenticates (code first, resume ticket after),
/// and reconnects on a dropped connection.
pub struct Dialer {
    rt: Runtime,
    ep: Endpoint,
    identity: Identity,
    auth: FirstAuth,
    /// The name to keep the listener under after a first contact; `None`: do not.
    remember_as: Option<PeerName>,
    offer: Option<String>,
    ticket: Option<ResumeTicket>,
    peer: String,
    target: SocketAddr,
    /// How `target` was found (`lan`: by mDNS).
    path: connect::PathKind,
    /// `--verify`: show the verifier words and ask before going on.
    verify: bool,
    retries: u32,
    /// How to look the peer up again when no address was given: a remembered address, or a
    /// reconnect's old one, that no longer answers (a peer behind a NAT that has forgotten
    /// the mapping) is replaced by a fresh lookup.
    discovery: Option<Discovery>,
    /// `target` was just found (or given by --addr): dial it with the full timeout.
    fresh: bool,
}

/// What a dialer with no address looked its peer up by.
struct Discovery {
    label: String,
    reach: connect::Reach,
    server: Option<SocketAddr>,
}

/// How long a reconnect waits at the old address of a discovered peer before looking it up
/// again.
const REDIAL_WAIT: Duration = Duration::from_secs(3);

impl Dialer {
    /// Prepare to reach `peer` as `conn` says (`--addr`, `--timeout`), authenticating with
    /// `code`; `bulk` says which way the data will flow.
    pub fn new(peer: &str, conn: &DialOptions, auth: FirstAuth, bulk: Bulk) -> Result<Self> {
        // A paired peer's last address that worked, unless --addr names one.
        let remembered = match &auth {
            FirstAuth::Paired(r) => r.addr.clone(),
            FirstAuth::Code(_) => None,
        };
        let addr = conn.addr.as_deref().or(remembered.as_deref());
        let rt = runtime()?;
        // The code's channel word or the pairing's token of today: what the LAN and the
        // rendezvous are asked for when there is no address, or the remembered one fails.
        let label = match &auth {
            FirstAuth::Code(c) => super::mdns::code_label(c.channel()),
            FirstAuth::Paired(r) => super::mdns::pair_label(&r.psk, super::mdns::today()),
        };
        let server = match (&conn.addr, conn.reach.rendezvous.as_deref()) {
            (None, Some(r)) => Some(rt.block_on(connect::resolve_rendezvous(r))?),
            _ => None,
        };
        let lookup = Discovery { label, reach: conn.reach.clone(), server };
        let (target, path, ep, fresh) = match addr {
            Some(a) => {
                let target = rt.block_on(connect::resolve(a))?;
                let _g = rt.enter();
                let ep = Endpoint::bind(connect::bind_addr_for(&target), bulk, conn.timeout)?;
                (target, connect::PathKind::Direct, ep, conn.addr.is_some())
            }
            None => {
                let family = server.unwrap_or(SocketAddr::from(([0u8; 4], 0)));
                let ep = {
                    let _g = rt.enter();
                    Endpoint::bind(connect::bind_addr_for(&family), bulk, conn.timeout)?
                };
                let d = &lookup;
                let (target, path) = rt.block_on(connect::discover(&ep, &d.label, &d.reach, d.server, peer))?;
                (target, path, ep, true)
            }
        };
        // Without --addr, and with somewhere to look: a failing address is looked up again.
        let can_look = (conn.reach.mdns && !conn.reach.relay_only) || server.is_some();
        let discovery = (conn.addr.is_none() && can_look).then_some(lookup);
        let (verify, retries) = (conn.verify, conn.retries);
        let remember_as = if conn.remember.enabled { PeerName::parse(peer).ok() } else { None };
        Ok(Self {
            rt,
            ep,
            identity: identity()?,
            auth,
            remember_as,
            offer: conn.remember.offer.clone(),
            ticket: None,
            peer: peer.to_owned(),
            target,
            path,
            verify,
            retries,
            discovery,
            fresh,
        })
    }

    /// Connect and authenticate: the code on the first connection, the session's resume
    /// ticket on later ones.
    pub fn connect(&mut self, rep: &Reporter, prompt: VerifyPrompt<'_>) -> Result<Conn> {
        let (conn, path) = match (&self.discovery, self.fresh) {
            // A remembered address, or a reconnect: the peer's NAT may have lost the mapping.
            (Some(d), false) => {
                match self.rt.block_on(connect::dial_within(&self.ep, self.target, self.path, REDIAL_WAIT)) {
                    Ok(c) => c,
                    Err(_) => {
                        let found = connect::discover(&self.ep, &d.label, &d.reach, d.server, &self.peer);
                        (self.target, self.path) = self.rt.block_on(found)?;
                        self.rt.block_on(connect::dial(&self.ep, self.target, self.path))?
                    }
                }
            }
            _ => self.rt.block_on(connect::dial(&self.ep, self.target, self.path))?,
        };
        self.fresh = false;
        let how = match (&self.ticket, &self.auth) {
            (Some(t), _) => DialAuth::Resume(t),
            (None, FirstAuth::Code(c)) => DialAuth::Code(c),
            (None, FirstAuth::Paired(r)) => DialAuth::Paired(&r.key, &r.psk),
        };
        let offer = self.remember_as.as_ref().and(self.offer.as_deref());
        let mut auth = match self.rt.block_on(handshake::dial(&conn, how, &self.identity, offer)) {
            // The listener restarted (a daemon under systemd) and lost the session: a paired
            // dialer starts a fresh one with its pairing; the destination's staged data means
            // only what had not arrived is sent again.
            Err(e)
                if self.ticket.is_some()
                    && matches!(self.auth, FirstAuth::Paired(_))
                    && handshake::is_resume_rejected(&e) =>
            {
                self.ticket = None;
                return self.connect(rep, prompt);
            }
            r => r?,
        };
        rep.peer_connected(crate::report::Connected {
            who: &self.peer,
            addr: conn.remote_address(),
            path: path.name(),
            rtt: conn.rtt(),
            resumed: auth.resumed,
            verifier: auth.verifier.as_deref(),
        });
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
        if self.ticket.is_none() {
            self.remember_peer(&mut auth, rep);
        }
        if let Some(t) = &auth.ticket {
            self.ticket = Some(t.clone());
        }
        let watch = match path {
            PathKind::Relay => PathWatch::DialerRelay { control: self.ep.control(), relay: self.target },
            _ => PathWatch::Fixed,
        };
        Ok(Conn::new(self.rt.handle().clone(), conn, auth, path.name(), watch))
    }

    /// After the first connection: store a new pairing (unless `--no-remember`), or note when a
    /// paired peer was seen and where. A failure to write is a warning: the session goes on.
    fn remember_peer(&self, auth: &mut handshake::Authenticated, rep: &Reporter) {
        let dir = crate::config::config_dir();
        let now = super::listen::unix_now();
        // A relay's address is no address of the peer (its port lives as long as the session).
        let addr = (self.path != PathKind::Relay).then(|| self.target.to_string());
        let r = match (auth.pair.take(), &self.auth) {
            (Some(pair), _) => match &self.remember_as {
                Some(name) => {
                    crate::fsio::keyfile::update_peers(&dir, |p| p.pair(name, pair.key, pair.psk, now, addr, None))
                        .map_err(|e| e.to_string())
                        .and_then(|r| r)
                        .map(|n| rep.paired(n.as_str(), &pair.key.fingerprint()))
                }
                None => Ok(()),
            },
            (None, FirstAuth::Paired(r)) => {
                let key = r.key;
                crate::fsio::keyfile::update_peers(&dir, |p| p.seen(&key, now, addr)).map_err(|e| e.to_string())
            }
            (None, FirstAuth::Code(_)) => Ok(()),
        };
        if let Err(e) = r {
            rep.warn(&format!("not remembering peer {}: {e}", self.peer));
        }
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
