//! The jobs in the store: listing them oldest first, with their true status
//! (from the index of finished jobs where it holds), and resolving a
//! reference (id, unique id prefix, or name) to one job.
//!
//! Rule: a damaged state directory never hides a job. Every job is listed, or
//! reported once as a problem; nothing found on disk makes this panic or
//! block. Paths always come from the id, never from a record's contents.

use crate::error::{Error, Result, code};
use crate::record::{Record, Status};
use crate::store::{FileKey, LOG, PID, RECORD, Store, is_job_id, open_read, parse_stamp};
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Clone)]
pub struct Job {
    /// The job's record, or one made up from the files of a job without a
    /// readable record (`legacy` or damaged).
    pub record: Record,
    pub status: Status,
    /// A job of the original shell version: `ID.pid` and `ID.log` only.
    pub legacy: bool,
    /// Whether `record` was read from `ID.json` rather than made up.
    pub recorded: bool,
}

impl Job {
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Whether its files show a job, not only a name shaped like one: a
    /// record, or a log that begins as a job's does (`$ COMMAND`, as `run`
    /// and the original shell version write; a record made up from the
    /// files takes its command from there).
    pub fn evident(&self) -> bool {
        self.recorded || !self.record.command.is_empty()
    }

    /// The exit status that stands for how the job ended: 0 for done, its
    /// exit code for failed, 128+N for killed by signal N, 1 for lost,
    /// skipped, or ended with no exit code known (`ended`, `unknown`); 0
    /// while it runs or waits.
    pub fn exit_status(&self) -> i32 {
        match self.status {
            Status::Done => 0,
            Status::Failed => self.record.exit_code.unwrap_or(1),
            Status::Killed => self
                .record
                .signal
                .as_deref()
                .and_then(crate::sys::signal_number)
                .map_or(1, |n| 128 + n),
            // No exit code known is no success.
            Status::Lost | Status::Skipped | Status::Ended | Status::Unknown => 1,
            Status::Running | Status::Stopped | Status::Waiting => 0,
        }
    }

    /// `build_20251205_163539: failed (exit 2) after 3m 12s`.
    pub fn outcome(&self) -> String {
        format!("{}: {}", crate::quote::escape(self.id()), self.ending())
    }

    /// `failed (exit 2) after 3m 12s`: how it ended, or that it has not.
    pub fn ending(&self) -> String {
        let record = &self.record;
        let detail = match record.end_detail() {
            Some(detail) => crate::quote::escape(&detail),
            None if self.elsewhere() => format!(
                "it ran on {}, which this machine cannot see",
                crate::quote::escape(&record.host)
            ),
            None => "no end recorded".into(),
        };
        let took = record
            .duration
            .and_then(crate::time::seconds)
            .map_or(String::new(), |d| {
                format!(" after {}", crate::time::duration(d))
            });
        format!("{} ({detail}){took}", self.status.word())
    }

    /// Whether it is another machine's job that this one cannot see
    /// (`unknown`, shown `on HOST`): see `store::elsewhere`.
    pub fn elsewhere(&self) -> bool {
        self.status == Status::Unknown && self.recorded && crate::store::elsewhere(&self.record)
    }

    /// The job as it is now, read again from its files; `None` if it has
    /// been removed. An error is one reading its files hit (EMFILE, EIO):
    /// the caller must not take the old status for the new.
    pub fn refresh(&self, store: &Store) -> io::Result<Option<Job>> {
        find(store, self.id())
    }

    /// The command line, quoted and escaped for a terminal.
    pub fn command_line(&self) -> String {
        let mut out = String::new();
        self.push_command_line(&mut out);
        out
    }

    /// `runs`' cells for the job, escaped and tab-separated: the detail
    /// (`exit 2` or `SIGTERM` and what it cost, `pid 123` or `-`, and `(old)` for the
    /// original's jobs), how long it ran or has been running (`-` if
    /// unknown), and the command line.
    pub fn push_cells(&self, out: &mut String, now: f64) {
        let record = &self.record;
        match (record.end_detail(), self.status, record.pid) {
            (Some(detail), _, _) => {
                crate::quote::push_escaped(out, &detail);
                if let Some(cost) = record.cost() {
                    let _ = write!(out, ", {cost}");
                }
            }
            (None, Status::Running | Status::Stopped | Status::Ended, Some(pid)) => {
                let _ = write!(out, "pid {pid}");
                // Not this one's to `kill`: a container's.
                if crate::store::foreign(record) {
                    out.push_str(" (another pid namespace)");
                }
            }
            (None, Status::Unknown, _) if self.recorded => {
                out.push_str("on ");
                crate::quote::push_escaped(out, &record.host);
            }
            (None, Status::Waiting, _) => {
                // A few of them: the column is as wide as its widest cell.
                let ids: Vec<&String> = record.after.iter().chain(&record.after_ok).collect();
                let shown = if ids.len() > 3 { 2 } else { ids.len() };
                out.push_str("after ");
                for (i, id) in ids[..shown].iter().enumerate() {
                    out.push_str(if i > 0 { "," } else { "" });
                    crate::quote::push_escaped(out, id);
                }
                if ids.len() > shown {
                    let _ = write!(out, " +{} more", ids.len() - shown);
                }
            }
            _ => out.push('-'),
        }
        if self.legacy {
            out.push_str(" (old)");
        }
        out.push('\t');
        let seconds = match (record.duration, self.status) {
            // One that never began (skipped, cancelled while waiting) never
            // ran: its duration is how long it waited.
            (Some(_), _) if self.recorded && record.pid.is_none() => None,
            (Some(d), _) => Some(d),
            (None, Status::Running | Status::Stopped) if record.started > 0.0 => {
                Some(crate::store::running_for(record, now))
            }
            _ => None,
        };
        match seconds.and_then(crate::time::seconds) {
            Some(d) => crate::time::push_duration(out, d),
            None => out.push('-'),
        }
        out.push('\t');
        self.push_command_line(out);
    }

    /// `command_line`, onto the end of `out`.
    pub fn push_command_line(&self, out: &mut String) {
        if !self.recorded {
            // Taken whole from a log header: show it as it was, defused.
            let header = self.record.command.first().map_or("", |c| c.as_str());
            crate::quote::push_escaped(out, header);
        } else {
            crate::quote::push_join(out, &self.record.command);
        }
    }
}

const HAS_RECORD: u8 = 1;
const HAS_LOG: u8 = 2;
const HAS_PID: u8 = 4;

/// The jobs in the store whose status `want` accepts, oldest first, each
/// with its record; none if there is no state directory. The index vouches
/// for a finished job's status, so a record is parsed only if it is wanted.
pub fn list(store: Option<&Store>, want: fn(Status) -> bool) -> Result<Vec<Job>> {
    let Some(store) = store else {
        return Ok(Vec::new());
    };
    let mut index = String::new();
    let scan = scan(store, &mut index)?;
    // Other commands than `runs` list to find jobs, not to report on them.
    let mut problems = scan.problems;
    let jobs = scan
        .entries
        .into_iter()
        .filter(|entry| want(entry.status()))
        .filter_map(|entry| match entry {
            Entry::Read(job, ..) => Some(*job),
            Entry::Indexed(entry) => entry.job().or_else(|| {
                let id = entry.id.to_string();
                load(store, id, entry.bits, &mut Vec::new(), &mut problems)
                    .ok()
                    .flatten()
                    .map(|(job, _)| job)
            }),
        })
        .collect();
    Ok(jobs)
}

/// `sys::scan_dir`, where a file system gives no types (`DT_UNKNOWN`) with
/// each entry's type from `lstat`, so that its inode can still vouch for
/// an index entry. (Reading the entries with getdents64, 64 KiB at a time,
/// lists 10,000 jobs 10-18% faster than std's `read_dir`, measured.)
fn scan_dir(dir: &Path, mut each: impl FnMut(&[u8], u64, u8)) -> io::Result<()> {
    crate::sys::scan_dir(dir, |name, ino, kind| {
        let kind = match kind {
            libc::DT_UNKNOWN => {
                match std::fs::symlink_metadata(dir.join(OsStr::from_bytes(name))) {
                    Ok(m) if m.is_file() => libc::DT_REG,
                    Ok(m) if m.is_dir() => libc::DT_DIR,
                    _ => libc::DT_UNKNOWN,
                }
            }
            kind => kind,
        };
        each(name, ino, kind)
    })
}

/// The ids of the store's jobs, oldest first, from the directory's names
/// alone: no record is opened.
pub fn ids(store: &Store) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    scan_dir(store.dir(), |name, _, _| {
        if let Some((len, _)) = split_name(name)
            && let Ok(id) = std::str::from_utf8(&name[..len])
            && let Some((stamp, n, _)) = parse_stamp(id)
        {
            ids.push(((stamp, n), id.to_string()));
        }
    })
    .map_err(|e| Error::io("cannot read state directory", store.dir(), e))?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// The jobs `references` name (see `resolve`), each read from its files
/// and given once: all of them, or the first reference's error.
pub fn select(store: Option<&Store>, references: &[OsString]) -> Result<Vec<Job>> {
    let ids = store.map(ids).transpose()?.unwrap_or_default();
    let mut jobs: Vec<Job> = Vec::new();
    for reference in references {
        let id = resolve(&ids, &reference.to_string_lossy())?;
        if jobs.iter().any(|j| j.id() == id) {
            continue;
        }
        // An id was found, so there is a store; a job removed since the
        // directory was read matches nothing.
        let found = match store {
            Some(store) => find(store, id)
                .map_err(|e| Error::io("cannot read job", &store.path(id, RECORD), e))?,
            None => None,
        };
        jobs.push(found.ok_or_else(|| no_match(id))?);
    }
    Ok(jobs)
}

/// One job, read afresh from its files; `None` if it has none any more.
pub fn find(store: &Store, id: &str) -> io::Result<Option<Job>> {
    let mut bits = 0;
    for (suffix, bit) in [(RECORD, HAS_RECORD), (LOG, HAS_LOG), (PID, HAS_PID)] {
        match std::fs::symlink_metadata(store.path(id, suffix)) {
            Ok(_) => bits |= bit,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if bits == 0 {
        return Ok(None);
    }
    Ok(load(
        store,
        id.to_string(),
        bits,
        &mut Vec::new(),
        &mut Vec::new(),
    )?
    .map(|(job, _)| job))
}

/// One job of a listing, as it was found.
pub enum Entry<'i> {
    /// A finished job, as the index holds it.
    Indexed(Indexed<'i>),
    /// A job read from its files, with the key of its record (if it has an
    /// end) and the inode of its log.
    Read(Box<Job>, Option<FileKey>, u64),
}

/// A line of the index, tab-separated:
/// `ID RECORD-INODE LOG-INODE STATUS STARTED DETAIL DURATION COMMAND JSON CHECK`.
/// The three cells are `runs`' columns, escaped (see `Job::push_cells`); the
/// JSON is the record as `runs --json` prints it; CHECK is the FNV-1a hash
/// of all that comes before it, in hex, so that a line cut short or damaged
/// is never believed. No field holds a tab or a newline: ids with control
/// characters are never indexed, and the cells and the JSON escape them.
pub struct Indexed<'i> {
    id: &'i str,
    record: FileKey,
    log: u64,
    /// Whether a later job may take its id: see `id_may_recur`.
    risky: bool,
    status: Status,
    started: f64,
    /// Detail, duration and command, tab-separated.
    cells: &'i str,
    json: &'i str,
    line: &'i str,
    /// The job's files (`HAS_*`), once the directory has vouched for it.
    bits: u8,
}

impl<'i> Indexed<'i> {
    fn parse(line: &'i str) -> Option<Indexed<'i>> {
        let (fields, check) = line.rsplit_once('\t')?;
        if u64::from_str_radix(check, 16).ok()? != checksum(fields) {
            return None;
        }
        // Where the first eight fields end; the JSON runs to the checksum.
        let mut tabs = [0; 8];
        let mut at = 0;
        for tab in &mut tabs {
            at += fields.as_bytes()[at..].iter().position(|&b| b == b'\t')?;
            *tab = at;
            at += 1;
        }
        let field = |n: usize| &fields[if n == 0 { 0 } else { tabs[n - 1] + 1 }..tabs[n]];
        // The record's key: inode, size, time written (ns), and `risky`.
        let mut key = field(1).split(':');
        // The cells were escaped when they were written: an entry whose
        // cells hold a control character was not written by `run`. (The id
        // is escaped when it is shown; the other fields must parse.)
        if (5..8).any(|n| has_control(field(n))) {
            return None;
        }
        Some(Indexed {
            id: field(0),
            record: FileKey {
                inode: key.next()?.parse().ok()?,
                size: key.next()?.parse().ok()?,
                written: key.next()?.parse().ok()?,
            },
            risky: match key.next()? {
                "0" => false,
                "1" => true,
                _ => return None,
            },
            log: field(2).parse().ok()?,
            status: Status::from_word(field(3)).filter(|s| s.is_finished())?,
            started: field(4).parse().ok()?,
            cells: &fields[tabs[4] + 1..tabs[7]],
            json: &fields[tabs[7] + 1..],
            line,
            bits: 0,
        })
    }

    /// Whether a later job may have this one's id, and with it the inode
    /// numbers its removed files had: a job removed by hand (not by runrm,
    /// which drops its line), and another of its name started in the same
    /// local second, after it ended (`id_may_recur`, judged when the line
    /// was written). Only then is its record looked at (a `stat`): its size
    /// and time tell the two apart.
    fn id_may_be_taken(&self) -> bool {
        self.risky
    }

    /// The job, its record parsed from the index.
    fn job(&self) -> Option<Job> {
        let mut record = Record::from_json(self.json).filter(|r| r.ended.is_some())?;
        record.id = self.id.to_string();
        let status = record.recorded_status();
        Some(Job {
            record,
            status,
            legacy: false,
            recorded: true,
        })
    }
}

/// FNV-1a, 64 bits: cheap, and enough to tell a damaged line.
fn checksum(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Entry<'_> {
    pub fn id(&self) -> &str {
        match self {
            Entry::Indexed(entry) => entry.id,
            Entry::Read(job, ..) => job.id(),
        }
    }

    pub fn status(&self) -> Status {
        match self {
            Entry::Indexed(entry) => entry.status,
            Entry::Read(job, ..) => job.status,
        }
    }

    /// The queue the job was started in, if any.
    pub fn queue(&self) -> Option<String> {
        match self {
            Entry::Indexed(entry) => Record::from_json(entry.json)?.queue,
            Entry::Read(job, ..) => job.record.queue.clone(),
        }
    }

    pub fn started(&self) -> f64 {
        match self {
            Entry::Indexed(entry) => entry.started,
            Entry::Read(job, ..) => job.record.started,
        }
    }

    /// `Job::push_cells`, from the index if it has them.
    pub fn push_cells(&self, out: &mut String, now: f64) {
        match self {
            Entry::Indexed(entry) => out.push_str(entry.cells),
            Entry::Read(job, ..) => job.push_cells(out, now),
        }
    }

    /// The record as `runs --json` prints it.
    pub fn push_json(&self, out: &mut String) {
        match self {
            // `run` wrote it with every control character escaped, and the
            // checksum vouches that it is what `run` wrote.
            Entry::Indexed(entry) => out.push_str(entry.json),
            Entry::Read(job, ..) => out.push_str(&job.record.to_json(job.status)),
        }
    }

    /// Whether a job read from its files can go in the index: it has a
    /// record (a regular file) with an end, and a plain id.
    fn indexable(&self) -> bool {
        let Entry::Read(job, record, _) = self else {
            return false;
        };
        let plain = !job.id().contains(|c: char| c == ' ' || c.is_control());
        job.recorded && job.record.ended.is_some() && record.is_some() && plain
    }

    /// The entry's line of the index, `Indexed::parse`'s inverse.
    fn push_index_line(&self, out: &mut String) {
        match self {
            Entry::Indexed(entry) => out.push_str(entry.line),
            // Only an entry with an end has a key, and only those are written.
            Entry::Read(_, None, _) => return,
            Entry::Read(job, Some(key), log) => {
                let start = out.len();
                let status = job.status.word();
                let started = job.record.started;
                let FileKey {
                    inode,
                    size,
                    written,
                } = key;
                let offset = |t: f64| {
                    let at = std::time::UNIX_EPOCH + crate::time::seconds(t).unwrap_or_default();
                    crate::time::local(at).offset
                };
                let risky = id_may_recur(started, *written as f64 / 1e9, offset) as u8;
                let _ = write!(
                    out,
                    "{}\t{inode}:{size}:{written}:{risky}\t{log}\t{status}\t{started}\t",
                    job.id(),
                );
                job.push_cells(out, started);
                out.push('\t');
                out.push_str(&job.record.to_json(job.status));
                let check = checksum(&out[start..]);
                let _ = write!(out, "\t{check:x}");
            }
        }
        out.push('\n');
    }
}

pub struct Scan<'i> {
    /// Oldest first.
    pub entries: Vec<Entry<'i>>,
    /// One line for each thing in the directory that is not quite right.
    pub problems: Vec<String>,
}

/// Every job in the store, oldest first, taken from the index (read into
/// `index`) where it can be, and the index rewritten if it was not all true.
///
/// A finished job's record never changes: it is only ever replaced by
/// `rename`, which gives it a new inode. So the index keeps each finished job
/// under its id and the inode numbers of its record and log, and an entry is
/// believed only while the directory listing shows the same id with the same
/// two inode numbers, both regular files (and, if another job may have its
/// id, the record the same size and time: see `Indexed::id_may_be_taken`).
/// The listing then needs no `open` and no parsing per finished job (and a
/// `stat` only for those few); everything else is read from its files,
/// as is any job the index is wrong about. The directory's shared lock is
/// held from reading the index to writing it, so that no removal (which
/// takes it exclusively) falls in between.
pub fn scan<'i>(store: &Store, index: &'i mut String) -> Result<Scan<'i>> {
    let _lock = store.lock(false)?;
    *index = store.read_index();
    let index: &'i str = index;
    let mut lines = 0;
    let indexed: Vec<Indexed> = index
        .split_terminator('\n')
        .inspect(|_| lines += 1)
        .filter_map(Indexed::parse)
        .collect();
    // Each job's files: which kinds there are, and the inode of each kind by
    // its bit number. The index's jobs come first, in its order.
    let mut files: Vec<(u8, [u64; 3])> = vec![(0, [0; 3]); indexed.len()];
    let mut known: HashMap<&[u8], usize> = HashMap::with_capacity(indexed.len());
    for (slot, entry) in indexed.iter().enumerate() {
        known.insert(entry.id.as_bytes(), slot);
    }
    let mut others: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    scan_dir(store.dir(), |name, ino, kind| {
        if name.first() == Some(&b'.') {
            return store.clear_debris(name);
        }
        let Some((id_len, bit)) = split_name(name) else {
            return;
        };
        let id = &name[..id_len];
        let shown = || crate::quote::escape(&String::from_utf8_lossy(name));
        if kind == libc::DT_DIR {
            let problem = format!("{}: a directory named like a job file; ignored", shown());
            return problems.push(problem);
        }
        let slot = match known.get(id) {
            Some(&slot) => slot,
            None => {
                let Ok(id) = std::str::from_utf8(id) else {
                    let problem =
                        format!("{}: a job file whose name is not UTF-8; ignored", shown());
                    return problems.push(problem);
                };
                match others.get(id) {
                    Some(&slot) => slot,
                    None => {
                        others.insert(id.to_string(), files.len());
                        files.push((0, [0; 3]));
                        files.len() - 1
                    }
                }
            }
        };
        let (bits, inodes) = &mut files[slot];
        *bits |= bit;
        // Only a regular file's inode can vouch for an index entry.
        inodes[bit.trailing_zeros() as usize] = if kind == libc::DT_REG { ino } else { 0 };
    })
    .map_err(|e| Error::io("cannot read state directory", store.dir(), e))?;
    // Each entry with the stamp of its id, (0, 0) if it has none.
    let mut keyed: Vec<((u64, u32), Entry)> = Vec::with_capacity(files.len());
    let mut push = |entry: Entry<'i>| {
        let stamp = parse_stamp(entry.id()).map_or((0, 0), |(t, n, _)| (t, n));
        keyed.push((stamp, entry));
    };
    let mut buf = Vec::new();
    let mut read = |id: String, (bits, inodes): (u8, [u64; 3]), problems: &mut Vec<String>| {
        // The record's key is the one of the file its end was read from:
        // a job that ended since the directory was read has a new record,
        // and the inode the directory showed must not vouch for it.
        let (job, record) = match load(store, id.clone(), bits, &mut buf, problems) {
            Ok(found) => found?,
            Err(e) => {
                problems.push(format!(
                    "{}{RECORD}: cannot read record: {}; listed from its other files",
                    crate::quote::escape(&id),
                    crate::error::describe(&e)
                ));
                (from_files(store, id, bits & !HAS_RECORD)?, None)
            }
        };
        Some(Entry::Read(Box::new(job), record, inodes[1]))
    };
    let mut believed = 0;
    for (mut entry, (bits, inodes)) in indexed.into_iter().zip(&files) {
        if bits & HAS_RECORD != 0
            && [entry.record.inode, entry.log] == [inodes[0], inodes[1]]
            && (!entry.id_may_be_taken() || store.record_key(entry.id) == Some(entry.record))
        {
            entry.bits = *bits;
            believed += 1;
            push(Entry::Indexed(entry));
        } else if *bits != 0
            && let Some(entry) = read(entry.id.to_string(), (*bits, *inodes), &mut problems)
        {
            push(entry);
        }
    }
    for (id, slot) in others {
        if let Some(entry) = read(id, files[slot], &mut problems) {
            push(entry);
        }
    }
    // In the order the jobs started; the stamps of their ids, then the ids,
    // order jobs that started at the same time.
    keyed.sort_by(|a, b| {
        let started = a.1.started().total_cmp(&b.1.started());
        started
            .then(a.0.cmp(&b.0))
            .then_with(|| a.1.id().cmp(b.1.id()))
    });
    let entries: Vec<Entry> = keyed.into_iter().map(|(_, e)| e).collect();
    if believed != lines || entries.iter().any(Entry::indexable) {
        let mut text = String::with_capacity(index.len() + 4096);
        for entry in entries
            .iter()
            .filter(|e| matches!(e, Entry::Indexed(_)) || e.indexable())
        {
            entry.push_index_line(&mut text);
        }
        store.write_index(&text);
    }
    Ok(Scan { entries, problems })
}

/// Drop removed jobs from the index: their ids may come again, on files
/// that reuse the removed ones' inode numbers, and a line of theirs must not
/// vouch for a new job. If the index can't be rewritten, it goes. The
/// caller holds the directory's lock exclusively, from the removal on.
pub fn unindex(store: &Store, ids: &[&str]) {
    let ids: HashSet<&[u8]> = ids.iter().map(|id| id.as_bytes()).collect();
    let index = store.read_index();
    let kept: String = index
        .split_inclusive('\n')
        .filter(|line| !ids.contains(line.split('\t').next().unwrap_or_default().as_bytes()))
        .collect();
    if kept.is_empty() || (kept.len() != index.len() && !store.write_index(&kept)) {
        store.forget_index();
    }
}

fn has_control(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == 0x7f)
        || (!text.is_ascii() && text.chars().any(char::is_control))
}

/// The ids and names of the jobs, for shell completion: from the directory
/// listing alone, so a Tab never waits on reading thousands of records.
/// With `running`, only the running jobs', which takes their records.
pub fn completions(store: Option<&Store>, running: bool) -> Result<Vec<String>> {
    let mut words: Vec<String> = match (store, running) {
        (_, true) => {
            let alive = list(store, |s| !s.is_finished())?;
            alive.into_iter().map(|j| j.record.id).collect()
        }
        (Some(store), false) => ids(store).unwrap_or_default(),
        (None, false) => Vec::new(),
    };
    let names: Vec<String> = words
        .iter()
        .filter_map(|id| parse_stamp(id).map(|(_, _, name)| name.to_string()))
        .collect();
    words.extend(names);
    words.sort_unstable();
    words.dedup();
    Ok(words)
}

/// `x_20251205_163539.json` → (length of `x_20251205_163539`, HAS_RECORD).
/// Only names shaped like a job's files count: `NAME_YYYYmmdd_HHMMSS[_N]`
/// and a job file's suffix, with a NAME that is not hidden. Anything else in
/// the directory is never listed, opened, changed or removed.
fn split_name(name: &[u8]) -> Option<(usize, u8)> {
    // The suffixes end in different letters.
    let (suffix, bit) = match name.last()? {
        b'n' => (RECORD, HAS_RECORD),
        b'g' => (LOG, HAS_LOG),
        b'd' => (PID, HAS_PID),
        _ => return None,
    };
    let id = name.strip_suffix(suffix.as_bytes())?;
    is_job_id(id).then_some((id.len(), bit))
}

/// The job, read from its files, and the key of the record its end was
/// read from (none if none: see `Store::read_record_with`). `None` if its
/// files went away meanwhile: a launch that did not start, or a removal.
/// A damaged record is one of `problems`, and the job is made up from its
/// other files; an error reading the record is the caller's to report.
fn load(
    store: &Store,
    id: String,
    bits: u8,
    buf: &mut Vec<u8>,
    problems: &mut Vec<String>,
) -> io::Result<Option<(Job, Option<FileKey>)>> {
    let found = load_once(store, id.clone(), bits, buf, problems)?;
    // No record, and no lock: but the record may have been written, and
    // the lock let go, between the look for the record and the probe of
    // the lock (a short job that started and ended meanwhile). A job lets go
    // of its lock only after its record is in place, so one more look after
    // the probe tells a finished job from one that left no record.
    match &found {
        Some((job, _)) if job.status == Status::Unknown => {
            let mut ignored = Vec::new();
            load_once(store, id, bits, buf, &mut ignored).or(Ok(found))
        }
        _ => Ok(found),
    }
}

fn load_once(
    store: &Store,
    id: String,
    bits: u8,
    buf: &mut Vec<u8>,
    problems: &mut Vec<String>,
) -> io::Result<Option<(Job, Option<FileKey>)>> {
    // A job seen without a record may be a starting one that has written it
    // since: look anyway (for the rare jobs without one, one failed open).
    match store.read_record_with(&id, buf) {
        Ok((Some(mut record), key)) => {
            // The file name is the id that every command keys on.
            record.id = id.clone();
            match store.status(record)? {
                Some((record, status)) => {
                    let job = Job {
                        record,
                        status,
                        legacy: false,
                        recorded: true,
                    };
                    return Ok(Some((job, key)));
                }
                None => return Ok(from_files(store, id, bits & !HAS_RECORD).map(|j| (j, None))),
            }
        }
        Ok((None, _)) => problems.push(format!(
            "{}{RECORD}: damaged record; listed from its other files",
            crate::quote::escape(&id)
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if bits & HAS_RECORD != 0 => return Err(e),
        Err(_) => {}
    }
    Ok(from_files(store, id, bits).map(|job| (job, None)))
}

/// A job known only by its log and pid file: one of the original shell
/// version, or one whose record is damaged or not written yet. `None` if
/// none of its files is left.
fn from_files(store: &Store, id: String, bits: u8) -> Option<Job> {
    let has = |suffix| std::fs::symlink_metadata(store.path(&id, suffix)).is_ok();
    let (log, pid_file) = (has(LOG), has(PID));
    if !log && !pid_file && !has(RECORD) {
        return None;
    }
    let started = parse_stamp(&id).and_then(|(stamp, _, _)| stamp_to_unix(stamp));
    let pid = pid_file
        .then(|| read_small(store, &id, PID))
        .flatten()
        .and_then(|text| text.trim().parse::<i32>().ok());
    // The log header's command line, as one word; none if it has none.
    let command = read_small(store, &id, LOG)
        .and_then(|text| Some(text.lines().next()?.strip_prefix("$ ")?.to_string()));
    // A pid file with no record is the original's job; unless the record is
    // there now: a starting job writes it before its pid file, so one that
    // started (and maybe ended) since it was looked for has both.
    let legacy = pid_file && bits & HAS_RECORD == 0 && !has(RECORD);
    let status = if store.is_locked(&id) {
        Status::Running
    } else if legacy {
        // No lock was ever taken: the best that can be known is whether that
        // pid lives and started no later than the job did.
        let alive = pid.is_some_and(|p| {
            crate::sys::process_exists(p)
                && crate::sys::process(p)
                    .ok()
                    .flatten()
                    .zip(crate::sys::boot_time())
                    .is_none_or(|(p, boot)| {
                        boot + p.since_boot <= started.unwrap_or(f64::MAX) + 2.0
                    })
        });
        if alive {
            Status::Running
        } else {
            Status::Ended
        }
    } else {
        Status::Unknown
    };
    Some(Job {
        record: Record {
            log: store.path(&id, LOG).to_string_lossy().into_owned(),
            pid,
            status,
            ..Record::new(
                id.clone(),
                parse_stamp(&id).map_or("", |(_, _, name)| name).to_string(),
                command.into_iter().collect(),
                started.unwrap_or(0.0),
            )
        },
        status,
        legacy,
        recorded: false,
    })
}

/// The first 4 KiB of a job file, as text.
fn read_small(store: &Store, id: &str, suffix: &str) -> Option<String> {
    let mut buf = Vec::with_capacity(4096);
    open_read(&store.path(id, suffix))
        .ok()?
        .take(4096)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn stamp_to_unix(stamp: u64) -> Option<f64> {
    let field = |div: u64, modulo: u64| (stamp / div % modulo) as u32;
    let local = crate::sys::LocalTime {
        year: (stamp / 10_000_000_000) as i32,
        month: field(100_000_000, 100),
        day: field(1_000_000, 100),
        hour: field(10_000, 100),
        minute: field(100, 100),
        second: field(1, 100),
        offset: 0,
    };
    crate::sys::unix_from_local(&local).map(|s| s as f64)
}

/// Find the one job `reference` means among `ids` (oldest first): an exact
/// id, else the newest job with that name, else a unique id prefix.
pub fn resolve<'a>(ids: &'a [String], reference: &str) -> Result<&'a str> {
    if reference.is_empty() {
        return Err(Error::usage("empty job reference"));
    }
    if let Some(id) = ids.iter().find(|id| *id == reference) {
        return Ok(id);
    }
    let by_name = ids
        .iter()
        .rev()
        .find(|id| parse_stamp(id).is_some_and(|(_, _, name)| name == reference));
    let by_prefix: Vec<&String> = ids.iter().filter(|id| id.starts_with(reference)).collect();
    match (by_name, by_prefix.as_slice()) {
        (Some(id), _) | (None, &[id]) => Ok(id),
        (None, []) => Err(no_match(reference)),
        (None, many) => {
            // One line: the first few candidates, and how many more.
            let named: Vec<String> = many
                .iter()
                .take(3)
                .map(|id| crate::quote::escape(id))
                .collect();
            let more = match many.len() - named.len() {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            Err(Error::new(
                code::FAILURE,
                format!(
                    "{} matches {} jobs: {}{more}; give more of the id",
                    crate::quote::shell_quote(reference.as_bytes()),
                    many.len(),
                    named.join(", ")
                ),
            ))
        }
    }
}

fn no_match(reference: &str) -> Error {
    let shown = crate::quote::shell_quote(reference.as_bytes());
    Error::new(code::FAILURE, format!("no job matches {shown}"))
}

/// Whether a later job may get the id of one that started at `started` and
/// whose record was written at `ended` (Unix seconds): only one started in
/// the same local second, after that. The second comes again only while it
/// lasts, or where local time goes back after it (`offset`, seconds east of
/// UTC at a moment, drops: the end of summer time gives an hour's ids
/// twice). A step back of the wall clock is not foreseen.
fn id_may_recur(started: f64, ended: f64, offset: impl Fn(f64) -> i64) -> bool {
    let back = (offset(started) - offset(started + 7200.0)).max(0);
    ended < started + 2.0 + back as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A later job can take an id only in the second it was made, or in
    /// the hour that comes again where local time goes back after it.
    #[test]
    fn an_id_may_recur_only_in_its_second_or_a_repeated_hour() {
        let start = 1_800_000_000.5;
        let summer = |t: f64| if t < start + 600.0 { 7200 } else { 3600 };
        let still = |_: f64| 3600;
        // The same offset all along: only a job that ended in its second.
        assert!(id_may_recur(start, start + 0.2, still));
        assert!(id_may_recur(start, start + 1.9, still));
        assert!(!id_may_recur(start, start + 2.0, still));
        assert!(!id_may_recur(start, start + 900.0, still));
        // Summer time ends ten minutes after it started: its second comes
        // again an hour later, so any job that ended before that may lose
        // its id to a new one.
        assert!(id_may_recur(start, start + 900.0, summer));
        assert!(id_may_recur(start, start + 3601.0, summer));
        assert!(!id_may_recur(start, start + 3602.0, summer));
        // Local time going forward (the start of summer time) repeats no id.
        let spring = |t: f64| if t < start + 600.0 { 3600 } else { 7200 };
        assert!(!id_may_recur(start, start + 900.0, spring));
    }

    /// A job seen by its log alone, whose record and pid file came since
    /// (and whose process is gone) is never made up as one of the
    /// original's (`ended`): its record is there to be read again.
    #[test]
    fn a_job_with_a_record_is_never_taken_for_the_originals() {
        let dir = std::env::temp_dir().join(format!("run-jobs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let id = "true_20251205_163539";
        let file =
            |suffix: &str, text: &str| std::fs::write(dir.join(format!("{id}{suffix}")), text);
        file(LOG, "$ true\n---\n").unwrap();
        file(PID, "999999999\n").unwrap();
        let store = Store::at(dir.clone());
        let legacy = from_files(&store, id.to_string(), HAS_LOG).unwrap();
        file(RECORD, "{}").unwrap();
        let job = from_files(&store, id.to_string(), HAS_LOG).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(legacy.legacy && legacy.status == Status::Ended);
        assert!(!job.legacy, "taken for the original's job");
        assert_eq!(job.status, Status::Unknown);
    }

    #[test]
    fn job_file_names_split() {
        assert_eq!(
            split_name(b"x_20251205_163539.json"),
            Some((17, HAS_RECORD))
        );
        assert_eq!(split_name(b"x.log"), None);
        assert_eq!(split_name(b"package.json"), None);
        assert_eq!(split_name(b"_20251205_163539.log"), None);
        assert_eq!(split_name(b".x_20251205_163539.log"), None);
        assert_eq!(split_name(b"x_20251205_163539_2.pid"), Some((19, HAS_PID)));
        assert_eq!(split_name(b".x.json.tmp"), None);
        assert_eq!(split_name(b".log"), None);
        assert_eq!(split_name(b"notes.txt"), None);
    }
}
