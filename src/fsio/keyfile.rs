//! The identity key file on disk (security.md §3.1, §3.5): `identity.key` in the config
//! directory, mode 0600 in a 0700 directory, refused with a one-line fix when anyone else could
//! read or replace it. `auth::keys::Identity` owns the format; this file owns the IO.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::auth::keys::{push_hex, Identity, IDENTITY_FILE};
use crate::auth::peers::{Peers, MAX_PEERS_FILE_LEN, PEERS_FILE};
use crate::auth::{Error, Result};

/// Largest identity file read.
const MAX_IDENTITY_FILE_LEN: u64 = 4096;

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
pub fn load_or_create(dir: &Path) -> Result<Identity> {
    ensure_private_dir(dir)?;
    let path = dir.join(IDENTITY_FILE);
    match load(&path) {
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let identity = Identity::generate()?;
    match write_new_file(dir, &path, identity.encode().as_bytes())? {
        Created::New => Ok(identity),
        Created::AlreadyExisted => load(&path),
    }
}

/// Loads an existing identity file (e.g. `--identity FILE`), with the checks of
/// [`load_or_create`] on the file itself.
pub fn load(path: &Path) -> Result<Identity> {
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
    Identity::decode_checked(&text).map_err(|what| corrupt(path, what))
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
    let tmp = write_temp(dir, ".identity.key.tmp-", contents)?;
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

/// The paired peers (`dir/peers`, auth::peers), empty when the file does not exist. The file
/// gets the identity file's checks (no symlink, owner only, mode 0600) and must parse.
pub fn load_peers(dir: &Path) -> Result<Peers> {
    let path = dir.join(PEERS_FILE);
    let file = match open_no_follow(&path) {
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(Peers::default()),
        other => other?,
    };
    let meta = file.metadata().map_err(|source| io_err(&path, source))?;
    if !meta.is_file() {
        return Err(key_file(&path, "is not a regular file; move it away"));
    }
    check_owner(&path, meta.uid())?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(key_file(
            &path,
            format!("mode {mode:04o} gives access to group or others; run `chmod 600 {}`", path.display()),
        ));
    }
    if meta.len() > MAX_PEERS_FILE_LEN {
        return Err(key_file(&path, "is too large; move it away (peers must pair again)"));
    }
    let mut text = Zeroizing::new(Vec::new());
    (&file).take(MAX_PEERS_FILE_LEN + 1).read_to_end(&mut text).map_err(|source| io_err(&path, source))?;
    let text = std::str::from_utf8(&text)
        .map_err(|_| key_file(&path, "is not UTF-8; move it away (peers must pair again)"))?;
    Peers::decode(text)
        .map_err(|e| key_file(&path, format!("{e}; fix that line, or move the file away (peers must pair again)")))
}

/// Read, change and write back the paired peers under an exclusive lock (`dir/peers.lock`),
/// so two pcp processes never lose each other's change. The new file replaces the old one
/// atomically (temporary file 0600, fsync, rename, fsync of `dir`).
pub fn update_peers<R>(dir: &Path, f: impl FnOnce(&mut Peers) -> R) -> Result<R> {
    ensure_private_dir(dir)?;
    let lock_path = dir.join("peers.lock");
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc_nofollow())
        .open(&lock_path)
        .map_err(|source| io_err(&lock_path, source))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io_err(&lock_path, e.into()))?;
    let mut peers = load_peers(dir)?;
    let before = peers.clone();
    let out = f(&mut peers);
    if peers != before {
        let path = dir.join(PEERS_FILE);
        let tmp = write_temp(dir, ".peers.tmp-", peers.encode().as_bytes())?;
        if let Err(source) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&path, source));
        }
        File::open(dir).and_then(|d| d.sync_all()).map_err(|source| io_err(dir, source))?;
    }
    Ok(out)
}

fn libc_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// A new file `dir/PREFIX<random hex>` (create_new, mode 0600) holding `contents`, synced;
/// removed again if writing fails. The caller publishes it (link or rename).
fn write_temp(dir: &Path, prefix: &str, contents: &[u8]) -> Result<PathBuf> {
    let mut suffix = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut suffix);
    let mut tmp_name = String::from(prefix);
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
    Ok(tmp)
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
    fn peers_are_written_0600_and_read_back_and_a_loose_mode_is_refused() {
        use crate::auth::keys::{Key, PeerId};
        use crate::auth::peers::PeerName;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        assert!(load_peers(&dir).unwrap().records().is_empty());
        let name = update_peers(&dir, |p| {
            p.pair(
                &PeerName::parse("nas").unwrap(),
                PeerId::from_bytes([7; 32]),
                Key::from_bytes([9; 32]),
                1,
                None,
                None,
            )
        })
        .unwrap()
        .unwrap();
        assert_eq!(name.as_str(), "nas");
        assert_eq!(mode_of(&dir.join(PEERS_FILE)), 0o600);
        assert!(load_peers(&dir).unwrap().by_name("nas").is_some());
        fs::set_permissions(dir.join(PEERS_FILE), fs::Permissions::from_mode(0o640)).unwrap();
        let e = load_peers(&dir).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn create_then_load_same_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config/pcp");
        let a = load_or_create(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        let path = dir.join(IDENTITY_FILE);
        assert_eq!(mode_of(&path), 0o600);
        let b = load_or_create(&dir).unwrap();
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
        load_or_create(&dir).unwrap();
        let path = dir.join(IDENTITY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(&dir).unwrap_err();
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
        let msg = load_or_create(&dir).unwrap_err().to_string();
        assert!(msg.contains(&format!("chmod 700 {}", dir.display())), "{msg}");
    }

    #[test]
    fn symlinked_key_file_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        load_or_create(&dir).unwrap();
        let real = dir.join(IDENTITY_FILE);
        let moved = tmp.path().join("elsewhere.key");
        fs::rename(&real, &moved).unwrap();
        std::os::unix::fs::symlink(&moved, &real).unwrap();
        let err = load(&real).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn corrupt_key_files_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pcp");
        let id = load_or_create(&dir).unwrap();
        let path = dir.join(IDENTITY_FILE);
        let good = fs::read_to_string(&path).unwrap();
        let other = Identity::generate().unwrap();
        let mut mismatched = String::from("pcp identity v1\nsecret ");
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
            let err = load(&path).unwrap_err();
            assert!(err.to_string().contains("corrupt"), "{err}");
        }
    }
}
