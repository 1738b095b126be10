//! SPAKE2 with key confirmation, messages M1–M4 of security.md §2.3–2.5, as step machines.
//!
//! Owns: the PAKE identities, the transcript hash `th`, the key schedule and the confirmation
//! MACs. Does not own: framing, the one-attempt-per-code rule (the caller burns the code before
//! answering M1) or what happens on failure.
//!
//! Roles: the receiver R is SPAKE2 side A, the sender S is side B.
//!
//! ```text
//! idA = lv("pcp/1") || lv("receiver")
//! idB = lv("pcp/1") || lv("sender") || lv(rendezvous_id) || lv(channel) || lv(ekm)
//! M1 R->S  'A' || X                (33 bytes)
//! M2 S->R  'B' || Y                (33 bytes)
//!          ISK = spake2 finish();  th = SHA-256(lv(M1) || lv(M2))
//!          PRK      = HKDF-Extract(salt = "pcp/1 pake", IKM = ISK)
//!          K_conf_R = HKDF-Expand(PRK, "conf R" || th, 32)
//!          K_conf_S = HKDF-Expand(PRK, "conf S" || th, 32)
//!          K_noise  = HKDF-Expand(PRK, "noise psk" || th, 32)
//!          verifier = first 44 bits of HKDF-Expand(PRK, "verifier", 32) as 4 BIP39 words
//! M3 R->S  conf_R = HMAC(K_conf_R, th)   (32 bytes)
//! M4 S->R  conf_S = HMAC(K_conf_S, th)   (32 bytes; S sends it only after verifying conf_R)
//! ```
//!
//! Errors: a message of the wrong length is [`Error::Protocol`] (not a pcp/1 peer); a
//! well-sized message that is not a curve point, carries the wrong side byte (e.g. a reflected
//! M1) or a MAC that does not verify is [`Error::CodeRejected`]. Both end the attempt; the
//! caller treats them alike (burn the code, exit with the auth-failed code).
//!
//! Limitation: `spake2` 0.4 keeps its own copy of the password and scalar and does not zeroize
//! them; pcp's copies (identities, ISK, derived keys) are zeroized.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity as SpakeId, Password, Spake2};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::code::{words_from_bits, Code};
use super::keys::{ConfirmKey, Isk, Key, NoisePsk, KEY_LEN};
use super::{lv_into, Error, Result};

/// Length of M1 and M2: a side byte and a compressed Ed25519 point.
pub const PAKE_MSG_LEN: usize = 33;
/// Length of M3 and M4: an HMAC-SHA256 tag.
pub const CONF_MSG_LEN: usize = 32;
/// Longest rendezvous id accepted (it is bound into `idB`).
pub const MAX_RENDEZVOUS_ID_LEN: usize = 255;
/// Number of BIP39 words in the verifier string.
pub const VERIFIER_WORDS: usize = 4;

const VERSION: &[u8] = b"pcp/1";
const PRK_SALT: &[u8] = b"pcp/1 pake";
const LABEL_CONF_R: &[u8] = b"conf R";
const LABEL_CONF_S: &[u8] = b"conf S";
const LABEL_NOISE: &[u8] = b"noise psk";
const LABEL_VERIFIER: &[u8] = b"verifier";

/// Receiver (R, SPAKE2 side A) after sending M1, waiting for M2.
pub struct ReceiverPake {
    spake: Spake2<Ed25519Group>,
    m1: Vec<u8>,
}

/// Receiver after sending M3, waiting for M4.
pub struct ReceiverAwaitConf {
    schedule: Schedule,
}

/// Sender (S, SPAKE2 side B) waiting for M1.
pub struct SenderPake {
    password: Zeroizing<Vec<u8>>,
    id_a: Zeroizing<Vec<u8>>,
    id_b: Zeroizing<Vec<u8>>,
}

/// Sender after sending M2, waiting for M3.
pub struct SenderAwaitConf {
    schedule: Schedule,
}

/// What a successful PAKE gives both sides (they hold equal values).
pub struct PakeOutput {
    th: [u8; 32],
    k_noise: Key<NoisePsk>,
    isk: Key<Isk>,
    verifier: Zeroizing<String>,
}

/// Keys derived from ISK and th, before confirmation.
struct Schedule {
    th: [u8; 32],
    isk: Key<Isk>,
    k_conf_r: Key<ConfirmKey>,
    k_conf_s: Key<ConfirmKey>,
    k_noise: Key<NoisePsk>,
    verifier: Zeroizing<String>,
}

impl ReceiverPake {
    /// Starts the PAKE on the receiver and returns M1.
    ///
    /// `ekm` is the TLS exporter of this QUIC connection (`EXPORTER-pcp-binding-v1`, 32 bytes),
    /// `rendezvous_id` the id the rendezvous gave this session (at most
    /// [`MAX_RENDEZVOUS_ID_LEN`] bytes, else [`Error::Protocol`]).
    pub fn start(
        code: &Code,
        ekm: &[u8; 32],
        rendezvous_id: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Self, Vec<u8>)> {
        let (id_a, id_b) = identities(code, ekm, rendezvous_id)?;
        let (spake, m1) = Spake2::<Ed25519Group>::start_a_with_rng(
            &Password::new(code.password()),
            &SpakeId::new(&id_a),
            &SpakeId::new(&id_b),
            rng,
        );
        if m1.len() != PAKE_MSG_LEN {
            return Err(Error::Internal("spake2 message length"));
        }
        Ok((Self { spake, m1: m1.clone() }, m1))
    }

    /// Reads M2, derives the keys and returns M3 (`conf_R`).
    pub fn on_m2(self, m2: &[u8]) -> Result<(ReceiverAwaitConf, Vec<u8>)> {
        if m2.len() != PAKE_MSG_LEN {
            return Err(Error::Protocol("PAKE message M2 length"));
        }
        // Wrong side byte (reflection) or a non-point: treated as a failed guess.
        let isk = self.spake.finish(m2).map_err(|_| Error::CodeRejected)?;
        let schedule = Schedule::derive(&isk, &self.m1, m2)?;
        let m3 = schedule.mac(&schedule.k_conf_r)?;
        Ok((ReceiverAwaitConf { schedule }, m3.to_vec()))
    }
}

impl ReceiverAwaitConf {
    /// Reads M4 (`conf_S`) and, if it verifies, completes the PAKE.
    pub fn on_m4(self, m4: &[u8]) -> Result<PakeOutput> {
        if m4.len() != CONF_MSG_LEN {
            return Err(Error::Protocol("PAKE confirmation M4 length"));
        }
        self.schedule.verify(&self.schedule.k_conf_s, m4)?;
        Ok(self.schedule.into_output())
    }
}

impl SenderPake {
    /// Prepares the sender's side of the PAKE; see [`ReceiverPake::start`] for the arguments.
    pub fn new(code: &Code, ekm: &[u8; 32], rendezvous_id: &[u8]) -> Result<Self> {
        let (id_a, id_b) = identities(code, ekm, rendezvous_id)?;
        Ok(Self { password: Zeroizing::new(code.password().to_vec()), id_a, id_b })
    }

    /// Reads M1 and returns M2. The caller must have spent this code's one attempt first.
    pub fn on_m1(self, m1: &[u8], rng: &mut (impl RngCore + CryptoRng)) -> Result<(SenderAwaitConf, Vec<u8>)> {
        if m1.len() != PAKE_MSG_LEN {
            return Err(Error::Protocol("PAKE message M1 length"));
        }
        let (spake, m2) = Spake2::<Ed25519Group>::start_b_with_rng(
            &Password::new(&*self.password),
            &SpakeId::new(&self.id_a),
            &SpakeId::new(&self.id_b),
            rng,
        );
        let isk = spake.finish(m1).map_err(|_| Error::CodeRejected)?;
        let schedule = Schedule::derive(&isk, m1, &m2)?;
        Ok((SenderAwaitConf { schedule }, m2))
    }
}

impl SenderAwaitConf {
    /// Reads M3 (`conf_R`); only if it verifies, returns the output and M4 (`conf_S`).
    pub fn on_m3(self, m3: &[u8]) -> Result<(PakeOutput, Vec<u8>)> {
        if m3.len() != CONF_MSG_LEN {
            return Err(Error::Protocol("PAKE confirmation M3 length"));
        }
        self.schedule.verify(&self.schedule.k_conf_r, m3)?;
        let m4 = self.schedule.mac(&self.schedule.k_conf_s)?;
        Ok((self.schedule.into_output(), m4.to_vec()))
    }
}

/// What the first-contact Noise handshake is keyed with: the transcript hash (its prologue)
/// and `K_noise` (its `psk3`). A confirmed [`PakeOutput`] has them, and so has the receiver
/// between M2 and M4 ([`ReceiverAwaitConf`]), so that N1 can travel with M3 (see
/// [`super::noise::ReceiverHandshake::start`]).
pub trait NoiseInputs {
    /// `th`.
    fn th(&self) -> &[u8; 32];
    /// `K_noise`.
    fn k_noise(&self) -> &Key<NoisePsk>;
}

impl NoiseInputs for PakeOutput {
    fn th(&self) -> &[u8; 32] {
        &self.th
    }
    fn k_noise(&self) -> &Key<NoisePsk> {
        &self.k_noise
    }
}

impl NoiseInputs for ReceiverAwaitConf {
    fn th(&self) -> &[u8; 32] {
        &self.schedule.th
    }
    fn k_noise(&self) -> &Key<NoisePsk> {
        &self.schedule.k_noise
    }
}

impl PakeOutput {
    /// The transcript hash `th = SHA-256(lv(M1) || lv(M2))`, part of the Noise prologue.
    pub fn th(&self) -> &[u8; 32] {
        &self.th
    }

    /// `K_noise`, the `psk3` of the first-contact Noise handshake.
    pub fn k_noise(&self) -> &Key<NoisePsk> {
        &self.k_noise
    }

    /// The SPAKE2 key, input of the pairing PSK.
    pub fn isk(&self) -> &Key<Isk> {
        &self.isk
    }

    /// Short authentication string: 4 BIP39 words separated by spaces, equal on both sides,
    /// for optional comparison out of band (security.md §2.6 point 4).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }
}

impl std::fmt::Debug for PakeOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PakeOutput").field("k_noise", &self.k_noise).field("isk", &self.isk).finish_non_exhaustive()
    }
}

impl Schedule {
    fn derive(isk: &[u8], m1: &[u8], m2: &[u8]) -> Result<Self> {
        let isk: [u8; KEY_LEN] = isk.try_into().map_err(|_| Error::Internal("spake2 key length"))?;
        let isk = Key::<Isk>::from_bytes(isk);
        let th = transcript_hash(m1, m2);
        // hkdf's internal HMAC state is not zeroized on drop; it lives only in this function.
        let hk = Hkdf::<Sha256>::new(Some(PRK_SALT), isk.as_bytes());
        let expand = |label: &[u8], with_th: bool| -> Result<Zeroizing<[u8; KEY_LEN]>> {
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            let info: &[&[u8]] = if with_th { &[label, &th] } else { &[label] };
            hk.expand_multi_info(info, &mut *out).map_err(|_| Error::Internal("hkdf expand length"))?;
            Ok(out)
        };
        let verifier_bits = expand(LABEL_VERIFIER, false)?;
        Ok(Self {
            th,
            k_conf_r: Key::from_bytes(*expand(LABEL_CONF_R, true)?),
            k_conf_s: Key::from_bytes(*expand(LABEL_CONF_S, true)?),
            k_noise: Key::from_bytes(*expand(LABEL_NOISE, true)?),
            verifier: Zeroizing::new(words_from_bits(&*verifier_bits, VERIFIER_WORDS, ' ')?),
            isk,
        })
    }

    /// `HMAC-SHA256(key, th)`.
    fn mac(&self, key: &Key<ConfirmKey>) -> Result<[u8; CONF_MSG_LEN]> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).map_err(|_| Error::Internal("hmac key length"))?;
        mac.update(&self.th);
        Ok(mac.finalize().into_bytes().into())
    }

    /// Constant-time check of a received confirmation tag.
    fn verify(&self, key: &Key<ConfirmKey>, tag: &[u8]) -> Result<()> {
        let expected = self.mac(key)?;
        if bool::from(expected.ct_eq(tag)) {
            Ok(())
        } else {
            Err(Error::CodeRejected)
        }
    }

    fn into_output(self) -> PakeOutput {
        PakeOutput { th: self.th, k_noise: self.k_noise, isk: self.isk, verifier: self.verifier }
    }
}

/// `th = SHA-256(lv(M1) || lv(M2))`.
fn transcript_hash(m1: &[u8], m2: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(8 + m1.len() + m2.len());
    lv_into(&mut buf, m1);
    lv_into(&mut buf, m2);
    Sha256::digest(&buf).into()
}

/// Byte strings wiped on drop.
type SecretBytes = Zeroizing<Vec<u8>>;

/// `(idA, idB)` of security.md §2.4.
fn identities(code: &Code, ekm: &[u8; 32], rendezvous_id: &[u8]) -> Result<(SecretBytes, SecretBytes)> {
    if rendezvous_id.len() > MAX_RENDEZVOUS_ID_LEN {
        return Err(Error::Protocol("rendezvous id too long"));
    }
    let mut id_a = Zeroizing::new(Vec::with_capacity(32));
    lv_into(&mut id_a, VERSION);
    lv_into(&mut id_a, b"receiver");
    let mut id_b = Zeroizing::new(Vec::with_capacity(64 + rendezvous_id.len()));
    lv_into(&mut id_b, VERSION);
    lv_into(&mut id_b, b"sender");
    lv_into(&mut id_b, rendezvous_id);
    lv_into(&mut id_b, code.channel().as_bytes());
    lv_into(&mut id_b, ekm);
    Ok((id_a, id_b))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand_core::OsRng;

    pub(crate) const CODE: &str = "abandon-zebra-zone-zoo";
    pub(crate) const EKM: [u8; 32] = [0xE0; 32];
    pub(crate) const RDV: &[u8] = b"rdv-42";

    /// A PAKE output with chosen values, for Noise tests that need one part to differ.
    pub(crate) fn output(th: [u8; 32], k_noise: [u8; 32], isk: [u8; 32]) -> PakeOutput {
        PakeOutput {
            th,
            k_noise: Key::from_bytes(k_noise),
            isk: Key::from_bytes(isk),
            verifier: Zeroizing::new(String::new()),
        }
    }

    /// Runs M1..M4 in memory; returns both outputs.
    pub(crate) fn run(
        r_code: &str,
        s_code: &str,
        r_ekm: &[u8; 32],
        s_ekm: &[u8; 32],
    ) -> (Result<PakeOutput>, Result<PakeOutput>) {
        let (r, m1) = ReceiverPake::start(&Code::parse(r_code).unwrap(), r_ekm, RDV, &mut OsRng).unwrap();
        let s = SenderPake::new(&Code::parse(s_code).unwrap(), s_ekm, RDV).unwrap();
        let (s, m2) = s.on_m1(&m1, &mut OsRng).unwrap();
        let (r, m3) = r.on_m2(&m2).unwrap();
        match s.on_m3(&m3) {
            Ok((s_out, m4)) => (r.on_m4(&m4), Ok(s_out)),
            // The sender aborts without M4; the receiver never gets a valid M4. Model the
            // cases it might see: nothing usable (a garbage M4) — it must reject.
            Err(e) => (r.on_m4(&[0u8; CONF_MSG_LEN]), Err(e)),
        }
    }

    #[test]
    fn pake_agrees() {
        let (r, s) = run(CODE, CODE, &EKM, &EKM);
        let (r, s) = (r.unwrap(), s.unwrap());
        assert_eq!(r.th(), s.th());
        assert_eq!(r.k_noise(), s.k_noise());
        assert_eq!(r.isk(), s.isk());
        assert_eq!(r.verifier(), s.verifier());
        assert_eq!(r.verifier().split(' ').count(), VERIFIER_WORDS);
    }

    #[test]
    fn typed_variants_of_the_code_agree() {
        let (r, s) = run("ABANDON zebra  ZONE-zoo", "aban-zebr-zone-zoo", &EKM, &EKM);
        assert_eq!(r.unwrap().k_noise(), s.unwrap().k_noise());
    }

    #[test]
    fn wrong_code_rejected_on_both_sides() {
        let (r, s) = run(CODE, "abandon-zebra-zone-zone", &EKM, &EKM);
        assert!(matches!(s, Err(Error::CodeRejected)));
        assert!(matches!(r, Err(Error::CodeRejected)));
    }

    #[test]
    fn wrong_channel_rejected() {
        let (r, s) = run(CODE, "ability-zebra-zone-zoo", &EKM, &EKM);
        assert!(matches!(s, Err(Error::CodeRejected)));
        assert!(matches!(r, Err(Error::CodeRejected)));
    }

    #[test]
    fn different_ekm_mitm_rejected() {
        // A MITM terminating QUIC sees two connections with two exporters.
        let (r, s) = run(CODE, CODE, &EKM, &[0xE1; 32]);
        assert!(matches!(s, Err(Error::CodeRejected)));
        assert!(matches!(r, Err(Error::CodeRejected)));
    }

    #[test]
    fn different_rendezvous_id_rejected() {
        let code = Code::parse(CODE).unwrap();
        let (r, m1) = ReceiverPake::start(&code, &EKM, b"one", &mut OsRng).unwrap();
        let (s, m2) = SenderPake::new(&code, &EKM, b"two").unwrap().on_m1(&m1, &mut OsRng).unwrap();
        let (_r, m3) = r.on_m2(&m2).unwrap();
        assert!(matches!(s.on_m3(&m3), Err(Error::CodeRejected)));
    }

    #[test]
    fn reflected_m1_rejected() {
        let code = Code::parse(CODE).unwrap();
        let (r, m1) = ReceiverPake::start(&code, &EKM, RDV, &mut OsRng).unwrap();
        assert!(matches!(r.on_m2(&m1), Err(Error::CodeRejected)));
    }

    #[test]
    fn reflected_m3_rejected() {
        // Feeding S's own M4-style tag (or R's M3 back to R) must not verify.
        let code = Code::parse(CODE).unwrap();
        let (r, m1) = ReceiverPake::start(&code, &EKM, RDV, &mut OsRng).unwrap();
        let (_s, m2) = SenderPake::new(&code, &EKM, RDV).unwrap().on_m1(&m1, &mut OsRng).unwrap();
        let (r, m3) = r.on_m2(&m2).unwrap();
        assert!(matches!(r.on_m4(&m3), Err(Error::CodeRejected)));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let code = Code::parse(CODE).unwrap();
        let start_r = || ReceiverPake::start(&code, &EKM, RDV, &mut OsRng).unwrap();
        let sender = || SenderPake::new(&code, &EKM, RDV).unwrap();
        let bad_lengths: [&[u8]; 5] = [&[], &[0x42], &[0x42; 32], &[0x42; 34], &[0x42; 4096]];
        for m in bad_lengths {
            assert!(matches!(start_r().0.on_m2(m), Err(Error::Protocol(_))));
            assert!(matches!(sender().on_m1(m, &mut OsRng), Err(Error::Protocol(_))));
        }
        // Right length, garbage content: wrong side byte, not a curve point, or a point that
        // is not the honest peer's (the PAKE then yields a different ISK, caught at M3/M4).
        for m in [[0u8; PAKE_MSG_LEN], [0xFF; PAKE_MSG_LEN], [b'A'; PAKE_MSG_LEN]] {
            assert!(matches!(start_r().0.on_m2(&m), Err(Error::CodeRejected)));
        }
        let mut rejected_points = 0;
        for fill in 0..=255u8 {
            let mut m = [fill; PAKE_MSG_LEN];
            m[0] = b'B';
            match start_r().0.on_m2(&m) {
                Err(Error::CodeRejected) => rejected_points += 1,
                Err(e) => panic!("{e:?}"),
                Ok((r, _m3)) => {
                    assert!(matches!(r.on_m4(&[fill; CONF_MSG_LEN]), Err(Error::CodeRejected)))
                }
            }
            m[0] = b'A';
            match sender().on_m1(&m, &mut OsRng) {
                Err(Error::CodeRejected) => {}
                Err(e) => panic!("{e:?}"),
                Ok((s, _m2)) => {
                    assert!(matches!(s.on_m3(&[fill; CONF_MSG_LEN]), Err(Error::CodeRejected)))
                }
            }
        }
        assert!(rejected_points > 0, "some encodings are not curve points");
        // Truncated / oversized / empty confirmations.
        let to_conf = || {
            let (r, m1) = start_r();
            let (s, m2) = sender().on_m1(&m1, &mut OsRng).unwrap();
            let (r, m3) = r.on_m2(&m2).unwrap();
            (r, s, m3)
        };
        for bad in [0, 1, 31, 33, 1000] {
            let (r, s, m3) = to_conf();
            let mut m = m3.clone();
            m.resize(bad, 0);
            assert!(matches!(s.on_m3(&m), Err(Error::Protocol(_))), "{bad}");
            let m = vec![0u8; bad];
            assert!(matches!(r.on_m4(&m), Err(Error::Protocol(_))), "{bad}");
        }
        // A garbage confirmation of the right length.
        let (r, s, _m3) = to_conf();
        assert!(matches!(s.on_m3(&[0xAA; CONF_MSG_LEN]), Err(Error::CodeRejected)));
        assert!(matches!(r.on_m4(&[0xAA; CONF_MSG_LEN]), Err(Error::CodeRejected)));
    }

    #[test]
    fn transcript_hash_is_sha256_of_lv() {
        let th = transcript_hash(b"ab", b"c");
        let want: [u8; 32] = Sha256::digest(b"\x00\x00\x00\x02ab\x00\x00\x00\x01c").into();
        assert_eq!(th, want);
    }

    #[test]
    fn identities_exact_bytes() {
        let code = Code::parse(CODE).unwrap();
        let (a, b) = identities(&code, &[7; 32], b"r1").unwrap();
        assert_eq!(&a[..], b"\x00\x00\x00\x05pcp/1\x00\x00\x00\x08receiver");
        let mut want = b"\x00\x00\x00\x05pcp/1\x00\x00\x00\x06sender\x00\x00\x00\x02r1".to_vec();
        want.extend_from_slice(b"\x00\x00\x00\x07abandon\x00\x00\x00\x20");
        want.extend_from_slice(&[7; 32]);
        assert_eq!(&b[..], &want[..]);
        assert!(matches!(identities(&code, &[7; 32], &[0; MAX_RENDEZVOUS_ID_LEN + 1]), Err(Error::Protocol(_))));
    }

    #[test]
    fn debug_of_output_has_no_secrets() {
        let (r, _) = run(CODE, CODE, &EKM, &EKM);
        let r = r.unwrap();
        let dbg = format!("{r:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(r.verifier()), "{dbg}");
    }
}
