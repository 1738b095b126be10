//! Content-defined chunking: bytes in, `ChunkRef { hash, offset, len }` out. Pure: it reads from a
//! caller-supplied `Read` and never opens files itself.
//!
//! FastCDC v2020 (the `fastcdc` crate, pinned exactly: cut points are the contract) finds the cut
//! points over a sliding buffer, so a file is never held in memory whole; BLAKE3 names each chunk.
//! Parameters are data (`ChunkParams`), stored in the manifest and sent in `Hello`; see
//! docs/chunking.md for why min/avg/max are 16/64/256 KiB.

mod hash;

pub use hash::{file_hash, ChunkHash, FileHasher};

use std::io::{self, Read};

use fastcdc::v2020::{cut, select_masks, Normalization};

/// Name of the chunker algorithm, recorded with its parameters.
pub const CHUNKER_NAME: &str = "fastcdc-v2020-5.0.0-l1";

/// Chunk-size parameters. Both peers must cut alike: they are exchanged in `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkParams {
    /// Minimum chunk size in bytes.
    pub min: u32,
    /// Target average chunk size in bytes.
    pub avg: u32,
    /// Maximum chunk size in bytes (also the largest chunk the wire accepts).
    pub max: u32,
}

impl Default for ChunkParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Error for chunk parameters outside what FastCDC supports.
#[derive(Debug, thiserror::Error)]
#[error("invalid chunk parameters {min}/{avg}/{max}: need 64 B <= min <= avg <= max <= 16 MiB, all even")]
pub struct BadParams {
    min: u32,
    avg: u32,
    max: u32,
}

impl ChunkParams {
    /// 16 KiB / 64 KiB / 256 KiB (docs/chunking.md).
    pub const DEFAULT: Self = Self { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

    /// Largest `max` accepted from a peer or config.
    pub const MAX_MAX: u32 = 16 * 1024 * 1024;

    /// Validated constructor (parse, don't validate).
    pub fn new(min: u32, avg: u32, max: u32) -> Result<Self, BadParams> {
        let ok = (64..=1 << 26).contains(&min)
            && (256..=1 << 28).contains(&avg)
            && (1024..=Self::MAX_MAX).contains(&max)
            && min <= avg
            && avg <= max
            && min % 2 == 0
            && avg % 2 == 0
            && max % 2 == 0;
        if ok {
            Ok(Self { min, avg, max })
        } else {
            Err(BadParams { min, avg, max })
        }
    }
}

/// One chunk of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    /// BLAKE3 of the chunk's bytes.
    pub hash: ChunkHash,
    /// Offset in the file.
    pub offset: u64,
    /// Length in bytes (1..=max).
    pub len: u32,
}

/// Streaming chunker over any reader. Memory: one buffer of `4 * max` bytes (1 MiB by default).
pub struct Chunker<R> {
    reader: R,
    params: ChunkParams,
    masks: (u64, u64),
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    offset: u64,
}

impl<R: Read> Chunker<R> {
    /// Chunk `reader` with `params`.
    pub fn new(reader: R, params: ChunkParams) -> Self {
        Self::with_size_hint(reader, params, u64::MAX)
    }

    /// Like `new`, for input expected to be `hint` bytes long: a small file gets a small buffer
    /// (allocating and zeroing 1 MiB per file dominated syncs of many small files). The buffer
    /// grows if the input turns out longer.
    pub fn with_size_hint(reader: R, params: ChunkParams, hint: u64) -> Self {
        let masks = select_masks(params.avg as usize, Normalization::Level1);
        let full = (params.max as usize) * 4;
        let cap = usize::try_from(hint.saturating_add(1)).unwrap_or(full).clamp(1, full);
        Self { reader, params, masks, buf: vec![0; cap], start: 0, end: 0, eof: false, offset: 0 }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 && self.end - self.start < self.params.max as usize {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end - self.start < self.params.max as usize {
            if self.end == self.buf.len() {
                // Longer than the hint: grow to the full window (after compaction above, the full
                // window always has room, since less than `max` bytes are pending).
                let full = (self.params.max as usize) * 4;
                if self.buf.len() >= full {
                    break;
                }
                self.buf.resize(full, 0);
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next chunk and its bytes (valid until the next call), or `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<(ChunkRef, &[u8])>> {
        self.fill()?;
        let avail = self.end - self.start;
        if avail == 0 {
            return Ok(None);
        }
        let p = self.params;
        let (ms, ml) = self.masks;
        let data = &self.buf[self.start..self.end];
        let (_, n) = cut(data, p.min as usize, p.avg as usize, p.max as usize, ms, ml, ms << 1, ml << 1);
        let n = if n == 0 { avail } else { n.min(avail) };
        let bytes = &self.buf[self.start..self.start + n];
        let r = ChunkRef { hash: ChunkHash::of(bytes), offset: self.offset, len: n as u32 };
        self.start += n;
        self.offset += n as u64;
        Ok(Some((r, &self.buf[self.start - n..self.start])))
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.offset
    }
}

/// Chunk a whole reader into a list (convenience for tests and small inputs).
pub fn chunk_all<R: Read>(reader: R, params: ChunkParams) -> io::Result<Vec<ChunkRef>> {
    let mut c = Chunker::new(reader, params);
    let mut out = Vec::new();
    while let Some((r, _)) = c.next_chunk()? {
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(n: usize, seed: u64) -> Vec<u8> {
        // xorshift: deterministic, dependency-free test data
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn chunks_cover_input_and_respect_bounds() {
        let data = seeded(3 << 20, 1);
        let p = ChunkParams::DEFAULT;
        let cs = chunk_all(&data[..], p).unwrap();
        let mut off = 0u64;
        for (i, c) in cs.iter().enumerate() {
            assert_eq!(c.offset, off);
            assert!(c.len <= p.max);
            if i + 1 < cs.len() {
                assert!(c.len >= p.min);
            }
            let s = &data[off as usize..off as usize + c.len as usize];
            assert_eq!(c.hash, ChunkHash::of(s));
            off += c.len as u64;
        }
        assert_eq!(off, data.len() as u64);
    }

    #[test]
    fn size_hint_never_changes_cuts() {
        let data = seeded(3 << 20, 11);
        let a = chunk_all(&data[..], ChunkParams::DEFAULT).unwrap();
        for hint in [0u64, 1, 1000, 100_000, 3 << 20] {
            let mut c = Chunker::with_size_hint(&data[..], ChunkParams::DEFAULT, hint);
            let mut b = Vec::new();
            while let Some((r, _)) = c.next_chunk().unwrap() {
                b.push(r);
            }
            assert_eq!(a, b, "hint {hint}");
        }
    }

    #[test]
    fn empty_input_has_no_chunks() {
        assert!(chunk_all(&b""[..], ChunkParams::DEFAULT).unwrap().is_empty());
    }

    #[test]
    fn small_reads_give_same_cuts() {
        // A reader that returns 1000 bytes at a time must cut exactly like one big slice.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = b.len().min(1000).min(self.0.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let data = seeded(2 << 20, 7);
        let a = chunk_all(&data[..], ChunkParams::DEFAULT).unwrap();
        let b = chunk_all(Slow(&data), ChunkParams::DEFAULT).unwrap();
        assert_eq!(a, b);
    }

    /// Golden cut points: a change here means every peer's chunks look new. Update only in a
    /// commit that upgrades fastcdc on purpose.
    #[test]
    fn golden_cut_points() {
        let data = seeded(1 << 20, 42);
        let lens: Vec<u32> = chunk_all(&data[..], ChunkParams::DEFAULT).unwrap().iter().map(|c| c.len).collect();
        assert_eq!(lens.iter().map(|&l| l as usize).sum::<usize>(), 1 << 20);
        assert_eq!(format!("{lens:?}"), GOLDEN);
    }
    const GOLDEN: &str = "[110203, 72195, 85872, 109446, 16918, 84397, 99530, 180549, 98363, 86907, 48275, 55921]";

    #[test]
    fn insertion_at_front_changes_at_most_two_chunks() {
        let data = seeded(4 << 20, 3);
        let mut edited = b"x".repeat(100);
        edited.extend_from_slice(&data);
        let a = chunk_all(&data[..], ChunkParams::DEFAULT).unwrap();
        let b = chunk_all(&edited[..], ChunkParams::DEFAULT).unwrap();
        let old: std::collections::HashSet<_> = a.iter().map(|c| c.hash).collect();
        let new = b.iter().filter(|c| !old.contains(&c.hash)).count();
        assert!(new <= 2, "{new} new chunks");
    }

    #[test]
    fn params_validated() {
        assert!(ChunkParams::new(16384, 65536, 262144).is_ok());
        assert!(ChunkParams::new(0, 65536, 262144).is_err());
        assert!(ChunkParams::new(65536, 16384, 262144).is_err());
        assert!(ChunkParams::new(16384, 65536, u32::MAX).is_err());
    }
}
