//! Schema migrations: an append-only list applied in one exclusive transaction, progress kept in
//! `pragma user_version`. Never remove or edit an entry; add a new one.

use rusqlite::Connection;

/// The migrations, in order. Entry `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: files with their chunk lists, chunk index by short id, key/value metadata.
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE files(
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL, mtime INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        ino INTEGER NOT NULL, ctime INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
        hash BLOB NOT NULL, chunks BLOB NOT NULL);
     CREATE TABLE chunks(
        short INTEGER NOT NULL, hash BLOB NOT NULL, path TEXT NOT NULL,
        offset INTEGER NOT NULL, len INTEGER NOT NULL);
     CREATE INDEX chunks_short ON chunks(short);
     CREATE INDEX chunks_path ON chunks(path);",
    // 2: partially received files kept for resume (temp file name -> final path).
    "CREATE TABLE staged(
        temp TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, hash BLOB NOT NULL);",
];

/// Bring `conn` to the newest schema.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    let v: usize =
        tx.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?.try_into().unwrap_or(usize::MAX);
    if v > MIGRATIONS.len() {
        return Err(rusqlite::Error::InvalidQuery);
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(v) {
        tx.execute_batch(m)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_twice() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}
