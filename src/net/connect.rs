//! How a dialer reaches a peer, and how a listener is reached: the one place that later gets
//! more paths (mDNS on the LAN, rendezvous-assisted hole punching, relay). In this version the
//! only path is a known address (`--addr HOST:PORT` / `--listen ADDR`), reported as `direct`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;

use super::endpoint::Endpoint;
use crate::error::{tagged, Kind};

/// How long to wait for a peer to answer at all.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default address `pcp serve` and `pcp send` listen on.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:0";

/// Which path a connection took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A known address, dialed directly.
    Direct,
    /// An address a LAN peer gave in answer to an mDNS query.
    Lan,
}

impl PathKind {
    /// Name used in messages and `--json` events.
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Lan => "lan",
        }
    }
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
    match tokio::time::timeout(CONNECT_TIMEOUT, ep.dial(addr)).await {
        Ok(r) => Ok((r?, path)),
        Err(_) => Err(tagged(
            Kind::Connect,
            format!(
                "no answer from {addr} within {} s; check the address and that the peer is running",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}
