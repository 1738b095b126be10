//! Arguments of the network commands and the connection options of sync/cp.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::OutputArgs;

/// How to reach a peer and authenticate (sync, cp, ls, receive).
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectArgs {
    /// Reach the peer at HOST:PORT (as printed by its `pcp serve` / `pcp send`), skipping discovery.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Read the one-time code from the first line of FILE (else PCP_CODE, else a prompt; never argv).
    #[arg(long, value_name = "FILE")]
    pub code_file: Option<PathBuf>,
    /// When the connection drops, reconnect and continue up to N times (exponential backoff;
    /// default 3, or `retries` in config.toml).
    #[arg(long, value_name = "N", env = "PCP_RETRIES")]
    pub retries: Option<u32>,
    /// Give up on a silent peer after SECONDS (1-3600, default 30, or `timeout` in config.toml;
    /// an idle but healthy connection is kept alive); with --retries, reconnect after that.
    #[arg(long, value_name = "SECONDS", env = "PCP_TIMEOUT", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
    /// Show the 4 verifier words and ask, before anything is sent, whether the peer shows the
    /// same ones (catches even a lucky guess of the code; needs a terminal).
    #[arg(long)]
    pub verify: bool,
    /// On first contact with a code, do not pair: store nothing, and ask the peer to store
    /// nothing (by default both sides remember each other, and later runs need no code).
    #[arg(long)]
    pub no_remember: bool,
    /// How peers meet.
    #[command(flatten)]
    pub reach: ReachArgs,
    /// The name this machine offers the peer to remember it by (default: the hostname).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Meet only through the relay.
    #[command(flatten)]
    pub relay: RelayOnlyArg,
    /// Link tuning.
    #[command(flatten)]
    pub link: LinkArgs,
}

/// How peers find each other when no address is given: mDNS on the LAN, a rendezvous
/// server across the internet (sync, cp, ls, receive, send, serve, pair).
#[derive(Debug, Args, Clone, Default)]
pub struct ReachArgs {
    /// Do not use mDNS: no LAN announcement or lookup. Also PCP_NO_MDNS=1.
    #[arg(long, env = "PCP_NO_MDNS", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_mdns: bool,
    /// Meet peers through the rendezvous server at HOST:PORT (one you run with `pcp rendezvous`;
    /// also PCP_RENDEZVOUS, or `rendezvous` in config.toml). It sees no secret and no file.
    #[arg(long, value_name = "HOST:PORT", env = "PCP_RENDEZVOUS")]
    pub rendezvous: Option<String>,
    /// Use no rendezvous server, even one set by PCP_RENDEZVOUS or config.toml.
    #[arg(long)]
    pub no_rendezvous: bool,
}

/// `--relay-only` (every command that meets a peer, dialing or listening).
#[derive(Debug, Args, Clone, Default)]
pub struct RelayOnlyArg {
    /// Meet the peer only through the rendezvous' relay (it forwards encrypted QUIC packets):
    /// no hole punch and no LAN lookup or answer, so neither side learns the other's address.
    #[arg(long)]
    pub relay_only: bool,
}

/// `pcp rendezvous`.
#[derive(Debug, Args, Clone)]
pub struct RendezvousArgs {
    /// Listen on ADDR (UDP; HOST:PORT). Peers name it with --rendezvous HOST:PORT or
    /// PCP_RENDEZVOUS.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7000")]
    pub listen: String,
    /// Requests per second one source IP may make (sustained; twice that as a burst); more
    /// are answered "rendezvous busy".
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_requests: u32,
    /// Tokens (waiting peers) registered at once, in all; more are answered "rendezvous busy".
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_channels: u32,
    /// Relays open at once (one per pair of peers whose NATs no punch gets through; 0: relay
    /// nothing); more are answered "rendezvous busy".
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub max_relays: u32,
    /// Bytes per second one relay forwards, both ways together (K/M/G suffixes, as --bwlimit;
    /// default: no limit).
    #[arg(long, value_name = "RATE", value_parser = super::args::parse_rate)]
    pub max_rate: Option<u64>,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `pcp serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Directory to serve; peers' paths are relative to it and never leave it.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Exit after one session.
    #[arg(long)]
    pub once: bool,
    /// Refuse pushes: peers may only read (sync/cp from this peer, ls).
    #[arg(long)]
    pub read_only: bool,
    /// Take no codes: print none and refuse new peers; only paired peers may connect.
    #[arg(long)]
    pub no_code: bool,
    /// How peers meet.
    #[command(flatten)]
    pub reach: ReachArgs,
    /// Relay only.
    #[command(flatten)]
    pub relay: RelayOnlyArg,
    /// Link tuning.
    #[command(flatten)]
    pub link: LinkArgs,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `pcp pair`.
#[derive(Debug, Args, Clone)]
pub struct PairArgs {
    /// What to call the other machine here (`NAME:path`). Hosting: default the name it offers
    /// (its hostname, or its --as); joining: default the host of --addr.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Join: reach the machine that printed the code at HOST:PORT (without --addr, this side
    /// hosts: it prints a code and waits for the other).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Host: listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous).
    #[arg(long, value_name = "ADDR", conflicts_with = "addr")]
    pub listen: Option<String>,
    /// Join: read the code from the first line of FILE (else PCP_CODE, else a prompt).
    #[arg(long, value_name = "FILE", requires = "addr")]
    pub code_file: Option<PathBuf>,
    /// Join: the name this machine offers the other to remember it by (default: the hostname).
    #[arg(long = "as", value_name = "NAME", requires = "addr")]
    pub as_name: Option<String>,
    /// Show the 4 verifier words and ask whether the other side shows the same (join side).
    #[arg(long, requires = "addr")]
    pub verify: bool,
    /// Give up on a silent peer after SECONDS (1-3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// How peers meet.
    #[command(flatten)]
    pub reach: ReachArgs,
    /// Relay only.
    #[command(flatten)]
    pub relay: RelayOnlyArg,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `pcp ls`.
#[derive(Debug, Args, Clone)]
pub struct LsArgs {
    /// What to list: PEER:PATH (PATH relative to the directory the peer serves).
    #[arg(value_name = "PEER:PATH")]
    pub path: String,
    /// Connection options.
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `pcp send`.
#[derive(Debug, Args, Clone)]
pub struct SendArgs {
    /// Files and directories to send (a trailing slash sends a directory's contents).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Listen on ADDR (HOST:PORT; port 0 picks a free port, printed on stderr; default `0.0.0.0:0`, or `[::]:0` with an IPv6 rendezvous).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Ask nothing (for scripts; `pcp send` has no question today, the receiver confirms).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// How peers meet.
    #[command(flatten)]
    pub reach: ReachArgs,
    /// Relay only.
    #[command(flatten)]
    pub relay: RelayOnlyArg,
    /// Link tuning.
    #[command(flatten)]
    pub link: LinkArgs,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `pcp receive`.
#[derive(Debug, Args, Clone)]
pub struct ReceiveArgs {
    /// Where to put the files (default: a new directory `pcp-received[-N]` here).
    #[arg(value_name = "DEST")]
    pub dest: Option<PathBuf>,
    /// Accept the offer without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Connection options.
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// Skip fsync before renaming files into place.
    #[arg(long)]
    pub no_fsync: bool,
    /// Output options.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How this side sends (sync, cp, ls, receive, send, serve).
#[derive(Debug, Args, Clone, Default)]
pub struct LinkArgs {
    /// Congestion controller for what this side sends: bbr (default: keeps the pipe full under
    /// random loss) or cubic (halves its rate on every loss, as most TCP stacks). Also PCP_CONGESTION.
    #[arg(long, value_enum, value_name = "CC")]
    pub congestion: Option<Congestion>,
}

/// QUIC congestion controllers (`--congestion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Congestion {
    /// Model-based (delivery rate and minimum RTT): holds throughput under random loss.
    Bbr,
    /// Loss-based: halves its window on every loss.
    Cubic,
}
