//! What pcp knows about an entry on disk, as plain values: its type, permission bits and the
//! stat fields the quick check compares. Pure types (no IO): `plan` decides on them, `fsio`
//! and `scan` fill them in, `manifest` stores them.

/// What the quick check compares: a file whose stat matches is not re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// mtime seconds.
    pub mtime: i64,
    /// mtime nanoseconds.
    pub mtime_ns: u32,
    /// Inode number.
    pub ino: u64,
    /// ctime seconds.
    pub ctime: i64,
    /// ctime nanoseconds.
    pub ctime_ns: u32,
}

impl Stat {
    /// From std metadata.
    pub fn from_meta(m: &impl std::os::unix::fs::MetadataExt) -> Self {
        Self {
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec() as u32,
            ino: m.ino(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec() as u32,
        }
    }
}

/// Type of an existing destination entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FType {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Anything else (device, FIFO, socket).
    Other,
}

/// lstat of a destination entry.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Type.
    pub ftype: FType,
    /// Permission bits.
    pub mode: u32,
    /// Stat for the quick check and the manifest.
    pub stat: Stat,
}
