//! Resolved options: flags over `PCP_*` environment over defaults, with XDG paths. Built once;
//! commands see only `Options`, never clap types.

use std::path::{Path, PathBuf};

use crate::report::Verbosity;

/// The state directory (`$XDG_STATE_HOME/pcp`, else `~/.local/state/pcp`).
pub fn state_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("pcp");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".local/state/pcp")
}

/// The config directory (`$XDG_CONFIG_HOME/pcp`, else `~/.config/pcp`).
pub fn config_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("pcp");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".config/pcp")
}

/// Default manifest database for a local root: one per canonical root path.
pub fn manifest_for(root: &Path) -> PathBuf {
    let canon = canonical(root);
    let h = blake3::hash(canon.as_os_str().as_encoded_bytes());
    state_dir().join("manifests").join(format!("{}.db", &h.to_hex()[..24]))
}

/// Output settings from the shared output flags.
pub fn verbosity(o: &crate::cli::OutputArgs, itemize: bool, progress: bool) -> Verbosity {
    Verbosity { verbose: o.verbose, quiet: o.quiet, itemize, progress: progress || o.progress, json: o.json }
}

/// The process umask (read once; restored immediately).
pub fn umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    rustix::process::umask(old);
    old.as_raw_mode() as u32
}

/// Canonical form of `p` even when it does not exist yet (the destination of a first sync):
/// the deepest existing ancestor is canonicalized and the rest appended.
pub fn canonical(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_path_is_stable_before_and_after_creation() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("new/dir/");
        let before = manifest_for(&target);
        std::fs::create_dir_all(&target).unwrap();
        assert_eq!(before, manifest_for(&target));
        assert_eq!(before, manifest_for(&d.path().join("new/./dir")));
    }
}
