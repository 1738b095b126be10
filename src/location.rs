//! SRC/DEST arguments: `PEER:PATH` or a local path (rsync's rule: a colon before the first slash
//! means a peer; write `./a:b` for a local name with a colon).

use std::path::PathBuf;

/// Where a path argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Local path; `contents` is the trailing-slash rule.
    Local {
        /// The path.
        path: PathBuf,
        /// Ends with '/': the contents of the directory.
        contents: bool,
    },
    /// Path on a peer.
    Peer {
        /// Peer name.
        name: String,
        /// Path relative to what the peer serves.
        path: String,
    },
}

impl Location {
    /// Parse one argument.
    pub fn parse(s: &str) -> Self {
        if let Some(i) = s.find(':') {
            let slash = s.find('/').unwrap_or(usize::MAX);
            if i > 0 && i < slash {
                return Self::Peer { name: s[..i].to_owned(), path: s[i + 1..].to_owned() };
            }
        }
        let contents = s.ends_with('/') || s.ends_with("/.") || s == ".";
        Self::Local { path: PathBuf::from(s), contents }
    }

    /// Whether this is a peer path.
    pub fn is_peer(&self) -> bool {
        matches!(self, Self::Peer { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_and_local() {
        assert_eq!(Location::parse("nas:photos/"), Location::Peer { name: "nas".into(), path: "photos/".into() });
        assert_eq!(Location::parse("nas:"), Location::Peer { name: "nas".into(), path: "".into() });
        assert!(!Location::parse("./a:b").is_peer());
        assert!(!Location::parse("/x/a:b").is_peer());
        assert_eq!(Location::parse("src/"), Location::Local { path: "src/".into(), contents: true });
        assert_eq!(Location::parse("src"), Location::Local { path: "src".into(), contents: false });
    }
}
