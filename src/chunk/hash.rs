//! `ChunkHash`: the BLAKE3 identity of a chunk, and the short id that the wire carries in chunk lists.

use std::fmt;

/// BLAKE3 hash of a chunk's bytes (or of a file's chunk-hash list). The only way chunk identity is
/// represented; built by hashing data or by decoding 32 bytes at the edge.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    /// Hash `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    /// The 64-bit short id used in chunk lists (first 8 bytes, little endian). A match on the short
    /// id is only a candidate: the destination verifies the data against the full hash, and the
    /// whole file against the source's file hash (see docs/protocol.md).
    pub fn short(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }

    /// Raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Build from a slice that must be exactly 32 bytes.
    pub fn from_slice(s: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(s).ok().map(Self)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Display for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkHash({})", &self.to_hex()[..16])
    }
}

/// Hash of a whole file as pcp defines it: BLAKE3 over the concatenation of its chunk hashes.
/// Each byte of data is hashed once (per chunk); the file hash costs 32 bytes per chunk.
pub fn file_hash<'a>(chunks: impl IntoIterator<Item = &'a ChunkHash>) -> ChunkHash {
    let mut h = FileHasher::default();
    for c in chunks {
        h.update(c);
    }
    h.finish()
}

/// [`file_hash`] fed one chunk hash at a time (no list of them kept).
#[derive(Default)]
pub struct FileHasher(blake3::Hasher);

impl FileHasher {
    /// The next chunk's hash.
    pub fn update(&mut self, c: &ChunkHash) {
        self.0.update(&c.0);
    }

    /// The file hash of the chunks so far.
    pub fn finish(&self) -> ChunkHash {
        ChunkHash(*self.0.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_is_prefix() {
        let h = ChunkHash::of(b"abc");
        assert_eq!(h.short().to_le_bytes(), h.0[..8]);
        assert_eq!(h.to_hex(), "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
    }

    #[test]
    fn empty_file_hash_is_hash_of_nothing() {
        assert_eq!(file_hash(&[]), ChunkHash::of(b""));
    }
}
