//! The CLI contract: generated man pages and completions are fresh, exit codes and error
//! messages for bad input.

use std::path::PathBuf;

use clap::CommandFactory;

use crate::util::{assert_trees_equal, write_seeded_file, TestDir};

fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let cmd = pcp::cli::Cli::command();
    let mut buf = Vec::new();
    // `pcp help` works, but has no page of its own: the top page does not list it.
    clap_mangen::Man::new(cmd.clone().disable_help_subcommand(true)).render(&mut buf).unwrap();
    buf.extend_from_slice(pcp::cli::MAN_SECTIONS.as_bytes());
    out.push((root.join("man/pcp.1"), buf));
    for sub in cmd.get_subcommands() {
        let name = format!("pcp-{}", sub.get_name());
        let sub = sub.clone().name(&*name.clone().leak());
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buf).unwrap();
        buf.extend_from_slice(pcp::cli::MAN_SECTIONS.as_bytes());
        out.push((root.join(format!("man/{name}.1")), buf));
    }
    for (shell, file) in [
        (clap_complete::Shell::Bash, "pcp.bash"),
        (clap_complete::Shell::Zsh, "_pcp"),
        (clap_complete::Shell::Fish, "pcp.fish"),
        (clap_complete::Shell::Elvish, "pcp.elv"),
        (clap_complete::Shell::PowerShell, "_pcp.ps1"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut pcp::cli::Cli::command(), "pcp", &mut buf);
        out.push((root.join("completions").join(file), buf));
    }
    out
}

/// Fails when man/ or completions/ are stale. Regenerate with
/// `PCP_UPDATE_GENERATED=1 cargo test --test integration generated_files_are_fresh`.
#[test]
fn generated_files_are_fresh() {
    let update = std::env::var_os("PCP_UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for (path, want) in generated() {
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&want[..]) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run PCP_UPDATE_GENERATED=1 cargo test --test integration generated_files_are_fresh"
    );
}

#[test]
fn usage_errors_exit_1_and_name_the_flag() {
    let t = TestDir::new();
    t.mkdir("src");
    let out = t.pcp().args(["sync", "-aH", "src/", "dst/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("-H") && err.contains("not supported"), "{err}");
    let out = t.pcp().args(["sync", "--no-such-flag", "src/", "dst/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn missing_source_exits_3() {
    let t = TestDir::new();
    let out = t.pcp().args(["sync", "-a", "nope/", "dst/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    assert!(!t.join("dst").exists(), "nothing created for a failed selection");
}

#[test]
fn json_reports_errors_as_events() {
    let t = TestDir::new();
    let out = t.pcp().args(["sync", "-a", "--json", "nope/", "dst/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["event"], "error");
    assert_eq!(v["exit_code"], 3);
}

#[test]
fn cp_without_r_refuses_directories() {
    let t = TestDir::new();
    t.mkdir("d");
    let out = t.pcp().args(["cp", "d", "e"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-r"));
}

#[test]
fn completions_for_every_shell() {
    let t = TestDir::new();
    for sh in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = t.pcp().args(["completions", sh]).output().unwrap();
        assert!(out.status.success() && !out.stdout.is_empty(), "{sh}");
    }
}

#[test]
fn rsync_avhp_delete_syncs_with_human_stats_and_h_alone_prints_help() {
    let t = TestDir::new();
    let src = t.mkdir("src");
    write_seeded_file(&src.join("big.bin"), 3, 2_500_000);
    t.write("dst/stale.txt", "old");
    // The most common rsync command line: -h is --human-readable here, not help.
    let out = t.pcp().args(["sync", "-avhP", "--delete", "--stats", "src/", "dst/"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_trees_equal(&src, &t.join("dst"));
    assert!(text.contains("Total file size: 2.50M bytes"), "{text}");
    // -hh: powers of 1024.
    let out = t.pcp().args(["sync", "-ahh", "--stats", "src/", "dst/"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Total file size: 2.38M bytes"));
    // -h alone (as rsync) and --help print the help, exit 0, and copy nothing.
    for args in [&["sync", "-h"][..], &["sync", "--help"]] {
        let out = t.pcp().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("--human-readable"), "{args:?}");
    }
}

#[test]
fn info_flags_fold_into_progress_stats_and_names_and_unknown_ones_are_named() {
    let td = TestDir::new();
    td.write("src/a.txt", "a");
    let src = format!("{}/", td.join("src").display());
    let dst = format!("{}/", td.join("dst").display());
    let out = td.pcp().args(["sync", "-a", "--info=progress2,stats2,name", "--no-i-r", &src, &dst]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Number of files:") || stderr.contains("Number of files:"), "{stdout}{stderr}");
    assert!(stdout.contains("a.txt"), "name lists the file: {stdout}");
    let out = td.pcp().args(["sync", "-a", "--info=bogus", &src, &dst]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"bogus\" is not an --info flag"));
}
