#![no_main]
//! Fuzz target: `pcp::fuzzing::decode_message` must never panic. Run: `cargo fuzz run message_decode` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::decode_message(data));
