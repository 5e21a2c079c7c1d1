//! The job store: the state directory and, for each job, `ID.log`, `ID.pid`
//! and `ID.json`.
//!
//! Rules: every file is created with `O_EXCL | O_NOFOLLOW | O_CLOEXEC`, mode
//! 0600, and read with `O_NOFOLLOW`, only if it is a regular file, and only
//! up to a cap, so a planted symlink, device or FIFO is never followed or
//! drained. A log is made under a temporary name, locked, and linked into
//! place; a record is only ever replaced by `rename`. A job is alive while
//! its log is locked or a process of its session lives, and from nothing
//! else: never from a PID alone.

use crate::error::{Error, Result};
use crate::record::{Record, Status};
use crate::sys::Process;
use std::cell::RefCell;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

pub const LOG: &str = ".log";
pub const PID: &str = ".pid";
pub const RECORD: &str = ".json";
/// The index of finished jobs (see `jobs::scan`); its first line names its
/// format and the version that wrote it, and any other version ignores it.
const INDEX: &str = ".index";
const INDEX_HEADER: &str = concat!("run index 3 ", env!("CARGO_PKG_VERSION"), "\n");
/// The temporary name of a log being made by `run` with this pid.
pub const NEW_LOG_PREFIX: &str = ".new-";
/// A job's temporary files, `.ID.json.tmp` (a record being written) and
/// `.ID.json.end` (the room for its final record, then that record).
pub const SPARES: [&str; 2] = ["tmp", "end"];

/// The most of a record that is read: a record is about 300 bytes plus its
/// command line and directory, in JSON. Linux takes at most 6 MiB of
/// arguments (3/4 of 8 MiB, under a big stack limit), and JSON writes a
/// control byte in 6 (`\u0001`): 36 MiB. A bigger file is damaged, or was
/// not written by `run`.
pub const MAX_RECORD: u64 = 40 << 20;

/// How many `_N` suffixes to try for ids started in the same second.
const MAX_SUFFIX: u32 = 10_000;

/// How far apart the start times of a job and of its session's leader may
/// be: a loaded machine takes a while to fork, and for a record with no
/// boot clock, the boot time its start is set against is whole seconds.
const START_SLACK: f64 = 3.0;

pub struct Store {
    dir: PathBuf,
    /// The process table, read once for all the jobs of one listing.
    processes: RefCell<Option<(Instant, Table)>>,
}

/// A process table as read at one instant; `None` if it could not be read.
type Table = Option<Rc<Vec<Process>>>;

/// Disk space held for a job's final record (`.ID.json.end`).
pub struct RecordSpace {
    file: File,
    path: PathBuf,
}

impl Store {
    /// Find the state directory, create it (0700) if it is missing, and
    /// refuse one that is not safely ours. For `run`, which starts jobs.
    pub fn open() -> Result<Store> {
        let dir = locate()?;
        let created = match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                check_parent(&dir)?;
                create_dir(&dir)?
            }
            _ => false,
        };
        check_dir(&dir)?;
        if !created {
            let meta = fs::metadata(&dir).map_err(|e| unusable(&dir, e))?;
            if meta.mode() & 0o700 != 0o700 {
                let shown = crate::quote::escape(&dir.to_string_lossy());
                return Err(Error::new(
                    1,
                    format!(
                        "state directory {shown} is not writable by you; fix it with: chmod 700 {shown}"
                    ),
                ));
            }
        }
        Ok(Store::at(dir))
    }

    /// The state directory if there is one: for the commands that only
    /// read it, which never create it. No directory means no jobs.
    pub fn existing() -> Result<Option<Store>> {
        let dir = locate()?;
        match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        check_dir(&dir)?;
        Ok(Some(Store::at(dir)))
    }

    /// The store in `dir`, unchecked (`open` and `existing` check it).
    pub(crate) fn at(dir: PathBuf) -> Store {
        Store {
            dir,
            processes: RefCell::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, id: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{id}{suffix}"))
    }

    /// How runkill's line in a job's log begins, before the signal's name:
    /// `--- runkill: SIGTERM at …`.
    pub const RUNKILL_SAYS: &str = "--- runkill: ";

    /// Add `line` to the end of job `id`'s log (see `add_line`); nothing
    /// if the log is not a regular file.
    pub fn add_to_log(&self, id: &str, line: &str) -> io::Result<()> {
        let log = OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(self.path(id, LOG))?;
        if log.metadata()?.is_file() {
            add_line(&log, line)?;
        }
        Ok(())
    }

    /// `run`'s new log, created, locked and holding `header`: a file with no
    /// name yet where the system has them (then nothing is left if the
    /// launch dies), else `.new-PID.log`, whose path is returned. The
    /// supervisor publishes it (`publish_log`).
    pub fn create_temp_log(&self, header: &[u8]) -> Result<(Option<PathBuf>, File)> {
        if let Ok(mut log) = crate::sys::unnamed_file(&self.dir) {
            return log
                .try_lock()
                .map_err(io::Error::from)
                .and_then(|()| log.write_all(header))
                .map(|()| (None, log))
                .map_err(|e| Error::io("cannot write log in", &self.dir, e));
        }
        let temp = self
            .dir
            .join(format!("{NEW_LOG_PREFIX}{}{LOG}", std::process::id()));
        let mut log = match create(&temp, true) {
            // Left behind by a dead run that had our pid: ours to remove.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&temp);
                create(&temp, true)
            }
            other => other,
        }
        .map_err(|e| Error::io("cannot create log in", &self.dir, e))?;
        let made = log
            .try_lock()
            .map_err(io::Error::from)
            .and_then(|()| log.write_all(header));
        if let Err(e) = made {
            let _ = fs::remove_file(&temp);
            return Err(Error::io("cannot write log in", &self.dir, e));
        }
        Ok((Some(temp), log))
    }

    /// Link the temporary log under the first free id, `base` or `base_N`,
    /// and drop the temporary name. link(2) fails rather than replace, which
    /// is what makes ids unique across concurrent runs. `announce` hears
    /// each N before its link is tried, so that whoever is told can clean up
    /// after a supervisor that dies half-way.
    pub fn publish_log(
        &self,
        temp: Option<&Path>,
        log: &File,
        base: &str,
        mut announce: impl FnMut(u32),
    ) -> io::Result<String> {
        let taken = |n: u32| self.exists(&id_with_suffix(base, n), LOG);
        // Suffixes fill up from _2 in a burst of starts: find the end of the
        // taken run by doubling, then bisecting, with lstat probes (a
        // hundred starts in one second cost 7 probes each, not 100 links).
        // Measured: 1,000 launches of one name back to back on tmpfs took
        // 1.27-1.39 ms each with this, 1.78-1.88 ms with a linear search.
        let mut first = 1;
        if taken(1) {
            let (mut low, mut high) = (1, 2);
            while high < MAX_SUFFIX && taken(high) {
                (low, high) = (high, high * 2);
            }
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                if taken(middle) {
                    low = middle
                } else {
                    high = middle
                }
            }
            first = high;
        }
        // A stray record or pid file owns its id already.
        let owned = |id: &str| self.exists(id, RECORD) || self.exists(id, PID);
        for n in first..=MAX_SUFFIX {
            let id = id_with_suffix(base, n);
            if owned(&id) {
                continue;
            }
            let path = self.path(&id, LOG);
            announce(n);
            let linked = match temp {
                Some(temp) => fs::hard_link(temp, &path),
                None => crate::sys::link_file(log, &path),
            };
            match linked {
                Ok(()) if owned(&id) => {
                    // One appeared meanwhile. An unnamed log can be linked
                    // only once: once unlinked, it is gone.
                    let _ = fs::remove_file(&path);
                    if temp.is_none() {
                        return Err(io::Error::from_raw_os_error(libc::EEXIST));
                    }
                }
                Ok(()) => {
                    if let Some(temp) = temp {
                        let _ = fs::remove_file(temp);
                    }
                    return Ok(id);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        // Too many jobs of this name in one second.
        Err(io::Error::from_raw_os_error(libc::EEXIST))
    }

    fn exists(&self, id: &str, suffix: &str) -> bool {
        fs::symlink_metadata(self.path(id, suffix)).is_ok()
    }

    /// Write `ID.pid` as the original did: the pid and a newline.
    pub fn create_pid_file(&self, id: &str, pid: i32) -> io::Result<()> {
        create(&self.path(id, PID), false)?.write_all(format!("{pid}\n").as_bytes())
    }

    /// Write the job's `ID.json`, whole before it has its name: a file with
    /// no name yet, then linked (where the system has them), else (or when
    /// a waiting job's record is there already) a temporary file, renamed.
    pub fn write_record(&self, record: &Record) -> io::Result<()> {
        let mut json = record.to_json(record.status);
        json.push('\n');
        let path = self.path(&record.id, RECORD);
        if let Ok(mut file) = crate::sys::unnamed_file(&self.dir) {
            file.write_all(json.as_bytes())?;
            match crate::sys::link_file(&file, &path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                linked => return linked,
            }
        }
        replace_file(&self.spare(&record.id, "tmp"), &path, &[json.as_bytes()])
    }

    /// Queue `name`'s file (`.queue-NAME`), locked: whoever holds it is the
    /// one starting a job in the queue. With the id of its last job, if any.
    pub fn lock_queue(&self, name: &str) -> io::Result<(File, Option<String>)> {
        let path = self.queue_path(name);
        // A symlink, FIFO or directory planted there is never used.
        let planted = || io::Error::other("not a regular file; remove it to use the queue");
        let mut tries = 0;
        let mut file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(&path)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP | libc::EISDIR) => planted(),
                    _ => e,
                })?;
            if !file.metadata()?.is_file() {
                return Err(planted());
            }
            file.lock()?;
            // Unless runrm removed it meanwhile (`drop_queue`): then the
            // queue is the file at its name now. (Bounded, for a file system
            // whose inode numbers would not tell.)
            tries += 1;
            if names(&path, &file) || tries == 100 {
                break file;
            }
        };
        let last = queue_tail(&mut file)?;
        Ok((file, last))
    }

    /// Remove queue `name`'s file if `idle`, asked with the queue's last
    /// job while the file is locked, says that nothing of the queue is left
    /// to follow; a queue that a job is joining (locked) is left alone.
    pub fn drop_queue(&self, name: &str, idle: impl FnOnce(Option<&str>) -> bool) {
        let path = self.queue_path(name);
        let Ok(mut file) = open_read(&path) else {
            return;
        };
        if file.try_lock().is_ok()
            && names(&path, &file)
            && file.metadata().is_ok_and(|m| m.is_file())
            && queue_tail(&mut file).is_ok_and(|last| idle(last.as_deref()))
        {
            let _ = fs::remove_file(&path);
        }
    }

    fn queue_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".queue-{name}"))
    }

    /// Take room for the job's final record now, while there is some: a job
    /// whose output fills the disk must still get its end recorded.
    pub fn reserve_record(&self, record: &Record) -> io::Result<RecordSpace> {
        let path = self.spare(&record.id, "end");
        let _ = fs::remove_file(&path);
        let room = (record.to_json(record.status).len() + 512).max(4096);
        let mut file = create(&path, false)?;
        // Writing claims the blocks (even where allocation is delayed).
        if let Err(e) = file.write_all(&vec![b' '; room]) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        // Locked by the supervisor alone (the job's copy closes at its
        // exec) until the end is recorded: what waits for the job waits on
        // this, not on the log, which what the job left running may hold.
        let _ = file.try_lock();
        Ok(RecordSpace { file, path })
    }

    /// The job's reserved room, to wait on: its supervisor holds it locked
    /// until the job's end is recorded (`publish_final_record`), or dies.
    pub fn open_room(&self, id: &str) -> io::Result<File> {
        open_read(&self.spare(id, "end"))
    }

    /// Write the final record into its reserved room, durably. From here on
    /// the job's end is known, even if the supervisor dies before
    /// `publish_final_record` (see `final_spare`).
    pub fn fill_final_record(&self, record: &Record, space: &RecordSpace) -> io::Result<()> {
        let mut json = record.to_json(record.status);
        json.push('\n');
        let fill = || {
            space.file.write_all_at(json.as_bytes(), 0)?;
            space.file.set_len(json.len() as u64)?;
            space.file.sync_data()
        };
        // Where files are copied on write (btrfs, ZFS), writing over the
        // room takes new room, which a full disk does not have; emptied
        // first, a record of the usual size then goes in with the file's
        // metadata (btrfs keeps files under 2 KiB inline).
        fill().or_else(|_| {
            space.file.set_len(0)?;
            fill()
        })
    }

    /// Put the final record in place of the first, unless the job was
    /// removed meanwhile (`holds_id`): then only its room goes. Either way
    /// the room's lock goes with it: what waits for the job goes on.
    pub fn publish_final_record(
        &self,
        record: &Record,
        space: RecordSpace,
        log: &File,
    ) -> io::Result<()> {
        if !self.keeps_id(record, log) {
            self.drop_room(space);
            return Ok(());
        }
        let renamed = fs::rename(&space.path, self.path(&record.id, RECORD));
        if renamed.is_err() {
            let _ = fs::remove_file(&space.path);
        }
        renamed
    }

    /// The records of queue `name`'s jobs with no end recorded (some may be
    /// lost), read from the directory's every record: only for a job whose
    /// place in the queue was lost, never on a launch's way.
    pub fn unended_of_queue(&self, name: &str) -> Vec<Record> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| Some(e.file_name().to_str()?.strip_suffix(RECORD)?.to_owned()))
            .filter(|id| is_job_id(id.as_bytes()))
            .filter_map(|id| self.read_record(&id).ok().flatten())
            .filter(|r| r.queue.as_deref() == Some(name) && r.ended.is_none())
            .collect()
    }

    /// Remove a job's reserved room, if its name is still the job's own:
    /// a new job of the same id may have made its own there.
    pub fn drop_room(&self, space: RecordSpace) {
        if names(&space.path, &space.file) {
            let _ = fs::remove_file(&space.path);
        }
    }

    fn spare(&self, id: &str, which: &str) -> PathBuf {
        self.dir.join(format!(".{id}{RECORD}.{which}"))
    }

    /// Read and parse `ID.json`. `Ok(None)` if it is there but not a record
    /// (damaged, too big, or not a regular file); `NotFound` if it is not.
    pub fn read_record(&self, id: &str) -> io::Result<Option<Record>> {
        let mut buf = Vec::new();
        Ok(self.read_record_with(id, &mut buf)?.0)
    }

    /// `read_record` into a buffer that a listing reuses: one `read` for a
    /// record of ordinary size, and no seek. Also, for a record with an end
    /// (what the listing's index keeps), the key of the file it was read
    /// from; else none.
    pub fn read_record_with(
        &self,
        id: &str,
        buf: &mut Vec<u8>,
    ) -> io::Result<(Option<Record>, Option<FileKey>)> {
        let Some((file, record)) = read_record_file(&self.path(id, RECORD), buf)? else {
            return Ok((None, None));
        };
        let key = match &record {
            Some(r) if r.ended.is_some() => Some(FileKey::of(&file.metadata()?)),
            _ => None,
        };
        Ok((record, key))
    }

    /// The key of the job's record file as it is now; none unless it is a
    /// regular file.
    pub fn record_key(&self, id: &str) -> Option<FileKey> {
        let meta = fs::symlink_metadata(self.path(id, RECORD)).ok()?;
        meta.is_file().then(|| FileKey::of(&meta))
    }

    /// The final record in a job's reserved room, if the supervisor wrote
    /// one there and has not renamed it into place yet (or died first).
    pub fn final_spare(&self, id: &str) -> io::Result<Option<Record>> {
        let found = read_record_file(&self.spare(id, "end"), &mut Vec::new())?;
        let record = found.and_then(|(_, record)| record);
        Ok(record.filter(|r| r.ended.is_some() && r.id == id))
    }

    /// The index's lines, or nothing if there is none, or it is another
    /// version's, or not a regular file.
    pub fn read_index(&self) -> String {
        let mut buf = Vec::new();
        match read_capped(&self.dir.join(INDEX), &mut buf, 256 << 20) {
            Ok(Some((_, len))) => buf.truncate(len),
            _ => return String::new(),
        }
        match String::from_utf8(buf) {
            Ok(mut text) if text.starts_with(INDEX_HEADER) => {
                // In place: a copy of a 10,000-job index would cost its pages twice.
                text.drain(..INDEX_HEADER.len());
                text
            }
            _ => String::new(),
        }
    }

    /// Replace the index. It is only a cache, so a failure is not an error
    /// to the caller; it says whether the index was written.
    pub fn write_index(&self, lines: &str) -> bool {
        let temp = self.dir.join(format!(".index.{}.tmp", std::process::id()));
        let parts = [INDEX_HEADER.as_bytes(), lines.as_bytes()];
        replace_file(&temp, &self.dir.join(INDEX), &parts).is_ok()
    }

    /// Drop the index: it could not be rewritten without removed jobs.
    pub fn forget_index(&self) {
        let _ = fs::remove_file(self.dir.join(INDEX));
    }

    /// Hold the directory's lock: shared by the listings, from reading the
    /// directory to writing the index; exclusive for removing jobs, so that
    /// no listing can put back the index line of a job removed meanwhile.
    pub fn lock(&self, exclusive: bool) -> Result<File> {
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&self.dir)
            .map_err(|e| Error::io("cannot open state directory", &self.dir, e))?;
        let locked = if exclusive {
            dir.lock()
        } else {
            dir.lock_shared()
        };
        locked.map_err(|e| Error::io("cannot lock state directory", &self.dir, e))?;
        Ok(dir)
    }

    /// Remove all of a job's files: log and pid file first, the record last,
    /// so an interrupted removal leaves a job that is still listed.
    pub fn remove_files(&self, id: &str) {
        for suffix in [LOG, PID] {
            let _ = fs::remove_file(self.path(id, suffix));
        }
        self.remove_spares(id);
        let _ = fs::remove_file(self.path(id, RECORD));
    }

    /// Remove the files of a launch that did not start, if `ID.log` is
    /// still the very file `log` (whose inode cannot be reused while it is
    /// open): the id may have gone to another job meanwhile.
    pub fn remove_launch(&self, id: &str, log: &File) {
        if self.holds_id(id, log) {
            self.remove_files(id);
        }
    }

    /// Whether `ID.log` is still the very file `log`. Once it is not, the
    /// job was removed (by hand) and its id may be another job's: nothing
    /// more of it may be written under that id.
    pub fn holds_id(&self, id: &str, log: &File) -> bool {
        names(&self.path(id, LOG), log)
    }

    /// Whether the job's supervisor may still write under its id:
    /// `holds_id`; or its log alone was deleted (by hand, to free the disk
    /// it filled: the job's end was then never recorded, and it read
    /// `lost`), nothing has taken its name, and `ID.json` is still this
    /// supervisor's record (its session, that session's start, this boot).
    pub fn keeps_id(&self, record: &Record, log: &File) -> bool {
        let id = &record.id;
        let log_gone = || {
            matches!(fs::symlink_metadata(self.path(id, LOG)),
                Err(e) if e.kind() == io::ErrorKind::NotFound)
        };
        self.holds_id(id, log)
            || log_gone()
                && record.sid.is_some()
                && self.read_record(id).is_ok_and(|on_disk| {
                    on_disk.is_some_and(|r| {
                        (r.sid, r.sid_since_boot, &r.boot_id)
                            == (record.sid, record.sid_since_boot, &record.boot_id)
                    })
                })
    }

    /// A job's temporary files: a record being written, its reserved room.
    pub fn remove_spares(&self, id: &str) {
        for spare in SPARES {
            let _ = fs::remove_file(self.spare(id, spare));
        }
    }

    /// True while some process holds the lock on the job's log: its supervisor,
    /// the job, or a child of the job that kept its output.
    pub fn is_locked(&self, id: &str) -> bool {
        is_locked(&self.path(id, LOG))
    }

    /// The true status of a job, with its record as last read: its recorded
    /// end if it has one; else `running` while its log is locked or a
    /// process of its session lives; else `lost`. `None` if the job's record
    /// was removed meanwhile (by `runrm`, or a launch that did not start).
    pub fn status(&self, record: Record) -> io::Result<Option<(Record, Status)>> {
        let ended = |record: Record| {
            let status = record.recorded_status();
            Ok(Some((record, status)))
        };
        if record.ended.is_some() {
            return ended(record);
        }
        if self.is_locked(&record.id) || self.lives(&record) {
            let status = record.recorded_status();
            return Ok(Some((record, status)));
        }
        // Nothing of it lives. Its end is in the record, if it was renamed
        // into place since the first read; or in its room, if the
        // supervisor died after writing it there (and the footer), before
        // the rename; or nowhere, and it is lost.
        if let Ok(Some(end)) = self.final_spare(&record.id) {
            return ended(end);
        }
        match self.read_record(&record.id) {
            Ok(Some(fresh)) if fresh.ended.is_some() => ended(fresh),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
            // Nothing of it is seen, but it is another machine's to see.
            _ if elsewhere(&record) => Ok(Some((record, Status::Unknown))),
            _ => Ok(Some((record, Status::Lost))),
        }
    }

    /// Whether a process of the job lives: one of its session (the
    /// supervisor, the job, and whatever they started that stayed in it),
    /// started no earlier than the job. A session leader that started well
    /// after the job, or a boot after it, means its ids belong to others
    /// now. Records older than the `sid` field have only their lock.
    fn lives(&self, record: &Record) -> bool {
        let Some(sid) = record.sid.filter(|&s| s > 1 && !foreign(record)) else {
            return false;
        };
        let Some(all) = self.processes() else {
            // No process table: ask after the job and its supervisor alone.
            let in_session = |pid: i32| crate::sys::session_of(pid).is_ok_and(|s| s == sid);
            return in_session(sid) || record.pgid.is_some_and(in_session);
        };
        let Some(start) = start_since_boot(record) else {
            return false;
        };
        if session_taken(&all, record, start) {
            return false;
        }
        all.iter()
            .any(|p| p.session == sid && p.since_boot >= start - START_SLACK)
    }

    /// Whether the job's supervisor, the leader of its session, is alive
    /// (not a zombie, and not a later process with its pid).
    pub fn supervisor_lives(&self, record: &Record) -> bool {
        let Some(sid) = record.sid.filter(|&s| s > 1 && !foreign(record)) else {
            return false;
        };
        match crate::sys::process(sid) {
            Ok(Some(p)) => {
                start_since_boot(record).is_some_and(|start| is_leader(&p, record, start))
            }
            Ok(None) => false,
            Err(_) => crate::sys::session_of(sid).is_ok_and(|s| s == sid),
        }
    }

    /// The process groups to signal for a running job, each with whether a
    /// process in it is stopped, checked against the process table just
    /// before: the job's own group, then every other group of its session
    /// but the supervisor's (a job-control shell, or `timeout`, in the job
    /// makes groups of its own). Each holds a process of the job's session,
    /// and the job group's id must not have gone to another program.
    pub fn groups_to_signal(
        &self,
        record: &Record,
    ) -> std::result::Result<Vec<(i32, bool)>, &'static str> {
        let group = record
            .pgid
            .or(record.pid)
            .filter(|&g| g > 1)
            .ok_or("it has no process group")?;
        if foreign(record) {
            return Err(
                "it runs in another pid namespace (a container?), whose processes cannot be seen from here; stop it from there",
            );
        }
        let Some(sid) = record.sid else {
            // A record of a version that did not keep the session: its
            // locked log is all there is to go by.
            return Ok(vec![(group, false)]);
        };
        let Ok(all) = crate::sys::processes() else {
            let ours = crate::sys::group_of(group).is_ok_and(|g| g == group)
                && crate::sys::session_of(group).is_ok_and(|s| s == sid);
            return if ours {
                Ok(vec![(group, false)])
            } else {
                Err("its process group is gone")
            };
        };
        let start = start_since_boot(record).ok_or("it started before the machine rebooted")?;
        if session_taken(&all, record, start) {
            return Err("its session id now belongs to another program");
        }
        // The group's leader is the job's command, which a waiting job forks
        // long after its start: of the job's session, and no older than it.
        if all
            .iter()
            .any(|p| p.pid == group && (p.session != sid || p.since_boot < start - START_SLACK))
        {
            return Err("its process group id now belongs to another program");
        }
        let mut groups: Vec<(i32, bool)> = Vec::new();
        let ours = all.iter().filter(|p| {
            p.session == sid
                && p.since_boot >= start - START_SLACK
                && (p.group == group || p.group != sid)
        });
        for p in ours {
            match groups.iter_mut().find(|(g, _)| *g == p.group) {
                Some((_, stopped)) => *stopped |= p.stopped,
                None => groups.push((p.group, p.stopped)),
            }
        }
        groups.sort_by_key(|&(g, _)| g != group);
        if groups.is_empty() {
            Err("none of its processes is left")
        } else {
            Ok(groups)
        }
    }

    /// The job's process groups that hold a process of it, but the
    /// supervisor's: while it runs, and after its end what it left running,
    /// in a group of its own (a job-control shell's jobs, `timeout`'s
    /// command) or in the job's group (a background child).
    pub fn left_running(&self, record: &Record) -> Vec<(i32, bool)> {
        let mut groups = self.groups_to_signal(record).unwrap_or_default();
        groups.retain(|&(group, _)| Some(group) != record.sid);
        groups
    }

    /// The process table, read at most once in 100 ms: a listing asks about
    /// many jobs at once, a waiter again later.
    fn processes(&self) -> Option<Rc<Vec<Process>>> {
        let mut cache = self.processes.borrow_mut();
        if let Some((at, table)) = cache.as_ref()
            && at.elapsed() < Duration::from_millis(100)
        {
            return table.clone();
        }
        let table = crate::sys::processes().ok().map(Rc::new);
        *cache = Some((Instant::now(), table.clone()));
        table
    }

    /// Remove what dead launches and listings left: `.new-PID.log` and
    /// `.index.PID.tmp` whose process is gone (and, for a log, whose lock
    /// is free), and a job's spare files once the job has no log. Called by
    /// the listing for each hidden name it sees.
    pub fn clear_debris(&self, name: &[u8]) {
        let Ok(name) = std::str::from_utf8(name) else {
            return;
        };
        let path = self.dir.join(name);
        let dead = |pid: &str| {
            pid.parse::<i32>()
                .is_ok_and(|p| p > 0 && !crate::sys::process_exists(p))
        };
        let debris = if let Some(pid) = name
            .strip_prefix(NEW_LOG_PREFIX)
            .and_then(|n| n.strip_suffix(LOG))
        {
            dead(pid) && !is_locked(&path)
        } else if let Some(pid) = name
            .strip_prefix(".index.")
            .and_then(|n| n.strip_suffix(".tmp"))
        {
            dead(pid)
        } else if let Some(id) = SPARES.iter().find_map(|spare| {
            name.strip_prefix('.')?
                .strip_suffix(spare)?
                .strip_suffix('.')?
                .strip_suffix(RECORD)
        }) {
            // A launch links its log before it makes its spares, and
            // removals take the spares before the log. A room its
            // supervisor still locks is kept, though the log was deleted
            // by hand: the job's end goes there.
            !id.is_empty() && !self.exists(id, LOG) && !is_locked(&path)
        } else {
            false
        };
        if debris {
            let _ = fs::remove_file(path);
        }
    }
}

/// The id of the `n`th job of `base` in one second: `base`, `base_2`, ...
pub fn id_with_suffix(base: &str, n: u32) -> String {
    if n == 1 {
        base.to_string()
    } else {
        format!("{base}_{n}")
    }
}

/// Whether `id` is shaped like a job's: `NAME_YYYYmmdd_HHMMSS[_N]`, with a
/// NAME that is not hidden. Files of any other name are never opened.
pub fn is_job_id(id: &[u8]) -> bool {
    stamp_of(id).is_some_and(|(_, _, name_len)| name_len > 0) && id[0] != b'.'
}

/// `build_20251205_163539_2` → (20251205163539, 2, "build").
pub fn parse_stamp(id: &str) -> Option<(u64, u32, &str)> {
    let (stamp, n, name_len) = stamp_of(id.as_bytes())?;
    Some((stamp, n, id.get(..name_len)?))
}

/// `parse_stamp` on bytes, with the length of the name before the stamp.
fn stamp_of(b: &[u8]) -> Option<(u64, u32, usize)> {
    // `NAME_` + 8 digits + `_` + 6 digits, then maybe `_` and a suffix.
    let digits = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u64, |n, d| match d {
            b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(d - b'0')),
            _ => None,
        })
    };
    let stamp_at = |end: usize| -> Option<(u64, usize)> {
        let start = end.checked_sub(16)?;
        if b[start] != b'_' || b[start + 9] != b'_' {
            return None;
        }
        let stamp = digits(start + 1, start + 9)? * 1_000_000 + digits(start + 10, end)?;
        Some((stamp, start))
    };
    if let Some((stamp, name)) = stamp_at(b.len()) {
        return Some((stamp, 1, name));
    }
    let cut = b.iter().rposition(|&c| c == b'_')?;
    let number = u32::try_from(digits(cut + 1, b.len()).filter(|_| cut + 1 < b.len())?).ok()?;
    stamp_at(cut).map(|(stamp, name)| (stamp, number, name))
}

/// Whether `path` names the very file `file` (whose inode cannot go to
/// another file while it is open).
fn names(path: &Path, file: &File) -> bool {
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(at), Ok(held)) => at.ino() == held.ino() && at.dev() == held.dev(),
        _ => false,
    }
}

fn is_locked(path: &Path) -> bool {
    match open_read(path) {
        Ok(log) => matches!(log.try_lock_shared(), Err(fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// A record file read into `buf` (see `read_capped`), and the record in it
/// if it holds one.
fn read_record_file(path: &Path, buf: &mut Vec<u8>) -> io::Result<Option<(File, Option<Record>)>> {
    let Some((file, len)) = read_capped(path, buf, MAX_RECORD)? else {
        return Ok(None);
    };
    let record = std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(Record::from_json);
    Ok(Some((file, record)))
}

/// When the job started, in the clock of process start times: seconds
/// since this boot. From the record's boot clock where it has one, so that
/// no step of the wall clock since (an NTP sync, a VM's resume) moves it;
/// else from its wall clock. `None` if it started before this boot.
fn start_since_boot(record: &Record) -> Option<f64> {
    match recorded_since_boot(record) {
        Some(at) => at,
        None => {
            let boot = crate::sys::boot_time()?;
            (boot <= record.started).then_some(record.started - boot)
        }
    }
}

/// What the record says of its start on the boot clock: `Some(Some(t))` in
/// this boot, `Some(None)` in another, `None` if it does not say.
fn recorded_since_boot(record: &Record) -> Option<Option<f64>> {
    let now = this_boot()?;
    Some((record.boot_id.as_ref()? == now).then_some(record.since_boot?))
}

/// This boot's id, read once: a listing or a wait asks for every job.
fn this_boot() -> Option<&'static String> {
    static THIS_BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    THIS_BOOT.get_or_init(crate::sys::boot_id).as_ref()
}

/// Whether the job ran on another machine: another host name, and another
/// kernel (not a container of this one, whose locks this one sees). A state
/// directory shared between machines (a home on NFS, Lustre) may not show
/// one machine's locks to another: this one cannot tell whether it runs.
pub fn elsewhere(record: &Record) -> bool {
    static THIS_HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let host = THIS_HOST.get_or_init(|| crate::sys::hostname().unwrap_or_default());
    !record.host.is_empty()
        && record.host != *host
        && record.boot_id.is_some()
        && record.boot_id.as_ref() != this_boot()
}

/// Whether the job's ids are of another pid namespace than this process
/// sees (a container's, or the host's from one): its processes cannot be
/// told here, nor signalled.
pub fn foreign(record: &Record) -> bool {
    static THIS_NS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let ns = THIS_NS.get_or_init(crate::sys::pid_namespace);
    record.pid_ns.is_some() && ns.is_some() && record.pid_ns != *ns
}

/// Seconds a job that has not ended has been running by `now` (Unix
/// seconds): on the boot clock if its record has it, so that a step of the
/// wall clock does not move it; else by the wall clock.
pub fn running_for(record: &Record, now: f64) -> f64 {
    let began = record.began.unwrap_or(record.started);
    match (
        recorded_since_boot(record).flatten(),
        crate::sys::boot_clock(),
    ) {
        (Some(at), Some(clock)) => clock - at - (began - record.started),
        _ => now - began,
    }
}

/// Whether `p`, which has the pid of the job's session, is the process that
/// got it for the job (which started at `start`): its supervisor, started
/// when the record says (`sid_since_boot`, in this boot; else with the
/// job); not a later one, nor one that was there before.
fn is_leader(p: &Process, record: &Record, start: f64) -> bool {
    let began = recorded_since_boot(record)
        .flatten()
        .and(record.sid_since_boot)
        .unwrap_or(start);
    Some(p.session) == record.sid && (p.since_boot - began).abs() <= START_SLACK
}

/// Whether the pid of the job's session is a process that is not its
/// supervisor: the session is gone, and its id is another's.
fn session_taken(all: &[Process], record: &Record, start: f64) -> bool {
    all.iter()
        .any(|p| Some(p.pid) == record.sid && !is_leader(p, record, start))
}

/// What tells a record file from a later one with its name and its inode
/// number (a job removed by hand, and a new one under its id in the same
/// second, on the freed inodes): with the inode, its size and the time it
/// was written, to the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FileKey {
    pub inode: u64,
    pub size: u64,
    pub written: i128,
}

impl FileKey {
    pub fn of(meta: &fs::Metadata) -> FileKey {
        FileKey {
            inode: meta.ino(),
            size: meta.len(),
            written: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// Read a regular file of at most `cap` bytes into `buf` (reused: one
/// `read` for a file of ordinary size). `None` if it is not a regular file,
/// or bigger than `cap`; the file is returned with the length read.
fn read_capped(path: &Path, buf: &mut Vec<u8>, cap: u64) -> io::Result<Option<(File, usize)>> {
    let mut file = open_read(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > cap {
        return Ok(None);
    }
    // It may grow while it is read; what is past the cap is not ours.
    buf.clear();
    buf.reserve(meta.len() as usize + 1);
    (&mut file).take(cap + 1).read_to_end(buf)?;
    Ok((buf.len() as u64 <= cap).then_some((file, buf.len())))
}

/// `$RUN_DIR`; else `$XDG_DATA_HOME/run` if absolute; else
/// `$HOME/.local/share/run`, with HOME from the password database if unset.
fn locate() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RUN_DIR") {
        if dir.is_empty() {
            return Err(Error::usage(
                "RUN_DIR is set but empty; unset it or name a directory",
            ));
        }
        let dir = PathBuf::from(dir);
        if dir.is_relative() {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io("cannot resolve RUN_DIR", &dir, e))?;
            return Ok(cwd.join(dir));
        }
        return Ok(dir);
    }
    let absolute = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").and_then(absolute) {
        return Ok(data.join("run"));
    }
    let home = std::env::var_os("HOME")
        .and_then(absolute)
        .or_else(crate::sys::home_from_passwd)
        .ok_or_else(|| {
            Error::new(
                1,
                "no home directory (HOME is unset and there is no passwd entry); set RUN_DIR",
            )
        })?;
    Ok(home.join(".local/share/run"))
}

/// A state directory that cannot be looked at: with a way out where it is
/// not ours to look at (`su` keeps the other user's HOME).
fn unusable(dir: &Path, e: io::Error) -> Error {
    let denied = e.kind() == io::ErrorKind::PermissionDenied;
    let mut err = Error::io("cannot use state directory", dir, e);
    if denied {
        err.message
            .push_str(" (set RUN_DIR to a directory of your own)");
    }
    err
}

/// Whether the directory was made here (false if another run beat us to it).
fn create_dir(dir: &Path) -> Result<bool> {
    let failed = |e| {
        let mut err = Error::io("cannot create state directory", dir, e);
        err.message
            .push_str(" (set RUN_DIR to a writable directory)");
        err
    };
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(failed(e)),
    }
}

/// Refuse a state directory that is not safely the user's own: not a
/// directory; reached through a symlink that someone else owns; in a
/// directory that someone else owns or that others may write to without the
/// sticky bit (they could swap it); owned by someone else; or writable by
/// group or others. Nothing is changed: the message says how to fix it.
fn check_dir(dir: &Path) -> Result<()> {
    let me = crate::sys::effective_uid();
    let shown = crate::quote::escape(&dir.to_string_lossy());
    let refuse = |why: String| Err(Error::new(1, format!("state directory {shown} {why}")));
    let unusable = |e| unusable(dir, e);
    let link = fs::symlink_metadata(dir).map_err(unusable)?;
    if link.file_type().is_symlink() && link.uid() != me && link.uid() != 0 {
        return refuse(
            "is a symlink that belongs to another user; set RUN_DIR to a directory of your own"
                .into(),
        );
    }
    check_parent(dir)?;
    let meta = fs::metadata(dir).map_err(unusable)?;
    if !meta.is_dir() {
        return refuse("is not a directory".into());
    }
    if meta.uid() != me {
        return refuse("belongs to another user; set RUN_DIR to a directory of your own".into());
    }
    if meta.mode() & 0o1022 > 0o1000 {
        // A shared directory such as /tmp: never to be closed to others.
        return refuse(
            "is a shared directory (sticky, writable by others); set RUN_DIR to a directory of your own".into(),
        );
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "is writable by others; fix it with: chmod 700 {shown}"
        ));
    }
    Ok(())
}

/// Refuse a state directory whose parent someone else could swap it in:
/// one owned by another user (but root), or writable by others without the
/// sticky bit. A parent that does not exist yet is judged by the nearest
/// one that does, in which `run` would make it: never in another user's
/// home (root with `sudo -E`).
fn check_parent(dir: &Path) -> Result<()> {
    let mut parents = dir
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty());
    let nearest = parents.find_map(|p| match fs::metadata(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        found => Some((p, found)),
    });
    let Some((parent, up)) = nearest else {
        return Ok(());
    };
    let up = up.map_err(|e| unusable(dir, e))?;
    let me = crate::sys::effective_uid();
    let why = if up.uid() != me && up.uid() != 0 {
        "belongs to another user"
    } else if up.mode() & 0o002 != 0 && up.mode() & 0o1000 == 0 {
        "anyone may write to"
    } else {
        return Ok(());
    };
    Err(Error::new(
        1,
        format!(
            "state directory {} lies in {}, which {why}; set RUN_DIR to a directory of your own",
            crate::quote::escape(&dir.to_string_lossy()),
            crate::quote::escape(&parent.to_string_lossy())
        ),
    ))
}

/// Write `parts` to a new file at `temp` (clearing a stale one), then rename
/// it over `path`: readers see the old file or the whole new one. Nothing is
/// left at `temp` on failure.
fn replace_file(temp: &Path, path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let _ = fs::remove_file(temp);
    let written = create(temp, false).and_then(|mut file| {
        parts.iter().try_for_each(|part| file.write_all(part))?;
        fs::rename(temp, path)
    });
    if written.is_err() {
        let _ = fs::remove_file(temp);
    }
    written
}

/// A new file, mode 0600, that must not exist yet; `append` also opens it for
/// reading, as the supervisor needs for the log.
fn create(path: &Path, append: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(append)
        .write(!append)
        .append(append)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// The last job of the queue whose file is `queue`: its first line (see
/// `set_queue_tail`), if any.
fn queue_tail(queue: &mut File) -> io::Result<Option<String>> {
    let mut text = String::new();
    queue.read_to_string(&mut text)?;
    let first = text.lines().next().unwrap_or_default().trim();
    Ok(Some(first.to_string()).filter(|id| !id.is_empty()))
}

/// Make `id` the last job of the queue whose locked file is `queue`.
pub fn set_queue_tail(queue: &File, id: &str) -> io::Result<()> {
    // The id first, then the cut: killed between the two, the file still
    // names a job on its first line (the one `lock_queue` reads), never
    // none, which would start the next job at once.
    let line = format!("{id}\n");
    queue.write_all_at(line.as_bytes(), 0)?;
    queue.set_len(line.len() as u64)
}

/// Append `line` and a newline to `log` (opened to append), on a line of its
/// own though the last one has no newline (the job may be mid-line).
/// Returns the size of the log before.
pub fn add_line(mut log: &File, line: &str) -> io::Result<u64> {
    let size = log.metadata()?.len();
    let mut last = [b'\n'];
    if size > 0 {
        log.read_exact_at(&mut last, size - 1)?;
    }
    let start = if last[0] == b'\n' { "" } else { "\n" };
    log.write_all(format!("{start}{line}\n").as_bytes())?;
    Ok(size)
}

/// Open for reading without following a symlink, and without blocking on a
/// FIFO planted under a job's name.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_with_and_without_suffix() {
        assert_eq!(
            parse_stamp("build_20251205_163539"),
            Some((20251205163539, 1, "build"))
        );
        assert_eq!(
            parse_stamp("a_b_20251205_163539_12"),
            Some((20251205163539, 12, "a_b"))
        );
        assert_eq!(parse_stamp("notes"), None);
        assert_eq!(parse_stamp("x_2025_163539"), None);
        assert_eq!(parse_stamp("20251205_163539"), None);
        assert_eq!(
            parse_stamp("_20251205_163539"),
            Some((20251205163539, 1, ""))
        );
        assert_eq!(parse_stamp("x_20251205_163539_"), None);
        assert_eq!(parse_stamp("x_20251205_163539_+2"), None);
        assert_eq!(parse_stamp("x_20251205_16353a"), None);
        assert_eq!(parse_stamp("x_20251205_163539_4294967296"), None);
        assert_eq!(
            parse_stamp("x_20251205_163539_99999999999999999999999"),
            None
        );
        assert_eq!(
            parse_stamp("x_20251205_163539_4294967295"),
            Some((20251205163539, 4294967295, "x"))
        );
        assert_eq!(parse_stamp("x_2025120_1635391"), None);
    }
}
