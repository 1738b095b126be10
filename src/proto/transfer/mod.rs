//! The transfer protocol's per-role state machines, sans-IO (like quinn-proto's `Connection`
//! beside its driver). Each role's driver (`engine::destination`, `engine::source`) receives
//! messages from its `Link`, feeds them to its state machine and does what the returned events
//! say: file IO, chunking, sending. The state machines own the protocol: message order, the
//! version check, the accepted-offer check, ids and windows, caps on counts from the wire,
//! unsolicited and duplicate detection and the end-of-transfer checks. Every protocol violation
//! is a [`super::Error`] raised here. No files, sockets, clock or randomness: everything is
//! testable without a file system and fuzzed (`fuzz/fuzz_targets/transfer_*.rs`).
//!
//! - [`dest::DestState`]: the destination (docs/protocol.md, "Transfer state machines").
//! - [`source::SourceState`]: the source.
//! - [`offer::Offer`]: what a receiving user accepted (re-exported as `plan::Offer`).

pub mod dest;
pub mod offer;
pub mod source;

#[cfg(test)]
mod dest_tests;
#[cfg(test)]
mod source_tests;

pub use dest::{DestState, EntryBatch, Event as DestEvent, FileState, Queued, Rejection};
pub use source::{Event as SourceEvent, Listing, SourceState};

/// Files the destination works on at once (bounds open temp files and memory).
pub const FILE_WINDOW: usize = 256;

/// Most chunk-list slots (declared size / minimum chunk, per file) the destination's window
/// holds at once: about 57 bytes each, so chunk lists take at most ~115 MiB however large the
/// files a source declares (one file larger than that still gets the window to itself).
pub const WINDOW_CHUNKS: usize = 2 << 20;

/// Bad chunks (not matching their hashes) tolerated before the source is cut off (T29).
pub const MAX_STRIKES: u32 = 16;

/// Failed files whose late `Data` the destination still recognises (and ignores) after it
/// released them from the window: a source may have sent chunks of a file before it learnt the
/// file failed. Bounded; older ids fall out (oldest first).
pub const RELEASED_MAX: usize = 4 * FILE_WINDOW;

/// Short name of a message for errors.
pub fn kind_name(m: &super::Message) -> &'static str {
    use super::Message;
    match m {
        Message::Hello(_) => "Hello",
        Message::FileList { .. } => "FileList",
        Message::FileListEnd { .. } => "FileListEnd",
        Message::Need { .. } => "Need",
        Message::ChunkList { .. } => "ChunkList",
        Message::FileSum { .. } => "FileSum",
        Message::Want { .. } => "Want",
        Message::Data { .. } => "Data",
        Message::Progress { .. } => "Progress",
        Message::Summary { .. } => "Summary",
        Message::Change { .. } => "Change",
        Message::Done => "Done",
        Message::Error { .. } => "Error",
    }
}

/// A peer-supplied name made safe to show: control and bidi characters escaped. The one
/// escaping rule of pcp: `report::sanitize` calls it.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bad = c.is_control()
            || matches!(c as u32, 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2069 | 0xFEFF | 0xE0000..=0xE007F);
        if bad {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}
