//! `pcp rendezvous`'s IO: one UDP socket driving the sans-IO server core, and one relay
//! socket (and thread) per relayed introduction.
//!
//! A relay forwards the peers' datagrams between its two bound ends, unchanged: it never
//! terminates their QUIC (so the channel binding of the handshake holds) and sees only
//! ciphertext. An end binds by sending `RelayBind{session}` from its QUIC socket (the session
//! number only the two peers and the server know), and is answered `RelayBound` once both
//! ends have bound (not before: QUIC through a half-bound relay would go nowhere); the relay
//! tells the ends apart by the IPs
//! the server saw them at, so an end whose NAT re-maps its port binds again and goes on.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::messages::{decode, encode, is_control, Message, MAX_MESSAGE};
use super::server::{Event, Limits, Server};

/// How often expired registrations are swept (and the stop flag read) at the latest.
const TICK: Duration = Duration::from_millis(500);
/// A relay closes after this long without a datagram to forward...
const RELAY_IDLE: Duration = Duration::from_secs(30);
/// ...or when its two ends have not both bound within this long.
const RELAY_BIND_TIME: Duration = Duration::from_secs(10);
/// Largest datagram a relay forwards (a QUIC packet is at most 1,452 bytes here; jumbo
/// links stay below this).
const RELAY_MAX_DATAGRAM: usize = 9000;

/// The relays' limits (`pcp rendezvous --max-relays`, `--max-rate`).
#[derive(Debug, Clone, Copy)]
pub struct RelayLimits {
    /// Relays open at once; beyond, the dialer hears "rendezvous busy".
    pub max_relays: usize,
    /// Bytes per second one relay forwards, both ways together (0: no limit).
    pub max_rate: u64,
}

/// What the daemon reports (`--json`: one line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// From the server's core.
    Server(Event),
    /// A relay opened for `session` on `port`.
    RelayOpened { session: u64, port: u16 },
    /// A relay closed: bytes forwarded each way and datagrams dropped (rate, unknown source).
    RelayClosed { session: u64, to_listener: u64, to_dialer: u64, dropped: u64 },
}

type Record = Option<Arc<Mutex<std::fs::File>>>;

fn note(record: &Record, dir: &str, addr: SocketAddr, bytes: &[u8]) {
    if let Some(f) = record {
        use std::io::Write;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(mut f) = f.lock() {
            let _ = writeln!(f, "{dir} {addr} {hex}");
        }
    }
}

/// A bound rendezvous server.
pub struct Daemon {
    socket: UdpSocket,
    server: Server,
    relays: RelayLimits,
    open_relays: Arc<AtomicUsize>,
    /// Every datagram in and out, relayed ones too, appended as one hex line each
    /// (`PCP_RENDEZVOUS_RECORD`; the tests check it holds no secret).
    record: Record,
}

impl Daemon {
    /// Bind `listen`.
    pub fn bind(
        listen: SocketAddr,
        limits: Limits,
        relays: RelayLimits,
        record: Option<std::fs::File>,
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(listen)?;
        socket.set_read_timeout(Some(TICK))?;
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut state = u64::from_le_bytes(seed) | 1;
        // xorshift64*: session numbers need only be unguessable to someone who has not seen
        // the introduction, and the seed is from the OS.
        let rng = Box::new(move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        });
        Ok(Self {
            socket,
            server: Server::new(limits, rng),
            relays,
            open_relays: Arc::default(),
            record: record.map(|f| Arc::new(Mutex::new(f))),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serve until `stop` is set; `on_report` hears of each introduction, refusal and relay.
    pub fn run(&mut self, stop: &'static AtomicBool, mut on_report: impl FnMut(&Report)) -> std::io::Result<()> {
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        let mut last_sweep = Instant::now();
        let (tx, rx) = mpsc::channel::<Report>();
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let bytes = buf[..n].to_vec();
                    note(&self.record, "in", from, &bytes);
                    let (out, ev) = self.server.handle(Instant::now(), from, &bytes);
                    self.send(out);
                    match ev {
                        Some(Event::RelayWanted { session, listener, dialer }) => {
                            let out = match self.open_relay(session, listener, dialer, &tx, stop) {
                                Some(port) => {
                                    on_report(&Report::RelayOpened { session, port });
                                    self.server.relay_ready(session, port)
                                }
                                None => self.server.relay_refused(session),
                            };
                            self.send(out);
                        }
                        Some(e) => on_report(&Report::Server(e)),
                        None => {}
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                // An ICMP error from an earlier send (a peer went away) is not the server's.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            while let Ok(r) = rx.try_recv() {
                on_report(&r);
            }
            if last_sweep.elapsed() >= TICK {
                self.server.expire(Instant::now());
                last_sweep = Instant::now();
            }
        }
        // Stopping: the relays see the flag within a tick; their last reports go out too.
        let deadline = Instant::now() + 3 * TICK;
        while self.open_relays.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        while let Ok(r) = rx.try_recv() {
            on_report(&r);
        }
        Ok(())
    }

    fn send(&self, out: Vec<(SocketAddr, Vec<u8>)>) {
        for (to, b) in out {
            note(&self.record, "out", to, &b);
            let _ = self.socket.send_to(&b, to);
        }
    }

    /// Open a relay for `session` on a port of its own; `None` when too many are open or no
    /// port could be bound.
    fn open_relay(
        &self,
        session: u64,
        listener: SocketAddr,
        dialer: SocketAddr,
        tx: &mpsc::Sender<Report>,
        stop: &'static AtomicBool,
    ) -> Option<u16> {
        if self.open_relays.load(Ordering::Relaxed) >= self.relays.max_relays {
            return None;
        }
        let ip = self.socket.local_addr().ok()?.ip();
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).ok()?;
        socket.set_read_timeout(Some(TICK)).ok()?;
        let port = socket.local_addr().ok()?.port();
        let mut relay = Relay::new(session, listener, dialer, self.relays.max_rate, Instant::now());
        let (open, tx, record) = (self.open_relays.clone(), tx.clone(), self.record.clone());
        open.fetch_add(1, Ordering::Relaxed);
        let spawned = std::thread::Builder::new().name(format!("relay-{port}")).spawn(move || {
            let mut buf = vec![0u8; RELAY_MAX_DATAGRAM];
            while !stop.load(Ordering::Relaxed) && relay.alive(Instant::now()) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                note(&record, "relay-in", from, &buf[..n]);
                if let Some((to, bytes)) = relay.handle(Instant::now(), from, &buf[..n]) {
                    note(&record, "relay-out", to, bytes);
                    let _ = socket.send_to(bytes, to);
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(relay.report());
        });
        if spawned.is_err() {
            self.open_relays.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(port)
    }
}

/// One relay's state, sans-IO: which source is which end, the rate budget, the counters.
pub struct Relay {
    session: u64,
    /// The IPs the server saw each end at, and where each end is bound now.
    listener_ip: IpAddr,
    dialer_ip: IpAddr,
    listener: Option<SocketAddr>,
    dialer: Option<SocketAddr>,
    opened: Instant,
    last: Instant,
    rate: u64,
    credit: f64,
    credit_at: Instant,
    to_listener: u64,
    to_dialer: u64,
    dropped: u64,
    /// The encoded `RelayBound` answer.
    bound_msg: Vec<u8>,
}

impl Relay {
    pub fn new(session: u64, listener: SocketAddr, dialer: SocketAddr, rate: u64, now: Instant) -> Self {
        Self {
            session,
            listener_ip: listener.ip().to_canonical(),
            dialer_ip: dialer.ip().to_canonical(),
            listener: None,
            dialer: None,
            opened: now,
            last: now,
            rate,
            credit: 0.0,
            credit_at: now,
            to_listener: 0,
            to_dialer: 0,
            dropped: 0,
            bound_msg: encode(&Message::RelayBound { session }),
        }
    }

    /// Still worth keeping: both ends bound in time, and traffic recently.
    pub fn alive(&self, now: Instant) -> bool {
        let bound = self.listener.is_some() && self.dialer.is_some();
        if !bound {
            return now.saturating_duration_since(self.opened) < RELAY_BIND_TIME;
        }
        now.saturating_duration_since(self.last) < RELAY_IDLE
    }

    /// One datagram from `from`: what to send where (a bind's answer, or the forwarded datagram).
    pub fn handle<'a>(&'a mut self, now: Instant, from: SocketAddr, bytes: &'a [u8]) -> Option<(SocketAddr, &'a [u8])> {
        let from = SocketAddr::new(from.ip().to_canonical(), from.port());
        if is_control(bytes) {
            if decode(bytes) != Ok(Message::RelayBind { session: self.session }) {
                return None;
            }
            let (ip, l, d) = (from.ip(), self.listener, self.dialer);
            let end = if ip == self.listener_ip && ip != self.dialer_ip {
                &mut self.listener
            } else if ip == self.dialer_ip && ip != self.listener_ip {
                &mut self.dialer
            } else if ip == self.listener_ip && (l == Some(from) || l.is_none()) && d != Some(from) {
                // Both ends behind one NAT: first come, first served.
                &mut self.listener
            } else if ip == self.dialer_ip && (d == Some(from) || d.is_none()) {
                &mut self.dialer
            } else {
                self.dropped += 1;
                return None;
            };
            *end = Some(from);
            // Bound means both ends are: only then may either start QUIC through the relay.
            let both = self.listener.is_some() && self.dialer.is_some();
            return both.then_some((from, &self.bound_msg[..]));
        }
        let to = if Some(from) == self.listener {
            self.dialer
        } else if Some(from) == self.dialer {
            self.listener
        } else {
            None
        };
        let Some(to) = to else {
            self.dropped += 1;
            return None;
        };
        if self.rate > 0 {
            let rate = self.rate as f64;
            let burst = (rate * 0.05).max(65_536.0);
            let dt = now.saturating_duration_since(self.credit_at).as_secs_f64();
            self.credit = (self.credit + rate * dt).min(burst);
            self.credit_at = now;
            if self.credit < bytes.len() as f64 {
                self.dropped += 1;
                return None;
            }
            self.credit -= bytes.len() as f64;
        }
        self.last = now;
        if Some(to) == self.listener {
            self.to_listener += bytes.len() as u64;
        } else {
            self.to_dialer += bytes.len() as u64;
        }
        Some((to, bytes))
    }

    pub fn report(&self) -> Report {
        Report::RelayClosed {
            session: self.session,
            to_listener: self.to_listener,
            to_dialer: self.to_dialer,
            dropped: self.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_forwards_only_between_its_bound_ends() {
        let (l, d): (SocketAddr, SocketAddr) =
            ("198.51.100.1:4000".parse().unwrap(), "203.0.113.9:5000".parse().unwrap());
        let t0 = Instant::now();
        let mut r = Relay::new(9, l, d, 0, t0);
        let quic = [0x40u8, 1, 2, 3];
        // Nothing is forwarded before both ends bind.
        assert_eq!(r.handle(t0, l, &quic), None);
        // A bind with the wrong session is ignored; with the right one it is answered.
        assert_eq!(r.handle(t0, l, &encode(&Message::RelayBind { session: 8 })), None);
        let bind = encode(&Message::RelayBind { session: 9 });
        let bound = encode(&Message::RelayBound { session: 9 });
        // The first end hears nothing until the other has bound too.
        assert_eq!(r.handle(t0, l, &bind), None);
        assert_eq!(r.handle(t0, d, &bind), Some((d, &bound[..])));
        assert_eq!(r.handle(t0, l, &bind), Some((l, &bound[..])));
        assert_eq!(r.handle(t0, l, &quic), Some((d, &quic[..])));
        assert_eq!(r.handle(t0, d, &quic), Some((l, &quic[..])));
        // A stranger is dropped, even one presenting the session from another IP.
        let stranger: SocketAddr = "192.0.2.7:1".parse().unwrap();
        assert_eq!(r.handle(t0, stranger, &quic), None);
        assert_eq!(r.handle(t0, stranger, &bind), None);
        // The dialer's NAT re-maps its port: it binds again and goes on.
        let d2: SocketAddr = "203.0.113.9:5001".parse().unwrap();
        assert_eq!(r.handle(t0, d2, &bind), Some((d2, &bound[..])));
        assert_eq!(r.handle(t0, l, &quic), Some((d2, &quic[..])));
        assert_eq!(r.report(), Report::RelayClosed { session: 9, to_listener: 4, to_dialer: 8, dropped: 3 });
        assert!(r.alive(t0 + RELAY_IDLE - Duration::from_secs(1)));
        assert!(!r.alive(t0 + RELAY_IDLE));
    }

    #[test]
    fn a_relay_holds_its_rate_and_closes_when_nobody_binds() {
        let (l, d): (SocketAddr, SocketAddr) =
            ("198.51.100.1:4000".parse().unwrap(), "203.0.113.9:5000".parse().unwrap());
        let t0 = Instant::now();
        let mut r = Relay::new(1, l, d, 100_000, t0);
        let bind = encode(&Message::RelayBind { session: 1 });
        r.handle(t0, l, &bind);
        r.handle(t0, d, &bind);
        let big = vec![0x40u8; 1200];
        let mut passed = 0;
        // One second at 100 kB/s, in 1 ms steps of 10 datagrams offered.
        for ms in 0..1000u64 {
            for _ in 0..10 {
                if r.handle(t0 + Duration::from_millis(ms), l, &big).is_some() {
                    passed += 1200;
                }
            }
        }
        assert!((95_000..=170_000).contains(&passed), "{passed}");
        let lonely = Relay::new(2, l, d, 0, t0);
        assert!(!lonely.alive(t0 + RELAY_BIND_TIME));
    }
}
