//! `pcp ls PEER:PATH`: list a peer's directory (or one entry), like `rsync --list-only`.

use anyhow::Result;

use super::Outcome;
use crate::cli::LsArgs;
use crate::error::{tagged, Kind};
use crate::location::Location;
use crate::net::client::{read_code, Dialer};
use crate::net::session::{read_entries, write_frame, Request};
use crate::report::Reporter;

/// `pcp ls`.
pub fn run(a: &LsArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::remote::reported(&rep, ls(a, &rep))
}

fn ls(a: &LsArgs, rep: &Reporter) -> Result<Outcome> {
    let Location::Peer { name, path } = Location::parse(&a.path) else {
        return Err(tagged(Kind::Usage, format!("{}: give PEER:PATH (use plain ls for local files)", a.path)));
    };
    let code = read_code(a.conn.code_file.as_deref())?;
    let mut d = Dialer::new(&name, &a.conn, code, crate::net::endpoint::Bulk::Receive)?;
    let rt = d.handle();
    let entries = d.with_retries(a.conn.retries, rep, |d, _| {
        let (conn, mut auth) = d.connect(rep)?;
        rt.block_on(write_frame(&mut auth.send, &Request::List { path: path.clone() }.encode()))?;
        let all = rt.block_on(read_entries(&mut auth.recv))?;
        conn.close(quinn::VarInt::from_u32(crate::net::handshake::close::DONE), b"done");
        Ok(all)
    })?;
    rep.listing(&entries);
    Ok(Outcome::Ok)
}
