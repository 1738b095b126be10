//! Keys typed by purpose (style.md principle 12) and the long-term identity file (security.md
//! §3.1, §3.5).
//!
//! Owns: [`Key`] and its purpose markers, [`Identity`] and its file format, [`PeerId`],
//! fingerprints. Does not own: the file itself (`fsio::keyfile` reads and writes it, with the
//! permission checks).
//! Does not own: derivation of the keys (see `pake` and `noise`) or the peer database.

use std::fmt;
use std::marker::PhantomData;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{noise, Result};

/// Length in bytes of every [`Key`].
pub const KEY_LEN: usize = 32;

/// File name of the identity inside the configuration directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// First line of an identity file; names the format version.
const IDENTITY_MAGIC: &str = "pcp identity v1";

mod sealed {
    #[allow(unreachable_pub)] // sealed-trait pattern: public, but not nameable outside
    pub trait Sealed {}
}

/// What a [`Key`] is for. Sealed: only the markers in this module implement it.
pub trait KeyPurpose: sealed::Sealed {
    /// Short name shown by `Debug` (never the key itself).
    const NAME: &'static str;
}

macro_rules! purpose {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl KeyPurpose for $name {
            const NAME: &'static str = stringify!($name);
        }
    };
}

purpose!(
    /// SPAKE2 output (`ISK`, security.md §2.4): `spake2::Spake2::finish`; no HKDF label. Input
    /// keying material of `PRK = HKDF-Extract(salt = "pcp/1 pake", IKM = ISK)` and of the
    /// pairing PSK.
    Isk
);
purpose!(
    /// `K_conf_R = HKDF-Expand(PRK, "conf R" || th)` or `K_conf_S = HKDF-Expand(PRK, "conf S" ||
    /// th)` (security.md §2.4), the HMAC keys of the key-confirmation messages M3 and M4.
    ConfirmKey
);
purpose!(
    /// `K_noise = HKDF-Expand(PRK, "noise psk" || th)` (security.md §2.4), the `psk3` of the
    /// first-contact `Noise_XXpsk3` handshake.
    NoisePsk
);
purpose!(
    /// `pair_psk = HKDF(salt = h_noise, IKM = ISK, info = "pcp/1 pair psk")` (security.md §3.2),
    /// stored per paired peer; the `psk2` of the reconnect `Noise_IKpsk2` handshake.
    PairPsk
);
purpose!(
    /// The X25519 private key of the Noise static keypair (security.md §3.1); generated from
    /// the OS RNG, not derived, so no HKDF label.
    StaticSecret
);

/// A 32-byte secret key whose type names its purpose, so one key cannot be passed where
/// another belongs. Zeroized on drop; `Debug` prints `Key<Purpose>(redacted)`; equality is
/// constant-time.
pub struct Key<P: KeyPurpose> {
    bytes: [u8; KEY_LEN],
    purpose: PhantomData<fn() -> P>,
}

impl<P: KeyPurpose> Key<P> {
    /// Wraps raw key bytes (e.g. a PSK read from the peer database).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self { bytes, purpose: PhantomData }
    }

    /// The raw key bytes, for handing to a cryptographic primitive or to storage.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl<P: KeyPurpose> Clone for Key<P> {
    fn clone(&self) -> Self {
        Self::from_bytes(self.bytes)
    }
}

impl<P: KeyPurpose> PartialEq for Key<P> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl<P: KeyPurpose> Eq for Key<P> {}

impl<P: KeyPurpose> Drop for Key<P> {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl<P: KeyPurpose> zeroize::ZeroizeOnDrop for Key<P> {}

impl<P: KeyPurpose> fmt::Debug for Key<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key<{}>(redacted)", P::NAME)
    }
}

/// This installation's long-term Noise X25519 static keypair (security.md §3.1).
///
/// The public key always belongs to the secret key: [`Identity::generate`] makes both, and
/// [`Identity::decode_checked`] (what `fsio::keyfile::load` uses) checks them against each other.
pub struct Identity {
    secret: Key<StaticSecret>,
    public: [u8; KEY_LEN],
}

impl Identity {
    /// Makes a new keypair from the OS RNG (through snow's key generator).
    pub fn generate() -> Result<Self> {
        let (secret, public) = noise::generate_static_keypair()?;
        Ok(Self { secret, public })
    }

    /// Decodes the identity file text and checks that the public key belongs to the secret key.
    pub fn decode_checked(text: &[u8]) -> std::result::Result<Self, &'static str> {
        let identity = Self::decode(text).ok_or("unreadable contents")?;
        match noise::static_keys_match(&identity.secret, &identity.public) {
            Ok(true) => Ok(identity),
            _ => Err("public key does not match secret key"),
        }
    }

    /// The secret half, for building Noise handshakes.
    pub fn secret(&self) -> &Key<StaticSecret> {
        &self.secret
    }

    /// The public half, sent in Noise handshakes and pinned by paired peers.
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The fingerprint of the public key, see [`fingerprint`].
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public)
    }

    /// File format: three lines, `pcp identity v1`, `secret <64 lowercase hex>`,
    /// `public <64 lowercase hex>`.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(200));
        s.push_str(IDENTITY_MAGIC);
        s.push_str("\nsecret ");
        push_hex(&mut s, self.secret.as_bytes());
        s.push_str("\npublic ");
        push_hex(&mut s, &self.public);
        s.push('\n');
        s
    }

    pub fn decode(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()? != IDENTITY_MAGIC {
            return None;
        }
        let secret = parse_hex32(lines.next()?.strip_prefix("secret ")?)?;
        let public = parse_hex32(lines.next()?.strip_prefix("public ")?)?;
        if lines.next().is_some() {
            return None;
        }
        Some(Self { secret: Key::from_bytes(*secret), public: *public })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("fingerprint", &self.fingerprint()).field("secret", &self.secret).finish()
    }
}

/// A peer, named by its Noise static public key (what pairing pins and policy is keyed by).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId([u8; KEY_LEN]);

impl PeerId {
    /// The peer with this static public key.
    pub fn from_bytes(public: [u8; KEY_LEN]) -> Self {
        Self(public)
    }

    /// The static public key.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Its fingerprint, see [`fingerprint`].
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.fingerprint())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// Fingerprint of a Noise static public key, Syncthing style: RFC 4648 base32 (upper case, no
/// padding) of the first 20 bytes of `SHA-256(public)`, i.e. 32 characters, grouped by 7 with
/// `-` (`XXXXXXX-XXXXXXX-XXXXXXX-XXXXXXX-XXXX`). No check digits: it is compared by eye, whole.
pub fn fingerprint(public: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::digest(public);
    let chars = base32(&digest[..20]);
    let mut out = String::with_capacity(chars.len() + chars.len() / 7);
    for (i, c) in chars.chars().enumerate() {
        if i > 0 && i % 7 == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

fn parse_hex32(s: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if s.len() != 2 * KEY_LEN {
        return None;
    }
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_is_redacted() {
        let k: Key<PairPsk> = Key::from_bytes([0x5A; 32]);
        let s = format!("{k:?}");
        assert_eq!(s, "Key<PairPsk>(redacted)");
        assert!(!s.contains("5a") && !s.contains("90"));
        assert_eq!(format!("{:?}", Key::<NoisePsk>::from_bytes([1; 32])), "Key<NoisePsk>(redacted)");
    }

    #[test]
    fn key_equality_and_clone() {
        let a: Key<Isk> = Key::from_bytes([7; 32]);
        assert_eq!(a, a.clone());
        assert_ne!(a, Key::from_bytes([8; 32]));
    }

    #[test]
    fn base32_rfc4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn fingerprint_shape() {
        let fp = fingerprint(&[0; 32]);
        assert_eq!(fp.len(), 32 + 4);
        let groups: Vec<&str> = fp.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [7, 7, 7, 7, 4]);
        assert!(fp.chars().all(|c| c == '-' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_ne!(fp, fingerprint(&[1; 32]));
    }

    #[test]
    fn identity_debug_has_no_secret() {
        let id = Identity::generate().unwrap();
        let mut hex = String::new();
        push_hex(&mut hex, id.secret().as_bytes());
        let dbg = format!("{id:?}");
        assert!(!dbg.contains(&hex[..16]), "{dbg}");
        assert!(dbg.contains("redacted"));
    }
}
