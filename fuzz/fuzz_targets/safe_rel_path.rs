#![no_main]
//! Fuzz target: `pcp::fuzzing::safe_rel_path` must never panic. Run: `cargo fuzz run safe_rel_path` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::safe_rel_path(data));
