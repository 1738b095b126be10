//! Reaching a peer, and nothing else: the QUIC endpoint, how a dialer finds a listener, the
//! stream-0 handshake, and the blocking face the session layer uses. The only module that
//! names quinn or tokio (tests/layering.rs checks it).
//!
//! ```text
//! dialer:   client::Dialer (connect: --addr today; mDNS, rendezvous, punch, relay later,
//!           behind the same connect face) ─┐
//! listener: listen::Listener (bind, code, resume tickets) ─┤
//!             endpoint (quinn, TLS 1.3, ALPN pcp/1, handshake limits, congestion)
//!             → handshake (stream 0: SPAKE2 → Noise XXpsk3, or IKpsk2 resume)
//!             → conn::Conn { peer: PeerId, stream 0 }  → session (above)
//!             → transport (stream 0: control; 4 uni streams: chunk data) ⇄ engine roles
//! ```
//!
//! Two role names, never mixed: the *side* (dialer / listener) says who connected, the *role*
//! (source / destination) who has the data.

//! All network IO: the QUIC endpoint, the stream-0 handshake, the session request, and the
//! driver that carries an `engine::Link` over a QUIC connection.
//!
//! ```text
//! connect (--addr | --listen)  →  endpoint (quinn, TLS 1.3, ALPN pcp/1)
//!   → handshake (stream 0: SPAKE2 → Noise XXpsk3, or IKpsk2 resume)
//!   → session (stream 0: one Request, one Response)
//!   → transport (stream 0: control messages; 4 uni streams: chunk data) ⇄ engine roles
//! ```
//!
//! Two role names, never mixed: the *side* (dialer / listener) says who connected, the *role*
//! (source / destination) who has the data.

pub mod client;
pub mod congestion;
pub mod conn;
pub mod connect;
pub mod demux;
pub mod endpoint;
pub mod error;
pub mod handshake;
pub mod listen;
pub mod mdns;
pub mod pace;
pub mod rendezvous;
pub mod resume;
pub mod transport;
