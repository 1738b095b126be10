//! The accepted-offer allow-list (`pcp receive`): what the receiving user accepted, checked by
//! the destination's state machine ([`super::dest::DestState`]) for every entry of the transfer,
//! whatever stream or connection carried it. Pure data: built by the command from the offer it
//! showed, consulted by the state machine; no IO. Re-exported as `plan::Offer`.

use crate::proto::{Entry, Kind};

/// What a receiver accepted (`pcp receive` shows the sender's list and asks): every entry of
/// the transfer must be one of these, with the same kind, size and link target. Checked by the
/// destination role itself for every entry, whatever carried it (security issue, item 3).
#[derive(Debug, Default, Clone)]
pub struct Offer {
    by_name: std::collections::HashMap<String, Offered>,
}

/// One accepted entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// A regular file of this size.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink {
        /// Target bytes.
        target: Vec<u8>,
    },
}

impl Offer {
    /// Accept `name` (`.` for the root) as `what`.
    pub fn insert(&mut self, name: String, what: Offered) {
        self.by_name.insert(name, what);
    }

    /// Whether `e` is exactly an accepted entry.
    pub fn admits(&self, e: &Entry) -> bool {
        let name = if e.path.is_root() { "." } else { e.path.as_str() };
        match (self.by_name.get(name), &e.kind) {
            (Some(Offered::File { size }), Kind::File { size: s }) => size == s,
            (Some(Offered::Dir), Kind::Dir) => true,
            (Some(Offered::Symlink { target }), Kind::Symlink { target: t }) => target == t,
            _ => false,
        }
    }
}
