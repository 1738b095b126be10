//! The driver: carries an `engine::Link` over an authenticated QUIC connection.
//!
//! Control messages travel as frames (`proto::frame`) on stream 0, which the handshake and the
//! session request already used. Chunk `Data` from the source is spread over [`DATA_STREAMS`]
//! unidirectional streams, so one stream's loss recovery or one slow file does not stall the
//! others. Ordering stays safe: the destination sends `Want` only after it read the
//! `ChunkList`, and the source sends `Data` only after it read the `Want`. `Data` under
//! `INLINE_MAX` (inline small files, sent unasked) stays on stream 0, behind its `ChunkList`.
//! Frames are written as header + shared chunk bytes and read back with one copy
//! (`frame::Assembler`).
//!
//! Blocking engine threads meet tokio through plain std threads that call `Handle::block_on`
//! for one stream operation at a time (never from a runtime thread). Memory stays bounded:
//! both directions are bounded queues (backpressure reaches QUIC flow control). They cannot
//! deadlock: the destination's engine never blocks on sending (its outgoing queue to the
//! network is unbounded, like `engine::local_pair`, and holds only its own small requests),
//! so it always goes on reading data; a hostile destination's flood of requests stops at the
//! source's bounded queue and then at QUIC flow control.
//!
//! Owns: framing on streams, stream fan-out, threads. Does not own: what the messages mean.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::chan::{Receiver, Sender, TryRecvError, TrySendError};
use anyhow::Result;
use bytes::Bytes;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use tokio::runtime::Handle;

use super::handshake::{close, conn_err};
use crate::engine::Link;
use crate::proto::message::INLINE_MAX;
use crate::proto::{frame, Message};
use crate::report::{add, Stats};

/// Unidirectional streams carrying chunk data, opened by the source.
pub const DATA_STREAMS: usize = 4;
/// Messages buffered from the source to the destination engine (backpressure).
const INCOMING_BOUND: usize = 64;
/// Requests (Need, Want) buffered from the destination to the source engine, per hop.
const REQUEST_BOUND: usize = 64;
/// Messages buffered from the source engine to the network.
const OUTGOING_BOUND: usize = 32;
/// Messages queued per data stream.
const PER_STREAM_BOUND: usize = 4;
/// Most bytes coalesced into one stream write.
const MAX_BATCH: usize = 2 << 20;

/// Which role this side plays in the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Has the data: sends control on stream 0 and data on the uni streams.
    Source,
    /// Writes the data: reads stream 0 and the uni streams.
    Destination,
}

/// The running driver; [`Transport::finish`] joins its threads.
pub struct Transport {
    threads: Vec<JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    error: Arc<Mutex<Option<anyhow::Error>>>,
    conn: Connection,
    rt: Handle,
}

/// Where a reader task puts decoded messages: a bounded queue that a forwarder thread hands
/// to the engine (both directions are bounded; see [`start`]).
type Sink = tokio::sync::mpsc::Sender<Message>;

/// Start carrying messages for `role` over `conn` (stream 0 = `send0`/`recv0`). Returns the
/// link the engine role uses and the driver.
pub fn start(
    rt: &Handle,
    conn: &Connection,
    send0: SendStream,
    recv0: impl std::future::Future<Output = Result<RecvStream>> + Send + 'static,
    role: Role,
    stats: Arc<Stats>,
) -> Result<(Link, Transport)> {
    let error: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    let link = match role {
        Role::Source => {
            let (out_tx, out_rx) = crate::chan::bounded::<Message>(OUTGOING_BOUND);
            // Requests from the destination are bounded too (a hostile destination cannot
            // queue Needs and Wants without end): when the source is busy sending, its
            // reader stops and QUIC flow control holds the destination's writer. No cycle:
            // the destination's engine never blocks on sending, and keeps reading data.
            let (in_tx, in_rx) = crate::chan::bounded::<Message>(REQUEST_BOUND);
            let (atx, mut arx) = tokio::sync::mpsc::channel::<Message>(REQUEST_BOUND);
            threads.push(spawn("pcp-forward", move || {
                while let Some(m) = arx.blocking_recv() {
                    if in_tx.send(m).is_err() {
                        break;
                    }
                }
            })?);
            let (rt2, conn2, err2) = (rt.clone(), conn.clone(), error.clone());
            threads.push(spawn("pcp-dispatch", move || dispatch(&rt2, &conn2, send0, out_rx, &err2))?);
            let (conn2, err2) = (conn.clone(), error.clone());
            tasks.push(rt.spawn(async move {
                match recv0.await {
                    Ok(recv0) => read_stream(conn2, recv0, atx, None, err2, Carries::Control).await,
                    Err(e) => set_err(&err2, &conn2, e, close::ERROR),
                }
            }));
            Link { tx: out_tx, rx: in_rx }
        }
        Role::Destination => {
            let (out_tx, out_rx) = crate::chan::unbounded::<Message>();
            let (in_tx, in_rx) = crate::chan::bounded::<Message>(INCOMING_BOUND / 2);
            let (atx, mut arx) = tokio::sync::mpsc::channel::<Message>(INCOMING_BOUND / 2);
            let (rt2, conn2, err2) = (rt.clone(), conn.clone(), error.clone());
            threads.push(spawn("pcp-write0", move || stream_writer(&rt2, &conn2, send0, &out_rx, &err2))?);
            // Forwarder: async readers → the engine's bounded channel. One hop per message,
            // not per packet; when the engine is slow, both channels fill and QUIC flow
            // control stops the source.
            threads.push(spawn("pcp-forward", move || {
                while let Some(m) = arx.blocking_recv() {
                    if in_tx.send(m).is_err() {
                        break;
                    }
                }
            })?);
            let sink = atx;
            let (conn2, err2, sink2, stats2) = (conn.clone(), error.clone(), sink.clone(), stats.clone());
            tasks.push(rt.spawn(async move {
                match recv0.await {
                    Ok(recv0) => read_stream(conn2, recv0, sink2, Some(stats2), err2, Carries::Control).await,
                    Err(e) => set_err(&err2, &conn2, e, close::ERROR),
                }
            }));
            tasks.push(rt.spawn(accept_data(conn.clone(), sink, stats, error.clone())));
            tasks.push(rt.spawn(tune_receive_window(conn.clone())));
            Link { tx: out_tx, rx: in_rx }
        }
    };
    Ok((link, Transport { threads, tasks, error, conn: conn.clone(), rt: rt.clone() }))
}

impl Transport {
    /// The first transport error, if any (a protocol violation or the lost connection).
    pub fn error(&self) -> Option<anyhow::Error> {
        let e = self.error.lock().ok()?.take();
        e.or_else(|| self.conn.close_reason().map(|c| conn_err(&c, "during the transfer")))
    }

    /// Wait for every driver thread (they end when the engine drops its link ends and the
    /// streams are finished, or when the connection closes).
    pub fn finish(self) -> Option<anyhow::Error> {
        for t in self.threads {
            let _ = t.join();
        }
        for t in self.tasks {
            let _ = self.rt.block_on(t);
        }
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| super::error::Error::Setup(format!("starting a thread: {e}")).into())
}

fn set_err(slot: &Mutex<Option<anyhow::Error>>, conn: &Connection, e: anyhow::Error, code: u32) {
    if let Ok(mut s) = slot.lock() {
        if s.is_none() {
            *s = Some(e);
        }
    }
    conn.close(VarInt::from_u32(code), b"transfer error");
}

fn write_err(e: quinn::WriteError) -> anyhow::Error {
    match e {
        quinn::WriteError::ConnectionLost(c) => conn_err(&c, "during the transfer"),
        other => super::error::Error::Stream(format!("sending: {other}")).into(),
    }
}

async fn write_batch(send: &mut SendStream, batch: &mut Vec<Bytes>) -> Result<()> {
    send.write_all_chunks(batch).await.map_err(write_err)?;
    batch.clear();
    Ok(())
}

/// Source side: route the engine's messages. Control → stream 0 (coalesced), `Data` → the
/// data streams, round-robin over those with room.
fn dispatch(
    rt: &Handle,
    conn: &Connection,
    mut send0: SendStream,
    out_rx: Receiver<Message>,
    err: &Arc<Mutex<Option<anyhow::Error>>>,
) {
    let mut writers: Vec<(Sender<Message>, JoinHandle<()>)> = Vec::new();
    let mut rr = 0usize;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let res = (|| -> Result<()> {
        let mut next = out_rx.recv().ok();
        while let Some(msg) = next.take() {
            // Small Data (inline files' chunks among them) stays on stream 0, in order behind
            // its chunk list; the rest is spread over the data streams.
            if matches!(&msg, Message::Data { data, .. } if data.len() >= INLINE_MAX as usize) {
                if writers.is_empty() {
                    for i in 0..DATA_STREAMS {
                        let s = rt.block_on(conn.open_uni()).map_err(|e| conn_err(&e, "opening a data stream"))?;
                        let (tx, rx) = crate::chan::bounded::<Message>(PER_STREAM_BOUND);
                        let (rt2, conn2, err2) = (rt.clone(), conn.clone(), err.clone());
                        let h = spawn(&format!("pcp-data{i}"), move || stream_writer(&rt2, &conn2, s, &rx, &err2))?;
                        writers.push((tx, h));
                    }
                }
                if !batch.is_empty() {
                    rt.block_on(write_batch(&mut send0, &mut batch))?;
                    batch_len = 0;
                }
                let mut m = Some(msg);
                for k in 0..writers.len() {
                    let i = (rr + k) % writers.len();
                    let Some(cur) = m.take() else { break };
                    match writers[i].0.try_send(cur) {
                        Ok(()) => rr = i + 1,
                        Err(TrySendError::Full(back)) => m = Some(back),
                        Err(TrySendError::Disconnected(_)) => return Err(proto_closed()),
                    }
                }
                if let Some(cur) = m {
                    let i = rr % writers.len();
                    writers[i].0.send(cur).map_err(|_| proto_closed())?;
                    rr = i + 1;
                }
            } else {
                let b = Bytes::from(msg.encode());
                batch_len += b.len();
                batch.push(b);
                if batch_len >= MAX_BATCH {
                    rt.block_on(write_batch(&mut send0, &mut batch))?;
                    batch_len = 0;
                }
            }
            next = match out_rx.try_recv() {
                Ok(m) => Some(m),
                Err(TryRecvError::Empty) => {
                    if !batch.is_empty() {
                        rt.block_on(write_batch(&mut send0, &mut batch))?;
                        batch_len = 0;
                    }
                    out_rx.recv().ok()
                }
                Err(TryRecvError::Disconnected) => None,
            };
        }
        if !batch.is_empty() {
            rt.block_on(write_batch(&mut send0, &mut batch))?;
        }
        Ok(())
    })();
    // Engine done (or failed): finish the data streams first, then stream 0.
    for (tx, h) in writers {
        drop(tx);
        let _ = h.join();
    }
    match res {
        Ok(()) => {
            let _ = send0.finish();
        }
        Err(e) => set_err(err, conn, e, close::ERROR),
    }
}

fn proto_closed() -> anyhow::Error {
    crate::proto::Error::Closed.into()
}

/// Write queued messages on one stream, coalesced into batches: each data stream of the
/// source, and stream 0 for the destination's control messages.
fn stream_writer(
    rt: &Handle,
    conn: &Connection,
    mut send: SendStream,
    rx: &Receiver<Message>,
    err: &Mutex<Option<anyhow::Error>>,
) {
    let res = (|| -> Result<()> {
        let mut batch: Vec<Bytes> = Vec::new();
        while let Ok(first) = rx.recv() {
            let mut len = 0;
            let mut m = Some(first);
            while let Some(msg) = m.take() {
                // Chunk bytes travel as their own shared buffer, not copied into the frame.
                let (head, tail) = msg.encode_parts();
                len += head.len();
                batch.push(Bytes::from(head));
                if let Some(t) = tail {
                    len += t.len();
                    batch.push(t);
                }
                if len < MAX_BATCH {
                    m = rx.try_recv().ok();
                }
            }
            rt.block_on(write_batch(&mut send, &mut batch))?;
        }
        let _ = send.finish();
        Ok(())
    })();
    if let Err(e) = res {
        set_err(err, conn, e, close::ERROR);
    }
}

/// Destination side: keep the connection's receive window at the path's bandwidth-delay
/// product ([`super::endpoint::receive_window_for`] of the measured RTT), every quarter second
/// until the connection closes: long fat pipes get the window they need, short paths keep
/// their buffers (and this side's memory) small.
async fn tune_receive_window(conn: Connection) {
    let mut last = None;
    while conn.close_reason().is_none() {
        let w = super::endpoint::receive_window_for(conn.rtt());
        if last != Some(w) {
            conn.set_receive_window(w);
            last = Some(w);
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            _ = conn.closed() => break,
        }
    }
}

/// Destination side: accept exactly the source's data streams and read each in its own task.
async fn accept_data(conn: Connection, sink: Sink, stats: Arc<Stats>, err: Arc<Mutex<Option<anyhow::Error>>>) {
    let mut readers = Vec::new();
    for _ in 0..DATA_STREAMS {
        let recv = match conn.accept_uni().await {
            Ok(r) => r,
            // Connection closed (normally, after a transfer that needed no data).
            Err(_) => break,
        };
        readers.push(tokio::spawn(read_stream(
            conn.clone(),
            recv,
            sink.clone(),
            Some(stats.clone()),
            err.clone(),
            Carries::DataOnly,
        )));
    }
    drop(sink);
    for r in readers {
        let _ = r.await;
    }
}

/// What a stream may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carries {
    /// Stream 0: any message (the engine's state machine checks the order).
    Control,
    /// A data stream: only `Data`.
    DataOnly,
}

/// Read frames from one stream and hand the decoded messages on. With `stats` (destination
/// side) received chunk data is counted.
///
/// A data stream carries only `Data` (security issue #8, item 3). Anything else there is a
/// protocol error that closes the connection with `PROTOCOL`: the engine checks the order of
/// control messages as they arrive on its one inbound channel, and the data streams feed that
/// channel concurrently with stream 0, so a `FileList`, `FileSum` or `Done` slipped onto a
/// data stream would race stream 0 and reach the engine out of the order the source's stream 0
/// gives it (the accepted offer is checked by the destination role itself, for every entry).
async fn read_stream(
    conn: Connection,
    mut recv: RecvStream,
    sink: Sink,
    stats: Option<Arc<Stats>>,
    err: Arc<Mutex<Option<anyhow::Error>>>,
    carries: Carries,
) {
    let res = async {
        // A data stream holds one chunk per frame: its frames are capped at the largest
        // accepted chunk before any buffer is allocated (stream 0 carries file lists too).
        let mut asm = match carries {
            Carries::Control => frame::Assembler::default(),
            Carries::DataOnly => frame::Assembler::with_max(crate::proto::message::MAX_DATA_FRAME),
        };
        let mut bodies: Vec<Bytes> = Vec::new();
        let mut chunks: Vec<Bytes> = vec![Bytes::new(); 64];
        loop {
            for body in bodies.drain(..) {
                let msg = Message::decode_shared(&body)?;
                if carries == Carries::DataOnly && !matches!(msg, Message::Data { .. }) {
                    return Err(
                        crate::proto::Error::State("the sender put a control message on a data stream".into()).into()
                    );
                }
                if let (Some(s), Message::Data { compressed, data, .. }) = (stats.as_deref(), &msg) {
                    add(&s.chunks_sent, 1);
                    add(&s.bytes_wire, data.len() as u64);
                    let plain = if *compressed {
                        zstd::zstd_safe::get_frame_content_size(data).ok().flatten().unwrap_or(0)
                    } else {
                        data.len() as u64
                    };
                    add(&s.bytes_sent, plain);
                }
                if let Some(s) = stats.as_deref() {
                    fault_drop(&conn, s);
                }
                if sink.send(msg).await.is_err() {
                    // The engine is gone (finished or failed): stop reading.
                    let _ = recv.stop(VarInt::from_u32(0));
                    return Ok(());
                }
            }
            match recv.read_chunks(&mut chunks).await {
                Ok(Some(k)) => {
                    for c in chunks.iter_mut().take(k) {
                        asm.push(std::mem::take(c), &mut bodies)?;
                    }
                }
                Ok(None) => {
                    if asm.is_mid_frame() {
                        return Err(crate::proto::Error::Truncated.into());
                    }
                    return Ok(());
                }
                Err(quinn::ReadError::ConnectionLost(c)) => {
                    // A normal close after the transfer is not an error here; the engine
                    // decides whether it got everything.
                    if matches!(&c, quinn::ConnectionError::ApplicationClosed(a)
                        if a.error_code.into_inner() == u64::from(close::DONE)
                            || a.error_code.into_inner() == u64::from(close::PARTIAL))
                        || matches!(c, quinn::ConnectionError::LocallyClosed)
                    {
                        return Ok(());
                    }
                    return Err(conn_err(&c, "during the transfer"));
                }
                Err(e) => return Err(super::error::Error::Stream(format!("receiving: {e}")).into()),
            }
        }
    }
    .await;
    if let Err(e) = res {
        let e: anyhow::Error = e;
        let code = if e.downcast_ref::<crate::proto::Error>().is_some() { close::PROTOCOL } else { close::ERROR };
        set_err(&err, &conn, e, code);
    }
}

/// Fault injection for the reconnect tests: with `PCP_TEST_DROP_AFTER=BYTES` in the environment,
/// the destination closes its first connection once that much chunk data has arrived, as if
/// the network had dropped it. Fires once per process; without the variable it does nothing.
fn fault_drop(conn: &Connection, stats: &Stats) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static FIRED: AtomicBool = AtomicBool::new(false);
    let at = *AT.get_or_init(|| std::env::var("PCP_TEST_DROP_AFTER").ok().and_then(|v| v.parse().ok()));
    if let Some(at) = at {
        if stats.bytes_wire.load(Ordering::Relaxed) >= at && !FIRED.swap(true, Ordering::Relaxed) {
            conn.close(VarInt::from_u32(close::ERROR), b"test: connection dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkHash;
    use crate::net::endpoint::{Bulk, Endpoint, IDLE_TIMEOUT};
    use std::time::Duration;

    /// A hostile source puts a control message (`Done`) on a data stream: the destination
    /// passes the `Data` of another data stream on, but not the `Done`, and closes the
    /// connection with `PROTOCOL`.
    #[test]
    fn data_streams_carry_only_data() {
        let rt = crate::net::client::runtime().unwrap();
        let (a, b) = {
            let _g = rt.enter();
            let a = Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Either, IDLE_TIMEOUT).unwrap();
            let b = Endpoint::bind("127.0.0.1:0".parse().unwrap(), Bulk::Either, IDLE_TIMEOUT).unwrap();
            (a, b)
        };
        let addr = a.local_addr().unwrap();
        let (src, dst) = rt.block_on(async {
            let (d, l) = tokio::join!(b.dial(addr), a.accept());
            (d.unwrap(), l.unwrap().authenticated())
        });
        // Stream 0 of the destination (opened by it; the hostile source never writes there).
        let (send0, recv0) = rt.block_on(dst.open_bi()).unwrap();
        let (link, tr) =
            start(rt.handle(), &dst, send0, async { Ok(recv0) }, Role::Destination, Arc::new(Stats::default()))
                .unwrap();
        let data = Bytes::from_static(&[7u8; 64]);
        let good = Message::Data { file: 0, index: 0, hash: ChunkHash::of(&data), compressed: false, data };
        let closed = rt.block_on(async {
            let mut u = src.open_uni().await.unwrap();
            u.write_all(&good.encode()).await.unwrap();
            u.finish().unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut u = src.open_uni().await.unwrap();
            u.write_all(&Message::Done.encode()).await.unwrap();
            u.finish().unwrap();
            tokio::time::timeout(Duration::from_secs(10), src.closed()).await.unwrap()
        });
        match closed {
            quinn::ConnectionError::ApplicationClosed(c) => {
                assert_eq!(c.error_code.into_inner(), u64::from(close::PROTOCOL));
            }
            other => panic!("closed with {other:?}, not PROTOCOL"),
        }
        let mut got = Vec::new();
        while let Ok(m) = link.rx.recv_timeout(Duration::from_secs(2)) {
            got.push(m);
            assert!(got.len() < 10);
        }
        assert_eq!(got, vec![good], "only the Data reached the engine");
        drop(link);
        let e = tr.finish().expect("a transport error");
        assert!(format!("{e:#}").contains("control message on a data stream"), "{e:#}");
    }
}
