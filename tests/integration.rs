//! The single integration-test binary of pcp.
//!
//! Everything lives in ONE test binary (Cargo.toml: `autotests = false`, one
//! `[[test]] name = "integration"`) so the crate and its deps are linked once.
//!
//! Where new kinds of tests go:
//! - shared helpers (sandboxed `pcp()` command, `TestDir`, random trees,
//!   mutators, tree comparison, process helpers) go in `tests/util/mod.rs`;
//! - local-sync behaviour, the rsync differential oracle and crash safety go
//!   in `tests/sync.rs`;
//! - a new area (e.g. remote/peer transfer, auth, CLI parsing, manifests)
//!   gets its own `tests/<area>.rs` plus a `mod <area>;` line below; if it
//!   needs helpers of its own, use `tests/<area>/mod.rs` + sub-files, or add
//!   them to `util` when other areas can reuse them.
//!
//! Tests reach the binary under test through `util::pcp()` /
//! `TestDir::pcp()`, which point HOME and the XDG dirs into a temp sandbox.

// The crate denies clippy::unwrap_used/expect_used; clippy's
// allow-*-in-tests only covers #[test] fns, not the helpers they call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attack_fs;
mod attack_net;
mod catalogue;
mod cli;
mod layering;
mod links;
mod net;
mod pairing;
mod reach;
mod scale;
mod stats;
mod sync;
mod unattended;
mod util;
