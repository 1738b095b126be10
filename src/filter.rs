//! Include/exclude rules compiled once into a `Filter`: `--include`, `--exclude`,
//! `--exclude-from`, `--filter` (rsync's first-match-wins order, gitignore pattern syntax), plus
//! per-directory `.pcpignore` files (and `.gitignore` with `--gitignore`), which the scanner
//! honours like git does.

use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// Name of the per-directory ignore file pcp always honours.
pub const IGNORE_FILE: &str = ".pcpignore";

/// One rule from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Include matching paths (wins over later excludes).
    Include(String),
    /// Exclude matching paths.
    Exclude(String),
}

/// A bad rule.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Pattern does not parse.
    #[error("bad filter pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// `--filter` rule form pcp does not support.
    #[error("unsupported --filter rule {0:?}: pcp supports '- PATTERN', '+ PATTERN', 'exclude PATTERN' and 'include PATTERN'")]
    Unsupported(String),
    /// An exclude file reached through someone else's symlink.
    #[error("pattern file {path}: {refusal}")]
    Untrusted {
        /// File.
        path: String,
        /// The refusal (it names the link and the fix).
        refusal: crate::fsio::trust::Error,
    },
    /// Could not read an exclude file.
    #[error("reading pattern file {path} (--exclude-from/--include-from): {cause}")]
    Read {
        /// File.
        path: String,
        /// Cause (not a `source`: the message holds it, and chains are printed whole).
        cause: std::io::Error,
    },
}

/// Parse one `--filter` rule.
pub fn parse_filter_rule(s: &str) -> Result<Rule, Error> {
    let s = s.trim();
    let (kind, pat) = match s.split_once([' ', ',']) {
        Some((k, p)) => (k, p.trim()),
        None => return Err(Error::Unsupported(s.to_owned())),
    };
    match kind {
        "-" | "exclude" => Ok(Rule::Exclude(pat.to_owned())),
        "+" | "include" => Ok(Rule::Include(pat.to_owned())),
        _ => Err(Error::Unsupported(s.to_owned())),
    }
}

/// Read `--exclude-from FILE` (one pattern per line; blank lines and `#`/`;` comments skipped).
/// The file is opened through [`crate::fsio::trust::open_file`]: a symlink on its path owned by
/// someone other than root or the user is refused.
pub fn read_exclude_file(path: &Path) -> Result<Vec<Rule>, Error> {
    use crate::fsio::trust;
    let read_err = |cause| Error::Read { path: path.display().to_string(), cause };
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(read_err)?
    } else {
        let file = trust::open_file(path).map_err(|e| match e {
            trust::Error::Io { source, .. } => read_err(source),
            refusal => Error::Untrusted { path: path.display().to_string(), refusal },
        })?;
        std::io::read_to_string(file).map_err(read_err)?
    };
    Ok(text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| Rule::Exclude(l.to_owned()))
        .collect())
}

/// The compiled command-line rules.
#[derive(Clone)]
pub struct Filter {
    matcher: Option<Gitignore>,
    /// Rules as given (sent to a peer that scans).
    pub rules: Vec<Rule>,
    /// Honour `.gitignore` files too.
    pub gitignore: bool,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("rules", &self.rules).field("gitignore", &self.gitignore).finish()
    }
}

impl Filter {
    /// Compile `rules` (first match wins, like rsync).
    pub fn new(rules: Vec<Rule>, gitignore: bool) -> Result<Self, Error> {
        if rules.is_empty() {
            return Ok(Self { matcher: None, rules, gitignore });
        }
        // gitignore semantics are "last match wins": add the rules in reverse order.
        let mut b = GitignoreBuilder::new("/");
        for r in rules.iter().rev() {
            let (line, pat) = match r {
                Rule::Exclude(p) => (p.clone(), p),
                Rule::Include(p) => (format!("!{p}"), p),
            };
            b.add_line(None, &line).map_err(|e| Error::Pattern { pattern: pat.clone(), reason: e.to_string() })?;
        }
        let m = b.build().map_err(|e| Error::Pattern { pattern: String::new(), reason: e.to_string() })?;
        Ok(Self { matcher: Some(m), rules, gitignore })
    }

    /// No rules at all.
    pub fn none() -> Self {
        Self { matcher: None, rules: Vec::new(), gitignore: false }
    }

    /// Whether relative path `rel` (itself, not its parents) is excluded.
    pub fn excluded(&self, rel: &str, is_dir: bool) -> bool {
        match &self.matcher {
            None => false,
            Some(m) => matches!(m.matched(Path::new("/").join(rel), is_dir), Match::Ignore(_)),
        }
    }

    /// Whether `rel` or any of its parents is excluded (protects destination files from
    /// `--delete`, as rsync does).
    pub fn excluded_or_parent(&self, rel: &str, is_dir: bool) -> bool {
        match &self.matcher {
            None => false,
            Some(m) => matches!(m.matched_path_or_any_parents(Path::new("/").join(rel), is_dir), Match::Ignore(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_like_rsync() {
        let f = Filter::new(vec![Rule::Include("keep.tmp".into()), Rule::Exclude("*.tmp".into())], false).unwrap();
        assert!(!f.excluded("a/keep.tmp", false));
        assert!(f.excluded("a/x.tmp", false));
        assert!(!f.excluded("a/x.txt", false));
    }

    #[test]
    fn dir_only_and_anchored() {
        let f = Filter::new(vec![Rule::Exclude("build/".into()), Rule::Exclude("/top".into())], false).unwrap();
        assert!(f.excluded("x/build", true));
        assert!(!f.excluded("x/build", false));
        assert!(f.excluded("top", false));
        assert!(!f.excluded("x/top", false));
        assert!(f.excluded_or_parent("x/build/deep/file", false));
    }

    #[test]
    fn filter_rule_forms() {
        assert_eq!(parse_filter_rule("- *.o").unwrap(), Rule::Exclude("*.o".into()));
        assert_eq!(parse_filter_rule("+ keep").unwrap(), Rule::Include("keep".into()));
        assert!(parse_filter_rule(": .rules").is_err());
    }
}
