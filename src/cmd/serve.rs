//! `pcp serve DIR`: answer sync/cp/ls for DIR. Prints a one-time code (or uses `PCP_CODE`);
//! after a code is used or burnt it prints a fresh one, except with `--once`, which exits after
//! one session (exit 40 when the code was rejected); `--no-code` prints none and serves paired
//! peers only. Each paired peer reaches DIR only if DIR lies within its roots
//! (`session::policy`). After a wrong code, code attempts pause
//! for a doubling delay (the guessing budget lives in `net::handshake::CodeGuard`).

use std::sync::Arc;

use anyhow::Result;

use super::Outcome;
use crate::auth::peers::Root;
use crate::cli::ServeArgs;
use crate::error::{tagged, Kind};
use crate::net::listen::{Listener, Pairing};
use crate::report::Reporter;
use crate::session::accept::{Mode, Server};
use crate::session::policy::{Policy, ServedDir};

/// Most connections (TLS, handshakes and sessions) served at once; more are refused as busy.
const MAX_CONNECTIONS: usize = 4;

/// `pcp serve`.
pub fn run(a: &ServeArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::reported(&rep, serve(a, &rep))
}

fn serve(a: &ServeArgs, rep: &Reporter) -> Result<Outcome> {
    // Peers write here: never through a symlink someone else planted on the way.
    crate::fsio::trust::check(&a.dir)?;
    let dir = std::fs::canonicalize(&a.dir).ok().filter(|d| d.is_dir()).ok_or_else(|| {
        tagged(Kind::Select, format!("{} is not a directory; give the directory to serve", a.dir.display()))
    })?;
    let root = crate::fsio::source::SourceRoot::open(&dir)
        .map_err(|e| tagged(Kind::Select, format!("{}: {e}; give the directory to serve", dir.display())))?;
    // A malformed config file stops the daemon here, not its first peer.
    crate::config::config_file()?;
    let pairing =
        Pairing { new_root: Some(Root { path: dir.clone(), read_only: a.read_only }), codes: !a.no_code, name: None };
    let policy = Policy::Serve {
        served: ServedDir { dir, root: Arc::new(root) },
        read_only: a.read_only,
        config_dir: crate::config::config_dir(),
    };
    let listener = Listener::bind(a.listen.as_deref(), rep, Some(pairing), &crate::config::reach(&a.reach, &a.relay)?)?;
    let server =
        Server { listener: &listener, policy: &policy, rep, show_stats: a.out.stats, stop: &crate::INTERRUPTED };
    server.run(if a.once { Mode::OneShot } else { Mode::Daemon { max_connections: MAX_CONNECTIONS } })
}
