//! Error kinds and exit codes, in one table (numbers from docs/cli.md, rsync's where the meaning
//! matches). Layers raise typed errors; `kind_of` walks an anyhow chain to find the kind.

/// One kind per exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Usage or syntax error.
    Usage,
    /// Protocol incompatibility.
    Incompatible,
    /// Errors selecting input/output files or dirs.
    Select,
    /// Connection or discovery failed.
    Connect,
    /// File I/O error.
    FileIo,
    /// Protocol data stream error.
    Protocol,
    /// Interrupted by SIGINT/SIGTERM.
    Interrupted,
    /// Partial transfer due to error.
    Partial,
    /// Timeout.
    Timeout,
    /// The destination is locked by another run (`--wait-lock` ran out).
    Busy,
    /// Authentication failed.
    Auth,
}

impl Kind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Usage => 1,
            Self::Incompatible => 2,
            Self::Select => 3,
            Self::Connect => 10,
            Self::FileIo => 11,
            Self::Protocol => 12,
            Self::Interrupted => 20,
            Self::Partial => 23,
            Self::Timeout => 30,
            Self::Busy => 35,
            Self::Auth => 40,
        }
    }
}

impl Kind {
    /// The kind a peer's refusal names by its exit code; codes a refusal may not carry
    /// (interrupted, partial, timeout) or does not know read as "errors selecting files".
    pub fn from_code(c: u8) -> Self {
        [Self::Usage, Self::Incompatible, Self::Select, Self::Connect, Self::FileIo, Self::Protocol, Self::Auth]
            .into_iter()
            .find(|k| k.code() == c)
            .unwrap_or(Self::Select)
    }
}

/// An error that carries its kind explicitly.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Tagged {
    /// Kind (exit code).
    pub kind: Kind,
    /// Message.
    pub msg: String,
}

/// Build a tagged error.
pub fn tagged(kind: Kind, msg: impl Into<String>) -> anyhow::Error {
    Tagged { kind, msg: msg.into() }.into()
}

/// Find the kind of an error chain (the first typed error wins; I/O errors are file I/O).
pub fn kind_of(e: &anyhow::Error) -> Kind {
    for c in e.chain() {
        if let Some(t) = c.downcast_ref::<Tagged>() {
            return t.kind;
        }
        if let Some(p) = c.downcast_ref::<crate::proto::Error>() {
            return match p {
                crate::proto::Error::Version(..) => Kind::Incompatible,
                _ => Kind::Protocol,
            };
        }
        if let Some(a) = c.downcast_ref::<crate::auth::Error>() {
            return match a {
                crate::auth::Error::Io { .. } | crate::auth::Error::KeyFile { .. } => Kind::FileIo,
                crate::auth::Error::Internal(_) => Kind::Protocol,
                _ => Kind::Auth,
            };
        }
        if let Some(f) = c.downcast_ref::<crate::filter::Error>() {
            return if matches!(f, crate::filter::Error::Untrusted { .. }) { Kind::Select } else { Kind::Usage };
        }
        if c.downcast_ref::<crate::fsio::trust::Error>().is_some()
            || matches!(c.downcast_ref::<crate::fsio::Error>(), Some(crate::fsio::Error::Untrusted(_)))
        {
            // A path through someone else's symlink: "errors selecting input/output files, dirs".
            return Kind::Select;
        }
        if c.downcast_ref::<crate::fsio::Error>().is_some() || c.downcast_ref::<std::io::Error>().is_some() {
            return Kind::FileIo;
        }
        if c.downcast_ref::<crate::manifest::Error>().is_some() {
            return Kind::FileIo;
        }
        if let Some(n) = c.downcast_ref::<crate::net::error::Error>() {
            return n.kind();
        }
    }
    // Not classified: a message pcp raised without a kind, i.e. a bug (docs/cli.md: exit 12,
    // "internal error"). Never 23: a partial transfer is an outcome, not an error type.
    Kind::Protocol
}

/// The text of an error chain with each fact once: `prefix` (a path, or empty), then each
/// cause, skipping a cause whose text the message already holds (a layer whose message
/// includes its source's) and a leading `PATH: ` the message already ends with (a context
/// that named the path, over a cause that names it again). So
/// `opening destination d/: d/: Not a directory (os error 20): Not a directory (os error 20)`
/// reads `opening destination d/: Not a directory (os error 20)`.
pub fn chain_text(prefix: &str, e: &anyhow::Error) -> String {
    let mut out = prefix.to_owned();
    for c in e.chain() {
        let mut m = c.to_string();
        if m.is_empty() || out.contains(&m) {
            continue;
        }
        if let Some((head, rest)) = m.split_once(": ") {
            if !head.is_empty() && out.trim_end_matches(": ").ends_with(head) {
                m = rest.to_owned();
                if out.contains(&m) {
                    continue;
                }
            }
        }
        if !out.is_empty() && !out.ends_with(": ") {
            out.push_str(": ");
        }
        out.push_str(&m);
    }
    out
}

/// Whether the chain contains a broken pipe (exit 0 quietly, like `pcp ls | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_contract() {
        let all = [
            (Kind::Usage, 1),
            (Kind::Incompatible, 2),
            (Kind::Select, 3),
            (Kind::Connect, 10),
            (Kind::FileIo, 11),
            (Kind::Protocol, 12),
            (Kind::Interrupted, 20),
            (Kind::Partial, 23),
            (Kind::Timeout, 30),
            (Kind::Busy, 35),
            (Kind::Auth, 40),
        ];
        for (k, c) in all {
            assert_eq!(k.code(), c);
        }
        let e = anyhow::Error::from(crate::proto::Error::Truncated).context("x");
        assert_eq!(kind_of(&e), Kind::Protocol);
    }

    #[test]
    fn chain_text_says_each_fact_once() {
        let io = || std::io::Error::from_raw_os_error(20);
        let fs = crate::fsio::Error::Io { path: "a.txt/x/".into(), source: io() };
        let e = anyhow::Error::from(fs).context("opening destination a.txt/x/");
        assert_eq!(format!("{e:#}").matches("Not a directory").count(), 2, "anyhow repeats it: {e:#}");
        assert_eq!(chain_text("", &e), "opening destination a.txt/x/: Not a directory (os error 20)");
        let fs = crate::fsio::Error::Io { path: "ro/f".into(), source: std::io::Error::from_raw_os_error(13) };
        let e = anyhow::Error::from(fs);
        assert_eq!(chain_text("ro/f: ", &e), "ro/f: Permission denied (os error 13)");
        assert_eq!(chain_text("", &anyhow::anyhow!("plain")), "plain");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_text("", &e), "outer: inner");
    }
}
