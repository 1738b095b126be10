//! The Noise handshakes over byte buffers: first contact `Noise_XXpsk3` keyed by the PAKE
//! (security.md §2.3, N1–N3) and reconnect `Noise_IKpsk2` between paired peers (§3.3).
//!
//! Owns: patterns, prologues, the pairing PSK derivation, exact message lengths, static key
//! generation. Does not own: framing, the peer database (the reconnect responder asks a
//! caller-supplied lookup), transport encryption (data goes on plain QUIC streams).
//!
//! All handshake payloads are empty, so every message has one fixed length, checked before
//! snow sees it ([`Error::Protocol`] otherwise). Any decryption failure is
//! [`Error::CodeRejected`] in first contact and [`Error::PeerRejected`] on reconnect; snow's
//! error is dropped, never shown. Ephemeral keys come from snow's internal RNG (getrandom):
//! snow 0.10 does not take an RNG from the caller.

use hkdf::Hkdf;
use sha2::Sha256;
use snow::{Builder, HandshakeState};
use zeroize::{Zeroize, Zeroizing};

use super::keys::{Identity, Isk, Key, PairPsk, StaticSecret, KEY_LEN};
use super::pake::{NoiseInputs, PakeOutput};
use super::{lv_into, Error, Result};

/// First-contact pattern (security.md §2.3).
pub const FIRST_CONTACT_PATTERN: &str = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";
/// Reconnect pattern (security.md §3.3).
pub const RECONNECT_PATTERN: &str = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";

const DH_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// N1 `-> e`: the ephemeral key, then the empty payload's tag (in a PSK handshake `e` also
/// does `MixKey`, so even the first payload is encrypted).
pub const N1_LEN: usize = DH_LEN + TAG_LEN;
/// N2 `<- e, ee, s, es`: ephemeral, encrypted static, empty payload's tag.
pub const N2_LEN: usize = DH_LEN + (DH_LEN + TAG_LEN) + TAG_LEN;
/// N3 `-> s, se, psk`: encrypted static, empty payload's tag.
pub const N3_LEN: usize = (DH_LEN + TAG_LEN) + TAG_LEN;
/// Reconnect message 1 `-> e, es, s, ss`: ephemeral, encrypted static, empty payload's tag.
pub const RECONNECT_MSG1_LEN: usize = DH_LEN + (DH_LEN + TAG_LEN) + TAG_LEN;
/// Reconnect message 2 `<- e, ee, se, psk`: ephemeral, empty payload's tag.
pub const RECONNECT_MSG2_LEN: usize = DH_LEN + TAG_LEN;
/// Reconnect confirmation: the initiator's first transport message, an empty payload's tag.
pub const RECONNECT_CONFIRM_LEN: usize = TAG_LEN;

const FIRST_CONTACT_PROLOGUE_LABEL: &[u8] = b"pcp/1 noise";
const RECONNECT_PROLOGUE_LABEL: &[u8] = b"pcp/1 reconnect";
const PAIR_PSK_INFO: &[u8] = b"pcp/1 pair psk";
/// Used only by [`static_keys_match`] to test a stored keypair.
const KEY_CHECK_PATTERN: &str = "Noise_NK_25519_ChaChaPoly_BLAKE2s";

/// Receiver R, first-contact initiator, after sending N1.
pub struct ReceiverHandshake {
    hs: HandshakeState,
    /// The PAKE transcript hash the prologue holds (N3 must be keyed by the same run).
    th: [u8; 32],
}

/// Sender S, first-contact responder, waiting for N1.
pub struct SenderHandshake {
    hs: HandshakeState,
    isk: Key<Isk>,
}

/// Sender after sending N2, waiting for N3.
pub struct SenderAwaitN3 {
    hs: HandshakeState,
    isk: Key<Isk>,
}

/// Result of a completed first-contact handshake; both sides hold equal `handshake_hash` and
/// `pair_psk`, and each holds the other's static key.
#[derive(Debug)]
pub struct FirstContact {
    remote_static: [u8; KEY_LEN],
    handshake_hash: [u8; 32],
    pair_psk: Key<PairPsk>,
}

/// Dialer of a reconnect, `IKpsk2` initiator, after sending message 1.
pub struct ReconnectInitiator {
    hs: HandshakeState,
}

/// Listener of a reconnect, `IKpsk2` responder, after sending message 2 and waiting for the
/// initiator's confirmation.
pub struct ReconnectResponder {
    hs: HandshakeState,
}

/// Result of a completed reconnect handshake.
#[derive(Debug)]
pub struct Reconnected {
    remote_static: [u8; KEY_LEN],
    handshake_hash: [u8; 32],
}

impl ReceiverHandshake {
    /// Starts the first-contact handshake on R; returns N1.
    ///
    /// Prologue `lv("pcp/1 noise") || lv(ekm) || lv(th)`, `psk3 = K_noise`. R may call it
    /// before the PAKE is confirmed (with [`super::pake::ReceiverAwaitConf`], right after M2) and send N1
    /// with M3: N1 (`-> e`) and N2 (`<- e, ee, s, es`) do not use the PSK, so nothing Noise
    /// does with `K_noise` happens before confirmation; N3, the first message that does, needs
    /// the confirmed [`PakeOutput`] ([`Self::on_n2`]). S answers N1 only after verifying M3.
    pub fn start(identity: &Identity, pake: &impl NoiseInputs, ekm: &[u8; 32]) -> Result<(Self, Vec<u8>)> {
        let prologue = first_contact_prologue(ekm, pake.th());
        let mut hs = Builder::new(params(FIRST_CONTACT_PATTERN)?)
            .prologue(&prologue)
            .and_then(|b| b.local_private_key(identity.secret().as_bytes()))
            .and_then(|b| b.psk(3, pake.k_noise().as_bytes()))
            .and_then(|b| b.build_initiator())
            .map_err(setup)?;
        // -> e
        let n1 = write(&mut hs, N1_LEN)?;
        Ok((Self { hs, th: *pake.th() }, n1))
    }

    /// Reads N2 and returns the result and N3, the last message. `confirmed`: the PAKE's
    /// output once M4 verified (the same PAKE run `start` was given, else an internal error).
    pub fn on_n2(mut self, n2: &[u8], confirmed: &PakeOutput) -> Result<(FirstContact, Vec<u8>)> {
        if confirmed.th() != &self.th {
            return Err(Error::Internal("N3 keyed by another PAKE run"));
        }
        check_len(n2, N2_LEN, "Noise message N2 length")?;
        // <- e, ee, s, es
        read(&mut self.hs, n2, Error::CodeRejected)?;
        // -> s, se, psk
        let n3 = write(&mut self.hs, N3_LEN)?;
        Ok((FirstContact::finish(&self.hs, confirmed.isk())?, n3))
    }
}

impl SenderHandshake {
    /// Prepares the first-contact responder on S after a successful PAKE (see
    /// [`ReceiverHandshake::start`]).
    pub fn new(identity: &Identity, pake: &PakeOutput, ekm: &[u8; 32]) -> Result<Self> {
        let prologue = first_contact_prologue(ekm, pake.th());
        let hs = Builder::new(params(FIRST_CONTACT_PATTERN)?)
            .prologue(&prologue)
            .and_then(|b| b.local_private_key(identity.secret().as_bytes()))
            .and_then(|b| b.psk(3, pake.k_noise().as_bytes()))
            .and_then(|b| b.build_responder())
            .map_err(setup)?;
        Ok(Self { hs, isk: pake.isk().clone() })
    }

    /// Reads N1 and returns N2.
    pub fn on_n1(mut self, n1: &[u8]) -> Result<(SenderAwaitN3, Vec<u8>)> {
        check_len(n1, N1_LEN, "Noise message N1 length")?;
        // -> e
        read(&mut self.hs, n1, Error::CodeRejected)?;
        // <- e, ee, s, es
        let n2 = write(&mut self.hs, N2_LEN)?;
        Ok((SenderAwaitN3 { hs: self.hs, isk: self.isk }, n2))
    }
}

impl SenderAwaitN3 {
    /// Reads N3 and completes the handshake.
    pub fn on_n3(mut self, n3: &[u8]) -> Result<FirstContact> {
        check_len(n3, N3_LEN, "Noise message N3 length")?;
        // -> s, se, psk
        read(&mut self.hs, n3, Error::CodeRejected)?;
        FirstContact::finish(&self.hs, &self.isk)
    }
}

impl FirstContact {
    /// The peer's Noise static public key, authenticated by the handshake; pinned if pairing.
    pub fn remote_static(&self) -> &[u8; KEY_LEN] {
        &self.remote_static
    }

    /// The Noise handshake hash `h_noise`.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    /// `pair_psk = HKDF(salt = h_noise, IKM = ISK, info = "pcp/1 pair psk")`, stored when
    /// pairing.
    pub fn pair_psk(&self) -> &Key<PairPsk> {
        &self.pair_psk
    }

    fn finish(hs: &HandshakeState, isk: &Key<Isk>) -> Result<Self> {
        if !hs.is_handshake_finished() {
            return Err(Error::Internal("first-contact handshake not finished"));
        }
        let (remote_static, handshake_hash) = finished_keys(hs)?;
        let mut psk = Zeroizing::new([0u8; KEY_LEN]);
        Hkdf::<Sha256>::new(Some(&handshake_hash), isk.as_bytes())
            .expand(PAIR_PSK_INFO, &mut *psk)
            .map_err(|_| Error::Internal("hkdf expand length"))?;
        Ok(Self { remote_static, handshake_hash, pair_psk: Key::from_bytes(*psk) })
    }
}

impl ReconnectInitiator {
    /// Dials a paired peer whose static key is `pinned`; returns message 1.
    ///
    /// Prologue `lv("pcp/1 reconnect") || lv(ekm)`, `psk2 = pair_psk`.
    pub fn start(
        identity: &Identity,
        pinned: &[u8; KEY_LEN],
        psk: &Key<PairPsk>,
        ekm: &[u8; 32],
    ) -> Result<(Self, Vec<u8>)> {
        let prologue = reconnect_prologue(ekm);
        let mut hs = Builder::new(params(RECONNECT_PATTERN)?)
            .prologue(&prologue)
            .and_then(|b| b.local_private_key(identity.secret().as_bytes()))
            .and_then(|b| b.remote_public_key(pinned))
            .and_then(|b| b.psk(2, psk.as_bytes()))
            .and_then(|b| b.build_initiator())
            .map_err(setup)?;
        // <- s (pre-message: the pinned key)
        // -> e, es, s, ss
        let msg1 = write(&mut hs, RECONNECT_MSG1_LEN)?;
        Ok((Self { hs }, msg1))
    }

    /// Reads message 2; returns the result and the confirmation to send next.
    ///
    /// The responder has not yet seen proof that this side holds `pair_psk`, so it waits for
    /// the confirmation before serving anything (as WireGuard's responder waits for the first
    /// data packet); send it right away, e.g. together with the first request.
    pub fn on_msg2(mut self, msg2: &[u8]) -> Result<(Reconnected, Vec<u8>)> {
        check_len(msg2, RECONNECT_MSG2_LEN, "reconnect message 2 length")?;
        // <- e, ee, se, psk
        read(&mut self.hs, msg2, Error::PeerRejected)?;
        let (remote_static, handshake_hash) = finished_keys(&self.hs)?;
        let mut transport = self.hs.into_transport_mode().map_err(|_| Error::Internal("noise transport mode"))?;
        let mut confirm = vec![0u8; RECONNECT_CONFIRM_LEN];
        let n = transport.write_message(&[], &mut confirm).map_err(|_| Error::Internal("noise confirmation write"))?;
        if n != RECONNECT_CONFIRM_LEN {
            return Err(Error::Internal("noise confirmation length"));
        }
        Ok((Reconnected { remote_static, handshake_hash }, confirm))
    }
}

impl ReconnectResponder {
    /// Reads message 1 from a dialer, asks `lookup` for the PSK paired with the dialer's static
    /// key and returns message 2.
    ///
    /// `lookup` returning `None` (unknown or revoked key) gives [`Error::UnknownPeer`] and no
    /// message 2. snow 0.10 accepts `set_psk(2, …)` after `read_message`: `psk` is a token of
    /// message 2 only, and snow reads the PSK slot when it processes that token.
    pub fn on_msg1(
        identity: &Identity,
        ekm: &[u8; 32],
        msg1: &[u8],
        lookup: impl FnOnce(&[u8; KEY_LEN]) -> Option<Key<PairPsk>>,
    ) -> Result<(Self, Vec<u8>)> {
        check_len(msg1, RECONNECT_MSG1_LEN, "reconnect message 1 length")?;
        let prologue = reconnect_prologue(ekm);
        let mut hs = Builder::new(params(RECONNECT_PATTERN)?)
            .prologue(&prologue)
            .and_then(|b| b.local_private_key(identity.secret().as_bytes()))
            .and_then(|b| b.build_responder())
            .map_err(setup)?;
        // -> e, es, s, ss
        read(&mut hs, msg1, Error::PeerRejected)?;
        let remote = remote_static(&hs)?;
        let psk = lookup(&remote).ok_or(Error::UnknownPeer)?;
        hs.set_psk(2, psk.as_bytes()).map_err(|_| Error::Internal("noise set_psk"))?;
        // <- e, ee, se, psk
        let msg2 = write(&mut hs, RECONNECT_MSG2_LEN)?;
        Ok((Self { hs }, msg2))
    }

    /// Reads the initiator's confirmation; only then is the dialer known to hold `pair_psk`.
    pub fn on_confirm(self, confirm: &[u8]) -> Result<Reconnected> {
        check_len(confirm, RECONNECT_CONFIRM_LEN, "reconnect confirmation length")?;
        let (remote_static, handshake_hash) = finished_keys(&self.hs)?;
        let mut transport = self.hs.into_transport_mode().map_err(|_| Error::Internal("noise transport mode"))?;
        let mut payload = [0u8; RECONNECT_CONFIRM_LEN];
        transport.read_message(confirm, &mut payload).map_err(|_| Error::PeerRejected)?;
        Ok(Reconnected { remote_static, handshake_hash })
    }
}

impl Reconnected {
    /// The peer's static public key (equal to the pin on the dialer; looked up on the listener).
    pub fn remote_static(&self) -> &[u8; KEY_LEN] {
        &self.remote_static
    }

    /// The Noise handshake hash.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }
}

/// Makes a new X25519 static keypair with snow's key generator (OS RNG).
pub fn generate_static_keypair() -> Result<(Key<StaticSecret>, [u8; KEY_LEN])> {
    let mut pair = Builder::new(params(FIRST_CONTACT_PATTERN)?).generate_keypair().map_err(setup)?;
    let secret: Result<[u8; KEY_LEN]> =
        pair.private.as_slice().try_into().map_err(|_| Error::Internal("static key length"));
    pair.private.zeroize();
    let public = pair.public.as_slice().try_into().map_err(|_| Error::Internal("static key length"))?;
    Ok((Key::from_bytes(secret?), public))
}

/// Whether `public` is the X25519 public key of `secret`, tested by a one-message
/// `Noise_NK` handshake to it (no curve arithmetic is exposed by the allowed crates).
pub(crate) fn static_keys_match(secret: &Key<StaticSecret>, public: &[u8; KEY_LEN]) -> Result<bool> {
    let params = params(KEY_CHECK_PATTERN)?;
    let mut initiator =
        Builder::new(params.clone()).remote_public_key(public).and_then(|b| b.build_initiator()).map_err(setup)?;
    let mut responder =
        Builder::new(params).local_private_key(secret.as_bytes()).and_then(|b| b.build_responder()).map_err(setup)?;
    let mut buf = [0u8; 128];
    let mut payload = [0u8; 64];
    // -> e, es
    let Ok(n) = initiator.write_message(b"pcp key check", &mut buf) else {
        return Ok(false); // e.g. a low-order public key
    };
    Ok(responder.read_message(&buf[..n], &mut payload).is_ok())
}

fn first_contact_prologue(ekm: &[u8; 32], th: &[u8; 32]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 * 3 + FIRST_CONTACT_PROLOGUE_LABEL.len() + 64);
    lv_into(&mut p, FIRST_CONTACT_PROLOGUE_LABEL);
    lv_into(&mut p, ekm);
    lv_into(&mut p, th);
    p
}

fn reconnect_prologue(ekm: &[u8; 32]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 * 2 + RECONNECT_PROLOGUE_LABEL.len() + 32);
    lv_into(&mut p, RECONNECT_PROLOGUE_LABEL);
    lv_into(&mut p, ekm);
    p
}

fn params(pattern: &'static str) -> Result<snow::params::NoiseParams> {
    pattern.parse().map_err(|_| Error::Internal("noise pattern name"))
}

/// Errors from building a handshake are bugs (fixed patterns, 32-byte keys), not peer input.
fn setup(_: snow::Error) -> Error {
    Error::Internal("noise setup")
}

fn check_len(msg: &[u8], want: usize, what: &'static str) -> Result<()> {
    if msg.len() == want {
        Ok(())
    } else {
        Err(Error::Protocol(what))
    }
}

/// Writes the next handshake message with an empty payload; its length is fixed by the
/// pattern, so anything else is a bug.
fn write(hs: &mut HandshakeState, want: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; want];
    let n = hs.write_message(&[], &mut buf).map_err(|_| Error::Internal("noise write"))?;
    if n != want {
        return Err(Error::Internal("noise message length"));
    }
    Ok(buf)
}

/// Reads a handshake message whose length was checked; its payload must be empty.
fn read(hs: &mut HandshakeState, msg: &[u8], on_fail: Error) -> Result<()> {
    let mut payload = [0u8; 64];
    match hs.read_message(msg, &mut payload) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Error::Protocol("non-empty handshake payload")),
        Err(_) => Err(on_fail),
    }
}

fn remote_static(hs: &HandshakeState) -> Result<[u8; KEY_LEN]> {
    hs.get_remote_static().and_then(|rs| rs.try_into().ok()).ok_or(Error::Internal("noise remote static missing"))
}

fn finished_keys(hs: &HandshakeState) -> Result<([u8; KEY_LEN], [u8; 32])> {
    let rs = remote_static(hs)?;
    let h = hs.get_handshake_hash().try_into().map_err(|_| Error::Internal("noise handshake hash length"))?;
    Ok((rs, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::pake::tests::{output, run, CODE, EKM};

    fn pake() -> (PakeOutput, PakeOutput) {
        let (r, s) = run(CODE, CODE, &EKM, &EKM);
        (r.unwrap(), s.unwrap())
    }

    fn ids() -> (Identity, Identity) {
        (Identity::generate().unwrap(), Identity::generate().unwrap())
    }

    /// N1..N3 with the given ekm on each side; returns (receiver result, sender result).
    fn first_contact(
        r_id: &Identity,
        s_id: &Identity,
        r_pake: &PakeOutput,
        s_pake: &PakeOutput,
        r_ekm: &[u8; 32],
        s_ekm: &[u8; 32],
    ) -> Result<(FirstContact, FirstContact)> {
        let (r, n1) = ReceiverHandshake::start(r_id, r_pake, r_ekm)?;
        let s = SenderHandshake::new(s_id, s_pake, s_ekm)?;
        let (s, n2) = s.on_n1(&n1)?;
        let (r_out, n3) = r.on_n2(&n2, r_pake)?;
        let s_out = s.on_n3(&n3)?;
        Ok((r_out, s_out))
    }

    #[test]
    fn full_first_contact_agrees() {
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        assert_eq!(r_pake.k_noise(), s_pake.k_noise());
        assert_eq!(r_pake.th(), s_pake.th());
        let (r, s) = first_contact(&r_id, &s_id, &r_pake, &s_pake, &EKM, &EKM).unwrap();
        assert_eq!(r.remote_static(), s_id.public());
        assert_eq!(s.remote_static(), r_id.public());
        assert_eq!(r.handshake_hash(), s.handshake_hash());
        assert_eq!(r.pair_psk(), s.pair_psk());
        assert_ne!(r.pair_psk().as_bytes(), r_pake.k_noise().as_bytes());
    }

    #[test]
    fn n1_travels_with_m3_and_n3_waits_for_m4() {
        // The dialer's order on the wire: M1 | M2 | M3+N1 | M4+N2 | N3.
        use crate::auth::code::Code;
        use crate::auth::pake::{ReceiverPake, SenderPake};
        use rand_core::OsRng;
        let (r_id, s_id) = ids();
        let code = Code::parse(CODE).unwrap();
        let (r, m1) = ReceiverPake::start(&code, &EKM, b"", &mut OsRng).unwrap();
        let (s, m2) = SenderPake::new(&code, &EKM, b"").unwrap().on_m1(&m1, &mut OsRng).unwrap();
        let (r, m3) = r.on_m2(&m2).unwrap();
        // N1 before M4: keyed by the unconfirmed PAKE.
        let (r_hs, n1) = ReceiverHandshake::start(&r_id, &r, &EKM).unwrap();
        let (s_out, m4) = s.on_m3(&m3).unwrap();
        let (s_hs, n2) = SenderHandshake::new(&s_id, &s_out, &EKM).unwrap().on_n1(&n1).unwrap();
        let r_out = r.on_m4(&m4).unwrap();
        let (r_fc, n3) = r_hs.on_n2(&n2, &r_out).unwrap();
        let s_fc = s_hs.on_n3(&n3).unwrap();
        assert_eq!(r_fc.handshake_hash(), s_fc.handshake_hash());
        assert_eq!(r_fc.pair_psk(), s_fc.pair_psk());
        assert_eq!(s_fc.remote_static(), r_id.public());
    }

    #[test]
    fn n3_needs_the_confirmed_output_of_the_same_pake_run() {
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        let (other, _) = pake();
        let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
        let (_, n2) = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap().on_n1(&n1).unwrap();
        assert!(matches!(r.on_n2(&n2, &other), Err(Error::Internal(_))));
    }

    #[test]
    fn message_lengths_are_as_documented() {
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
        assert_eq!(n1.len(), 48);
        let (s, n2) = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap().on_n1(&n1).unwrap();
        assert_eq!(n2.len(), 96);
        let (_, n3) = r.on_n2(&n2, &r_pake).unwrap();
        assert_eq!(n3.len(), 64);
        s.on_n3(&n3).unwrap();
    }

    #[test]
    fn different_ekm_fails_noise() {
        // Even with equal PAKE keys (a MITM cannot get them, but Noise must hold on its own).
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        let err = first_contact(&r_id, &s_id, &r_pake, &s_pake, &EKM, &[0xE1; 32]).unwrap_err();
        assert!(matches!(err, Error::CodeRejected), "{err:?}");
    }

    #[test]
    fn other_sessions_pake_fails_at_n1() {
        // A different th (another PAKE run) changes the prologue: S fails on N1's tag.
        let (r_id, s_id) = ids();
        let (r_pake, _) = pake();
        let (_, other_s_pake) = pake();
        let (_, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
        let s = SenderHandshake::new(&s_id, &other_s_pake, &EKM).unwrap();
        assert!(matches!(s.on_n1(&n1), Err(Error::CodeRejected)));
    }

    #[test]
    fn different_k_noise_fails_at_n3() {
        // Same th and ekm, different psk3: XXpsk3 uses the PSK only in N3, where S rejects.
        let (r_id, s_id) = ids();
        let r_pake = output([1; 32], [2; 32], [3; 32]);
        let s_pake = output([1; 32], [4; 32], [3; 32]);
        let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
        let (s, n2) = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap().on_n1(&n1).unwrap();
        let (_, n3) = r.on_n2(&n2, &r_pake).unwrap();
        assert!(matches!(s.on_n3(&n3), Err(Error::CodeRejected)));
    }

    #[test]
    fn malformed_noise_messages_are_errors_not_panics() {
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        let lens = [0usize, 1, 16, 31, 32, 47, 49, 63, 65, 95, 97, 200, 70_000];
        for len in lens {
            for fill in [0u8, 0xFF, 0x5A] {
                let m = vec![fill; len];
                let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
                let s = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap();
                assert!(s.on_n1(&m).is_err());
                assert!(r.on_n2(&m, &r_pake).is_err());
                let s = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap();
                let (s, _) = s.on_n1(&n1).unwrap();
                assert!(s.on_n3(&m).is_err());
            }
        }
        // Right lengths, garbage content.
        let (r, _) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
        assert!(matches!(r.on_n2(&[0x5A; N2_LEN], &r_pake), Err(Error::CodeRejected)));
        let s = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap();
        assert!(matches!(s.on_n1(&[0x5A; N1_LEN]), Err(Error::CodeRejected)));
        // Tampered N2 and N3 (one bit flipped anywhere).
        for i in 0..N2_LEN {
            let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
            let (_, mut n2) = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap().on_n1(&n1).unwrap();
            n2[i] ^= 1;
            assert!(r.on_n2(&n2, &r_pake).is_err(), "bit flip at {i}");
        }
        for i in 0..N3_LEN {
            let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
            let (s, n2) = SenderHandshake::new(&s_id, &s_pake, &EKM).unwrap().on_n1(&n1).unwrap();
            let (_, mut n3) = r.on_n2(&n2, &r_pake).unwrap();
            n3[i] ^= 1;
            assert!(matches!(s.on_n3(&n3), Err(Error::CodeRejected)), "bit flip at {i}");
        }
    }

    #[test]
    fn reflected_n1_rejected() {
        // R fed its own N1 (padded to N2's length would be a length error; as is, too).
        let (r_id, _) = ids();
        let (r_pake, _) = pake();
        let (r, n1) = ReceiverHandshake::start(&r_id, &r_pake, &EKM).unwrap();
        assert!(matches!(r.on_n2(&n1, &r_pake), Err(Error::Protocol(_))));
    }

    /// First contact, then a pair record on each side.
    fn paired() -> (Identity, Identity, Key<PairPsk>) {
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        let (r, s) = first_contact(&r_id, &s_id, &r_pake, &s_pake, &EKM, &EKM).unwrap();
        assert_eq!(r.pair_psk(), s.pair_psk());
        (r_id, s_id, r.pair_psk().clone())
    }

    #[test]
    fn reconnect_succeeds_with_pinned_key() {
        let (dialer, listener, psk) = paired();
        let ekm = [0x33; 32];
        let (i, msg1) = ReconnectInitiator::start(&dialer, listener.public(), &psk, &ekm).unwrap();
        assert_eq!(msg1.len(), RECONNECT_MSG1_LEN);
        let mut looked_up = None;
        let (resp, msg2) = ReconnectResponder::on_msg1(&listener, &ekm, &msg1, |rs| {
            looked_up = Some(*rs);
            (rs == dialer.public()).then(|| psk.clone())
        })
        .unwrap();
        assert_eq!(looked_up.as_ref(), Some(dialer.public()));
        assert_eq!(msg2.len(), RECONNECT_MSG2_LEN);
        let (i_out, confirm) = i.on_msg2(&msg2).unwrap();
        assert_eq!(confirm.len(), RECONNECT_CONFIRM_LEN);
        let r_out = resp.on_confirm(&confirm).unwrap();
        assert_eq!(i_out.remote_static(), listener.public());
        assert_eq!(r_out.remote_static(), dialer.public());
        assert_eq!(i_out.handshake_hash(), r_out.handshake_hash());
    }

    #[test]
    fn reconnect_unknown_static_gets_no_msg2() {
        let (_, listener, psk) = paired();
        let stranger = Identity::generate().unwrap();
        let ekm = [0x33; 32];
        let (_, msg1) = ReconnectInitiator::start(&stranger, listener.public(), &psk, &ekm).unwrap();
        let res = ReconnectResponder::on_msg1(&listener, &ekm, &msg1, |_| None);
        assert!(matches!(res, Err(Error::UnknownPeer)));
    }

    #[test]
    fn reconnect_wrong_psk_fails_both_sides() {
        let (dialer, listener, psk) = paired();
        let ekm = [0x33; 32];
        let stale: Key<PairPsk> = Key::from_bytes([9; 32]);
        // Dialer has a stale PSK: it rejects message 2.
        let (i, msg1) = ReconnectInitiator::start(&dialer, listener.public(), &stale, &ekm).unwrap();
        let (_resp, msg2) = ReconnectResponder::on_msg1(&listener, &ekm, &msg1, |_| Some(psk.clone())).unwrap();
        assert!(matches!(i.on_msg2(&msg2), Err(Error::PeerRejected)));
        // An impostor holding only the dialer's static key (no PSK) cannot confirm.
        let (i, msg1) = ReconnectInitiator::start(&dialer, listener.public(), &stale, &ekm).unwrap();
        let (resp, _msg2) = ReconnectResponder::on_msg1(&listener, &ekm, &msg1, |_| Some(psk.clone())).unwrap();
        drop(i);
        assert!(matches!(resp.on_confirm(&[0u8; 16]), Err(Error::PeerRejected)));
    }

    #[test]
    fn reconnect_wrong_pin_or_ekm_fails() {
        let (dialer, listener, psk) = paired();
        let other = Identity::generate().unwrap();
        let ekm = [0x33; 32];
        // Dialer pinned someone else: listener cannot decrypt message 1.
        let (_, msg1) = ReconnectInitiator::start(&dialer, other.public(), &psk, &ekm).unwrap();
        let res = ReconnectResponder::on_msg1(&listener, &ekm, &msg1, |_| Some(psk.clone()));
        assert!(matches!(res, Err(Error::PeerRejected)));
        // Replayed message 1 on another connection (different ekm).
        let (_, msg1) = ReconnectInitiator::start(&dialer, listener.public(), &psk, &ekm).unwrap();
        let res = ReconnectResponder::on_msg1(&listener, &[0x34; 32], &msg1, |_| Some(psk.clone()));
        assert!(matches!(res, Err(Error::PeerRejected)));
    }

    #[test]
    fn reconnect_malformed_messages() {
        let (dialer, listener, psk) = paired();
        let ekm = [0x33; 32];
        for len in [0usize, 1, 32, 47, 48, 95, 97, 70_000] {
            let m = vec![0xA5; len];
            let res = ReconnectResponder::on_msg1(&listener, &ekm, &m, |_| Some(psk.clone()));
            assert!(res.is_err(), "{len}");
            let (i, _) = ReconnectInitiator::start(&dialer, listener.public(), &psk, &ekm).unwrap();
            assert!(i.on_msg2(&m).is_err(), "{len}");
        }
        let (i, msg1) = ReconnectInitiator::start(&dialer, listener.public(), &psk, &ekm).unwrap();
        let (resp, msg2) = ReconnectResponder::on_msg1(&listener, &ekm, &msg1, |_| Some(psk.clone())).unwrap();
        let (_, confirm) = i.on_msg2(&msg2).unwrap();
        let mut long = confirm.clone();
        long.push(0);
        assert!(matches!(resp.on_confirm(&long), Err(Error::Protocol(_))));
    }

    #[test]
    fn static_keypair_checks() {
        let (secret, public) = generate_static_keypair().unwrap();
        assert!(static_keys_match(&secret, &public).unwrap());
        let (_, other) = generate_static_keypair().unwrap();
        assert!(!static_keys_match(&secret, &other).unwrap());
        assert!(!static_keys_match(&secret, &[0; 32]).unwrap());
    }

    #[test]
    fn debug_of_outputs_has_no_secrets() {
        let (r_id, s_id) = ids();
        let (r_pake, s_pake) = pake();
        let (r, _) = first_contact(&r_id, &s_id, &r_pake, &s_pake, &EKM, &EKM).unwrap();
        let dbg = format!("{r:?}");
        assert!(dbg.contains("Key<PairPsk>(redacted)"), "{dbg}");
        let as_list = format!("{:?}", r.pair_psk().as_bytes());
        assert!(!dbg.contains(&as_list[1..as_list.len() - 1]), "{dbg}");
    }
}
