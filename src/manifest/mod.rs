//! The SQLite manifest: the only module that speaks SQL. One database per synced root caches what
//! pcp knows about that root's files (stat + chunk list) and indexes every chunk by short id, so
//! a rerun reads nothing unchanged and a renamed file is rebuilt from local data.
//!
//! It is a cache: everything found through it is re-verified by BLAKE3 before use, and a corrupt
//! or missing database is rebuilt, never fatal.

mod schema;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunk::{ChunkHash, ChunkParams, ChunkRef, CHUNKER_NAME};

/// Errors from the manifest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("{}", sql_text(path, source))]
    Sql {
        /// Database file.
        path: PathBuf,
        /// Cause.
        source: rusqlite::Error,
    },
}

pub use crate::meta::Stat;

/// "manifest PATH: CAUSE", naming the path once (SQLite's own text may already hold it).
fn sql_text(path: &Path, e: &rusqlite::Error) -> String {
    let cause = e.to_string();
    let p = path.display().to_string();
    if cause.contains(&p) {
        format!("manifest: {cause}")
    } else {
        format!("manifest {p}: {cause}")
    }
}

/// A known local copy of a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLoc {
    /// File (relative to the root) holding it.
    pub path: String,
    /// Offset in that file.
    pub offset: u64,
    /// Length.
    pub len: u32,
    /// Full hash recorded for it.
    pub hash: ChunkHash,
}

/// A staged (partially received) file kept for resume.
#[derive(Debug, Clone)]
pub struct Staged {
    /// Temp file name relative to the root.
    pub temp: String,
    /// Final path it was being built for.
    pub path: String,
}

/// An open manifest.
pub struct Manifest {
    conn: Connection,
    path: PathBuf,
    in_tx: bool,
    pending: usize,
}

const BATCH: usize = 2000;

impl Manifest {
    /// Open (or create) the manifest at `path` for chunker `params`. A corrupt file is moved
    /// aside and rebuilt; a different chunker or parameters clear the cached chunk lists.
    pub fn open(path: &Path, params: ChunkParams) -> Result<Self, Error> {
        match Self::try_open(path, params) {
            Ok(m) => Ok(m),
            Err(_) => {
                // Corrupt or unreadable: rebuild from nothing (it is only a cache).
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
                Self::try_open(path, params)
            }
        }
    }

    /// An in-memory manifest (when no state directory is usable, and for tests).
    pub fn in_memory(params: ChunkParams) -> Result<Self, Error> {
        Self::try_open(Path::new(":memory:"), params)
    }

    fn try_open(path: &Path, params: ChunkParams) -> Result<Self, Error> {
        let err = |source| Error::Sql { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = crate::fsio::create_private_dir_all(dir);
        }
        let mut conn =
            if path == Path::new(":memory:") { Connection::open_in_memory() } else { Connection::open(path) }
                .map_err(err)?;
        #[cfg(unix)]
        if path != Path::new(":memory:") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        let ok: String = conn.pragma_query_value(None, "quick_check", |r| r.get(0)).map_err(err)?;
        if ok != "ok" {
            return Err(err(rusqlite::Error::InvalidQuery));
        }
        schema::migrate(&mut conn).map_err(err)?;
        let m = Self { conn, path: path.to_path_buf(), in_tx: false, pending: 0 };
        let want = format!("{CHUNKER_NAME} {} {} {}", params.min, params.avg, params.max);
        let have: Option<String> =
            m.conn.query_row("SELECT value FROM meta WHERE key='chunker'", [], |r| r.get(0)).optional().map_err(err)?;
        if have.as_deref() != Some(want.as_str()) {
            m.conn.execute_batch("DELETE FROM files; DELETE FROM chunks;").map_err(err)?;
            m.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('chunker', ?1)", [want]).map_err(err)?;
        }
        Ok(m)
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Sql { path: self.path.clone(), source }
    }

    fn begin(&mut self) -> Result<(), Error> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
            self.in_tx = true;
        }
        Ok(())
    }

    fn bump(&mut self) -> Result<(), Error> {
        self.pending += 1;
        if self.pending >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Commit pending writes.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.in_tx {
            self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
            self.in_tx = false;
            self.pending = 0;
        }
        Ok(())
    }

    /// The cached chunk list of `path` if its stat still matches.
    pub fn file_chunks(&self, path: &str, stat: &Stat) -> Result<Option<(ChunkHash, Vec<ChunkRef>)>, Error> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT hash, chunks FROM files WHERE path=?1 AND size=?2 AND mtime=?3 AND mtime_ns=?4
                 AND ino=?5 AND ctime=?6 AND ctime_ns=?7",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![
                        path,
                        stat.size as i64,
                        stat.mtime,
                        stat.mtime_ns,
                        stat.ino as i64,
                        stat.ctime,
                        stat.ctime_ns
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .map_err(|e| self.err(e))?;
        let Some((hash, blob)) = row else { return Ok(None) };
        let (Some(hash), Some(chunks)) = (ChunkHash::from_slice(&hash), unpack_chunks(&blob)) else {
            return Ok(None);
        };
        if chunks.iter().map(|c| u64::from(c.len)).sum::<u64>() != stat.size {
            return Ok(None);
        }
        Ok(Some((hash, chunks)))
    }

    /// Record `path` with its stat and chunk list (replacing what was known).
    pub fn record_file(&mut self, path: &str, stat: &Stat, hash: &ChunkHash, chunks: &[ChunkRef]) -> Result<(), Error> {
        self.begin()?;
        self.forget_one(path)?;
        let blob = pack_chunks(chunks);
        let r = self.conn.prepare_cached("INSERT INTO files VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)").and_then(
            |mut s| {
                s.execute(params![
                    path,
                    stat.size as i64,
                    stat.mtime,
                    stat.mtime_ns,
                    stat.ino as i64,
                    stat.ctime,
                    stat.ctime_ns,
                    &hash.0[..],
                    blob
                ])
            },
        );
        r.map_err(|e| self.err(e))?;
        {
            let mut s = self
                .conn
                .prepare_cached("INSERT INTO chunks(short, hash, path, offset, len) VALUES(?1, ?2, ?3, ?4, ?5)")
                .map_err(|e| Error::Sql { path: self.path.clone(), source: e })?;
            for c in chunks {
                s.execute(params![c.hash.short() as i64, &c.hash.0[..], path, c.offset as i64, c.len])
                    .map_err(|e| Error::Sql { path: self.path.clone(), source: e })?;
            }
        }
        self.bump()
    }

    fn forget_one(&mut self, path: &str) -> Result<(), Error> {
        let r =
            self.conn.prepare_cached("DELETE FROM files WHERE path=?1").and_then(|mut s| s.execute([path])).and_then(
                |_| self.conn.prepare_cached("DELETE FROM chunks WHERE path=?1").and_then(|mut s| s.execute([path])),
            );
        r.map(|_| ()).map_err(|e| self.err(e))
    }

    /// Forget exactly `path` (a file or a staged temp file).
    pub fn forget_file(&mut self, path: &str) -> Result<(), Error> {
        self.begin()?;
        self.forget_one(path)?;
        self.bump()
    }

    /// Forget `path` and, if it is a directory, everything under it. The subtree is the key
    /// range `[path/, path0)` ('0' follows '/'), so both deletes use the indexes.
    pub fn forget(&mut self, path: &str) -> Result<(), Error> {
        self.begin()?;
        self.forget_one(path)?;
        let lo = format!("{path}/");
        let hi = format!("{path}0");
        let r = self
            .conn
            .prepare_cached("DELETE FROM files WHERE path >= ?1 AND path < ?2")
            .and_then(|mut s| s.execute(params![lo, hi]))
            .and_then(|_| {
                self.conn
                    .prepare_cached("DELETE FROM chunks WHERE path >= ?1 AND path < ?2")
                    .and_then(|mut s| s.execute(params![lo, hi]))
            });
        r.map_err(|e| self.err(e))?;
        self.bump()
    }

    /// Local copies of chunks whose short id is `short`.
    pub fn find_chunk(&self, short: u64) -> Result<Vec<ChunkLoc>, Error> {
        let mut s = self
            .conn
            .prepare_cached("SELECT path, offset, len, hash FROM chunks WHERE short=?1 LIMIT 4")
            .map_err(|e| self.err(e))?;
        let rows = s
            .query_map([short as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Vec<u8>>(3)?))
            })
            .map_err(|e| Error::Sql { path: self.path.clone(), source: e })?;
        let mut out = Vec::new();
        for row in rows {
            let (path, offset, len, hash) = row.map_err(|e| Error::Sql { path: self.path.clone(), source: e })?;
            if let (Some(hash), Ok(offset), Ok(len)) =
                (ChunkHash::from_slice(&hash), u64::try_from(offset), u32::try_from(len))
            {
                out.push(ChunkLoc { path, offset, len, hash });
            }
        }
        Ok(out)
    }

    /// Index one chunk at `path` (a staged temp file being received).
    pub fn add_chunk(&mut self, path: &str, c: &ChunkRef) -> Result<(), Error> {
        self.begin()?;
        let r = self
            .conn
            .prepare_cached("INSERT INTO chunks(short, hash, path, offset, len) VALUES(?1, ?2, ?3, ?4, ?5)")
            .and_then(|mut s| s.execute(params![c.hash.short() as i64, &c.hash.0[..], path, c.offset as i64, c.len]));
        r.map_err(|e| self.err(e))?;
        self.bump()
    }

    /// Remember that `temp` holds verified chunks of `path` (for resume).
    pub fn stage(&mut self, temp: &str, path: &str, size: u64, hash: &ChunkHash) -> Result<(), Error> {
        self.begin()?;
        let r = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO staged(temp, path, size, hash) VALUES(?1, ?2, ?3, ?4)")
            .and_then(|mut s| s.execute(params![temp, path, size as i64, &hash.0[..]]));
        r.map_err(|e| self.err(e))?;
        self.bump()
    }

    /// Drop a staged record.
    pub fn unstage(&mut self, temp: &str) -> Result<(), Error> {
        self.begin()?;
        let r = self.conn.prepare_cached("DELETE FROM staged WHERE temp=?1").and_then(|mut s| s.execute([temp]));
        r.map_err(|e| self.err(e))?;
        self.bump()
    }

    /// Mark a run as started (`true`) or finished cleanly (`false`); returns whether the previous
    /// run was left unfinished.
    pub fn mark_running(&mut self, running: bool) -> Result<bool, Error> {
        self.flush()?;
        let was: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key='running'", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("INSERT OR REPLACE INTO meta(key, value) VALUES('running', ?1)", [if running { "1" } else { "0" }])
            .map_err(|e| self.err(e))?;
        Ok(was.as_deref() == Some("1"))
    }

    /// All staged records.
    pub fn staged(&self) -> Result<Vec<Staged>, Error> {
        let mut s = self.conn.prepare_cached("SELECT temp, path FROM staged").map_err(|e| self.err(e))?;
        let rows = s
            .query_map([], |r| Ok(Staged { temp: r.get(0)?, path: r.get(1)? }))
            .map_err(|e| Error::Sql { path: self.path.clone(), source: e })?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

impl Drop for Manifest {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn pack_chunks(chunks: &[ChunkRef]) -> Vec<u8> {
    let mut b = Vec::with_capacity(chunks.len() * 36);
    for c in chunks {
        b.extend_from_slice(&c.hash.0);
        b.extend_from_slice(&c.len.to_le_bytes());
    }
    b
}

fn unpack_chunks(b: &[u8]) -> Option<Vec<ChunkRef>> {
    if b.len() % 36 != 0 {
        return None;
    }
    let mut off = 0u64;
    let mut out = Vec::with_capacity(b.len() / 36);
    for rec in b.chunks_exact(36) {
        let hash = ChunkHash::from_slice(&rec[..32])?;
        let len = u32::from_le_bytes([rec[32], rec[33], rec[34], rec[35]]);
        out.push(ChunkRef { hash, offset: off, len });
        off += u64::from(len);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(size: u64) -> Stat {
        Stat { size, mtime: 1, mtime_ns: 2, ino: 3, ctime: 4, ctime_ns: 5 }
    }

    fn chunks() -> Vec<ChunkRef> {
        vec![
            ChunkRef { hash: ChunkHash::of(b"a"), offset: 0, len: 10 },
            ChunkRef { hash: ChunkHash::of(b"b"), offset: 10, len: 5 },
        ]
    }

    #[test]
    fn record_lookup_forget() {
        let mut m = Manifest::in_memory(ChunkParams::DEFAULT).unwrap();
        let h = ChunkHash::of(b"file");
        m.record_file("d/f", &stat(15), &h, &chunks()).unwrap();
        m.flush().unwrap();
        let (hh, cs) = m.file_chunks("d/f", &stat(15)).unwrap().unwrap();
        assert_eq!(hh, h);
        assert_eq!(cs, chunks());
        // a changed stat is a miss
        let mut s = stat(15);
        s.mtime_ns = 9;
        assert!(m.file_chunks("d/f", &s).unwrap().is_none());
        let locs = m.find_chunk(ChunkHash::of(b"b").short()).unwrap();
        assert_eq!(locs, vec![ChunkLoc { path: "d/f".into(), offset: 10, len: 5, hash: ChunkHash::of(b"b") }]);
        m.forget("d").unwrap();
        assert!(m.file_chunks("d/f", &stat(15)).unwrap().is_none());
        assert!(m.find_chunk(ChunkHash::of(b"b").short()).unwrap().is_empty());
    }

    #[test]
    fn corrupt_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        std::fs::write(&p, b"this is not a database, just garbage bytes that SQLite rejects").unwrap();
        let mut m = Manifest::open(&p, ChunkParams::DEFAULT).unwrap();
        m.record_file("f", &stat(15), &ChunkHash::of(b"x"), &chunks()).unwrap();
        m.flush().unwrap();
        drop(m);
        let m = Manifest::open(&p, ChunkParams::DEFAULT).unwrap();
        assert!(m.file_chunks("f", &stat(15)).unwrap().is_some());
    }

    #[test]
    fn changed_params_clear_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        let mut m = Manifest::open(&p, ChunkParams::DEFAULT).unwrap();
        m.record_file("f", &stat(15), &ChunkHash::of(b"x"), &chunks()).unwrap();
        drop(m);
        let other = ChunkParams::new(4096, 16384, 65536).unwrap();
        let m = Manifest::open(&p, other).unwrap();
        assert!(m.file_chunks("f", &stat(15)).unwrap().is_none());
    }
}
