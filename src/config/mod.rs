//! Resolved options: flags over `PCP_*` environment over the config file ([`mod@file`]) over
//! defaults, with XDG paths. Built once ([`Options`]); below `cmd`, nothing sees clap types.

pub mod file;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::chunk::ChunkParams;
use crate::cli::{ConnectArgs, CpArgs, SyncArgs};
use crate::engine::destination::DestConfig;
use crate::engine::source::SourceConfig;
use crate::error::{tagged, Kind};
use crate::filter::{parse_filter_rule, read_exclude_file, Filter, Rule};
use crate::net::client::DialOptions;
use crate::proto::Flags;
use crate::report::Verbosity;
use crate::scan::{ScanOptions, SourceSpec};
use file::ConfigFile;

/// Where a transfer runs: both ends here, or one on a peer. Compression and the destination's
/// rate limit differ (a local copy never compresses; a network one does unless told not to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Local to local.
    Local,
    /// One side on a peer.
    Network,
}

/// The options of one transfer command (`sync`, `cp`), resolved once from the command line
/// (env and a config file, when those arrive, are folded in here and nowhere else). The only
/// factory of [`SourceConfig`] and [`DestConfig`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Transfer flags both roles agree on.
    pub flags: Flags,
    /// `--max-delete` (0: unlimited).
    pub max_delete: u64,
    /// Include/exclude rules.
    pub filter: Filter,
    /// How the source walks.
    pub scan: ScanOptions,
    /// The source may compress chunks.
    pub compress: bool,
    /// `pcp cp` naming (a directory copied onto a new name becomes that name; no `-r`, no
    /// directories).
    pub cp: bool,
    /// `--mkpath`: create the destination's missing parents (else only its last component).
    pub mkpath: bool,
    /// `--manifest`: the destination's manifest file.
    pub manifest: Option<PathBuf>,
    /// fsync before rename (off with `--no-fsync`).
    pub fsync: bool,
    /// `--bwlimit` in bytes per second.
    pub bwlimit: Option<u64>,
    /// `--max-size`, `--min-size`, `--modify-window` (the destination applies them).
    pub tuning: crate::proto::session::Tuning,
    /// `--wait-lock`: how long to wait for another run's lock on the destination.
    pub wait_lock: Duration,
    /// Local or network.
    pub reach: Reach,
    /// Output.
    pub verbosity: Verbosity,
    /// `--stats`.
    pub show_stats: bool,
    /// How to reach a peer.
    pub dial: DialOptions,
    /// `--code-file`.
    pub code_file: Option<PathBuf>,
}

/// `--retries` when neither a flag, `PCP_RETRIES` nor the config file says.
pub const DEFAULT_RETRIES: u32 = 3;
/// `--timeout` (seconds) when neither a flag, `PCP_TIMEOUT` nor the config file says.
pub const DEFAULT_TIMEOUT: u64 = 30;

/// The config file (`config.toml` in the config directory); a malformed one is a usage error
/// (exit 1) naming the file, line and key.
pub fn config_file() -> Result<ConfigFile> {
    ConfigFile::load(&config_dir()).map_err(|e| tagged(Kind::Usage, e))
}

/// The peer named by `paths` (`nas` of `nas:dir/`), if any.
pub fn peer_in(paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| match crate::location::Location::parse(p) {
        crate::location::Location::Peer { name, .. } => Some(name),
        crate::location::Location::Local { .. } => None,
    })
}

/// How to reach `peer`: its flags (and `PCP_*`), then its config file section, then the file's
/// defaults, then the built-in ones.
pub fn dial_options(c: &ConnectArgs, cfg: &ConfigFile, peer: Option<&str>) -> DialOptions {
    let offer = c.as_name.clone().or_else(hostname);
    let addr = c.addr.clone().or_else(|| cfg.peer(peer).and_then(|p| p.addr.clone()));
    DialOptions {
        addr,
        timeout: Duration::from_secs(c.timeout.or(cfg.timeout(peer)).unwrap_or(DEFAULT_TIMEOUT)),
        verify: c.verify,
        retries: c.retries.or(cfg.retries(peer)).unwrap_or(DEFAULT_RETRIES),
        remember: crate::net::client::Remember { enabled: !c.no_remember, offer },
        reach: crate::net::connect::Reach { relay_only: c.relay.relay_only, ..reach_of(&c.reach, cfg) },
    }
}

/// How to meet peers: the flags (and `PCP_NO_MDNS`, `PCP_RENDEZVOUS`), then config.toml's
/// `rendezvous`.
pub fn reach_of(r: &crate::cli::ReachArgs, cfg: &ConfigFile) -> crate::net::connect::Reach {
    let rendezvous = if r.no_rendezvous { None } else { r.rendezvous.clone().or_else(|| cfg.rendezvous.clone()) };
    crate::net::connect::Reach { mdns: !r.no_mdns, rendezvous, relay_only: false }
}

/// [`reach_of`] with this user's config file (a listener's commands), and `--relay-only`.
pub fn reach(r: &crate::cli::ReachArgs, relay: &crate::cli::net::RelayOnlyArg) -> Result<crate::net::connect::Reach> {
    Ok(crate::net::connect::Reach { relay_only: relay.relay_only, ..reach_of(r, &config_file()?) })
}

/// This machine's hostname (the default name a peer remembers it by).
pub fn hostname() -> Option<String> {
    let h = rustix::system::uname().nodename().to_string_lossy().into_owned();
    (!h.is_empty()).then_some(h)
}

/// Compile the filter rules of `pcp sync` (first match wins): --filter, --include,
/// --include-from files, --exclude, then --exclude-from files.
fn filter_of(a: &SyncArgs) -> Result<Filter> {
    let mut rules = Vec::new();
    for f in &a.filter {
        rules.push(parse_filter_rule(f)?);
    }
    for i in &a.include {
        rules.push(Rule::Include(i.clone()));
    }
    for f in &a.include_from {
        rules.extend(read_exclude_file(f)?.into_iter().map(|r| match r {
            Rule::Exclude(p) => Rule::Include(p),
            other => other,
        }));
    }
    for e in &a.exclude {
        rules.push(Rule::Exclude(e.clone()));
    }
    for f in &a.exclude_from {
        rules.extend(read_exclude_file(f)?);
    }
    Ok(Filter::new(rules, a.gitignore)?)
}

/// `-b`, `--suffix`, `--backup-dir` (which implies `-b`), checked as rsync does.
fn backup_of(a: &SyncArgs) -> Result<Option<crate::proto::session::BackupSpec>> {
    if !a.backup && a.backup_dir.is_none() {
        return Ok(None);
    }
    let dir = a.backup_dir.clone();
    let suffix = a.suffix.clone().unwrap_or_else(|| if dir.is_some() { String::new() } else { "~".into() });
    let b = crate::proto::session::BackupSpec { suffix, dir };
    b.check().map_err(|e| tagged(Kind::Usage, e))?;
    Ok(Some(b))
}

impl Options {
    /// `pcp sync` options.
    pub fn sync(a: &SyncArgs, reach: Reach) -> Result<Self> {
        let cfg = config_file()?;
        let peer = peer_in(&a.paths);
        let peer = peer.as_deref();
        let mut flags = 0;
        let mut set = |on: bool, bit: u64| {
            if on {
                flags |= bit;
            }
        };
        set(a.delete || a.delete_excluded, Flags::DELETE);
        set(a.delete_excluded, Flags::DELETE_EXCLUDED);
        set(a.mkpath, Flags::MKPATH);
        set(a.dry_run, Flags::DRY_RUN);
        set(a.checksum, Flags::CHECKSUM);
        set(a.update, Flags::UPDATE);
        set(a.ignore_existing, Flags::IGNORE_EXISTING);
        set(a.size_only, Flags::SIZE_ONLY);
        set(a.ignore_times, Flags::IGNORE_TIMES);
        // rsync: backups beside the files force --omit-dir-times.
        set(a.omit_dir_times || (a.backup && a.backup_dir.is_none()), Flags::OMIT_DIR_TIMES);
        set(a.existing, Flags::EXISTING);
        let perms = (a.archive || a.perms) && !a.no_perms;
        let times = (a.archive || a.times) && !a.no_times;
        let links = (a.archive || a.links) && !a.no_links;
        let recursive = (a.archive || a.recursive) && !a.no_recursive;
        set(perms, Flags::PERMS);
        set(perms, Flags::SPECIAL_BITS);
        set(times, Flags::TIMES);
        set(links, Flags::LINKS);
        set(a.safe_links, Flags::SAFE_LINKS);
        let compress = match reach {
            Reach::Local => a.compress,
            Reach::Network => !a.no_compress,
        };
        set(compress || a.compress, Flags::COMPRESS);
        set(true, Flags::ROOT_MODE);
        Ok(Self {
            flags: Flags(flags),
            max_delete: a.max_delete.unwrap_or(0),
            filter: filter_of(a)?,
            scan: ScanOptions {
                recursive,
                links,
                one_file_system: a.one_file_system,
                prune_empty_dirs: a.prune_empty_dirs,
            },
            compress,
            cp: false,
            mkpath: a.mkpath,
            manifest: a.manifest.clone(),
            fsync: !a.no_fsync,
            bwlimit: a.bwlimit.or(cfg.bwlimit(peer)),
            tuning: crate::proto::session::Tuning {
                max_size: a.max_size,
                min_size: a.min_size,
                // rsync: a negative window compares nanoseconds too (pcp's default).
                modify_window: a.modify_window.and_then(|w| u32::try_from(w).ok()),
                backup: backup_of(a)?,
                // Repeated --chmod: all of them, in order (as rsync).
                chmod: match a.chmod.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",") {
                    s if s.is_empty() => None,
                    s => Some(crate::chmod::Chmod::parse(&s).map_err(|e| tagged(Kind::Usage, e))?),
                },
            },
            wait_lock: Duration::from_secs(a.wait_lock),
            reach,
            verbosity: Verbosity { human: a.human_readable, ..verbosity(&a.out, a.itemize, a.partial_progress) },
            show_stats: a.out.stats,
            dial: dial_options(&a.conn, &cfg, peer),
            code_file: a.conn.code_file.clone(),
        })
    }

    /// `pcp cp` options: permissions and links kept, times with -p, content always compared.
    pub fn cp(a: &CpArgs, reach: Reach) -> Result<Self> {
        let cfg = config_file()?;
        let peer = peer_in(&a.paths);
        let peer = peer.as_deref();
        let mut flags = Flags::PERMS | Flags::LINKS | Flags::CHECKSUM | Flags::ROOT_MODE;
        if a.preserve {
            flags |= Flags::TIMES;
        }
        let compress = reach == Reach::Network;
        if compress {
            flags |= Flags::COMPRESS;
        }
        Ok(Self {
            flags: Flags(flags),
            max_delete: 0,
            filter: Filter::none(),
            scan: ScanOptions { recursive: a.recursive, links: true, one_file_system: false, prune_empty_dirs: false },
            compress,
            cp: true,
            mkpath: false,
            manifest: None,
            fsync: !a.no_fsync,
            // scp's -l is in Kbit/s: 125 bytes each.
            bwlimit: a.bwlimit.or(a.limit.map(|k| k.saturating_mul(125))).or(cfg.bwlimit(peer)),
            tuning: Default::default(),
            wait_lock: Duration::from_secs(a.wait_lock),
            reach,
            verbosity: verbosity(&a.out, false, false),
            show_stats: a.out.stats,
            dial: dial_options(&a.conn, &cfg, peer),
            code_file: a.conn.code_file.clone(),
        })
    }

    /// The source role's configuration for `specs`.
    pub fn source(&self, specs: Vec<SourceSpec>) -> SourceConfig {
        SourceConfig {
            manifest: specs.first().map(|s| manifest_for(&s.path)),
            specs,
            scan: self.scan,
            filter: self.filter.clone(),
            params: ChunkParams::DEFAULT,
            compress: self.compress,
            flags: self.flags,
            max_delete: self.max_delete,
            bwlimit: self.bwlimit,
        }
    }

    /// The destination role's configuration for `root`.
    pub fn dest(&self, root: PathBuf) -> DestConfig {
        DestConfig {
            manifest: Some(self.manifest.clone().unwrap_or_else(|| manifest_for(&root))),
            root,
            flags: self.flags,
            max_delete: self.max_delete,
            filter: self.filter.clone(),
            fsync: self.fsync,
            umask: umask(),
            // A local copy is paced once, by its source.
            bwlimit: if self.reach == Reach::Network { self.bwlimit } else { None },
            wait_lock: self.wait_lock,
            offer: None,
            root_fd: None,
            stop: &crate::INTERRUPTED,
            count_list: false,
            tuning: self.tuning.clone(),
            backup_fd: None,
        }
    }
}

/// The state directory (`$XDG_STATE_HOME/pcp`, else `~/.local/state/pcp`).
pub fn state_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_STATE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("pcp");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".local/state/pcp")
}

/// The config directory (`$XDG_CONFIG_HOME/pcp`, else `~/.config/pcp`).
pub fn config_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("pcp");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".config/pcp")
}

/// Default manifest database for a local root: one per canonical root path.
pub fn manifest_for(root: &Path) -> PathBuf {
    let canon = canonical(root);
    let h = blake3::hash(canon.as_os_str().as_encoded_bytes());
    state_dir().join("manifests").join(format!("{}.db", &h.to_hex()[..24]))
}

/// Output settings from the shared output flags.
pub fn verbosity(o: &crate::cli::OutputArgs, itemize: bool, progress: bool) -> Verbosity {
    Verbosity { verbose: o.verbose, quiet: o.quiet, itemize, progress: progress || o.progress, json: o.json, human: 0 }
}

/// The process umask (read once; restored immediately).
pub fn umask() -> u32 {
    crate::fsio::process_umask()
}

/// Canonical form of `p` even when it does not exist yet (the destination of a first sync):
/// the deepest existing ancestor is canonicalized and the rest appended.
pub fn canonical(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// A destination root that does not exist is created, but only its last component (rsync's
/// rule): a missing parent is an error unless `--mkpath`.
pub fn check_parent(root: &Path, mkpath: bool, dry_run: bool) -> Result<()> {
    if mkpath || dry_run || std::fs::symlink_metadata(root).is_ok() {
        return Ok(());
    }
    let parent = root.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if std::fs::symlink_metadata(parent).is_err() {
        return Err(tagged(
            Kind::FileIo,
            format!(
                "cannot create {}: {} does not exist; create it first, or pass --mkpath (only the last component is made, as rsync does)",
                root.display(),
                parent.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_path_is_stable_before_and_after_creation() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("new/dir/");
        let before = manifest_for(&target);
        std::fs::create_dir_all(&target).unwrap();
        assert_eq!(before, manifest_for(&target));
        assert_eq!(before, manifest_for(&d.path().join("new/./dir")));
    }
}
