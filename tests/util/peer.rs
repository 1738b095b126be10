//! Scripted peers for attack tests: the real engine roles over an in-memory link, the hostile
//! side a script that speaks the protocol (and changes the file system between two messages,
//! so each race is hit every time, not by luck).

use std::path::Path;
use std::time::Duration;

use pcp::chunk::ChunkParams;
use pcp::engine::destination::{DestConfig, Outcome};
use pcp::engine::source::{self, SourceConfig};
use pcp::engine::Link;
use pcp::filter::Filter;
use pcp::path::SafeRelPath;
use pcp::proto::{Entry, Flags, Hello, Kind, Message};
use pcp::report::{Reporter, Stats, Verbosity};
use pcp::scan::{ScanOptions, SourceSpec};

/// The destination role's thread.
pub type DestJoin = std::thread::JoinHandle<anyhow::Result<Outcome>>;

/// A reporter that prints nothing.
pub fn quiet() -> Reporter {
    Reporter::new(Verbosity { quiet: true, ..Verbosity::default() })
}

/// The next message from the role, or a panic after 30 s.
pub fn recv(l: &Link) -> Message {
    l.rx.recv_timeout(Duration::from_secs(30)).expect("the role went silent")
}

/// Start the real source role on `root/` and play the destination's opening: Hello, then the
/// whole file list. Returns the link, the entries and the role's thread.
pub fn start_source(root: &Path) -> (Link, Vec<Entry>, std::thread::JoinHandle<anyhow::Result<u64>>) {
    let cfg = SourceConfig {
        specs: vec![SourceSpec::local(root.to_path_buf(), true)],
        scan: ScanOptions { recursive: true, links: true, one_file_system: false, prune_empty_dirs: false },
        filter: Filter::none(),
        params: ChunkParams::DEFAULT,
        compress: false,
        manifest: None,
        flags: Flags(Flags::LINKS),
        max_delete: 0,
        bwlimit: None,
    };
    let (src_end, dst_end) = pcp::engine::local_pair(64);
    let h = std::thread::spawn(move || source::run(cfg, src_end, &quiet(), &Stats::default()));
    let Message::Hello(h0) = recv(&dst_end) else { panic!("no Hello") };
    dst_end
        .tx
        .send(Message::Hello(Hello { version: h0.version, params: h0.params, flags: h0.flags, max_delete: 0 }))
        .unwrap();
    let mut entries = Vec::new();
    loop {
        match recv(&dst_end) {
            Message::FileList { entries: e, .. } => entries.extend(e),
            Message::FileListEnd { .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    (dst_end, entries, h)
}

/// The id of the listed entry `name`.
pub fn id_of(entries: &[Entry], name: &str) -> u32 {
    entries.iter().position(|e| e.path.as_str() == name).expect("entry listed") as u32
}

/// A destination configuration for a scripted run into `root`.
pub fn dest_cfg(root: &Path, flags: u64) -> DestConfig {
    DestConfig::scratch(root.to_path_buf(), Flags(flags))
}

/// Start the real destination role; returns the hostile source's end of the link.
pub fn start_dest(cfg: DestConfig) -> (Link, DestJoin) {
    let (src_end, dst_end) = pcp::engine::local_pair(64);
    let h = std::thread::spawn(move || pcp::engine::destination::run(&cfg, dst_end, &quiet(), &Stats::default()));
    src_end
        .tx
        .send(Message::Hello(Hello {
            version: pcp::proto::message::VERSION,
            params: ChunkParams::DEFAULT,
            flags: Flags(0),
            max_delete: 0,
        }))
        .unwrap();
    assert!(matches!(recv(&src_end), Message::Hello(_)));
    (src_end, h)
}

/// A file-list entry (`.` for the root) with a fixed mtime.
pub fn entry(path: &str, kind: Kind, mode: u32) -> Entry {
    let path = if path == "." { SafeRelPath::root() } else { SafeRelPath::new(path).unwrap() };
    Entry { path, kind, mode, mtime: 1_600_000_000, mtime_ns: 0 }
}
