//! Framing and primitive encoders: a frame is `len: u32 LE` then `len` bytes (type byte + body).
//! `check` tells whether a whole frame is buffered without parsing it; every length is capped
//! before anything is allocated.

use super::Error;

/// Largest frame accepted (type + body). A `Data` frame holds at most one max-size chunk
/// (16 MiB cap) plus a small header.
pub const MAX_FRAME: usize = 17 * 1024 * 1024;

/// If `buf` starts with a whole frame, its total length including the 4-byte prefix.
pub fn check(buf: &[u8]) -> Result<Option<usize>, Error> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = body_len([buf[0], buf[1], buf[2], buf[3]])?;
    if buf.len() < 4 + len {
        return Ok(None);
    }
    Ok(Some(4 + len))
}

/// The body length a 4-byte prefix announces, checked against [`MAX_FRAME`].
pub fn body_len(prefix: [u8; 4]) -> Result<usize, Error> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(Error::FrameTooLarge(len));
    }
    Ok(len)
}

/// Cuts a byte stream that arrives in arbitrary pieces into frame bodies, copying each byte at
/// most once: a body that lies inside one piece is a slice of it; otherwise it is gathered into
/// a buffer of exactly the announced size (capped before allocation).
pub struct Assembler {
    prefix: [u8; 4],
    have: usize,
    body: Option<(bytes::BytesMut, usize)>,
    /// Largest body accepted (at most [`MAX_FRAME`]).
    max: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Self::with_max(MAX_FRAME)
    }
}

impl Assembler {
    /// An assembler that refuses bodies longer than `max` (before allocating them): the data
    /// streams carry nothing but one chunk per frame.
    pub fn with_max(max: usize) -> Self {
        Self { prefix: [0; 4], have: 0, body: None, max: max.min(MAX_FRAME) }
    }

    /// Feed one piece; every completed frame body is handed to `out`.
    pub fn push(&mut self, mut piece: bytes::Bytes, out: &mut Vec<bytes::Bytes>) -> Result<(), Error> {
        while !piece.is_empty() {
            if let Some((buf, len)) = &mut self.body {
                let take = (*len - buf.len()).min(piece.len());
                buf.extend_from_slice(&piece.split_to(take));
                if buf.len() == *len {
                    if let Some((buf, _)) = self.body.take() {
                        out.push(buf.freeze());
                    }
                }
                continue;
            }
            let take = (4 - self.have).min(piece.len());
            self.prefix[self.have..self.have + take].copy_from_slice(&piece.split_to(take));
            self.have += take;
            if self.have < 4 {
                continue;
            }
            self.have = 0;
            let len = body_len(self.prefix)?;
            if len > self.max {
                return Err(Error::Cap("frame length", len as u64));
            }
            if piece.len() >= len {
                out.push(piece.split_to(len));
            } else {
                let mut buf = bytes::BytesMut::with_capacity(len);
                buf.extend_from_slice(&piece);
                piece.clear();
                self.body = Some((buf, len));
            }
        }
        Ok(())
    }

    /// Whether a frame was cut off (the stream must not end here).
    pub fn is_mid_frame(&self) -> bool {
        self.have > 0 || self.body.is_some()
    }
}

/// Writer of primitive values.
#[derive(Default)]
pub struct Enc {
    /// Bytes written so far.
    pub buf: Vec<u8>,
}

impl Enc {
    /// Unsigned LEB128.
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    /// Zig-zag signed varint.
    pub fn svarint(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Fixed 8 bytes LE.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    /// Raw bytes.
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
}

/// Reader of primitive values; every read is bounds-checked.
pub struct Dec<'a> {
    buf: &'a [u8],
}

impl<'a> Dec<'a> {
    /// Read from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    /// Unsigned LEB128, at most 10 bytes.
    pub fn varint(&mut self) -> Result<u64, Error> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.first().ok_or(Error::Truncated)?;
            self.buf = &self.buf[1..];
            if i == 9 && b > 1 {
                return Err(Error::Malformed("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Malformed("varint too long"))
    }
    /// Varint that must fit `max`.
    pub fn varint_max(&mut self, max: u64, what: &'static str) -> Result<u64, Error> {
        let v = self.varint()?;
        if v > max {
            return Err(Error::Cap(what, v));
        }
        Ok(v)
    }
    /// Varint as u32.
    pub fn u32v(&mut self, what: &'static str) -> Result<u32, Error> {
        Ok(self.varint_max(u64::from(u32::MAX), what)? as u32)
    }
    /// Zig-zag signed varint.
    pub fn svarint(&mut self) -> Result<i64, Error> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Error> {
        let b = *self.buf.first().ok_or(Error::Truncated)?;
        self.buf = &self.buf[1..];
        Ok(b)
    }
    /// Fixed 8 bytes LE.
    pub fn u64(&mut self) -> Result<u64, Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// Exactly `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(Error::Truncated);
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    /// 32 raw bytes.
    pub fn hash(&mut self) -> Result<[u8; 32], Error> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    /// Length-prefixed bytes no longer than `max`.
    pub fn bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.varint_max(max as u64, what)? as usize;
        self.take(n)
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    /// Fails unless every byte was consumed.
    /// Whether every byte was read.
    pub fn is_done(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn finish(&self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bodies: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for b in bodies {
            v.extend_from_slice(&(b.len() as u32).to_le_bytes());
            v.extend_from_slice(b);
        }
        v
    }

    /// Every way of cutting a stream into two pieces, and byte-by-byte, yields the same bodies.
    #[test]
    fn assembler_any_split() {
        let big = vec![7u8; 3000];
        let bodies: Vec<&[u8]> = vec![b"a", b"hello", &big, b"xyz"];
        let stream = frames(&bodies);
        for cut in 0..=stream.len() {
            let mut a = Assembler::default();
            let mut out = Vec::new();
            a.push(bytes::Bytes::copy_from_slice(&stream[..cut]), &mut out).unwrap();
            a.push(bytes::Bytes::copy_from_slice(&stream[cut..]), &mut out).unwrap();
            assert!(!a.is_mid_frame());
            assert_eq!(out.iter().map(|b| &b[..]).collect::<Vec<_>>(), bodies, "cut at {cut}");
        }
        let mut a = Assembler::default();
        let mut out = Vec::new();
        for b in &stream {
            a.push(bytes::Bytes::copy_from_slice(&[*b]), &mut out).unwrap();
        }
        assert_eq!(out.len(), 4);
        a.push(bytes::Bytes::from_static(&[3, 0]), &mut out).unwrap();
        assert!(a.is_mid_frame(), "a cut-off prefix is noticed");
    }

    /// A prefix over the cap (or zero) fails before anything is allocated.
    #[test]
    fn assembler_caps() {
        let mut out = Vec::new();
        let over = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(matches!(
            Assembler::default().push(bytes::Bytes::copy_from_slice(&over), &mut out),
            Err(Error::FrameTooLarge(_))
        ));
        assert!(Assembler::default().push(bytes::Bytes::from_static(&[0, 0, 0, 0]), &mut out).is_err());
        let mut a = Assembler::default();
        a.push(bytes::Bytes::from_static(&[10, 0, 0, 0, 1, 2]), &mut out).unwrap();
        assert!(a.is_mid_frame() && out.is_empty());
    }

    #[test]
    fn varint_round_trip_and_bytes() {
        let mut e = Enc::default();
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            e.varint(v);
        }
        e.svarint(-1);
        e.svarint(i64::MIN);
        assert_eq!(&e.buf[..5], &[0, 1, 0x7f, 0x80, 0x01]);
        let mut d = Dec::new(&e.buf);
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(d.varint().unwrap(), v);
        }
        assert_eq!(d.svarint().unwrap(), -1);
        assert_eq!(d.svarint().unwrap(), i64::MIN);
        d.finish().unwrap();
    }

    #[test]
    fn overlong_varint_rejected() {
        assert!(Dec::new(&[0xff; 11]).varint().is_err());
        assert!(Dec::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint().is_err());
        assert!(Dec::new(&[0x80]).varint().is_err());
    }

    /// T23: a frame length above the cap is refused before any body is read.
    #[test]
    fn frame_cap() {
        assert!(check(&[0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(check(&[0, 0, 0, 0]).is_err());
        assert_eq!(check(&[1, 0, 0, 0]).unwrap(), None);
        assert_eq!(check(&[1, 0, 0, 0, 9]).unwrap(), Some(5));
    }
}
