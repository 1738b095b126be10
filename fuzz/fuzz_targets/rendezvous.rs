#![no_main]
//! Fuzz target: `pcp::fuzzing::rendezvous` (net::rendezvous's decoder and server core) must never panic. Run: `cargo fuzz run rendezvous` (nightly).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::rendezvous(data));
