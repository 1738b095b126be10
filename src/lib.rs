//! pcp — peer copy: rsync semantics, scp ease, end-to-end encrypted peer-to-peer sync.
//!
//! # Layers (each imports only the ones below it; tests/layering.rs checks the rules)
//!
//! ```text
//! main → lib::run → cli (clap types only) → cmd::<command> (builds config::Options, calls
//!                                                            session or engine, one exit code)
//!   config    Options: flags (then env, config file) resolved once; the factory of
//!             SourceConfig / DestConfig; XDG paths
//!   location  SRC/DEST parsing and `naming`, the one rsync naming rule (local, dialer, listener)
//!   session   what two authenticated peers do: accept (the one accept loop, serve and send),
//!             policy (what each PeerId may reach), serve (request → role), dial (push, pull,
//!             list, receive), driver (one engine role over a net::conn::Conn)
//!   net       reaching a peer, nothing else: endpoint (quinn, TLS, congestion), connect (how a
//!             dialer finds a listener), handshake (PAKE → Noise, resume), listen (bind, code,
//!             resume tickets), conn (the blocking face), transport (Link over QUIC streams),
//!             mdns (LAN discovery: a listener answers for its code's channel word and its
//!             pairings' daily tokens; a dialer with no address asks). The only module that
//!             names quinn or tokio.
//!   engine    the drivers of the two roles' state machines (proto::transfer): source (scan,
//!             chunk, send) and destination (plan, assemble from local data, install); file IO
//!             through fsio; stops on the signal its config carries
//!   fsio      every disk write and every read a peer can steer, through directory fds with
//!             O_NOFOLLOW: DestRoot, SourceRoot, served (a served directory's lookups and
//!             mkdirs), keyfile (the identity file), trust (symlinks someone else planted)
//!   manifest  the only SQL: stat + chunk lists per root, a cache re-verified by BLAKE3
//!   scan, filter, report (the only printing), error (kinds → exit codes), tty
//! pure core — no IO, clock or randomness; bytes and events in, values out; fuzzed:
//!   proto     messages, framing, caps, the session codec (proto::session), and the per-role
//!             transfer state machines (proto::transfer: message order, the accepted offer,
//!             what may be asked for, windows, end checks; `handle(msg) -> event`)
//!   plan      what to do with each entry (quick check, itemize, the accepted offer)
//!   chunk     fastcdc cut points and BLAKE3 hashes
//!   auth      codes, SPAKE2, Noise, typed keys and PeerId (randomness is passed in)
//!   path, meta   SafeRelPath; Stat / FType / Meta
//! ```
//!
//! # Data flow of a transfer
//!
//! ```text
//!   source role (engine::source): scan + filter → FileList batches; for files the destination
//!       needs: chunk (fastcdc + BLAKE3, streamed; cached in the source manifest) → ChunkList
//!       batches + FileSum; Want → chunk data (zstd where it pays)
//!   destination role (engine::destination): per entry, lstat → plan::decide (quick check,
//!       itemize; pure) → apply through fsio; Need for files that differ, a window at a time;
//!       each chunk from the old file, then any file the manifest indexes, verified by BLAKE3,
//!       else Want; Data verified by BLAKE3; fsio temp file → file-hash check → (a batch at a
//!       time) syncfs → rename; deletions and dir metadata last
//!   the roles exchange proto::Message over an engine::Link: in memory for local syncs
//!   (cmd::sync::run_local), over QUIC for network ones (session::driver + net::transport)
//! ```
//!
//! # Where the next features land
//!
//! - **Pairing** (pinned keys, named peers): `auth` derives and types the keys; `fsio::keyfile`
//!   stores the identity and the peer records; `net::handshake` gains `DialAuth::Paired`;
//!   `session::policy` looks a `PeerId` up to grant its roots.
//! - **A serve daemon with per-peer roots**: `session::accept` in daemon mode (already stops on
//!   the signal it is given); `session::policy` from the config file (`config`).
//! - **mDNS, a rendezvous client, hole punching, relay**: new files under `net/` (`mdns`,
//!   `rendezvous`, `punch`, `relay`) behind `net::connect` — the dialer's face stays
//!   `Dialer::connect → Conn`, the listener's `Listener::arrival`; `pcp rendezvous` is a new
//!   `cmd/` file over them.
//! - **rsync flags**: `cli` parses them, `config::Options` resolves them, `proto::Flags` and
//!   `plan` carry their meaning to both roles.

pub mod auth;
pub mod chan;
pub mod chmod;
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
pub mod meta;
pub mod net;
pub mod path;
pub mod plan;
pub mod proto;
pub mod report;
pub mod scan;
pub mod session;
pub mod tty;

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`). Each must never panic.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// Decode one frame body as a message; re-encode what decodes and check it round-trips.
    pub fn decode_message(data: &[u8]) {
        if let Ok(m) = crate::proto::Message::decode(data) {
            let f = m.encode();
            assert_eq!(crate::proto::Message::decode(&f[4..]).ok(), Some(m));
        }
    }

    /// Split a byte stream into frames and decode each.
    pub fn frames(mut data: &[u8]) {
        while let Ok(Some(n)) = crate::proto::frame::check(data) {
            let _ = crate::proto::Message::decode(&data[4..n]);
            data = &data[n..];
        }
    }

    /// Parse a path; whatever parses must be canonical and stay relative.
    pub fn safe_rel_path(data: &[u8]) {
        if let Ok(p) = crate::path::SafeRelPath::from_bytes(data) {
            let s = p.as_str();
            assert!(!s.starts_with('/') && !s.split('/').any(|c| c == ".." || c == "."));
        }
    }

    /// Decode a session frame body (what a peer sends on stream 0 after the handshake) as a
    /// request and as a response; re-encode what decodes and check it round-trips.
    pub fn session(data: &[u8]) {
        use crate::proto::session::{Request, Response};
        if let Ok(r) = Request::decode(data) {
            let f = r.encode();
            assert_eq!(u32::from_le_bytes([f[0], f[1], f[2], f[3]]) as usize, f.len() - 4);
            assert_eq!(Request::decode(&f[4..]).ok(), Some(r));
        }
        if let Ok(r) = Response::decode(data) {
            let f = r.encode();
            assert_eq!(u32::from_le_bytes([f[0], f[1], f[2], f[3]]) as usize, f.len() - 4);
            assert_eq!(Response::decode(&f[4..]).ok(), Some(r));
        }
    }

    /// Split fuzz input into messages: frames (length-prefixed, as on the wire) that decode.
    fn messages(mut data: &[u8]) -> Vec<crate::proto::Message> {
        let mut out = Vec::new();
        while let Ok(Some(n)) = crate::proto::frame::check(data) {
            if let Ok(m) = crate::proto::Message::decode(&data[4..n]) {
                out.push(m);
            }
            data = &data[n..];
            if out.len() >= 256 {
                break;
            }
        }
        out
    }

    fn quiet() -> crate::report::Reporter {
        crate::report::Reporter::new(crate::report::Verbosity { quiet: true, ..Default::default() })
    }

    fn hello() -> crate::proto::Message {
        crate::proto::Message::Hello(crate::proto::Hello {
            version: crate::proto::message::VERSION,
            params: crate::chunk::ChunkParams::DEFAULT,
            flags: crate::proto::Flags(crate::proto::Flags::PERMS | crate::proto::Flags::TIMES),
            max_delete: 0,
        })
    }

    /// The destination role driven by an arbitrary message sequence from a source (after a
    /// valid Hello), on a fresh directory: it must never panic or hang, and never write
    /// outside its root.
    pub fn destination(data: &[u8]) {
        let Ok(parent) = tempfile_dir() else { return };
        let root = parent.join("root");
        let flags = crate::proto::Flags(crate::proto::Flags::PERMS | crate::proto::Flags::TIMES);
        let cfg = crate::engine::destination::DestConfig::scratch(root.clone(), flags);
        let (src, dst) = crate::engine::local_pair(64);
        let role = std::thread::spawn(move || {
            let _ = crate::engine::destination::run(&cfg, dst, &quiet(), &crate::report::Stats::default());
        });
        let _ = src.tx.send(hello());
        for m in messages(data) {
            if src.tx.send(m).is_err() {
                break;
            }
            while src.rx.try_recv().is_ok() {}
        }
        drop(src.tx);
        let _ = role.join();
        let others = std::fs::read_dir(&parent).map(|d| d.count()).unwrap_or(0);
        let _ = std::fs::remove_dir_all(&parent);
        assert!(others <= 1, "something was written outside the destination root");
    }

    /// The source role over a small fixed tree, driven by an arbitrary message sequence from
    /// a destination (after a valid Hello): it must never panic or hang.
    pub fn source(data: &[u8]) {
        static TREE: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
        let Some(tree) = TREE.get_or_init(|| {
            let d = tempfile_dir().ok()?;
            std::fs::create_dir_all(d.join("sub")).ok()?;
            std::fs::write(d.join("a"), b"hello").ok()?;
            std::fs::write(d.join("sub/big"), vec![7u8; 300_000]).ok()?;
            std::os::unix::fs::symlink("a", d.join("l")).ok()?;
            Some(d)
        }) else {
            return;
        };
        let cfg = crate::engine::source::SourceConfig {
            specs: vec![crate::scan::SourceSpec::local(tree.clone(), true)],
            scan: crate::scan::ScanOptions {
                recursive: true,
                links: true,
                one_file_system: false,
                prune_empty_dirs: false,
            },
            filter: crate::filter::Filter::none(),
            params: crate::chunk::ChunkParams::DEFAULT,
            compress: false,
            manifest: None,
            flags: crate::proto::Flags(0),
            max_delete: 0,
            bwlimit: None,
        };
        let (src, dst) = crate::engine::local_pair(64);
        let role = std::thread::spawn(move || {
            let _ = crate::engine::source::run(cfg, src, &quiet(), &crate::report::Stats::default());
        });
        let (tx, rx) = (dst.tx, dst.rx);
        let drain = std::thread::spawn(move || while rx.recv().is_ok() {});
        let _ = tx.send(hello());
        for m in messages(data) {
            if tx.send(m).is_err() {
                break;
            }
        }
        let _ = tx.send(crate::proto::Message::Done);
        drop(tx);
        let _ = role.join();
        let _ = drain.join();
    }

    /// The destination's protocol state machine alone (no files), driven by an arbitrary
    /// message sequence after a valid Hello, with a simulated driver (entries queued, the
    /// window pumped, chunks found locally or asked for, some files failing): it must never
    /// panic, and its state stays within the windows' bounds after every message.
    pub fn transfer_dest(data: &[u8]) {
        use crate::proto::transfer::{DestEvent as Ev, DestState};
        use crate::proto::Kind;
        fn pump(st: &mut DestState) {
            while let Some(q) = st.pop_next() {
                let inline = q.id % 2 == 0;
                st.ask(q, inline);
            }
        }
        let mut st: DestState = DestState::new(None);
        for m in std::iter::once(hello()).chain(messages(data)) {
            let Ok(ev) = st.handle(m) else { break };
            match ev {
                Ev::Entries(mut batch) => {
                    while let Some(next) = st.next_entry(&mut batch) {
                        let Ok((id, e)) = next else { return };
                        if matches!(e.kind, Kind::File { .. }) && id % 5 != 4 {
                            st.queue(id, e, ());
                        }
                    }
                    pump(&mut st);
                }
                Ev::Chunks { file, start, inline } => {
                    let n = st.file(file).map_or(0, |f| f.chunks().len());
                    if file % 7 == 3 {
                        st.fail(file);
                    } else if !inline {
                        for i in start..n {
                            if i % 3 == 1 {
                                st.fill(file, i, crate::chunk::ChunkHash([0; 32]));
                            } else {
                                st.want(file, i);
                            }
                        }
                    }
                }
                Ev::Chunk { file, complete, .. } => {
                    if complete {
                        assert!(st.release(file).is_some_and(|f| f.is_complete()));
                        pump(&mut st);
                    }
                }
                Ev::Complete { file } => {
                    assert!(st.release(file).is_some_and(|f| f.is_complete()));
                    pump(&mut st);
                }
                Ev::ListEnd | Ev::Released { .. } | Ev::Unreadable { .. } | Ev::Rejected { .. } => pump(&mut st),
                Ev::PeerDone => break,
                Ev::Nothing | Ev::Hello(_) => {}
            }
            if let Err(e) = st.check_bounds() {
                panic!("destination state out of bounds: {e}");
            }
            if st.is_finished() {
                st.finishing();
            }
        }
    }

    /// The source's protocol state machine alone (no files), driven by an arbitrary message
    /// sequence after a valid Hello, over a simulated listing (the first input byte sets the
    /// number of entries; needed files get chunk lists; some reads fail and withdraw the file):
    /// it must never panic, and its state stays bounded by what was listed.
    pub fn transfer_source(data: &[u8]) {
        use crate::proto::transfer::{Listing, SourceEvent as Ev, SourceState};
        struct Fake {
            n: u32,
            needed: std::collections::HashSet<u32>,
        }
        impl Listing for Fake {
            fn entry(&self, id: u32) -> Option<bool> {
                (id < self.n).then_some(id % 3 != 1)
            }
            fn chunks(&self, file: u32) -> Option<usize> {
                self.needed.contains(&file).then_some(file as usize % 50)
            }
            fn listed(&self) -> u32 {
                self.n
            }
        }
        let Some((&n, rest)) = data.split_first() else { return };
        let mut fake = Fake { n: u32::from(n), needed: std::collections::HashSet::new() };
        let mut st = SourceState::new();
        for m in std::iter::once(hello()).chain(messages(rest)) {
            let Ok(ev) = st.handle(m, &fake) else { break };
            match ev {
                Ev::Need { files, .. } => {
                    for f in files {
                        assert!(fake.entry(f) == Some(true), "need for a file that is not listed");
                        fake.needed.insert(f);
                    }
                }
                Ev::Summary { .. } | Ev::Change { .. } => {}
                Ev::Want { file, ranges } => {
                    let listed = fake.chunks(file).unwrap_or(0) as u64;
                    for (s, c) in ranges {
                        assert!(u64::from(s) + u64::from(c) <= listed, "want for chunks not listed");
                        if (u64::from(s) + u64::from(c)) % 13 == 12 {
                            st.withdraw(file);
                        }
                    }
                }
                Ev::Progress { done } => {
                    assert!(done <= fake.n, "progress past what was listed");
                    fake.needed.retain(|&f| f >= done);
                }
                Ev::Done => break,
                Ev::Nothing | Ev::Hello => {}
            }
            if let Err(e) = st.check_bounds() {
                panic!("source state out of bounds: {e}");
            }
            assert!(st.state_size() <= 3 * fake.n as usize, "source state grew past the listing");
        }
    }

    /// A fresh private directory for one run (under /dev/shm when it exists: fast).
    fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = base.join(format!("pcp-fuzz-{}-{n}", std::process::id()));
        std::fs::create_dir(&d)?;
        Ok(d)
    }

    /// Parse a pairing code.
    pub fn code(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = crate::auth::Code::parse(s);
        }
    }

    /// Parse an mDNS packet as a query and as an answer (net::mdns: a LAN peer is hostile).
    pub fn mdns(data: &[u8]) {
        let _ = crate::net::mdns::parse_query(data);
        let _ = crate::net::mdns::parse_answer(data, "c-abandon");
    }

    /// Decode a rendezvous message (what decodes re-encodes to the same bytes) and feed it to
    /// the server's core (net::rendezvous: a peer or a flood is hostile).
    pub fn rendezvous(data: &[u8]) {
        use crate::net::rendezvous::{messages, server};
        if let Ok(m) = messages::decode(data) {
            assert_eq!(messages::encode(&m), data);
        }
        let mut s = server::Server::new(server::Limits::default(), Box::new(|| 7));
        let now = std::time::Instant::now();
        let from = std::net::SocketAddr::from(([192, 0, 2, 1], 4000));
        let (out, _) = s.handle(now, from, data);
        for (_, b) in out {
            assert!(messages::decode(&b).is_ok());
        }
    }
}

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
    ("-L", "--copy-links is not supported; links are copied as links"),
    ("--copy-links", "--copy-links is not supported; links are copied as links"),
    ("-S", "--sparse is not supported"),
    ("--sparse", "--sparse is not supported"),
    // Not there yet (issue 14): named, with the nearest thing pcp does, never a clap guess.
    ("--link-dest", "not supported yet; pcp reuses any chunk its destination manifest indexes"),
    ("--compare-dest", "not supported yet"),
    ("--copy-dest", "not supported yet; pcp reuses any chunk its destination manifest indexes"),
    ("--partial-dir", "pcp keeps partial data as chunks in its manifest and resumes by itself"),
    ("--delay-updates", "not supported yet; pcp renames each file into place once it is complete"),
    ("--remove-source-files", "not supported yet"),
    ("--chown", "pcp does not copy owners"),
    ("--numeric-ids", "pcp does not copy owners or groups"),
    ("-k", "--copy-dirlinks is not supported; links are copied as links"),
    ("--copy-dirlinks", "--copy-dirlinks is not supported; links are copied as links"),
    ("-K", "--keep-dirlinks is not supported"),
    ("--keep-dirlinks", "--keep-dirlinks is not supported"),
    ("--copy-unsafe-links", "not supported; pcp receive drops links that leave the tree"),
    ("--out-format", "not supported yet; use -i (itemized) or --json"),
    ("--log-file", "not supported yet; use --json and redirect stdout"),
    ("--list-only", "use pcp ls PEER:PATH"),
    ("-R", "--relative is not supported yet"),
    ("--relative", "--relative is not supported yet"),
    ("--files-from", "not supported yet; give the paths as arguments, or use --include/--exclude"),
    ("-0", "--from0 goes with --files-from, which is not supported yet"),
    ("--from0", "--from0 goes with --files-from, which is not supported yet"),
    ("-F", "per-directory .rsync-filter files are not supported; pcp reads .gitignore-style --exclude-from"),
];

/// The options of subcommand `name` that take a value (so the next argument is a value, not
/// options: `-f '- *.x'`), as `-c` and `--long`.
fn value_options(name: &str) -> Vec<String> {
    use clap::CommandFactory;
    let cmd = cli::Cli::command();
    let Some(sub) = cmd.get_subcommands().find(|c| c.get_name() == name) else { return Vec::new() };
    let mut out = Vec::new();
    for a in sub.get_arguments().filter(|a| a.get_action().takes_values() && !a.is_positional()) {
        out.extend(a.get_short().map(|c| format!("-{c}")));
        out.extend(a.get_long().map(|l| format!("--{l}")));
    }
    out
}

/// Name an rsync flag that pcp rejects, before clap sees argv.
fn unsupported_flag(args: &[OsString]) -> Option<String> {
    let cmd = args.get(1).and_then(|a| a.to_str()).filter(|c| *c == "sync" || *c == "cp")?;
    let takes_value = value_options(cmd);
    let mut skip_value = false;
    for a in args.iter().skip(2) {
        let Some(s) = a.to_str() else { continue };
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if s == "--" {
            break;
        }
        // `--opt VALUE` and a bundle ending in a value option (`-avf RULE`): skip the value.
        if takes_value.iter().any(|o| o == s)
            || (s.starts_with('-') && !s.starts_with("--") && s.len() > 2 && {
                let last = format!("-{}", s.chars().last().unwrap_or('-'));
                takes_value.contains(&last)
            })
        {
            skip_value = !s.contains('=');
        }
        let name = s.split('=').next().unwrap_or(s);
        if let Some((f, why)) = UNSUPPORTED.iter().find(|(f, _)| *f == name) {
            return Some(format!("rsync option {f} is not supported by pcp: {why}"));
        }
        if s.starts_with('-') && !s.starts_with("--") {
            for c in s.chars().skip(1) {
                // A value option inside a bundle: the rest of the bundle is its value.
                if takes_value.contains(&format!("-{c}")) {
                    break;
                }
                let short = format!("-{c}");
                if let Some((f, why)) = UNSUPPORTED.iter().find(|(f, _)| *f == short) {
                    return Some(format!("rsync option {f} (in {s}) is not supported by pcp: {why}"));
                }
            }
        }
    }
    None
}

/// SIGINT/SIGTERM end the process with exit code 20. Partial data is already safe: temp files
/// are never under a final name, and received chunks are recorded in the manifest at least every
/// half second, so a rerun resumes.
fn install_signal_handler() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                if tty::restore() {
                    // Interrupted at the code prompt: echo is back on, and nothing has started
                    // that could record progress, so exit at once.
                    eprintln!();
                    eprintln!("pcp: interrupted");
                    std::process::exit(i32::from(error::Kind::Interrupted.code()));
                }
                // Ask the transfer to stop cleanly (it records what it has, and a network
                // transfer closes its connection); force the exit just under a second later.
                INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(900));
                eprintln!("pcp: interrupted; rerun the same command to resume");
                std::process::exit(i32::from(error::Kind::Interrupted.code()));
            }
        });
    }
}

/// Set by SIGINT/SIGTERM. Read only where commands are set up (`cmd`, `config`), which pass it
/// down as the stop signal; long-running loops stop with `Kind::Interrupted` when it is set.
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Run pcp with `args` (argv including the program name); returns the exit code. Prints errors.
pub fn run(mut args: Vec<OsString>) -> ExitCode {
    // rsync's rule: `-h` is --human-readable, and --help only when it is the only option.
    if args.len() == 3 && args[1] == "sync" && args[2] == "-h" {
        args[2] = "--help".into();
    }
    if let Some(msg) = unsupported_flag(&args) {
        eprintln!("pcp: {msg}");
        return ExitCode::from(error::Kind::Usage.code());
    }
    let mut cli = match cli::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { error::Kind::Usage.code() } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(o) = cli.command.output_mut() {
        o.fold_info();
    }
    install_signal_handler();
    let congestion = match &cli.command {
        cli::Command::Sync(a) => a.conn.link.congestion,
        cli::Command::Cp(a) => a.conn.link.congestion,
        cli::Command::Receive(a) => a.conn.link.congestion,
        cli::Command::Ls(a) => a.conn.link.congestion,
        cli::Command::Send(a) => a.link.congestion,
        cli::Command::Serve(a) => a.link.congestion,
        cli::Command::Completions { .. }
        | cli::Command::Peers(_)
        | cli::Command::Pair(_)
        | cli::Command::Rendezvous(_) => None,
    };
    net::endpoint::set_congestion(congestion.map(|c| match c {
        cli::Congestion::Bbr => net::endpoint::Congestion::Bbr,
        cli::Congestion::Cubic => net::endpoint::Congestion::Cubic,
    }));
    let res = match &cli.command {
        cli::Command::Sync(a) => cmd::sync::run(a),
        cli::Command::Cp(a) => cmd::cp::run(a),
        cli::Command::Send(a) => cmd::send::run(a),
        cli::Command::Receive(a) => cmd::receive::run(a),
        cli::Command::Serve(a) => cmd::serve::run(a),
        cli::Command::Ls(a) => cmd::ls::run(a),
        cli::Command::Peers(c) => cmd::peers::run(c),
        cli::Command::Pair(a) => cmd::pair::run(a),
        cli::Command::Rendezvous(a) => cmd::rendezvous::run(a),
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
            let msg = report::sanitize(&crate::error::chain_text("", &e));
            if args.iter().any(|a| a == "--json") {
                println!("{}", serde_json::json!({"event": "error", "message": msg, "exit_code": kind.code()}));
            }
            eprintln!("pcp: {msg}");
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
        // A value is not options: `-f '- *.x'` holds "-x" only as a rule's text.
        assert!(unsupported_flag(&a(&["pcp", "sync", "-f", "- *.x", "a", "b"])).is_none());
        assert!(unsupported_flag(&a(&["pcp", "sync", "-avf", "- *.x", "a", "b"])).is_none());
        assert!(unsupported_flag(&a(&["pcp", "sync", "--exclude", "-H", "a", "b"])).is_none());
        assert!(unsupported_flag(&a(&["pcp", "sync", "--link-dest=../old", "a", "b"]))
            .unwrap()
            .contains("--link-dest"));
        assert!(unsupported_flag(&a(&["pcp", "sync", "-avL", "a", "b"])).unwrap().contains("-L"));
        // No option pcp has is refused as an rsync option it lacks.
        use clap::CommandFactory;
        let cmd = cli::Cli::command();
        for sub in cmd.get_subcommands().filter(|c| ["sync", "cp"].contains(&c.get_name())) {
            for arg in sub.get_arguments() {
                let names = arg
                    .get_short()
                    .map(|c| format!("-{c}"))
                    .into_iter()
                    .chain(arg.get_long().map(|l| format!("--{l}")));
                for n in names {
                    assert!(!UNSUPPORTED.iter().any(|(f, _)| *f == n), "{n} is an option of pcp {}", sub.get_name());
                }
            }
        }
    }
}
