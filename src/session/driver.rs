//! Runs one engine role over an authenticated connection (the same roles a local sync joins
//! with an in-memory link), then ends the connection: the destination closes it once it has
//! everything, saying whether every entry made it; the source waits for that close.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::engine::destination::{self, DestConfig};
use crate::engine::source::{self, SourceConfig};
use crate::error::{tagged, Kind};
use crate::net::conn::{Answer, Close, Conn};
use crate::net::transport::Role;
use crate::proto::Error as PErr;
use crate::report::{Reporter, Stats};

/// How long the source waits for the destination's close after its last frame.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// One side's part of a transfer.
pub enum RoleConfig {
    /// Send.
    Source(Box<SourceConfig>),
    /// Receive (`DestConfig::offer` limits what may arrive, for `pcp receive`).
    Destination(Box<DestConfig>),
}

/// How a transfer over the network ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferEnd {
    /// Entries the source could not send.
    pub skipped: u64,
    /// Entries that failed at the destination, or deletions limited.
    pub errors: u64,
}

impl TransferEnd {
    /// Whether anything was left out (exit 23).
    pub fn partial(&self) -> bool {
        self.skipped > 0 || self.errors > 0
    }
}

/// Run `role` over `conn` (stream 0 is handed to the transfer; `answer` says whether the
/// listener's answer is still ahead on it). `stop` is the interrupt signal: once set, the
/// connection is closed at once with a reason, so both engines stop within moments (each
/// records what it has) and the peer does not wait for its idle timeout.
pub fn run_role(
    conn: &mut Conn,
    answer: Answer,
    role: RoleConfig,
    rep: &Reporter,
    stats: &Arc<Stats>,
    stop: &'static AtomicBool,
) -> Result<TransferEnd> {
    let trole = match &role {
        RoleConfig::Source(_) => Role::Source,
        RoleConfig::Destination(_) => Role::Destination,
    };
    let (link, tr) = conn.start_transfer(trole, answer, stats.clone())?;
    // Progress on both ends (--progress, also on `serve`): the destination reports it itself;
    // on the source side a ticker does.
    let started = Instant::now();
    rep.progress_start(0);
    let done = AtomicBool::new(false);
    let closer = conn.closer();
    let probe = conn.path_probe();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let res = std::thread::scope(|s| {
        s.spawn(|| {
            // The stop signal every 25 ms; a change of path (off the relay) every 100 ms.
            let (mut path, mut tick) = (probe.now(), 0u32);
            while !done.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    closer.close(Close::Error, b"interrupted");
                    break;
                }
                tick = tick.wrapping_add(1);
                if tick % 4 == 0 {
                    let now = probe.now();
                    if now.0 != path.0 {
                        rep.path_changed(now.0, now.1, probe.rtt());
                        path = now;
                    }
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        if trole == Role::Source && rep.verbosity().progress {
            s.spawn(|| {
                let start = Instant::now();
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    rep.progress_total(get(&stats.total_size));
                    rep.progress(get(&stats.bytes_sent), get(&stats.total_size), start);
                }
            });
        }
        let r = match role {
            RoleConfig::Source(cfg) => {
                source::run(*cfg, link, rep, stats).map(|skipped| TransferEnd { skipped, errors: 0 })
            }
            RoleConfig::Destination(cfg) => destination::run(&cfg, link, rep, stats)
                .map(|o| TransferEnd { skipped: 0, errors: o.errors + u64::from(o.delete_limited) }),
        };
        done.store(true, Ordering::Relaxed);
        r
    });
    if let Ok(mut slot) = stats.link.lock() {
        *slot = Some(conn.link_stats());
    }
    match trole {
        Role::Source => rep.progress_done(get(&stats.bytes_sent), started, "sent"),
        Role::Destination => rep.progress_done(get(&stats.bytes_written), started, "received"),
    }
    match res {
        Ok(mut end) => {
            if trole == Role::Destination {
                // The close code tells the source whether every entry made it (exit 0 or 23).
                if end.errors > 0 {
                    let why = format!("{} entries failed at the destination", end.errors);
                    conn.close(Close::Partial, why.as_bytes());
                } else {
                    conn.close(Close::Done, b"done");
                }
            } else if let Some(why) = conn.wait_closed(CLOSE_WAIT) {
                // Our last frames were queued; the destination closed when it had read them.
                rep.warn(&format!("the peer: {}", crate::report::sanitize(&why)));
                end.errors += 1;
            }
            let _ = tr.finish();
            Ok(end)
        }
        Err(e) => {
            // A lost connection shows up in the engine as "peer closed"; say what happened.
            let closed = e.chain().any(|c| matches!(c.downcast_ref::<PErr>(), Some(PErr::Closed)));
            let terr = tr.error();
            conn.close(Close::Error, b"transfer failed");
            let _ = tr.finish();
            if stop.load(Ordering::Relaxed) {
                return Err(tagged(Kind::Interrupted, "interrupted; rerun the same command to resume"));
            }
            match terr {
                Some(t) if closed => Err(t),
                _ => Err(e),
            }
        }
    }
}
