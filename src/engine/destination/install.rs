//! A file the state machine declares complete (FileSum in, every chunk filled): the whole-file
//! check against the source's file hash (T30), its final size, mode and mtime, then the rename
//! over the final name and the manifest record. With fsync on, finished files wait for a group
//! commit: one `syncfs` makes a batch durable before their renames.

use anyhow::{anyhow, Result};

use super::{Build, Dest, Ready, READY_BYTES, READY_FILES, READY_WAIT};
use crate::chunk::{file_hash, ChunkHash, ChunkRef};
use crate::fsio::TempFile;
use crate::meta::{FType, Meta};
use crate::proto::transfer::FileState;
use crate::report::add;

impl Dest<'_> {
    /// `file` is complete: check it and install it (or queue it for the group commit).
    pub(super) fn complete(&mut self, file: u32, mut b: Build) -> Result<()> {
        if b.tmp.is_none() && self.st.file(file).is_some_and(|f| f.chunks().is_empty()) {
            // An empty file: no chunk list made its temp.
            let Some(f) = self.st.file(file) else { return Ok(()) };
            let mode = self.final_mode(f.entry(), b.plan.existed_mode);
            match self.root.create_temp(&f.entry().path, mode) {
                Ok(t) => b.tmp = Some(t),
                Err(e) => {
                    let p = f.entry().path.clone();
                    self.fail(&p, &e.into());
                    self.st.fail(file);
                    return self.pump();
                }
            }
        }
        let Some(f) = self.st.release(file) else { return Ok(()) };
        let Some(hash) = f.sum() else { return Ok(()) };
        let staged = b.tmp.as_ref().map(TempFile::rel).filter(|_| b.staged > 0);
        match self.prepare(file, &f, &mut b, hash) {
            Err(e) => {
                self.fail(&f.entry().path, &e);
                self.forget_staged(staged)?;
            }
            Ok(None) => self.forget_staged(staged)?,
            Ok(Some(r)) => {
                self.ready_bytes += r.size;
                if self.ready.is_empty() {
                    self.ready_since = std::time::Instant::now();
                }
                self.ready_min = Some(self.ready_min.map_or(r.id, |m| m.min(r.id)));
                self.ready.push(r);
                if !self.cfg.fsync
                    || self.ready.len() >= READY_FILES
                    || self.ready_bytes >= READY_BYTES
                    || self.ready_since.elapsed() >= READY_WAIT
                {
                    self.install_ready()?;
                }
            }
        }
        self.pump()
    }

    fn forget_staged(&mut self, temp: Option<String>) -> Result<()> {
        if let (Some(m), Some(rel)) = (self.manifest.as_mut(), temp) {
            m.forget_file(&rel)?;
            m.unstage(&rel)?;
        }
        Ok(())
    }

    /// Group commit: make the ready files durable with one `syncfs` (with fsync on), then
    /// rename each into place and record it.
    pub(super) fn install_ready(&mut self) -> Result<()> {
        if self.ready.is_empty() {
            return Ok(());
        }
        self.ready_min = None;
        if self.cfg.fsync {
            if let Err(e) = self.root.sync_fs() {
                // Not durable: leave them as temp files (cleaned up, resent next run).
                let lost = std::mem::take(&mut self.ready);
                self.ready_bytes = 0;
                for r in lost {
                    self.fail(&r.path, &anyhow!("not made durable ({e}); it will be sent again next run"));
                }
                return Ok(());
            }
        }
        for r in std::mem::take(&mut self.ready) {
            let path = r.path.clone();
            if let Err(e) = self.install(r) {
                self.fail(&path, &e);
            }
        }
        self.ready_bytes = 0;
        Ok(())
    }

    fn install(&mut self, r: Ready) -> Result<()> {
        // A directory in the way (the plan saw one) goes just before the rename.
        if r.dir_in_way {
            if let Ok(Some(Meta { ftype: FType::Dir, .. })) = self.root.lstat(&r.path) {
                match self.backup.as_mut() {
                    Some(bk) => self.root.back_up(&r.path, true, bk)?,
                    None => self.root.remove_all(&r.path)?,
                }
            }
        } else if let (Some(bk), false) = (self.backup.as_mut(), r.created) {
            // --backup: the old version is kept (a hard link) before the new one replaces it.
            self.root.back_up(&r.path, false, bk)?;
        }
        // Small files are not indexed: they need no stat after the rename.
        let indexed = self.manifest.is_some() && r.size >= u64::from(self.st.params().min);
        let meta = self.root.install(r.tmp, &r.path, indexed)?;
        if let Some(m) = self.manifest.as_mut() {
            if let Some(meta) = meta.filter(|_| indexed) {
                m.record_file(r.path.as_str(), &meta.stat, &r.hash, &r.chunks)?;
            } else if !r.created {
                // Small files are not indexed (cheaper to resend than to record); drop stale rows.
                m.forget_file(r.path.as_str())?;
            }
        }
        self.forget_staged(r.staged)?;
        add(&self.stats.transferred_files, 1);
        add(&self.stats.transferred_size, r.size);
        if r.created {
            add(&self.stats.created, 1);
        }
        self.changed(&r.item, r.path.as_str());
        Ok(())
    }

    /// The mode a file gets: the source's with -p, else the mode of the file it replaces, else
    /// the source's less the umask (rsync's rule).
    pub(super) fn final_mode(&self, e: &crate::proto::Entry, existed_mode: Option<u32>) -> u32 {
        if self.cfg.flags.has(crate::proto::Flags::PERMS) {
            e.mode & self.cfg.flags.mode_mask()
        } else {
            existed_mode.unwrap_or(e.mode & 0o777 & !self.cfg.umask)
        }
    }

    /// Check the assembled temp file against the source's file hash and give it its final
    /// size, mode and mtime. `None` when the file in place already had this content.
    fn prepare(&mut self, id: u32, f: &FileState, b: &mut Build, hash: ChunkHash) -> Result<Option<Ready>> {
        let size = f.size();
        // One list of the file's chunks with their hashes (a 10 GiB file has 160,000: 7.5 MiB).
        let chunks = chunk_refs(f);
        // T30: the whole file must match the source's file hash.
        if file_hash(chunks.iter().map(|c| &c.hash)) != hash {
            return Err(anyhow!("assembled content does not match the source's file hash; rerun with --checksum"));
        }
        let unchanged = b.in_place.len() == f.chunks().len()
            && b.basis.as_ref().and_then(|x| x.file.metadata().ok()).is_some_and(|m| m.len() == size);
        if unchanged {
            // Same content (e.g. -c, or only the mtime changed): keep the file, fix metadata.
            drop(b.tmp.take());
            self.keep_unchanged(f, chunks)?;
            return Ok(None);
        }
        let tmp = b.tmp.take().ok_or_else(|| anyhow!("temp file"))?;
        if let Some(basis) = &b.basis {
            for &i in &b.in_place {
                let (off, len) = (f.offsets()[i], u64::from(f.chunks()[i].len));
                crate::fsio::copy_range(&basis.file, &tmp.file, off, len)?;
                add(&self.stats.bytes_written, len);
            }
        }
        if !tmp.fresh {
            // A kept temp of an interrupted run may be longer; a fresh one is exactly the size.
            tmp.file.set_len(size)?;
        }
        // (Checked in debug builds, so every test run checks the claim above.)
        debug_assert_eq!(tmp.file.metadata().map(|m| m.len()).ok(), Some(size), "temp file length");
        let e = f.entry();
        let mode = self.final_mode(e, b.plan.existed_mode);
        let mtime = self.cfg.flags.has(crate::proto::Flags::TIMES).then_some((e.mtime, e.mtime_ns));
        self.root.seal(&tmp, &e.path, mode, mtime)?;
        let staged = (b.staged > 0).then(|| tmp.rel());
        Ok(Some(Ready {
            id,
            tmp,
            path: e.path.clone(),
            item: b.plan.item.clone(),
            created: b.plan.existed_mode.is_none(),
            dir_in_way: b.plan.dir_in_way,
            size,
            hash,
            chunks,
            staged,
        }))
    }

    /// The assembled file equals the one in place: only metadata may differ.
    fn keep_unchanged(&mut self, f: &FileState, chunks: Vec<ChunkRef>) -> Result<()> {
        let e = f.entry();
        let Some(cur) = self.root.lstat(&e.path)? else { return Ok(()) };
        let perms = self.cfg.flags.has(crate::proto::Flags::PERMS);
        let times = self.cfg.flags.has(crate::proto::Flags::TIMES);
        let k = self.cfg.flags.mode_mask();
        let mode = (perms && cur.mode & k != e.mode & k).then_some(e.mode & k);
        let t_differs = cur.stat.mtime != e.mtime || cur.stat.mtime_ns != e.mtime_ns;
        let mtime = (times && t_differs).then_some((e.mtime, e.mtime_ns));
        if mode.is_some() || mtime.is_some() {
            self.root.set_meta(&e.path, false, mode, mtime)?;
            let item = format!(
                ".f..{}{}.....",
                if mtime.is_some() { 't' } else { '.' },
                if mode.is_some() { 'p' } else { '.' }
            );
            self.changed(&item, e.path.as_str());
        }
        if let (Some(m), Ok(Some(meta))) = (self.manifest.as_mut(), self.root.lstat(&e.path)) {
            let h = file_hash(chunks.iter().map(|c| &c.hash));
            m.record_file(e.path.as_str(), &meta.stat, &h, &chunks)?;
        }
        Ok(())
    }
}

/// The file's chunks with their full hashes, as the manifest records them.
fn chunk_refs(f: &FileState) -> Vec<ChunkRef> {
    f.chunks()
        .iter()
        .zip(f.hashes())
        .zip(f.offsets())
        .map(|((c, h), o)| ChunkRef { hash: h.unwrap_or(ChunkHash([0; 32])), offset: *o, len: c.len })
        .collect()
}
