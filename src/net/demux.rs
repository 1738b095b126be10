//! The endpoint's UDP socket, shared by QUIC and the rendezvous protocol: datagrams that are
//! rendezvous messages (net::rendezvous::messages::is_control) are taken out of what quinn
//! reads and handed to the rendezvous client, so that hole punching and the reflexive address
//! the rendezvous observes belong to the very socket (and NAT mapping) QUIC uses.
//!
//! The hand-over queue is bounded (`QUEUE`); when it is full, control datagrams are dropped
//! (the protocol retries), never QUIC packets and never a blocked receive.
//!
//! Upgrades (a relayed connection moving to a punched path): a dialer's QUIC connection keeps
//! the relay's address as its peer, and after [`Control::upgrade`] its QUIC datagrams to the
//! relay leave for the punched address instead, and QUIC datagrams from the punched address
//! read as coming from the relay. quinn on the dialer sees one path throughout; the
//! listener's quinn sees the dialer's packets arrive from a new address and migrates to it
//! (RFC 9000 §9: it validates the new path), so both ends move off the relay on the same
//! connection. Control datagrams are never rewritten.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::sync::mpsc;

use super::rendezvous::messages::{is_control, MAX_MESSAGE};

/// Control datagrams waiting for the rendezvous client at most.
const QUEUE: usize = 256;
/// Upgraded paths kept at most (the oldest gives way).
const MAX_UPGRADES: usize = 16;

/// Upgraded paths: (the address quinn uses, the address the datagrams really go to).
#[derive(Debug, Default)]
struct Upgrades {
    any: AtomicBool,
    table: Mutex<VecDeque<(SocketAddr, SocketAddr)>>,
}

impl Upgrades {
    fn to_actual(&self, quinn: SocketAddr) -> Option<SocketAddr> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let t = self.table.lock().ok()?;
        t.iter().find(|(q, _)| *q == quinn).map(|(_, a)| *a)
    }

    fn to_quinn(&self, actual: SocketAddr) -> Option<SocketAddr> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let t = self.table.lock().ok()?;
        t.iter().find(|(_, a)| *a == actual).map(|(q, _)| *q)
    }

    fn set(&self, quinn: SocketAddr, actual: SocketAddr) {
        if let Ok(mut t) = self.table.lock() {
            t.retain(|(q, a)| *q != quinn && *a != actual);
            if t.len() >= MAX_UPGRADES {
                t.pop_front();
            }
            t.push_back((quinn, actual));
            self.any.store(true, Ordering::Relaxed);
        }
    }
}

/// A control datagram: where it came from, its bytes.
pub type Datagram = (SocketAddr, Vec<u8>);

/// The socket quinn reads, minus control datagrams.
#[derive(Debug)]
pub struct DemuxSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    tx: mpsc::Sender<Datagram>,
    upgrades: Arc<Upgrades>,
}

/// The rendezvous side of the socket: control datagrams in, any datagram out.
#[derive(Debug)]
pub struct Control {
    socket: Arc<dyn AsyncUdpSocket>,
    rx: Mutex<Option<mpsc::Receiver<Datagram>>>,
    upgrades: Arc<Upgrades>,
}

impl Control {
    /// The receiving end; `None` while someone else holds it (one rendezvous client at a time).
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Datagram>> {
        self.rx.lock().ok()?.take()
    }

    /// Give the receiving end back for the next client (a dialer that looks the peer up again).
    pub fn put_back(&self, rx: mpsc::Receiver<Datagram>) {
        if let Ok(mut r) = self.rx.lock() {
            *r = Some(rx);
        }
    }

    /// Send one datagram now (a full socket buffer drops it: the protocol retries).
    pub fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let t = Transmit { destination: to, ecn: None, contents: bytes, segment_size: None, src_ip: None };
        let _ = self.socket.try_send(&t);
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// From now on, QUIC datagrams quinn sends to `relay` go to `direct`, and those from
    /// `direct` read as from `relay` (see the module docs).
    pub fn upgrade(&self, relay: SocketAddr, direct: SocketAddr) {
        self.upgrades.set(relay, direct);
    }

    /// Where QUIC datagrams for `relay` really go, once upgraded.
    pub fn upgraded(&self, relay: SocketAddr) -> Option<SocketAddr> {
        self.upgrades.to_actual(relay)
    }
}

/// Split a socket into what quinn reads and what the rendezvous client reads.
pub fn split(inner: Arc<dyn AsyncUdpSocket>) -> (DemuxSocket, Arc<Control>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let upgrades = Arc::new(Upgrades::default());
    let control = Arc::new(Control { socket: inner.clone(), rx: Mutex::new(Some(rx)), upgrades: upgrades.clone() });
    (DemuxSocket { inner, tx, upgrades }, control)
}

impl DemuxSocket {
    /// Take the control datagrams out of one received buffer (GRO may have coalesced several
    /// datagrams of `stride` bytes from one source); returns the bytes left for quinn.
    fn filter(&self, buf: &mut [u8], meta: &RecvMeta) -> usize {
        let (len, stride) = (meta.len.min(buf.len()), meta.stride.max(1));
        let mut keep = 0;
        let mut at = 0;
        while at < len {
            let end = (at + stride).min(len);
            if is_control(&buf[at..end]) {
                if end - at <= MAX_MESSAGE {
                    let _ = self.tx.try_send((meta.addr, buf[at..end].to_vec()));
                }
            } else {
                if keep != at {
                    buf.copy_within(at..end, keep);
                }
                keep += end - at;
            }
            at = end;
        }
        keep
    }
}

impl AsyncUdpSocket for DemuxSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        match self.upgrades.to_actual(transmit.destination) {
            Some(destination) => self.inner.try_send(&Transmit { destination, ..*transmit }),
            None => self.inner.try_send(transmit),
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            let n = ready!(self.inner.poll_recv(cx, bufs, meta))?;
            let mut any = false;
            for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()).take(n) {
                // Only a datagram whose first byte is 0x00 can be control: the common case
                // costs one comparison.
                if m.len > 0 && buf.first() == Some(&0) || m.stride < m.len {
                    m.len = self.filter(buf, m);
                }
                if let Some(quinn) = self.upgrades.to_quinn(m.addr) {
                    m.addr = quinn;
                }
                // quinn skips a zero-length entry.
                any |= m.len > 0;
            }
            if any {
                return Poll::Ready(Ok(n));
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([203, 0, 113, 1], port))
    }

    #[test]
    fn an_upgrade_maps_both_ways_and_replaces_an_older_one() {
        let u = Upgrades::default();
        assert_eq!(u.to_actual(a(1)), None);
        u.set(a(1), a(2));
        assert_eq!(u.to_actual(a(1)), Some(a(2)));
        assert_eq!(u.to_quinn(a(2)), Some(a(1)));
        assert_eq!(u.to_quinn(a(1)), None);
        // The peer's NAT re-mapped: the newer address replaces the old one.
        u.set(a(1), a(3));
        assert_eq!(u.to_actual(a(1)), Some(a(3)));
        assert_eq!(u.to_quinn(a(2)), None);
    }

    #[test]
    fn upgrades_stay_bounded() {
        let u = Upgrades::default();
        for p in 0..100 {
            u.set(a(1000 + p), a(2000 + p));
        }
        assert_eq!(u.table.lock().unwrap().len(), MAX_UPGRADES);
        assert_eq!(u.to_actual(a(1099)), Some(a(2099)));
        assert_eq!(u.to_actual(a(1000)), None);
    }
}
