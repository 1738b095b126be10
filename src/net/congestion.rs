//! pcp's congestion controller: a model-based one in the spirit of BBR (v1, as Linux's TCP
//! BBR): it estimates the path's bottleneck rate from delivery-rate samples and its
//! propagation delay from the minimum RTT, sends at that rate (paced by net::pace, not by the
//! window), and keeps about one bandwidth-delay product in flight. Random loss is not read as
//! congestion, so a lossy radio or long-haul link keeps its speed.
//!
//! Why not quinn's BBR (0.11): its bandwidth "samples" are the rate between the last two
//! packets sent and the last two ACKs, so its max filter keeps the rate of back-to-back
//! packets, well above the link's (on a 20 Mbit/s link it estimated 120 Mbit/s); and quinn
//! paces at 1.25 × window / RTT, so its window of two BDPs is its sending rate. Sharing a link
//! with one TCP BBR flow, it took 86–90% of it (benches/fairness-wan.sh).
//!
//! Here, as in the BBR draft (draft-cardwell-iccrg-bbr-congestion-control) and Linux's
//! tcp_rate.c:
//! - Each packet sent records how much had been delivered, and when, at that moment
//!   (`Snapshot`). Its ACK gives one sample: bytes delivered since then over the longer of
//!   the send and ACK intervals, and no sample if that is shorter than the minimum RTT (ACK
//!   compression).
//! - Bottleneck bandwidth: the max of those samples over the last 10 round trips. Rounds are
//!   counted by delivery: a round ends when a packet sent after it began is acknowledged.
//! - Min RTT: the lowest RTT of the last 10 s; when it is that old, ProbeRTT holds 4 packets in
//!   flight for 200 ms (and one round) to see the empty queue again.
//! - States: Startup (gain 2.89 until the bandwidth stops growing by 25% for 3 rounds), Drain
//!   (until the queue Startup built is gone), ProbeBW (gains 1.25, 0.75, then 1 for six phases
//!   of one min RTT each), ProbeRTT.
//! - Window: 2.5 × BDP (room for delayed and aggregated ACKs), at least 4 packets; persistent
//!   congestion drops it to the minimum until the model recovers. Against a TCP BBR flow behind
//!   a 10 ms queue (50 Mbit/s, RTT 80 ms) 2 × BDP left pcp 22–32% of the link over five runs,
//!   2.5 × 38.8% and 38.9%, 3 × 39.6%; 2.5 × took 60% and 57% of the other two fairness links.
//!
//! Pacing: the socket (net::pace) holds each datagram to `PACING_HEADROOM` × the model's
//! rate, and the window does the rest. Measured (benches/fairness-wan.sh, one pcp push and one
//! TCP BBR flow, pcp's share): pacing at exactly the model's rate, as Linux does, left pcp
//! 16% (20 Mbit/s, RTT 40 ms, 50 ms queue) and 8% (50 Mbit/s, RTT 80 ms, 10 ms queue): a TCP
//! flow whose window binds is ACK-clocked and refills every slot the queue frees, so evenly
//! paced packets found the queue full and pcp lost 40% of them to TCP's 4%. At 1.5×: 34% and
//! 12%; at 2×: 51%, 29% and 46% (10 Mbit/s behind a 200 ms queue). With no rate pacing
//! (quinn's own, bursts of 10 packets) it took 66% of the first link.
//!
//! Pure state, no IO and no clock: quinn passes times in, and the tests below drive it in
//! virtual time through a simulated bottleneck.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::congestion::{Controller, ControllerFactory, ControllerMetrics};

use super::pace::Rate;

/// Startup's gain: 2/ln 2, the smallest that doubles the delivery rate every round.
const STARTUP_GAIN: f64 = 2.885;
/// ProbeBW's pacing gains, one phase of one min RTT each.
const CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Data in flight allowed, as a multiple of the BDP, once the pipe is full.
const CWND_GAIN: f64 = 2.5;
/// The window's extra gain while ProbeBW probes (see update_cwnd).
const PROBE_CWND_GAIN: f64 = 1.25;
/// Rounds the bandwidth max filter spans.
const BW_ROUNDS: u64 = 10;
/// How long a min RTT stays valid before ProbeRTT.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// How long ProbeRTT holds the window at its minimum.
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// The window never goes below this many packets.
const MIN_PACKETS: u64 = 4;
/// The window before the first ACK (packets; quinn's default is 10 for its own controllers,
/// RFC 9002 §7.2 allows up to 10 and 14,720 bytes).
const INITIAL_PACKETS: u64 = 10;
/// At most this many send snapshots are kept (a silent peer must not grow them unbounded):
/// enough for a 32 MiB window of 1,200-byte packets.
const MAX_SNAPSHOTS: usize = 1 << 15;
/// Rounds the ACK-aggregation max filter spans (Linux: bbr_extra_acked_win_rtts).
const ACK_AGG_ROUNDS: u64 = 5;
/// The most the window grows for ACK aggregation, in time at the bottleneck rate (Linux:
/// bbr_extra_acked_max_us).
const ACK_AGG_MAX: Duration = Duration::from_millis(100);
/// The window's bandwidth-delay product uses at least this RTT: on loopback or a LAN the
/// measured minimum (tens of microseconds) gives a window of a few packets, and a receiver
/// whose CPU is busy acknowledges in bursts far apart, so a 1 GiB loopback push took 3.3 s
/// instead of 2.5 s (benches/compare-net.sh). 2 ms at the path's rate is a queue nobody feels.
const MIN_BDP_RTT: Duration = Duration::from_millis(2);
/// Paths with a minimum RTT under this are not paced by rate (see `publish`).
const UNPACED_BELOW: Duration = Duration::from_millis(1);
/// The socket paces at this multiple of the model's rate (see the module docs, "Pacing").
const PACING_HEADROOM: f64 = 2.0;
/// The sending rate is a hair under the estimate (Linux: 1%), so the queue drains on average.
const PACING_MARGIN: f64 = 0.99;

/// Builds [`Bbr`] controllers; with a rate cell, each publishes its pacing rate there for the
/// socket to pace by (net::pace).
#[derive(Debug, Default)]
pub struct BbrConfig {
    pub rate: Option<Arc<Rate>>,
}

impl ControllerFactory for BbrConfig {
    fn build(self: Arc<Self>, now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(Bbr { model: Model::new(now, current_mtu), rate: self.rate.clone() })
    }
}

/// The quinn face of [`Model`].
pub struct Bbr {
    model: Model,
    rate: Option<Arc<Rate>>,
}

impl Bbr {
    fn publish(&self) {
        if let Some(r) = &self.rate {
            // On a path this short no queue worth pacing against builds; the timer wakeups
            // would only cost CPU (quinn still paces by the window).
            let short = self.model.min_rtt.map_or(true, |m| m < UNPACED_BELOW);
            let rate = if short { 0 } else { (self.model.pacing_rate() as f64 * PACING_HEADROOM) as u64 };
            r.set(rate, self.model.mtu);
        }
    }
}

impl Controller for Bbr {
    fn on_sent(&mut self, now: Instant, bytes: u64, _last_packet_number: u64) {
        self.model.on_sent(now, bytes);
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool, _rtt: &quinn_proto::RttEstimator) {
        self.model.on_ack(now, sent, bytes, app_limited);
    }

    fn on_end_acks(&mut self, now: Instant, in_flight: u64, app_limited: bool, _largest: Option<u64>) {
        self.model.on_end_acks(now, in_flight, app_limited);
        self.publish();
    }

    fn on_congestion_event(&mut self, now: Instant, _sent: Instant, persistent: bool, lost_bytes: u64) {
        self.model.on_loss(now, persistent, lost_bytes);
        self.publish();
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.model.mtu = u64::from(new_mtu);
    }

    fn window(&self) -> u64 {
        self.model.window()
    }

    fn metrics(&self) -> ControllerMetrics {
        let mut m = ControllerMetrics::default();
        m.congestion_window = self.model.window();
        m.pacing_rate = Some(self.model.pacing_rate().saturating_mul(8));
        m
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(Bbr { model: self.model.clone(), rate: self.rate.clone() })
    }

    fn initial_window(&self) -> u64 {
        INITIAL_PACKETS * self.model.mtu
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// What had been delivered when a packet was sent (one per distinct send time: packets sent
/// at the same instant share it).
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    sent: Instant,
    delivered: u64,
    delivered_time: Instant,
    first_sent: Instant,
    app_limited: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// The model (see the module docs). Rates in bytes per second, sizes in bytes.
#[derive(Clone, Debug)]
pub struct Model {
    mtu: u64,
    mode: Mode,
    snapshots: VecDeque<Snapshot>,
    /// Bytes acknowledged so far, and when the last were.
    delivered: u64,
    delivered_time: Instant,
    /// The send time of the last packet acknowledged (the start of the current send interval).
    first_sent: Instant,
    /// The sample of the ACKs being processed: the newest packet acknowledged in them.
    pending: Option<(Snapshot, Instant)>,
    app_limited: bool,
    /// Round counting.
    round: u64,
    next_round_delivered: u64,
    round_start: bool,
    /// Max delivery rate per round, for the last BW_ROUNDS rounds.
    bw_rounds: VecDeque<(u64, u64)>,
    /// Min RTT and when it was measured.
    min_rtt: Option<Duration>,
    min_rtt_at: Instant,
    /// Full-pipe detection (Startup).
    full_bw: u64,
    full_bw_rounds: u32,
    filled: bool,
    /// ProbeBW's phase and when it began.
    phase: usize,
    phase_at: Instant,
    /// ProbeRTT: when it may end (and whether a round has passed), the window to restore.
    probe_rtt_done: Option<Instant>,
    probe_rtt_round: bool,
    probe_rtt_due: bool,
    prior_cwnd: u64,
    cwnd: u64,
    in_flight: u64,
    /// ACK aggregation (Linux's extra_acked): bytes acknowledged beyond what the bandwidth
    /// explains since the current epoch began, and its max per round over the last rounds.
    ack_epoch_start: Instant,
    ack_epoch_acked: u64,
    acked_now: u64,
    extra_acked: VecDeque<(u64, u64)>,
}

impl Model {
    pub fn new(now: Instant, mtu: u16) -> Self {
        let mtu = u64::from(mtu).max(1);
        Self {
            mtu,
            mode: Mode::Startup,
            snapshots: VecDeque::new(),
            delivered: 0,
            delivered_time: now,
            first_sent: now,
            pending: None,
            app_limited: false,
            round: 0,
            next_round_delivered: 0,
            round_start: false,
            bw_rounds: VecDeque::new(),
            min_rtt: None,
            min_rtt_at: now,
            full_bw: 0,
            full_bw_rounds: 0,
            filled: false,
            phase: 0,
            phase_at: now,
            probe_rtt_done: None,
            probe_rtt_round: false,
            probe_rtt_due: false,
            prior_cwnd: 0,
            cwnd: INITIAL_PACKETS * mtu,
            in_flight: 0,
            ack_epoch_start: now,
            ack_epoch_acked: 0,
            acked_now: 0,
            extra_acked: VecDeque::new(),
        }
    }

    /// The estimated bottleneck bandwidth, bytes per second (0 before the first sample).
    pub fn bandwidth(&self) -> u64 {
        self.bw_rounds.iter().map(|&(_, b)| b).max().unwrap_or(0)
    }

    /// The bandwidth-delay product, or `None` before both are known.
    fn bdp(&self) -> Option<u64> {
        let bw = self.bandwidth();
        let rtt = self.min_rtt?.max(MIN_BDP_RTT);
        (bw > 0).then_some((bw as f64 * rtt.as_secs_f64()) as u64)
    }

    fn pacing_gain(&self) -> f64 {
        match self.mode {
            Mode::Startup => STARTUP_GAIN,
            Mode::Drain => 1.0 / STARTUP_GAIN,
            Mode::ProbeBw => CYCLE[self.phase],
            Mode::ProbeRtt => 1.0,
        }
    }

    /// The rate to send at, bytes per second; 0 (not paced by rate) before the first sample.
    ///
    /// Until the pipe is full it is at least the initial window per min RTT (times the
    /// gain), as BBR's initial pacing rate: the first samples come from the handshake, a few
    /// hundred bytes per round trip, app-limited, and paced at those a connection's first
    /// flights crawled (a 1,228-byte packet waited 28 ms at 80 ms RTT; the first 110 KB chunk
    /// took 440 ms to cross, benches/reach-ttfb.sh).
    pub fn pacing_rate(&self) -> u64 {
        let bw = self.bandwidth();
        let floor = match (self.filled, self.min_rtt) {
            (false, Some(rtt)) if bw > 0 => (INITIAL_PACKETS * self.mtu) as f64 / rtt.max(MIN_BDP_RTT).as_secs_f64(),
            _ => 0.0,
        };
        ((bw as f64).max(floor) * self.pacing_gain() * PACING_MARGIN) as u64
    }

    pub fn window(&self) -> u64 {
        let floor = MIN_PACKETS * self.mtu;
        if self.mode == Mode::ProbeRtt {
            return floor;
        }
        self.cwnd.max(floor)
    }

    pub fn on_sent(&mut self, now: Instant, bytes: u64) {
        if self.in_flight == 0 {
            // A new flight after an idle spell: its send interval starts now.
            self.first_sent = now;
            self.delivered_time = now;
        }
        self.in_flight += bytes;
        if self.snapshots.back().is_some_and(|s| s.sent == now) {
            return;
        }
        if self.snapshots.len() >= MAX_SNAPSHOTS {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(Snapshot {
            sent: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent: self.first_sent,
            app_limited: self.app_limited,
        });
    }

    pub fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, app_limited: bool) {
        self.app_limited = app_limited;
        self.in_flight = self.in_flight.saturating_sub(bytes);
        self.delivered += bytes;
        self.acked_now += bytes;
        self.delivered_time = now;
        let rtt = now.saturating_duration_since(sent);
        let expired = now.saturating_duration_since(self.min_rtt_at) > MIN_RTT_WINDOW;
        if self.min_rtt.map_or(true, |m| rtt <= m) || expired {
            // Stale: take the sample, and see the empty queue again in ProbeRTT.
            self.probe_rtt_due |= expired && self.min_rtt.is_some() && self.mode != Mode::ProbeRtt;
            self.min_rtt = Some(rtt);
            self.min_rtt_at = now;
        }
        // Snapshots of packets sent before this one are of packets acknowledged, lost or
        // not ack-eliciting: none will give a sample now.
        while self.snapshots.front().is_some_and(|s| s.sent < sent) {
            self.snapshots.pop_front();
        }
        if let Some(s) = self.snapshots.front().copied().filter(|s| s.sent == sent) {
            self.first_sent = sent;
            if self.pending.map_or(true, |(p, _)| p.sent <= s.sent) {
                self.pending = Some((s, now));
            }
        }
    }

    pub fn on_end_acks(&mut self, now: Instant, in_flight: u64, app_limited: bool) {
        self.in_flight = in_flight;
        self.app_limited = app_limited;
        let acked = self.pending.take();
        self.round_start = false;
        if let Some((s, _)) = acked {
            if s.delivered >= self.next_round_delivered {
                self.next_round_delivered = self.delivered;
                self.round += 1;
                self.round_start = true;
                self.probe_rtt_round = true;
            }
            self.sample(s);
        }
        let acked_now = std::mem::take(&mut self.acked_now);
        self.update_ack_aggregation(now, acked_now);
        self.update_mode(now);
        self.update_cwnd(acked.is_some());
    }

    /// One delivery-rate sample from the newest packet acknowledged.
    fn sample(&mut self, s: Snapshot) {
        let send_elapsed = s.sent.saturating_duration_since(s.first_sent);
        let ack_elapsed = self.delivered_time.saturating_duration_since(s.delivered_time);
        let interval = send_elapsed.max(ack_elapsed);
        let bytes = self.delivered - s.delivered;
        if interval.is_zero() || self.min_rtt.is_some_and(|m| interval < m) {
            return;
        }
        let rate = (bytes as f64 / interval.as_secs_f64()) as u64;
        // An app-limited sample says only that the path does at least that much.
        if s.app_limited && rate < self.bandwidth() {
            return;
        }
        match self.bw_rounds.back_mut() {
            Some((r, b)) if *r == self.round => *b = (*b).max(rate),
            _ => self.bw_rounds.push_back((self.round, rate)),
        }
        while self.bw_rounds.front().is_some_and(|&(r, _)| r + BW_ROUNDS <= self.round) {
            self.bw_rounds.pop_front();
        }
    }

    /// How far ACKs run ahead of the bandwidth (a receiver that acknowledges in bursts, a
    /// link that delivers in batches): the window keeps that much more in flight, or the
    /// sender stalls between bursts, its samples fall and its share with them. As Linux's
    /// bbr_update_ack_aggregation: max over 5 rounds, capped at the window and at 100 ms of
    /// bandwidth.
    fn update_ack_aggregation(&mut self, now: Instant, acked: u64) {
        let bw = self.bandwidth();
        if acked == 0 || bw == 0 {
            return;
        }
        if self.round_start {
            while self.extra_acked.front().is_some_and(|&(r, _)| r + ACK_AGG_ROUNDS <= self.round) {
                self.extra_acked.pop_front();
            }
        }
        let elapsed = now.saturating_duration_since(self.ack_epoch_start);
        let expected = (bw as f64 * elapsed.as_secs_f64()) as u64;
        if self.ack_epoch_acked <= expected {
            // ACKs are at or behind the rate: a new epoch starts here.
            self.ack_epoch_acked = 0;
            self.ack_epoch_start = now;
        }
        self.ack_epoch_acked += acked;
        let expected = if self.ack_epoch_acked == acked { 0 } else { expected };
        let extra = self.ack_epoch_acked.saturating_sub(expected).min(self.cwnd);
        match self.extra_acked.back_mut() {
            Some((r, e)) if *r == self.round => *e = (*e).max(extra),
            _ => self.extra_acked.push_back((self.round, extra)),
        }
    }

    /// The window's allowance for ACK aggregation (0 until the pipe is full).
    fn aggregation_allowance(&self) -> u64 {
        if !self.filled {
            return 0;
        }
        let max = self.extra_acked.iter().map(|&(_, e)| e).max().unwrap_or(0);
        let cap = (self.bandwidth() as f64 * ACK_AGG_MAX.as_secs_f64()) as u64;
        max.min(cap)
    }

    fn update_mode(&mut self, now: Instant) {
        let bw = self.bandwidth();
        if self.mode == Mode::Startup && self.round_start && !self.app_limited && bw > 0 {
            if bw as f64 >= self.full_bw as f64 * 1.25 {
                self.full_bw = bw;
                self.full_bw_rounds = 0;
            } else {
                self.full_bw_rounds += 1;
                if self.full_bw_rounds >= 3 {
                    self.filled = true;
                    self.mode = Mode::Drain;
                }
            }
        }
        if self.mode == Mode::Drain && self.bdp().is_some_and(|bdp| self.in_flight <= bdp) {
            self.enter_probe_bw(now);
        }
        if self.mode == Mode::ProbeBw {
            let min_rtt = self.min_rtt.unwrap_or(Duration::ZERO);
            let elapsed = now.saturating_duration_since(self.phase_at) > min_rtt;
            let bdp = self.bdp().unwrap_or(0);
            let gain = CYCLE[self.phase];
            let advance = if gain > 1.0 {
                elapsed && self.in_flight as f64 >= gain * bdp as f64
            } else if gain < 1.0 {
                elapsed || self.in_flight <= bdp
            } else {
                elapsed
            };
            // A probe that cannot fill 1.25 BDP (app-limited, or the window) ends after 2 RTTs.
            let stuck = gain > 1.0 && now.saturating_duration_since(self.phase_at) > 2 * min_rtt;
            if advance || stuck {
                self.phase = (self.phase + 1) % CYCLE.len();
                self.phase_at = now;
            }
        }
        // ProbeRTT: the min RTT was stale.
        if std::mem::take(&mut self.probe_rtt_due) && self.mode != Mode::ProbeRtt {
            self.prior_cwnd = self.cwnd;
            self.mode = Mode::ProbeRtt;
            self.probe_rtt_done = None;
        }
        if self.mode == Mode::ProbeRtt {
            match self.probe_rtt_done {
                None if self.in_flight <= MIN_PACKETS * self.mtu => {
                    self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                    self.probe_rtt_round = false;
                }
                Some(done) if now >= done && self.probe_rtt_round => {
                    self.min_rtt_at = now;
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    if self.filled {
                        self.enter_probe_bw(now);
                    } else {
                        self.mode = Mode::Startup;
                    }
                }
                _ => {}
            }
        }
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        // Start in a cruising phase (not the probe) so flows do not probe in step.
        self.phase = 2 + (self.round as usize % (CYCLE.len() - 2));
        self.phase_at = now;
    }

    fn update_cwnd(&mut self, acked_something: bool) {
        let Some(bdp) = self.bdp() else { return };
        let gain = match self.mode {
            _ if !self.filled => STARTUP_GAIN,
            // The probe must be able to raise the data in flight, or a sender whose window
            // binds (a queue standing behind a competing flow) never learns that more of the
            // link is free: its share would stay whatever it started with.
            Mode::ProbeBw if CYCLE[self.phase] > 1.0 => CWND_GAIN * PROBE_CWND_GAIN,
            _ => CWND_GAIN,
        };
        let target =
            ((bdp as f64 * gain) as u64).max(MIN_PACKETS * self.mtu) + 3 * self.mtu + self.aggregation_allowance();
        if !acked_something {
            return;
        }
        if self.filled {
            self.cwnd = target;
        } else {
            // Startup grows like slow start, up to the target.
            self.cwnd = self.cwnd.max(target.min(self.cwnd.saturating_mul(2)));
        }
    }

    pub fn on_loss(&mut self, _now: Instant, persistent: bool, _lost: u64) {
        if persistent {
            // Nothing arrives at all: start over from the minimum window and a fresh model.
            self.cwnd = MIN_PACKETS * self.mtu;
            self.bw_rounds.clear();
            self.full_bw = 0;
            self.full_bw_rounds = 0;
            self.filled = false;
            self.mode = Mode::Startup;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bottleneck link in virtual time: a sender paced by the model, a FIFO queue served at
    /// `rate` bytes per second holding at most `queue` bytes, `delay` each way, and random
    /// loss of 1 in `loss_every` packets (0: none). Returns (bytes delivered in the second
    /// half of the run, the worst queueing delay seen then, the model).
    fn simulate(rate: u64, delay: Duration, queue: u64, loss_every: u64, run: Duration) -> (u64, Duration, Model) {
        const PKT: u64 = 1200;
        let t0 = Instant::now();
        let mut m = Model::new(t0, PKT as u16);
        let mut now = t0;
        let mut next_send = t0;
        let mut link_free = t0;
        // In the queue or on the wire: (arrival at the receiver, sent at).
        let mut wire: VecDeque<(Instant, Instant)> = VecDeque::new();
        let mut acks: VecDeque<(Instant, Instant)> = VecDeque::new();
        let mut in_flight = 0u64;
        let mut n = 0u64;
        let (mut late_bytes, mut worst_queue) = (0u64, Duration::ZERO);
        let half = t0 + run / 2;
        let tick = Duration::from_micros(100);
        while now < t0 + run {
            // Send what the window and the pacing rate allow.
            while in_flight + PKT <= m.window() && next_send <= now {
                m.on_sent(now, PKT);
                in_flight += PKT;
                n += 1;
                let r = m.pacing_rate();
                // From the previous slot, not from the tick, so the tick does not round the rate.
                next_send = if r == 0 {
                    now
                } else {
                    next_send.max(now - tick) + Duration::from_secs_f64(PKT as f64 / r as f64)
                };
                let backlog = link_free.saturating_duration_since(now);
                let queued = (backlog.as_secs_f64() * rate as f64) as u64;
                if (loss_every > 0 && n % loss_every == 0) || queued + PKT > queue {
                    // Lost: quinn would declare it after ~1 RTT; count it as lost at once.
                    in_flight -= PKT;
                    m.on_loss(now, false, PKT);
                    continue;
                }
                if now >= half {
                    worst_queue = worst_queue.max(backlog);
                }
                link_free = link_free.max(now) + Duration::from_secs_f64(PKT as f64 / rate as f64);
                wire.push_back((link_free + delay, now));
            }
            while wire.front().is_some_and(|&(at, _)| at <= now) {
                let (at, sent) = wire.pop_front().unwrap();
                acks.push_back((at + delay, sent));
            }
            let mut any = false;
            while acks.front().is_some_and(|&(at, _)| at <= now) {
                let (_, sent) = acks.pop_front().unwrap();
                in_flight -= PKT;
                m.on_ack(now, sent, PKT, false);
                if now >= half {
                    late_bytes += PKT;
                }
                any = true;
            }
            if any {
                m.on_end_acks(now, in_flight, false);
            }
            now += tick;
        }
        (late_bytes, worst_queue, m)
    }

    const MBIT: u64 = 1_000_000 / 8;

    #[test]
    fn it_fills_a_clean_link_without_a_standing_queue() {
        // 20 Mbit/s, RTT 40 ms, a 50 ms queue, 10 virtual seconds.
        let rate = 20 * MBIT;
        let (bytes, queue, m) = simulate(rate, Duration::from_millis(20), rate / 20, 0, Duration::from_secs(10));
        let got = bytes as f64 / 5.0 / rate as f64;
        assert!(got > 0.95, "used {:.0}% of the link", got * 100.0);
        let bw = m.bandwidth() as f64 / rate as f64;
        assert!((0.9..1.1).contains(&bw), "estimated {:.2} of the true rate", bw);
        // BBR's probes queue up to a quarter of a BDP (10 ms here), never a whole BDP.
        assert!(queue < Duration::from_millis(25), "a standing queue of {queue:?}");
    }

    #[test]
    fn random_loss_does_not_slow_it_down() {
        // RTT 80 ms, 1% loss: a loss-based controller would crawl; the model keeps the rate.
        let rate = 50 * MBIT;
        let (bytes, _, _) = simulate(rate, Duration::from_millis(40), rate / 10, 100, Duration::from_secs(10));
        let got = bytes as f64 / 5.0 / rate as f64;
        assert!(got > 0.9, "used {:.0}% of the link at 1% loss", got * 100.0);
    }

    #[test]
    fn a_deep_queue_does_not_fill() {
        // Bufferbloat: 10 Mbit/s behind a 1 s queue; the queue stays short.
        let rate = 10 * MBIT;
        let (bytes, queue, _) = simulate(rate, Duration::from_millis(5), rate, 0, Duration::from_secs(20));
        assert!(bytes as f64 / 10.0 / rate as f64 > 0.9);
        assert!(queue < Duration::from_millis(50), "the queue grew to {queue:?}");
    }

    #[test]
    fn probe_rtt_comes_every_ten_seconds_and_ends() {
        let rate = 20 * MBIT;
        let (bytes, _, m) = simulate(rate, Duration::from_millis(10), rate / 20, 0, Duration::from_secs(25));
        assert!(bytes as f64 / 12.5 / rate as f64 > 0.85, "ProbeRTT cost too much");
        assert_ne!(m.mode, Mode::Startup);
    }

    #[test]
    fn snapshots_stay_bounded_when_nothing_is_acknowledged() {
        let t0 = Instant::now();
        let mut m = Model::new(t0, 1200);
        for i in 0..(MAX_SNAPSHOTS as u64 + 1000) {
            m.on_sent(t0 + Duration::from_micros(i), 1200);
        }
        assert_eq!(m.snapshots.len(), MAX_SNAPSHOTS);
    }

    #[test]
    fn before_any_ack_it_is_not_paced_and_has_the_initial_window() {
        let m = Model::new(Instant::now(), 1200);
        assert_eq!(m.pacing_rate(), 0);
        assert_eq!(m.window(), INITIAL_PACKETS * 1200);
    }

    #[test]
    fn a_handshake_trickle_does_not_slow_the_first_flights() {
        // A handshake's few small, app-limited packets per round trip give a tiny first
        // sample; startup still paces at least the initial window per RTT, times its gain.
        let t0 = Instant::now();
        let rtt = Duration::from_millis(80);
        let mut m = Model::new(t0, 1200);
        m.on_sent(t0, 100);
        m.on_ack(t0 + rtt, t0, 100, true);
        m.on_end_acks(t0 + rtt, 0, true);
        assert!(m.bandwidth() > 0 && m.bandwidth() < 2000, "sample {}", m.bandwidth());
        let floor = (INITIAL_PACKETS * 1200) as f64 / rtt.as_secs_f64() * STARTUP_GAIN * PACING_MARGIN;
        assert!(m.pacing_rate() as f64 >= floor * 0.999, "paced at {} B/s", m.pacing_rate());
    }

    #[test]
    fn persistent_congestion_starts_over_from_the_minimum() {
        let rate = 20 * MBIT;
        let (_, _, mut m) = simulate(rate, Duration::from_millis(10), rate / 20, 0, Duration::from_secs(3));
        m.on_loss(Instant::now(), true, 0);
        assert_eq!(m.window(), MIN_PACKETS * 1200);
        assert_eq!(m.mode, Mode::Startup);
    }
}
