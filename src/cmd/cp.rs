//! `pcp cp`: scp-like copy. Overwrites, never deletes; permissions kept, times with -p; content
//! is always compared (not just size and time), so a copy is a copy.

use anyhow::Result;

use super::Outcome;
use crate::chunk::ChunkParams;
use crate::cli::CpArgs;
use crate::engine::destination::DestConfig;
use crate::engine::source::SourceConfig;
use crate::error::{tagged, Kind};
use crate::filter::Filter;
use crate::proto::Flags;
use crate::report::Reporter;
use crate::scan::ScanOptions;

/// `pcp cp`.
pub fn run(a: &CpArgs) -> Result<Outcome> {
    if a.paths.iter().any(|p| crate::location::Location::parse(p).is_peer()) {
        return super::remote::cp(a);
    }
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    let (srcs, dest) = a.paths.split_at(a.paths.len() - 1);
    if !a.recursive {
        for s in srcs {
            if std::fs::metadata(s).map(|m| m.is_dir()).unwrap_or(false) {
                return Err(tagged(Kind::Select, format!("{s} is a directory; use -r to copy directories")));
            }
        }
    }
    let (specs, root) = super::sync::resolve_paths(srcs, &dest[0], true)?;
    let mut flags = Flags::PERMS | Flags::LINKS | Flags::CHECKSUM | Flags::ROOT_MODE;
    if a.preserve {
        flags |= Flags::TIMES;
    }
    let flags = Flags(flags);
    let params = ChunkParams::DEFAULT;
    let plan = super::sync::LocalPlan {
        source: SourceConfig {
            manifest: specs.first().map(|s| crate::config::manifest_for(&s.path)),
            specs,
            scan: ScanOptions { recursive: a.recursive, links: true },
            filter: Filter::none(),
            params,
            compress: false,
            flags,
            max_delete: 0,
            bwlimit: a.bwlimit,
        },
        dest: DestConfig {
            manifest: Some(crate::config::manifest_for(&root)),
            root,
            flags,
            max_delete: 0,
            filter: Filter::none(),
            fsync: !a.no_fsync,
            umask: crate::config::umask(),
            bwlimit: None,
            offer: None,
            root_fd: None,
        },
    };
    super::sync::run_local(plan, &rep, a.out.stats)
}
