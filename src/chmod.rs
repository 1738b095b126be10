//! rsync's `--chmod=CHMOD`: comma-separated chmod(1) modes, each optionally prefixed with `D`
//! (directories only) or `F` (everything else), applied to the permissions the source sent, as
//! though it had sent those (so without `-p` they shape only new files, as in rsync).
//!
//! An item is octal (`D755`, `F0644`) or symbolic: `[ugoa]*` then `+`, `-` or `=`, then
//! `[rwxXst]*` (`X`: execute if a directory or already executable by someone). With no `ugoa`
//! the umask's bits are left alone, as chmod(1) does (`+w` under umask 022 is `u+w`).
//! Parsed once at the edge ([`Chmod::parse`]); a peer's string is parsed the same way.

use std::fmt;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chmod {
    items: Vec<Item>,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    Any,
    Dirs,
    Files,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Octal(u32),
    /// `who` (bits of u 0o4700-ish masks: 1 u, 2 g, 4 o; 0: none given), op, perms (1 r, 2 w,
    /// 4 x, 8 X, 16 s, 32 t).
    Sym {
        who: u8,
        op: u8,
        perms: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    only: Only,
    action: Action,
}

/// The longest `--chmod` accepted (bytes) and the most items.
pub const MAX_LEN: usize = 1024;
const MAX_ITEMS: usize = 64;

impl Chmod {
    /// Parse rsync's `--chmod` syntax; the error names the bad item.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > MAX_LEN {
            return Err(format!("--chmod {s:?}: give modes like D755,F644 or u+rwX,go-w"));
        }
        let mut items = Vec::new();
        for raw in s.split(',') {
            if items.len() >= MAX_ITEMS {
                return Err(format!("--chmod: at most {MAX_ITEMS} items"));
            }
            let bad = || format!("--chmod: {raw:?} is not a mode (e.g. D755, F644, u+rwX, go-w, Dg+s)");
            let (only, rest) = match raw.as_bytes().first() {
                Some(b'D') => (Only::Dirs, &raw[1..]),
                Some(b'F') => (Only::Files, &raw[1..]),
                _ => (Only::Any, raw),
            };
            let action = if !rest.is_empty() && rest.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                if rest.len() > 4 {
                    return Err(bad());
                }
                Action::Octal(u32::from_str_radix(rest, 8).map_err(|_| bad())?)
            } else {
                let op_at = rest.find(['+', '-', '=']).ok_or_else(bad)?;
                let (who_s, tail) = rest.split_at(op_at);
                let mut who = 0u8;
                for c in who_s.chars() {
                    who |= match c {
                        'u' => 1,
                        'g' => 2,
                        'o' => 4,
                        'a' => 7,
                        _ => return Err(bad()),
                    };
                }
                let op = tail.as_bytes()[0];
                let mut perms = 0u8;
                for c in tail[1..].chars() {
                    perms |= match c {
                        'r' => 1,
                        'w' => 2,
                        'x' => 4,
                        'X' => 8,
                        's' => 16,
                        't' => 32,
                        _ => return Err(bad()),
                    };
                }
                Action::Sym { who, op, perms }
            };
            items.push(Item { only, action });
        }
        Ok(Self { items, text: s.to_owned() })
    }

    /// The text it was parsed from (what travels to a peer).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `mode` (permission bits, `& 0o7777`) after every item, for a directory or not.
    pub fn apply(&self, mut mode: u32, is_dir: bool, umask: u32) -> u32 {
        for it in &self.items {
            match (it.only, is_dir) {
                (Only::Dirs, false) | (Only::Files, true) => continue,
                _ => {}
            }
            mode = match it.action {
                Action::Octal(m) => m & 0o7777,
                Action::Sym { who, op, perms } => sym(mode, is_dir, umask, who, op, perms),
            };
        }
        mode & 0o7777
    }
}

fn sym(mode: u32, is_dir: bool, umask: u32, who: u8, op: u8, perms: u8) -> u32 {
    let given = who != 0;
    let who = if given { who } else { 7 };
    let mut bits = 0u32;
    let exec = perms & 4 != 0 || (perms & 8 != 0 && (is_dir || mode & 0o111 != 0));
    for (w, shift) in [(1u8, 6u32), (2, 3), (4, 0)] {
        if who & w == 0 {
            continue;
        }
        let mut b = 0;
        if perms & 1 != 0 {
            b |= 4;
        }
        if perms & 2 != 0 {
            b |= 2;
        }
        if exec {
            b |= 1;
        }
        bits |= b << shift;
    }
    if perms & 16 != 0 {
        if who & 1 != 0 {
            bits |= 0o4000;
        }
        if who & 2 != 0 {
            bits |= 0o2000;
        }
    }
    if perms & 32 != 0 && who & 4 != 0 {
        bits |= 0o1000;
    }
    // No who given: the umask's bits are not affected (chmod(1)).
    let keep = if given { 0 } else { umask & 0o777 };
    bits &= !keep;
    match op {
        b'+' => mode | bits,
        b'-' => mode & !bits,
        _ => {
            // `=`: the named classes' bits are replaced (set-ID/sticky of those classes too).
            let mut class = 0u32;
            for (w, m) in [(1u8, 0o4700u32), (2, 0o2070), (4, 0o1007)] {
                if who & w != 0 {
                    class |= m;
                }
            }
            class &= !keep;
            (mode & !class) | bits
        }
    }
}

impl fmt::Display for Chmod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case as rsync 3.5 gave it (umask 022) for a file 0444, a directory 0500 and an
    /// executable 0711.
    #[test]
    fn modes_as_rsync_applies_them() {
        let cases = [
            ("+w", [0o644, 0o700, 0o711]),
            ("g+w", [0o464, 0o520, 0o731]),
            ("D755,F644", [0o644, 0o755, 0o644]),
            ("u=rwX,go=rX", [0o644, 0o755, 0o755]),
            ("a-x", [0o444, 0o400, 0o600]),
            ("Dg+s", [0o444, 0o2500, 0o711]),
            ("o=", [0o440, 0o500, 0o710]),
            ("F600,D700", [0o600, 0o700, 0o600]),
            ("ug+rw,o-rwx", [0o660, 0o760, 0o770]),
        ];
        for (spec, want) in cases {
            let c = Chmod::parse(spec).unwrap();
            let got = [c.apply(0o444, false, 0o022), c.apply(0o500, true, 0o022), c.apply(0o711, false, 0o022)];
            assert_eq!(got, want, "{spec}: got {:o} {:o} {:o}", got[0], got[1], got[2]);
        }
    }

    #[test]
    fn bad_modes_are_refused_by_name() {
        for bad in ["", "u+q", "z+r", "755x", "D", "u", "77777", "+w,", &"u+r,".repeat(100)] {
            let e = Chmod::parse(bad).unwrap_err();
            assert!(e.contains("--chmod"), "{bad}: {e}");
        }
    }
}
