//! The QUIC endpoint: ONE UDP socket that both listens and dials (so hole punching can later
//! reuse the same port), quinn 0.11 over rustls TLS 1.3 with the ring provider.
//!
//! Owns: socket options, TLS configuration, ALPN, transport tuning. Does not own: who talks to
//! whom (net::connect) or authentication (net::handshake).
//!
//! # Why the client accepts any certificate
//!
//! Each process makes a throwaway self-signed certificate; there is no PKI to check it against.
//! TLS here provides only transport encryption and a unique exporter secret per connection.
//! Peers are authenticated afterwards by the PAKE + Noise handshake on stream 0, whose prologue
//! binds the TLS exporter (`EXPORTER-pcp-binding-v1`, security.md §2.3): a machine-in-the-middle
//! that terminates TLS sees two different exporters and the handshake fails. The verifier below
//! still checks the handshake signature, so the server proves possession of its certificate key.
//! No 0-RTT (early data off on both sides) and no session tickets or resumption: every
//! connection runs a full TLS handshake, so replays are impossible.
//!
//! # Handshakes per address
//!
//! A connection counts against its source address from the moment it arrives until it is
//! authenticated or gone ([`HandshakeLimits`], security.md §F): at most
//! [`MAX_HANDSHAKES_PER_ADDRESS`] at a time, so one address cannot fill a listener's slots with
//! handshakes it never finishes (slow-loris). Further ones are refused before any TLS work
//! (QUIC `CONNECTION_REFUSED`, which carries no reason text, so the dialer explains it).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::pace;
use crate::error::{tagged, Kind};

/// ALPN protocol id of pcp version 1.
pub const ALPN: &[u8] = b"pcp/1";
/// Server name the dialer puts in the TLS handshake (certificates are not checked by name).
const SERVER_NAME: &str = "pcp";
/// Default idle timeout: a peer silent for this long is gone (the transfer resumes later).
/// Dialers may choose another (`--timeout`); QUIC uses the smaller of the two peers' values.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest keep-alive interval (a third of the idle timeout when that is shorter).
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Per-stream receive window. With the connection window, sized for 1 Gbit/s at 200 ms RTT
/// (docs/protocol.md "Transfer"): 512 MiB in 12.1 s there (48 MiB windows: 10.5 s, 40% more RSS).
const STREAM_WINDOW: u32 = 12 << 20;
/// Per-connection receive window (all streams together): the most it grows to. It starts at
/// [`MIN_CONN_WINDOW`] and follows the measured RTT ([`receive_window_for`]): what a receiver
/// buffers is what its window lets the sender put in flight, so a fixed 32 MiB window cost a
/// loopback receiver, which cannot keep up with its sender on 2 cores, 45-90 MiB of RSS.
const CONN_WINDOW: u32 = 32 << 20;
/// The connection receive window a connection starts with, and the least it shrinks to:
/// 1 Gbit/s up to 33 ms RTT.
const MIN_CONN_WINDOW: u32 = 4 << 20;
/// The rate the receive window is sized for: 1 Gbit/s, plus a quarter for RTT jitter.
const WINDOW_RATE: f64 = 1.25 * 125e6;

/// The connection receive window for a path of round-trip time `rtt`: its bandwidth-delay
/// product at 1 Gbit/s (plus a quarter), between `MIN_CONN_WINDOW` and `CONN_WINDOW` —
/// 31 MiB at 200 ms (issue 9: one connection fills 1 Gbit/s there), 4 MiB below 27 ms.
pub fn receive_window_for(rtt: Duration) -> VarInt {
    let bdp = rtt.as_secs_f64() * WINDOW_RATE;
    let w = (bdp as u64).clamp(u64::from(MIN_CONN_WINDOW), u64::from(CONN_WINDOW));
    VarInt::from_u64(w).unwrap_or(VarInt::from_u32(CONN_WINDOW))
}
/// Send window.
const SEND_WINDOW: u64 = 32 << 20;
/// UDP socket buffers asked of the kernel (it may clamp them to `net.core.rmem_max` / `wmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;
/// Largest UDP payload pcp sends or accepts. Path MTU discovery (DPLPMTUD, RFC 9000 §14.3)
/// searches up to it: an Ethernet path settles near 1452, loopback and jumbo-frame LANs reach it.
/// Fewer, larger packets cut the per-packet work (AEAD calls, ACK bookkeeping, syscalls) that
/// dominates QUIC's CPU cost: a 1 GiB push on loopback took 1.8 s instead of 2.7 s.
///
/// Why 6500 and not 65527: quinn hands the kernel up to 10 equal segments per GSO `sendmsg`,
/// and one GSO send may carry at most 65507 bytes of UDP payload (the IPv4 length field); with
/// larger segments the send fails, quinn counts those packets lost and, after a few such
/// bursts, black-hole detection drops the MTU to 1200 for a minute. 10 x 6500 fits.
const MAX_UDP_PAYLOAD: u16 = 6500;
/// The smallest UDP payload QUIC allows (RFC 9000 §14).
const MIN_UDP_PAYLOAD: u16 = 1200;
/// Unidirectional streams a peer may open at once (data streams, see net::transport).
pub const MAX_UNI_STREAMS: u32 = 8;

/// Which way the bulk data of this endpoint's connections flows. Path MTU discovery sends
/// padded probe packets (tens of KiB per connection): worth it only toward a peer that will
/// receive chunk data. A dialer knows its direction; a listener does not know it before the
/// peer's request, so it is ready for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    /// This side sends the data (push): probe, and tell the peer not to probe toward us.
    Send,
    /// This side receives the data (pull, receive, ls): the peer probes; we do not.
    Receive,
    /// Either way (listeners).
    Either,
}

/// Connections from one address (an IPv6 /64) that may be in the handshake at once.
pub const MAX_HANDSHAKES_PER_ADDRESS: usize = 2;

/// Handshakes in progress (all addresses) from which on every new unproven address must
/// answer a QUIC Retry before it gets a slot ([`HandshakeLimits::needs_retry`]).
pub const RETRY_WHEN_BUSY: usize = 4;

/// A QUIC endpoint on one UDP socket, able to accept and to dial.
pub struct Endpoint {
    ep: quinn::Endpoint,
    client: quinn::ClientConfig,
    server: quinn::ServerConfig,
    bulk: Bulk,
    idle: Duration,
    /// The pacing rates of this endpoint's connections (net::pace), by peer address.
    rates: Arc<pace::Registry>,
    limits: HandshakeLimits,
    /// Rendezvous datagrams on the same socket.
    control: Arc<super::demux::Control>,
}

/// An incoming connection that passed the per-address cap; its TLS handshake has not started.
pub struct Incoming<'a> {
    incoming: quinn::Incoming,
    slot: HandshakeSlot<'a>,
    ep: &'a Endpoint,
}

impl<'a> Incoming<'a> {
    /// The peer's UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.incoming.remote_address()
    }

    /// Refuse it without any TLS work (a busy listener); the dialer sees `CONNECTION_REFUSED`.
    pub fn refuse(self) {
        self.incoming.refuse();
    }

    /// Run the TLS handshake. An error means it never reached pcp (bad TLS, the peer left).
    pub async fn connect(self) -> Result<Pending<'a>, quinn::ConnectionError> {
        let mut server = self.ep.server.clone();
        let peer = self.incoming.remote_address();
        let transport = self.ep.transport_to(peer).map_err(|_| quinn::ConnectionError::LocallyClosed)?;
        server.transport = transport;
        let conn = self.incoming.accept_with(Arc::new(server))?.await?;
        Ok(Pending { conn, _slot: self.slot })
    }
}

/// A connection whose TLS handshake is done but which is not authenticated yet: it keeps its
/// place in the per-address count until [`Pending::authenticated`] or until it is dropped.
pub struct Pending<'a> {
    conn: quinn::Connection,
    _slot: HandshakeSlot<'a>,
}

impl Pending<'_> {
    /// The connection, for the handshake on stream 0.
    pub fn conn(&self) -> &quinn::Connection {
        &self.conn
    }

    /// The handshake succeeded: the connection stops counting against its address.
    pub fn authenticated(self) -> quinn::Connection {
        self.conn
    }
}

impl Endpoint {
    /// Bind a UDP socket on `addr` (port 0: any free port), with `idle` as the idle timeout.
    /// Must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr, bulk: Bulk, idle: Duration) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let transport = Arc::new(transport_config(bulk, idle, None, addr)?);
        let server = server_config(provider.clone(), transport.clone())?;
        let client = client_config(provider, transport)?;
        let socket = udp_socket(addr).map_err(|e| {
            tagged(Kind::Connect, format!("cannot listen on {addr}: {e}; pick another address or port"))
        })?;
        let runtime = quinn::default_runtime().ok_or(super::error::Error::Internal("no async runtime for QUIC"))?;
        let rates = Arc::new(pace::Registry::default());
        let socket = runtime
            .wrap_udp_socket(socket)
            .map_err(|e| super::error::Error::Setup(format!("starting QUIC on {addr}: {e}")))?;
        // Rendezvous messages share the socket (net::demux): they start with 0x00, and QUIC
        // packets always have the fixed bit (0x40) as neither side greases it.
        let (socket, control) = super::demux::split(socket);
        let socket: Arc<dyn quinn::AsyncUdpSocket> = Arc::new(pace::PacedSocket::new(Arc::new(socket), rates.clone()));
        let mut ecfg = quinn::EndpointConfig::default();
        ecfg.grease_quic_bit(false);
        // What we accept bounds the peer's MTU search (the `max_udp_payload_size` transport
        // parameter): a pushing dialer receives only ACKs and control, so it asks for none.
        let accept = if bulk == Bulk::Send { MIN_UDP_PAYLOAD } else { MAX_UDP_PAYLOAD };
        ecfg.max_udp_payload_size(accept).map_err(|e| super::error::Error::Setup(format!("QUIC setup: {e}")))?;
        let ep = quinn::Endpoint::new_with_abstract_socket(ecfg, Some(server.clone()), socket, runtime)
            .map_err(|e| super::error::Error::Setup(format!("starting QUIC on {addr}: {e}")))?;
        Ok(Self {
            ep,
            client,
            server,
            bulk,
            idle,
            rates,
            limits: HandshakeLimits::new(MAX_HANDSHAKES_PER_ADDRESS),
            control,
        })
    }

    /// The transport configuration of one connection to `peer`: its congestion controller
    /// publishes its pacing rate to this endpoint's socket (net::pace).
    fn transport_to(&self, peer: SocketAddr) -> Result<Arc<TransportConfig>> {
        Ok(Arc::new(transport_config(self.bulk, self.idle, Some(&self.rates), peer)?))
    }

    /// The rendezvous side of the endpoint's socket (net::demux).
    pub fn control(&self) -> Arc<super::demux::Control> {
        self.control.clone()
    }

    /// The bound address (with the port the OS picked).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.ep.local_addr()?)
    }

    /// Dial `addr`; resolves once the TLS handshake is done (not yet authenticated).
    pub async fn dial(&self, addr: SocketAddr) -> Result<quinn::Connection> {
        let mut client = self.client.clone();
        client.transport_config(self.transport_to(addr)?);
        let connecting = self
            .ep
            .connect_with(client, addr, SERVER_NAME)
            .map_err(|e| tagged(Kind::Connect, format!("cannot connect to {addr}: {e}")))?;
        connecting.await.map_err(|e| match &e {
            quinn::ConnectionError::ConnectionClosed(c)
                if c.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                tagged(
                    Kind::Connect,
                    format!(
                        "{addr} refused the connection: busy (too many handshakes from your address, \
                         or too many connections); wait for your other connections to it and try again"
                    ),
                )
            }
            _ => tagged(
                Kind::Connect,
                format!("cannot connect to {addr}: {e}; check the address and that the peer is running"),
            ),
        })
    }

    /// Wait for the next incoming connection whose address has a free handshake slot; refuse
    /// the others at once, before any TLS work. `None` when the endpoint is closed.
    ///
    /// Address validation ([`HandshakeLimits::needs_retry`]): a connection from an address
    /// with no handshake in progress, while the listener is not busy, goes ahead at once;
    /// any other must first prove its address with a QUIC Retry (stateless: the peer echoes
    /// a token only the owner of the address receives; one extra round trip). So packets
    /// spoofing someone else's address hold at most one of its slots (the owner, validated,
    /// still gets the other) and at most [`RETRY_WHEN_BUSY`] unproven ones in all.
    pub async fn incoming(&self) -> Option<Incoming<'_>> {
        loop {
            let incoming = self.ep.accept().await?;
            if !incoming.remote_address_validated()
                && incoming.may_retry()
                && self.limits.needs_retry(incoming.remote_address().ip())
            {
                let _ = incoming.retry();
                continue;
            }
            match self.limits.try_acquire(incoming.remote_address().ip()) {
                Some(slot) => return Some(Incoming { incoming, slot, ep: self }),
                None => incoming.refuse(),
            }
        }
    }

    /// [`Endpoint::incoming`], then its TLS handshake, for listeners that serve one connection
    /// at a time. A failed TLS handshake is skipped (it never reached pcp).
    pub async fn accept(&self) -> Option<Pending<'_>> {
        loop {
            if let Ok(p) = self.incoming().await?.connect().await {
                return Some(p);
            }
        }
    }

    /// Close all connections and wait (bounded) until the peers were told.
    pub async fn shutdown(&self) {
        self.ep.close(VarInt::from_u32(0), b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ep.wait_idle()).await;
    }
}

/// Counts the connections that are not authenticated yet, per source address, and caps them.
/// IPv4-mapped IPv6 addresses count as IPv4; IPv6 addresses count by their /64 prefix (one
/// host usually holds a whole /64, so a per-address cap alone would not bind it).
pub struct HandshakeLimits {
    per_addr: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl HandshakeLimits {
    /// At most `per_addr` handshakes at a time from one address.
    pub fn new(per_addr: usize) -> Self {
        Self { per_addr, counts: Mutex::new(HashMap::new()) }
    }

    /// A slot for a connection from `ip`; `None` when that address already holds `per_addr`.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<HandshakeSlot<'_>> {
        let key = address_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(key).or_insert(0);
        if *n >= self.per_addr {
            return None;
        }
        *n += 1;
        Some(HandshakeSlot { limits: self, key })
    }

    /// Must a connection from `ip` whose address is not proven yet go through a QUIC Retry
    /// first? Yes when that address already has a handshake in progress (so a spoofer of it
    /// holds at most one of its [`MAX_HANDSHAKES_PER_ADDRESS`] slots) or when
    /// [`RETRY_WHEN_BUSY`] handshakes are in progress in all (a flood from many spoofed
    /// addresses costs no state). Otherwise the first connection saves the Retry's round trip.
    pub fn needs_retry(&self, ip: IpAddr) -> bool {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.contains_key(&address_key(ip)) || counts.values().sum::<usize>() >= RETRY_WHEN_BUSY
    }

    /// Handshakes in progress from `ip`'s address.
    pub fn in_progress(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&address_key(ip)).copied().unwrap_or(0)
    }

    fn release(&self, key: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // No entry for an idle address: the map holds only addresses mid-handshake.
                counts.remove(&key);
            }
        }
    }
}

/// One connection's place in [`HandshakeLimits`]; dropping it frees the place.
pub struct HandshakeSlot<'a> {
    limits: &'a HandshakeLimits,
    key: IpAddr,
}

impl Drop for HandshakeSlot<'_> {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

/// The address a connection counts against: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Dual stack where the OS allows it.
        let _ = sock.set_only_v6(false);
    }
    // Best effort: the kernel clamps to its maximum; small buffers cost throughput, not safety.
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// QUIC congestion controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Congestion {
    /// pcp's BBR (net::congestion: delivery-rate and min-RTT model), paced by rate (net::pace).
    Bbr,
    /// For comparison only (`PCP_CONGESTION=quinn-bbr`): quinn 0.11's BBR, the default before
    /// net::congestion; it took 86–90% of a link shared with one TCP flow.
    QuinnBbr,
    /// quinn's Cubic (loss-based).
    Cubic,
}

/// The congestion controller chosen for this process: `--congestion`, else `PCP_CONGESTION`,
/// else BBR. Set once by the command line before any endpoint is bound.
static CONGESTION: std::sync::OnceLock<Congestion> = std::sync::OnceLock::new();

/// Choose the congestion controller of this process's connections (`--congestion`); `None`
/// leaves the choice to `PCP_CONGESTION` (then BBR). Only the first call counts.
pub fn set_congestion(choice: Option<Congestion>) {
    let _ = CONGESTION.set(choice.unwrap_or_else(congestion_from_env));
}

fn congestion_from_env() -> Congestion {
    match std::env::var("PCP_CONGESTION").as_deref() {
        Ok("cubic") => Congestion::Cubic,
        Ok("quinn-bbr") => Congestion::QuinnBbr,
        _ => Congestion::Bbr,
    }
}

/// The congestion controller of this side's connections: `bbr` (the default) or `cubic`.
/// Measured with benches/compare-wan.sh (RTT 80 ms, 1% loss each way, 32 MiB): Cubic halves
/// its window on every random loss and took 157 s where rsync over ssh (TCP BBR) took 5.5 s;
/// pcp's BBR (net::congestion) took 2.5 s, and stayed at or below rsync on every case.
pub fn congestion_controller() -> &'static str {
    match *CONGESTION.get_or_init(congestion_from_env) {
        Congestion::Bbr => "bbr",
        Congestion::QuinnBbr => "quinn-bbr",
        Congestion::Cubic => "cubic",
    }
}

/// A connection's transport configuration; with `rates`, its controller's pacing rate is
/// published there under `peer` (net::pace).
fn transport_config(
    bulk: Bulk,
    idle: Duration,
    rates: Option<&pace::Registry>,
    peer: SocketAddr,
) -> Result<TransportConfig> {
    let mut t = TransportConfig::default();
    t.stream_receive_window(VarInt::from_u32(STREAM_WINDOW));
    t.receive_window(VarInt::from_u32(MIN_CONN_WINDOW));
    t.send_window(SEND_WINDOW);
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(idle).map_err(|e| super::error::Error::Setup(format!("idle timeout: {e}")))?,
    ));
    t.keep_alive_interval(Some(KEEP_ALIVE.min(idle / 3)));
    t.mtu_discovery_config((bulk != Bulk::Receive).then(|| {
        let mut mtud = quinn::MtuDiscoveryConfig::default();
        mtud.upper_bound(MAX_UDP_PAYLOAD);
        // Stop the binary search when the next step is under 50 bytes (quinn: 20): every probe
        // is a padded packet of up to 6.5 KB, and the last steps buy under 1% of the MTU. On
        // loopback this saves 2 probes (13 KB per connection); an Ethernet path still ends
        // within 25 bytes of its 1472.
        mtud.minimum_change(50);
        mtud
    }));
    match CONGESTION.get_or_init(congestion_from_env) {
        Congestion::Cubic => {}
        Congestion::Bbr => {
            let rate = rates.map(|r| r.register(peer));
            t.congestion_controller_factory(Arc::new(super::congestion::BbrConfig { rate }));
        }
        Congestion::QuinnBbr => {
            t.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
        }
    }
    // Stream 0 is the only bidirectional stream; data uses a few unidirectional ones.
    t.max_concurrent_bidi_streams(VarInt::from_u32(1));
    t.max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS));
    Ok(t)
}

fn server_config(provider: Arc<CryptoProvider>, transport: Arc<TransportConfig>) -> Result<quinn::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
        .map_err(|e| super::error::Error::Setup(format!("making a TLS certificate: {e}")))?;
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| super::error::Error::Setup(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| super::error::Error::Setup(format!("TLS setup: {e}")))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0; // no 0-RTT
    tls.send_tls13_tickets = 0; // no session tickets
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let quic =
        QuicServerConfig::try_from(tls).map_err(|e| super::error::Error::Setup(format!("QUIC TLS setup: {e}")))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(transport);
    Ok(cfg)
}

fn client_config(provider: Arc<CryptoProvider>, transport: Arc<TransportConfig>) -> Result<quinn::ClientConfig> {
    let verifier = Arc::new(AnyCert(provider.clone()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| super::error::Error::Setup(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    tls.resumption = rustls::client::Resumption::disabled();
    let quic =
        QuicClientConfig::try_from(tls).map_err(|e| super::error::Error::Setup(format!("QUIC TLS setup: {e}")))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(transport);
    Ok(cfg)
}

/// Accepts any server certificate but checks the handshake signature (see the module docs:
/// authentication is the Noise handshake bound to the TLS exporter).
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not used by pcp".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dial_and_accept_on_loopback() {
        let a = Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Either, IDLE_TIMEOUT).unwrap();
        let b = Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Either, IDLE_TIMEOUT).unwrap();
        let addr = a.local_addr().unwrap();
        let (c1, c2) = tokio::join!(b.dial(addr), a.accept());
        let (c1, c2) = (c1.unwrap(), c2.unwrap().authenticated());
        let mut e1 = [0u8; 32];
        let mut e2 = [0u8; 32];
        c1.export_keying_material(&mut e1, b"EXPORTER-pcp-binding-v1", b"").unwrap();
        c2.export_keying_material(&mut e2, b"EXPORTER-pcp-binding-v1", b"").unwrap();
        assert_eq!(e1, e2);
        assert_ne!(e1, [0u8; 32]);
    }

    #[test]
    fn handshakes_are_counted_per_address() {
        let limits = HandshakeLimits::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = limits.try_acquire(a).unwrap();
        let s2 = limits.try_acquire(a).unwrap();
        assert!(limits.try_acquire(a).is_none(), "a third handshake from one address is refused");
        // The IPv4-mapped spelling of the same address counts against it too.
        assert!(limits.try_acquire("::ffff:192.0.2.1".parse().unwrap()).is_none());
        let other = limits.try_acquire(b).unwrap();
        assert_eq!((limits.in_progress(a), limits.in_progress(b)), (2, 1));
        drop(s1);
        assert_eq!(limits.in_progress(a), 1);
        let s3 = limits.try_acquire(a).unwrap();
        drop((s2, s3, other));
        assert_eq!((limits.in_progress(a), limits.in_progress(b)), (0, 0));
        assert!(limits.counts.lock().unwrap().is_empty(), "idle addresses leave no entry");
    }

    /// The Retry round trip is saved only where it protects nothing: the first handshake from
    /// an idle address on a quiet listener. A second one from that address (perhaps a spoofer
    /// of it) and any while the listener is busy must prove their address first.
    #[test]
    fn retry_only_for_a_busy_address_or_listener() {
        let limits = HandshakeLimits::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!limits.needs_retry(a), "first contact from an idle address goes ahead");
        let s1 = limits.try_acquire(a).unwrap();
        assert!(limits.needs_retry(a), "a second handshake from the same address proves it first");
        assert!(limits.needs_retry("::ffff:192.0.2.1".parse().unwrap()));
        let others: Vec<_> = (2..RETRY_WHEN_BUSY as u8 + 1)
            .map(|i| limits.try_acquire(IpAddr::from([198, 51, 100, i])).unwrap())
            .collect();
        assert!(limits.needs_retry("203.0.113.9".parse().unwrap()), "a busy listener proves every address");
        drop(others);
        assert!(!limits.needs_retry("203.0.113.9".parse().unwrap()));
        drop(s1);
        assert!(!limits.needs_retry(a));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let k = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff:eeee:dddd:cccc"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:10.0.0.1"), k("10.0.0.1"));
        assert_ne!(k("10.0.0.1"), k("10.0.0.2"));
    }

    /// A third connection from one address while two are still in the handshake is refused
    /// at once, before TLS; when one of the two goes, the address may connect again.
    #[tokio::test]
    async fn third_handshake_from_one_address_is_refused() {
        let server = Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Either, IDLE_TIMEOUT).unwrap();
        let client = Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Either, IDLE_TIMEOUT).unwrap();
        let addr = server.local_addr().unwrap();
        let bound = Duration::from_secs(20);
        let (c1, p1) =
            tokio::time::timeout(bound, async { tokio::join!(client.dial(addr), server.accept()) }).await.unwrap();
        let (c2, p2) =
            tokio::time::timeout(bound, async { tokio::join!(client.dial(addr), server.accept()) }).await.unwrap();
        let (_c1, p1, _c2, _p2) = (c1.unwrap(), p1.unwrap(), c2.unwrap(), p2.unwrap());
        let third = tokio::time::timeout(bound, async {
            tokio::select! {
                r = client.dial(addr) => r,
                _ = server.accept() => panic!("a third handshake from one address was accepted"),
            }
        })
        .await
        .unwrap();
        let err = format!("{:#}", third.err().unwrap());
        assert!(err.contains("busy") && err.contains("too many handshakes from your address"), "{err}");
        assert_eq!(server.limits.in_progress(addr.ip()), 2);
        drop(p1);
        let (c4, p4) =
            tokio::time::timeout(bound, async { tokio::join!(client.dial(addr), server.accept()) }).await.unwrap();
        c4.unwrap();
        let _ = p4.unwrap().authenticated();
        assert_eq!(server.limits.in_progress(addr.ip()), 1, "an authenticated connection stops counting");
    }
}
