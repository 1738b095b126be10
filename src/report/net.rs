//! Network events: the code, the listening address, a connected peer, a listing, an offer.
//! A child of `report`, so the Reporter stays the only place that prints.

use std::net::SocketAddr;

use super::{human, sanitize, Reporter};
use crate::proto::session::{ListEntry, ListKind};

impl Reporter {
    /// The code to give the other side: always on stderr (it is the point of the command),
    /// also as a `code` event with --json.
    pub fn code(&self, code: &str) {
        self.json(serde_json::json!({"event": "code", "code": code}));
        eprintln!("Code: {code}");
    }

    /// A new pairing was remembered: `name` is how this side now calls the peer (stderr unless
    /// quiet; a `paired` event with --json).
    pub fn paired(&self, name: &str, fingerprint: &str) {
        self.json(serde_json::json!({"event": "paired", "peer": name, "fingerprint": fingerprint}));
        if !self.v.json && !self.v.quiet {
            eprintln!("pcp: paired with {} (key {fingerprint}); later runs need no code", sanitize(name));
        }
    }

    /// Where this side listens: always on stderr, and as a `listening` event.
    pub fn listening(&self, addr: SocketAddr) {
        self.json(serde_json::json!({"event": "listening", "addr": addr.to_string()}));
        eprintln!("Listening on {addr}");
    }

    /// An authenticated peer (`verifier`: the 4 words of a first contact with a code).
    pub fn peer_connected(&self, c: Connected<'_>) {
        let rtt_ms = c.rtt.as_secs_f64() * 1000.0;
        let mut ev = serde_json::json!({
            "event": "connected", "peer": c.who, "addr": c.addr.to_string(), "path": c.path,
            "rtt_ms": (rtt_ms * 10.0).round() / 10.0, "resumed": c.resumed,
        });
        if let Some(v) = c.verifier {
            ev["verifier"] = serde_json::Value::from(v);
        }
        self.json(ev);
        if !self.v.json && !self.v.quiet {
            eprintln!(
                "{} {} via {} ({}, RTT {rtt_ms:.1} ms)",
                if c.resumed { "Resumed with" } else { "Connected to" },
                sanitize(c.who),
                c.path,
                c.addr
            );
        }
    }

    /// A connection moved to another path (a relayed one to the punched direct path): stderr
    /// (unless quiet) and a `path` event.
    pub fn path_changed(&self, path: &str, addr: SocketAddr, rtt: std::time::Duration) {
        let rtt_ms = rtt.as_secs_f64() * 1000.0;
        self.json(serde_json::json!({
            "event": "path", "addr": addr.to_string(), "path": path, "rtt_ms": (rtt_ms * 10.0).round() / 10.0,
        }));
        if !self.v.json && !self.v.quiet {
            eprintln!("Path now {path} ({addr}, RTT {rtt_ms:.1} ms)");
        }
    }

    /// The listener's side of `--verify`: the words the dialing user compares (stderr, unless
    /// quiet; also in the `peer` event).
    pub fn verifier(&self, words: &str) {
        if !self.v.json && !self.v.quiet {
            eprintln!("Verifier: {words}");
        }
    }

    /// An error, as a JSON `error` event (the message itself is printed by `pcp::run`).
    pub fn error_event(&self, e: &anyhow::Error) {
        self.json(serde_json::json!({
            "event": "error",
            "code": crate::error::kind_of(e).code(),
            "message": sanitize(&crate::error::chain_text("", e)),
        }));
    }

    /// `pcp ls` output, like `rsync --list-only` (times in UTC): stdout.
    pub fn listing(&self, entries: &[ListEntry]) {
        for e in entries {
            if self.v.json {
                self.json(serde_json::json!({
                    "event": "entry", "name": e.name, "kind": kind_name(e.kind), "size": e.size,
                    "mode": e.mode, "mtime": e.mtime, "target": String::from_utf8_lossy(&e.target),
                }));
                continue;
            }
            let mut line = format!(
                "{} {:>14} {} {}",
                mode_string(e.kind, e.mode),
                group3(e.size),
                utc(e.mtime),
                sanitize(&e.name)
            );
            if e.kind == ListKind::Symlink {
                line.push_str(" -> ");
                line.push_str(&sanitize(&String::from_utf8_lossy(&e.target)));
            }
            self.stdout_line(&line);
        }
    }

    /// What `pcp send` offers, in full (names sanitised), on stderr; `offer` events with --json.
    pub fn offer(&self, entries: &[ListEntry], escaping_links: usize) {
        let files = entries.iter().filter(|e| e.kind == ListKind::File).count();
        let total: u64 = entries.iter().filter(|e| e.kind == ListKind::File).map(|e| e.size).sum();
        if self.v.json {
            for e in entries {
                self.json(
                    serde_json::json!({"event": "offer", "path": e.name, "kind": kind_name(e.kind), "size": e.size}),
                );
            }
        } else {
            eprintln!("The peer offers {} entries ({files} files, {}):", entries.len(), human(total));
            for e in entries {
                let name = sanitize(&e.name);
                match e.kind {
                    ListKind::Dir => eprintln!("  {:>12}  {name}/", "dir"),
                    ListKind::Symlink => {
                        eprintln!("  {:>12}  {name} -> {}", "link", sanitize(&String::from_utf8_lossy(&e.target)))
                    }
                    _ => eprintln!("  {:>12}  {name}", human(e.size)),
                }
            }
        }
        if escaping_links > 0 {
            self.warn(&format!(
                "{escaping_links} symlink(s) point outside the received tree and will be skipped (safe links)"
            ));
        }
    }
}

fn kind_name(k: ListKind) -> &'static str {
    match k {
        ListKind::File => "file",
        ListKind::Dir => "dir",
        ListKind::Symlink => "symlink",
        ListKind::Other => "other",
    }
}

fn mode_string(kind: ListKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        ListKind::Dir => 'd',
        ListKind::Symlink => 'l',
        ListKind::File => '-',
        ListKind::Other => '?',
    });
    for shift in [6u32, 3, 0] {
        let b = (mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn group3(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `YYYY/MM/DD hh:mm:ss` in UTC (civil-from-days, Howard Hinnant's algorithm).
fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(mode_string(ListKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(ListKind::File, 0o644), "-rw-r--r--");
        assert_eq!(group3(1234567), "1,234,567");
        assert_eq!(group3(12), "12");
        assert_eq!(utc(0), "1970/01/01 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023/11/14 22:13:20");
    }
}

impl Reporter {
    /// `pcp peers list`: one line per paired peer on stdout (or one JSON object each).
    pub fn peers(&self, peers: &[PeerListing<'_>], json: bool) {
        for (r, (roots, mode)) in peers {
            let fp = r.key.fingerprint();
            if json {
                let roots: Vec<_> = roots
                    .iter()
                    .map(|x| serde_json::json!({"path": x.path.to_string_lossy(), "read_only": x.read_only}))
                    .collect();
                let ev = serde_json::json!({
                    "peer": r.name.as_str(), "fingerprint": fp, "created": r.created,
                    "seen": r.seen, "addr": r.addr, "roots": roots, "read_only": mode.unwrap_or(false),
                });
                println!("{ev}");
            } else {
                let reach = if roots.is_empty() {
                    format!("roots: what pcp serve serves{}", if *mode == Some(true) { " (ro)" } else { "" })
                } else {
                    let list: Vec<String> = roots
                        .iter()
                        .map(|x| {
                            format!("{}{}", sanitize(&x.path.to_string_lossy()), if x.read_only { " (ro)" } else { "" })
                        })
                        .collect();
                    format!("roots: {}", list.join(", "))
                };
                println!(
                    "{:<16} {fp}  paired {}  seen {}  {}  {reach}",
                    sanitize(r.name.as_str()),
                    unix_date(r.created),
                    unix_date(r.seen),
                    r.addr.as_deref().map(sanitize).unwrap_or("-".into())
                );
            }
        }
        if peers.is_empty() && !json {
            eprintln!("no paired peers (a first sync/cp/ls with a code pairs the two machines)");
        }
    }
}

/// A connection that just authenticated, as `peer_connected` reports it.
pub struct Connected<'a> {
    /// Who: the peer's name on the dialing side, "a peer" on the listening one.
    pub who: &'a str,
    pub addr: SocketAddr,
    /// `lan` (found by mDNS), `direct` (a known or punched address) or `relay`.
    pub path: &'a str,
    /// The handshake's RTT estimate.
    pub rtt: std::time::Duration,
    pub resumed: bool,
    pub verifier: Option<&'a str>,
}

/// One line of `pcp peers list`: the record and what it may reach here (`session::policy::roots_of`).
pub type PeerListing<'a> = (&'a crate::auth::peers::PeerRecord, (Vec<crate::auth::peers::Root>, Option<bool>));

/// `YYYY-MM-DD` (UTC) of Unix seconds.
fn unix_date(secs: u64) -> String {
    let t = utc(i64::try_from(secs).unwrap_or(i64::MAX / 2));
    t.get(..10).unwrap_or(&t).replace('/', "-")
}

#[cfg(test)]
mod date_tests {
    #[test]
    fn unix_dates() {
        assert_eq!(super::unix_date(0), "1970-01-01");
        assert_eq!(super::unix_date(1_796_083_200), "2026-12-01");
        assert_eq!(super::unix_date(951_782_400), "2000-02-29");
    }
}
