//! `pcp pair [NAME]`: pair two machines with a code, once. Without `--addr` this side hosts:
//! it prints `Code: ...` (or uses `PCP_CODE`), waits for one peer, keeps it (as NAME, else
//! under the name it offers) and exits. With `--addr` it joins: it reads the code (PCP_CODE,
//! `--code-file`, else a prompt), keeps the host as NAME (default: the host of `--addr`) and
//! offers its own name (`--as`, else the hostname). Both print the other's key fingerprint.
//! A record made here has no roots: the peer reaches whatever this machine's `pcp serve`
//! serves, unless `[peer.NAME] roots` in config.toml says otherwise (`session::policy`).

use std::time::Duration;

use anyhow::Result;

use super::Outcome;
use crate::auth::peers::PeerName;
use crate::cli::PairArgs;
use crate::error::{tagged, Kind};
use crate::net::client::{DialOptions, Remember};
use crate::net::listen::{Listener, Pairing};
use crate::report::Reporter;
use crate::session::accept::{Mode, Server};
use crate::session::policy::Policy;

/// `pcp pair`.
pub fn run(a: &PairArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    let r = match &a.addr {
        Some(addr) => join(a, addr, &rep),
        None => host(a, &rep),
    };
    super::reported(&rep, r)
}

fn name_arg(n: &str) -> Result<PeerName> {
    PeerName::parse(n).map_err(|e| tagged(Kind::Usage, format!("{e}; give another NAME")))
}

fn host(a: &PairArgs, rep: &Reporter) -> Result<Outcome> {
    let name = a.name.as_deref().map(name_arg).transpose()?;
    let pairing = Pairing { new_root: None, codes: true, name };
    let listener = Listener::bind(a.listen.as_deref(), rep, Some(pairing), &crate::config::reach(&a.reach, &a.relay)?)?;
    let policy = Policy::Pair;
    let server = Server { listener: &listener, policy: &policy, rep, show_stats: false, stop: &crate::INTERRUPTED };
    server.run(Mode::OneShot)
}

fn join(a: &PairArgs, addr: &str, rep: &Reporter) -> Result<Outcome> {
    let name = match &a.name {
        Some(n) => name_arg(n)?,
        None => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']']);
            PeerName::sanitized(host).ok_or_else(|| {
                tagged(
                    Kind::Usage,
                    format!("cannot make a peer name of {host:?}; give one: pcp pair NAME --addr {addr}"),
                )
            })?
        }
    };
    let code = crate::tty::read_code(a.code_file.as_deref())?;
    let dial = DialOptions {
        addr: Some(addr.to_owned()),
        timeout: Duration::from_secs(a.timeout),
        verify: a.verify,
        retries: 0,
        remember: Remember { enabled: true, offer: a.as_name.clone().or_else(crate::config::hostname) },
        reach: crate::config::reach(&a.reach, &a.relay)?,
    };
    let verify = super::verify_prompt;
    let cx = crate::session::dial::Ctx { rep, stop: &crate::INTERRUPTED, verify: &verify };
    crate::session::dial::pair(&dial, code, name.as_str(), &cx)?;
    Ok(Outcome::Ok)
}
