//! Local sync: rsync as a differential oracle, and crash safety.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::util::*;

const ORACLE_SEEDS: [u64; 3] = [1, 0x5eed_0002, 0xdead_beef];
const ORACLE_ROUNDS: usize = 5;
/// Random mutations per round on top of one of each kind.
const EXTRA_MUTATIONS: usize = 12;

/// Per round: mutate `src`, then `pcp sync -a --delete src/ by-pcp/` and
/// `rsync -a --delete src/ by-rsync/`; the two must be equal (and equal to
/// `src`) in paths,
/// types, contents, modes, mtimes and link targets. Round 0 is the initial
/// sync into empty destinations.
#[test]
fn oracle_matches_rsync_over_mutation_rounds() {
    require_rsync();
    let started = Instant::now();
    for seed in ORACLE_SEEDS {
        let td = TestDir::new();
        let (src, a, b) = (td.join("src"), td.join("by-pcp"), td.join("by-rsync"));
        let summary = gen_tree(&src, seed);
        eprintln!("oracle: seed {seed:#x}: {summary:?}");
        let mut mutator = Mutator::new(seed ^ 0x00ff_00ff);
        for round in 0..=ORACLE_ROUNDS {
            if round > 0 {
                mutator.round(&src, EXTRA_MUTATIONS);
            }
            let ctx = || {
                format!(
                    "seed {seed:#x}, round {round} (tree {summary:?})\nmutations so far:\n  {}",
                    mutator.log.join("\n  ")
                )
            };
            let src_before = snapshot(&src);
            run_ok(td.pcp().args(["sync", "-a", "--delete"]).arg(slash(&src)).arg(slash(&a)));
            assert!(snapshot(&src) == src_before, "pcp modified its source\n{}", ctx());
            run_ok(td.rsync().args(["-a", "--delete"]).arg(slash(&src)).arg(slash(&b)));
            if let Err(e) = check_trees_equal(&b, &a) {
                panic!("pcp's result (B) differs from rsync's (A)\n{e}{}", ctx());
            }
            if let Err(e) = check_trees_equal(&src, &a) {
                panic!("pcp's destination (B) differs from its source (A)\n{e}{}", ctx());
            }
        }
    }
    eprintln!("oracle: done in {:?}", started.elapsed());
}

/// `pcp sync -a src c/` (no trailing slash on SRC) copies the directory
/// itself: c/src/..., exactly like rsync.
#[test]
fn trailing_slash_rule_matches_rsync() {
    require_rsync();
    let td = TestDir::new();
    gen_tree(&td.join("src"), 42);
    // Relative arguments, run from the TestDir: also checks cwd handling.
    run_ok(td.pcp().args(["sync", "-a", "src", "c/"]));
    run_ok(td.rsync().args(["-a", "src", "d/"]));
    let names: Vec<_> =
        fs::read_dir(td.join("c")).expect("pcp created c/").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["src"], "`pcp sync -a src c/` must create exactly c/src");
    assert_trees_equal(&td.join("d/src"), &td.join("c/src"));
    assert_trees_equal(&td.join("src"), &td.join("c/src"));

    // And once more with the directory already present: an update in place.
    fs::write(td.join("src/added after.txt"), b"new\n").expect("write");
    run_ok(td.pcp().args(["sync", "-a", "src", "c"]));
    run_ok(td.rsync().args(["-a", "src", "d"]));
    assert_trees_equal(&td.join("d/src"), &td.join("c/src"));
    assert_trees_equal(&td.join("src"), &td.join("c/src"));
}

// ---------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------

const CRASH_KILLS: usize = 20;
/// The kill loop stops early (after fewer kills) past this.
const CRASH_LOOP_BUDGET: Duration = Duration::from_secs(40);
const CRASH_SEED: u64 = 0xC4A5_4000;

/// One file of the crash test: its two versions (A = old, B = new).
struct Versioned {
    rel: PathBuf,
    /// (content seed, length, mtime, blake3) per version; `None`: absent.
    a: Option<(u64, u64, SystemTime, blake3::Hash)>,
    b: Option<(u64, u64, SystemTime, blake3::Hash)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    A,
    B,
}

/// Write every file's `v` version into `src` (removing files absent in it).
fn set_src_version(src: &Path, files: &[Versioned], v: Version) {
    for f in files {
        let p = src.join(&f.rel);
        let want = if v == Version::A { f.a } else { f.b };
        match want {
            Some((seed, len, mtime, hash)) => {
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent).expect("mkdir");
                }
                let _ = fs::remove_file(&p);
                assert_eq!(write_seeded_file(&p, seed, len), hash);
                set_mtime(&p, mtime);
            }
            None => {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// What [`check_crash_state`] saw in an acceptable dest.
#[derive(Debug, Default)]
struct CrashState {
    /// Files whose two versions differ, holding version A / version B.
    at_a: usize,
    at_b: usize,
    /// Dot-named leftovers of the interrupted run.
    temp_entries: usize,
}

/// Check that `dest` is in a state a crash may leave: every final name
/// holds exactly version A or B (a name absent in one version may be
/// absent), nothing else but dot-named temp files (rsync: `.name.XXXXXX`,
/// pcp: `.pcp-tmp*`).
fn check_crash_state(dest: &Path, files: &[Versioned], src_dirs: &[PathBuf]) -> Result<CrashState, String> {
    let mut problems = Vec::new();
    let mut state = CrashState::default();
    let mut temp_entries = 0;
    let expected: BTreeMap<&Path, &Versioned> = files.iter().map(|f| (f.rel.as_path(), f)).collect();
    for f in files {
        let p = dest.join(&f.rel);
        match fs::symlink_metadata(&p) {
            Err(_) => {
                if f.a.is_some() && f.b.is_some() {
                    problems.push(format!("{:?}: missing (it exists in both versions)", f.rel));
                }
            }
            Ok(md) if !md.is_file() => problems.push(format!("{:?}: not a regular file: {:?}", f.rel, md.file_type())),
            Ok(md) => {
                let h = hash_file(&p);
                let is_a = f.a.is_some_and(|(_, _, _, ha)| ha == h);
                let is_b = f.b.is_some_and(|(_, _, _, hb)| hb == h);
                if is_a != is_b {
                    state.at_a += usize::from(is_a);
                    state.at_b += usize::from(is_b);
                }
                if !is_a && !is_b {
                    problems.push(format!(
                        "{:?}: TORN: {} B matching neither version (A: {:?} B, B: {:?} B)",
                        f.rel,
                        md.len(),
                        f.a.map(|v| v.1),
                        f.b.map(|v| v.1)
                    ));
                }
            }
        }
    }
    for (rel, t) in list_tree(dest) {
        if expected.contains_key(rel.as_path()) || src_dirs.contains(&rel) {
            continue;
        }
        // The crash tree has no dot-names: anything dot-named (or inside a
        // dot-named dir) is an interrupted run's temp/staging entry.
        if rel.iter().any(|c| c.as_encoded_bytes().starts_with(b".")) {
            temp_entries += 1;
            continue;
        }
        problems.push(format!("unexpected {t:?} in dest: {rel:?}"));
    }
    if problems.is_empty() {
        state.temp_entries = temp_entries;
        Ok(state)
    } else {
        Err(problems.join("\n"))
    }
}

/// SIGKILL `pcp sync -a --delete src/ dest/` at seeded random moments; after
/// each kill every file in dest must be entirely its old or its new
/// version, and nothing may appear outside dest. A final uninterrupted run
/// must then leave dest identical to src, with no temp files left.
///
/// When a run finishes before the kill, src is flipped to the other version
/// so that the next run again has work to interrupt.
#[test]
fn crash_safety_sigkill_at_random_moments() {
    let started = Instant::now();
    let td = TestDir::new();
    let src = td.mkdir("src");
    let dest = td.join("dest");
    let mut rng = ChaCha8Rng::seed_from_u64(CRASH_SEED);

    let mut files = Vec::new();
    let names = ["big-0.bin", "big 1 with space.bin", "big-é-2.bin", "日本-3.bin", "-big-4.bin", "sub/dir/big-5.bin"];
    let t_a = UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789);
    let t_b = UNIX_EPOCH + Duration::new(1_600_000_000, 987_654_321);
    for (i, name) in names.iter().enumerate() {
        let len_a = rng.random_range(8 * MIB..=16 * MIB);
        // Even files keep their size (same-size rewrite), odd ones change it.
        let len_b = if i % 2 == 0 { len_a } else { rng.random_range(8 * MIB..=16 * MIB) };
        let (seed_a, seed_b) = (rng.random::<u64>(), rng.random::<u64>());
        files.push(Versioned {
            rel: PathBuf::from(name),
            a: Some((seed_a, len_a, t_a, blake3::Hash::from_bytes([0; 32]))),
            b: Some((seed_b, len_b, t_b, blake3::Hash::from_bytes([0; 32]))),
        });
    }
    let seed_new = rng.random::<u64>();
    files.push(Versioned {
        rel: PathBuf::from("brand-new.bin"),
        a: None,
        b: Some((seed_new, 4 * MIB + 17, t_b, blake3::Hash::from_bytes([0; 32]))),
    });
    let seed_same = rng.random::<u64>();
    files.push(Versioned {
        rel: PathBuf::from("unchanged.txt"),
        a: Some((seed_same, 1000, t_a, blake3::Hash::from_bytes([0; 32]))),
        b: Some((seed_same, 1000, t_a, blake3::Hash::from_bytes([0; 32]))),
    });
    // Fill in the hashes (content is never kept in memory).
    for f in &mut files {
        for v in [&mut f.a, &mut f.b].into_iter().flatten() {
            v.3 = seeded_hash(v.0, v.1);
        }
    }
    let src_dirs = vec![PathBuf::from("sub"), PathBuf::from("sub/dir")];

    let sync = |td: &TestDir, to: &Path| {
        let mut cmd = td.pcp();
        cmd.args(["sync", "-a", "--delete"]).arg(slash(&src)).arg(slash(to));
        cmd
    };

    // Old version everywhere.
    set_src_version(&src, &files, Version::A);
    // Nothing but dest/ (and the sandbox home) may change: src/ keeps its
    // fingerprint (re-taken whenever the test itself rewrites src), and no
    // other entry may ever appear in the test dir, even after completed runs.
    let others_of = |td: &TestDir| fingerprint(td.path(), &["dest", "src", SANDBOX_NAME]);
    let others = others_of(&td);
    run_ok(&mut sync(&td, &dest));
    assert_trees_equal(&src, &dest);

    // New version in src. Time one uninterrupted run on a scratch copy.
    set_src_version(&src, &files, Version::B);
    let mut src_fp = fingerprint(&src, &[]);
    let measure = td.join("measure");
    copy_tree(&dest, &measure);
    let t0 = Instant::now();
    run_ok(&mut sync(&td, &measure));
    let full_run = t0.elapsed().max(Duration::from_millis(10));
    assert_trees_equal(&src, &measure);
    fs::remove_dir_all(&measure).expect("rm measure");
    eprintln!("crash: setup {:?}, one full run {full_run:?}", started.elapsed());

    let mut current = Version::B;
    let (mut killed, mut finished) = (0usize, 0usize);
    // Kills that caught dest half-way (some files old, some new) / with
    // temp files present: evidence that kills land mid-transfer.
    let (mut mixed, mut with_temps) = (0usize, 0usize);
    let loop_start = Instant::now();
    for i in 0..CRASH_KILLS {
        if loop_start.elapsed() > CRASH_LOOP_BUDGET {
            eprintln!("crash: time budget spent after {i} kills");
            break;
        }
        // Later runs have less left to do than the measured one (pcp resumes from the chunks
        // an interrupted run kept): aim at the first half so that most kills land mid-run.
        let max_delay = full_run.as_nanos() as u64 / 2;
        let delay = Duration::from_nanos(rng.random_range(0..=max_delay));
        let mut child = spawn_in_own_group(&mut sync(&td, &dest));
        thread::sleep(delay);
        let outcome = sigkill_group(&mut child);
        let ctx = format!("kill #{i} after {delay:?} ({outcome:?}), src at version {current:?}");
        let state = check_crash_state(&dest, &files, &src_dirs)
            .unwrap_or_else(|e| panic!("crash left dest in a bad state: {ctx}\n{e}"));
        if outcome == KillOutcome::Killed {
            mixed += usize::from(state.at_a > 0 && state.at_b > 0);
            with_temps += usize::from(state.temp_entries > 0);
        }
        let mut changed = fingerprint_diff(&others, &others_of(&td));
        changed.extend(fingerprint_diff(&src_fp, &fingerprint(&src, &[])));
        assert!(changed.is_empty(), "something outside dest/ changed: {ctx}\n  {}", changed.join("\n  "));
        match outcome {
            KillOutcome::Killed => killed += 1,
            KillOutcome::Finished(st) => {
                finished += 1;
                assert!(st.success(), "run exited {st} before the kill: {ctx}");
                if let Err(e) = check_trees_equal(&src, &dest) {
                    panic!("a run that exited 0 left dest != src: {ctx}\n{e}");
                }
                // Give the next run work to interrupt again.
                current = if current == Version::A { Version::B } else { Version::A };
                set_src_version(&src, &files, current);
                src_fp = fingerprint(&src, &[]);
            }
        }
    }
    eprintln!(
        "crash: {killed} killed ({mixed} mid-way old/new, {with_temps} with temp files), \
         {finished} finished before the kill, loop {:?}",
        loop_start.elapsed()
    );
    assert!(killed >= 5, "only {killed} runs were actually interrupted (one full run took {full_run:?})");

    // End on the new version and let a run complete: no temp files may remain.
    if current == Version::A {
        set_src_version(&src, &files, Version::B);
    }
    run_ok(&mut sync(&td, &dest));
    assert_trees_equal(&src, &dest);
    let changed = fingerprint_diff(&others, &others_of(&td));
    assert!(changed.is_empty(), "created outside dest/:\n  {}", changed.join("\n  "));
    eprintln!("crash: total {:?}", started.elapsed());
}

/// `-u`, `--ignore-existing`, `--size-only` and `-I` decide as rsync's do: the same
/// destination, synced by each with each flag, ends the same, and each flag changed something.
#[test]
fn update_ignore_existing_size_only_and_ignore_times_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let later = t + Duration::from_secs(100);
    let earlier = t - Duration::from_secs(100);
    let put = |path: &str, text: &str, when: SystemTime| {
        td.write(path, text);
        set_mtime(&td.join(path), when);
    };
    // (name, source content, destination content, destination mtime); every source mtime is t.
    let cases = [
        ("newer.txt", "source v1", "destination is newer", later),
        ("same_stamp.txt", "AAAA", "BBBB", t),
        ("same_size_older.txt", "CCCC", "DDDD", earlier),
        ("grown.txt", "longer content", "short", t),
    ];
    for (name, src_text, dst_text, when) in cases {
        put(&format!("src/{name}"), src_text, t);
        put(&format!("base/{name}"), dst_text, when);
    }
    put("src/new.txt", "new", t);
    put("src/newdir/inner.txt", "in a new directory", t);
    let flags: [(&str, &str, &str); 6] = [
        ("", "newer.txt", "source v1"),
        ("--existing", "grown.txt", "longer content"),
        ("-u", "newer.txt", "destination is newer"),
        ("--ignore-existing", "grown.txt", "short"),
        ("--size-only", "same_size_older.txt", "DDDD"),
        ("-I", "same_stamp.txt", "AAAA"),
    ];
    for (i, (flag, name, want)) in flags.into_iter().enumerate() {
        let (a, b) = (td.join(format!("by-pcp-{i}")), td.join(format!("by-rsync-{i}")));
        copy_tree(&td.join("base"), &a);
        copy_tree(&td.join("base"), &b);
        let extra: Vec<&str> = if flag.is_empty() { vec![] } else { vec![flag] };
        run_ok(td.pcp().args(["sync", "-a"]).args(&extra).arg(slash(&td.join("src"))).arg(slash(&a)));
        run_ok(td.rsync().args(["-a"]).args(&extra).arg(slash(&td.join("src"))).arg(slash(&b)));
        if let Err(e) = check_trees_equal(&b, &a) {
            panic!("with {flag:?}, pcp's result (B) differs from rsync's (A)\n{e}");
        }
        assert_eq!(fs::read_to_string(a.join(name)).unwrap(), want, "with {flag:?}: {name}");
        if flag == "--existing" {
            assert!(!a.join("new.txt").exists() && !a.join("newdir").exists(), "--existing created something");
        } else {
            assert_eq!(fs::read_to_string(a.join("new.txt")).unwrap(), "new", "with {flag:?}: new.txt");
        }
    }
}

/// rsync's `--no-OPTION` after `-a` (`--no-perms`, `--no-times`, and their short `--no-p`,
/// `--no-t`) and `-W` (accepted, moot with chunks): pcp ends where rsync ends.
#[test]
fn no_option_negations_and_whole_file_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    td.write("src/changed.txt", "new content");
    td.write("src/new.txt", "brand new");
    for f in ["changed.txt", "new.txt"] {
        set_mode(&td.join("src").join(f), 0o600);
        set_mtime(&td.join("src").join(f), t);
    }
    td.write("base/changed.txt", "old");
    set_mode(&td.join("base/changed.txt"), 0o664);
    for (i, flags) in
        [&["-a", "--no-perms"][..], &["-a", "--no-p", "-W"], &["-a", "--no-perms", "-p"]].into_iter().enumerate()
    {
        let (a, b) = (td.join(format!("by-pcp-{i}")), td.join(format!("by-rsync-{i}")));
        copy_tree(&td.join("base"), &a);
        copy_tree(&td.join("base"), &b);
        run_ok(td.pcp().arg("sync").args(flags).arg(slash(&td.join("src"))).arg(slash(&a)));
        run_ok(td.rsync().args(flags).arg(slash(&td.join("src"))).arg(slash(&b)));
        if let Err(e) = check_trees_equal_with(&b, &a, Compare { mode: true, mtime: true, root_meta: false }) {
            panic!("with {flags:?}, pcp's result (B) differs from rsync's (A)\n{e}");
        }
    }
    // --no-times: the copy does not take the source's mtime (nor does rsync's).
    let (a, b) = (td.join("by-pcp-t"), td.join("by-rsync-t"));
    run_ok(td.pcp().args(["sync", "-a", "--no-times"]).arg(slash(&td.join("src"))).arg(slash(&a)));
    run_ok(td.rsync().args(["-a", "--no-times"]).arg(slash(&td.join("src"))).arg(slash(&b)));
    for dir in [&a, &b] {
        let m = fs::metadata(dir.join("new.txt")).unwrap().modified().unwrap();
        assert_ne!(m, t, "{dir:?}: --no-times copied the mtime");
    }
    if let Err(e) = check_trees_equal_with(&b, &a, Compare { mode: true, mtime: false, root_meta: false }) {
        panic!("with --no-times, pcp's result (B) differs from rsync's (A)\n{e}");
    }
}

/// `-O`: directories' mtimes are left alone (new ones keep the time they were made), files'
/// are kept, as rsync -a -O does.
#[test]
fn omit_dir_times_matches_rsync() {
    require_rsync();
    let td = TestDir::new();
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    td.write("src/d/f.txt", "x");
    set_mtime(&td.join("src/d/f.txt"), t);
    set_mtime(&td.join("src/d"), t);
    let (a, b) = (td.join("by-pcp"), td.join("by-rsync"));
    run_ok(td.pcp().args(["sync", "-a", "-O"]).arg(slash(&td.join("src"))).arg(slash(&a)));
    run_ok(td.rsync().args(["-a", "-O"]).arg(slash(&td.join("src"))).arg(slash(&b)));
    for dir in [&a, &b] {
        let mtime = |p: &str| fs::metadata(dir.join(p)).unwrap().modified().unwrap();
        assert_eq!(mtime("d/f.txt"), t, "{dir:?}: -O dropped a file's mtime");
        assert_ne!(mtime("d"), t, "{dir:?}: -O set a directory's mtime");
    }
    if let Err(e) = check_trees_equal_with(&b, &a, Compare { mode: true, mtime: false, root_meta: false }) {
        panic!("with -O, pcp's result (B) differs from rsync's (A)\n{e}");
    }
    // A rerun with -O does not itemize the directory's time.
    let out = td.pcp().args(["sync", "-a", "-O", "-i"]).arg(slash(&td.join("src"))).arg(slash(&a)).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(".d..t"), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn short_filter_option_and_a_source_given_twice_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/keep.txt", "k");
    td.write("src/drop.x", "d");
    td.write("src/sub/also.x", "d");
    let (a, b) = (td.join("by-pcp"), td.join("by-rsync"));
    let src = slash(&td.join("src"));
    // `-f '- *.x'` (a rule whose text holds "-x") and the same source twice.
    run_ok(td.pcp().args(["sync", "-a", "-f", "- *.x"]).arg(&src).arg(&src).arg(slash(&a)));
    run_ok(td.rsync().args(["-a", "-f", "- *.x"]).arg(&src).arg(&src).arg(slash(&b)));
    if let Err(e) = check_trees_equal(&b, &a) {
        panic!("pcp's result (B) differs from rsync's (A)\n{e}");
    }
    assert!(!a.join("drop.x").exists() && a.join("keep.txt").exists());
    // An rsync option pcp lacks is named as such, with exit 1, never a clap guess.
    let out = td.pcp().args(["sync", "-a", "--link-dest=../old"]).arg(&src).arg(slash(&a)).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rsync option --link-dest is not supported by pcp"), "{err}");
    assert!(!err.contains("similar argument"), "{err}");
}

#[test]
fn perms_keep_set_id_and_sticky_bits_as_rsync_does() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/suid", "x");
    td.write("src/sgid-dir/f", "y");
    td.write("src/sticky/g", "z");
    let chmod = |p: &str, m: u32| fs::set_permissions(td.join(p), fs::Permissions::from_mode(m)).unwrap();
    chmod("src/suid", 0o4550);
    chmod("src/sgid-dir/f", 0o2750);
    chmod("src/sgid-dir", 0o2750);
    chmod("src/sticky", 0o1777);
    let (a, b) = (td.join("by-pcp"), td.join("by-rsync"));
    run_ok(td.pcp().args(["sync", "-a"]).arg(slash(&td.join("src"))).arg(slash(&a)));
    run_ok(td.rsync().args(["-a"]).arg(slash(&td.join("src"))).arg(slash(&b)));
    let mode = |root: &Path, p: &str| fs::symlink_metadata(root.join(p)).unwrap().permissions().mode() & 0o7777;
    for p in ["suid", "sgid-dir/f", "sgid-dir", "sticky"] {
        assert_eq!(mode(&a, p), mode(&b, p), "{p}: pcp {:o}, rsync {:o}", mode(&a, p), mode(&b, p));
    }
    assert_eq!(mode(&a, "suid"), 0o4550);
    // A rerun sees nothing to change.
    let out = td.pcp().args(["sync", "-ai"]).arg(slash(&td.join("src"))).arg(slash(&a)).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("p....."), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn itemize_shows_the_root_as_rsync_does() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/a", "a");
    td.write("src/d/b", "b");
    let lines = |out: std::process::Output| -> Vec<String> {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("created directory"))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    let (a, b) = (slash(&td.join("by-pcp")), slash(&td.join("by-rsync")));
    let src = slash(&td.join("src"));
    let pcp = |dst: &std::ffi::OsString| lines(td.pcp().args(["sync", "-ai"]).arg(&src).arg(dst).output().unwrap());
    let rsync = |dst: &std::ffi::OsString| lines(td.rsync().args(["-ai"]).arg(&src).arg(dst).output().unwrap());
    // A new destination: `cd+++++++++ ./` first.
    let (p, r) = (pcp(&a), rsync(&b));
    assert_eq!(p, r);
    assert!(p.contains(&"cd+++++++++ ./".to_owned()), "{p:?}");
    // The source root's time changes: `.d..t...... ./` and nothing else.
    set_mtime(&td.join("src"), UNIX_EPOCH + Duration::from_secs(1_600_000_000));
    let (p, r) = (pcp(&a), rsync(&b));
    assert_eq!(p, r);
    assert_eq!(p, [".d..t...... ./"]);
}

#[test]
fn a_missing_destination_parent_needs_mkpath_as_in_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/a", "a");
    let src = slash(&td.join("src"));
    let r = td.rsync().args(["-a"]).arg(&src).arg(slash(&td.join("r/x/y"))).output().unwrap();
    let p = td.pcp().args(["sync", "-a"]).arg(&src).arg(slash(&td.join("p/x/y"))).output().unwrap();
    assert_eq!(r.status.code(), Some(11));
    assert_eq!(p.status.code(), Some(11), "{}", String::from_utf8_lossy(&p.stderr));
    assert!(String::from_utf8_lossy(&p.stderr).contains("--mkpath"), "{}", String::from_utf8_lossy(&p.stderr));
    assert!(!td.join("p").exists(), "nothing was created");
    // The last component alone is made; --mkpath makes the rest.
    run_ok(td.pcp().args(["sync", "-a"]).arg(&src).arg(slash(&td.join("one"))));
    run_ok(td.pcp().args(["sync", "-a", "--mkpath"]).arg(&src).arg(slash(&td.join("p/x/y"))));
    run_ok(td.rsync().args(["-a", "--mkpath"]).arg(&src).arg(slash(&td.join("r/x/y"))));
    if let Err(e) = check_trees_equal(&td.join("r"), &td.join("p")) {
        panic!("--mkpath: pcp's result (B) differs from rsync's (A)\n{e}");
    }
}

#[test]
fn delete_variants_and_delete_excluded_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/a.txt", "a");
    td.write("src/b.log", "excluded at the source");
    let src = slash(&td.join("src"));
    for args in [
        &["--delete-after"][..],
        &["--delete-before"][..],
        &["--del", "--force"][..],
        &["--delete-excluded"][..],
        &["--delete", "--delete-excluded"][..],
    ] {
        let (a, b) = (td.join(format!("p{}", args.join(""))), td.join(format!("r{}", args.join(""))));
        for d in [&a, &b] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("stale.txt"), "not in the source").unwrap();
            fs::write(d.join("keep.log"), "excluded at the destination").unwrap();
        }
        run_ok(td.pcp().args(["sync", "-a", "--exclude", "*.log"]).args(args).arg(&src).arg(slash(&a)));
        run_ok(td.rsync().args(["-a", "--exclude", "*.log"]).args(args).arg(&src).arg(slash(&b)));
        if let Err(e) = check_trees_equal(&b, &a) {
            panic!("{args:?}: pcp's result (B) differs from rsync's (A)\n{e}");
        }
        assert!(!a.join("stale.txt").exists(), "{args:?}");
        assert_eq!(a.join("keep.log").exists(), !args.contains(&"--delete-excluded"), "{args:?}");
    }
}

/// `--max-size`, `--min-size` (rsync's size grammar) and `--modify-window` / `-@` decide as
/// rsync's do: each run starts from the same destination and ends where rsync's ends, and
/// each option changed something. Files outside the size limits are neither sent nor deleted.
#[test]
fn max_size_min_size_and_modify_window_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let put = |path: &str, body: &[u8], when: SystemTime| {
        td.write(path, body);
        set_mtime(&td.join(path), when);
    };
    put("src/empty", b"", t);
    put("src/small.txt", b"0123456789", t);
    put("src/mid.bin", &[7u8; 5000], t);
    put("src/big.bin", &[9u8; 200_000], t);
    put("src/dir/big2.bin", &[3u8; 300_000], t);
    // Same size, another content, the mtime a second later: equal within a 1 s window.
    put("src/win.txt", b"AAAA", t);
    // Same size, another content, the same second but half a second apart: equal in whole
    // seconds (rsync's default, -@0), not to the nanosecond (pcp's default).
    put("src/ns.txt", b"CCCC", t + Duration::from_millis(500));
    put("base/big.bin", b"an old big.bin", t);
    put("base/win.txt", b"BBBB", t + Duration::from_secs(1));
    put("base/old.txt", b"not in the source", t);
    // Directory times fixed too: within a window each side would keep its own "now".
    for d in ["src/dir", "src", "base"] {
        set_mtime(&td.join(d), t);
    }
    let runs: [&[&str]; 6] = [
        &["--max-size=100k", "--delete"],
        &["--min-size=1k", "--delete"],
        &["--max-size=1.5kb-1", "--min-size=10"],
        &["--modify-window=1"],
        &["-@0"],
        &["--max-size=0"],
    ];
    for (i, extra) in runs.into_iter().enumerate() {
        let (a, b) = (td.join(format!("by-pcp-{i}")), td.join(format!("by-rsync-{i}")));
        copy_tree(&td.join("base"), &a);
        copy_tree(&td.join("base"), &b);
        if i == 4 {
            // Only here: elsewhere rsync's whole-second default and pcp's nanoseconds differ.
            for d in [&a, &b] {
                fs::write(d.join("ns.txt"), b"DDDD").unwrap();
                set_mtime(&d.join("ns.txt"), t);
            }
        }
        run_ok(td.pcp().args(["sync", "-a"]).args(extra).arg(slash(&td.join("src"))).arg(slash(&a)));
        run_ok(td.rsync().args(["-a"]).args(extra).arg(slash(&td.join("src"))).arg(slash(&b)));
        if let Err(e) = check_trees_equal(&b, &a) {
            panic!("with {extra:?}, pcp's result (B) differs from rsync's (A)\n{e}");
        }
        let read = |p: &str| fs::read(a.join(p)).ok();
        match i {
            // Too big: kept as it was (not deleted by --delete), the rest sent.
            0 => {
                assert_eq!(read("big.bin").unwrap(), b"an old big.bin");
                assert!(read("dir/big2.bin").is_none() && read("old.txt").is_none() && read("empty").is_some());
            }
            1 => assert!(read("small.txt").is_none() && read("mid.bin").is_some() && read("empty").is_none()),
            2 => assert!(read("small.txt").is_some() && read("mid.bin").is_none() && read("empty").is_none()),
            3 => assert_eq!(read("win.txt").unwrap(), b"BBBB"),
            4 => assert_eq!(read("ns.txt").unwrap(), b"DDDD"),
            _ => assert!(read("empty").is_some() && read("small.txt").is_none()),
        }
    }
    // Without a window pcp compares to the nanosecond: ns.txt is brought over.
    let c = td.join("by-pcp-default");
    copy_tree(&td.join("base"), &c);
    fs::write(c.join("ns.txt"), b"DDDD").unwrap();
    set_mtime(&c.join("ns.txt"), t);
    run_ok(td.pcp().args(["sync", "-a"]).arg(slash(&td.join("src"))).arg(slash(&c)));
    assert_eq!(fs::read(c.join("ns.txt")).unwrap(), b"CCCC");
    // A size rsync would refuse is refused, naming the option.
    let o =
        td.pcp().args(["sync", "-a", "--max-size=abc"]).arg(slash(&td.join("src"))).arg(slash(&c)).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--max-size"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `-b`, `--suffix` and `--backup-dir` keep what rsync keeps: over two rounds (the second
/// replaces files backed up in the first), the destinations and the backup trees of pcp and
/// rsync are the same; backups beside the files survive `--delete` (rsync's `P *~`).
#[test]
fn backup_suffix_and_backup_dir_match_rsync_over_two_rounds() {
    require_rsync();
    let td = TestDir::new();
    let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let put = |path: &str, body: &str, when: SystemTime| {
        td.write(path, body);
        set_mtime(&td.join(path), when);
    };
    put("src/a", "the new a, longer", t);
    put("src/same", "same", t);
    put("src/sub/x", "new x, longer too", t);
    std::os::unix::fs::symlink("same", td.join("src/was-file")).unwrap();
    put("base/a", "old a", t);
    put("base/same", "same", t);
    put("base/sub/x", "old x", t);
    put("base/was-file", "a file a link replaces", t);
    put("base/del", "deleted", t);
    put("base/gone/y", "in a deleted directory", t);
    let runs: [&[&str]; 3] = [&["-b"], &["--backup-dir=../bak", "--suffix=.old"], &["--backup-dir=bk2"]];
    for (i, extra) in runs.into_iter().enumerate() {
        let (a, b) = (td.join(format!("r{i}/by-pcp/d")), td.join(format!("r{i}/by-rsync/d")));
        fs::create_dir_all(a.parent().unwrap()).unwrap();
        fs::create_dir_all(b.parent().unwrap()).unwrap();
        copy_tree(&td.join("base"), &a);
        copy_tree(&td.join("base"), &b);
        for round in 0..2 {
            if round == 1 {
                put("src/a", &format!("round two's a, longer still {i}"), t + Duration::from_secs(5));
            }
            let src = slash(&td.join("src"));
            run_ok(td.pcp().args(["sync", "-a", "--delete"]).args(extra).arg(&src).arg(slash(&a)));
            if i == 2 && round == 1 {
                // A backup directory inside the destination: rsync deletes it into itself
                // (bk2/bk2/...); pcp leaves it alone and keeps adding to it.
                assert_eq!(fs::read_to_string(a.join("bk2/a")).unwrap(), "the new a, longer");
                assert!(!a.join("bk2/bk2").exists());
                continue;
            }
            run_ok(td.rsync().args(["-a", "--delete"]).args(extra).arg(&src).arg(slash(&b)));
            let cmp = Compare { mode: true, mtime: false, root_meta: false };
            if let Err(e) = check_trees_equal_with(b.parent().unwrap(), a.parent().unwrap(), cmp) {
                panic!("with {extra:?}, round {round}: pcp's (B) differs from rsync's (A)\n{e}");
            }
        }
        put("src/a", "the new a, longer", t);
        let kept = |p: &str| fs::read_to_string(a.parent().unwrap().join(p)).ok();
        match i {
            0 => {
                assert_eq!(kept("d/a~").unwrap(), "the new a, longer", "round two backed up round one's");
                assert_eq!(kept("d/del~").unwrap(), "deleted");
                assert_eq!(kept("d/gone/y~").unwrap(), "in a deleted directory");
                assert_eq!(kept("d/was-file~").unwrap(), "a file a link replaces");
            }
            1 => {
                assert_eq!(kept("bak/a.old").unwrap(), "the new a, longer");
                assert_eq!(kept("bak/gone/y.old").unwrap(), "in a deleted directory");
                assert!(kept("d/del").is_none() && kept("d/a.old").is_none());
            }
            _ => assert_eq!(kept("d/bk2/sub/x").unwrap(), "old x"),
        }
    }
    // An empty suffix without a directory is refused, as rsync refuses it.
    let o = td
        .pcp()
        .args(["sync", "-a", "-b", "--suffix="])
        .arg(slash(&td.join("src")))
        .arg(td.join("x"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `--chmod` (octal, symbolic, D/F-prefixed, repeated) ends where rsync's ends, with -a
/// (every entry) and without -p (new entries only).
#[test]
fn chmod_matches_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/f", "file");
    td.write("src/dir/inner", "inner");
    td.write("src/x", "exec");
    set_mode(&td.join("src/f"), 0o444);
    set_mode(&td.join("src/x"), 0o711);
    set_mode(&td.join("src/dir"), 0o750);
    let runs: [&[&str]; 5] = [
        &["-a", "--chmod=D755,F644"],
        &["-a", "--chmod=u=rwX,go=rX"],
        &["-a", "--chmod=g+w", "--chmod=o-rwx"],
        &["-a", "--chmod=Dg+s,F600"],
        &["-rt", "--chmod=a+x"],
    ];
    for (i, args) in runs.into_iter().enumerate() {
        let (a, b) = (td.join(format!("by-pcp-{i}")), td.join(format!("by-rsync-{i}")));
        run_ok(td.pcp().arg("sync").args(args).arg(slash(&td.join("src"))).arg(slash(&a)));
        run_ok(td.rsync().args(args).arg(slash(&td.join("src"))).arg(slash(&b)));
        if let Err(e) = check_trees_equal(&b, &a) {
            panic!("with {args:?}, pcp's result (B) differs from rsync's (A)\n{e}");
        }
    }
    assert_eq!(mode_of(&td.join("by-pcp-0/f")) & 0o7777, 0o644);
    assert_eq!(mode_of(&td.join("by-pcp-3/dir")) & 0o7777, 0o2750);
    let o =
        td.pcp().args(["sync", "-a", "--chmod=u+q"]).arg(slash(&td.join("src"))).arg(td.join("y")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--chmod"), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `-x` stays on the source's file system as rsync's does: a file system mounted inside the
/// source (a tmpfs, in a private mount namespace of its own) is copied as an empty directory.
#[test]
fn one_file_system_matches_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/top.txt", "on the source's file system");
    td.write("src/mnt/.keep-dir", "");
    fs::remove_file(td.join("src/mnt/.keep-dir")).unwrap();
    let required = std::env::var("PCP_REQUIRE_NETNS").is_ok_and(|v| v == "1");
    // Everything inside one `unshare -m`: the mount dies with it.
    let pcp = std::env::var("CARGO_BIN_EXE_pcp").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pcp").to_owned());
    let script = format!(
        "set -e; mount -t tmpfs pcptest {src}/mnt; touch {mounted}; echo other > {src}/mnt/other.txt; mkdir {src}/mnt/deeper; \
         HOME={home} {pcp} sync -ax {src}/ {a}/; rsync -ax {src}/ {b}/",
        src = td.join("src").display(),
        home = td.join("home").display(),
        a = td.join("by-pcp").display(),
        b = td.join("by-rsync").display(),
        mounted = td.join("mounted").display(),
    );
    let o =
        std::process::Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).output();
    let ok = o.as_ref().is_ok_and(|o| o.status.success());
    if td.join("mounted").exists() {
        // The mount worked: a failure now is pcp's or rsync's.
        let o = o.unwrap();
        assert!(ok, "-x run failed: {}", String::from_utf8_lossy(&o.stderr));
    } else {
        let why = o.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_else(|e| e.to_string());
        let msg = format!("SKIPPED: one_file_system_matches_rsync needs root (unshare -m, mount): {why}");
        assert!(!required, "PCP_REQUIRE_NETNS=1 but {msg}");
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        return;
    }
    let cmp = Compare { mode: true, mtime: false, root_meta: false };
    if let Err(e) = check_trees_equal_with(&td.join("by-rsync"), &td.join("by-pcp"), cmp) {
        panic!("-x: pcp's result (B) differs from rsync's (A)\n{e}");
    }
    assert!(td.join("by-pcp/mnt").is_dir(), "the mount point is there");
    assert!(!td.join("by-pcp/mnt/other.txt").exists(), "nothing of the other file system");
    assert_eq!(fs::read_to_string(td.join("by-pcp/top.txt")).unwrap(), "on the source's file system");
}

/// `-m` prunes empty directory chains as rsync's does, with and without filters (a directory
/// whose only files are excluded is empty too), locally and on a pull.
#[test]
fn prune_empty_dirs_matches_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/keep/deep/file.txt", "a file deep down");
    td.mkdir("src/empty/chain/of/dirs");
    td.write("src/only-logs/x.log", "excluded");
    td.write("src/mixed/a.txt", "kept");
    td.mkdir("src/mixed/empty");
    td.write("src/top.txt", "top");
    let runs: [&[&str]; 2] = [&["-a", "-m"], &["-am", "--exclude=*.log"]];
    for (i, args) in runs.into_iter().enumerate() {
        let (a, b) = (td.join(format!("by-pcp-{i}")), td.join(format!("by-rsync-{i}")));
        run_ok(td.pcp().arg("sync").args(args).arg(slash(&td.join("src"))).arg(slash(&a)));
        run_ok(td.rsync().args(args).arg(slash(&td.join("src"))).arg(slash(&b)));
        let cmp = Compare { mode: true, mtime: true, root_meta: false };
        if let Err(e) = check_trees_equal_with(&b, &a, cmp) {
            panic!("with {args:?}, pcp's result (B) differs from rsync's (A)\n{e}");
        }
        assert!(!a.join("empty").exists() && !a.join("mixed/empty").exists() && a.join("keep/deep/file.txt").exists());
    }
    assert!(!td.join("by-pcp-1/only-logs").exists(), "a directory of excluded files is empty");
}

/// `--include-from=LIST --exclude='*'` (the usual "copy what the list names") ends where
/// rsync's ends.
#[test]
fn include_from_matches_rsync() {
    require_rsync();
    let td = TestDir::new();
    td.write("src/keep.txt", "kept");
    td.write("src/drop.bin", "dropped");
    td.write("src/sub/deep.txt", "kept too");
    td.write("src/sub/deep.bin", "dropped too");
    td.write("list", "# comment\n*/\n*.txt\n");
    let args = ["-a", "--include-from", "list", "--exclude=*"];
    let (a, b) = (td.join("by-pcp"), td.join("by-rsync"));
    run_ok(td.pcp().arg("sync").args(args).arg(slash(&td.join("src"))).arg(slash(&a)));
    run_ok(td.rsync().args(args).arg(slash(&td.join("src"))).arg(slash(&b)));
    if let Err(e) = check_trees_equal(&b, &a) {
        panic!("pcp's result (B) differs from rsync's (A)\n{e}");
    }
    assert!(a.join("sub/deep.txt").exists() && !a.join("drop.bin").exists());
}
