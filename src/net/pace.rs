//! Rate-based pacing: each connection's datagrams leave at its congestion controller's pacing
//! rate, not faster.
//!
//! Why: quinn 0.11 paces a connection at 1.25 × window / smoothed RTT and never reads the
//! controller's pacing rate. BBR's window is twice its estimate of the bandwidth-delay product
//! (room for delayed and aggregated ACKs), so under quinn BBR sends at 2.5 × the bottleneck's
//! rate until a whole BDP stands in the bottleneck's queue: it took 86–90% of a link shared
//! with one TCP flow (benches/fairness-wan.sh). TCP's BBR paces at its estimate of the rate
//! (× its gain cycle: 1.25 to probe, 0.75 to drain) and uses the window only as a cap. This
//! module does that for quinn:
//!
//! - The controller (net::congestion) publishes its pacing rate into a [`Rate`] cell, one per
//!   connection, registered under the peer's address in the endpoint's [`Registry`].
//! - [`PacedSocket`] wraps the endpoint's UDP socket: a datagram to an address with a
//!   published rate leaves only when that connection's [`Bucket`] has credit; otherwise
//!   `try_send` says `WouldBlock` and the connection's poller sleeps until the credit is back.
//!
//! The bucket is sans-IO (times in, a decision out) and tested in virtual time.
//!
//! How the poller learns how long to sleep: quinn's connection driver calls `try_send` and,
//! on `WouldBlock`, at once and on the same thread (no `.await` between), `poll_writable` of
//! that connection's poller. `try_send` leaves the deadline in a thread-local that this next
//! `poll_writable` takes. Were another poller to take it, that connection would only wait at
//! most one burst's time, and the paced one would retry at its own next wakeup, so the worst
//! case is a short delay, never a lost datagram or a hang.
//!
//! Datagrams to an address without a rate (before the first RTT sample, Cubic, a migrated
//! path, the endpoint's own Retry or reset packets) go out as quinn paces them.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future as _;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// The most credit a bucket holds, in time at its rate: a connection that was idle (or whose
/// timer fired late: tokio's timers tick in milliseconds) may send this much at once.
const BURST: Duration = Duration::from_millis(2);

/// A connection's send budget: credit accrues at the rate, up to `BURST`'s worth; a datagram
/// may leave while the credit is not negative and then costs its size (so a datagram larger
/// than the burst still goes, and the next one waits the longer).
#[derive(Debug, Default)]
pub struct Bucket {
    credit: f64,
    last: Option<Instant>,
}

impl Bucket {
    /// May `bytes` leave at `now` at `rate` bytes per second? `Err(t)`: not before `t`.
    pub fn take(&mut self, now: Instant, rate: u64, bytes: usize) -> Result<(), Instant> {
        let rate = rate as f64;
        let cap = rate * BURST.as_secs_f64();
        let elapsed = self.last.map_or(BURST, |l| now.saturating_duration_since(l));
        self.credit = (self.credit + rate * elapsed.as_secs_f64()).min(cap);
        self.last = Some(now);
        if self.credit < 0.0 {
            let wait = Duration::from_secs_f64((-self.credit / rate).min(1.0));
            return Err(now + wait);
        }
        self.credit -= bytes as f64;
        Ok(())
    }

    /// A datagram that was charged but did not leave (the socket was full): give it back.
    pub fn refund(&mut self, bytes: usize) {
        self.credit += bytes as f64;
    }
}

/// One connection's published pacing rate (bytes per second, 0: not paced) and its bucket.
#[derive(Debug, Default)]
pub struct Rate {
    bytes_per_s: AtomicU64,
    bucket: Mutex<Bucket>,
    /// The endpoint's batch size (see [`Registry::segments`]).
    segments: Arc<AtomicUsize>,
}

/// The datagrams quinn may batch into one send (GSO) on a paced endpoint: one millisecond at
/// the pacing rate, 1 to this many. A batch leaves back to back, and into a shallow queue a
/// competing TCP flow keeps full, a burst of 10 loses most of its packets: pcp lost 47% of
/// its packets where TCP lost 4.5% (20 Mbit/s... 50 Mbit/s, 10 ms queue). Linux sizes TCP's
/// segment offload bursts the same way (tcp_tso_autosize).
const MAX_SEGMENTS: usize = 10;

impl Rate {
    /// Publish the connection's pacing rate (net::congestion after every ACK and loss), for
    /// packets of `mtu` bytes.
    pub fn set(&self, bytes_per_s: u64, mtu: u64) {
        self.bytes_per_s.store(bytes_per_s, Ordering::Relaxed);
        let per_ms = bytes_per_s / 1000 / mtu.max(1);
        let segs = if bytes_per_s == 0 { MAX_SEGMENTS } else { (per_ms as usize).clamp(1, MAX_SEGMENTS) };
        self.segments.store(segs, Ordering::Relaxed);
    }

    fn take(&self, now: Instant, bytes: usize) -> Result<(), Instant> {
        let rate = self.bytes_per_s.load(Ordering::Relaxed);
        if rate == 0 {
            return Ok(());
        }
        match self.bucket.lock() {
            Ok(mut b) => b.take(now, rate, bytes),
            Err(_) => Ok(()),
        }
    }

    fn refund(&self, bytes: usize) {
        if let Ok(mut b) = self.bucket.lock() {
            b.refund(bytes);
        }
    }
}

/// The rates of an endpoint's connections, by peer address. Entries die with their
/// connection (the controller holds the only strong reference).
#[derive(Debug)]
pub struct Registry {
    rates: Mutex<HashMap<SocketAddr, Weak<Rate>>>,
    /// How many datagrams quinn may batch into one send: set by the last connection to
    /// publish a rate (one bulk connection per process but for `pcp serve`, where this only
    /// shapes bursts, never the rate).
    segments: Arc<AtomicUsize>,
}

impl Default for Registry {
    fn default() -> Self {
        Self { rates: Mutex::default(), segments: Arc::new(AtomicUsize::new(MAX_SEGMENTS)) }
    }
}

/// Addresses as quinn may spell them either way (an IPv4 peer on a dual-stack socket is an
/// IPv4-mapped IPv6 address): one key for both.
fn key(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl Registry {
    /// A fresh rate cell for a connection to `peer`, replacing any earlier one.
    pub fn register(&self, peer: SocketAddr) -> Arc<Rate> {
        let rate = Arc::new(Rate { segments: self.segments.clone(), ..Rate::default() });
        if let Ok(mut m) = self.rates.lock() {
            m.retain(|_, w| w.strong_count() > 0);
            m.insert(key(peer), Arc::downgrade(&rate));
        }
        rate
    }

    fn get(&self, peer: SocketAddr) -> Option<Arc<Rate>> {
        self.rates.lock().ok()?.get(&key(peer))?.upgrade()
    }
}

thread_local! {
    /// Set by a paced `try_send` that said `WouldBlock`: when the datagram may leave. Taken
    /// by the next `poll_writable` on this thread (see the module docs).
    static HELD_UNTIL: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The endpoint's UDP socket, holding back datagrams of paced connections.
#[derive(Debug)]
pub struct PacedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    registry: Arc<Registry>,
}

impl PacedSocket {
    pub fn new(inner: Arc<dyn AsyncUdpSocket>, registry: Arc<Registry>) -> Self {
        Self { inner, registry }
    }
}

impl AsyncUdpSocket for PacedSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(PacedPoller { inner: self.inner.clone().create_io_poller(), sleep: None })
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        HELD_UNTIL.set(None);
        let rate = self.registry.get(transmit.destination);
        if let Some(rate) = &rate {
            if let Err(until) = rate.take(Instant::now(), transmit.contents.len()) {
                HELD_UNTIL.set(Some(until));
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let sent = self.inner.try_send(transmit);
        if let (Err(_), Some(rate)) = (&sent, &rate) {
            rate.refund(transmit.contents.len());
        }
        sent
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments().min(self.registry.segments.load(Ordering::Relaxed)).max(1)
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

/// A connection's poller: writable when the socket is and the pacing deadline has passed.
struct PacedPoller {
    inner: Pin<Box<dyn UdpPoller>>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl fmt::Debug for PacedPoller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedPoller").field("sleeping", &self.sleep.is_some()).finish()
    }
}

impl UdpPoller for PacedPoller {
    fn poll_writable(mut self: Pin<&mut Self>, cx: &mut Context) -> Poll<io::Result<()>> {
        if let Some(until) = HELD_UNTIL.take() {
            self.sleep = Some(Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(until))));
        }
        if let Some(s) = self.sleep.as_mut() {
            if s.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        self.inner.as_mut().poll_writable(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn a_bucket_sends_at_its_rate_over_time() {
        // 1 MB/s, 1200-byte datagrams, for one virtual second: about 1 MB leaves.
        let mut b = Bucket::default();
        let t0 = Instant::now();
        let mut t = t0;
        let mut sent = 0u64;
        while t < t0 + Duration::from_secs(1) {
            match b.take(t, MB, 1200) {
                Ok(()) => sent += 1200,
                Err(until) => {
                    assert!(until > t, "a deadline in the past would spin");
                    t = until;
                }
            }
        }
        assert!((990_000..=1_010_000).contains(&sent), "{sent} bytes in 1 s at 1 MB/s");
    }

    #[test]
    fn an_idle_bucket_bursts_at_most_two_milliseconds() {
        let mut b = Bucket::default();
        let t0 = Instant::now();
        b.take(t0, MB, 1).unwrap();
        // A minute idle: credit is capped at 2 ms × 1 MB/s = 2000 bytes.
        let t1 = t0 + Duration::from_secs(60);
        let mut n = 0;
        while b.take(t1, MB, 500).is_ok() {
            n += 1;
            assert!(n < 100, "the burst is not capped");
        }
        assert_eq!(n, 5, "2000 bytes of credit (4 datagrams), then one more into debt");
    }

    #[test]
    fn a_datagram_larger_than_the_burst_goes_and_the_next_waits_for_it() {
        let mut b = Bucket::default();
        let t0 = Instant::now();
        b.take(t0, MB, 64_000).unwrap();
        let until = b.take(t0, MB, 1200).unwrap_err();
        let waited = until - t0;
        assert!(waited >= Duration::from_millis(60) && waited <= Duration::from_millis(63), "{waited:?}");
    }

    #[test]
    fn a_refund_gives_the_credit_back() {
        let mut b = Bucket::default();
        let t0 = Instant::now();
        b.take(t0, MB, 10_000).unwrap();
        b.refund(10_000);
        assert!(b.take(t0, MB, 1200).is_ok());
    }

    #[test]
    fn the_registry_matches_ipv4_mapped_addresses_and_forgets_ended_connections() {
        let r = Registry::default();
        let v4: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:4000".parse().unwrap();
        let rate = r.register(v4);
        rate.set(MB, 1200);
        assert!(r.get(mapped).is_some());
        drop(rate);
        assert!(r.get(v4).is_none(), "a dropped connection's rate lingers");
    }

    #[test]
    fn an_unpublished_rate_does_not_pace() {
        let rate = Rate::default();
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(rate.take(t0, 64_000).is_ok());
        }
    }
}
