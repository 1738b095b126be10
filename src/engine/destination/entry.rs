//! Each entry the state machine accepted, against the destination tree: lstat, the quick
//! check (`plan::decide`, pure), and applying what needs no data (directories, symlinks,
//! metadata) through fsio; files that differ are queued in the state machine. And the Need
//! window: the state machine says which queued file fits next, this side checks the free
//! space and sends the Need.

use anyhow::{anyhow, Result};

use super::{Build, Dest, Plan, MADE_DIRS, SPACE_CHECK_MIN};
use crate::meta::FType;
use crate::plan;
use crate::proto::transfer::FILE_WINDOW;
use crate::proto::{Entry, Error as PErr, Flags, Kind, Message};
use crate::report::add;

/// Files a Need asks for at least, while others are in flight (the window is [`FILE_WINDOW`]).
const NEED_BATCH: usize = FILE_WINDOW / 8;

impl Dest<'_> {
    /// Plan and apply one accepted entry (id `id`); queue it when it needs data. A failure
    /// here is this entry's, not the transfer's.
    pub(super) fn entry(&mut self, id: u32, mut e: Entry) -> Result<()> {
        let dry = self.cfg.flags.has(Flags::DRY_RUN);
        if let Some(c) = &self.cfg.tuning.chmod {
            // --chmod: as though the source had sent these permissions.
            e.mode = c.apply(e.mode, matches!(e.kind, Kind::Dir), self.cfg.umask);
        }
        if self.cfg.count_list {
            use crate::report::add;
            add(&self.stats.files, 1);
            match e.kind {
                Kind::File { size } => {
                    add(&self.stats.regular, 1);
                    add(&self.stats.total_size, size);
                }
                Kind::Dir => add(&self.stats.dirs, 1),
                Kind::Symlink { .. } => add(&self.stats.links, 1),
            }
        }
        let opts = plan::Opts::from_flags(self.cfg.flags).tuned(&self.cfg.tuning);
        let in_made_dir = e.path.split_last().is_some_and(|(parent, _)| self.made_dirs.contains(&parent));
        let cur = match if in_made_dir { Ok(None) } else { self.root.lstat(&e.path) } {
            Ok(m) => m,
            Err(err) => {
                self.fail(&e.path, &err.into());
                return Ok(());
            }
        };
        let target = match (&e.kind, cur.map(|m| m.ftype)) {
            (Kind::Symlink { .. }, Some(FType::Symlink)) => self.root.readlink(&e.path).ok(),
            _ => None,
        };
        if matches!(e.kind, Kind::Dir) && e.path.is_root() {
            // rsync's first line: the root created, or its time (and, locally, its mode)
            // about to change.
            if !self.root_existed {
                self.changed("cd+++++++++", "./");
            } else {
                let root_opts = plan::Opts { perms: opts.perms && self.cfg.flags.has(Flags::ROOT_MODE), ..opts };
                let cur = plan::Current { meta: cur, link_target: None };
                if let plan::Action::DirExists { item: Some(item) } = plan::decide(&e, cur, root_opts) {
                    self.changed(item, "./");
                }
            }
            self.dir_meta.push(e);
            return Ok(());
        }
        let action = plan::decide(&e, plan::Current { meta: cur, link_target: target.as_deref() }, opts);
        let name = e.path.as_str().to_owned();
        let mtime = opts.times.then_some((e.mtime, e.mtime_ns));
        // Apply: every change goes through fsio; a failure is this entry's, not the transfer's.
        let applied = (|| -> Result<()> {
            match &action {
                _ if dry => {}
                plan::Action::Keep
                | plan::Action::DirExists { .. }
                | plan::Action::SkipUnsafeLink
                | plan::Action::Transfer { .. } => {}
                plan::Action::MakeDir { replace } => {
                    if *replace {
                        match self.backup.as_mut() {
                            Some(bk) => self.root.back_up(&e.path, true, bk)?,
                            None => self.root.remove_all(&e.path)?,
                        }
                    }
                    self.root.mkdir(&e.path, 0o700)?;
                    if self.made_dirs.len() >= MADE_DIRS {
                        self.made_dirs.clear();
                    }
                    self.made_dirs.insert(e.path.clone());
                    if !opts.perms {
                        // rsync: a new directory gets the source's permission bits less the umask.
                        self.root.set_meta(&e.path, false, Some(e.mode & 0o777 & !self.cfg.umask), None)?;
                    }
                }
                plan::Action::LinkTime => self.root.set_meta(&e.path, true, None, mtime)?,
                plan::Action::MakeLink { remove_dir, .. } => {
                    match (self.backup.as_mut(), *remove_dir) {
                        (Some(bk), _) => self.root.back_up(&e.path, *remove_dir, bk)?,
                        (None, true) => self.root.remove_all(&e.path)?,
                        (None, false) => {}
                    }
                    if let Kind::Symlink { target } = &e.kind {
                        self.root.symlink(&e.path, target)?;
                    }
                    if opts.times {
                        self.root.set_meta(&e.path, true, None, mtime)?;
                    }
                }
                plan::Action::FileMeta { mode, mtime } => self.root.set_meta(&e.path, false, *mode, *mtime)?,
            }
            Ok(())
        })();
        if let Err(err) = applied {
            self.fail(&e.path, &err);
            return Ok(());
        }
        match action {
            plan::Action::Keep | plan::Action::LinkTime => {}
            plan::Action::DirExists { item } => {
                if let Some(item) = item {
                    self.changed(item, &format!("{name}/"));
                }
                self.dir_meta.push(e);
            }
            plan::Action::MakeDir { .. } => {
                add(&self.stats.created, 1);
                self.changed("cd+++++++++", &format!("{name}/"));
                self.dir_meta.push(e);
            }
            plan::Action::SkipUnsafeLink => {
                if let Kind::Symlink { target } = &e.kind {
                    self.rep.warn(&format!(
                        "ignoring unsafe symlink {} -> {}",
                        crate::report::sanitize(&name),
                        crate::report::sanitize::sanitize_bytes(target)
                    ));
                }
            }
            plan::Action::MakeLink { created, .. } => {
                if created {
                    add(&self.stats.created, 1);
                }
                if let Kind::Symlink { target } = &e.kind {
                    self.changed("cL+++++++++", &format!("{name} -> {}", String::from_utf8_lossy(target)));
                }
            }
            plan::Action::FileMeta { mode, mtime } => {
                let t = if mtime.is_some() { 't' } else { '.' };
                let p = if mode.is_some() { 'p' } else { '.' };
                self.changed(&format!(".f..{t}{p}....."), &name);
            }
            plan::Action::Transfer { item, existed_mode } => {
                if dry {
                    if let Kind::File { size } = e.kind {
                        add(&self.stats.transferred_files, 1);
                        add(&self.stats.transferred_size, size);
                    }
                    self.changed(&item, &name);
                } else {
                    let dir_in_way = cur.is_some_and(|m| m.ftype == FType::Dir);
                    self.st.queue(id, e, Plan { item, existed_mode, dir_in_way });
                }
            }
        }
        Ok(())
    }

    /// Ask for the next files while the window (the state machine's) has room.
    pub(super) fn pump(&mut self) -> Result<()> {
        // Ask in batches: once the window is full, a Need per finished file would wake the
        // source once per file (issue 11).
        let in_flight = self.st.in_flight();
        if in_flight > 0 && FILE_WINDOW - in_flight.min(FILE_WINDOW) < NEED_BATCH {
            return Ok(());
        }
        let mut fresh = Vec::new();
        let mut old = Vec::new();
        while let Some(q) = self.st.pop_next() {
            let size = match q.entry.kind {
                Kind::File { size } => size,
                _ => 0,
            };
            if size >= SPACE_CHECK_MIN {
                let free = self.root.free_space().unwrap_or(u64::MAX);
                let have = q
                    .plan
                    .existed_mode
                    .map_or(0, |_| self.root.lstat(&q.entry.path).ok().flatten().map_or(0, |m| m.stat.size));
                if size > free.saturating_add(have) {
                    self.fail(
                        &q.entry.path,
                        &anyhow!(
                            "needs {} but the destination has {} free; free some space and rerun",
                            crate::report::human(size),
                            crate::report::human(free)
                        ),
                    );
                    continue;
                }
            }
            // Files with nothing at their path may come inline (no local data to look for).
            let inline = q.plan.existed_mode.is_none() && !self.cfg.flags.has(Flags::DRY_RUN);
            let (id, plan) = self.st.ask(q, inline);
            self.builds.insert(id, Build::new(plan));
            if inline {
                fresh.push(id);
            } else {
                old.push(id);
            }
        }
        for (files, inline) in [(fresh, true), (old, false)] {
            if !files.is_empty() {
                self.link.tx.send(Message::Need { files, inline }).map_err(|_| PErr::Closed)?;
            }
        }
        Ok(())
    }
}
