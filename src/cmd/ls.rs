//! `pcp ls PEER:PATH`: list a peer's directory (or one entry), like `rsync --list-only`.

use anyhow::Result;

use super::Outcome;
use crate::cli::LsArgs;
use crate::error::{tagged, Kind};
use crate::location::Location;
use crate::report::Reporter;
use crate::session::dial;

/// `pcp ls`.
pub fn run(a: &LsArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::reported(&rep, ls(a, &rep))
}

fn ls(a: &LsArgs, rep: &Reporter) -> Result<Outcome> {
    let Location::Peer { name, path } = Location::parse(&a.path) else {
        return Err(tagged(Kind::Usage, format!("{}: give PEER:PATH (use plain ls for local files)", a.path)));
    };
    let auth = dial::auth_for(&name, a.conn.code_file.as_deref())?;
    let verify = super::verify_prompt;
    let cx = dial::Ctx { rep, stop: &crate::INTERRUPTED, verify: &verify };
    let dial_opts = crate::config::dial_options(&a.conn, &crate::config::config_file()?, Some(&name));
    let entries = dial::list(&dial_opts, auth, &name, &path, &cx)?;
    rep.listing(&entries);
    Ok(Outcome::Ok)
}
