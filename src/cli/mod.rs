//! The command line: clap derive only, no IO and no logic. `config::Options` resolves these raw
//! values once; commands never see clap types.

pub mod args;
pub mod net;

use clap::{Parser, Subcommand};

pub use args::{CpArgs, OutputArgs, SyncArgs};
pub use net::{Congestion, ConnectArgs, LsArgs, ReceiveArgs, SendArgs, ServeArgs};

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

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// rsync-like sync of SRC... into DEST (`dir/` means the contents of dir, `dir` the dir itself).
    #[command(after_help = EXIT_CODES)]
    Sync(SyncArgs),
    /// scp-like one-shot copy: -r for directories, overwrites, never deletes.
    #[command(after_help = EXIT_CODES)]
    Cp(CpArgs),
    /// One-shot: print a code, send PATH... to whoever enters it, exit.
    Send(SendArgs),
    /// One-shot: ask for the code, show what is offered, confirm, receive into DEST.
    Receive(ReceiveArgs),
    /// Answer sync/cp/ls for DIR: prints a one-time code (or uses PCP_CODE).
    Serve(ServeArgs),
    /// List a peer's files, like rsync --list-only.
    Ls(LsArgs),
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
