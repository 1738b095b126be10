#![no_main]
//! Fuzz target: the destination role driven by arbitrary messages from its peer (`pcp::fuzzing::destination`)
//! must never panic, hang or write outside its root. Run: `fuzz/run.sh`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pcp::fuzzing::destination(data));
