//! Assembling a needed file in its temp file. For each chunk the state machine lists: the old
//! file at that path (the basis), then any file the manifest indexes (within scope after an
//! accepted offer, T35), each BLAKE3-verified before it is written; the rest is asked for with
//! a Want (and registered with the state machine, which then accepts its Data). Received
//! chunks arrive here verified by the state machine; this side writes them and records them
//! for resume.

use std::collections::HashMap;

use anyhow::{anyhow, Result};

use super::{Basis, Build, Dest, STAGE_MIN};
use crate::chunk::{file_hash, ChunkHash, ChunkRef, Chunker};
use crate::path::SafeRelPath;
use crate::proto::{ChunkId, Error as PErr, Message};
use crate::report::add;

impl Dest<'_> {
    /// `file`'s chunk list grew from `start`: place the new chunks.
    pub(super) fn chunks(&mut self, file: u32, start: usize, inline: bool) -> Result<()> {
        let Some(mut b) = self.builds.remove(&file) else { return Ok(()) };
        if let Err(e) = self.resolve(file, &mut b, start, inline) {
            if e.downcast_ref::<PErr>().is_some() {
                // The link is gone (or the peer broke the protocol): not this file's
                // fault. Keep it in the window, so the temp file and its recorded chunks
                // stay for the reconnect or rerun (dropping it deleted them, and a
                // resume sent the whole file again).
                self.builds.insert(file, b);
                return Err(e);
            }
            if let Some(f) = self.st.file(file) {
                let p = f.entry().path.clone();
                self.fail(&p, &e);
            }
            b.tmp = None;
            if self.st.fail(file) {
                return self.pump();
            }
        }
        self.builds.insert(file, b);
        Ok(())
    }

    /// Fill chunks `start..` from local data; ask the source for the rest.
    fn resolve(&mut self, file: u32, b: &mut Build, start: usize, inline: bool) -> Result<()> {
        let f = self.st.file(file).ok_or_else(|| anyhow!("file {file} not in the window"))?;
        if b.tmp.is_none() {
            let mode = self.final_mode(f.entry(), b.plan.existed_mode);
            b.tmp = Some(self.root.create_temp(&f.entry().path, mode)?);
        }
        if !b.basis_tried {
            b.basis_tried = true;
            if b.plan.existed_mode.is_some() {
                let path = f.entry().path.clone();
                b.basis = self.open_basis(&path).ok().flatten();
            }
        }
        if inline {
            // Inline file: its data comes unasked, right behind the list (docs/protocol.md).
            return Ok(());
        }
        let n = self.st.file(file).map_or(0, |f| f.chunks().len());
        let mut missing: Vec<(u32, u32)> = Vec::new();
        for i in start..n {
            let Some((c, at)) = self.st.file(file).and_then(|f| Some((*f.chunks().get(i)?, *f.offsets().get(i)?)))
            else {
                break;
            };
            match self.local_chunk(b, c, at)? {
                Some((h, in_place)) => {
                    if in_place {
                        // Already where it belongs: copied (in the kernel) only if the file changed.
                        b.in_place.push(i);
                    } else {
                        let tmp = b.tmp.as_ref().ok_or_else(|| anyhow!("temp file"))?;
                        crate::fsio::write_at(&tmp.file, &self.buf[..c.len as usize], at)?;
                        add(&self.stats.bytes_written, u64::from(c.len));
                    }
                    add(&self.stats.chunks_reused, 1);
                    add(&self.stats.bytes_reused, u64::from(c.len));
                    self.st.fill(file, i, h);
                }
                None => {
                    self.st.want(file, i);
                    match missing.last_mut() {
                        Some((s, n)) if *s + *n == i as u32 => *n += 1,
                        _ => missing.push((i as u32, 1)),
                    }
                }
            }
        }
        add(&self.stats.chunks, n.saturating_sub(start) as u64);
        if !missing.is_empty() {
            self.link.tx.send(Message::Want { file, ranges: missing }).map_err(|_| PErr::Closed)?;
        }
        Ok(())
    }

    /// Chunk list of the old file at `path`: from the manifest if its stat matches, else by
    /// chunking it now (and recording it).
    fn open_basis(&mut self, path: &SafeRelPath) -> Result<Option<Basis>> {
        let file = self.root.open_read(path)?;
        let md = file.metadata()?;
        let stat = crate::meta::Stat::from_meta(&md);
        let params = self.st.params();
        let m = self.manifest.as_mut().ok_or_else(|| anyhow!("manifest"))?;
        let chunks = match m.file_chunks(path.as_str(), &stat)? {
            Some((_, c)) => c,
            None => {
                let mut ch = Chunker::with_size_hint(&file, params, stat.size);
                let mut v = Vec::new();
                while let Some((r, _)) = ch.next_chunk()? {
                    v.push(r);
                }
                add(&self.stats.dest_read, ch.position());
                let h = file_hash(v.iter().map(|c| &c.hash));
                m.record_file(path.as_str(), &stat, &h, &v)?;
                v
            }
        };
        let mut by_short: HashMap<u64, Vec<ChunkRef>> = HashMap::with_capacity(chunks.len());
        for c in chunks {
            by_short.entry(c.hash.short()).or_default().push(c);
        }
        Ok(Some(Basis { file, by_short }))
    }

    /// Whether local data at `rel` may serve this transfer. Any file of the destination tree
    /// may, for a sync into one's own tree; after an accepted offer (`pcp receive`, a sender
    /// one does not control) only entries of this very transfer and temp files staged for them
    /// may, so a sender cannot learn from the Wants it gets whether chunks it guesses exist in
    /// other files of the destination (security.md T35).
    fn in_scope(&mut self, rel: &SafeRelPath) -> Result<bool> {
        if self.cfg.offer.is_none() {
            return Ok(true);
        }
        if self.st.is_listed(rel) {
            return Ok(true);
        }
        if self.staged_for.is_none() {
            let staged = match self.manifest.as_ref() {
                Some(m) => m.staged()?,
                None => Vec::new(),
            };
            self.staged_for = Some(staged.into_iter().map(|s| (s.temp, s.path)).collect());
        }
        let target = self.staged_for.as_ref().and_then(|m| m.get(rel.as_str()));
        Ok(target.and_then(|p| SafeRelPath::new(p).ok()).is_some_and(|p| self.st.is_listed(&p)))
    }

    /// Find chunk `c` in local data, verify it, leave it in `self.buf`; return its full hash.
    /// The flag says the chunk sits in the basis at the very offset it belongs at (no copy is
    /// needed if the whole file turns out unchanged).
    fn local_chunk(&mut self, b: &mut Build, c: ChunkId, at: u64) -> Result<Option<(ChunkHash, bool)>> {
        let len = c.len as usize;
        if let Some(basis) = &b.basis {
            if let Some(cands) = basis.by_short.get(&c.short) {
                let mut cands: Vec<&ChunkRef> = cands.iter().filter(|r| r.len == c.len).collect();
                cands.sort_by_key(|r| r.offset != at);
                for r in cands {
                    self.buf.resize(len, 0);
                    if crate::fsio::read_at(&basis.file, &mut self.buf[..len], r.offset).is_ok() {
                        add(&self.stats.dest_read, u64::from(c.len));
                        if ChunkHash::of(&self.buf[..len]) == r.hash {
                            return Ok(Some((r.hash, r.offset == at)));
                        }
                    }
                }
            }
        }
        let locs = match self.manifest.as_ref() {
            Some(m) => m.find_chunk(c.short)?,
            None => Vec::new(),
        };
        for loc in locs.into_iter().filter(|l| l.len == c.len && l.hash.short() == c.short) {
            let Ok(rel) = SafeRelPath::new(&loc.path) else { continue };
            if !self.in_scope(&rel)? {
                continue;
            }
            if self.seed.as_ref().map(|(p, _)| p.as_str()) != Some(loc.path.as_str()) {
                match self.root.open_read(&rel) {
                    Ok(f) => self.seed = Some((loc.path.clone(), f)),
                    Err(_) => continue,
                }
            }
            let Some((_, f)) = &self.seed else { continue };
            self.buf.resize(len, 0);
            if crate::fsio::read_at(f, &mut self.buf[..len], loc.offset).is_ok() {
                add(&self.stats.dest_read, u64::from(c.len));
                if ChunkHash::of(&self.buf[..len]) == loc.hash {
                    return Ok(Some((loc.hash, false)));
                }
            }
        }
        Ok(None)
    }

    /// Chunk `i` of `file`, verified by the state machine: write it at `offset`, record it for
    /// resume; `complete`: the file is whole, install it.
    pub(super) fn write_chunk(
        &mut self,
        file: u32,
        i: usize,
        offset: u64,
        bytes: &[u8],
        wire: usize,
        complete: bool,
    ) -> Result<()> {
        let Some(mut b) = self.builds.remove(&file) else { return Ok(()) };
        let tmp = b.tmp.as_ref().ok_or_else(|| anyhow!("temp file"))?;
        if let Err(e) = crate::fsio::write_at(&tmp.file, bytes, offset) {
            if let Some(f) = self.st.file(file) {
                let p = f.entry().path.clone();
                self.fail(&p, &anyhow::Error::from(e).context("writing"));
            }
            b.tmp = None;
            if self.st.fail(file) {
                return self.pump();
            }
            self.builds.insert(file, b);
            return Ok(());
        }
        add(&self.stats.bytes_written, bytes.len() as u64);
        let _ = self.pacer.pace(wire as u64);
        self.done_bytes += bytes.len() as u64;
        self.rep.progress(
            self.done_bytes,
            self.stats.total_size.load(std::sync::atomic::Ordering::Relaxed),
            self.start,
        );
        // Resume: remember verified chunks of the temp file so a rerun can reuse them (only for
        // files big enough for it to matter: small files are cheaper to send again).
        if let Err(e) = self.record_staged(file, &mut b, i) {
            // Keep the file (and what is recorded of it) for the error path.
            self.builds.insert(file, b);
            return Err(e);
        }
        if complete {
            return self.complete(file, b);
        }
        self.builds.insert(file, b);
        Ok(())
    }

    /// Resume: record verified chunk `i` of the temp file so a rerun can reuse it (only for
    /// files big enough for it to matter: small files are cheaper to send again).
    fn record_staged(&mut self, file: u32, b: &mut Build, i: usize) -> Result<()> {
        let Some(f) = self.st.file(file) else { return Ok(()) };
        let (Some(hash), Some(&offset), Some(c)) = (f.hash(i), f.offsets().get(i), f.chunks().get(i)) else {
            return Ok(());
        };
        if let (Some(m), Some(t), true) = (self.manifest.as_mut(), b.tmp.as_ref(), f.size() >= STAGE_MIN) {
            let rel = t.rel();
            if b.staged == 0 {
                m.stage(&rel, f.entry().path.as_str(), f.size(), &hash)?;
            }
            m.add_chunk(&rel, &ChunkRef { hash, offset, len: c.len })?;
            b.staged += 1;
            self.unflushed += u64::from(c.len);
            // Commit the resume record every 200 ms or 16 MiB, whichever comes first.
            if self.unflushed >= 16 << 20 || self.last_stage_flush.elapsed().as_millis() > 200 {
                self.unflushed = 0;
                m.flush()?;
                self.last_stage_flush = std::time::Instant::now();
            }
        }
        Ok(())
    }
}
