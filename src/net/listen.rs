//! The listening side of reaching a peer: one QUIC endpoint, the one-time code it prints, the
//! resume secrets of its sessions, and the handshake of each incoming connection. What an
//! authenticated connection may then do is the session layer's business (`session::accept`).
//!
//! Owns: binding, the code's lifetime (print, renew after use, cool down after failures),
//! resume tickets, handshake limits. Does not own: the accept loop or its policy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use tokio::runtime::Runtime;

use super::conn::{Conn, PathWatch};
use super::connect::Reach;
use super::endpoint::{Bulk, Endpoint, Incoming, IDLE_TIMEOUT};
use super::handshake::NewPair;
use super::handshake::{self, CodeGuard, ResumeTable, CODE_TTL};
use crate::auth::keys::PeerId;
use crate::auth::peers::{PeerName, Root};
use crate::auth::Identity;
use crate::error::{tagged, Kind};
use crate::report::Reporter;

/// A bound listener with its code.
pub struct Listener {
    rt: Runtime,
    ep: Endpoint,
    id: Identity,
    guard: CodeGuard,
    resumes: ResumeTable,
    /// Where paired peers are kept (the config directory); `None`: this listener neither
    /// remembers new pairings nor admits paired peers (`pcp send`: one-shot).
    peers_dir: Option<PathBuf>,
    /// The root a new pairing records (the served directory).
    new_root: Option<Root>,
    /// The name a new pairing gets instead of the one the dialer offers (`pcp pair NAME`).
    new_name: Option<PeerName>,
    /// The mDNS label of the current code (`None`: no code, or no mDNS).
    code_label: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// Answers LAN queries for the code and the pairings while the listener lives.
    _mdns: Option<super::mdns::Responder>,
    /// Keeps the code and the pairings registered at the rendezvous while the listener lives.
    rendezvous: Option<super::rendezvous::client::Agent>,
}

/// How a listener treats pairings (`pcp serve`, `pcp pair`).
#[derive(Debug, Clone, Default)]
pub struct Pairing {
    /// What a peer that pairs here may reach: `pcp serve DIR` records DIR (read-only with
    /// `--read-only`); `None` records no root (`pcp pair`).
    pub new_root: Option<Root>,
    /// Take codes from new peers; false (`pcp serve --no-code`): paired peers only, no code
    /// printed.
    pub codes: bool,
    /// Keep a new peer under this name rather than the one it offers (`pcp pair NAME`).
    pub name: Option<PeerName>,
}

/// A connection that passed the endpoint's limits; its TLS and pcp handshakes are ahead.
pub struct Arrival<'a>(Incoming<'a>);

impl Arrival<'_> {
    /// Refuse it before any TLS work (the listener is busy).
    pub fn refuse(self) {
        self.0.refuse();
    }
}

impl Listener {
    /// Bind `listen` (default `connect::DEFAULT_LISTEN`), then print the address and a code.
    ///
    /// `pairing`: remember dialers that pair with the code, and admit paired ones with no code
    /// (`pcp serve`, `pcp pair`); `None`: codes only, nothing remembered (`pcp send`).
    ///
    /// `reach`: answer LAN queries (net::mdns) for the code's channel word and, with pairing,
    /// for each paired peer's daily token (`--no-mdns`: not); register the same at the
    /// rendezvous, if one is named, and punch towards the dialers it introduces.
    pub fn bind(listen: Option<&str>, rep: &Reporter, pairing: Option<Pairing>, reach: &Reach) -> Result<Self> {
        let rt = super::client::runtime()?;
        // By default IPv4, or dual stack when the rendezvous is an IPv6 address (it must see
        // this very socket, and so must the peers it introduces).
        let v6_rendezvous = || {
            let r = reach.rendezvous.as_deref()?;
            rt.block_on(super::connect::resolve_rendezvous(r)).ok().filter(SocketAddr::is_ipv6)
        };
        let listen = match listen {
            Some(l) => l,
            None if v6_rendezvous().is_some() => "[::]:0",
            None => super::connect::DEFAULT_LISTEN,
        };
        let addr: SocketAddr = listen.parse().map_err(|_| {
            tagged(Kind::Usage, format!("--listen {listen:?}: give an address like 0.0.0.0:7878 or [::]:0"))
        })?;
        let code = super::client::new_code()?;
        let ep = {
            let _g = rt.enter();
            Endpoint::bind(addr, Bulk::Either, IDLE_TIMEOUT)?
        };
        let id = super::client::identity()?;
        rep.listening(ep.local_addr()?);
        let codes = pairing.as_ref().map_or(true, |p| p.codes);
        let guard = if codes {
            rep.code(&code.to_string());
            CodeGuard::new(code, CODE_TTL)
        } else {
            rep.info("taking no codes (--no-code): paired peers only");
            CodeGuard::closed(code)
        };
        let peers_dir = pairing.as_ref().map(|_| crate::config::config_dir());
        let code_label =
            std::sync::Arc::new(std::sync::Mutex::new(guard.channel().map(|c| super::mdns::code_label(&c))));
        // A listener bound to loopback is not on the LAN: nothing to announce there; nor is
        // one that shows its address to nobody (--relay-only).
        let responder = if reach.mdns && !reach.relay_only && !addr.ip().is_loopback() {
            let (labels, dir) = (code_label.clone(), peers_dir.clone());
            let port = ep.local_addr()?.port();
            super::mdns::Responder::start(port, Box::new(move || mdns_labels(&labels, dir.as_deref())))
        } else {
            None
        };
        let rendezvous = match &reach.rendezvous {
            Some(r) => register(&rt, &ep, r, rep, code_label.clone(), peers_dir.clone(), reach.relay_only)?,
            None => None,
        };
        let (new_root, new_name) = pairing.map_or((None, None), |p| (p.new_root, p.name));
        Ok(Self {
            rt,
            ep,
            id,
            guard,
            resumes: ResumeTable::default(),
            peers_dir,
            new_root,
            new_name,
            code_label,
            _mdns: responder,
            rendezvous,
        })
    }

    /// The next connection that passed the endpoint's limits, waiting at most `wait`: `Ok(None)`
    /// when none came in time, an error when the endpoint closed.
    pub fn arrival(&self, wait: Duration) -> Result<Option<Arrival<'_>>> {
        match self.rt.block_on(async { tokio::time::timeout(wait, self.ep.incoming()).await }) {
            Err(_) => Ok(None),
            Ok(Some(i)) => Ok(Some(Arrival(i))),
            Ok(None) => Err(tagged(Kind::Connect, "the endpoint closed")),
        }
    }

    /// TLS, then the pcp handshake (code or resume). `Ok(None)`: the TLS handshake failed, so
    /// the connection never reached pcp (nothing to report). An error: the pcp handshake
    /// failed (a wrong code is `Kind::Auth`).
    pub fn authenticate(&self, a: Arrival<'_>, rep: &Reporter) -> Result<Option<Conn>> {
        let Ok(pending) = self.rt.block_on(a.0.connect()) else {
            return Ok(None);
        };
        let dir = self.peers_dir.as_deref();
        let paired = |p: &PeerId| {
            let peers = crate::fsio::keyfile::load_peers(dir?).ok()?;
            peers.by_key(p).map(|r| r.psk.clone())
        };
        let mut auth =
            self.rt.block_on(handshake::listen(pending.conn(), &self.guard, &self.resumes, &self.id, &paired))?;
        if let Some(dir) = dir {
            let now = unix_now();
            match auth.pair.take() {
                Some(NewPair { key, psk, offered: Some(offered) }) => {
                    let name = self
                        .new_name
                        .clone()
                        .or_else(|| PeerName::sanitized(&offered))
                        .or_else(|| PeerName::sanitized(&format!("peer-{}", key.fingerprint())));
                    let r = name.ok_or_else(|| "no usable name".to_owned()).and_then(|name| {
                        crate::fsio::keyfile::update_peers(dir, |p| {
                            p.pair(&name, key, psk, now, None, self.new_root.clone())
                        })
                        .map_err(|e| e.to_string())?
                    });
                    match r {
                        Ok(n) => rep.paired(n.as_str(), &key.fingerprint()),
                        Err(e) => rep.warn(&format!("not remembering the new peer: {e}")),
                    }
                }
                Some(_) => {}
                None if !auth.resumed => {
                    let peer = auth.peer;
                    let _ = crate::fsio::keyfile::update_peers(dir, |p| p.seen(&peer, now, None));
                }
                None => {}
            }
        }
        let conn = pending.authenticated();
        let relays = self.rendezvous.as_ref().map(|r| r.relay_set()).filter(|r| r.contains(conn.remote_address()));
        let (path, watch) = match relays {
            Some(relays) => (super::connect::PathKind::Relay, PathWatch::ListenerRelay { relays }),
            None => (super::connect::PathKind::Direct, PathWatch::Fixed),
        };
        Ok(Some(Conn::new(self.rt.handle().clone(), conn, auth, path.name(), watch)))
    }

    /// After a handshake spent the code (or it expired), print a fresh one for the next peer;
    /// after a failed one, also when the next code attempt will be accepted.
    pub fn renew_code(&self, rep: &Reporter) {
        if let Some(r) = self.guard.renew_if_spent(|| super::client::random_code().ok(), CODE_TTL) {
            if let Some((failures, wait)) = r.cooldown {
                rep.warn(&handshake::cooldown_notice(failures, wait));
            }
            rep.code(&r.code.to_string());
            if let Ok(mut l) = self.code_label.lock() {
                *l = Some(super::mdns::code_label(r.code.channel()));
            }
        }
    }

    /// Bind the session of `peer` to its first request frame `body` (a resumed connection may
    /// only repeat it); an error text to refuse with.
    pub fn bind_request(&self, peer: &PeerId, resumed: bool, body: &[u8]) -> Result<(), &'static str> {
        self.resumes.bind_request(peer, resumed, body)
    }

    /// The session of `peer` ended cleanly: its resume secret is no longer needed.
    pub fn forget(&self, peer: &PeerId) {
        self.resumes.forget(peer);
    }

    /// Close every connection and wait (bounded) until the peers were told.
    pub fn shutdown(&self) {
        self.rt.block_on(self.ep.shutdown());
    }
}

/// What the mDNS responder answers: the current code's label and, when this listener pairs,
/// today's and yesterday's token of every paired peer.
fn mdns_labels(code: &std::sync::Mutex<Option<String>>, peers_dir: Option<&std::path::Path>) -> Vec<String> {
    let mut out: Vec<String> = code.lock().ok().and_then(|l| l.clone()).into_iter().collect();
    if let Some(peers) = peers_dir.and_then(|d| crate::fsio::keyfile::load_peers(d).ok()) {
        let day = super::mdns::today();
        for r in peers.records() {
            out.push(super::mdns::pair_label(&r.psk, day));
            out.push(super::mdns::pair_label(&r.psk, day.saturating_sub(1)));
        }
    }
    out
}

/// Register at the rendezvous `server` (waiting up to 2 s for its first answer, to say
/// whether it works): the code's channel (once) and the pairings' daily tokens (lasting).
fn register(
    rt: &Runtime,
    ep: &Endpoint,
    server: &str,
    rep: &Reporter,
    code: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    peers_dir: Option<PathBuf>,
    relay_only: bool,
) -> Result<Option<super::rendezvous::client::Agent>> {
    use super::rendezvous::messages::{token, Lifetime};
    let addr = rt.block_on(super::connect::resolve_rendezvous(server))?;
    let tokens = Box::new(move || {
        mdns_labels(&code, peers_dir.as_deref())
            .iter()
            .map(|l| (if l.starts_with("c-") { Lifetime::Once } else { Lifetime::Lasting }, token(l)))
            .collect()
    });
    let _g = rt.enter();
    let Some((agent, first)) = super::rendezvous::client::start(ep.control(), addr, tokens, relay_only) else {
        return Ok(None);
    };
    match rt.block_on(tokio::time::timeout(Duration::from_secs(2), first)) {
        Ok(Ok(seen)) => rep.info(&format!("Registered at rendezvous {server} (it sees this side as {seen})")),
        _ => rep.warn(&format!(
            "rendezvous {server} did not answer in 2 s; still trying (peers on the LAN, or given --addr, can connect meanwhile)"
        )),
    }
    Ok(Some(agent))
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
