//! Blocking message queues between threads that park instead of spinning.
//!
//! The transfer's threads (lister, chunker, responder, destination, the network writers) hand
//! each other one message per file or chunk. crossbeam's channel, which pcp used before, spins
//! and calls `sched_yield` before it parks: on two cores, with more busy threads than cores,
//! that was 5 to 10 `sched_yield` calls per small file (issue 11). This queue is a mutex, a
//! deque and two condition variables. A waiter parks at once. A sender or receiver wakes the
//! other side only when someone waits, so a queue that is never empty or full costs no
//! syscalls at all; a sender waiting on a full queue is woken when it has drained to half,
//! and [`Sender::send_all`] queues a batch with one wake-up.
//!
//! `bounded(n)` blocks senders while `n` messages wait (backpressure, bounded memory);
//! `unbounded()` never blocks a sender. Both ends are `Clone`; the queue disconnects when
//! every sender or every receiver is gone, as std's and crossbeam's do.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct State<T> {
    queue: VecDeque<T>,
    /// `usize::MAX` for unbounded.
    cap: usize,
    senders: usize,
    receivers: usize,
    /// Receivers parked on `not_empty`.
    waiting_rx: usize,
    /// Senders parked on `not_full`.
    waiting_tx: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
}

impl<T> Shared<T> {
    /// The state, even if a thread panicked while holding the lock: every critical section
    /// below leaves the state consistent before anything can panic.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sending end.
pub struct Sender<T>(Arc<Shared<T>>);
/// The receiving end.
pub struct Receiver<T>(Arc<Shared<T>>);

/// `send` on a queue whose receivers are all gone; gives the message back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why `try_send` did not queue the message; gives it back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The bounded queue is full.
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// `recv` on an empty queue whose senders are all gone.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

/// Why `try_recv` returned nothing.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued and every sender is gone.
    Disconnected,
}

/// Why `recv_timeout` returned nothing.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// Nothing arrived in time.
    Timeout,
    /// Nothing queued and every sender is gone.
    Disconnected,
}

fn new<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            cap,
            senders: 1,
            receivers: 1,
            waiting_rx: 0,
            waiting_tx: 0,
        }),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

/// A queue that holds at most `cap` messages (at least one).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    new(cap.max(1))
}

/// A queue whose senders never wait.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(usize::MAX)
}

impl<T> Sender<T> {
    /// Queue `msg`, waiting while the queue is full.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let mut s = self.0.lock();
        loop {
            if s.receivers == 0 {
                return Err(SendError(msg));
            }
            if s.queue.len() < s.cap {
                break;
            }
            s.waiting_tx += 1;
            s = self.0.not_full.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
            s.waiting_tx -= 1;
        }
        self.push(s, msg);
        Ok(())
    }

    /// Queue every message of `batch` (leaving it empty), in order, with one lock and at most
    /// one wake-up: waits while the queue is full, then queues the whole batch, so a bounded
    /// queue holds at most `cap` plus one batch. Small messages sent in batches cost the
    /// receiver one wake-up per batch instead of one per message.
    pub fn send_all(&self, batch: &mut Vec<T>) -> Result<(), SendError<()>> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut s = self.0.lock();
        loop {
            if s.receivers == 0 {
                batch.clear();
                return Err(SendError(()));
            }
            if s.queue.len() < s.cap {
                break;
            }
            s.waiting_tx += 1;
            s = self.0.not_full.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
            s.waiting_tx -= 1;
        }
        s.queue.extend(batch.drain(..));
        let wake = s.waiting_rx;
        drop(s);
        match wake {
            0 => {}
            1 => self.0.not_empty.notify_one(),
            _ => self.0.not_empty.notify_all(),
        }
        Ok(())
    }

    /// Queue `msg` if there is room now.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let s = self.0.lock();
        if s.receivers == 0 {
            return Err(TrySendError::Disconnected(msg));
        }
        if s.queue.len() >= s.cap {
            return Err(TrySendError::Full(msg));
        }
        self.push(s, msg);
        Ok(())
    }

    /// Whether the queue is full now (a bounded queue the receiver does not keep up with).
    pub fn is_full(&self) -> bool {
        let s = self.0.lock();
        s.queue.len() >= s.cap
    }

    fn push(&self, mut s: MutexGuard<'_, State<T>>, msg: T) {
        s.queue.push_back(msg);
        let wake = s.waiting_rx > 0;
        drop(s);
        if wake {
            self.0.not_empty.notify_one();
        }
    }
}

impl<T> Receiver<T> {
    /// The next message, waiting while the queue is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut s = self.0.lock();
        match s.queue.pop_front() {
            Some(m) => {
                self.popped(s);
                Ok(m)
            }
            None if s.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // A deadline too far to represent is no deadline.
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// The next message, waiting until `deadline` (`None`: for as long as it takes).
    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut s = self.0.lock();
        loop {
            if let Some(m) = s.queue.pop_front() {
                self.popped(s);
                return Ok(m);
            }
            if s.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            s.waiting_rx += 1;
            s = match deadline {
                None => self.0.not_empty.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        s.waiting_rx -= 1;
                        return Err(RecvTimeoutError::Timeout);
                    }
                    self.0.not_empty.wait_timeout(s, left).unwrap_or_else(std::sync::PoisonError::into_inner).0
                }
            };
            s.waiting_rx -= 1;
        }
    }

    /// The messages queued now, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }

    /// After a message is taken: a sender waiting on a full queue is woken once the queue has
    /// drained to half its bound, not after every message (a fast sender behind a slow
    /// receiver would otherwise be woken, and park again, once per message).
    fn popped(&self, s: MutexGuard<'_, State<T>>) {
        let waiting = if s.queue.len() <= s.cap / 2 { s.waiting_tx } else { 0 };
        drop(s);
        match waiting {
            0 => {}
            1 => self.0.not_full.notify_one(),
            _ => self.0.not_full.notify_all(),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        Self(self.0.clone())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.0.lock().receivers += 1;
        Self(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.senders -= 1;
        let last = s.senders == 0;
        drop(s);
        if last {
            self.0.not_empty.notify_all();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.receivers -= 1;
        let last = s.receivers == 0;
        // Nobody will read them: free the messages (chunk buffers) now.
        let dropped = if last { std::mem::take(&mut s.queue) } else { VecDeque::new() };
        drop(s);
        drop(dropped);
        if last {
            self.0.not_full.notify_all();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receiver { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_queue_blocks_the_sender_until_a_message_is_taken() {
        let (tx, rx) = bounded::<u32>(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let t = std::thread::spawn(move || tx.send(3).map_err(|_| ()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "a full queue holds the sender");
        assert_eq!(rx.recv(), Ok(1));
        t.join().unwrap().unwrap();
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn order_is_kept_across_threads_and_every_message_arrives_once() {
        let (tx, rx) = bounded::<u64>(3);
        let n = 20_000u64;
        let senders: Vec<_> = (0..2u64)
            .map(|k| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..n {
                        tx.send(k * n + i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut last = [None::<u64>; 2];
        let mut count = 0;
        while let Ok(m) = rx.recv() {
            let k = (m / n) as usize;
            assert!(last[k].is_none_or(|l| l < m), "per-sender order");
            last[k] = Some(m);
            count += 1;
        }
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(count, 2 * n);
    }

    #[test]
    fn a_batch_arrives_whole_and_in_order() {
        let (tx, rx) = bounded::<u32>(2);
        let mut b = vec![1, 2, 3, 4];
        tx.send_all(&mut b).unwrap();
        assert!(b.is_empty());
        assert!(tx.is_full());
        let mut b = vec![5];
        let t = std::thread::spawn(move || tx.send_all(&mut b).map(|()| b.len()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished(), "a full queue holds a batch too");
        let got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(t.join().unwrap(), Ok(0));
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![4, 5]);
    }

    #[test]
    fn disconnection_is_seen_by_both_ends() {
        let (tx, rx) = unbounded::<u8>();
        tx.send(7).unwrap();
        drop(tx);
        assert_eq!(rx.recv(), Ok(7), "queued messages are still delivered");
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Err(RecvTimeoutError::Disconnected));

        let (tx, rx) = bounded::<u8>(1);
        tx.send(1).unwrap();
        let t = std::thread::spawn(move || tx.send(2));
        std::thread::sleep(Duration::from_millis(50));
        drop(rx);
        assert_eq!(t.join().unwrap(), Err(SendError(2)), "a sender waiting on a full queue is released");
    }

    #[test]
    fn recv_timeout_waits_about_the_timeout_and_wakes_for_a_message() {
        let (tx, rx) = unbounded::<u8>();
        let t0 = Instant::now();
        assert_eq!(rx.recv_timeout(Duration::from_millis(30)), Err(RecvTimeoutError::Timeout));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(9).unwrap();
            tx
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(9));
        drop(t.join().unwrap());
    }

    #[test]
    fn a_cloned_receiver_shares_the_queue() {
        let (tx, rx) = unbounded::<u8>();
        let rx2 = rx.clone();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx2.try_recv(), Ok(1));
        drop(rx2);
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
}
