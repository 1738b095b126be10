//! `pcp peers list|rename|forget`: the paired peers kept in the config directory
//! (auth::peers, fsio::keyfile).

use anyhow::Result;

use super::Outcome;
use crate::auth::peers::PeerName;
use crate::cli::PeersCommand;
use crate::error::{tagged, Kind};
use crate::fsio::keyfile;

/// Run one `pcp peers` subcommand.
pub fn run(c: &PeersCommand) -> Result<Outcome> {
    let dir = crate::config::config_dir();
    let rep = crate::report::Reporter::new(crate::report::Verbosity::default());
    match c {
        PeersCommand::List { json } => {
            let peers = keyfile::load_peers(&dir)?;
            let config = crate::config::config_file()?;
            let listed: Vec<_> =
                peers.records().iter().map(|r| (r, crate::session::policy::roots_of(r, &config))).collect();
            rep.peers(&listed, *json);
        }
        PeersCommand::Rename { old, new } => {
            let new = PeerName::parse(new).map_err(|e| tagged(Kind::Usage, e))?;
            keyfile::update_peers(&dir, |p| p.rename(old, &new))?.map_err(|e| tagged(Kind::Usage, e))?;
        }
        PeersCommand::Forget { name } => {
            if !keyfile::update_peers(&dir, |p| p.forget(name))? {
                return Err(tagged(Kind::Usage, format!("no paired peer named {name:?}; see `pcp peers list`")));
            }
            rep.info(&format!("forgot {name}: its key is refused from now on; pair again with a code to reconnect"));
        }
    }
    Ok(Outcome::Ok)
}
