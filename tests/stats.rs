//! What --stats/--json report for the cases the core engine promises: a no-op rerun reads no
//! content, a 1 MiB edit moves ~1 MiB, an insertion at the front moves at most 2 chunks, a renamed
//! file moves nothing, a corrupt manifest is rebuilt.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::util::{hash_file, run_ok, set_mtime, write_seeded_file, TestDir};

fn summary(out: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.contains("\"summary\"")).unwrap_or_else(|| panic!("no summary in {text}"));
    serde_json::from_str(line).unwrap()
}

fn sync_json(t: &TestDir, args: &[&str]) -> Value {
    let out = run_ok(t.pcp().args(["sync", "-a", "--json"]).args(args));
    summary(&out)
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn touch_later(p: &Path) {
    set_mtime(p, SystemTime::now() + Duration::from_secs(7));
}

#[test]
fn noop_rerun_reads_no_content() {
    let t = TestDir::new();
    write_seeded_file(&t.join("src/big.bin"), 1, 8 << 20);
    for i in 0..300 {
        t.write(format!("src/d{}/f{i}", i % 7), format!("small file {i}"));
    }
    let first = sync_json(&t, &["src/", "dst/"]);
    assert_eq!(n(&first, "files_transferred"), 301);
    let again = sync_json(&t, &["src/", "dst/"]);
    assert_eq!(n(&again, "source_read"), 0);
    assert_eq!(n(&again, "dest_read"), 0);
    assert_eq!(n(&again, "bytes_sent"), 0);
    assert_eq!(n(&again, "files_transferred"), 0);
}

#[test]
fn one_mib_edit_moves_about_one_mib() {
    let t = TestDir::new();
    let f = t.join("src/big.bin");
    write_seeded_file(&f, 2, 64 << 20);
    sync_json(&t, &["src/", "dst/"]);
    let mut data = std::fs::read(&f).unwrap();
    let mut patch = vec![0u8; 1 << 20];
    crate::util::seeded_stream(99).fill(&mut patch);
    data[32 << 20..(32 << 20) + (1 << 20)].copy_from_slice(&patch);
    std::fs::write(&f, &data).unwrap();
    touch_later(&f);
    let s = sync_json(&t, &["--stats", "src/", "dst/"]);
    assert!(n(&s, "bytes_sent") <= 1_258_291, "sent {} bytes for a 1 MiB edit", n(&s, "bytes_sent"));
    assert_eq!(hash_file(&f), hash_file(&t.join("dst/big.bin")));
}

#[test]
fn insertion_at_front_moves_at_most_two_chunks() {
    let t = TestDir::new();
    let f = t.join("src/big.bin");
    write_seeded_file(&f, 3, 16 << 20);
    sync_json(&t, &["src/", "dst/"]);
    let mut data = vec![b'Z'; 100];
    data.extend(std::fs::read(&f).unwrap());
    std::fs::write(&f, &data).unwrap();
    let s = sync_json(&t, &["src/", "dst/"]);
    assert!(n(&s, "chunks_sent") <= 2, "{s}");
    assert_eq!(hash_file(&f), hash_file(&t.join("dst/big.bin")));
}

#[test]
fn renamed_file_sends_no_chunk_data() {
    let t = TestDir::new();
    write_seeded_file(&t.join("src/a/old.bin"), 4, 24 << 20);
    sync_json(&t, &["src/", "dst/"]);
    std::fs::create_dir_all(t.join("src/b")).unwrap();
    std::fs::rename(t.join("src/a/old.bin"), t.join("src/b/new name.bin")).unwrap();
    let s = sync_json(&t, &["--delete", "src/", "dst/"]);
    assert_eq!(n(&s, "bytes_sent"), 0, "{s}");
    assert!(n(&s, "chunks_reused") > 0);
    assert!(!t.join("dst/a/old.bin").exists());
    assert_eq!(hash_file(&t.join("src/b/new name.bin")), hash_file(&t.join("dst/b/new name.bin")));
}

#[test]
fn corrupt_manifest_is_rebuilt_and_sync_stays_correct() {
    let t = TestDir::new();
    write_seeded_file(&t.join("src/x.bin"), 5, 1 << 20);
    let m = t.join("m.db");
    std::fs::write(&m, vec![0xAB; 8192]).unwrap();
    let mp = m.to_str().unwrap();
    sync_json(&t, &["--manifest", mp, "src/", "dst/"]);
    assert_eq!(hash_file(&t.join("src/x.bin")), hash_file(&t.join("dst/x.bin")));
    // Corrupt it again between runs; a changed source must still arrive intact.
    std::fs::write(&m, b"garbage").unwrap();
    write_seeded_file(&t.join("src/x.bin"), 6, 1 << 20);
    touch_later(&t.join("src/x.bin"));
    sync_json(&t, &["--manifest", mp, "src/", "dst/"]);
    assert_eq!(hash_file(&t.join("src/x.bin")), hash_file(&t.join("dst/x.bin")));
}

/// T13: a destination name that is a symlink to a file outside is replaced, never written through.
#[test]
fn t13_symlink_at_destination_name_is_replaced_not_followed() {
    let t = TestDir::new();
    let victim = t.write("victim", "precious");
    t.write("src/f", "new content");
    std::fs::create_dir_all(t.join("dst")).unwrap();
    std::os::unix::fs::symlink(&victim, t.join("dst/f")).unwrap();
    sync_json(&t, &["src/", "dst/"]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(t.join("dst/f")).unwrap().is_file());
    assert_eq!(t.read("dst/f"), b"new content");
}

/// T12: a pre-existing destination symlink to a directory outside never receives files.
#[test]
fn t12_symlinked_directory_at_destination_is_not_followed() {
    let t = TestDir::new();
    let outside = t.mkdir("outside");
    t.write("src/logs/x", "data");
    std::fs::create_dir_all(t.join("dst")).unwrap();
    std::os::unix::fs::symlink(&outside, t.join("dst/logs")).unwrap();
    sync_json(&t, &["src/", "dst/"]);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing may land outside dst");
    assert!(std::fs::symlink_metadata(t.join("dst/logs")).unwrap().is_dir());
    assert_eq!(t.read("dst/logs/x"), b"data");
}

#[test]
fn excluded_files_are_not_sent_and_not_deleted() {
    let t = TestDir::new();
    t.write("src/keep.txt", "k");
    t.write("src/skip.tmp", "s");
    t.write("src/.pcpignore", "ignored-dir/\n");
    t.write("src/ignored-dir/x", "x");
    t.write("dst/local.tmp", "mine");
    sync_json(&t, &["--delete", "--exclude", "*.tmp", "src/", "dst/"]);
    assert!(t.join("dst/keep.txt").exists());
    assert!(!t.join("dst/skip.tmp").exists());
    assert!(!t.join("dst/ignored-dir").exists());
    assert!(t.join("dst/local.tmp").exists(), "excluded files are protected from --delete");
}

#[test]
fn dry_run_changes_nothing_and_itemizes() {
    let t = TestDir::new();
    t.write("src/a", "a");
    t.write("dst/old", "o");
    let out = run_ok(t.pcp().args(["sync", "-a", "-n", "-i", "--delete", "src/", "dst/"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(">f+++++++++ a"), "{text}");
    assert!(text.contains("*deleting   old"), "{text}");
    assert!(!t.join("dst/a").exists());
    assert!(t.join("dst/old").exists());
}

#[test]
fn max_delete_limits_and_exits_23() {
    let t = TestDir::new();
    t.mkdir("src");
    for i in 0..5 {
        t.write(format!("dst/f{i}"), "x");
    }
    let out = t.pcp().args(["sync", "-a", "--delete", "--max-delete=2", "src/", "dst/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(23));
    assert_eq!(std::fs::read_dir(t.join("dst")).unwrap().count(), 3);
}

/// SIGINT ends the run with exit code 20; the rerun (even without --delete) finishes, and leaves
/// no temp file behind.
#[test]
fn sigint_exits_20_and_rerun_cleans_up() {
    let t = TestDir::new();
    for i in 0..4 {
        write_seeded_file(&t.join(format!("src/f{i}.bin")), 10 + i, 48 << 20);
    }
    let mut child = t.pcp().args(["sync", "-a", "src/", "dst/"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id() as i32;
    // SAFETY-free: kill(1) via the shell keeps the test free of unsafe.
    std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    let st = child.wait().unwrap();
    assert!(st.code() == Some(20) || st.code() == Some(0), "exit {st:?}");
    run_ok(t.pcp().args(["sync", "-a", "src/", "dst/"]));
    for i in 0..4 {
        let name = format!("f{i}.bin");
        assert_eq!(hash_file(&t.join("src").join(&name)), hash_file(&t.join("dst").join(&name)));
    }
    let leftovers: Vec<_> = std::fs::read_dir(t.join("dst"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pcp-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Only the mtime changed: the file is not rewritten (same inode), only its time is set.
#[test]
fn touched_file_is_not_rewritten() {
    use std::os::unix::fs::MetadataExt;
    let t = TestDir::new();
    let f = t.join("src/f.bin");
    write_seeded_file(&f, 7, 4 << 20);
    sync_json(&t, &["src/", "dst/"]);
    let ino = std::fs::metadata(t.join("dst/f.bin")).unwrap().ino();
    touch_later(&f);
    let out = run_ok(t.pcp().args(["sync", "-a", "-i", "src/", "dst/"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(".f..t...... f.bin"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = std::fs::metadata(t.join("dst/f.bin")).unwrap();
    assert_eq!(m.ino(), ino, "an unchanged file must not be replaced");
    assert_eq!(m.mtime(), std::fs::metadata(&f).unwrap().mtime());
    // --checksum on identical trees changes nothing and prints nothing.
    let out = run_ok(t.pcp().args(["sync", "-a", "-c", "-i", "src/", "dst/"]));
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

/// --bwlimit paces chunk data: 3 MiB at 1 MiB/s cannot finish in under 2 s (a lower bound only:
/// the test never asserts speed).
#[test]
fn bwlimit_paces_the_transfer() {
    let t = TestDir::new();
    write_seeded_file(&t.join("src/f.bin"), 8, 3 << 20);
    let t0 = std::time::Instant::now();
    run_ok(t.pcp().args(["sync", "-a", "--bwlimit=1M", "src/", "dst/"]));
    assert!(t0.elapsed() >= Duration::from_secs(2), "took {:?}", t0.elapsed());
    assert_eq!(hash_file(&t.join("src/f.bin")), hash_file(&t.join("dst/f.bin")));
    let out = t.pcp().args(["sync", "-a", "--bwlimit=fast", "src/", "dst/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Group commit: a finished file is renamed into place within about 2 s (READY_WAIT), even
/// while the next file is still arriving, not only when the next file completes.
#[test]
fn finished_files_appear_while_a_big_one_is_still_arriving() {
    let t = TestDir::new();
    t.write("src/a.txt", "small");
    write_seeded_file(&t.join("src/z.bin"), 9, 16 << 20);
    // 16 MiB at 2 MiB/s: about 8 s.
    let mut cmd = t.pcp();
    cmd.args(["sync", "-a", "--bwlimit=2M", "src/", "dst/"]);
    let mut child = crate::util::spawn_in_own_group(&mut cmd);
    let t0 = std::time::Instant::now();
    let seen = loop {
        if t.join("dst/a.txt").exists() {
            break t0.elapsed();
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("sync ended ({st}) before a.txt appeared");
        }
        assert!(t0.elapsed() < Duration::from_secs(6), "a.txt did not appear within 6 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(child.try_wait().unwrap().is_none(), "the big file was still arriving when a.txt appeared ({seen:?})");
    let st = child.wait().unwrap();
    assert!(st.success());
    assert_eq!(hash_file(&t.join("src/z.bin")), hash_file(&t.join("dst/z.bin")));
}
