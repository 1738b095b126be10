//! The wire protocol, sans-IO: messages, framing and codec (docs/protocol.md), and the
//! per-role transfer state machines (`transfer`: what each side accepts, in which order; the
//! engine's drivers do the IO they imply). No sockets, files, clock or randomness here: bytes
//! in, messages out; messages in, events out.

pub mod frame;
pub mod message;
pub mod session;
pub mod transfer;

pub use message::{ChunkId, Entry, Flags, Hello, Kind, Message};

use crate::path::PathError;

/// A protocol violation by the peer (exit code 12, or 2 for a version mismatch).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Frame longer than allowed.
    #[error("peer sent a frame of {0} bytes, over the limit; is it a pcp peer of the same version?")]
    FrameTooLarge(usize),
    /// Message ends early.
    #[error("peer sent a truncated message")]
    Truncated,
    /// Structurally invalid.
    #[error("peer sent a malformed message ({0})")]
    Malformed(&'static str),
    /// Count or length above a cap.
    #[error("peer sent {1} for {0}, over the limit")]
    Cap(&'static str, u64),
    /// Unknown message type.
    #[error("peer sent unknown message type {0}")]
    UnknownType(u8),
    /// A path that is not a safe relative path.
    #[error("peer sent an unsafe path: {0}")]
    Path(#[from] PathError),
    /// Out-of-order or inconsistent message.
    #[error("peer broke the protocol: {0}")]
    State(String),
    /// A path a peer named that is not inside what the listener serves.
    #[error("{0}")]
    PeerPath(String),
    /// Incompatible version.
    #[error("peer speaks protocol version {0}, this pcp speaks {1}; upgrade the older side")]
    Version(u32, u32),
    /// Peer hung up early.
    #[error("peer closed the connection before the transfer finished; rerun to resume")]
    Closed,
    /// Peer reported an error.
    #[error("peer reported: {0}")]
    Remote(String),
}
