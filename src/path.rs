//! `SafeRelPath`: a relative path that is safe to join under a destination root on any platform.
//! Built once at the edge (scan or wire decode); nothing downstream re-checks a string.

use std::fmt;
use std::path::{Path, PathBuf};

/// Longest path accepted, in bytes.
pub const MAX_PATH: usize = 4096;
/// Longest component accepted, in bytes.
pub const MAX_COMPONENT: usize = 255;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 256;

/// Why a path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// Path too long, component too long, or too deep.
    #[error("path {0:?} is too long or too deep (max {MAX_PATH} bytes, {MAX_COMPONENT} per name, {MAX_DEPTH} levels)")]
    TooLong(String),
    /// Absolute, `..`, `.`, empty component or trailing slash.
    #[error("path {0:?} is not a canonical relative path (no leading '/', '..', '.', '//' or trailing '/')")]
    NotCanonical(String),
    /// A control character (NUL, ESC, CR...), or with the portable policy `\\` or `:`.
    #[error("path {0:?} contains a forbidden character (a control character; on Windows also '\\\\' or ':')")]
    BadChar(String),
    /// A name Windows reserves (CON, NUL, COM1...) or one ending in a dot or space.
    #[error("path {0:?} uses a name reserved on Windows (CON, NUL, COM1, trailing dot or space)")]
    Reserved(String),
    /// Not UTF-8.
    #[error("path {0:?} is not valid UTF-8")]
    NotUtf8(String),
}

/// A relative, canonical path: components separated by single `/`, none empty, `.` or `..`; no
/// control characters, `\`, `:`; no Windows-reserved names; bounded length and depth. The empty
/// path names the root itself.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafeRelPath(String);

const RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1", "lpt2",
    "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

impl SafeRelPath {
    /// The root (empty path).
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parse and check `s`.
    pub fn new(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Ok(Self::root());
        }
        if s.len() > MAX_PATH {
            return Err(PathError::TooLong(trunc(s)));
        }
        let mut depth = 0;
        for comp in s.split('/') {
            depth += 1;
            if depth > MAX_DEPTH || comp.len() > MAX_COMPONENT {
                return Err(PathError::TooLong(trunc(s)));
            }
            if comp.is_empty() || comp == "." || comp == ".." {
                return Err(PathError::NotCanonical(s.to_owned()));
            }
            if comp.chars().any(char::is_control) {
                return Err(PathError::BadChar(s.to_owned()));
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The portable-name policy (security.md T3): also refuse `\\`, `:`, names Windows reserves
    /// and names ending in a dot or space. A Windows destination applies it to every entry, so a
    /// Linux sender cannot harm a Windows receiver; POSIX destinations accept such names, as rsync
    /// does.
    pub fn check_portable(&self) -> Result<(), PathError> {
        for comp in self.components() {
            if comp.contains(['\\', ':']) {
                return Err(PathError::BadChar(self.0.clone()));
            }
            if comp.ends_with('.') || comp.ends_with(' ') {
                return Err(PathError::Reserved(self.0.clone()));
            }
            let stem = comp.split('.').next().unwrap_or(comp).to_ascii_lowercase();
            if RESERVED.contains(&stem.as_str()) {
                return Err(PathError::Reserved(self.0.clone()));
            }
        }
        Ok(())
    }

    /// Parse raw bytes (from the wire or the disk).
    pub fn from_bytes(b: &[u8]) -> Result<Self, PathError> {
        let s = std::str::from_utf8(b).map_err(|_| PathError::NotUtf8(String::from_utf8_lossy(b).into_owned()))?;
        Self::new(s)
    }

    /// Append one component.
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        if self.0.is_empty() {
            Self::new(name)
        } else {
            Self::new(&format!("{}/{}", self.0, name))
        }
    }

    /// The path as a string (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// Parent path and final name; `None` for the root.
    pub fn split_last(&self) -> Option<(SafeRelPath, &str)> {
        if self.0.is_empty() {
            return None;
        }
        match self.0.rfind('/') {
            Some(i) => Some((SafeRelPath(self.0[..i].to_owned()), &self.0[i + 1..])),
            None => Some((SafeRelPath::root(), &self.0)),
        }
    }

    /// Whether `self` is `other` or inside it.
    pub fn starts_with(&self, other: &SafeRelPath) -> bool {
        other.0.is_empty()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// Join under a local root (for reading the source side, never for writes: fsio writes are
    /// dirfd-relative).
    pub fn under(&self, root: &Path) -> PathBuf {
        if self.0.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&self.0)
        }
    }
}

fn trunc(s: &str) -> String {
    s.chars().take(80).collect::<String>() + "..."
}

impl fmt::Display for SafeRelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for SafeRelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// `rel` joined to `base` with `.` and `..` resolved lexically (rsync resolves a relative
/// `--backup-dir` against the destination: `../bak` is a sibling of it); an absolute `rel` is
/// taken as it is (normalised the same way).
pub fn lexical_join(base: &std::path::Path, rel: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = if rel.is_absolute() { std::path::PathBuf::from("/") } else { base.to_path_buf() };
    for c in rel.components() {
        match c {
            Component::ParentDir => {
                let at_dots = matches!(out.components().next_back(), Some(Component::ParentDir) | None);
                let stuck = at_dots || (out.parent().is_none() && out.has_root()) || !out.pop();
                if stuck && !out.has_root() {
                    out.push("..");
                }
            }
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lexical_join_resolves_dots_as_rsync_resolves_a_backup_dir() {
        let j = |b: &str, r: &str| lexical_join(Path::new(b), Path::new(r));
        assert_eq!(j("/x/dst", "../bak"), PathBuf::from("/x/bak"));
        assert_eq!(j("dst", "../bak"), PathBuf::from("bak"));
        assert_eq!(j("dst", "../../bak"), PathBuf::from("../bak"));
        assert_eq!(j("/x/dst", "./b/./c"), PathBuf::from("/x/dst/b/c"));
        assert_eq!(j("/x", "/abs/../y"), PathBuf::from("/y"));
        assert_eq!(j("/", "../../z"), PathBuf::from("/z"));
    }

    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in ["a", "a/b", "dir with space/f.txt", "日本/é", "-rf", ".hidden", "a..b", "..a"] {
            assert!(SafeRelPath::new(p).is_ok(), "{p}");
        }
        assert!(SafeRelPath::new("").unwrap().is_root());
    }

    /// T1, T2, T5: traversal, absolute and non-canonical forms.
    #[test]
    fn rejects_traversal_absolute_and_noncanonical() {
        for p in
            ["../outside", "a/../../x", "./../x", "/etc/cron.d/x", "//host/x", "a//b", "a/./b", "a/", "./a", ".", ".."]
        {
            assert!(SafeRelPath::new(p).is_err(), "{p}");
        }
    }

    /// T4: NUL and control characters are refused everywhere.
    #[test]
    fn rejects_controls() {
        for p in ["a\0b", "a\x1b[1A", "a\rb", "x/\u{9b}", "a\nb"] {
            assert!(SafeRelPath::new(p).is_err(), "{p:?}");
        }
    }

    /// T3: Windows forms fail the portable policy (applied by Windows destinations).
    #[test]
    fn portable_policy_rejects_windows_forms() {
        let forms = [
            "C:\\x",
            "C:x",
            "\\\\?\\C:\\x",
            "\\\\srv\\share\\x",
            "..\\..\\x",
            "f.txt:ads",
            "CON",
            "nul.txt",
            "COM1",
            "a.",
            "a ",
        ];
        for p in forms {
            let r = SafeRelPath::new(p).and_then(|s| s.check_portable());
            assert!(r.is_err(), "{p:?}");
        }
        assert!(SafeRelPath::new("ok/name.txt").unwrap().check_portable().is_ok());
    }

    /// T6: sizes.
    #[test]
    fn rejects_long_and_deep() {
        assert!(SafeRelPath::new(&"a".repeat(256)).is_err());
        assert!(SafeRelPath::new("a/".repeat(300).trim_end_matches('/')).is_err());
        assert!(SafeRelPath::new(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn split_and_prefix() {
        let p = SafeRelPath::new("a/b/c").unwrap();
        let (parent, name) = p.split_last().unwrap();
        assert_eq!(parent.as_str(), "a/b");
        assert_eq!(name, "c");
        assert!(p.starts_with(&SafeRelPath::new("a/b").unwrap()));
        assert!(!p.starts_with(&SafeRelPath::new("a/bc").unwrap()));
        assert!(p.starts_with(&SafeRelPath::root()));
    }
}
