//! Symlink attacks (security issue #8): the `--safe-links` rule against real rsync
//! (CVE-2024-12088), and paths the user names (DEST, `serve DIR`, `--exclude-from FILE`) reached
//! through a symlink someone else planted.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::util::*;

/// Targets tried at every depth: inside, outside, absolute, and the spellings that fooled the
/// old lexical depth counter (a `..` after a name, through another link of the tree).
const TARGETS: &[&str] = &[
    "x",
    "./x",
    "x/./y",
    "x//y",
    "x/.",
    ".",
    "..",
    "../",
    "../x",
    "..//x",
    "../../x",
    "../../",
    "../..",
    "..//..",
    "../../../x",
    ".././x",
    ".././..",
    "./../x",
    "a/..",
    "x/../y",
    "x/y/../z",
    "../a/../x",
    "a/a/a/../../../x",
    "a/a/a/../../../../x",
    "...",
    "../...",
    "/etc/passwd",
    "/",
];

/// Every symlink under `root`, relative path → target.
fn links_under(root: &Path) -> BTreeMap<PathBuf, PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, PathBuf>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let m = fs::symlink_metadata(&p).expect("lstat");
            if m.file_type().is_symlink() {
                out.insert(
                    p.strip_prefix(root).expect("under root").to_path_buf(),
                    fs::read_link(&p).expect("readlink"),
                );
            } else if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

/// A tree with every target of [`TARGETS`] at depths 0 to 3, plus the two chains of the
/// CVE-2024-12088 write-up.
fn link_tree(src: &Path) {
    for dir in ["", "d", "d/e", "d/e/f", "a/a/a"] {
        fs::create_dir_all(src.join(dir)).expect("mkdir");
    }
    fs::write(src.join("x"), "x").expect("write");
    for (i, t) in TARGETS.iter().enumerate() {
        for dir in ["", "d", "d/e", "d/e/f"] {
            symlink(t, src.join(dir).join(format!("l{i:02}"))).expect("symlink");
        }
    }
    chains(src);
}

/// `d/l1 -> ..` (safe on its own) and `l3 -> d/l1/../outside` (climbs through it); the deep
/// one `a/a/a/../../../unsafe2` at the top and at depth 3.
fn chains(src: &Path) {
    fs::create_dir_all(src.join("d")).expect("mkdir");
    fs::create_dir_all(src.join("a/a/a")).expect("mkdir");
    symlink("..", src.join("d/l1")).expect("symlink");
    symlink("d/l1/../outside", src.join("l3")).expect("symlink");
    symlink("a/a/a/../../../unsafe2", src.join("deep")).expect("symlink");
    symlink("a/a/a/../../../unsafe2", src.join("a/a/a/deep")).expect("symlink");
}

/// `pcp sync -a --safe-links` keeps exactly the links that `rsync -a --safe-links` keeps, for
/// `src/ dst/` (depth counted from inside src) and `src dst/` (one more level).
#[test]
fn safe_links_match_rsync() {
    require_rsync();
    let td = TestDir::new();
    let src = td.join("src");
    link_tree(&src);
    let all = links_under(&src);
    for (form, src_arg) in [("src/", slash(&src)), ("src", src.clone().into_os_string())] {
        let (by_rsync, by_pcp) = (td.join(format!("rsync-{}", form.len())), td.join(format!("pcp-{}", form.len())));
        run_ok(td.rsync().args(["-a", "--safe-links"]).arg(&src_arg).arg(slash(&by_rsync)));
        let out = run(td.pcp().args(["sync", "-a", "--safe-links"]).arg(&src_arg).arg(slash(&by_pcp)));
        assert!(out.status.code().is_some(), "pcp crashed: {out:?}");
        let (want, got) = (links_under(&by_rsync), links_under(&by_pcp));
        assert!(want.len() < all.len() && !want.is_empty(), "the tree has safe and unsafe links: {want:?}");
        if want != got {
            let mut diff = Vec::new();
            for (p, t) in &all {
                let p = if form == "src" { Path::new("src").join(p) } else { p.clone() };
                let (w, g) = (want.contains_key(&p), got.contains_key(&p));
                if w != g {
                    diff.push(format!("{} -> {}: rsync {}, pcp {}", p.display(), t.display(), keeps(w), keeps(g)));
                }
            }
            panic!("`{form}`: pcp and rsync keep different links:\n  {}", diff.join("\n  "));
        }
    }
}

fn keeps(k: bool) -> &'static str {
    if k {
        "keeps it"
    } else {
        "drops it"
    }
}

/// CVE-2024-12088: `d/l1 -> ..` is safe alone, but `l3 -> d/l1/../outside` climbs out through
/// it; a lexical depth count calls both safe.
#[test]
fn attack_safe_links_chain_via_dotdot_link() {
    let td = TestDir::new();
    let src = td.join("src");
    chains(&src);
    let dst = td.join("dst");
    run(td.pcp().args(["sync", "-a", "--safe-links"]).arg(slash(&src)).arg(slash(&dst)));
    assert_eq!(fs::read_link(dst.join("d/l1")).ok(), Some(PathBuf::from("..")), "d/l1 -> .. stays inside");
    assert!(fs::symlink_metadata(dst.join("l3")).is_err(), "l3 -> d/l1/../outside must be dropped");
    assert!(!td.join("outside").exists());
}

/// CVE-2024-12088: `a/a/a/../../../unsafe2` goes down three names and up three: counted
/// lexically it never leaves the tree, but any `..` after a name is refused (a name could be
/// a link).
#[test]
fn attack_safe_links_deep_chain() {
    let td = TestDir::new();
    let src = td.join("src");
    chains(&src);
    let dst = td.join("dst");
    run(td.pcp().args(["sync", "-a", "--safe-links"]).arg(slash(&src)).arg(slash(&dst)));
    assert!(dst.join("a/a/a").is_dir(), "the directories arrive");
    assert!(fs::symlink_metadata(dst.join("deep")).is_err(), "deep -> a/a/a/../../../unsafe2 must be dropped");
    assert!(fs::symlink_metadata(dst.join("a/a/a/deep")).is_err(), "a/a/a/deep must be dropped too");
}

// ---------------------------------------------------------------------------
// Paths through a symlink someone else planted (rsync ≥ 3.4 refuses them too, exit 3)
// ---------------------------------------------------------------------------

/// Another user (`nobody`), as seen from the tests (which run as root, like CI).
const NOBODY: u32 = 65534;

/// The exit code for a path through someone else's symlink (docs/cli.md: errors selecting
/// input/output files or directories, as rsync).
const REFUSED: i32 = 3;

/// `link -> target`, owned by [`NOBODY`].
fn foreign_symlink(target: impl AsRef<Path>, link: &Path) {
    symlink(target, link).expect("symlink");
    std::os::unix::fs::lchown(link, Some(NOBODY), Some(NOBODY))
        .expect("lchown of a symlink to uid 65534: these tests must run as root (CI does)");
}

/// Everything under `dir`, for "nothing was written there".
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

/// Why `out` is not the refusal this module expects (exit 3, one line naming `names`, the
/// owner and the fix), if it is not.
fn not_refused(out: &std::process::Output, names: &str) -> Option<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    let ok = out.status.code() == Some(REFUSED)
        && err.contains("refusing to follow symlink")
        && err.contains(names)
        && err.contains("owned by uid 65534")
        && err.contains("remove it or give the real path")
        && err.trim().lines().count() == 1;
    (!ok).then(|| format!("exit {:?}, stderr: {}", out.status.code(), err.trim()))
}

fn assert_refused(out: &std::process::Output, what: &str, names: &str) {
    if let Some(why) = not_refused(out, names) {
        panic!("{what}: expected a one-line refusal naming {names} and exit {REFUSED}; got {why}");
    }
}

/// DEST, or a directory above it, is a symlink owned by another user (planted in a shared
/// directory such as /tmp): sync, cp, receive and serve refuse it before writing anything.
#[test]
fn attack_dest_through_foreign_symlink() {
    let td = TestDir::new();
    td.write("src/f", "payload");
    let victim = td.mkdir("victim");
    td.mkdir("plant");
    foreign_symlink("../victim", &td.join("plant/dst"));
    foreign_symlink(&victim, &td.join("plant/parent"));
    let abs = |rel: &str| td.join(rel).into_os_string().into_string().expect("utf-8 path");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "sync into the link (relative)",
            vec!["sync".into(), "-a".into(), "src/".into(), "plant/dst/".into()],
            "plant/dst",
        ),
        (
            "sync into the link (absolute)",
            vec!["sync".into(), "-a".into(), "src/".into(), abs("plant/dst")],
            "plant/dst",
        ),
        (
            "sync under the link",
            vec!["sync".into(), "-a".into(), "src/".into(), "plant/parent/sub/".into()],
            "plant/parent",
        ),
        ("sync a file under the link", vec!["sync".into(), "src/f".into(), abs("plant/parent/g")], "plant/parent"),
        ("sync via ..", vec!["sync".into(), "-a".into(), "src/".into(), "plant/parent/../x/".into()], "plant/parent"),
        ("cp into the link", vec!["cp".into(), "-r".into(), "src".into(), "plant/dst".into()], "plant/dst"),
        ("receive into the link", vec!["receive".into(), "--yes".into(), "plant/dst/new".into()], "plant/dst"),
        // last: a build that follows the link would serve it until the timeout
        ("serve the link", vec!["serve".into(), "--once".into(), "plant/dst".into()], "plant/dst"),
    ];
    let mut failed = Vec::new();
    for (what, args, names) in cases {
        let out = run_timeout(td.pcp().args(&args), std::time::Duration::from_secs(30));
        if let Some(why) = not_refused(&out, names) {
            failed.push(format!("{what}: {why}"));
        }
        let written = listing(&victim);
        if !written.is_empty() || td.join("x").exists() {
            failed.push(format!("{what}: wrote through the link: {written:?}"));
            for p in written {
                fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p)).expect("clean up");
            }
        }
    }
    assert!(failed.is_empty(), "not refused:\n  {}", failed.join("\n  "));
}

/// A symlink owned by the user running pcp (or root) is the user's own choice: followed, like
/// rsync does (`/backup -> /mnt/disk`).
#[test]
fn dest_through_own_symlink_is_followed() {
    let td = TestDir::new();
    td.write("src/f", "payload");
    let real = td.mkdir("real");
    symlink(&real, td.join("mine")).expect("symlink");
    symlink("real", td.join("mine-rel")).expect("symlink");
    run_ok(td.pcp().args(["sync", "-a", "src/", "mine/"]));
    assert_eq!(fs::read(real.join("f")).expect("f arrived"), b"payload");
    run_ok(td.pcp().args(["cp", "-r", "src", "mine-rel/sub"]));
    assert_eq!(fs::read(real.join("sub/f")).expect("f arrived"), b"payload");
    assert!(fs::symlink_metadata(td.join("mine")).expect("lstat").file_type().is_symlink(), "the link stays a link");
}

/// `--exclude-from FILE` where FILE (or a directory above it) is someone else's symlink: the
/// rules would be theirs (say, excluding nothing, or everything, with --delete). Refused.
#[test]
fn attack_exclude_from_through_foreign_symlink() {
    let td = TestDir::new();
    td.write("src/keep", "k");
    td.write("src/secret", "s");
    td.write("theirs/rules", "keep\n");
    td.write("mine/rules", "secret\n");
    td.mkdir("plant");
    foreign_symlink("../theirs/rules", &td.join("plant/rules"));
    foreign_symlink("../theirs", &td.join("plant/dir"));
    for file in ["plant/rules", "plant/dir/rules"] {
        let out = run(td.pcp().args(["sync", "-a", "--exclude-from", file, "src/", "dst/"]));
        assert_refused(&out, file, file.split('/').take(2).collect::<Vec<_>>().join("/").as_str());
        assert!(!td.join("dst").exists(), "{file}: nothing transferred");
    }
    // The user's own link is followed.
    symlink("../mine/rules", td.join("plant/own")).expect("symlink");
    run_ok(td.pcp().args(["sync", "-a", "--exclude-from", "plant/own", "src/", "dst/"]));
    assert!(td.join("dst/keep").exists() && !td.join("dst/secret").exists());
}
