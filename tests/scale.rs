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

/// Run `pcp ARGS...` in `td` under `/usr/bin/time` (GNU time; `.ci/run` installs it): its exit
/// status and peak RSS in KiB.
fn run_with_peak_rss(td: &TestDir, args: &[&str]) -> (bool, u64) {
    let pcp = td.pcp();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o", &s(&td.join("rss.txt"))]).arg(pcp.get_program()).args(args);
    for (k, v) in pcp.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(td.path()).stdout(std::process::Stdio::null());
    let out = cmd.output().expect("/usr/bin/time is needed (apt-get install time)");
    let text = std::fs::read_to_string(td.join("rss.txt")).unwrap();
    let kib = text.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("no RSS in {text:?}"));
    (out.status.success(), kib)
}

/// Ten times the files: about the same memory. Before the windowed list a file cost ~800 bytes
/// of peak RSS (730 MiB at a million files); now the destination keeps an 8-byte key per listed
/// path and nothing else grows with the tree. Measured here: 10,000 files 15.7 MiB, 100,000
/// files 18.3 MiB (29 bytes per extra file, 1.17x), debug build.
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
    let ((n0, small), (n1, big)) = (rss[0], rss[1]);
    let per_file = big.saturating_sub(small) * 1024 / (n1 - n0);
    assert!(
        per_file <= 64 && big * 10 <= small * 13,
        "peak RSS grew from {small} KiB ({n0} files) to {big} KiB ({n1} files): {per_file} bytes per extra file"
    );
}
