//! Keys typed by purpose (style.md principle 12) and the long-term identity file (security.md
//! §3.1, §3.5).
//!
//! Owns: [`Key`] and its purpose markers, [`Identity`] with `identity.key` on disk, fingerprints.
//! Does not own: derivation of the keys (see `pake` and `noise`) or the peer database.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{noise, Error, Result};

/// Length in bytes of every [`Key`].
pub const KEY_LEN: usize = 32;

/// File name of the identity inside the configuration directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// Largest identity file accepted on load, checked before reading it.
const MAX_IDENTITY_FILE_LEN: u64 = 4096;

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
/// [`Identity::load`] checks them against each other.
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

    /// Loads `dir/identity.key`, creating `dir` (mode 0700) and the key (mode 0600) if missing.
    ///
    /// Refuses a directory writable by group or others, a key file with any group or other
    /// permission bit, a key file or directory owned by another user, a symbolic link in place
    /// of the key file, and a corrupt key file, each with [`Error::KeyFile`] naming the fix.
    ///
    /// A new key is written atomically: a temporary file in `dir` created with `create_new` and
    /// mode 0600, fsync, then published under its final name, then fsync of `dir`. Publishing
    /// uses `link(2)` rather than `rename(2)`: both are atomic, but `link` fails when the name
    /// exists, so two processes racing to create the identity never replace each other's key
    /// (the loser loads the winner's).
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        ensure_private_dir(dir)?;
        let path = dir.join(IDENTITY_FILE);
        match Self::load(&path) {
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let identity = Self::generate()?;
        match write_new_file(dir, &path, identity.encode().as_bytes())? {
            Created::New => Ok(identity),
            Created::AlreadyExisted => Self::load(&path),
        }
    }

    /// Loads an existing identity file (e.g. `--identity FILE`), with the checks of
    /// [`Identity::load_or_create`] on the file itself.
    pub fn load(path: &Path) -> Result<Self> {
        let file = open_no_follow(path)?;
        let meta = file.metadata().map_err(|source| io_err(path, source))?;
        if !meta.is_file() {
            return Err(key_file(path, "is not a regular file; move it away to create a new identity"));
        }
        check_owner(path, meta.uid())?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(key_file(
                path,
                format!("mode {mode:04o} gives access to group or others; run `chmod 600 {}`", path.display()),
            ));
        }
        if meta.len() > MAX_IDENTITY_FILE_LEN {
            return Err(corrupt(path, "too large"));
        }
        let mut text = Zeroizing::new(Vec::new());
        (&file).take(MAX_IDENTITY_FILE_LEN + 1).read_to_end(&mut text).map_err(|source| io_err(path, source))?;
        let identity = Self::decode(&text).ok_or_else(|| corrupt(path, "unreadable contents"))?;
        if !noise::static_keys_match(&identity.secret, &identity.public)? {
            return Err(corrupt(path, "public key does not match secret key"));
        }
        Ok(identity)
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
    fn encode(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(200));
        s.push_str(IDENTITY_MAGIC);
        s.push_str("\nsecret ");
        push_hex(&mut s, self.secret.as_bytes());
        s.push_str("\npublic ");
        push_hex(&mut s, &self.public);
        s.push('\n');
        s
    }

    fn decode(text: &[u8]) -> Option<Self> {
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

fn push_hex(out: &mut String, bytes: &[u8]) {
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

/// Creates `dir` with mode 0700 if missing; refuses one writable by group or others or owned
/// by someone else.
fn ensure_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|source| io_err(dir, source))?;
    let meta = fs::metadata(dir).map_err(|source| io_err(dir, source))?;
    if !meta.is_dir() {
        return Err(key_file(dir, "is not a directory"));
    }
    check_owner(dir, meta.uid())?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(key_file(
            dir,
            format!("directory mode {mode:04o} lets group or others replace keys; run `chmod 700 {}`", dir.display()),
        ));
    }
    Ok(())
}

fn check_owner(path: &Path, uid: u32) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if uid != me {
        return Err(key_file(
            path,
            format!(
                "owned by uid {uid}, not by you (uid {me}); run `chown {me} {}` or use your own key",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Opens `path` read-only without following a symbolic link in its last component.
fn open_no_follow(path: &Path) -> Result<File> {
    use rustix::fs::{Mode, OFlags};
    match rustix::fs::open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty()) {
        Ok(fd) => Ok(File::from(fd)),
        Err(rustix::io::Errno::LOOP) => Err(key_file(path, "is a symbolic link; replace it with the key file itself")),
        Err(errno) => Err(io_err(path, errno.into())),
    }
}

enum Created {
    New,
    AlreadyExisted,
}

/// Writes `contents` to a new file `path` (mode 0600) atomically, never replacing an existing
/// one: temporary file in `dir`, fsync, `link` to `path`, unlink the temporary, fsync `dir`.
fn write_new_file(dir: &Path, path: &Path, contents: &[u8]) -> Result<Created> {
    let mut suffix = [0u8; 8];
    OsRng.fill_bytes(&mut suffix);
    let mut tmp_name = String::from(".identity.key.tmp-");
    push_hex(&mut tmp_name, &suffix);
    let tmp = dir.join(tmp_name);

    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp, source));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    let created = match linked {
        Ok(()) => Created::New,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Created::AlreadyExisted,
        Err(source) => return Err(io_err(path, source)),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| io_err(dir, source))?;
    Ok(created)
}

fn io_err(path: &Path, source: io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}

fn key_file(path: &Path, reason: impl Into<String>) -> Error {
    Error::KeyFile { path: PathBuf::from(path), reason: reason.into() }
}

fn corrupt(path: &Path, what: &str) -> Error {
    key_file(path, format!("corrupt ({what}); move it away to create a new identity (paired peers must pair again)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

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
    fn create_then_load_same_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config/pcp");
        let a = Identity::load_or_create(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        let path = dir.join(IDENTITY_FILE);
        assert_eq!(mode_of(&path), 0o600);
        let b = Identity::load_or_create(&dir).unwrap();
        assert_eq!(a.public(), b.public());
        assert_eq!(a.secret(), b.secret());
        assert_eq!(a.fingerprint(), b.fingerprint());
        // No temporary file left behind.
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [IDENTITY_FILE]);
    }

    #[test]
    fn key_file_0644_refused_with_chmod_hint() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        Identity::load_or_create(&dir).unwrap();
        let path = dir.join(IDENTITY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Identity::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, Error::KeyFile { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("chmod 600 {}", path.display())), "{msg}");
        assert!(msg.contains("0644"), "{msg}");
        // The file is left alone, not rewritten.
        assert_eq!(mode_of(&path), 0o644);
    }

    #[test]
    fn group_writable_dir_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        let msg = Identity::load_or_create(&dir).unwrap_err().to_string();
        assert!(msg.contains(&format!("chmod 700 {}", dir.display())), "{msg}");
    }

    #[test]
    fn symlinked_key_file_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        Identity::load_or_create(&dir).unwrap();
        let real = dir.join(IDENTITY_FILE);
        let moved = tmp.path().join("elsewhere.key");
        fs::rename(&real, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &real).unwrap();
        let err = Identity::load(&real).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn corrupt_key_files_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        let id = Identity::load_or_create(&dir).unwrap();
        let path = dir.join(IDENTITY_FILE);
        let good = fs::read_to_string(&path).unwrap();
        let other = Identity::generate().unwrap();
        let mut mismatched = String::from(IDENTITY_MAGIC);
        mismatched.push_str("\nsecret ");
        push_hex(&mut mismatched, id.secret().as_bytes());
        mismatched.push_str("\npublic ");
        push_hex(&mut mismatched, other.public());
        mismatched.push('\n');
        for bad in [
            String::new(),
            good.replace("v1", "v2"),
            good.trim_end().to_string(),
            good.replacen("secret ", "secret x", 1),
            format!("{good}extra\n"),
            mismatched,
            "x".repeat(5000),
        ] {
            fs::write(&path, &bad).unwrap();
            let err = Identity::load(&path).unwrap_err();
            assert!(err.to_string().contains("corrupt"), "{err}");
        }
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
