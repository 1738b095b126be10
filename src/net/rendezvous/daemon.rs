//! `pcp rendezvous`'s IO: one UDP socket driving the sans-IO server core.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::messages::MAX_MESSAGE;
use super::server::{Event, Limits, Server};

/// How often expired registrations are swept (and the stop flag read) at the latest.
const TICK: Duration = Duration::from_millis(500);

/// A bound rendezvous server.
pub struct Daemon {
    socket: UdpSocket,
    server: Server,
    /// Every datagram in and out, appended as one hex line each (`PCP_RENDEZVOUS_RECORD`; the
    /// tests check it holds no secret).
    record: Option<std::fs::File>,
}

impl Daemon {
    /// Bind `listen`.
    pub fn bind(listen: SocketAddr, limits: Limits, record: Option<std::fs::File>) -> std::io::Result<Self> {
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
        Ok(Self { socket, server: Server::new(limits, rng), record })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn note(&mut self, dir: &str, addr: SocketAddr, bytes: &[u8]) {
        if let Some(f) = &mut self.record {
            use std::io::Write;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(f, "{dir} {addr} {hex}");
        }
    }

    /// Serve until `stop` is set; `on_event` hears of each introduction and refusal.
    pub fn run(&mut self, stop: &AtomicBool, mut on_event: impl FnMut(&Event)) -> std::io::Result<()> {
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        let mut last_sweep = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let bytes = buf[..n].to_vec();
                    self.note("in", from, &bytes);
                    let (out, ev) = self.server.handle(Instant::now(), from, &bytes);
                    for (to, b) in out {
                        self.note("out", to, &b);
                        let _ = self.socket.send_to(&b, to);
                    }
                    if let Some(e) = ev {
                        on_event(&e);
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                // An ICMP error from an earlier send (a peer went away) is not the server's.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if last_sweep.elapsed() >= TICK {
                self.server.expire(Instant::now());
                last_sweep = Instant::now();
            }
        }
        Ok(())
    }
}
