//! The config file, `config.toml` in the config directory (`~/.config/pcp/config.toml`):
//! defaults for the transfer commands, and per peer its address, defaults and (serving side)
//! what it may reach here. Flags win over `PCP_*` variables, which win over this file, which
//! wins over the built-in defaults; a `[peer.NAME]` value wins over the top-level one.
//!
//! ```toml
//! bwlimit = "10M"          # --bwlimit (KiB/s by default; K, M, G suffixes)
//! retries = 5              # --retries
//! timeout = 60             # --timeout, seconds (1-3600)
//!
//! [peer.nas]
//! addr = "192.0.2.7:7000"  # --addr, before the last address that worked
//! bwlimit = "2M"
//! roots = ["/srv/backup"]  # serving side: the directories nas may reach here
//! read_only = true         # serving side: nas may only pull and list
//! ```
//!
//! Anything else is an error naming the file, the line and the key: a typo never silently
//! changes what a scheduled run does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// The config file's name in the config directory.
pub const CONFIG_FILE: &str = "config.toml";
/// Largest config file read.
const MAX_LEN: u64 = 1 << 20;

/// What the file says (every field optional).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Bytes per second (0: no limit), for every peer.
    #[serde(default, deserialize_with = "rate")]
    pub bwlimit: Option<u64>,
    pub retries: Option<u32>,
    /// Seconds.
    #[serde(default, deserialize_with = "timeout")]
    pub timeout: Option<u64>,
    /// The rendezvous server, HOST:PORT (`--rendezvous`).
    pub rendezvous: Option<String>,
    /// `[peer.NAME]` sections.
    #[serde(default)]
    pub peer: BTreeMap<String, PeerSection>,
}

/// `[peer.NAME]`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    /// HOST:PORT.
    pub addr: Option<String>,
    #[serde(default, deserialize_with = "rate")]
    pub bwlimit: Option<u64>,
    pub retries: Option<u32>,
    #[serde(default, deserialize_with = "timeout")]
    pub timeout: Option<u64>,
    /// Serving side: the directories this peer may reach (replacing what pairing recorded).
    #[serde(default, deserialize_with = "roots")]
    pub roots: Option<Vec<PathBuf>>,
    /// Serving side: pulls and listings only.
    pub read_only: Option<bool>,
}

impl ConfigFile {
    /// Parse `text`; an error names the line and the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Self = toml::from_str(text).map_err(|e| describe(text, &e))?;
        for name in c.peer.keys() {
            if let Err(e) = crate::auth::peers::PeerName::parse(name) {
                let line = text.lines().position(|l| l.contains(&format!("peer.{name}"))).map_or(0, |i| i + 1);
                return Err(format!("line {line}, section [peer.{name}]: {e}"));
            }
        }
        Ok(c)
    }

    /// The file in `dir`; an absent file is an empty one.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join(CONFIG_FILE);
        let shown = path.display();
        let text = match std::fs::File::open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("reading {shown}: {e}")),
            Ok(f) => {
                use std::io::Read;
                let mut s = String::new();
                f.take(MAX_LEN + 1).read_to_string(&mut s).map_err(|e| format!("reading {shown}: {e}"))?;
                if s.len() as u64 > MAX_LEN {
                    return Err(format!("{shown}: larger than {MAX_LEN} bytes; is it the right file?"));
                }
                s
            }
        };
        Self::parse(&text).map_err(|e| format!("{shown}: {e}; fix that line or remove it"))
    }

    /// The section of `peer`, if any.
    pub fn peer(&self, peer: Option<&str>) -> Option<&PeerSection> {
        self.peer.get(peer?)
    }

    /// `--bwlimit` for `peer` from the file.
    pub fn bwlimit(&self, peer: Option<&str>) -> Option<u64> {
        self.peer(peer).and_then(|p| p.bwlimit).or(self.bwlimit)
    }

    /// `--retries` for `peer` from the file.
    pub fn retries(&self, peer: Option<&str>) -> Option<u32> {
        self.peer(peer).and_then(|p| p.retries).or(self.retries)
    }

    /// `--timeout` for `peer` from the file.
    pub fn timeout(&self, peer: Option<&str>) -> Option<u64> {
        self.peer(peer).and_then(|p| p.timeout).or(self.timeout)
    }
}

/// "line N, key K: what" from a toml error.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return msg };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(k) => format!("line {line_no}, key {k}: {msg}"),
        None => format!("line {line_no}: {msg}"),
    }
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Rate {
        Num(u64),
        Text(String),
    }
    match Rate::deserialize(d)? {
        Rate::Num(n) => Ok(Some(n.saturating_mul(1024))),
        Rate::Text(s) => crate::cli::args::parse_rate(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = u64::deserialize(d)?;
    if !(1..=3600).contains(&n) {
        return Err(serde::de::Error::custom(format!("{n} is not 1 to 3600 seconds")));
    }
    Ok(Some(n))
}

fn roots<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PathBuf>>, D::Error> {
    let v = Vec::<PathBuf>::deserialize(d)?;
    if let Some(p) = v.iter().find(|p| !p.is_absolute()) {
        return Err(serde::de::Error::custom(format!("{} is not an absolute path", p.display())));
    }
    if v.len() > crate::auth::peers::MAX_ROOTS {
        return Err(serde::de::Error::custom(format!("more than {} roots", crate::auth::peers::MAX_ROOTS)));
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_and_peer_values_win() {
        let c = ConfigFile::parse(
            "bwlimit = \"10M\"\nretries = 5\ntimeout = 60\n\n[peer.nas]\naddr = \"192.0.2.7:7000\"\nbwlimit = 100\nroots = [\"/srv/a\", \"/srv/b c\"]\nread_only = true\n",
        )
        .unwrap();
        assert_eq!(c.bwlimit(None), Some(10 << 20));
        assert_eq!(c.bwlimit(Some("nas")), Some(100 << 10));
        assert_eq!(c.retries(Some("nas")), Some(5));
        assert_eq!(c.timeout(Some("other")), Some(60));
        let nas = c.peer(Some("nas")).unwrap();
        assert_eq!(nas.addr.as_deref(), Some("192.0.2.7:7000"));
        assert_eq!(nas.roots.as_deref(), Some(&[PathBuf::from("/srv/a"), PathBuf::from("/srv/b c")][..]));
        assert_eq!(nas.read_only, Some(true));
        assert_eq!(ConfigFile::parse("").unwrap(), ConfigFile::default());
    }

    #[test]
    fn a_malformed_file_names_the_line_and_the_key() {
        for (text, want) in [
            ("retries = 3\nbwlimt = \"1M\"\n", "line 2, key bwlimt: unknown field `bwlimt`"),
            ("retries = \"three\"\n", "line 1, key retries: "),
            ("\n\ntimeout = 0\n", "line 3, key timeout: 0 is not 1 to 3600 seconds"),
            ("bwlimit = \"fast\"\n", "line 1, key bwlimit: \"fast\" is not a rate"),
            ("[peer.nas]\nroots = [\"rel\"]\n", "line 2, key roots: rel is not an absolute path"),
            ("[peer.nas]\naddress = \"x\"\n", "line 2, key address: unknown field `address`"),
            ("[peer.\"a b\"]\n", "section [peer.a b]: peer name"),
            ("retries = \n", "line 1"),
        ] {
            let e = ConfigFile::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e:?} does not contain {want:?}");
        }
    }

    #[test]
    fn load_names_the_file_and_an_absent_file_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(ConfigFile::load(tmp.path()).unwrap(), ConfigFile::default());
        std::fs::write(tmp.path().join(CONFIG_FILE), "retries = -1\n").unwrap();
        let e = ConfigFile::load(tmp.path()).unwrap_err();
        assert!(e.contains("config.toml: line 1, key retries"), "{e}");
    }
}
