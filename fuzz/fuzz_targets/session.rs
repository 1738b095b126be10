#![no_main]
//! Fuzz target: `pcp::fuzzing::session` must never panic. Run: `cargo fuzz run session` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::session(data));
