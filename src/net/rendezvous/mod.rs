//! Meeting across the internet: a rendezvous server (`pcp rendezvous`) that introduces two
//! peers by a token and tells each the address it sees the other at, and UDP hole punching
//! between them on the socket QUIC uses (net::demux).
//!
//! ```text
//! listener ── Register{tokens} ──▶ server ◀── Lookup{token} ── dialer
//!          ◀─ Introduce{session, dialer's address}   Introduce{session, listener's} ─▶
//! listener ── Punch{session} ──▶ ◀── Punch{session} ── dialer ──▶ QUIC to where the
//!                                                                   listener's punch came from
//! ```
//!
//! - messages: the wire format (docs/protocol.md, "Rendezvous"), sans-IO.
//! - server: the server's core, sans-IO (limits, expiry, introductions).
//! - client: the listener's agent and the dialer's lookup, async, on the endpoint's runtime.
//!
//! What the server learns: tokens (a hash of a code's public channel word, or of a pairing's
//! daily token, security.md §3.4) and the addresses it observes; never a secret word, a key, a
//! file name or a private address. An introduction is only a hint: the peer at the address
//! must still pass the code's PAKE or the pinned keys.

pub mod client;
pub mod daemon;
pub mod messages;
pub mod server;
