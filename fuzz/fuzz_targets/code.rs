#![no_main]
//! Fuzz target: `pcp::fuzzing::code` must never panic. Run: `cargo fuzz run code` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::code(data));
