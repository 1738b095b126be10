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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

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
/// Per-stream receive window.
const STREAM_WINDOW: u32 = 4 << 20;
/// Per-connection receive window (all streams together).
const CONN_WINDOW: u32 = 12 << 20;
/// Send window.
const SEND_WINDOW: u64 = 8 << 20;
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

/// A QUIC endpoint on one UDP socket, able to accept and to dial.
pub struct Endpoint {
    ep: quinn::Endpoint,
    client: quinn::ClientConfig,
}

impl Endpoint {
    /// Bind a UDP socket on `addr` (port 0: any free port), with `idle` as the idle timeout.
    /// Must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr, bulk: Bulk, idle: Duration) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let transport = Arc::new(transport_config(bulk, idle)?);
        let server = server_config(provider.clone(), transport.clone())?;
        let client = client_config(provider, transport)?;
        let socket = udp_socket(addr).map_err(|e| {
            tagged(Kind::Connect, format!("cannot listen on {addr}: {e}; pick another address or port"))
        })?;
        let runtime = quinn::default_runtime().ok_or_else(|| anyhow!("no async runtime for QUIC (internal error)"))?;
        let mut ecfg = quinn::EndpointConfig::default();
        // What we accept bounds the peer's MTU search (the `max_udp_payload_size` transport
        // parameter): a pushing dialer receives only ACKs and control, so it asks for none.
        let accept = if bulk == Bulk::Send { MIN_UDP_PAYLOAD } else { MAX_UDP_PAYLOAD };
        ecfg.max_udp_payload_size(accept).map_err(|e| anyhow!("QUIC setup: {e}"))?;
        let ep = quinn::Endpoint::new(ecfg, Some(server), socket, runtime)
            .with_context(|| format!("starting QUIC on {addr}"))?;
        Ok(Self { ep, client })
    }

    /// The bound address (with the port the OS picked).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.ep.local_addr()?)
    }

    /// Dial `addr`; resolves once the TLS handshake is done (not yet authenticated).
    pub async fn dial(&self, addr: SocketAddr) -> Result<quinn::Connection> {
        let connecting = self
            .ep
            .connect_with(self.client.clone(), addr, SERVER_NAME)
            .map_err(|e| tagged(Kind::Connect, format!("cannot connect to {addr}: {e}")))?;
        connecting.await.map_err(|e| {
            tagged(
                Kind::Connect,
                format!("cannot connect to {addr}: {e}; check the address and that the peer is running"),
            )
        })
    }

    /// Wait for the next incoming connection and finish its TLS handshake. `None` when the
    /// endpoint is closed. A failed TLS handshake is skipped (it never reached pcp).
    pub async fn accept(&self) -> Option<quinn::Connection> {
        loop {
            let incoming = self.ep.accept().await?;
            match incoming.await {
                Ok(c) => return Some(c),
                Err(_) => continue,
            }
        }
    }

    /// Close all connections and wait (bounded) until the peers were told.
    pub async fn shutdown(&self) {
        self.ep.close(VarInt::from_u32(0), b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ep.wait_idle()).await;
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

fn transport_config(bulk: Bulk, idle: Duration) -> Result<TransportConfig> {
    let mut t = TransportConfig::default();
    t.stream_receive_window(VarInt::from_u32(STREAM_WINDOW));
    t.receive_window(VarInt::from_u32(CONN_WINDOW));
    t.send_window(SEND_WINDOW);
    t.max_idle_timeout(Some(IdleTimeout::try_from(idle).map_err(|e| anyhow!("idle timeout: {e}"))?));
    t.keep_alive_interval(Some(KEEP_ALIVE.min(idle / 3)));
    t.mtu_discovery_config((bulk != Bulk::Receive).then(|| {
        let mut mtud = quinn::MtuDiscoveryConfig::default();
        mtud.upper_bound(MAX_UDP_PAYLOAD);
        mtud
    }));
    // Stream 0 is the only bidirectional stream; data uses a few unidirectional ones.
    t.max_concurrent_bidi_streams(VarInt::from_u32(1));
    t.max_concurrent_uni_streams(VarInt::from_u32(MAX_UNI_STREAMS));
    Ok(t)
}

fn server_config(provider: Arc<CryptoProvider>, transport: Arc<TransportConfig>) -> Result<quinn::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
        .map_err(|e| anyhow!("making a TLS certificate: {e}"))?;
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| anyhow!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| anyhow!("TLS setup: {e}"))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0; // no 0-RTT
    tls.send_tls13_tickets = 0; // no session tickets
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let quic = QuicServerConfig::try_from(tls).map_err(|e| anyhow!("QUIC TLS setup: {e}"))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(transport);
    Ok(cfg)
}

fn client_config(provider: Arc<CryptoProvider>, transport: Arc<TransportConfig>) -> Result<quinn::ClientConfig> {
    let verifier = Arc::new(AnyCert(provider.clone()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| anyhow!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    tls.resumption = rustls::client::Resumption::disabled();
    let quic = QuicClientConfig::try_from(tls).map_err(|e| anyhow!("QUIC TLS setup: {e}"))?;
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
        let (c1, c2) = (c1.unwrap(), c2.unwrap());
        let mut e1 = [0u8; 32];
        let mut e2 = [0u8; 32];
        c1.export_keying_material(&mut e1, b"EXPORTER-pcp-binding-v1", b"").unwrap();
        c2.export_keying_material(&mut e2, b"EXPORTER-pcp-binding-v1", b"").unwrap();
        assert_eq!(e1, e2);
        assert_ne!(e1, [0u8; 32]);
    }
}
