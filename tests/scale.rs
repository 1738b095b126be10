//! Scale (issue 11): memory stays bounded as the tree grows. The file list is windowed
//! (`Progress`), the source forgets finished entries and the destination keeps 8 bytes per
//! listed path, so ten times the files must not mean ten times the memory.

use std::path::Path;
use std::process::Command;

use crate::util::*;

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// `n` small files (100 B - 4 KiB, seeded) in directories of 143.
fn small_tree(root: &Path, n: usize) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 4096];
    for i in 0..n {
        let d = root.join(format!("d{:05}", i / 143));
        if i % 143 == 0 {
            std::fs::create_dir_all(&d).unwrap();
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 100 + (x % 3997) as usize;
        for (j, b) in buf[..len].iter_mut().enumerate() {
            *b = (x >> (j % 57)) as u8 ^ j as u8;
        }
        std::fs::write(d.join(format!("f{:03}", i % 143)), &buf[..len]).unwrap();
    }
}

/// `pcp ARGS...` in `td` under `/usr/bin/time` (GNU time; `.ci/run` installs it), writing the
/// peak RSS to `rss`.
fn timed_pcp(td: &TestDir, rss: &Path, args: &[&str]) -> Command {
    let pcp = td.pcp();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o", &s(rss)]).arg(pcp.get_program()).args(args);
    for (k, v) in pcp.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(td.path()).stdout(std::process::Stdio::null());
    cmd
}

/// The peak RSS in KiB that `/usr/bin/time -f %M` wrote to `rss`.
fn peak_kib(rss: &Path) -> u64 {
    let text = std::fs::read_to_string(rss).unwrap();
    text.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no RSS in {text:?}"))
}

/// Run `pcp ARGS...` in `td` under `/usr/bin/time`: its exit status and peak RSS in KiB.
fn run_with_peak_rss(td: &TestDir, args: &[&str]) -> (bool, u64) {
    let rss = td.join("rss.txt");
    let out = timed_pcp(td, &rss, args).output().expect("/usr/bin/time is needed (apt-get install time)");
    (out.status.success(), peak_kib(&rss))
}

/// Ten times the files must not mean ten times the memory: at most 64 bytes per extra file
/// and 1.3x the smaller run's peak.
fn assert_bounded(what: &str, rss: &[(u64, u64)]) {
    let ((n0, small), (n1, big)) = (rss[0], rss[1]);
    let per_file = big.saturating_sub(small) * 1024 / (n1 - n0);
    assert!(
        per_file <= 64 && big * 10 <= small * 13,
        "{what}: peak RSS grew from {small} KiB ({n0} files) to {big} KiB ({n1} files): {per_file} bytes per extra file"
    );
}

/// Ten times the files: about the same memory. Before the windowed list a file cost ~800 bytes
/// of peak RSS (730 MiB at a million files); now the destination keeps an 8-byte key per listed
/// path and nothing else grows with the tree. Measured here: 10,000 files 15.7 MiB, 100,000
/// files 17.7 MiB (23 bytes per extra file, 1.13x), debug build.
#[test]
fn memory_stays_bounded_as_the_tree_grows() {
    let td = TestDir::new();
    let mut rss = Vec::new();
    for n in [10_000u64, 100_000] {
        let src = td.join(format!("src{n}"));
        small_tree(&src, n as usize);
        let (ok, kib) = run_with_peak_rss(&td, &["sync", "-a", &format!("{}/", s(&src)), &format!("dst{n}/")]);
        assert!(ok, "sync of {n} files failed");
        assert_eq!(std::fs::read_dir(td.join(format!("dst{n}/d00000"))).unwrap().count(), 143);
        rss.push((n, kib));
        std::fs::remove_dir_all(&src).unwrap();
        std::fs::remove_dir_all(td.join(format!("dst{n}"))).unwrap();
    }
    eprintln!("peak RSS KiB (files, KiB): {rss:?}");
    assert_bounded("local sync", &rss);
}

/// The same over the network, for both processes: `pcp serve --once` receiving a push over
/// loopback QUIC, and the pushing `pcp sync`. Measured here (debug build), 10,000 -> 100,000
/// files: sender 16.5 -> 17.3 MiB (10 bytes per extra file), receiver 16.2 -> 18.4 MiB (25).
#[test]
fn network_memory_stays_bounded_as_the_tree_grows() {
    let td = TestDir::new();
    let (mut sent, mut served) = (Vec::new(), Vec::new());
    for n in [10_000u64, 100_000] {
        let src = td.join(format!("src{n}"));
        small_tree(&src, n as usize);
        let srv = td.mkdir(format!("srv{n}"));
        let (serve_rss, push_rss, err) =
            (td.join("serve-rss.txt"), td.join("push-rss.txt"), td.join(format!("serve{n}.err")));
        let code = "scale-abandon-ability-able";
        let mut serve = timed_pcp(&td, &serve_rss, &["serve", &s(&srv), "--once", "--listen", "127.0.0.1:0"]);
        serve.env("PCP_CODE", code).stderr(std::fs::File::create(&err).unwrap());
        let mut child = serve.spawn().expect("/usr/bin/time is needed (apt-get install time)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let addr = loop {
            let text = std::fs::read_to_string(&err).unwrap_or_default();
            if let Some(a) = text.lines().find_map(|l| l.strip_prefix("Listening on ")) {
                break a.trim().to_owned();
            }
            assert!(std::time::Instant::now() < deadline, "serve printed no address:\n{text}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut push =
            timed_pcp(&td, &push_rss, &["sync", "-a", &format!("{}/", s(&src)), "peer:dst/", "--addr", &addr]);
        let out = run_timeout(push.env("PCP_CODE", code), std::time::Duration::from_secs(300));
        assert!(out.status.success(), "push of {n} files failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(child.wait().unwrap().success(), "serve failed: {}", std::fs::read_to_string(&err).unwrap());
        assert_eq!(std::fs::read_dir(srv.join("dst/d00000")).unwrap().count(), 143);
        sent.push((n, peak_kib(&push_rss)));
        served.push((n, peak_kib(&serve_rss)));
        std::fs::remove_dir_all(&src).unwrap();
        std::fs::remove_dir_all(&srv).unwrap();
    }
    eprintln!("peak RSS KiB (files, KiB): pushing {sent:?}, receiving {served:?}");
    assert_bounded("pushing pcp sync", &sent);
    assert_bounded("receiving pcp serve", &served);
}
