//! Peer authentication (security.md §2–3): the transfer code, SPAKE2 with key confirmation,
//! the Noise handshakes (first contact `XXpsk3`, reconnect `IKpsk2`) and the on-disk identity.
//!
//! Owns: key derivation, message bytes of the handshakes, typed keys, the identity file.
//! Does not own: sockets, framing of stream 0, timeouts, the rendezvous, attempt counting or the
//! peer database. The handshake code is sans-IO: bytes in, bytes and typed results out;
//! randomness comes in as `&mut (impl RngCore + CryptoRng)` except inside snow, which draws its
//! ephemeral keys from its own OS-backed RNG (snow 0.10 offers no way to pass one in).
//!
//! Message order on stream 0 (security.md §2.3), all roles fixed:
//!
//! | step | direction | built by | read by |
//! |---|---|---|---|
//! | M1 | R→S | [`pake::ReceiverPake::start`] | [`pake::SenderPake::on_m1`] |
//! | M2 | S→R | [`pake::SenderPake::on_m1`] | [`pake::ReceiverPake::on_m2`] |
//! | M3 | R→S | [`pake::ReceiverPake::on_m2`] | [`pake::SenderAwaitConf::on_m3`] |
//! | M4 | S→R | [`pake::SenderAwaitConf::on_m3`] | [`pake::ReceiverAwaitConf::on_m4`] |
//! | N1 | R→S | [`noise::ReceiverHandshake::start`] | [`noise::SenderHandshake::on_n1`] |
//! | N2 | S→R | [`noise::SenderHandshake::on_n1`] | [`noise::ReceiverHandshake::on_n2`] |
//! | N3 | R→S | [`noise::ReceiverHandshake::on_n2`] | [`noise::SenderAwaitN3::on_n3`] |
//!
//! # Encodings (fixes security.md open point 10)
//!
//! * `lv(x)` = the length of `x` as a **4-byte big-endian unsigned integer**, followed by the
//!   bytes of `x` ([`lv`], [`lv_into`]).
//! * `H`, the hash of the PAKE transcript `th = H(lv(M1) || lv(M2))`, is **SHA-256**.
//! * HKDF is HKDF-SHA256 and HMAC is HMAC-SHA256 throughout, as in security.md.

pub mod code;
pub mod keys;
pub mod noise;
pub mod pake;
pub mod peers;

use std::path::PathBuf;

pub use code::Code;
pub use keys::{Identity, Key};

/// Errors of the authentication layer.
///
/// Each message says what to do next. None of them carries secret material, and none shows the
/// `Debug` of a snow or spake2 error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PAKE or the first-contact Noise handshake failed: wrong code, or an attacker.
    #[error("code rejected (wrong code or interception); run `pcp send` again to get a new code")]
    CodeRejected,
    /// A reconnect handshake with a paired peer failed: stale pairing, wrong key, or an attacker.
    #[error(
        "paired peer failed authentication (stale pairing or interception); \
         run `pcp pair` again with this peer"
    )]
    PeerRejected,
    /// A typed code could not be parsed; the string names the problem, never a secret word.
    #[error("invalid code: {0}; a code looks like `channel-word-word-word`")]
    BadCode(String),
    /// A handshake message had the wrong length or shape for pcp/1.
    #[error("malformed handshake message ({0}); the peer does not speak pcp/1 or the connection was tampered with")]
    Protocol(&'static str),
    /// The dialer's static key belongs to no paired peer (or was revoked).
    #[error(
        "unknown peer key (never paired, or forgotten with `pcp peers forget`); the peer must pair again with a code"
    )]
    UnknownPeer,
    /// A key file or its directory is insecure or corrupt; `reason` ends with the fix.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong and the one-line fix, e.g. ``mode 0644 is readable by others; run `chmod 600 …` ``.
        reason: String,
    },
    /// An I/O error while reading or writing key material.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A broken internal invariant (a bug in pcp, not the peer's fault).
    #[error("internal error in authentication ({0}); please report this bug")]
    Internal(&'static str),
}

/// Result type of the authentication layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Appends `lv(x)` to `out`: `x.len()` as a 4-byte big-endian integer, then `x`.
///
/// Every value fed to `lv` in pcp is a label, a 32-byte key or hash, a 33-byte PAKE message, a
/// channel word or a rendezvous id capped at [`pake::MAX_RENDEZVOUS_ID_LEN`], so the length always
/// fits in `u32`. A longer input (impossible here) would be encoded with length `u32::MAX`.
pub fn lv_into(out: &mut Vec<u8>, x: &[u8]) {
    let len = u32::try_from(x.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(x);
}

/// Returns `lv(x)`: `x.len()` as a 4-byte big-endian integer, then `x` (see [`lv_into`]).
pub fn lv(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + x.len());
    lv_into(&mut out, x);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lv_exact_bytes() {
        assert_eq!(lv(b""), [0, 0, 0, 0]);
        assert_eq!(lv(b"pcp/1"), b"\x00\x00\x00\x05pcp/1");
        let long = vec![0xAB; 300];
        let enc = lv(&long);
        assert_eq!(&enc[..4], &[0, 0, 1, 44]);
        assert_eq!(&enc[4..], &long[..]);
        let mut out = b"x".to_vec();
        lv_into(&mut out, b"receiver");
        assert_eq!(out, b"x\x00\x00\x00\x08receiver");
    }

    #[test]
    fn error_messages_say_what_to_do() {
        assert_eq!(
            Error::CodeRejected.to_string(),
            "code rejected (wrong code or interception); run `pcp send` again to get a new code"
        );
        let e = Error::KeyFile { path: "/k/identity.key".into(), reason: "run `chmod 600 /k/identity.key`".into() };
        assert!(e.to_string().contains("chmod 600 /k/identity.key"));
    }
}
