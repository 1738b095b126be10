//! What a listener lets each authenticated peer do: the one object that decides, per peer,
//! which tree a request reaches and whether it may write there.
//!
//! - `pcp send`: every peer gets the offered files.
//! - `pcp serve DIR [--read-only]`: a peer with no pairing record (a code session with
//!   `--no-remember`) gets DIR, as the flag says. A paired peer's roots are those of
//!   `[peer.NAME] roots` in config.toml if set, else those its record holds (the directories
//!   served when it paired); it gets DIR only if DIR is one of them or lies inside one, and
//!   read-only if that root is (`root-ro=`, `read_only = true`) or the flag says so. A record
//!   with no roots (paired by `pcp pair`) gets DIR. The peers file is read for each session,
//!   as is config.toml, so `pcp peers forget` and config edits apply to the next session
//!   without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::keys::PeerId;
use crate::auth::peers::{PeerRecord, Root};
use crate::config::file::ConfigFile;
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
    /// Nothing: the reason, sent to the peer.
    Denied(String),
}

/// The listener's policy.
pub enum Policy {
    /// `pcp serve DIR [--read-only]`: DIR, for the peers whose roots hold it.
    Serve {
        /// DIR.
        served: ServedDir,
        /// `--read-only`.
        read_only: bool,
        /// The config directory: the peers file and config.toml (per-peer roots and mode),
        /// both read for each session.
        config_dir: PathBuf,
    },
    /// `pcp send PATH...`.
    Send(Offered),
    /// `pcp pair`: nothing to reach; only the Pair request is answered.
    Pair,
}

impl Policy {
    /// What `peer` may reach.
    pub fn grant(&self, peer: &PeerId) -> Grant<'_> {
        match self {
            Self::Serve { served, read_only, config_dir } => {
                let peers = match crate::fsio::keyfile::load_peers(config_dir) {
                    Ok(p) => p,
                    Err(e) => return Grant::Denied(format!("the serving side cannot read its peers file: {e}")),
                };
                let config = match ConfigFile::load(config_dir) {
                    Ok(c) => c,
                    Err(e) => return Grant::Denied(format!("the serving side cannot read its config: {e}")),
                };
                let Some(rec) = peers.by_key(peer) else {
                    return Grant::Dir { served, read_only: *read_only };
                };
                let name = rec.name.as_str();
                let (roots, mode) = roots_of(rec, &config);
                if roots.is_empty() {
                    return Grant::Dir { served, read_only: *read_only || mode == Some(true) };
                }
                match reach(&roots, &served.dir) {
                    Some(ro) => Grant::Dir { served, read_only: *read_only || ro },
                    None => Grant::Denied(format!(
                        "peer {name} may not reach {} here (its roots: {}); on the serving machine add it to `roots` in [peer.{name}] of config.toml, or pair again while serving it",
                        served.dir.display(),
                        roots.iter().map(|r| r.path.display().to_string()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            Self::Send(o) => Grant::Offer(o),
            Self::Pair => Grant::Denied(
                "this peer runs `pcp pair`: it only pairs; sync with it once it serves a directory (`pcp serve DIR`)"
                    .into(),
            ),
        }
    }
}

/// What a paired peer may reach here: `[peer.NAME] roots` of the config file if set, else its
/// record's; each read-only as `read_only` says, else as recorded. Empty: whatever is served
/// (read-only if `read_only = true`, the second value).
pub fn roots_of(rec: &PeerRecord, config: &ConfigFile) -> (Vec<Root>, Option<bool>) {
    let section = config.peer(Some(rec.name.as_str()));
    let mode = section.and_then(|s| s.read_only);
    let roots = match section.and_then(|s| s.roots.as_ref()) {
        Some(paths) => paths.iter().map(|p| Root { path: p.clone(), read_only: mode.unwrap_or(false) }).collect(),
        None => {
            rec.roots.iter().map(|r| Root { path: r.path.clone(), read_only: mode.unwrap_or(r.read_only) }).collect()
        }
    };
    (roots, mode)
}

/// Whether `dir` (canonical) is one of `roots` or inside one, and if so whether read-only (the
/// most specific root decides). A root that does not exist (or is not a directory) reaches
/// nothing.
fn reach(roots: &[Root], dir: &Path) -> Option<bool> {
    roots
        .iter()
        .filter_map(|r| {
            let c = std::fs::canonicalize(&r.path).ok().filter(|c| c.is_dir())?;
            dir.starts_with(&c).then(|| (c.components().count(), r.read_only))
        })
        .max_by_key(|&(depth, _)| depth)
        .map(|(_, ro)| ro)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_reached_only_within_a_root_and_the_deepest_root_sets_the_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let a = base.join("a");
        std::fs::create_dir_all(a.join("inner/deep")).unwrap();
        std::fs::create_dir_all(base.join("ab")).unwrap();
        let roots = [
            Root { path: a.clone(), read_only: false },
            Root { path: a.join("inner"), read_only: true },
            Root { path: base.join("missing"), read_only: false },
        ];
        assert_eq!(reach(&roots, &a), Some(false));
        assert_eq!(reach(&roots, &a.join("inner/deep")), Some(true));
        // A sibling whose name starts the same is not inside (components, not bytes).
        assert_eq!(reach(&roots, &base.join("ab")), None);
        assert_eq!(reach(&roots, &base), None);
        // A root reached through a symlink counts as where it leads.
        std::os::unix::fs::symlink(&a, base.join("link")).unwrap();
        assert_eq!(reach(&[Root { path: base.join("link"), read_only: true }], &a), Some(true));
    }
}
