#![no_main]
//! Fuzz target: `pcp::fuzzing::mdns` (net::mdns's decoders) must never panic. Run: `cargo fuzz run mdns` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::mdns(data));
