//! pcp — peer copy: rsync semantics, scp ease, end-to-end encrypted peer-to-peer sync.
//!
//! # Module map and data flow
//!
//! ```text
//! argv → cli::Cli → cmd::<command>::run (options resolved once: filter, paths, flags)
//!   source role (engine::source): scan + filter → FileList batches; for files the destination
//!       needs: chunk (fastcdc + BLAKE3, streamed; cached in the source manifest) → ChunkList
//!       batches + FileSum; Want → chunk data (zstd where it pays)
//!   destination role (engine::destination): quick check (size + mtime) per entry → Need for
//!       files that differ, a window at a time; each chunk from the old file, then any file the
//!       manifest indexes, verified by BLAKE3, else Want; Data verified by BLAKE3;
//!       fsio temp file → file-hash check → fsync → rename; deletions and dir metadata last
//!   the roles exchange proto::Message over an engine::Link: in memory for local syncs
//!   report: the only printing (itemize, -v, progress, --json, --stats)
//!   error::Kind → exit code (docs/cli.md)
//! ```
//!
//! The pure core — `chunk` (cut points and hashes), `proto` (messages, framing, caps),
//! `fsio::path` (`SafeRelPath`) — touches no sockets, clock or randomness, and is fuzzed.

pub mod auth;
pub mod chunk;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod engine;
pub mod error;
pub mod filter;
pub mod fsio;
pub mod location;
pub mod manifest;
pub mod net;
pub mod proto;
pub mod report;
pub mod scan;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// rsync options pcp deliberately does not support, with what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("-H", "hard links are copied as separate files"),
    ("--hard-links", "hard links are copied as separate files"),
    ("-o", "pcp does not copy owners"),
    ("--owner", "pcp does not copy owners"),
    ("-g", "pcp does not copy groups"),
    ("--group", "pcp does not copy groups"),
    ("-D", "pcp never creates devices or special files"),
    ("--devices", "pcp never creates devices or special files"),
    ("--specials", "pcp never creates devices or special files"),
    ("-A", "ACLs are not copied"),
    ("--acls", "ACLs are not copied"),
    ("-X", "extended attributes are not copied"),
    ("--xattrs", "extended attributes are not copied"),
    ("-e", "pcp needs no remote shell: use PEER:PATH"),
    ("--rsh", "pcp needs no remote shell: use PEER:PATH"),
    ("--inplace", "pcp always writes a temp file and renames it"),
    ("--append", "pcp resumes by chunks automatically"),
    ("--append-verify", "pcp resumes by chunks automatically"),
    ("-u", "--update is not supported"),
    ("--update", "--update is not supported"),
    ("-x", "--one-file-system is not supported"),
    ("--one-file-system", "--one-file-system is not supported"),
    ("-L", "--copy-links is not supported; links are copied as links"),
    ("--copy-links", "--copy-links is not supported; links are copied as links"),
    ("-b", "--backup is not supported"),
    ("--backup", "--backup is not supported"),
    ("-S", "--sparse is not supported"),
    ("--sparse", "--sparse is not supported"),
    ("--delete-excluded", "--delete-excluded is not supported"),
    ("-W", "--whole-file is not supported: chunks make it unnecessary"),
    ("--whole-file", "--whole-file is not supported: chunks make it unnecessary"),
];

/// Name an rsync flag that pcp rejects, before clap sees argv.
fn unsupported_flag(args: &[OsString]) -> Option<String> {
    let sync_like = args.get(1).and_then(|a| a.to_str()).is_some_and(|c| c == "sync" || c == "cp");
    if !sync_like {
        return None;
    }
    for a in args.iter().skip(2) {
        let Some(s) = a.to_str() else { continue };
        if s == "--" {
            break;
        }
        let name = s.split('=').next().unwrap_or(s);
        if let Some((f, why)) = UNSUPPORTED.iter().find(|(f, _)| *f == name) {
            return Some(format!("rsync option {f} is not supported by pcp: {why}"));
        }
        if s.starts_with('-') && !s.starts_with("--") {
            for c in s.chars().skip(1) {
                let short = format!("-{c}");
                if let Some((f, why)) = UNSUPPORTED.iter().find(|(f, _)| *f == short) {
                    return Some(format!("rsync option {f} (in {s}) is not supported by pcp: {why}"));
                }
            }
        }
    }
    None
}

/// Run pcp with `args` (argv including the program name); returns the exit code. Prints errors.
pub fn run(args: Vec<OsString>) -> ExitCode {
    if let Some(msg) = unsupported_flag(&args) {
        eprintln!("pcp: {msg}");
        return ExitCode::from(error::Kind::Usage.code());
    }
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { error::Kind::Usage.code() } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let res = match &cli.command {
        cli::Command::Sync(a) => cmd::sync::run(a),
        cli::Command::Cp(a) => cmd::cp::run(a),
        cli::Command::Send(a) => cmd::send::run(a),
        cli::Command::Receive(a) => cmd::receive::run(a),
        cli::Command::Serve(a) => cmd::serve::run(a),
        cli::Command::Ls(a) => cmd::ls::run(a),
        cli::Command::Completions { shell } => cmd::completions::run(*shell),
    };
    match res {
        Ok(cmd::Outcome::Ok) => ExitCode::SUCCESS,
        Ok(cmd::Outcome::Partial) => {
            eprintln!("pcp: some files were not transferred (see the messages above); exit code 23");
            ExitCode::from(error::Kind::Partial.code())
        }
        Err(e) if error::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let kind = error::kind_of(&e);
            eprintln!("pcp: {}", report::sanitize(&format!("{e:#}")));
            ExitCode::from(kind.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_flags_are_named() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(unsupported_flag(&a(&["pcp", "sync", "-aH", "a", "b"])).unwrap().contains("-H"));
        assert!(unsupported_flag(&a(&["pcp", "sync", "--inplace", "a", "b"])).unwrap().contains("--inplace"));
        assert!(unsupported_flag(&a(&["pcp", "sync", "-av", "a", "b"])).is_none());
    }
}
