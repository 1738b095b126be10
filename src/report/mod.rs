//! The only place that prints. Commands and the engine call a `Reporter`; it renders itemized
//! lines, verbose names, warnings, progress (indicatif bars on a TTY, plain lines otherwise) and
//! `--json` events (one JSON object per line on stdout).

mod net;
pub use net::Connected;
pub mod sanitize;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use sanitize::sanitize;

/// How much to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verbosity {
    /// -v count.
    pub verbose: u8,
    /// -q.
    pub quiet: bool,
    /// -i.
    pub itemize: bool,
    /// --progress.
    pub progress: bool,
    /// --json.
    pub json: bool,
    /// -h count (rsync's --human-readable): 0 plain numbers, 1 powers of 1000, 2 of 1024.
    pub human: u8,
}

/// Counters of one transfer, shared by the threads of both roles.
#[derive(Debug, Default)]
pub struct Stats {
    /// Entries in the file list.
    pub files: AtomicU64,
    /// Regular files in the list.
    pub regular: AtomicU64,
    /// Directories in the list.
    pub dirs: AtomicU64,
    /// Symlinks in the list.
    pub links: AtomicU64,
    /// Entries created at the destination.
    pub created: AtomicU64,
    /// Entries deleted at the destination.
    pub deleted: AtomicU64,
    /// Regular files rewritten.
    pub transferred_files: AtomicU64,
    /// Sum of regular file sizes in the list.
    pub total_size: AtomicU64,
    /// Sum of sizes of the files rewritten.
    pub transferred_size: AtomicU64,
    /// File content read by the source side.
    pub source_read: AtomicU64,
    /// File content read by the destination side (seeds, basis).
    pub dest_read: AtomicU64,
    /// Chunks in rewritten files.
    pub chunks: AtomicU64,
    /// Chunks taken from data already at the destination.
    pub chunks_reused: AtomicU64,
    /// Bytes of those.
    pub bytes_reused: AtomicU64,
    /// Chunks sent by the source.
    pub chunks_sent: AtomicU64,
    /// Chunk bytes sent (uncompressed).
    pub bytes_sent: AtomicU64,
    /// Chunk bytes on the wire (after compression).
    pub bytes_wire: AtomicU64,
    /// Bytes written to temp files.
    pub bytes_written: AtomicU64,
    /// Per-file errors.
    pub errors: AtomicU64,
    /// The network path of the last connection (network transfers only).
    pub link: std::sync::Mutex<Option<LinkStats>>,
}

/// What the network path looked like (from QUIC's own counters): why a link is slow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkStats {
    /// Smoothed round-trip time, in milliseconds.
    pub rtt_ms: f64,
    /// UDP datagrams sent.
    pub sent_packets: u64,
    /// Packets declared lost (and sent again).
    pub lost_packets: u64,
    /// Bytes of those.
    pub lost_bytes: u64,
    /// Times the congestion controller backed off.
    pub congestion_events: u64,
    /// Largest datagram payload the path took (path MTU discovery).
    pub mtu: u16,
    /// The congestion controller.
    pub controller: &'static str,
}

/// Add to a counter.
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A byte count as rsync prints it: plain (`human` 0), or with -h in K/M/G/T of 1000 (of 1024
/// with -hh), two decimals (`1.07G`).
pub fn human_size(n: u64, human: u8) -> String {
    if human == 0 {
        return n.to_string();
    }
    let unit = if human >= 2 { 1024.0 } else { 1000.0 };
    let mut v = n as f64;
    let mut suffix = "";
    for s in ["K", "M", "G", "T", "P"] {
        if v < unit {
            break;
        }
        v /= unit;
        suffix = s;
    }
    if suffix.is_empty() {
        n.to_string()
    } else {
        format!("{v:.2}{suffix}")
    }
}

/// Renders events for one command.
pub struct Reporter {
    v: Verbosity,
    tty: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    last_line: Mutex<Instant>,
    out: Mutex<()>,
}

impl Reporter {
    /// A reporter with these settings.
    pub fn new(v: Verbosity) -> Self {
        Self {
            v,
            tty: std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
            last_line: Mutex::new(Instant::now()),
            out: Mutex::new(()),
        }
    }

    /// The settings.
    pub fn verbosity(&self) -> Verbosity {
        self.v
    }

    fn stdout_line(&self, line: &str) {
        let _g = self.out.lock();
        let bar = self.bar.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(b) => b.suspend(|| println_safe(line)),
            None => println_safe(line),
        }
    }

    /// Emit a JSON event (only with --json).
    pub fn json(&self, v: serde_json::Value) {
        if self.v.json {
            self.stdout_line(&v.to_string());
        }
    }

    /// An itemized change (`-i`), or the name with `-v`.
    pub fn change(&self, code: &str, name: &str) {
        if self.v.json {
            self.json(serde_json::json!({"event": "change", "item": code, "path": name}));
        } else if self.v.itemize {
            self.stdout_line(&format!("{code} {}", sanitize(name)));
        } else if self.v.verbose > 0 && !self.v.quiet && !code.starts_with('.') {
            if let Some(rest) = code.strip_prefix("*") {
                self.stdout_line(&format!("{} {}", rest.trim(), sanitize(name)));
            } else {
                self.stdout_line(&sanitize(name));
            }
        }
    }

    /// A warning (always shown unless -q): stderr.
    pub fn warn(&self, msg: &str) {
        // Messages carry names and error texts from disk and from the peer (T8).
        let msg = &sanitize::sanitize(msg);
        if self.v.json {
            self.json(serde_json::json!({"event": "warning", "message": msg}));
        } else if !self.v.quiet {
            let bar = self.bar.lock().ok().and_then(|b| b.clone());
            let line = format!("pcp: {msg}");
            match bar {
                Some(b) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
    }

    /// A plain informational line on stderr (shown unless -q).
    pub fn info(&self, msg: &str) {
        if !self.v.quiet && !self.v.json {
            eprintln!("{}", sanitize::sanitize(msg));
        }
    }

    /// Start progress for `total` bytes (0 if unknown).
    pub fn progress_start(&self, total: u64) {
        if !self.v.progress || self.v.quiet {
            return;
        }
        if self.tty && !self.v.json {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            if let Ok(mut g) = self.bar.lock() {
                *g = Some(b);
            }
        }
    }

    /// Grow the progress total.
    pub fn progress_total(&self, total: u64) {
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.set_length(total);
            }
        }
    }

    /// Report progress: `done` of `total` bytes.
    pub fn progress(&self, done: u64, total: u64, start: Instant) {
        if !self.v.progress || self.v.quiet {
            return;
        }
        if let Ok(g) = self.bar.lock() {
            if let Some(b) = g.as_ref() {
                b.set_length(total.max(done));
                b.set_position(done);
                return;
            }
        }
        // No TTY: a plain line at most every second.
        let now = Instant::now();
        if let Ok(mut last) = self.last_line.lock() {
            if now.duration_since(*last) < Duration::from_secs(1) {
                return;
            }
            *last = now;
        }
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        if self.v.json {
            self.json(serde_json::json!({"event": "progress", "bytes": done, "total": total, "rate": rate as u64}));
        } else {
            let eta = if rate > 0.0 && total > done { (total - done) as f64 / rate } else { 0.0 };
            eprintln!("{} / {} ({}/s, ETA {:.0}s)", human(done), human(total), human(rate as u64), eta);
        }
    }

    /// Finish the progress bar (or, without a terminal, print a final line saying how many
    /// bytes were `verb`: "sent" or "received").
    pub fn progress_done(&self, done: u64, start: Instant, verb: &str) {
        if let Ok(mut g) = self.bar.lock() {
            if let Some(b) = g.take() {
                b.finish_and_clear();
                return;
            }
        }
        if self.v.progress && !self.v.quiet && !self.v.json {
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            eprintln!("{} {verb} in {:.1}s ({}/s)", human(done), secs, human((done as f64 / secs) as u64));
        }
    }

    /// Print `--stats` (stdout), or the summary event with --json.
    pub fn stats(&self, s: &Stats, elapsed: Duration, show: bool) {
        let j = serde_json::json!({
            "event": "summary",
            "files": get(&s.files), "regular": get(&s.regular), "dirs": get(&s.dirs), "links": get(&s.links),
            "created": get(&s.created), "deleted": get(&s.deleted),
            "files_transferred": get(&s.transferred_files),
            "total_size": get(&s.total_size), "transferred_size": get(&s.transferred_size),
            "source_read": get(&s.source_read), "dest_read": get(&s.dest_read),
            "chunks": get(&s.chunks), "chunks_reused": get(&s.chunks_reused), "bytes_reused": get(&s.bytes_reused),
            "chunks_sent": get(&s.chunks_sent), "bytes_sent": get(&s.bytes_sent), "bytes_wire": get(&s.bytes_wire),
            "bytes_written": get(&s.bytes_written), "errors": get(&s.errors),
            "seconds": elapsed.as_secs_f64(),
        });
        let link = s.link.lock().ok().and_then(|l| *l);
        let mut j = j;
        if let (Some(l), Some(o)) = (link, j.as_object_mut()) {
            o.insert(
                "link".into(),
                serde_json::json!({
                    "rtt_ms": l.rtt_ms, "sent_packets": l.sent_packets, "lost_packets": l.lost_packets,
                    "lost_bytes": l.lost_bytes, "congestion_events": l.congestion_events, "mtu": l.mtu,
                    "congestion_controller": l.controller,
                }),
            );
        }
        if self.v.json {
            self.json(j);
            return;
        }
        if !show {
            return;
        }
        let human = self.v.human;
        let b = |c: &AtomicU64| human_size(get(c), human);
        let lines = [
            format!(
                "Number of files: {} (reg: {}, dir: {}, link: {})",
                get(&s.files),
                get(&s.regular),
                get(&s.dirs),
                get(&s.links)
            ),
            format!("Number of created files: {}", get(&s.created)),
            format!("Number of deleted files: {}", get(&s.deleted)),
            format!("Number of regular files transferred: {}", get(&s.transferred_files)),
            format!("Total file size: {} bytes", b(&s.total_size)),
            format!("Total transferred file size: {} bytes", b(&s.transferred_size)),
            format!("File content read: {} bytes (source), {} bytes (destination)", b(&s.source_read), b(&s.dest_read)),
            format!(
                "Chunks: {} in changed files, {} reused locally ({} bytes), {} transferred",
                get(&s.chunks),
                get(&s.chunks_reused),
                b(&s.bytes_reused),
                get(&s.chunks_sent)
            ),
            format!("Literal data: {} bytes ({} bytes on the wire)", b(&s.bytes_sent), b(&s.bytes_wire)),
            format!("Matched data: {} bytes", b(&s.bytes_reused)),
            format!("Bytes written: {} bytes", b(&s.bytes_written)),
            format!("Elapsed: {:.3} s", elapsed.as_secs_f64()),
        ];
        let mut lines = lines.to_vec();
        if let Some(l) = link {
            lines.push(format!(
                "Network: RTT {:.1} ms, {} packets sent, {} lost ({} bytes), {} congestion events, MTU {}, {} congestion control",
                l.rtt_ms, l.sent_packets, l.lost_packets, l.lost_bytes, l.congestion_events, l.mtu, l.controller
            ));
        }
        let _g = self.out.lock();
        for l in lines {
            println_safe(&l);
        }
    }
}

/// println that ignores a closed stdout (e.g. `| head`).
fn println_safe(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
}

/// Human-readable bytes.
pub fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

#[cfg(test)]
mod human_tests {
    #[test]
    fn sizes_as_rsync_h_prints_them() {
        use super::human_size;
        assert_eq!(human_size(1_073_741_824, 0), "1073741824");
        assert_eq!(human_size(1_073_741_824, 1), "1.07G");
        assert_eq!(human_size(1_073_741_824, 2), "1.00G");
        assert_eq!(human_size(999, 1), "999");
        assert_eq!(human_size(1_500, 1), "1.50K");
    }
}
