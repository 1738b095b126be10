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
pub mod connect;
pub mod endpoint;
pub mod handshake;
pub mod server;
pub mod session;
pub mod transport;
