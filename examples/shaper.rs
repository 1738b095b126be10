//! A WAN link emulator for benchmarks and tests (this kernel has no `sch_netem`): it owns a TUN
//! device in a router namespace, reads every packet the kernel routes into it, and writes it
//! back after the link's delay, so TCP and UDP see the same link. Per direction (by destination
//! /24): one-way delay with optional jitter, random loss, and a rate with a bounded queue
//! (tail drop past `--queue-ms`: the bufferbloat case). `benches/wan-link.sh` builds the three
//! namespaces around it (policy routing sends packets that come out of the TUN to the veths).
//!
//! Usage: `shaper DEV [--delay-ms N] [--jitter-ms N] [--reorder] [--loss PERCENT] [--rate-mbit N]
//! [--queue-ms N] [--report-ms N] [--seconds N]`. It stops after `--seconds` (default 600) or
//! when killed.
//!
//! Jitter adds a random extra delay in [0, N] ms to each packet but keeps each direction's
//! packets in order (a Wi-Fi or cellular link holds packets back, it rarely swaps them);
//! `--reorder` lets a later packet overtake an earlier one, as netem's jitter does.
//! `--report-ms N` prints, every N ms, one line of the bytes that passed in that interval per
//! protocol and destination: `report T_MS udp:198.51.100.2=BYTES tcp:198.51.100.2=BYTES ...`
//! (the fairness run reads the shares of the link from it). `--trace` prints one line per
//! packet (arrival time since start, wall clock in µs since
//! the epoch, destination, protocol, size): round trips can be counted from it.

#![allow(unsafe_code)] // two syscalls with no safe wrapper (TUNSETIFF); each is argued below.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool: failing loudly is the right thing

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

fn open_tun(name: &str) -> File {
    let f = OpenOptions::new().read(true).write(true).open("/dev/net/tun").expect("open /dev/net/tun");
    let mut req = IfReq { name: [0; 16], flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short, _pad: [0; 22] };
    assert!(name.len() < 16, "device name too long");
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq` (40 bytes on Linux: a 16-byte name
    // and a 24-byte union whose first field is the short flags); `IfReq` has that layout and
    // lives for the whole call; the fd is an open /dev/net/tun.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    assert!(r == 0, "TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    f
}

#[derive(Clone, Copy)]
struct Link {
    delay: Duration,
    jitter: Duration,
    loss: f64,
    /// Bytes per second (0: unlimited).
    rate: f64,
    queue: Duration,
    reorder: bool,
}

/// xorshift64*: a seeded generator is all a loss and jitter model needs.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Queue = Arc<(Mutex<BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>>, Condvar)>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dev = args.get(1).expect("usage: shaper DEV [--delay-ms N] ...").clone();
    let opt = |name: &str, default: f64| -> f64 {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect(name))
    };
    let link = Link {
        delay: Duration::from_secs_f64(opt("--delay-ms", 0.0) / 1000.0),
        jitter: Duration::from_secs_f64(opt("--jitter-ms", 0.0) / 1000.0),
        loss: opt("--loss", 0.0) / 100.0,
        rate: opt("--rate-mbit", 0.0) * 1e6 / 8.0,
        queue: Duration::from_secs_f64(opt("--queue-ms", 1000.0) / 1000.0),
        reorder: args.iter().any(|a| a == "--reorder"),
    };
    let report = Duration::from_secs_f64(opt("--report-ms", 0.0) / 1000.0);
    let trace = args.iter().any(|a| a == "--trace");
    let started = Instant::now();
    let mut next_report = started + report;
    // Bytes passed this interval per (protocol number, destination).
    let mut counted: std::collections::BTreeMap<(u8, [u8; 4]), u64> = Default::default();
    let stop = Instant::now() + Duration::from_secs_f64(opt("--seconds", 600.0));
    let tun = open_tun(&dev);
    let mut reader = tun.try_clone().expect("dup tun");
    let mut writer = tun;
    let q: Queue = Arc::new((Mutex::new(BinaryHeap::new()), Condvar::new()));

    let q2 = q.clone();
    std::thread::spawn(move || loop {
        let (lock, cv) = &*q2;
        let mut heap = lock.lock().unwrap();
        loop {
            let now = Instant::now();
            match heap.peek() {
                Some(Reverse((due, _, _))) if *due <= now => break,
                Some(Reverse((due, _, _))) => {
                    let wait = *due - now;
                    heap = cv.wait_timeout(heap, wait).unwrap().0;
                }
                None => heap = cv.wait(heap).unwrap(),
            }
        }
        let Some(Reverse((_, _, pkt))) = heap.pop() else { continue };
        drop(heap);
        let _ = writer.write(&pkt);
    });

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Per direction: when the link is free again (serialization at `rate`).
    let mut free_at: HashMap<[u8; 4], Instant> = HashMap::new();
    // Per direction: the latest due time handed out (in-order jitter never goes below it).
    let mut last_due: HashMap<[u8; 4], Instant> = HashMap::new();
    // Tail drops per (protocol, destination) since the last report.
    let mut dropped: HashMap<(u8, [u8; 4]), u64> = HashMap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; 65536];
    let (mut passed, mut lost, mut tail) = (0u64, 0u64, 0u64);
    while Instant::now() < stop {
        let n = match reader.read(&mut buf) {
            Ok(n) if n >= 20 => n,
            Ok(_) => continue,
            Err(e) => panic!("reading {dev}: {e}"),
        };
        if buf[0] >> 4 != 4 {
            continue; // IPv4 only (the namespaces use documentation-range IPv4)
        }
        if link.loss > 0.0 && rng.unit() < link.loss {
            lost += 1;
            continue;
        }
        let now = Instant::now();
        let dst = [buf[16], buf[17], buf[18], buf[19]];
        // A direction is the destination's /24 (each side of the link is one /24), so two
        // flows to two addresses of one side share that direction's rate and queue.
        let dir = [buf[16], buf[17], buf[18], 0];
        let mut depart = now;
        if link.rate > 0.0 {
            let free = free_at.entry(dir).or_insert(now);
            let start = (*free).max(now);
            if start - now > link.queue {
                tail += 1;
                if !report.is_zero() {
                    *dropped.entry((buf[9], dst)).or_default() += 1;
                }
                continue;
            }
            depart = start + Duration::from_secs_f64(n as f64 / link.rate);
            *free = depart;
        }
        let jitter = link.jitter.mul_f64(rng.unit());
        let mut due = depart + link.delay + jitter;
        if !link.reorder {
            let last = last_due.entry(dir).or_insert(due);
            due = due.max(*last);
            *last = due;
        }
        if trace {
            eprintln!(
                "trace {:.1} ms at {} to {}.{}.{}.{} proto {} {n} bytes",
                (now - started).as_secs_f64() * 1000.0,
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros()),
                dst[0],
                dst[1],
                dst[2],
                dst[3],
                buf[9]
            );
        }
        if !report.is_zero() {
            *counted.entry((buf[9], dst)).or_default() += n as u64;
            if now >= next_report {
                let mut line = format!("report {}", (now - started).as_millis());
                for ((proto, d), bytes) in std::mem::take(&mut counted) {
                    let name = match proto {
                        6 => "tcp".to_owned(),
                        17 => "udp".to_owned(),
                        p => format!("p{p}"),
                    };
                    line.push_str(&format!(" {name}:{}.{}.{}.{}={bytes}", d[0], d[1], d[2], d[3]));
                }
                for ((proto, d), n) in std::mem::take(&mut dropped) {
                    line.push_str(&format!(" dropped-{proto}:{}.{}.{}.{}={n}", d[0], d[1], d[2], d[3]));
                }
                eprintln!("{line}");
                next_report = now + report;
            }
        }
        seq += 1;
        passed += 1;
        let (lock, cv) = &*q;
        lock.lock().unwrap().push(Reverse((due, seq, buf[..n].to_vec())));
        cv.notify_one();
        if passed % 100_000 == 0 {
            eprintln!("shaper {dev}: {passed} passed, {lost} lost, {tail} tail-dropped");
        }
    }
}
