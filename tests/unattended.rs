//! Unattended runs (issue 12): one run per destination root at a time (a lock beside its
//! manifest, `--wait-lock`, exit 35), and a cron-like environment (`env -i` with only HOME and
//! PATH, no terminal, `--json`): stdout holds only JSON lines, stderr stays empty on success.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

#[test]
fn a_second_run_on_a_locked_destination_fails_or_waits_and_never_interleaves() {
    let td = TestDir::new();
    let src = td.mkdir("src");
    gen_tree(&src, 7);
    let dst = td.join("dst");
    let manifest = td.join("m.db");
    let lock_path = td.join("m.db.lock");
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let sync = |extra: &[&str]| {
        let mut c = td.pcp();
        c.args(["sync", "-a", "--manifest"]).arg(&manifest).args(extra).arg(slash(&src)).arg(&dst);
        c
    };
    // Held by someone else, no wait: exit 35 at once, nothing written.
    let o = run_timeout(&mut sync(&[]), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(35), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in use by another pcp run") && err.contains("--wait-lock"), "{err}");
    assert!(!dst.exists() || fs::read_dir(&dst).unwrap().next().is_none(), "a locked-out run wrote");
    // With --wait-lock it waits for the holder, then runs.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(lock);
    });
    let o = run_timeout(&mut sync(&["--wait-lock", "30"]), Duration::from_secs(60));
    releaser.join().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_trees_equal(&src, &dst);
    // Two real runs at once: one waits for the other; both succeed, the tree is whole.
    fs::remove_dir_all(&dst).unwrap();
    let spawn = || sync(&["--wait-lock", "60"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_trees_equal(&src, &dst);
}

#[test]
fn a_cron_like_run_prints_only_json_on_stdout_and_nothing_on_stderr() {
    let td = TestDir::new();
    let src = td.mkdir("src");
    gen_tree(&src, 11);
    let dst = td.join("dst");
    let home = td.home();
    fs::create_dir_all(&home).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let run = |dst: &std::path::Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pcp"));
        c.env_clear().env("HOME", &home).env("PATH", &path).env("PCP_NO_MDNS", "1").stdin(Stdio::null());
        c.args(["sync", "-a", "--json"]).arg(slash(&src)).arg(dst);
        run_timeout(&mut c, Duration::from_secs(60))
    };
    let o = run(&dst);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "stderr is not empty in a cron-like run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.trim().is_empty());
    for line in out.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    }
    assert_trees_equal(&src, &dst);
    // On failure: the documented exit code (3: the source cannot be opened), still JSON only.
    let o = {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pcp"));
        c.env_clear().env("HOME", &home).env("PATH", &path).env("PCP_NO_MDNS", "1").stdin(Stdio::null());
        c.args(["sync", "-a", "--json"]).arg(td.join("missing/")).arg(&dst);
        run_timeout(&mut c, Duration::from_secs(60))
    };
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
    }
}
