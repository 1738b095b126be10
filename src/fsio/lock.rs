//! One run per destination root at a time: an exclusive `flock` on `MANIFEST.lock` beside the
//! root's manifest in the state directory (so the lock is keyed by the same canonical root),
//! held for the whole run and released by the kernel when the process ends, even by SIGKILL.
//! A second run waits up to `--wait-lock SECONDS`, then fails with exit 35 and what to do.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use rustix::fs::{flock, FlockOperation};

use crate::error::{tagged, Kind};

/// How often a waiting run tries the lock again.
const RETRY: Duration = Duration::from_millis(100);

/// Held while a run writes into its destination root.
#[derive(Debug)]
pub struct DestLock {
    _file: File,
}

/// The lock file of the root whose manifest is `manifest`.
pub fn lock_path(manifest: &Path) -> PathBuf {
    let mut p = manifest.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl DestLock {
    /// Take the lock of the root whose manifest is `manifest` (`root` names it in messages),
    /// waiting at most `wait`; `stop` ends the wait early (an interrupt).
    pub fn acquire(manifest: &Path, root: &Path, wait: Duration, stop: &dyn Fn() -> bool) -> Result<Self> {
        let path = lock_path(manifest);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode_0700()
                .create(dir)
                .map_err(|e| tagged(Kind::FileIo, format!("creating {}: {e}", dir.display())))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .map_err(|e| tagged(Kind::FileIo, format!("opening the lock {}: {e}", path.display())))?;
        let deadline = Instant::now() + wait;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Self { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < deadline && !stop() => {
                    std::thread::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now())));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(tagged(
                        Kind::Busy,
                        format!(
                            "destination {} is in use by another pcp run (lock {}); wait for it, or pass --wait-lock SECONDS to wait",
                            root.display(),
                            path.display()
                        ),
                    ))
                }
                Err(e) => return Err(tagged(Kind::FileIo, format!("locking {}: {e}", path.display()))),
            }
        }
    }
}

trait Mode0700 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl Mode0700 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        std::os::unix::fs::DirBuilderExt::mode(self, 0o700)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_fails_with_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path().join("state/x.db");
        let never = || false;
        let a = DestLock::acquire(&m, Path::new("/dst"), Duration::ZERO, &never).unwrap();
        let t0 = Instant::now();
        let e = DestLock::acquire(&m, Path::new("/dst"), Duration::from_millis(300), &never).unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(300), "did not wait");
        assert_eq!(crate::error::kind_of(&e), Kind::Busy);
        assert!(e.to_string().contains("--wait-lock"), "{e}");
        drop(a);
        DestLock::acquire(&m, Path::new("/dst"), Duration::ZERO, &never).unwrap();
    }
}
