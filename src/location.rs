//! SRC/DEST arguments: `PEER:PATH` or a local path (rsync's rule: a colon before the first slash
//! means a peer; write `./a:b` for a local name with a colon), and the one naming rule that
//! turns SRC and DEST into a destination root ([`naming`]). Pure: callers look at the disk.

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

/// What the source side knows of SRC for the naming rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrcShape {
    /// One SRC argument (a single file may be renamed by DEST).
    pub single: bool,
    /// SRC is a real directory (not a symlink to one).
    pub is_dir: bool,
    /// SRC ended in `/` (or named the served directory itself): its contents, not itself.
    pub contents: bool,
}

/// What the destination side knows of DEST for the naming rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestShape<'a> {
    /// DEST exists and is a directory.
    pub is_dir: bool,
    /// DEST ended in `/`.
    pub slash: bool,
    /// DEST's last component, when it can name a file (none for the root of what is served).
    pub name: Option<&'a str>,
}

/// How SRC lands in DEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    /// The single file gets this name, in DEST's parent (DEST names the file).
    pub rename: Option<String>,
    /// SRC's contents go into DEST (its trailing slash, or `cp -r DIR NEW`), not SRC itself.
    pub contents: bool,
}

/// rsync's (and, with `cp`, scp's) naming rule, the one place it is written. Local syncs,
/// the dialer and the listener each call it with what they can see: the side that holds SRC
/// knows `src`, the side that holds DEST knows `dest`, and the session's request and answer
/// carry the rest (docs/protocol.md "Session").
///
/// - A single file onto a DEST that is not a directory and does not end in `/`: DEST names
///   the file.
/// - `cp` of a single directory onto a DEST that is not a directory: DEST becomes the copy
///   (its contents go into DEST).
/// - Otherwise SRC goes into DEST under its own name, or its contents if SRC ended in `/`.
pub fn naming(src: SrcShape, dest: DestShape<'_>, cp: bool) -> Naming {
    let rename = if src.single && !src.is_dir && !dest.is_dir && !dest.slash {
        dest.name.filter(|n| !n.is_empty()).map(str::to_owned)
    } else {
        None
    };
    let contents = src.contents || (src.single && cp && src.is_dir && !dest.is_dir);
    Naming { rename, contents }
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

    #[test]
    fn naming_rules() {
        let file = SrcShape { single: true, is_dir: false, contents: false };
        let dir = SrcShape { single: true, is_dir: true, contents: false };
        let new = DestShape { is_dir: false, slash: false, name: Some("n") };
        let existing_dir = DestShape { is_dir: true, slash: false, name: Some("d") };
        let slash = DestShape { is_dir: false, slash: true, name: Some("d") };
        let rename = |n: &str| Naming { rename: Some(n.into()), contents: false };
        let into = Naming { rename: None, contents: false };
        let contents = Naming { rename: None, contents: true };
        assert_eq!(naming(file, new, false), rename("n"));
        assert_eq!(naming(file, existing_dir, false), into);
        assert_eq!(naming(file, slash, false), into);
        assert_eq!(naming(file, DestShape { name: None, ..new }, false), into, "the served root names no file");
        assert_eq!(naming(SrcShape { single: false, ..file }, new, false), into);
        assert_eq!(naming(dir, new, false), into, "sync: DIR into NEW/DIR");
        assert_eq!(naming(dir, new, true), contents, "cp -r DIR NEW: NEW is the copy");
        assert_eq!(naming(dir, existing_dir, true), into, "cp -r DIR EXISTING: EXISTING/DIR");
        assert_eq!(naming(SrcShape { contents: true, ..dir }, existing_dir, false), contents);
    }
}
