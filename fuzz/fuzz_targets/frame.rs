#![no_main]
//! Fuzz target: `pcp::fuzzing::frames` must never panic. Run: `cargo fuzz run frame` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::frames(data));
