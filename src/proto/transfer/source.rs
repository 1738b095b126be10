//! The source's protocol state machine, sans-IO. [`SourceState::handle`] takes each message
//! from the destination and either refuses it ([`Error`]: the transfer ends) or returns an
//! [`Event`] for the driver (`engine::source`): chunk these files, send these chunks, finish.
//!
//! What it owns: message order (Hello first with the same version; an Error may come before
//! it), Need ids naming regular files this side listed, each at most once, Want ranges naming
//! chunks this side listed, at most twice over (plus 64) per file in all (security.md T33),
//! and withdrawn files (their later Wants are ignored). What this side listed is the driver's
//! (its lister and chunker threads fill it); the state machine asks through [`Listing`].
//! It holds no file, socket or clock: the driver owns all IO.

use std::collections::{HashMap, HashSet};

use super::kind_name;
use crate::proto::message::VERSION;
use crate::proto::{Error, Message};

/// What this side has listed so far, as the driver knows it.
pub trait Listing {
    /// Entry `id` of the file list: `Some(true)` a regular file, `Some(false)` another kind,
    /// `None` not listed (yet).
    fn entry(&self, id: u32) -> Option<bool>;
    /// Chunks of `file` listed so far; `None` before its chunk list started.
    fn chunks(&self, file: u32) -> Option<usize>;
    /// Entries listed so far (sent in FileList messages).
    fn listed(&self) -> u32;
}

/// What the driver does for a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing (a Want for a withdrawn file).
    Nothing,
    /// The destination's Hello, accepted.
    Hello,
    /// Chunk these files and send their chunk lists (ids checked: listed regular files, each
    /// needed once). `inline`: an inline file's data goes out with its list.
    Need {
        /// Entry ids.
        files: Vec<u32>,
        /// Nothing at these paths on the destination.
        inline: bool,
    },
    /// Send these chunks of `file` (every index listed).
    Want {
        /// Entry id.
        file: u32,
        /// `(start, count)` ranges of chunk indices.
        ranges: Vec<(u32, u32)>,
    },
    /// Every entry below `done` is finished at the destination: forget what is kept for them,
    /// and list up to `done + LIST_AHEAD`.
    Progress {
        /// The first unfinished entry id.
        done: u32,
    },
    /// What the destination did (for the report).
    /// A line the destination itemized (asked for with `ECHO_CHANGES`).
    Change { item: String, name: String },
    Summary {
        /// As in [`Message::Summary`]: created, deleted, files, size, written.
        counts: [u64; 5],
    },
    /// The destination has finished: answer Done and stop.
    Done,
}

fn state(s: String) -> Error {
    Error::State(s)
}

/// The source's protocol state (see the module documentation).
#[derive(Debug, Default)]
pub struct SourceState {
    hello: bool,
    done: bool,
    /// Each entry is needed at most once (a repeated id would chunk the file again).
    needed: HashSet<u32>,
    /// Chunks asked for per file so far: at most twice over (a destination asking again and
    /// again would make this side read and send without end: security.md T33).
    wanted: HashMap<u32, u64>,
    /// Files this side withdrew (could not read the listed bytes any more).
    withdrawn: HashSet<u32>,
    /// The destination's last Progress: entries below it are finished (never named again).
    finished: u32,
    /// A Summary came (at most one).
    summary: bool,
}

impl SourceState {
    /// A fresh source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take one message from the destination; `listing` is what this side listed so far.
    pub fn handle(&mut self, msg: Message, listing: &impl Listing) -> Result<Event, Error> {
        if self.done {
            return Err(state(format!("{} after Done", kind_name(&msg))));
        }
        match msg {
            Message::Hello(h) if !self.hello => {
                if h.version != VERSION {
                    return Err(Error::Version(h.version, VERSION));
                }
                self.hello = true;
                Ok(Event::Hello)
            }
            Message::Error { text } => Err(Error::Remote(text)),
            _ if !self.hello => Err(state("first message was not Hello".into())),
            Message::Hello(_) => Err(state("second Hello".into())),
            Message::Need { files, inline } => {
                for &id in &files {
                    if id < self.finished {
                        return Err(state(format!("need for entry {id}, which the destination said was finished")));
                    }
                    match listing.entry(id) {
                        None => return Err(state(format!("need for unknown entry {id}"))),
                        Some(false) => return Err(state(format!("need for entry {id}, which is not a regular file"))),
                        Some(true) => {}
                    }
                    if !self.needed.insert(id) {
                        return Err(state(format!("entry {id} was needed twice")));
                    }
                }
                Ok(Event::Need { files, inline })
            }
            Message::Want { file, ranges } => {
                if ranges.is_empty() {
                    return Ok(Event::Nothing);
                }
                let asked: u64 = ranges.iter().map(|&(_, c)| u64::from(c)).sum();
                let chunks = listing.chunks(file);
                let listed = chunks.unwrap_or(0) as u64;
                let total = self.wanted.get(&file).copied().unwrap_or(0).saturating_add(asked);
                if total > 2 * listed + 64 {
                    return Err(state(format!("file {file}: asked for its chunks more than twice over")));
                }
                if file < self.finished {
                    return Err(state(format!("want for file {file}, which the destination said was finished")));
                }
                if self.withdrawn.contains(&file) {
                    self.wanted.insert(file, total);
                    return Ok(Event::Nothing);
                }
                for &(start, cnt) in &ranges {
                    if cnt == 0 {
                        continue;
                    }
                    let Some(n) = chunks else {
                        return Err(state(format!("want for file {file} before its chunk list")));
                    };
                    if u64::from(start) + u64::from(cnt) > n as u64 {
                        let idx = (start as usize).max(n);
                        return Err(state(format!("want for chunk {idx} of file {file}, not listed")));
                    }
                }
                // Counted only once valid: every counted file has a chunk list (was needed).
                self.wanted.insert(file, total);
                Ok(Event::Want { file, ranges })
            }
            Message::Progress { done } => {
                if done < self.finished || done > listing.listed() {
                    return Err(state(format!(
                        "progress {done} outside {}..={} (what was listed)",
                        self.finished,
                        listing.listed()
                    )));
                }
                self.finished = done;
                // Entries below `done` are never named again: their state goes.
                self.needed.retain(|&f| f >= done);
                self.wanted.retain(|&f, _| f >= done);
                self.withdrawn.retain(|&f| f >= done);
                Ok(Event::Progress { done })
            }
            Message::Summary { created, deleted, files, size, written } => {
                if std::mem::replace(&mut self.summary, true) {
                    return Err(state("second Summary".into()));
                }
                Ok(Event::Summary { counts: [created, deleted, files, size, written] })
            }
            Message::Change { item, name } => Ok(Event::Change { item, name }),
            Message::Done => {
                self.done = true;
                Ok(Event::Done)
            }
            other => Err(state(format!("unexpected message at the source: {}", kind_name(&other)))),
        }
    }

    /// The driver could not read `file` as listed and sent the empty Data that withdraws it:
    /// its remaining and later chunks are not sent.
    pub fn withdraw(&mut self, file: u32) {
        if self.needed.contains(&file) {
            self.withdrawn.insert(file);
        }
    }

    /// Whether `file` was withdrawn.
    pub fn is_withdrawn(&self, file: u32) -> bool {
        self.withdrawn.contains(&file)
    }

    /// Per-file state held: needed, asked-for and withdrawn ids. Each is at most the number of
    /// regular files listed.
    pub fn state_size(&self) -> usize {
        self.needed.len() + self.wanted.len() + self.withdrawn.len()
    }

    /// Check the bounds: asked-for and withdrawn files are needed files. `Err` names the
    /// broken bound.
    pub fn check_bounds(&self) -> Result<(), String> {
        if self.withdrawn.iter().any(|f| !self.needed.contains(f)) {
            return Err("withdrawn a file that was never needed".into());
        }
        let stray = self.wanted.keys().filter(|f| !self.needed.contains(f)).count();
        if stray > 0 {
            return Err(format!("{stray} asked-for files that were never needed"));
        }
        Ok(())
    }
}
