//! The `pcp` binary: parse argv, run, return the exit code. Everything else is in the library.

fn main() -> std::process::ExitCode {
    pcp::run(std::env::args_os().collect())
}
