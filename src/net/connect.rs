//! How a dialer reaches a peer, and how a listener is reached. Paths:
//! - a known address (`--addr HOST:PORT`, a peer's last address), reported as `direct`;
//! - with no address, the sources of candidates race ([`discover`]): mDNS on the LAN
//!   (`lan`) and the rendezvous, whose introduction and hole punch give an address on the
//!   punched path (`direct`). The first that answers wins; a relay comes next.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;

use super::endpoint::Endpoint;
use crate::error::{tagged, Kind};

/// How long to wait for a peer to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default address `pcp serve` and `pcp send` listen on.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:0";

/// How peers find each other when no address is given (`--no-mdns`, `--rendezvous`).
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Announce (a listener) or look up (a dialer) on the LAN by mDNS.
    pub mdns: bool,
    /// The rendezvous server, HOST:PORT.
    pub rendezvous: Option<String>,
    /// A dialer meets the peer only through the rendezvous' relay: no punch, no LAN lookup,
    /// and neither side learns the other's address (`--relay-only`).
    pub relay_only: bool,
}

/// Which path a connection took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A known address, dialed directly.
    Direct,
    /// An address a LAN peer gave in answer to an mDNS query.
    Lan,
    /// Through the rendezvous' relay, which forwards the QUIC datagrams end to end.
    Relay,
}

impl PathKind {
    /// Name used in messages and `--json` events.
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Lan => "lan",
            Self::Relay => "relay",
        }
    }
}

/// How long a dialer waits for the LAN's answer.
const MDNS_WAIT: Duration = Duration::from_secs(2);
/// How long a dialer waits for the rendezvous to introduce the peer (it may not have
/// registered yet: `pcp receive` typed before `pcp send` printed its code).
const RENDEZVOUS_WAIT: Duration = Duration::from_secs(6);

/// Resolve the rendezvous server's `HOST:PORT`.
pub async fn resolve_rendezvous(addr: &str) -> Result<SocketAddr> {
    let bad = |why: String| {
        tagged(
            Kind::Usage,
            format!("rendezvous {addr:?}: {why}; give --rendezvous (or PCP_RENDEZVOUS, or rendezvous in config.toml) as HOST:PORT"),
        )
    };
    let mut it = tokio::net::lookup_host(addr).await.map_err(|e| bad(format!("cannot resolve it: {e}")))?;
    it.next().ok_or_else(|| bad("it resolves to no address".into()))
}

/// Find the peer waiting under `label` (net::mdns's label of a code or pairing) with no
/// address given: mDNS and the rendezvous at `server` race; the first address wins.
pub async fn discover(
    ep: &Endpoint,
    label: &str,
    reach: &Reach,
    server: Option<SocketAddr>,
    peer: &str,
) -> Result<(SocketAddr, PathKind)> {
    use super::rendezvous::{client, messages};
    let l = label.to_owned();
    let mdns = (reach.mdns && !reach.relay_only)
        .then(|| tokio::task::spawn_blocking(move || super::mdns::browse(&l, MDNS_WAIT)));
    let mut mdns_done = mdns.is_none();
    let mut mdns_fut = std::pin::pin!(async move {
        match mdns {
            Some(t) => t.await.ok().flatten(),
            None => None,
        }
    });
    let control = ep.control();
    let relay_only = reach.relay_only;
    let token = messages::token(label);
    let mut rdv_done = server.is_none();
    let mut rdv_fut = std::pin::pin!(async move {
        match server {
            Some(s) => Some(client::find(control, s, token, RENDEZVOUS_WAIT, relay_only).await),
            None => None,
        }
    });
    let mut rdv_err = None;
    while !(mdns_done && rdv_done) {
        tokio::select! {
            r = &mut mdns_fut, if !mdns_done => {
                mdns_done = true;
                if let Some(a) = r {
                    return Ok((a, PathKind::Lan));
                }
            }
            r = &mut rdv_fut, if !rdv_done => {
                rdv_done = true;
                match r {
                    Some(Ok(client::Found::Direct(a))) => return Ok((a, PathKind::Direct)),
                    Some(Ok(client::Found::Relay(a))) => return Ok((a, PathKind::Relay)),
                    Some(Err(e)) => rdv_err = Some(e),
                    None => {}
                }
            }
        }
    }
    let lan = match (reach.mdns, reach.relay_only) {
        (_, true) => "not on the LAN (--relay-only)",
        (true, false) => "on the LAN: mDNS had no answer in 2 s",
        (false, false) => "not on the LAN (--no-mdns)",
    };
    let rdv = match (&reach.rendezvous, rdv_err) {
        (Some(r), Some(client::FindError::Busy)) => {
            return Err(tagged(
                Kind::Connect,
                format!("rendezvous {r} busy: it refused the lookup; try again in a minute"),
            ))
        }
        (Some(r), Some(e)) => format!("through rendezvous {r}: {e}"),
        (Some(r), None) => format!("through rendezvous {r}: no answer"),
        (None, _) => "no rendezvous (--rendezvous HOST:PORT or PCP_RENDEZVOUS names one)".to_owned(),
    };
    Err(tagged(
        Kind::Connect,
        format!("cannot find peer {peer:?} ({lan}; {rdv}); pass --addr HOST:PORT (printed by the peer's `pcp serve` or `pcp send`)"),
    ))
}

/// Resolve `HOST:PORT`.
pub async fn resolve(addr: &str) -> Result<SocketAddr> {
    let mut it = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| tagged(Kind::Connect, format!("cannot resolve {addr:?}: {e}; give --addr as HOST:PORT")))?;
    it.next().ok_or_else(|| tagged(Kind::Connect, format!("{addr:?} resolves to no address; give --addr as HOST:PORT")))
}

/// The local address to bind for dialing `target` (any port, same address family).
pub fn bind_addr_for(target: &SocketAddr) -> SocketAddr {
    if target.is_ipv6() {
        SocketAddr::from(([0u16; 8], 0))
    } else {
        SocketAddr::from(([0u8; 4], 0))
    }
}

/// Open a QUIC connection to `addr`, found as `path` says (not yet authenticated).
pub async fn dial(ep: &Endpoint, addr: SocketAddr, path: PathKind) -> Result<(quinn::Connection, PathKind)> {
    dial_within(ep, addr, path, CONNECT_TIMEOUT).await
}

/// [`dial`], giving up after `wait`.
pub async fn dial_within(
    ep: &Endpoint,
    addr: SocketAddr,
    path: PathKind,
    wait: Duration,
) -> Result<(quinn::Connection, PathKind)> {
    match tokio::time::timeout(wait, ep.dial(addr)).await {
        Ok(r) => Ok((r?, path)),
        Err(_) => Err(tagged(
            Kind::Connect,
            format!(
                "no answer from {addr} within {} s; check the address and that the peer is running",
                wait.as_secs()
            ),
        )),
    }
}
