//! Tests of the destination role through its driver, on real directories: security.md's
//! hostile-source cases (T7, T10, T23, T25, T29, T31, T32) end to end. The protocol rules alone
//! are tested without a file system in `proto::transfer` (dest_tests.rs).

use super::*;
use crate::chunk::file_hash;
use crate::proto::{ChunkId, Entry, Kind};

/// T11: --safe-links drops links that leave the tree.
#[test]
fn safe_links() {
    use crate::plan::link_is_safe;
    let p = |s| SafeRelPath::new(s).unwrap();
    assert!(link_is_safe(&p("a/l"), b"../b"));
    assert!(!link_is_safe(&p("a/l"), b"../../b"));
    assert!(!link_is_safe(&p("l"), b"/etc/passwd"));
    assert!(!link_is_safe(&p("a/l"), b"x/../../.."));
    assert!(!link_is_safe(&p("l"), b"x/y/../z")); // rsync 3.4: no ".." after a name
}

/// The destination against a scripted, hostile source (security.md T7, T10, T23, T29, T31, T32
/// and the strict state machine of section F), in memory.
mod hostile {
    use super::*;
    use crate::proto::Hello;

    fn cfg(root: &std::path::Path) -> DestConfig {
        DestConfig::scratch(root.to_path_buf(), Flags(Flags::PERMS | Flags::TIMES | Flags::DELETE))
    }

    fn hello() -> Message {
        Message::Hello(Hello {
            version: crate::proto::message::VERSION,
            params: ChunkParams::DEFAULT,
            flags: Flags(0),
            max_delete: 0,
        })
    }

    fn entry(p: &str, kind: Kind) -> Entry {
        Entry { path: SafeRelPath::new(p).unwrap(), kind, mode: 0o644, mtime: 1_000_000_000, mtime_ns: 0 }
    }

    fn run_script(root: &std::path::Path, script: Vec<Message>) -> Result<Outcome> {
        let (src, dst) = crate::engine::local_pair(1024);
        for m in script {
            src.tx.send(m).unwrap();
        }
        drop(src.tx);
        let rep = Reporter::new(crate::report::Verbosity { quiet: true, ..Default::default() });
        let stats = Stats::default();
        run(&cfg(root), dst, &rep, &stats)
    }

    fn err_text(r: Result<Outcome>) -> String {
        format!("{:#}", r.expect_err("the hostile script must fail"))
    }

    #[test]
    fn data_before_hello_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = err_text(run_script(d.path(), vec![Message::FileListEnd { count: 0 }]));
        assert!(e.contains("Hello"), "{e}");
    }

    #[test]
    fn wrong_version_is_incompatible() {
        let d = tempfile::tempdir().unwrap();
        let h = Message::Hello(Hello { version: 99, params: ChunkParams::DEFAULT, flags: Flags(0), max_delete: 0 });
        let r = run_script(d.path(), vec![h]);
        let e = r.expect_err("version");
        assert_eq!(crate::error::kind_of(&e), crate::error::Kind::Incompatible);
    }

    /// T10: a symlink entry followed by an entry beneath it never writes through the link.
    #[test]
    fn t10_entry_under_a_symlink_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("dst");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let target = outside.to_str().unwrap().as_bytes().to_vec();
        let script = vec![
            hello(),
            Message::FileList {
                first: 0,
                entries: vec![
                    entry("", Kind::Dir),
                    entry("d", Kind::Symlink { target }),
                    entry("d/f", Kind::File { size: 3 }),
                ],
            },
        ];
        let e = err_text(run_script(&root, script));
        assert!(e.contains("before its directory"), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    /// T7: the same path twice is refused.
    #[test]
    fn t7_duplicate_entries_refused() {
        let d = tempfile::tempdir().unwrap();
        let script = vec![
            hello(),
            Message::FileList {
                first: 0,
                entries: vec![entry("", Kind::Dir), entry("a", Kind::Dir), entry("a", Kind::File { size: 1 })],
            },
        ];
        assert!(err_text(run_script(d.path(), script)).contains("duplicate"));
    }

    fn one_file_script(data: &[u8], sent: &[u8], extra: Vec<Message>) -> Vec<Message> {
        let h = ChunkHash::of(data);
        let mut v = vec![
            hello(),
            Message::FileList {
                first: 0,
                entries: vec![entry("", Kind::Dir), entry("f", Kind::File { size: data.len() as u64 })],
            },
            Message::FileListEnd { count: 2 },
            Message::ChunkList {
                file: 1,
                first: 0,
                chunks: vec![ChunkId { short: h.short(), len: data.len() as u32 }],
            },
            Message::FileSum { file: 1, count: 1, size: data.len() as u64, hash: file_hash([&h]) },
        ];
        v.extend(extra);
        v.push(Message::Data { file: 1, index: 0, hash: h, compressed: false, data: sent.to_vec().into() });
        v.push(Message::Done);
        v
    }

    /// What the destination sends for a one-file script.
    fn sent_for(data: &[u8], existing: Option<&[u8]>) -> Vec<Message> {
        let d = tempfile::tempdir().unwrap();
        if let Some(old) = existing {
            std::fs::write(d.path().join("f"), old).unwrap();
        }
        let (src, dst) = crate::engine::local_pair(1024);
        for m in one_file_script(data, data, vec![]) {
            src.tx.send(m).unwrap();
        }
        drop(src.tx);
        let rep = Reporter::new(crate::report::Verbosity { quiet: true, ..Default::default() });
        run(&cfg(d.path()), dst, &rep, &Stats::default()).unwrap();
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), data);
        src.rx.try_iter().collect()
    }

    /// A file of one chunk below INLINE_MAX comes unasked: no Want for it. A bigger one is
    /// asked for.
    #[test]
    fn inline_files_are_not_asked_for() {
        let small = sent_for(b"hello", None);
        assert!(small.iter().any(|m| matches!(m, Message::Need { inline: true, .. })));
        assert!(!small.iter().any(|m| matches!(m, Message::Want { .. })), "{small:?}");
        let big = sent_for(&vec![7u8; 20_000], None);
        assert!(big.iter().any(|m| matches!(m, Message::Want { .. })), "{big:?}");
        // Something at the path already: its old content may hold the chunk, so it is asked for.
        let changed = sent_for(b"hello", Some(b"hellO"));
        assert!(changed.iter().any(|m| matches!(m, Message::Need { inline: false, .. })), "{changed:?}");
        assert!(changed.iter().any(|m| matches!(m, Message::Want { .. })), "{changed:?}");
    }

    #[test]
    fn honest_script_writes_the_file() {
        let d = tempfile::tempdir().unwrap();
        let o = run_script(d.path(), one_file_script(b"hello", b"hello", vec![])).unwrap();
        assert_eq!(o.errors, 0);
        assert_eq!(std::fs::read(d.path().join("f")).unwrap(), b"hello");
    }

    /// T29: chunk bytes that do not match their hash are never stored.
    #[test]
    fn t29_bad_chunk_data_is_dropped() {
        let d = tempfile::tempdir().unwrap();
        let out = run_script(d.path(), one_file_script(b"hello", b"HELLO", vec![])).unwrap();
        assert_eq!(out.errors, 1, "that file fails, the transfer goes on");
        assert!(!d.path().join("f").exists());
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert!(left.is_empty(), "no temp file may remain: {left:?}");
    }

    /// T32: data for a file that was never asked for.
    #[test]
    fn t32_unsolicited_data_refused() {
        let d = tempfile::tempdir().unwrap();
        let extra = vec![Message::Data {
            file: 0,
            index: 0,
            hash: ChunkHash::of(b"x"),
            compressed: false,
            data: b"x".to_vec().into(),
        }];
        let e = err_text(run_script(d.path(), one_file_script(b"hello", b"hello", extra)));
        assert!(e.contains("not asked for"), "{e}");
    }

    /// T23/T24: chunk lengths above the maximum, or lists longer than the file allows.
    #[test]
    fn t23_oversized_chunk_and_overlong_list_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        s[3] = Message::ChunkList {
            file: 1,
            first: 0,
            chunks: vec![ChunkId { short: 1, len: ChunkParams::DEFAULT.max + 2 }],
        };
        assert!(run_script(d.path(), s).is_err());
        let d = tempfile::tempdir().unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        s[3] = Message::ChunkList { file: 1, first: 0, chunks: vec![ChunkId { short: 1, len: 1 }; 4096] };
        let mut s2 = s.clone();
        s2.insert(4, Message::ChunkList { file: 1, first: 4096, chunks: vec![ChunkId { short: 1, len: 1 }; 10] });
        assert!(err_text(run_script(d.path(), s2)).contains("longer than its size allows"));
    }

    /// T31: the source hangs up before sending a listed chunk: no rename, clear error.
    #[test]
    fn t31_missing_chunk_then_close_leaves_no_final_file() {
        let d = tempfile::tempdir().unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        s.truncate(5);
        let e = err_text(run_script(d.path(), s));
        assert!(e.contains("closed the connection"), "{e}");
        assert!(!d.path().join("f").exists());
    }

    /// T25: a compressed chunk that inflates beyond its listed length is refused.
    #[test]
    fn t25_zstd_bomb_refused() {
        let d = tempfile::tempdir().unwrap();
        let big = vec![0u8; 8 << 20];
        let bomb = zstd::bulk::compress(&big, 3).unwrap();
        let mut s = one_file_script(b"hello", b"hello", vec![]);
        let n = s.len();
        s[n - 2] =
            Message::Data { file: 1, index: 0, hash: ChunkHash::of(b"hello"), compressed: true, data: bomb.into() };
        assert!(run_script(d.path(), s).is_err());
        assert!(!d.path().join("f").exists());
    }
}

/// The protocol layer escapes names the way the report does (it may not import it).
#[test]
fn protocol_escaping_matches_the_report() {
    for s in ["plain é 日本", "a\x1b[1A\rb", "evil\u{202e}txt", "x\u{9b}y\u{2028}"] {
        assert_eq!(crate::proto::transfer::shown(s), crate::report::sanitize(s));
    }
}
