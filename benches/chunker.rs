//! Criterion benches: chunk + hash throughput, hash alone, and a 1 GiB local sync (fresh and
//! no-op). Run with `cargo bench`; figures go in the issue notes, never in tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pcp::chunk::{chunk_all, ChunkHash, ChunkParams};

fn data(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    let mut h = blake3::Hasher::new();
    h.update(b"pcp bench");
    h.finalize_xof().fill(&mut out);
    out
}

fn chunking(c: &mut Criterion) {
    let d = data(64 << 20);
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Bytes(d.len() as u64));
    g.measurement_time(Duration::from_secs(8));
    g.sample_size(10);
    g.bench_function("fastcdc+blake3 64MiB", |b| {
        b.iter(|| chunk_all(black_box(&d[..]), ChunkParams::DEFAULT).unwrap())
    });
    g.bench_function("blake3 per 64KiB 64MiB", |b| {
        b.iter(|| d.chunks(65536).fold(0u8, |a, c| a ^ ChunkHash::of(black_box(c)).0[0]))
    });
    g.finish();
}

/// 1 GiB by default (`PCP_BENCH_MIB` overrides), on tmpfs when /dev/shm exists.
fn local_sync(c: &mut Criterion) {
    let mib: usize = std::env::var("PCP_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() };
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), data(mib << 20)).unwrap();
    let bin = env!("CARGO_BIN_EXE_pcp");
    let state = dir.path().join("state");
    let run = |dst: &std::path::Path| {
        let st = std::process::Command::new(bin)
            .args(["sync", "-a", "--no-fsync"])
            .arg(format!("{}/", src.display()))
            .arg(dst)
            .env("XDG_STATE_HOME", &state)
            .status()
            .unwrap();
        assert!(st.success());
    };
    let mut g = c.benchmark_group("local sync");
    g.throughput(Throughput::Bytes((mib as u64) << 20));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let mut n = 0;
    g.bench_function("fresh", |b| {
        b.iter(|| {
            n += 1;
            let dst = dir.path().join(format!("dst{n}"));
            run(&dst);
            std::fs::remove_dir_all(&dst).unwrap();
        })
    });
    let dst = dir.path().join("noop");
    run(&dst);
    g.bench_function("no-op rerun", |b| b.iter(|| run(&dst)));
    g.finish();
}

criterion_group!(benches, chunking, local_sync);
criterion_main!(benches);
