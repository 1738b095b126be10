//! Errors of the network layer that are not already a `proto::Error` (the peer broke the
//! protocol), an `auth::Error` (the handshake failed) or tagged with a kind: each maps to
//! one exit code in `error::kind_of`.

/// A network failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Setting up QUIC, TLS or the runtime failed (exit 10).
    #[error("{0}")]
    Setup(String),
    /// A stream failed while the connection was up (exit 10).
    #[error("{0}")]
    Stream(String),
    /// A state pcp itself should never reach (exit 12): a bug, please report it.
    #[error("{0} (internal error)")]
    Internal(&'static str),
}

impl Error {
    /// The exit code's kind.
    pub fn kind(&self) -> crate::error::Kind {
        match self {
            Self::Setup(_) | Self::Stream(_) => crate::error::Kind::Connect,
            Self::Internal(_) => crate::error::Kind::Protocol,
        }
    }
}
