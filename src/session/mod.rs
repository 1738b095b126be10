//! Sessions: what two authenticated peers do together, above `net` (which only reaches and
//! authenticates them) and around `engine` (which moves the files).
//!
//! ```text
//! listener: net::listen::Listener → accept (the one loop: limits, stop signal)
//!             → policy (what this PeerId may reach) → serve (request → role) → driver
//! dialer:   net::client::Dialer → dial (push, pull, list, receive) → driver
//! driver:   one engine role over net::conn::Conn (stream 0 + data streams)
//! ```
//!
//! Pairing adds per-peer grants to `policy`; a serve daemon is `accept` in daemon mode. No
//! quinn or tokio here (tests/layering.rs): `net::conn::Conn` is the blocking face.

pub mod accept;
pub mod dial;
pub mod driver;
pub mod policy;
pub mod serve;

pub use driver::{run_role, RoleConfig, TransferEnd};
