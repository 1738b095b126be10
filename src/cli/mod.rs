//! The command line: clap derive only, no IO and no logic. `config::Options` resolves these raw
//! values once; commands never see clap types.

pub mod args;
pub mod net;

use clap::{Parser, Subcommand};

pub use args::{CpArgs, OutputArgs, SyncArgs};
pub use net::{Congestion, ConnectArgs, LsArgs, PairArgs, ReachArgs, ReceiveArgs, RendezvousArgs, SendArgs, ServeArgs};

/// peer copy: rsync semantics, scp ease, end-to-end encrypted peer-to-peer sync.
#[derive(Debug, Parser)]
#[command(name = "pcp", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Exit codes, shown in --help and the man page.
pub const EXIT_CODES: &str = "Exit codes:
  0 ok · 1 usage/syntax · 2 protocol incompatibility · 3 errors selecting files
  10 connection/discovery failed · 11 file I/O error · 12 protocol data stream error
  20 interrupted (SIGINT/SIGTERM) · 23 partial transfer due to error · 30 timeout
  35 destination in use by another run (--wait-lock) · 40 authentication failed";

/// The man pages' FILES, ENVIRONMENT and EXIT STATUS sections (roff), appended to each
/// generated page (tests/cli.rs writes man/).
pub const MAN_SECTIONS: &str = r#".SH FILES
.TP
\fB~/.config/pcp/identity.key\fR
This installation's Noise static key, created on first use (mode 0600 in a 0700 directory;
refused with the fix when group or others can read it). \fB$XDG_CONFIG_HOME/pcp\fR when set.
.TP
\fB~/.config/pcp/peers\fR
Paired peers: name, pinned key, pair psk, when paired and last seen, last address, and the
roots each may reach here (0600).
See \fBpcp peers\fR.
.TP
\fB~/.config/pcp/config.toml\fR
Defaults: top-level \fBbwlimit\fR, \fBretries\fR, \fBtimeout\fR, \fBrendezvous\fR; per peer, \fB[peer.NAME]\fR
with \fBaddr\fR, \fBbwlimit\fR, \fBretries\fR, \fBtimeout\fR and, on the serving side,
\fBroots\fR (the directories NAME may reach here) and \fBread_only\fR. Flags win over
\fBPCP_*\fR variables, which win over this file. A malformed file is an error naming the
file, the line and the key (exit 1).
.TP
\fB~/.local/state/pcp/\fR
Manifests (one SQLite database per destination root) and their locks (\fB*.lock\fR: one
run per destination at a time). \fB$XDG_STATE_HOME/pcp\fR when set.
.SH ENVIRONMENT
.TP
\fBPCP_CODE\fR
The one-time code, instead of the prompt (never on the command line).
.TP
\fBPCP_RETRIES\fR, \fBPCP_TIMEOUT\fR, \fBPCP_BWLIMIT\fR
As \fB--retries\fR, \fB--timeout\fR, \fB--bwlimit\fR (over config.toml, under the flags).
.TP
\fBPCP_NO_MDNS\fR
\fB1\fR: as \fB--no-mdns\fR (no LAN announcement or lookup).
.TP
\fBPCP_RENDEZVOUS\fR
\fBHOST:PORT\fR of a rendezvous server (\fBpcp rendezvous\fR), as \fB--rendezvous\fR.
.TP
\fBPCP_RENDEZVOUS_RECORD\fR
For \fBpcp rendezvous\fR: append every datagram it handles, relayed ones too, to this file
as hex (to check what it sees).
.TP
\fBPCP_CONGESTION\fR
\fBbbr\fR (default) or \fBcubic\fR, as \fB--congestion\fR.
.TP
\fBXDG_CONFIG_HOME\fR, \fBXDG_STATE_HOME\fR, \fBHOME\fR
Where the files above live.
.SH EXIT STATUS
0 ok; 1 usage or syntax; 2 protocol incompatibility; 3 errors selecting files; 10 connection or
discovery failed; 11 file I/O error; 12 protocol data stream error; 20 interrupted (SIGINT or
SIGTERM); 23 partial transfer due to error; 30 timeout; 35 destination in use by another run
(\fB--wait-lock\fR); 40 authentication failed (wrong or used code, or a peer that is not paired).
"#;

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // one value per process, parsed once: boxing buys nothing
pub enum Command {
    /// rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself).
    #[command(after_help = EXIT_CODES, disable_help_flag = true, override_usage = "pcp sync [OPTIONS] SRC... DEST")]
    Sync(SyncArgs),
    /// scp-like one-shot copy: -r for directories, overwrites, never deletes.
    #[command(after_help = EXIT_CODES, override_usage = "pcp cp [OPTIONS] SRC... DEST")]
    Cp(CpArgs),
    /// One-shot: print a code, send PATH... to whoever enters it, exit.
    Send(SendArgs),
    /// One-shot: ask for the code, show what is offered, confirm, receive into DEST.
    Receive(ReceiveArgs),
    /// Answer sync/cp/ls for DIR: paired peers with no code, new ones with the one-time code it
    /// prints (or PCP_CODE; --no-code: none).
    Serve(ServeArgs),
    /// List a peer's files, like rsync --list-only.
    Ls(LsArgs),
    /// Pair two machines with a code, once: one hosts (prints `Code: ...`), the other joins
    /// with --addr and the code; later sync/cp/ls between them need no code.
    Pair(PairArgs),
    /// Run a rendezvous server (self-hosted): peers with no address meet through it, by a
    /// code's public channel word or a pairing's daily token; it never sees a secret or a file.
    Rendezvous(RendezvousArgs),
    /// Paired peers (remembered after a first contact with a code): list, rename, forget.
    #[command(subcommand)]
    Peers(PeersCommand),
    /// Print a shell completion script.
    Completions {
        /// Shell to generate for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The output options of the command, if it has any.
    pub fn output_mut(&mut self) -> Option<&mut OutputArgs> {
        match self {
            Self::Sync(a) => Some(&mut a.out),
            Self::Cp(a) => Some(&mut a.out),
            Self::Send(a) => Some(&mut a.out),
            Self::Receive(a) => Some(&mut a.out),
            Self::Serve(a) => Some(&mut a.out),
            Self::Ls(a) => Some(&mut a.out),
            Self::Pair(a) => Some(&mut a.out),
            Self::Rendezvous(a) => Some(&mut a.out),
            Self::Peers(_) | Self::Completions { .. } => None,
        }
    }
}

/// `pcp peers ...`.
#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Name, key fingerprint, paired and last seen, last address of every paired peer.
    List {
        /// One JSON object per peer on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Call a paired peer NEW from now on (`NEW:path`).
    Rename {
        /// Its current name.
        old: String,
        /// Its new name (letters, digits, '.', '_', '-').
        new: String,
    },
    /// End the pairing from this side: the peer's key is refused from now on, and using its
    /// name needs a code again.
    Forget {
        /// The peer's name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_rsync_style_flags() {
        let c = Cli::try_parse_from(["pcp", "sync", "-avn", "--delete", "--exclude", "*.tmp", "-i", "src/", "dst/"])
            .unwrap();
        let Command::Sync(s) = c.command else { panic!() };
        assert!(s.archive && s.dry_run && s.delete && s.itemize);
        assert_eq!(s.out.verbose, 1);
        assert_eq!(s.exclude, vec!["*.tmp"]);
        assert_eq!(s.paths, vec!["src/", "dst/"]);
    }

    #[test]
    fn max_delete_and_progress() {
        let c = Cli::try_parse_from(["pcp", "sync", "-aP", "--max-delete=3", "a", "b"]).unwrap();
        let Command::Sync(s) = c.command else { panic!() };
        assert_eq!(s.max_delete, Some(3));
        assert!(s.partial_progress);
    }
}
