//! Paired peers (security.md §3.2): what a successful code session stores on both sides, so
//! that later connections need no code. Pure format and rules; `fsio::keyfile` reads and
//! writes the file (`peers` in the config directory, mode 0600, atomic replace).
//!
//! File format, version 1, one line per peer after the header:
//!
//! ```text
//! pcp-peers 1
//! NAME key=HEX64 psk=HEX64 created=UNIX seen=UNIX [addr=HOST:PORT] [root=PATH | root-ro=PATH]...
//! ```
//!
//! `root=` / `root-ro=` (serving side): the directories this peer may reach, read-write or
//! read-only, absolute, with `%`, space and control bytes written `%XX`. A pairing made by
//! `pcp serve DIR` records DIR; a record with no root (made by `pcp pair`) may reach whatever
//! `pcp serve` serves. The config file's `[peer.NAME]` may replace them (`session::policy`).
//!
//! The psk is the pair's `pair_psk` (security.md §3.2), keying Noise_IKpsk2 on reconnect. A
//! record for mDNS/rendezvous (issue 13) derives its rotating token from the psk, never from
//! the key, so no other field is needed for it. Anything else in the file (a bad line, an
//! unknown field, a duplicate name or key) is an error naming the line: the file is trusted
//! for authentication and is never guessed at.

use std::fmt;

use super::keys::{push_hex, Key, PairPsk, PeerId, KEY_LEN};

/// The peers file's name in the config directory.
pub const PEERS_FILE: &str = "peers";
/// Its first line.
const HEADER: &str = "pcp-peers 1";
/// Most peers in one file.
pub const MAX_PEERS: usize = 4096;
/// Largest peers file read.
pub const MAX_PEERS_FILE_LEN: u64 = 1 << 20;
/// Longest peer name.
pub const MAX_NAME: usize = 32;
/// Longest remembered address.
const MAX_ADDR: usize = 255;
/// Most roots per peer.
pub const MAX_ROOTS: usize = 64;
/// Longest root path, in bytes.
const MAX_ROOT: usize = 4096;

/// A directory a paired peer may reach on this machine (serving side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    /// Absolute.
    pub path: std::path::PathBuf,
    /// Pulls and listings only.
    pub read_only: bool,
}

/// `%XX` for `%`, space, and bytes that are not printable ASCII.
fn encode_path(p: &std::path::Path, out: &mut String) {
    use std::os::unix::ffi::OsStrExt;
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn decode_path(v: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;
    let bad = || format!("root {v:?} is not an absolute path (with %XX escapes)");
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = v.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.first() != Some(&b'/') || out.len() > MAX_ROOT || out.contains(&0) {
        return Err(bad());
    }
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(out)))
}

/// A peer's local alias (`nas` in `nas:backup/`): 1–32 of `A-Z a-z 0-9 . _ -`, starting with a
/// letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeerName(String);

impl PeerName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if s.is_empty() || s.len() > MAX_NAME {
            return Err(format!("peer name {s:?} must be 1 to {MAX_NAME} characters"));
        }
        if !s.chars().all(ok_char) || !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "peer name {s:?} may hold only letters, digits, '.', '_' and '-', and must start with a letter or digit"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// A name made from free text (a hostname): invalid characters become '-', cut to length;
    /// `None` if nothing usable is left.
    pub fn sanitized(s: &str) -> Option<Self> {
        let t: String = s
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
            .take(MAX_NAME)
            .collect();
        let t = t.trim_start_matches(['.', '_', '-']);
        Self::parse(t).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One paired peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    pub name: PeerName,
    /// Its Noise static key, pinned at pairing.
    pub key: PeerId,
    /// The pair's psk for Noise_IKpsk2.
    pub psk: Key<PairPsk>,
    /// Unix seconds: paired, last authenticated.
    pub created: u64,
    pub seen: u64,
    /// The last address that worked (dialer side), tried when no `--addr` is given.
    pub addr: Option<String>,
    /// What it may reach here (serving side); empty: whatever `pcp serve` serves.
    pub roots: Vec<Root>,
}

/// All paired peers, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peers {
    records: Vec<PeerRecord>,
}

fn hex32(v: &str) -> Option<[u8; KEY_LEN]> {
    if v.len() != 2 * KEY_LEN {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(v.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Peers {
    /// Parse the file; an error names the line (1-based) and what is wrong with it.
    pub fn decode(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, h)) if h == HEADER => {}
            _ => return Err(format!("line 1: expected {HEADER:?}")),
        }
        let mut peers = Self::default();
        for (i, line) in lines {
            let n = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let rec = Self::decode_line(line).map_err(|e| format!("line {n}: {e}"))?;
            if peers.by_name(rec.name.as_str()).is_some() {
                return Err(format!("line {n}: peer name {} appears twice", rec.name));
            }
            if peers.by_key(&rec.key).is_some() {
                return Err(format!("line {n}: the key of {} appears twice", rec.name));
            }
            if peers.records.len() >= MAX_PEERS {
                return Err(format!("line {n}: more than {MAX_PEERS} peers"));
            }
            peers.records.push(rec);
        }
        Ok(peers)
    }

    fn decode_line(line: &str) -> Result<PeerRecord, String> {
        let mut words = line.split(' ');
        let name = PeerName::parse(words.next().unwrap_or(""))?;
        let (mut key, mut psk, mut created, mut seen, mut addr) = (None, None, None, None, None);
        let mut roots: Vec<Root> = Vec::new();
        for w in words {
            let (k, v) = w.split_once('=').ok_or_else(|| format!("field {w:?} is not KEY=VALUE"))?;
            let dup = |set: bool| if set { Err(format!("field {k} appears twice")) } else { Ok(()) };
            match k {
                "key" => {
                    dup(key.is_some())?;
                    key = Some(PeerId::from_bytes(hex32(v).ok_or("key is not 64 hex digits")?));
                }
                "psk" => {
                    dup(psk.is_some())?;
                    psk = Some(Key::<PairPsk>::from_bytes(hex32(v).ok_or("psk is not 64 hex digits")?));
                }
                "created" => {
                    dup(created.is_some())?;
                    created = Some(v.parse::<u64>().map_err(|_| "created is not a number")?);
                }
                "seen" => {
                    dup(seen.is_some())?;
                    seen = Some(v.parse::<u64>().map_err(|_| "seen is not a number")?);
                }
                "addr" => {
                    dup(addr.is_some())?;
                    if v.is_empty() || v.len() > MAX_ADDR || !v.chars().all(|c| c.is_ascii_graphic()) {
                        return Err("addr is not HOST:PORT".into());
                    }
                    addr = Some(v.to_owned());
                }
                "root" | "root-ro" => {
                    if roots.len() >= MAX_ROOTS {
                        return Err(format!("more than {MAX_ROOTS} roots"));
                    }
                    roots.push(Root { path: decode_path(v)?, read_only: k == "root-ro" });
                }
                other => return Err(format!("unknown field {other:?}")),
            }
        }
        Ok(PeerRecord {
            name,
            key: key.ok_or("no key=")?,
            psk: psk.ok_or("no psk=")?,
            created: created.ok_or("no created=")?,
            seen: seen.ok_or("no seen=")?,
            addr,
            roots,
        })
    }

    /// The file's text (secrets included: written only 0600 by fsio::keyfile).
    pub fn encode(&self) -> zeroize::Zeroizing<String> {
        let mut s = zeroize::Zeroizing::new(String::with_capacity(64 + self.records.len() * 200));
        s.push_str(HEADER);
        s.push('\n');
        for r in &self.records {
            s.push_str(r.name.as_str());
            s.push_str(" key=");
            push_hex(&mut s, r.key.as_bytes());
            s.push_str(" psk=");
            push_hex(&mut s, r.psk.as_bytes());
            s.push_str(&format!(" created={} seen={}", r.created, r.seen));
            if let Some(a) = &r.addr {
                s.push_str(" addr=");
                s.push_str(a);
            }
            for root in &r.roots {
                s.push_str(if root.read_only { " root-ro=" } else { " root=" });
                encode_path(&root.path, &mut s);
            }
            s.push('\n');
        }
        s
    }

    pub fn records(&self) -> &[PeerRecord] {
        &self.records
    }

    pub fn by_name(&self, name: &str) -> Option<&PeerRecord> {
        self.records.iter().find(|r| r.name.as_str() == name)
    }

    pub fn by_key(&self, key: &PeerId) -> Option<&PeerRecord> {
        self.records.iter().find(|r| &r.key == key)
    }

    /// Remember a new pairing under `name`, or under `name-2`, `name-3`, ... if another key
    /// holds `name`. A record with the same key is replaced (a re-pairing: new psk), keeping
    /// its roots; `root` (the directory served when the pairing was made) joins them, replacing
    /// the same path's entry. Returns the name used.
    pub fn pair(
        &mut self,
        name: &PeerName,
        key: PeerId,
        psk: Key<PairPsk>,
        now: u64,
        addr: Option<String>,
        root: Option<Root>,
    ) -> Result<PeerName, String> {
        let mut roots = self.records.iter().find(|r| r.key == key).map(|r| r.roots.clone()).unwrap_or_default();
        if let Some(root) = root {
            roots.retain(|r| r.path != root.path);
            if roots.len() >= MAX_ROOTS {
                return Err(format!("peer {name} has {MAX_ROOTS} roots already"));
            }
            roots.push(root);
        }
        self.records.retain(|r| r.key != key);
        let mut chosen = name.clone();
        let mut n = 2u32;
        while self.by_name(chosen.as_str()).is_some() {
            let suffix = format!("-{n}");
            let stem: String = name.as_str().chars().take(MAX_NAME - suffix.len()).collect();
            chosen = PeerName::parse(&format!("{stem}{suffix}"))?;
            n += 1;
        }
        if self.records.len() >= MAX_PEERS {
            return Err(format!("{MAX_PEERS} peers are paired already; forget one with `pcp peers forget NAME`"));
        }
        self.records.push(PeerRecord { name: chosen.clone(), key, psk, created: now, seen: now, addr, roots });
        Ok(chosen)
    }

    /// A paired peer authenticated at `now` (from `addr`, on the dialer side).
    pub fn seen(&mut self, key: &PeerId, now: u64, addr: Option<String>) {
        if let Some(r) = self.records.iter_mut().find(|r| &r.key == key) {
            r.seen = now;
            if addr.is_some() {
                r.addr = addr;
            }
        }
    }

    pub fn rename(&mut self, old: &str, new: &PeerName) -> Result<(), String> {
        if self.by_name(new.as_str()).is_some() {
            return Err(format!("a peer named {new} exists already; forget or rename it first"));
        }
        let r = self
            .records
            .iter_mut()
            .find(|r| r.name.as_str() == old)
            .ok_or_else(|| format!("no paired peer named {old:?}; see `pcp peers list`"))?;
        r.name = new.clone();
        Ok(())
    }

    /// Forget a peer: its key is refused from now on. Whether one was forgotten.
    pub fn forget(&mut self, name: &str) -> bool {
        let before = self.records.len();
        self.records.retain(|r| r.name.as_str() != name);
        self.records.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: &mut Peers, name: &str, k: u8) -> PeerName {
        p.pair(
            &PeerName::parse(name).unwrap(),
            PeerId::from_bytes([k; 32]),
            Key::from_bytes([k ^ 0xff; 32]),
            100,
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn round_trip_with_exact_bytes() {
        let mut p = Peers::default();
        rec(&mut p, "nas", 1);
        p.seen(&PeerId::from_bytes([1; 32]), 200, Some("192.0.2.7:4000".into()));
        let text = p.encode();
        let want = format!(
            "pcp-peers 1\nnas key={} psk={} created=100 seen=200 addr=192.0.2.7:4000\n",
            "01".repeat(32),
            "fe".repeat(32)
        );
        assert_eq!(*text, want);
        assert_eq!(Peers::decode(&text).unwrap(), p);
    }

    #[test]
    fn a_taken_name_gets_a_suffix_and_the_same_key_replaces_its_record() {
        let mut p = Peers::default();
        assert_eq!(rec(&mut p, "laptop", 1).as_str(), "laptop");
        assert_eq!(rec(&mut p, "laptop", 2).as_str(), "laptop-2");
        assert_eq!(rec(&mut p, "laptop", 3).as_str(), "laptop-3");
        // Re-pairing key 2 under "laptop": its old record goes, the name is still taken by 1.
        assert_eq!(rec(&mut p, "laptop", 2).as_str(), "laptop-2");
        assert_eq!(p.records().len(), 3);
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "-x", ".x", "a b", "a/b", "x:y", &"a".repeat(33)] {
            assert!(PeerName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(PeerName::sanitized("My Laptop.local").unwrap().as_str(), "My-Laptop.local");
        assert!(PeerName::sanitized("---").is_none());
    }

    #[test]
    fn a_tampered_file_is_an_error_naming_the_line() {
        let mut p = Peers::default();
        rec(&mut p, "nas", 1);
        let good = p.encode().to_string();
        for (bad, what) in [
            (good.replace("pcp-peers 1", "pcp-peers 2"), "line 1"),
            (good.replace("key=01", "key=zz"), "line 2: key"),
            (good.replace(" created=100", ""), "line 2: no created"),
            (
                good.clone() + "nas key=" + &"02".repeat(32) + " psk=" + &"00".repeat(32) + " created=1 seen=1\n",
                "line 3: peer name nas appears twice",
            ),
            (good.replace("seen=100", "seen=100 mode=rw"), "unknown field"),
            (good.replace("seen=100", "seen=100 seen=1"), "appears twice"),
        ] {
            let e = Peers::decode(&bad).unwrap_err();
            assert!(e.contains(what), "{e:?} does not say {what:?}");
        }
    }

    #[test]
    fn roots_round_trip_escaped_and_a_repairing_adds_its_root() {
        let mut p = Peers::default();
        let (k, psk) = (PeerId::from_bytes([3; 32]), Key::from_bytes([4; 32]));
        let nas = PeerName::parse("nas").unwrap();
        let odd = Root { path: "/srv/my photos/100%".into(), read_only: true };
        p.pair(&nas, k, psk.clone(), 1, None, Some(odd.clone())).unwrap();
        let text = p.encode();
        assert!(text.ends_with(" root-ro=/srv/my%20photos/100%25\n"), "{}", *text);
        assert_eq!(Peers::decode(&text).unwrap(), p);
        let rw = Root { path: "/srv/b".into(), read_only: false };
        p.pair(&nas, k, psk.clone(), 2, None, Some(rw.clone())).unwrap();
        assert_eq!(p.by_key(&k).unwrap().roots, vec![odd.clone(), rw]);
        // The same path again: its mode is the latest pairing's.
        let ro = Root { path: "/srv/b".into(), read_only: true };
        p.pair(&nas, k, psk, 3, None, Some(ro.clone())).unwrap();
        assert_eq!(p.by_key(&k).unwrap().roots, vec![odd, ro]);
        for bad in ["root=relative", "root=/a%zz", "root=/a%00b", "root=%2F"] {
            let line = format!("nas key={} psk={} created=1 seen=1 {bad}", "01".repeat(32), "02".repeat(32));
            let e = Peers::decode(&format!("pcp-peers 1\n{line}\n"));
            if bad == "root=%2F" {
                assert!(e.is_ok(), "{bad}: {e:?}");
            } else {
                assert!(e.unwrap_err().contains("root"), "{bad} accepted");
            }
        }
    }

    #[test]
    fn rename_and_forget() {
        let mut p = Peers::default();
        rec(&mut p, "a", 1);
        rec(&mut p, "b", 2);
        assert!(p.rename("a", &PeerName::parse("b").unwrap()).is_err());
        p.rename("a", &PeerName::parse("c").unwrap()).unwrap();
        assert!(p.by_name("c").is_some());
        assert!(p.forget("c"));
        assert!(!p.forget("c"));
        assert!(p.by_key(&PeerId::from_bytes([1; 32])).is_none());
    }
}
