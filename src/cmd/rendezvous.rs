//! `pcp rendezvous [--listen ADDR]`: a self-hosted rendezvous server (net::rendezvous). It
//! prints where it listens, then, with `--json`, one line per introduction and per refusal.

use anyhow::Result;

use super::Outcome;
use crate::cli::RendezvousArgs;
use crate::error::{tagged, Kind};
use crate::net::rendezvous::daemon::{Daemon, RelayLimits, Report};
use crate::net::rendezvous::messages::token_name;
use crate::net::rendezvous::server::{Event, Limits};
use crate::report::Reporter;

/// `pcp rendezvous`.
pub fn run(a: &RendezvousArgs) -> Result<Outcome> {
    let rep = Reporter::new(crate::config::verbosity(&a.out, false, false));
    super::reported(&rep, serve(a, &rep))
}

fn serve(a: &RendezvousArgs, rep: &Reporter) -> Result<Outcome> {
    let listen: std::net::SocketAddr = a.listen.parse().map_err(|_| {
        tagged(Kind::Usage, format!("--listen {:?}: give an address like 0.0.0.0:7000 or [::]:7000", a.listen))
    })?;
    let rate = f64::from(a.max_requests);
    let limits = Limits { rate, burst: 2.0 * rate, max_tokens: a.max_channels as usize, ..Limits::default() };
    let record =
        match std::env::var_os("PCP_RENDEZVOUS_RECORD") {
            Some(p) => {
                Some(std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| {
                    tagged(Kind::Usage, format!("PCP_RENDEZVOUS_RECORD {p:?}: {e}; give a writable file"))
                })?)
            }
            None => None,
        };
    let relays = RelayLimits { max_relays: a.max_relays as usize, max_rate: a.max_rate.unwrap_or(0) };
    let mut d = Daemon::bind(listen, limits, relays, record)
        .map_err(|e| tagged(Kind::Connect, format!("cannot listen on {listen}: {e}; pick another address or port")))?;
    let addr = d.local_addr().map_err(|e| tagged(Kind::Connect, format!("{listen}: {e}")))?;
    rep.listening(addr);
    d.run(&crate::INTERRUPTED, |r| match r {
        Report::Server(Event::Introduced { token, listener, dialer }) => rep.json(serde_json::json!({
            "event": "introduced", "channel": token_name(token),
            "listener": listener.to_string(), "dialer": dialer.to_string(),
        })),
        Report::Server(Event::Busy { from }) => {
            rep.json(serde_json::json!({"event": "busy", "from": from.to_string()}))
        }
        Report::Server(Event::RelayWanted { .. }) => {}
        Report::RelayOpened { session, port } => {
            rep.json(serde_json::json!({"event": "relay_opened", "session": format!("{session:016x}"), "port": port}))
        }
        Report::RelayClosed { session, to_listener, to_dialer, dropped } => rep.json(serde_json::json!({
            "event": "relay_closed", "session": format!("{session:016x}"),
            "bytes_to_listener": to_listener, "bytes_to_dialer": to_dialer, "dropped": dropped,
        })),
    })
    .map_err(|e| tagged(Kind::Connect, format!("rendezvous on {addr}: {e}")))?;
    Err(tagged(Kind::Interrupted, "interrupted; the rendezvous stopped"))
}
