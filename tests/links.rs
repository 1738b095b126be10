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
