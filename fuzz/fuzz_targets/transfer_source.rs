#![no_main]
//! Fuzz target: the source's protocol state machine alone (`pcp::fuzzing::transfer_source`),
//! no file IO, driven by arbitrary messages: never panics, state stays bounded by its listing.
//! Run: `fuzz/run.sh`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::transfer_source(data));
