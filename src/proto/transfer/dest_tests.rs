//! The destination state machine alone: message order, the offer check, path rules, windows,
//! caps and Data checks, with no file system (the driver's end-to-end tests are in
//! `engine::destination::tests`).

use std::sync::Arc;

use super::dest::{DestState, Event, Rejection};
use super::offer::{Offer, Offered};
use super::{FILE_WINDOW, MAX_STRIKES, WINDOW_CHUNKS};
use crate::chunk::{file_hash, ChunkHash, ChunkParams};
use crate::path::SafeRelPath;
use crate::proto::message::VERSION;
use crate::proto::{ChunkId, Entry, Error, Flags, Hello, Kind, Message};

fn hello() -> Message {
    Message::Hello(Hello { version: VERSION, params: ChunkParams::DEFAULT, flags: Flags(0), max_delete: 0 })
}

fn entry(p: &str, kind: Kind) -> Entry {
    Entry { path: SafeRelPath::new(p).unwrap(), kind, mode: 0o644, mtime: 1_000_000_000, mtime_ns: 0 }
}

fn file(p: &str, size: u64) -> Entry {
    entry(p, Kind::File { size })
}

fn dir(p: &str) -> Entry {
    entry(p, Kind::Dir)
}

fn list(first: u32, entries: Vec<Entry>) -> Message {
    Message::FileList { first, entries }
}

/// Handle a FileList and take its entries through the checks, as the driver does.
fn entries_of(st: &mut DestState, m: Message) -> Result<Vec<(u32, Entry)>, Error> {
    let Event::Entries(mut b) = st.handle(m)? else { panic!("entries") };
    let mut v = Vec::new();
    while let Some(r) = st.next_entry(&mut b) {
        v.push(r?);
    }
    Ok(v)
}

fn state_err<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Err(Error::State(s)) => s,
        other => panic!("expected a state error, got {other:?}"),
    }
}

/// Drive like the driver would: queue every file entry, ask for as many as the window takes.
fn st_with(entries: Vec<Entry>, offer: Option<Arc<Offer>>) -> (DestState, Vec<u32>) {
    let mut st = DestState::new(offer);
    assert!(matches!(st.handle(hello()).unwrap(), Event::Hello(_)));
    let n = entries.len() as u32;
    for (id, e) in entries_of(&mut st, list(0, entries)).unwrap() {
        if matches!(e.kind, Kind::File { .. }) {
            st.queue(id, e, ());
        }
    }
    assert!(matches!(st.handle(Message::FileListEnd { count: n }).unwrap(), Event::ListEnd));
    let mut asked = Vec::new();
    while let Some(q) = st.pop_next() {
        asked.push(st.ask(q, false).0);
    }
    (st, asked)
}

/// One file `f` of `data`, asked for; returns the state and the chunk's hash.
fn one_file(data: &[u8]) -> (DestState, ChunkHash) {
    let (mut st, asked) = st_with(vec![dir(""), file("f", data.len() as u64)], None);
    assert_eq!(asked, vec![1]);
    let h = ChunkHash::of(data);
    let ev = st
        .handle(Message::ChunkList {
            file: 1,
            first: 0,
            chunks: vec![ChunkId { short: h.short(), len: data.len() as u32 }],
        })
        .unwrap();
    assert!(matches!(ev, Event::Chunks { file: 1, start: 0, inline: false }), "{ev:?}");
    (st, h)
}

fn data(file: u32, index: u32, hash: ChunkHash, bytes: &[u8]) -> Message {
    Message::Data { file, index, hash, compressed: false, data: bytes.to_vec().into() }
}

#[test]
fn anything_before_hello_is_refused() {
    for m in [Message::FileListEnd { count: 0 }, data(0, 0, ChunkHash::of(b"x"), b"x"), Message::Done] {
        let mut st: DestState = DestState::new(None);
        assert!(state_err(st.handle(m)).contains("Hello"));
    }
    let mut st: DestState = DestState::new(None);
    assert!(state_err(st.handle(Message::Error { text: "x".into() })).contains("Hello"));
}

#[test]
fn wrong_version_and_oversized_chunks_are_refused() {
    let mut st: DestState = DestState::new(None);
    let h = Hello { version: 99, params: ChunkParams::DEFAULT, flags: Flags(0), max_delete: 0 };
    assert!(matches!(st.handle(Message::Hello(h)), Err(Error::Version(99, VERSION))));
    let mut st: DestState = DestState::new(None);
    let big = ChunkParams::new(1 << 20, 2 << 20, 4 << 20).unwrap();
    let h = Hello { version: VERSION, params: big, flags: Flags(0), max_delete: 0 };
    assert!(matches!(st.handle(Message::Hello(h)), Err(Error::Cap("maximum chunk size", _))));
}

#[test]
fn second_hello_and_stray_messages_are_refused() {
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    assert!(state_err(st.handle(hello())).contains("second Hello"));
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    let e = state_err(st.handle(Message::Need { files: vec![0], inline: false }));
    assert!(e.contains("unexpected Need"), "{e}");
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    assert!(matches!(st.handle(Message::Error { text: "boom".into() }), Err(Error::Remote(t)) if t == "boom"));
}

#[test]
fn file_list_order_and_end_count() {
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    assert!(state_err(st.handle(list(1, vec![dir("")]))).contains("out of order at entry 1"));
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    st.handle(list(0, vec![dir(""), dir("a")])).unwrap();
    assert!(state_err(st.handle(Message::FileListEnd { count: 3 })).contains("says 3 entries, got 2"));
    // Entries after the end, and a second end.
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    st.handle(list(0, vec![dir("")])).unwrap();
    st.handle(Message::FileListEnd { count: 1 }).unwrap();
    assert!(state_err(st.handle(list(1, vec![dir("b")]))).contains("out of order"));
    let mut st2: DestState = DestState::new(None);
    st2.handle(hello()).unwrap();
    st2.handle(Message::FileListEnd { count: 0 }).unwrap();
    assert!(state_err(st2.handle(Message::FileListEnd { count: 0 })).contains("second file list end"));
    assert!(st2.is_finished());
}

/// T7 and T10: one entry per path; a parent sent as a directory first; the root a directory.
#[test]
fn path_rules() {
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    let e = state_err(entries_of(&mut st, list(0, vec![dir(""), dir("a"), file("a", 1)])));
    assert!(e.contains("duplicate entry a"), "{e}");
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    let link = entry("d", Kind::Symlink { target: b"/etc".to_vec() });
    let e = state_err(entries_of(&mut st, list(0, vec![dir(""), link, file("d/f", 3)])));
    assert!(e.contains("entry d/f arrived before its directory"), "{e}");
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    assert!(state_err(entries_of(&mut st, list(0, vec![file("", 1)]))).contains("root entry must be a directory"));
    // A directory sent earlier, in another batch, is a valid parent.
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    entries_of(&mut st, list(0, vec![dir(""), dir("a")])).unwrap();
    assert_eq!(entries_of(&mut st, list(2, vec![file("a/f", 1)])).unwrap()[0].0, 2);
    assert!(st.is_listed(&SafeRelPath::new("a/f").unwrap()) && st.is_dir(&SafeRelPath::new("a").unwrap()));
}

/// The accepted-offer check: exactly what was offered, for every entry.
#[test]
fn offer_admits_only_what_was_accepted() {
    let mut o = Offer::default();
    o.insert(".".into(), Offered::Dir);
    o.insert("ok".into(), Offered::File { size: 5 });
    let o = Arc::new(o);
    let mut st: DestState = DestState::new(Some(o.clone()));
    st.handle(hello()).unwrap();
    assert_eq!(entries_of(&mut st, list(0, vec![dir(""), file("ok", 5)])).unwrap().len(), 2);
    for bad in [file("ok", 6), file("other", 5), dir("ok"), entry("ok", Kind::Symlink { target: b"x".to_vec() })] {
        let mut st: DestState = DestState::new(Some(o.clone()));
        st.handle(hello()).unwrap();
        let e = state_err(entries_of(&mut st, list(0, vec![dir(""), bad])));
        assert!(e.contains("not what it offered"), "{e}");
    }
}

/// T32: chunk lists, sums and data only for files asked for; data only for chunks asked for.
#[test]
fn unsolicited_messages_are_refused() {
    let (mut st, _) = st_with(vec![dir(""), file("f", 5)], None);
    let e = state_err(st.handle(Message::ChunkList { file: 0, first: 0, chunks: vec![] }));
    assert!(e.contains("chunk list for file 0, which was not asked for"), "{e}");
    let e = state_err(st.handle(Message::FileSum { file: 7, count: 0, size: 0, hash: ChunkHash([0; 32]) }));
    assert!(e.contains("not asked for"), "{e}");
    let e = state_err(st.handle(data(0, 0, ChunkHash::of(b"x"), b"x")));
    assert!(e.contains("not asked for"), "{e}");
    // Listed, but found locally or not yet asked for: its data is unsolicited.
    let (mut st, h) = one_file(b"hello");
    let e = state_err(st.handle(data(1, 0, h, b"hello")));
    assert!(e.contains("was not asked for"), "{e}");
    let e = state_err(st.handle(data(1, 5, h, b"hello")));
    assert!(e.contains("never listed"), "{e}");
}

#[test]
fn honest_file_completes_and_duplicates_are_ignored() {
    let (mut st, h) = one_file(b"hello");
    st.want(1, 0);
    let sum = Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) };
    assert!(matches!(st.handle(sum).unwrap(), Event::Nothing));
    let ev = st.handle(data(1, 0, h, b"hello")).unwrap();
    let Event::Chunk { file: 1, index: 0, offset: 0, data, wire: 5, complete: true } = ev else { panic!("{ev:?}") };
    assert_eq!(&data[..], b"hello");
    // T33: a duplicate is ignored.
    assert!(matches!(st.handle(data_msg(h)).unwrap(), Event::Nothing));
    let f = st.release(1).unwrap();
    assert_eq!(f.sum(), Some(file_hash([&h])));
    assert!(st.is_finished());
    st.finishing();
    assert!(matches!(st.handle(hello()).unwrap(), Event::Nothing));
    assert!(matches!(st.handle(Message::Done).unwrap(), Event::PeerDone));
}

fn data_msg(h: ChunkHash) -> Message {
    data(1, 0, h, b"hello")
}

#[test]
fn locally_filled_file_completes_on_its_sum() {
    let (mut st, h) = one_file(b"hello");
    st.fill(1, 0, h);
    let ev = st.handle(Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) }).unwrap();
    assert!(matches!(ev, Event::Complete { file: 1 }), "{ev:?}");
    let e = state_err(st.handle(Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) }));
    assert!(e.contains("second file summary"), "{e}");
}

/// T23/T24: chunk lengths, counts and sizes are checked against the declared size.
#[test]
fn chunk_list_caps() {
    let params = ChunkParams::DEFAULT;
    let c = |len| ChunkId { short: 1, len };
    let (mut st, _) = st_with(vec![dir(""), file("f", 5)], None);
    let r = st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(params.max + 1)] });
    assert!(matches!(r, Err(Error::Cap("chunk length", _))), "{r:?}");
    let (mut st, _) = st_with(vec![dir(""), file("f", 5)], None);
    assert!(matches!(st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(0)] }), Err(Error::Cap(..))));
    let (mut st, _) = st_with(vec![dir(""), file("f", 5)], None);
    let e = state_err(st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(6)] }));
    assert!(e.contains("runs past its declared size"), "{e}");
    let (mut st, _) = st_with(vec![dir(""), file("f", 5)], None);
    let e = state_err(st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(1), c(1)] }));
    assert!(e.contains("longer than its size allows") || e.contains("short chunk"), "{e}");
    let size = 3 * u64::from(params.min);
    let (mut st, _) = st_with(vec![dir(""), file("f", size)], None);
    let e = state_err(st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(10), c(params.min)] }));
    assert!(e.contains("short chunk before its end"), "{e}");
    let (mut st, _) = st_with(vec![dir(""), file("f", size)], None);
    st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(params.min)] }).unwrap();
    let e = state_err(st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![c(params.min)] }));
    assert!(e.contains("out of order"), "{e}");
    let e = state_err(st.handle(Message::FileSum { file: 1, count: 1, size, hash: ChunkHash([0; 32]) }));
    assert!(e.contains("does not match its chunk list"), "{e}");
    assert!(st.check_bounds().is_ok());
}

/// T29: data that does not match its listing fails the file; too many such chunks end the
/// transfer.
#[test]
fn bad_data_fails_the_file_then_cuts_the_source_off() {
    let (mut st, h) = one_file(b"hello");
    st.want(1, 0);
    let ev = st.handle(data(1, 0, h, b"HELLO")).unwrap();
    assert!(matches!(ev, Event::Rejected { file: 1, why: Rejection::Mismatch, released: false, .. }), "{ev:?}");
    // Failed: its data is ignored, its sum releases it, later data is still ignored.
    assert!(matches!(st.handle(data(1, 0, h, b"hello")).unwrap(), Event::Nothing));
    let ev = st.handle(Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) }).unwrap();
    assert!(matches!(ev, Event::Released { file: 1 }), "{ev:?}");
    assert!(matches!(st.handle(data(1, 0, h, b"hello")).unwrap(), Event::Nothing));
    assert!(st.is_finished());
    // Strikes: MAX_STRIKES files may fail so; the next bad chunk is a protocol error.
    let n = MAX_STRIKES as usize + 1;
    let entries: Vec<Entry> = std::iter::once(dir("")).chain((0..n).map(|i| file(&format!("f{i}"), 5))).collect();
    let (mut st, asked) = st_with(entries, None);
    assert_eq!(asked.len(), n);
    for (k, &id) in asked.iter().enumerate() {
        st.handle(Message::ChunkList { file: id, first: 0, chunks: vec![ChunkId { short: h.short(), len: 5 }] })
            .unwrap();
        st.want(id, 0);
        let r = st.handle(data(id, 0, h, b"HELLO"));
        if k < MAX_STRIKES as usize {
            assert!(matches!(r, Ok(Event::Rejected { .. })), "{r:?}");
        } else {
            assert!(state_err(r).contains("chunks did not match their hashes"));
        }
    }
}

#[test]
fn withdrawn_file_and_unreadable_file_leave_the_window() {
    let (mut st, h) = one_file(b"hello");
    st.want(1, 0);
    st.handle(Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) }).unwrap();
    let ev = st.handle(data(1, 0, h, b"")).unwrap();
    assert!(matches!(ev, Event::Rejected { file: 1, why: Rejection::Withdrawn, released: true, .. }), "{ev:?}");
    assert!(matches!(st.handle(data(1, 0, h, b"hello")).unwrap(), Event::Nothing));
    assert!(st.is_finished());
    let (mut st, _) = one_file(b"hello");
    let ev = st.handle(Message::FileSum { file: 1, count: u32::MAX, size: 0, hash: ChunkHash([0; 32]) }).unwrap();
    assert!(matches!(ev, Event::Unreadable { file: 1 }));
    assert!(st.is_finished());
}

#[test]
fn driver_failure_releases_on_the_sum() {
    let (mut st, h) = one_file(b"hello");
    assert!(!st.fail(1), "no sum yet: stays in the window");
    let ev = st.handle(Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) }).unwrap();
    assert!(matches!(ev, Event::Released { file: 1 }));
    assert!(st.is_finished());
}

#[test]
fn inline_file_data_comes_unasked() {
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    let entries = entries_of(&mut st, list(0, vec![dir(""), file("f", 5)])).unwrap();
    st.queue(1, entries[1].1.clone(), ());
    let q = st.pop_next().unwrap();
    st.ask(q, true);
    let h = ChunkHash::of(b"hello");
    let ev = st.handle(Message::ChunkList { file: 1, first: 0, chunks: vec![ChunkId { short: h.short(), len: 5 }] });
    assert!(matches!(ev.unwrap(), Event::Chunks { inline: true, .. }));
    st.handle(Message::FileSum { file: 1, count: 1, size: 5, hash: file_hash([&h]) }).unwrap();
    assert!(matches!(st.handle(data(1, 0, h, b"hello")).unwrap(), Event::Chunk { complete: true, .. }));
}

/// T25: compressed data inflating past its listed length is refused.
#[test]
fn zstd_bomb_is_malformed() {
    let (mut st, h) = one_file(b"hello");
    st.want(1, 0);
    let bomb = zstd::bulk::compress(&vec![0u8; 1 << 20], 3).unwrap();
    let r = st.handle(Message::Data { file: 1, index: 0, hash: h, compressed: true, data: bomb.into() });
    assert!(matches!(r, Err(Error::Malformed("chunk compression"))), "{r:?}");
    let (mut st, h) = one_file(b"hello");
    st.want(1, 0);
    let z = zstd::bulk::compress(b"hello", 3).unwrap();
    let ev = st.handle(Message::Data { file: 1, index: 0, hash: h, compressed: true, data: z.clone().into() });
    let Event::Chunk { data, wire, .. } = ev.unwrap() else { panic!() };
    assert_eq!((&data[..], wire), (&b"hello"[..], z.len()));
}

/// T31: Done while files wait names them; Done with nothing waiting is out of order.
#[test]
fn early_done_is_refused() {
    let (mut st, _) = one_file(b"hello");
    let e = state_err(st.handle(Message::Done));
    assert!(e.contains("the source finished without sending f (1 of 1 chunks missing)"), "{e}");
    let mut st: DestState = DestState::new(None);
    st.handle(hello()).unwrap();
    assert!(state_err(st.handle(Message::Done)).contains("unexpected Done"));
}

/// The Need window: at most FILE_WINDOW files, and WINDOW_CHUNKS chunk slots unless alone.
#[test]
fn window_bounds() {
    let n = FILE_WINDOW + 44;
    let entries: Vec<Entry> = std::iter::once(dir("")).chain((0..n).map(|i| file(&format!("f{i}"), 1))).collect();
    let (st, asked) = st_with(entries, None);
    assert_eq!(asked.len(), FILE_WINDOW);
    assert!(!st.is_finished());
    st.check_bounds().unwrap();
    let huge = WINDOW_CHUNKS as u64 * u64::from(ChunkParams::DEFAULT.min);
    let (mut st, asked) = st_with(vec![dir(""), file("a", huge), file("b", huge)], None);
    assert_eq!(asked, vec![1], "a file larger than the window gets it alone");
    st.check_bounds().unwrap();
    assert!(st.fail(1) || st.file(1).is_some());
    assert!(st.pop_next().is_none(), "b waits until a leaves");
    assert!(st.state_size() >= 2);
}
