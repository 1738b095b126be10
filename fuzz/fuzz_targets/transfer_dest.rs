#![no_main]
//! Fuzz target: the destination's protocol state machine alone (`pcp::fuzzing::transfer_dest`),
//! no file IO, driven by arbitrary messages: never panics, state stays within its windows.
//! Run: `fuzz/run.sh`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::transfer_dest(data));
