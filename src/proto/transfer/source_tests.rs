//! The source state machine alone: order, Need and Want checks, withdrawn files.

use std::collections::HashMap;

use super::source::{Event, Listing, SourceState};
use crate::chunk::{ChunkHash, ChunkParams};
use crate::proto::message::VERSION;
use crate::proto::{Error, Flags, Hello, Message};

/// Entries 0..n (odd ids directories) and chunk counts per file.
struct Fake {
    n: u32,
    chunks: HashMap<u32, usize>,
}

impl Listing for Fake {
    fn entry(&self, id: u32) -> Option<bool> {
        (id < self.n).then_some(id % 2 == 0)
    }
    fn chunks(&self, file: u32) -> Option<usize> {
        self.chunks.get(&file).copied()
    }
    fn listed(&self) -> u32 {
        self.n
    }
}

fn fake() -> Fake {
    Fake { n: 4, chunks: HashMap::from([(0, 10)]) }
}

fn hello(version: u32) -> Message {
    Message::Hello(Hello { version, params: ChunkParams::DEFAULT, flags: Flags(0), max_delete: 0 })
}

fn started() -> SourceState {
    let mut st = SourceState::new();
    assert_eq!(st.handle(hello(VERSION), &fake()).unwrap(), Event::Hello);
    st
}

fn state_err(r: Result<Event, Error>) -> String {
    match r {
        Err(Error::State(s)) => s,
        other => panic!("expected a state error, got {other:?}"),
    }
}

#[test]
fn order_and_version() {
    let mut st = SourceState::new();
    assert!(state_err(st.handle(Message::Need { files: vec![0], inline: false }, &fake())).contains("Hello"));
    let mut st = SourceState::new();
    assert!(matches!(st.handle(Message::Error { text: "x".into() }, &fake()), Err(Error::Remote(_))));
    let mut st = SourceState::new();
    assert!(matches!(st.handle(hello(7), &fake()), Err(Error::Version(7, VERSION))));
    let mut st = started();
    assert!(state_err(st.handle(hello(VERSION), &fake())).contains("second Hello"));
    let mut st = started();
    let e = state_err(st.handle(Message::FileListEnd { count: 0 }, &fake()));
    assert!(e.contains("unexpected message at the source: FileListEnd"), "{e}");
    let mut st = started();
    assert_eq!(st.handle(Message::Done, &fake()).unwrap(), Event::Done);
    assert!(st.handle(Message::Done, &fake()).is_err());
}

#[test]
fn need_names_listed_regular_files_once() {
    let mut st = started();
    let ev = st.handle(Message::Need { files: vec![0, 2], inline: true }, &fake()).unwrap();
    assert_eq!(ev, Event::Need { files: vec![0, 2], inline: true });
    assert!(state_err(st.handle(Message::Need { files: vec![0], inline: false }, &fake())).contains("needed twice"));
    let mut st = started();
    assert!(state_err(st.handle(Message::Need { files: vec![9], inline: false }, &fake())).contains("unknown entry 9"));
    let mut st = started();
    let e = state_err(st.handle(Message::Need { files: vec![1], inline: false }, &fake()));
    assert!(e.contains("not a regular file"), "{e}");
    st.check_bounds().unwrap();
}

/// T33: chunks must be listed, and asked for at most twice over (plus 64).
#[test]
fn want_checks() {
    let want = |file, ranges| Message::Want { file, ranges };
    let mut st = started();
    st.handle(Message::Need { files: vec![0, 2], inline: false }, &fake()).unwrap();
    assert_eq!(st.handle(want(0, vec![(0, 10)]), &fake()).unwrap(), Event::Want { file: 0, ranges: vec![(0, 10)] });
    let e = state_err(st.handle(want(0, vec![(8, 3)]), &fake()));
    assert!(e.contains("want for chunk 10 of file 0, not listed"), "{e}");
    let e = state_err(started().handle(want(2, vec![(0, 1)]), &fake()));
    assert!(e.contains("before its chunk list"), "{e}");
    // An empty Want asks for nothing and is not counted (no state for an arbitrary id).
    let mut st = started();
    assert_eq!(st.handle(want(77, vec![]), &fake()).unwrap(), Event::Nothing);
    assert_eq!(st.state_size(), 0);
    let mut st = started();
    st.handle(Message::Need { files: vec![0], inline: false }, &fake()).unwrap();
    for _ in 0..8 {
        st.handle(want(0, vec![(0, 10)]), &fake()).unwrap();
    }
    assert!(state_err(st.handle(want(0, vec![(0, 10)]), &fake())).contains("more than twice over"));
    assert!(st.state_size() <= 2);
}

#[test]
fn withdrawn_files_are_not_sent_again() {
    let mut st = started();
    st.handle(Message::Need { files: vec![0], inline: false }, &fake()).unwrap();
    st.withdraw(0);
    assert!(st.is_withdrawn(0));
    assert_eq!(st.handle(Message::Want { file: 0, ranges: vec![(0, 1)] }, &fake()).unwrap(), Event::Nothing);
    st.check_bounds().unwrap();
    let _ = ChunkHash::of(b"");
}

#[test]
fn progress_forgets_finished_entries_and_refuses_them_later() {
    let mut st = started();
    let l = fake();
    assert_eq!(
        st.handle(Message::Need { files: vec![0, 2], inline: false }, &l).unwrap(),
        Event::Need { files: vec![0, 2], inline: false }
    );
    assert_eq!(st.handle(Message::Progress { done: 1 }, &l).unwrap(), Event::Progress { done: 1 });
    assert_eq!(st.state_size(), 1, "entry 0's state is gone");
    // Finished entries are never named again; progress never goes back or past the list.
    assert!(state_err(st.handle(Message::Want { file: 0, ranges: vec![(0, 1)] }, &l)).contains("finished"));
    let mut st = started();
    st.handle(Message::Progress { done: 3 }, &l).unwrap();
    assert!(state_err(st.handle(Message::Need { files: vec![2], inline: false }, &l)).contains("finished"));
    assert!(state_err(st.handle(Message::Progress { done: 2 }, &l)).contains("progress"));
    assert!(state_err(st.handle(Message::Progress { done: 5 }, &l)).contains("progress"));
}
