//! An authenticated connection, behind a blocking face: what [`super::client::Dialer::connect`]
//! and [`super::listen::Listener`] hand to the session layer. The session layer above never
//! names quinn or tokio; it sends and reads session frames on stream 0, starts the transfer
//! driver, closes with a [`Close`] reason, and reads what QUIC measured.
//!
//! Owns: stream 0 after the handshake, session frame IO with its caps and timeouts, close
//! codes. Does not own: what the frames say (`proto::session`) or what a session does
//! (`session`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::runtime::Handle;

use super::handshake::{close, conn_err, Authenticated, SessionLease};
use super::transport::{self, Role, Transport};
use crate::auth::keys::PeerId;
use crate::engine::Link;
use crate::error::{tagged, Kind};
use crate::proto::session::{ListEntry, Response, MAX_LIST_BYTES, MAX_LIST_ENTRIES, MAX_SESSION_FRAME};
use crate::proto::Error as PErr;
use crate::report::{LinkStats, Stats};

/// Why a connection is closed (the QUIC application close code the peer reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Normal end.
    Done,
    /// The transfer ended but some entries failed at the destination (the source exits 23).
    Partial,
    /// The session failed or was interrupted.
    Error,
}

impl Close {
    fn code(self) -> u32 {
        match self {
            Self::Done => close::DONE,
            Self::Partial => close::PARTIAL,
            Self::Error => close::ERROR,
        }
    }
}

/// Where the listener's answer to the request is when a transfer starts on stream 0.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Answer {
    /// Already read (the caller needed it to set the role up), or there is none (the listener).
    Read,
    /// Still ahead of the transfer's frames: a push whose naming does not depend on the answer
    /// starts sending at once, a round trip earlier, and the reader checks the answer first
    /// (a refusal ends the role with the listener's reason and exit code).
    Pending,
}

/// A clonable handle that can close the connection from another thread (Ctrl-C).
#[derive(Clone)]
pub struct Closer(Connection);

impl Closer {
    /// Close at once with `how` and `reason`.
    pub fn close(&self, how: Close, reason: &[u8]) {
        self.0.close(VarInt::from_u32(how.code()), reason);
    }
}

/// How a connection learns that it left the relay (see net::demux, "Upgrades").
#[derive(Clone)]
pub(crate) enum PathWatch {
    /// The path it started on stays.
    Fixed,
    /// A dialer through `relay`: direct once the socket rewrites its datagrams.
    DialerRelay { control: Arc<super::demux::Control>, relay: SocketAddr },
    /// A listener whose peer came through a relay: direct once the peer's address is no relay.
    ListenerRelay { relays: super::rendezvous::client::RelaySet },
}

/// What a connection's path is now, readable from another thread.
#[derive(Clone)]
pub struct PathProbe {
    conn: Connection,
    start: &'static str,
    watch: PathWatch,
}

impl PathProbe {
    /// The path's name (`lan`, `direct`, `relay`) and the peer's address on it.
    pub fn now(&self) -> (&'static str, SocketAddr) {
        let remote = self.conn.remote_address();
        match &self.watch {
            PathWatch::Fixed => (self.start, remote),
            PathWatch::DialerRelay { control, relay } => match control.upgraded(*relay) {
                Some(a) => ("direct", a),
                None => ("relay", *relay),
            },
            PathWatch::ListenerRelay { relays } if relays.contains(remote) => ("relay", remote),
            PathWatch::ListenerRelay { .. } => ("direct", remote),
        }
    }

    /// The connection's RTT estimate now.
    pub fn rtt(&self) -> Duration {
        self.conn.rtt()
    }
}

/// An authenticated connection and its stream 0.
pub struct Conn {
    rt: Handle,
    conn: Connection,
    send: Option<SendStream>,
    recv: Option<RecvStream>,
    peer: PeerId,
    resumed: bool,
    verifier: Option<String>,
    path: &'static str,
    watch: PathWatch,
    lease: Option<SessionLease>,
}

impl Conn {
    pub(crate) fn new(rt: Handle, conn: Connection, auth: Authenticated, path: &'static str, watch: PathWatch) -> Self {
        let Authenticated { send, recv, resumed, peer, verifier, lease, .. } = auth;
        Self { rt, conn, send: Some(send), recv: Some(recv), peer, resumed, verifier, path, watch, lease }
    }

    /// A handle that reads the connection's path as it is now (it may leave the relay).
    pub fn path_probe(&self) -> PathProbe {
        PathProbe { conn: self.conn.clone(), start: self.path, watch: self.watch.clone() }
    }

    /// The authenticated peer (its Noise static key).
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Whether this connection resumed an earlier session.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// First contact with a code: the verifier words both sides derived.
    pub fn verifier(&self) -> Option<&str> {
        self.verifier.as_deref()
    }

    /// The peer's UDP address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// The connection's current RTT estimate.
    pub fn rtt(&self) -> std::time::Duration {
        self.conn.rtt()
    }

    /// How the connection reached the peer (`lan`, `direct`, `relay`): the path it started on.
    pub fn path_name(&self) -> &'static str {
        self.path
    }

    /// Listener: the lease that holds off a resume of this session while it runs; dropping it
    /// lets a resume take over.
    pub fn take_lease(&mut self) -> Option<SessionLease> {
        self.lease.take()
    }

    /// A handle to close the connection from elsewhere.
    pub fn closer(&self) -> Closer {
        Closer(self.conn.clone())
    }

    fn send_half(&mut self) -> Result<&mut SendStream> {
        self.send
            .as_mut()
            .ok_or_else(|| super::error::Error::Internal("stream 0 already handed to the transfer").into())
    }

    fn recv_half(&mut self) -> Result<&mut RecvStream> {
        self.recv
            .as_mut()
            .ok_or_else(|| super::error::Error::Internal("stream 0 already handed to the transfer").into())
    }

    /// Write one encoded frame (length prefix included) on stream 0.
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<()> {
        let rt = self.rt.clone();
        let send = self.send_half()?;
        rt.block_on(write_frame(send, frame))
    }

    /// Read one session frame body from stream 0, within `timeout` (`what` names the wait in
    /// the timeout error).
    pub fn recv_frame(&mut self, timeout: Option<(Duration, &str)>) -> Result<Vec<u8>> {
        let rt = self.rt.clone();
        let recv = self.recv_half()?;
        match timeout {
            None => rt.block_on(read_frame(recv)),
            Some((t, what)) => rt
                .block_on(async { tokio::time::timeout(t, read_frame(recv)).await })
                .map_err(|_| tagged(Kind::Timeout, what.to_owned()))?,
        }
    }

    /// Read a response; a `Refused` becomes an error with its exit code.
    pub fn read_response(&mut self) -> Result<Response> {
        let body = self.recv_frame(None)?;
        checked_response(&body)
    }

    /// Read `Entries` frames up to `End` (a listing or an offer), within the caps.
    pub fn read_entries(&mut self) -> Result<Vec<ListEntry>> {
        let mut all = Vec::new();
        let mut bytes = 0u64;
        loop {
            match self.read_response()? {
                Response::Entries(v) => {
                    bytes += v.iter().map(|e| (e.name.len() + e.target.len()) as u64 + 32).sum::<u64>();
                    all.extend(v);
                    if all.len() as u64 > MAX_LIST_ENTRIES {
                        return Err(PErr::Cap("listed entries", all.len() as u64).into());
                    }
                    if bytes > MAX_LIST_BYTES {
                        return Err(PErr::Cap("bytes of listed names", bytes).into());
                    }
                }
                Response::End { count } if count == all.len() as u64 => return Ok(all),
                _ => return Err(PErr::Malformed("listing").into()),
            }
        }
    }

    /// Send `frame`, finish stream 0 and wait (at most `wait`) for the peer to close.
    pub fn finish_with(&mut self, frame: &[u8], wait: Duration) {
        let rt = self.rt.clone();
        if let Some(send) = self.send.as_mut() {
            let _ = rt.block_on(write_frame(send, frame));
            let _ = send.finish();
        }
        self.wait_closed(wait);
    }

    /// Close at once.
    pub fn close(&self, how: Close, reason: &[u8]) {
        self.conn.close(VarInt::from_u32(how.code()), reason);
    }

    /// Wait (at most `wait`) for the connection to close; whether the peer closed it saying
    /// some entries failed (the reason text with it).
    pub fn wait_closed(&self, wait: Duration) -> Option<String> {
        let closed = self.rt.block_on(async { tokio::time::timeout(wait, self.conn.closed()).await });
        match closed {
            Ok(quinn::ConnectionError::ApplicationClosed(a))
                if a.error_code.into_inner() == u64::from(close::PARTIAL) =>
            {
                Some(String::from_utf8_lossy(&a.reason).into_owned())
            }
            _ => None,
        }
    }

    /// Hand stream 0 to the transfer driver for `role`. With [`Answer::Pending`] the reader
    /// first checks the listener's answer to the request.
    pub fn start_transfer(&mut self, role: Role, answer: Answer, stats: Arc<Stats>) -> Result<(Link, Transport)> {
        let send = self.send.take().ok_or(super::error::Error::Internal("stream 0 already in use"))?;
        let recv = self.recv.take().ok_or(super::error::Error::Internal("stream 0 already in use"))?;
        let recv = async move {
            let mut recv = recv;
            if answer == Answer::Pending {
                let body = read_frame(&mut recv).await?;
                let Response::Ok { .. } = checked_response(&body)? else {
                    return Err(PErr::Malformed("unexpected answer to the request").into());
                };
            }
            Ok(recv)
        };
        transport::start(&self.rt, &self.conn, send, recv, role, stats)
    }

    /// What QUIC measured of the path, for `--stats` and the `--json` summary.
    pub fn link_stats(&self) -> LinkStats {
        let st = self.conn.stats();
        LinkStats {
            rtt_ms: st.path.rtt.as_secs_f64() * 1000.0,
            sent_packets: st.path.sent_packets,
            lost_packets: st.path.lost_packets,
            lost_bytes: st.path.lost_bytes,
            congestion_events: st.path.congestion_events,
            mtu: st.path.current_mtu,
            controller: super::endpoint::congestion_controller(),
        }
    }
}

/// Decode a response; a `Refused` becomes an error with the listener's exit code and reason.
pub fn checked_response(body: &[u8]) -> Result<Response> {
    let r = Response::decode(body)?;
    if let Response::Refused { code, text } = &r {
        return Err(tagged(Kind::from_code(*code), format!("the peer refused: {}", crate::report::sanitize(text))));
    }
    Ok(r)
}

/// Write one frame on a stream.
pub async fn write_frame(send: &mut SendStream, frame: &[u8]) -> Result<()> {
    send.write_all(frame).await.map_err(|e| match e {
        quinn::WriteError::ConnectionLost(c) => conn_err(&c, "sending the request"),
        other => super::error::Error::Stream(format!("sending the request: {other}")).into(),
    })
}

/// Read one session frame body (capped at [`MAX_SESSION_FRAME`]).
pub async fn read_frame(recv: &mut RecvStream) -> Result<Vec<u8>> {
    let map = |e: quinn::ReadExactError| match e {
        quinn::ReadExactError::FinishedEarly(_) => anyhow::Error::from(PErr::Closed),
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(c)) => conn_err(&c, "during the request"),
        quinn::ReadExactError::ReadError(other) => {
            super::error::Error::Stream(format!("reading the request: {other}")).into()
        }
    };
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(map)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_SESSION_FRAME {
        return Err(PErr::FrameTooLarge(len).into());
    }
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(map)?;
    Ok(buf)
}
