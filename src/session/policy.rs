//! What a listener lets each authenticated peer do: the one object that decides, per peer,
//! which tree a request reaches and whether it may write there. Today every peer of
//! `pcp serve DIR` gets DIR (read-only with `--read-only`) and every peer of `pcp send` the
//! offered files; pairing adds per-peer roots here (from the config file), and nowhere else.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::keys::PeerId;
use crate::fsio::source::SourceRoot;
use crate::proto::session::ListEntry;
use crate::scan::SourceSpec;

/// A served directory.
pub struct ServedDir {
    /// Its canonical path (manifest keys, messages).
    pub dir: PathBuf,
    /// Held open: every request resolves beneath it.
    pub root: Arc<SourceRoot>,
}

/// Files `pcp send` offers.
pub struct Offered {
    /// What to send.
    pub specs: Vec<SourceSpec>,
    /// The list shown to the receiver.
    pub entries: Vec<ListEntry>,
}

/// What one peer may reach.
pub enum Grant<'a> {
    /// A directory tree.
    Dir {
        /// The tree.
        served: &'a ServedDir,
        /// Refuse pushes.
        read_only: bool,
    },
    /// The offer of `pcp send` (pulled whole by `pcp receive`, nothing else).
    Offer(&'a Offered),
}

/// The listener's policy.
pub enum Policy {
    /// `pcp serve DIR [--read-only]`: the same tree for every peer.
    Serve {
        /// DIR.
        served: ServedDir,
        /// `--read-only`.
        read_only: bool,
    },
    /// `pcp send PATH...`.
    Send(Offered),
}

impl Policy {
    /// What `peer` may reach.
    pub fn grant(&self, _peer: &PeerId) -> Grant<'_> {
        match self {
            Self::Serve { served, read_only } => Grant::Dir { served, read_only: *read_only },
            Self::Send(o) => Grant::Offer(o),
        }
    }
}
