//! Flattened argument groups.

use std::path::PathBuf;

use clap::Args;

/// Output options shared by commands.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Increase verbosity (list changed names).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Suppress non-error messages.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show progress (bytes, rate, ETA); plain lines when stderr is not a terminal.
    #[arg(long)]
    pub progress: bool,
    /// Print one JSON object per line on stdout (events: change, warning, progress, summary, error).
    #[arg(long)]
    pub json: bool,
    /// Print transfer statistics at the end.
    #[arg(long)]
    pub stats: bool,
    /// rsync's --info=FLAGS, comma-separated: progress2 (or progress1) = --progress, stats
    /// (stats1-3) = --stats, name (name1-2) and del = -v; skip, flist, misc, none are accepted
    /// and change nothing.
    #[arg(long, value_name = "FLAGS", value_delimiter = ',', value_parser = parse_info)]
    pub info: Vec<Info>,
}

/// One `--info` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    Progress,
    Stats,
    Name,
    Other,
}

/// Parse one `--info` flag (`progress2`, `stats`, `name1`, ...).
pub fn parse_info(s: &str) -> Result<Info, String> {
    let base = s.trim_end_matches(|c: char| c.is_ascii_digit());
    let level = &s[base.len()..];
    if level.len() > 1 {
        return Err(format!("{s:?}: a level is one digit (progress2, stats1)"));
    }
    match base.to_ascii_lowercase().as_str() {
        "progress" => Ok(Info::Progress),
        "stats" => Ok(Info::Stats),
        "name" | "del" => Ok(Info::Name),
        "skip" | "flist" | "misc" | "none" | "remove" | "symsafe" | "backup" | "copy" | "mount" | "nonreg" => {
            Ok(Info::Other)
        }
        _ => Err(format!(
            "{s:?} is not an --info flag pcp knows; use progress2, stats, name, del, skip (comma-separated)"
        )),
    }
}

impl OutputArgs {
    /// Fold `--info` into the flags it stands for (once, after parsing).
    pub fn fold_info(&mut self) {
        for i in std::mem::take(&mut self.info) {
            match i {
                Info::Progress => self.progress = true,
                Info::Stats => self.stats = true,
                Info::Name => self.verbose = self.verbose.max(1),
                Info::Other => {}
            }
        }
    }
}

/// `pcp sync`.
#[derive(Debug, Args, Clone)]
pub struct SyncArgs {
    /// Sources, then the destination. A trailing slash on a source directory means its contents.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// Archive mode: -rlpt (pcp does not copy owners, groups or devices).
    #[arg(short, long)]
    pub archive: bool,
    /// Skip files that are newer on the destination (a strictly later mtime).
    #[arg(short = 'u', long)]
    pub update: bool,
    /// Skip updating anything that already exists on the destination (new files only).
    #[arg(long)]
    pub ignore_existing: bool,
    /// Skip creating anything new on the destination: only what exists there is updated.
    #[arg(long, visible_alias = "ignore-non-existing")]
    pub existing: bool,
    /// The quick check compares sizes only, not mtimes.
    #[arg(long)]
    pub size_only: bool,
    /// Do not transfer any file larger than SIZE (as rsync: 500, 1.5m, 2G, 1kb = 1000, 1k = 1024,
    /// a trailing +1 or -1 adds or takes a byte). Such files are kept where they are, not deleted.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Keep what is replaced or deleted: renamed FILE~ beside it (--suffix), or moved into
    /// --backup-dir. Crash-safe: the old version is kept before the new one is renamed in.
    #[arg(short = 'b', long)]
    pub backup: bool,
    /// Backups go into DIR (relative to the destination, or absolute; on a peer it must stay
    /// inside the served directory), at the same relative path; implies --backup.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<String>,
    /// Backup suffix (default ~, or none with --backup-dir).
    #[arg(long, value_name = "SUFFIX", allow_hyphen_values = true)]
    pub suffix: Option<String>,
    /// Change the permissions the source sent, as chmod(1) does (rsync's syntax: D755,F644 or
    /// u+rwX,go-w; D: directories only, F: the rest); with -p they apply to every entry,
    /// without it to new ones.
    #[arg(long, value_name = "CHMOD", value_parser = |s: &str| crate::chmod::Chmod::parse(s))]
    pub chmod: Vec<crate::chmod::Chmod>,
    /// Prune empty directory chains: a directory with no file or link beneath it (after the
    /// filters) is not copied.
    #[arg(short = 'm', long)]
    pub prune_empty_dirs: bool,
    /// Do not cross file-system boundaries: a mount point is copied as an empty directory.
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Do not transfer any file smaller than SIZE (see --max-size).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Mtimes at most NUM seconds apart are the same (compared in whole seconds, as rsync's
    /// default 0; 1 for FAT). Without it, or negative, pcp compares to the nanosecond.
    #[arg(short = '@', long, value_name = "NUM", allow_hyphen_values = true)]
    pub modify_window: Option<i64>,
    /// No quick check: compare every file, even when size and mtime match.
    #[arg(short = 'I', long)]
    pub ignore_times: bool,
    /// Recurse into directories.
    #[arg(short, long, overrides_with = "no_recursive")]
    pub recursive: bool,
    /// Do not recurse, even with -a (rsync's --no-OPTION: the last of the two wins).
    #[arg(long = "no-recursive", visible_alias = "no-r", overrides_with = "recursive")]
    pub no_recursive: bool,
    /// Accepted for rsync scripts (`--info=progress2 --no-inc-recursive`): pcp always streams
    /// its file list, so there is no incremental recursion to turn off.
    #[arg(long = "no-inc-recursive", visible_alias = "no-i-r")]
    pub no_inc_recursive: bool,
    /// Create the destination's missing parent directories too (without it, as rsync, only
    /// the last component is created, and a missing parent is an error, exit 11).
    #[arg(long)]
    pub mkpath: bool,
    /// Copy symlinks as symlinks.
    #[arg(short, long, overrides_with = "no_links")]
    pub links: bool,
    /// Do not copy symlinks, even with -a.
    #[arg(long = "no-links", visible_alias = "no-l", overrides_with = "links")]
    pub no_links: bool,
    /// Preserve permissions.
    #[arg(short, long, overrides_with = "no_perms")]
    pub perms: bool,
    /// Do not preserve permissions, even with -a.
    #[arg(long = "no-perms", visible_alias = "no-p", overrides_with = "perms")]
    pub no_perms: bool,
    /// Preserve modification times.
    #[arg(short, long, overrides_with = "no_times")]
    pub times: bool,
    /// Do not preserve modification times, even with -a.
    #[arg(long = "no-times", visible_alias = "no-t", overrides_with = "times")]
    pub no_times: bool,
    /// Accepted for rsync scripts and ignored: pcp's chunks already send whole files when
    /// nothing matches and only changed chunks otherwise.
    #[arg(short = 'W', long)]
    pub whole_file: bool,
    /// Leave directories' mtimes alone (files' are still kept with -t).
    #[arg(short = 'O', long)]
    pub omit_dir_times: bool,
    /// Show what would change; change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Compare file content, not size and modification time.
    #[arg(short, long)]
    pub checksum: bool,
    /// Delete files in DEST that are not in SRC (excluded files are kept). pcp deletes after
    /// the transfer, so rsync's --delete-after, --delete-before, --delete-during (--del) and
    /// --delete-delay all mean this (the result is the same; only when space is freed differs).
    #[arg(long, visible_aliases = ["delete-after", "delete-before", "delete-during", "delete-delay", "del"])]
    pub delete: bool,
    /// Also delete files in DEST that the filters exclude (implies --delete).
    #[arg(long)]
    pub delete_excluded: bool,
    /// Accepted for rsync scripts: pcp's --delete already replaces a non-empty directory by a
    /// file and back.
    #[arg(long)]
    pub force: bool,
    /// Delete at most N files.
    #[arg(long, value_name = "N")]
    pub max_delete: Option<u64>,
    /// Exclude files matching PATTERN (gitignore syntax; first matching rule wins).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Include files matching PATTERN (wins over later excludes).
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Read exclude patterns from FILE ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pub exclude_from: Vec<PathBuf>,
    /// Read include patterns from FILE ('-' for stdin): they come after --include and before
    /// the excludes (`--include-from=list --exclude='*'` copies what the list names).
    #[arg(long, value_name = "FILE")]
    pub include_from: Vec<PathBuf>,
    /// A filter rule: '- PATTERN' or '+ PATTERN'.
    #[arg(short = 'f', long, value_name = "RULE", allow_hyphen_values = true)]
    pub filter: Vec<String>,
    /// Also honour .gitignore files (.pcpignore files are always honoured).
    #[arg(long)]
    pub gitignore: bool,
    /// Drop symlinks that point outside the tree.
    #[arg(long)]
    pub safe_links: bool,
    /// Output a change summary for every updated item (rsync's format).
    #[arg(short, long = "itemize-changes")]
    pub itemize: bool,
    /// Output numbers in a human-readable format (K, M, G; -hh: powers of 1024). As in rsync,
    /// `-h` alone prints the help.
    #[arg(short = 'h', long = "human-readable", action = clap::ArgAction::Count)]
    pub human_readable: u8,
    /// Print help (`-h` alone too).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Same as --partial --progress (pcp always keeps partial data for resume).
    #[arg(short = 'P')]
    pub partial_progress: bool,
    /// Keep partially transferred data (always on in pcp; accepted for rsync compatibility).
    #[arg(long)]
    pub partial: bool,
    /// Compress chunk data on the wire (default: adaptive, on for network transfers).
    #[arg(short = 'z', long)]
    pub compress: bool,
    /// Never compress chunk data.
    #[arg(long, conflicts_with = "compress")]
    pub no_compress: bool,
    /// Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit;
    /// also `bwlimit` in config.toml).
    #[arg(long, value_name = "RATE", env = "PCP_BWLIMIT", value_parser = parse_rate)]
    pub bwlimit: Option<u64>,
    /// When another pcp run is writing into the same destination, wait up to SECONDS for it
    /// (default 0: fail at once, exit 35).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait_lock: u64,
    /// Use this manifest database for the destination instead of the one under the state dir.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Skip syncing files to disk before renaming them into place (faster; a power loss may lose recent files).
    #[arg(long, overrides_with = "fsync")]
    pub no_fsync: bool,
    /// Accepted for rsync scripts: pcp already makes each batch of files durable before it
    /// renames them into place (unless --no-fsync; the last of the two wins).
    #[arg(long, overrides_with = "no_fsync")]
    pub fsync: bool,
    /// Connection options (PEER:PATH).
    #[command(flatten)]
    pub conn: super::ConnectArgs,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `pcp cp`.
#[derive(Debug, Args, Clone)]
pub struct CpArgs {
    /// Sources, then the destination.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    pub paths: Vec<String>,
    /// Copy directories recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Preserve modification times (permissions are always preserved, like scp).
    #[arg(short = 'p', long = "preserve")]
    pub preserve: bool,
    /// Compress (scp -C): pcp already compresses over the network where it pays (zstd); on a
    /// local copy it changes nothing.
    #[arg(short = 'C', long)]
    pub compress: bool,
    /// Limit the bandwidth to LIMIT Kbit/s (scp -l; --bwlimit takes bytes).
    #[arg(short = 'l', value_name = "LIMIT", conflicts_with = "bwlimit", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Batch mode (scp -B): never ask; the code must come from PCP_CODE or --code-file, or the
    /// peer be paired.
    #[arg(short = 'B', long = "batch")]
    pub batch: bool,
    /// Skip syncing files to disk before renaming them into place.
    #[arg(long)]
    pub no_fsync: bool,
    /// Limit chunk data to RATE per second (KiB by default; suffixes K, M, G; 0 = no limit;
    /// also `bwlimit` in config.toml).
    #[arg(long, value_name = "RATE", env = "PCP_BWLIMIT", value_parser = parse_rate)]
    pub bwlimit: Option<u64>,
    /// When another pcp run is writing into the same destination, wait up to SECONDS for it
    /// (default 0: fail at once, exit 35).
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub wait_lock: u64,
    /// Connection options (PEER:PATH).
    #[command(flatten)]
    pub conn: super::ConnectArgs,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Parse an rsync-style size (--max-size): a number, maybe with a fraction, then a unit (B,
/// K, M, G, T or P; one letter or with "iB": powers of 1024; two letters ending in B: powers of
/// 1000; any case), then maybe "+1" or "-1".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a size: use e.g. 500, 1.5m, 2G, 10kb or 1g-1 (bytes by default)");
    let t = s.trim();
    let (t, offset) = match (t.strip_suffix("+1"), t.strip_suffix("-1")) {
        (Some(r), _) if r.ends_with(|c: char| c.is_ascii_alphabetic()) => (r, 1i64),
        (_, Some(r)) if r.ends_with(|c: char| c.is_ascii_alphabetic()) => (r, -1),
        _ => (t, 0),
    };
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !(v.is_finite() && v >= 0.0) || num.starts_with(['+', '-']) {
        return Err(bad());
    }
    let unit = unit.to_ascii_lowercase();
    let mut chars = unit.chars();
    let power = match chars.next() {
        None | Some('b') => 0,
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some('p') => 5,
        Some(_) => return Err(bad()),
    };
    let base: f64 = match chars.as_str() {
        "" | "ib" => 1024.0,
        "b" if power > 0 => 1000.0,
        _ => return Err(bad()),
    };
    let bytes = (v * base.powi(power)).floor() + offset as f64;
    if !(0.0..9.2e18).contains(&bytes) {
        return Err(format!("{s:?} is too large a size"));
    }
    Ok(bytes as u64)
}

/// Parse an rsync-style rate: a number of KiB, or with a K, M or G suffix (powers of 1024).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('B') => (&t[..t.len() - 1], 1),
        _ => (t, 1 << 10),
    };
    let v: f64 =
        num.parse().map_err(|_| format!("{s:?} is not a rate: use e.g. 500, 1.5M or 2G (KiB/s by default)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{s:?} is not a rate: it must be zero or positive"));
    }
    Ok((v * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_rsync_reads_them() {
        assert_eq!(parse_size("500").unwrap(), 500);
        assert_eq!(parse_size("1.5m").unwrap(), 1_572_864);
        assert_eq!(parse_size("1.5mb-1").unwrap(), 1_499_999);
        assert_eq!(parse_size("2g+1").unwrap(), 2_147_483_649);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("1kb").unwrap(), 1000);
        assert_eq!(parse_size("10b").unwrap(), 10);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in ["", "abc", "-5", "1x", "1kbb", "1bb", "+3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100").unwrap(), 100 * 1024);
        assert_eq!(parse_rate("1.5M").unwrap(), 1_572_864);
        assert_eq!(parse_rate("2g").unwrap(), 2 << 30);
        assert_eq!(parse_rate("0").unwrap(), 0);
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
