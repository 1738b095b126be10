//! The two roles of a transfer, run as threads that exchange `proto::Message`s over a `Link`.
//! Each role is a driver around a pure protocol state machine (`proto::transfer`): the state
//! machine owns the protocol (message order, ids, windows, every check of what the peer
//! sends), the driver owns the IO (the `Link`, files, the manifest, the clock, reporting).
//! The source scans, chunks and serves chunk data; the destination plans (rsync's generator:
//! quick check, then chunk lists only for files that differ), assembles files from local data
//! first and asks only for missing chunks, and applies. A local sync joins the two with an
//! in-memory `Link`; a network sync carries the same messages over QUIC (net::driver), so every
//! sync feature has one code path.

pub mod destination;
pub mod source;

use crate::chan::{Receiver, Sender};

use crate::proto::Message;

/// One side's ends of a bidirectional message channel.
pub struct Link {
    /// Outgoing messages.
    pub tx: Sender<Message>,
    /// Incoming messages.
    pub rx: Receiver<Message>,
}

/// An in-memory pair: `(source_end, destination_end)`. Source→destination is bounded (chunk data
/// exerts backpressure, bounding memory); destination→source is unbounded (small requests), so
/// neither side can block the other into a deadlock.
pub fn local_pair(bound: usize) -> (Link, Link) {
    let (s2d_tx, s2d_rx) = crate::chan::bounded(bound);
    let (d2s_tx, d2s_rx) = crate::chan::unbounded();
    (Link { tx: s2d_tx, rx: d2s_rx }, Link { tx: d2s_tx, rx: s2d_rx })
}

/// Paces a byte stream to at most `rate` bytes per second (--bwlimit): call `pace(n)` after
/// moving `n` bytes; it sleeps while the stream is ahead of schedule.
#[derive(Debug)]
pub struct Pacer {
    rate: Option<u64>,
    start: std::time::Instant,
    bytes: u64,
}

impl Pacer {
    /// A pacer for `rate` bytes per second (`None` or 0: unlimited).
    pub fn new(rate: Option<u64>) -> Self {
        Self { rate: rate.filter(|r| *r > 0), start: std::time::Instant::now(), bytes: 0 }
    }

    /// Account for `n` bytes; sleep if ahead of the allowed rate. Returns whether it slept
    /// (the rate limit, not the work, sets the pace: compression pays).
    pub fn pace(&mut self, n: u64) -> bool {
        let Some(rate) = self.rate else { return false };
        self.bytes += n;
        let due = std::time::Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let el = self.start.elapsed();
        if due > el {
            std::thread::sleep(due - el);
            return true;
        }
        false
    }
}

/// Files the destination works on at once (bounds open temp files and memory); the window is
/// the destination state machine's (`proto::transfer`).
pub use crate::proto::transfer::FILE_WINDOW;
/// Chunks per `ChunkList` batch.
pub const LIST_BATCH: usize = 64;
