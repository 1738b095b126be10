//! The layering of src/lib.rs, checked rather than hoped for (issue 10):
//!
//! - the pure core (`chunk`, `plan`, `proto`, `auth`, and the pure types `path`, `meta`)
//!   does no IO, reads no clock and draws no randomness: no `std::fs`, sockets, threads, tokio,
//!   quinn, `Instant::now`/`SystemTime::now`, `OsRng`/`getrandom`/`rand::`, and imports none of
//!   the IO modules (`fsio`, `net`, `engine`, `manifest`, `report`, `cmd`, `session`). Time and
//!   randomness are passed in. (snow draws the Noise ephemeral keys from its own resolver inside
//!   `auth::noise`; pcp never does so itself.)
//! - only `net` names quinn or tokio: `cmd` and `session` use its blocking faces.
//! - only `cmd` and `config` read the process-wide interrupt flag; below them it is a stop
//!   signal passed in.
//! - no file under src/ is over 800 lines, its `#[cfg(test)]` tests excepted.
//!
//! Each check reads the sources with comments and test modules removed.

use std::path::{Path, PathBuf};

/// `(module path under src/, forbidden substrings)`.
const PURE: &[&str] = &["chunk", "plan.rs", "proto", "auth", "path.rs", "meta.rs"];

const PURE_FORBIDDEN: &[&str] = &[
    "std::fs",
    "fs::File",
    "File::open",
    "std::net",
    "UdpSocket",
    "TcpStream",
    "std::thread",
    "tokio",
    "quinn",
    "Instant::now",
    "SystemTime::now",
    "OsRng",
    "getrandom",
    "thread_rng",
    "rand::",
    "crate::fsio",
    "crate::net",
    "crate::engine",
    "crate::manifest",
    "crate::report",
    "crate::cmd",
    "crate::session",
    "crate::config",
    "crate::INTERRUPTED",
];

const NET_ONLY: &[&str] = &["quinn", "tokio"];
const NET_ONLY_IN: &[&str] = &["cmd", "session"];

const MAX_LINES: usize = 800;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The code of a file: comment lines dropped, and everything from a `#[cfg(test)]` that opens a
/// test module to the end of that module.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t == "#[cfg(test)]" && lines.get(i + 1).is_some_and(|n| n.contains("mod ")) {
            // Skip the module: up to the line that closes it at the same indentation.
            let indent = lines[i].len() - lines[i].trim_start().len();
            let open = lines[i + 1];
            i += 2;
            if !open.trim_end().ends_with(';') {
                while i < lines.len() {
                    let l = lines[i];
                    let ind = l.len() - l.trim_start().len();
                    i += 1;
                    if ind == indent && l.trim() == "}" {
                        break;
                    }
                }
            }
            continue;
        }
        if !(t.starts_with("//") || t.is_empty()) {
            let code = match t.find(" //") {
                Some(k) => &t[..k],
                None => t,
            };
            out.push((i + 1, code.to_owned()));
        }
        i += 1;
    }
    out
}

fn violations(roots: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for root in roots {
        let mut files = Vec::new();
        rust_files(&src().join(root), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in code_lines(&text) {
                for word in forbidden {
                    if line.contains(word) {
                        bad.push(format!("{}:{n}: `{word}` in `{line}`", f.strip_prefix(src()).unwrap().display()));
                    }
                }
            }
        }
    }
    bad
}

#[test]
fn pure_core_does_no_io_reads_no_clock_draws_no_randomness() {
    let bad = violations(PURE, PURE_FORBIDDEN);
    assert!(bad.is_empty(), "the pure core reached for IO, the clock or randomness:\n{}", bad.join("\n"));
}

#[test]
fn only_net_names_quinn_or_tokio() {
    let bad = violations(NET_ONLY_IN, NET_ONLY);
    assert!(bad.is_empty(), "quinn/tokio named outside net/:\n{}", bad.join("\n"));
}

/// The interrupt flag is read where commands are set up and passed down as a stop signal;
/// no layer below reaches for the global.
#[test]
fn only_commands_read_the_interrupt_flag() {
    let below = ["engine", "session", "net", "fsio", "scan.rs", "manifest", "report", "filter.rs"];
    let bad = violations(&below, &["INTERRUPTED", "check_interrupted"]);
    assert!(bad.is_empty(), "pass the stop signal down instead:\n{}", bad.join("\n"));
}

#[test]
fn no_source_file_over_800_lines_without_its_tests() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Count every line (comments included) up to the test module.
        let n = text.lines().take_while(|l| l.trim() != "#[cfg(test)]").count();
        if n > MAX_LINES {
            bad.push(format!("{}: {n} lines", f.strip_prefix(src()).unwrap().display()));
        }
    }
    assert!(bad.is_empty(), "split these files (one concept per file):\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_what_it_must() {
    let text = "use std::fs;\n// use tokio;\nfn f() { let _ = Instant::now(); } // quinn\n#[cfg(test)]\nmod tests {\n    use std::fs;\n}\nfn g() {}\n";
    let lines: Vec<String> = code_lines(text).into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, ["use std::fs;", "fn f() { let _ = Instant::now(); }", "fn g() {}"]);
}
