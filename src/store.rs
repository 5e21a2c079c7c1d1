//! The job store: the state directory and, for each job, `ID.log`, `ID.pid`
//! and `ID.json`.
//!
//! Rules: every file is created with `O_EXCL | O_NOFOLLOW | O_CLOEXEC`, mode
//! 0600, and read with `O_NOFOLLOW`, so a planted symlink is never followed. A
//! log appears already locked and with its header (it is made under a
//! temporary name and linked into place), and a record is only ever replaced
//! by `rename`. Whether a job is alive comes from the `flock` on its log and
//! from nothing else.

use crate::error::{Error, Result};
use crate::record::{Record, Status};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const LOG: &str = ".log";
pub const PID: &str = ".pid";
pub const RECORD: &str = ".json";
/// The index of finished jobs (see `jobs::scan`); its first line names its
/// format and the version that wrote it, and any other version ignores it.
const INDEX: &str = ".index";
const INDEX_HEADER: &str = concat!("run index 2 ", env!("CARGO_PKG_VERSION"), "\n");

/// How many `_N` suffixes to try for ids started in the same second.
const MAX_SUFFIX: u32 = 10_000;

pub struct Store {
    dir: PathBuf,
}

/// Disk space held for a job's final record (`.ID.json.end`).
pub struct RecordSpace {
    file: File,
    path: PathBuf,
    room: usize,
}

impl Store {
    /// Find the state directory, create it (0700) if needed, and refuse one
    /// that another user owns or that others may write to.
    pub fn open() -> Result<Store> {
        let dir = locate()?;
        let meta = match fs::metadata(&dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir(&dir)?,
            Err(e) => return Err(Error::io("cannot use state directory", &dir, e)),
        };
        let shown = crate::quote::escape(&dir.to_string_lossy());
        if !meta.is_dir() {
            return Err(Error::new(
                1,
                format!("state directory {shown} is not a directory"),
            ));
        }
        if meta.uid() != crate::sys::effective_uid() {
            return Err(Error::new(
                1,
                format!(
                    "state directory {shown} belongs to another user; set RUN_DIR to a directory of your own"
                ),
            ));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(Error::new(
                1,
                format!(
                    "state directory {shown} is writable by others; fix it with: chmod 700 {shown}"
                ),
            ));
        }
        if mode != 0o700 {
            // The original shell version made it 0755; tighten it quietly.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("cannot chmod state directory", &dir, e))?;
        }
        Ok(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, id: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{id}{suffix}"))
    }

    /// Create, lock and publish a new log holding `header`. Its id is `base`,
    /// or `base_2`, `base_3`, … when that is taken. Returns the id and the log,
    /// open for reading and appending, with the lock held.
    pub fn create_log(&self, base: &str, header: &[u8]) -> Result<(String, File)> {
        let temp = self.dir.join(format!(".new-{}{LOG}", std::process::id()));
        let mut log = match create(&temp, true) {
            // Left behind by a crashed run that had our pid: ours to remove.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&temp);
                create(&temp, true)
            }
            other => other,
        }
        .map_err(|e| Error::io("cannot create log", &temp, e))?;
        let published = log
            .try_lock()
            .map_err(io::Error::from)
            .and_then(|()| log.write_all(header))
            .map_err(|e| Error::io("cannot write log", &temp, e))
            .and_then(|()| self.link_unique(&temp, base));
        let _ = fs::remove_file(&temp);
        published.map(|id| (id, log))
    }

    /// Link `temp` under the first free id; link(2) fails rather than
    /// replace, which is what makes ids unique across concurrent runs.
    fn link_unique(&self, temp: &Path, base: &str) -> Result<String> {
        let id_for = |n: u32| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}_{n}")
            }
        };
        let taken = |n: u32| fs::symlink_metadata(self.path(&id_for(n), LOG)).is_ok();
        // Suffixes fill up from _2 in a burst of starts: find the end of the
        // taken run by doubling, then bisecting, with lstat probes (a
        // hundred starts in one second cost 7 probes each, not 100 links).
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
        for n in first..=MAX_SUFFIX {
            let id = id_for(n);
            let path = self.path(&id, LOG);
            match fs::hard_link(temp, &path) {
                Ok(()) if self.exists(&id, RECORD) || self.exists(&id, PID) => {
                    // A stray record or pid file owns this id already.
                    let _ = fs::remove_file(&path);
                }
                Ok(()) => return Ok(id),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("cannot create log", &path, e)),
            }
        }
        Err(Error::new(
            1,
            format!("too many jobs named {base} this second"),
        ))
    }

    fn exists(&self, id: &str, suffix: &str) -> bool {
        fs::symlink_metadata(self.path(id, suffix)).is_ok()
    }

    /// Write `ID.pid` as the original did: the pid and a newline.
    pub fn create_pid_file(&self, id: &str, pid: i32) -> io::Result<()> {
        create(&self.path(id, PID), false)?.write_all(format!("{pid}\n").as_bytes())
    }

    /// Replace `ID.json` atomically. With `durable`, the data reaches the disk
    /// before the rename, so a crash can't leave an empty final record.
    pub fn write_record(&self, record: &Record, durable: bool) -> io::Result<()> {
        let temp = self.dir.join(format!(".{}{RECORD}.tmp", record.id));
        let _ = fs::remove_file(&temp);
        let written = create(&temp, false).and_then(|mut file| {
            let mut json = record.to_json(record.status);
            json.push('\n');
            file.write_all(json.as_bytes())?;
            if durable {
                file.sync_data()?;
            }
            fs::rename(&temp, self.path(&record.id, RECORD))
        });
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Take room for the job's final record now, while there is some: a job
    /// whose output fills the disk must still get its end recorded.
    pub fn reserve_record(&self, record: &Record) -> io::Result<RecordSpace> {
        let path = self.dir.join(format!(".{}{RECORD}.end", record.id));
        let _ = fs::remove_file(&path);
        let room = (record.to_json(record.status).len() + 512).max(4096);
        let mut file = create(&path, false)?;
        // Writing claims the blocks (even where allocation is delayed).
        if let Err(e) = file.write_all(&vec![b' '; room]) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(RecordSpace { file, path, room })
    }

    /// Replace `ID.json` with the final record, durably: in the reserved
    /// room if it fits (no new disk space needed), else as `write_record`.
    pub fn write_final_record(&self, record: &Record, space: RecordSpace) -> io::Result<()> {
        let mut json = record.to_json(record.status);
        json.push('\n');
        if json.len() > space.room {
            let _ = fs::remove_file(&space.path);
            return self.write_record(record, true);
        }
        let written = space
            .file
            .write_all_at(json.as_bytes(), 0)
            .and_then(|()| space.file.set_len(json.len() as u64))
            .and_then(|()| space.file.sync_data())
            .and_then(|()| fs::rename(&space.path, self.path(&record.id, RECORD)));
        if written.is_err() {
            let _ = fs::remove_file(&space.path);
        }
        written
    }

    /// Read and parse `ID.json`. `Ok(None)` if it is there but not a record.
    pub fn read_record(&self, id: &str) -> io::Result<Option<Record>> {
        let mut buf = Vec::new();
        Ok(self.read_record_with(id, &mut buf)?.0)
    }

    /// `read_record` into a buffer that a listing reuses: one `read` for a
    /// record of ordinary size, and no seek. Also, for a record with an end
    /// (what the listing's index keeps), the inode of the file it was read
    /// from; else 0.
    pub fn read_record_with(
        &self,
        id: &str,
        buf: &mut Vec<u8>,
    ) -> io::Result<(Option<Record>, u64)> {
        let mut file = open_read(&self.path(id, RECORD))?;
        let mut filled = 0;
        loop {
            if buf.len() - filled < 4096 {
                buf.resize(buf.len() + 16384, 0);
            }
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                // A regular file reads short only at its end.
                Ok(n) if filled + n < buf.len() => {
                    filled += n;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let record = std::str::from_utf8(&buf[..filled])
            .ok()
            .and_then(Record::from_json);
        let inode = match &record {
            Some(r) if r.ended.is_some() => file.metadata()?.ino(),
            _ => 0,
        };
        Ok((record, inode))
    }

    /// The index's lines, or nothing if there is none, or it is another
    /// version's, or not a regular file.
    pub fn read_index(&self) -> String {
        let mut text = String::new();
        let read = open_read(&self.dir.join(INDEX)).and_then(|file| {
            // Sized once: growing by doubling would touch twice the memory.
            let size = file.metadata()?.len().min(256 << 20);
            text.reserve_exact(size as usize + 1);
            file.take(size + 1).read_to_string(&mut text)
        });
        if read.is_err() || !text.starts_with(INDEX_HEADER) {
            return String::new();
        }
        // In place: a copy of a 10,000-job index would cost its pages twice.
        text.drain(..INDEX_HEADER.len());
        text
    }

    /// Replace the index. It is only a cache, so a failure is not an error
    /// to the caller; it says whether the index was written.
    pub fn write_index(&self, lines: &str) -> bool {
        let temp = self.dir.join(format!(".index.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&temp);
        let written = create(&temp, false).and_then(|mut file| {
            file.write_all(INDEX_HEADER.as_bytes())?;
            file.write_all(lines.as_bytes())?;
            fs::rename(&temp, self.dir.join(INDEX))
        });
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.is_ok()
    }

    /// Drop the index: it could not be rewritten without removed jobs.
    pub fn forget_index(&self) {
        let _ = fs::remove_file(self.dir.join(INDEX));
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

    /// A job's temporary files: a record being written, its reserved room.
    pub fn remove_spares(&self, id: &str) {
        for spare in ["tmp", "end"] {
            let _ = fs::remove_file(self.dir.join(format!(".{id}{RECORD}.{spare}")));
        }
    }

    /// True while some process holds the lock on the job's log: its supervisor,
    /// the job, or a child of the job that kept its output.
    pub fn is_locked(&self, id: &str) -> bool {
        match open_read(&self.path(id, LOG)) {
            Ok(log) => matches!(log.try_lock_shared(), Err(fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// The true status of a job: its recorded end if it has one; else
    /// `running` while its log is locked; else `lost`. Returns the record as
    /// re-read after the lock probe, since the job may have just ended.
    pub fn status(&self, record: Record) -> (Record, Status) {
        if record.ended.is_some() {
            let status = record.recorded_status();
            return (record, status);
        }
        if self.is_locked(&record.id) {
            return (record, Status::Running);
        }
        // The supervisor writes the final record before it lets go of the
        // lock, so a record with no end now is one that will never get one.
        match self.read_record(&record.id) {
            Ok(Some(fresh)) if fresh.ended.is_some() => {
                let status = fresh.recorded_status();
                (fresh, status)
            }
            _ => (record, Status::Lost),
        }
    }
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

fn create_dir(dir: &Path) -> Result<fs::Metadata> {
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
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(failed(e)),
        _ => {}
    }
    fs::metadata(dir).map_err(failed)
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

/// Open for reading without following a symlink, and without blocking on a
/// FIFO planted under a job's name.
pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}
