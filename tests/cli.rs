//! The CLI contract: generated man pages and completions are fresh, exit codes and error
//! messages for bad input.

use std::path::PathBuf;

use clap::CommandFactory;

use crate::util::{assert_trees_equal, slash, write_seeded_file, TestDir};

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

/// Every row of docs/cli.md's rsync option table says what the binary does: a supported or
/// accepted option parses, a refused one is refused naming it as an rsync option pcp lacks,
/// and an option that is not pcp's is an error naming it (exit 1).
#[test]
fn the_rsync_option_table_is_true() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    let table = doc.split("## rsync options in pcp sync").nth(1).expect("the table in docs/cli.md");
    let td = TestDir::new();
    td.write("src/f", "x");
    let mut rows = 0;
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let names = cells[0].trim_start_matches("| `").trim_end_matches('`').replace("\\|", "|");
        let status = cells[1].trim_end_matches(" |");
        // The first name; a value for options that take one.
        let first = names.split(", ").next().unwrap();
        let opt = match first.split_once('=') {
            Some((n, _)) => format!("{n}=1"),
            None => first.to_owned(),
        };
        let o = td.pcp().args(["sync", "-n", &opt]).arg(slash(&td.join("src"))).arg(td.join("dst")).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let name = first.split('=').next().unwrap();
        if status.starts_with("supported") || status.starts_with("accepted") {
            assert!(!err.contains("unexpected argument") && !err.contains("not supported by pcp"), "{first}: {err}");
        } else if status.starts_with("refused") {
            assert!(err.contains("not supported by pcp") && err.contains(name), "{first}: {err}");
            assert_eq!(o.status.code(), Some(1), "{first}");
        } else {
            assert!(status.starts_with("not an option"), "{line}");
            assert_eq!(o.status.code(), Some(1), "{first}: {err}");
            assert!(err.contains(name) || err.contains(&opt), "{first}: {err}");
        }
        rows += 1;
    }
    assert!(rows > 140, "only {rows} rows");
}
