//! `pcp completions SHELL`.

use clap::CommandFactory;

/// Print the completion script for `shell` to stdout.
pub fn run(shell: clap_complete::Shell) -> anyhow::Result<super::Outcome> {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "pcp", &mut std::io::stdout());
    Ok(super::Outcome::Ok)
}
