//! The jobs in the store: listing them oldest first, with their true status,
//! and resolving a reference (id, unique id prefix, or name) to one job.
//!
//! Rule: a damaged state directory never hides a job. Every job is listed, or
//! reported once as a problem; nothing found on disk makes this panic or
//! block. Paths always come from the id, never from a record's contents.

use crate::error::{Error, Result, code};
use crate::record::{Record, Status};
use crate::store::{LOG, PID, RECORD, Store, open_read};
use std::fmt::Write;
use std::io::Read;

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

    /// The exit status that stands for how the job ended: 0 for done, its
    /// exit code for failed, 128+N for killed by signal N, 1 for lost; 0
    /// while it runs or when nothing better is known.
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
            Status::Lost => 1,
            Status::Running | Status::Ended | Status::Unknown => 0,
        }
    }

    /// `build_20251205_163539: failed (exit 2) after 3m 12s`.
    pub fn outcome(&self) -> String {
        let record = &self.record;
        let detail = match (&record.signal, record.exit_code) {
            (Some(signal), _) => signal.clone(),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "no end recorded".to_string(),
        };
        let took = record.duration.map_or(String::new(), |d| {
            format!(
                " after {}",
                crate::time::duration(std::time::Duration::from_secs_f64(d.max(0.0)))
            )
        });
        format!(
            "{}: {} ({detail}){took}",
            crate::quote::escape(self.id()),
            self.status.word()
        )
    }

    /// The job as it is now: its record re-read, its status decided again.
    pub fn refresh(&self, store: &Store) -> Job {
        match store.read_record(self.id()) {
            Ok(Some(mut record)) if self.recorded => {
                record.id = self.id().to_string();
                let (record, status) = store.status(record);
                Job {
                    record,
                    status,
                    legacy: false,
                    recorded: true,
                }
            }
            _ => Job {
                record: self.record.clone(),
                status: self.status,
                legacy: self.legacy,
                recorded: self.recorded,
            },
        }
    }

    /// The command line, quoted and escaped for a terminal.
    pub fn command_line(&self) -> String {
        let mut out = String::new();
        self.push_command_line(&mut out);
        out
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

/// A map keyed by job ids, with FNV-1a hashing: ids come from our own
/// directory, so there is no one to defend against, and SipHash costs a
/// listing of 10,000 jobs more than reading their index does.
type HashMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub struct Listing {
    pub jobs: Vec<Job>,
    /// One line for each thing in the directory that is not quite right.
    pub problems: Vec<String>,
}

const HAS_RECORD: u8 = 1;
const HAS_LOG: u8 = 2;
const HAS_PID: u8 = 4;

/// Every job in the store, oldest first.
///
/// A finished job's record never changes: it is only ever replaced by
/// `rename`, which gives it a new inode. So the index (`.index`) keeps each
/// finished record under its id and the inode numbers of its record and log,
/// and an entry is used only while the directory listing shows the same id
/// with the same two inode numbers. The listing then needs no `open` per
/// finished job; everything else is read from its files, as is any job the
/// index is wrong about.
pub fn list(store: &Store) -> Result<Listing> {
    let index = store.read_index();
    // Each job's files: which kinds there are, and the inode of each kind by
    // its bit number. Sized from the index, which holds about as many jobs
    // as the last listing did.
    let mut by_id: HashMap<String, (u8, [u64; 3])> =
        HashMap::with_capacity_and_hasher(index.len() / 256 + 64, Default::default());
    let mut problems = Vec::new();
    crate::sys::scan_dir(store.dir(), |name, ino, kind| {
        let Ok(name) = std::str::from_utf8(name) else {
            return;
        };
        let Some((id_len, bit)) = split_name(name) else {
            return;
        };
        if kind == libc::DT_DIR {
            problems.push(format!(
                "{}: a directory named like a job file; ignored",
                crate::quote::escape(name)
            ));
            return;
        }
        let id = &name[..id_len];
        let (bits, inodes) = match by_id.get_mut(id) {
            Some(files) => files,
            None => by_id.entry(id.to_string()).or_default(),
        };
        *bits |= bit;
        // Only a regular file's inode can vouch for an index entry.
        inodes[bit.trailing_zeros() as usize] = if kind == libc::DT_REG { ino } else { 0 };
    })
    .map_err(|e| Error::io("cannot read state directory", store.dir(), e))?;
    // In the order the ids were stamped.
    let mut found: Vec<(u64, u32, String, u8, [u64; 3])> = by_id
        .into_iter()
        .map(|(id, (bits, ino))| {
            let (stamp, suffix) = parse_stamp(&id).map_or((0, 0), |(t, n, _)| (t, n));
            (stamp, suffix, id, bits, ino)
        })
        .collect();
    found.sort_unstable();
    let indexed = index_entries(&index);
    let mut jobs: Vec<Job> = Vec::with_capacity(found.len());
    // The inodes of each job's record and log, for the index.
    let mut inodes: Vec<[u64; 2]> = Vec::with_capacity(found.len());
    let mut used = 0;
    let mut buf = Vec::new();
    for (_, _, id, bits, ino) in found {
        let these = [ino[0], ino[1]];
        let cached = indexed
            .get(id.as_str())
            .filter(|(known, _)| *known == these && these[0] != 0)
            .and_then(|(_, json)| Record::from_json(json))
            .filter(|record| record.ended.is_some());
        jobs.push(match cached {
            Some(mut record) => {
                used += 1;
                record.id = id;
                let status = record.recorded_status();
                Job {
                    record,
                    status,
                    legacy: false,
                    recorded: true,
                }
            }
            None => load(store, id, bits, &mut buf, &mut problems),
        });
        inodes.push(these);
    }
    let finished = |job: &Job, these: &[u64; 2]| {
        let plain = !job.id().contains(|c: char| c == ' ' || c.is_control());
        job.recorded && job.record.ended.is_some() && these[0] != 0 && plain
    };
    let indexable = jobs
        .iter()
        .zip(&inodes)
        .filter(|(j, i)| finished(j, i))
        .count();
    if used != indexable || used != indexed.len() {
        let mut lines = String::new();
        for (job, these) in jobs.iter().zip(&inodes).filter(|(j, i)| finished(j, i)) {
            let json = job.record.to_json(job.status);
            let _ = writeln!(lines, "{} {} {} {json}", job.id(), these[0], these[1]);
        }
        store.write_index(&lines);
    }
    // Ids give the second; the records' start times order jobs within it.
    // The input is sorted but for such neighbours, so insertion is linear.
    for i in 1..jobs.len() {
        let mut j = i;
        while j > 0 && jobs[j - 1].record.started > jobs[j].record.started {
            jobs.swap(j - 1, j);
            j -= 1;
        }
    }
    Ok(Listing { jobs, problems })
}

/// The index's entries by id: the inodes of the record and log they copied,
/// and the record's JSON. Each line is `ID RECORD-INODE LOG-INODE {...}`.
fn index_entries(index: &str) -> HashMap<&str, ([u64; 2], &str)> {
    index
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, ' ');
            let id = fields.next()?;
            let record = fields.next()?.parse().ok()?;
            let log = fields.next()?.parse().ok()?;
            Some((id, ([record, log], fields.next()?)))
        })
        .collect()
}

/// The ids and names of the jobs, for shell completion: from the directory
/// listing alone, so a Tab never waits on reading thousands of records.
pub fn completions(store: &Store) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let _ = crate::sys::scan_dir(store.dir(), |name, _, _| {
        if let Ok(name) = std::str::from_utf8(name)
            && let Some((len, _)) = split_name(name)
        {
            words.push(name[..len].to_string());
        }
    });
    let names: Vec<String> = words
        .iter()
        .filter_map(|id| parse_stamp(id).map(|(_, _, name)| name.to_string()))
        .collect();
    words.extend(names);
    words.sort_unstable();
    words.dedup();
    words
}

/// `x_20251205_163539.json` → (length of `x_20251205_163539`, HAS_RECORD).
/// Hidden (temporary) files and foreign names are not job files.
fn split_name(name: &str) -> Option<(usize, u8)> {
    if name.starts_with('.') {
        return None;
    }
    [(RECORD, HAS_RECORD), (LOG, HAS_LOG), (PID, HAS_PID)]
        .into_iter()
        .find_map(|(suffix, bit)| Some((name.strip_suffix(suffix)?.len(), bit)))
        .filter(|&(len, _)| len > 0)
}

/// `build_20251205_163539_2` → (20251205163539, 2, "build").
pub fn parse_stamp(id: &str) -> Option<(u64, u32, &str)> {
    // `NAME_` + 8 digits + `_` + 6 digits, then maybe `_` and a suffix.
    let stamp_at = |end: usize| -> Option<(u64, &str)> {
        let b = id.as_bytes();
        let start = end.checked_sub(16)?;
        let shape = |i: usize| match i {
            0 | 9 => b[start + i] == b'_',
            _ => b[start + i].is_ascii_digit(),
        };
        if !(0..16).all(shape) {
            return None;
        }
        let digits = b[start + 1..end].iter().filter(|d| d.is_ascii_digit());
        let stamp = digits.fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        Some((stamp, &id[..start]))
    };
    if let Some((stamp, name)) = stamp_at(id.len()) {
        return Some((stamp, 1, name));
    }
    let (rest, suffix) = id.rsplit_once('_')?;
    let number = suffix
        .parse()
        .ok()
        .filter(|_| suffix.bytes().all(|d| d.is_ascii_digit()))?;
    stamp_at(rest.len()).map(|(stamp, name)| (stamp, number, name))
}

fn load(store: &Store, id: String, bits: u8, buf: &mut Vec<u8>, problems: &mut Vec<String>) -> Job {
    if bits & HAS_RECORD != 0 {
        match store.read_record_with(&id, buf) {
            Ok(Some(mut record)) => {
                // The file name is the id that every command keys on.
                record.id = id;
                let (record, status) = store.status(record);
                return Job {
                    record,
                    status,
                    legacy: false,
                    recorded: true,
                };
            }
            Ok(None) => problems.push(format!(
                "{}{RECORD}: damaged record; listed from its other files",
                crate::quote::escape(&id)
            )),
            Err(e) => problems.push(format!(
                "{}{RECORD}: cannot read record: {}; listed from its other files",
                crate::quote::escape(&id),
                crate::error::describe(&e)
            )),
        }
    }
    from_files(store, id, bits)
}

/// A job known only by its log and pid file: one of the original shell
/// version, or one whose record is damaged or not written yet.
fn from_files(store: &Store, id: String, bits: u8) -> Job {
    let started = parse_stamp(&id).and_then(|(stamp, _, _)| stamp_to_unix(stamp));
    let pid = (bits & HAS_PID != 0)
        .then(|| read_small(store, &id, PID))
        .flatten()
        .and_then(|text| text.trim().parse::<i32>().ok());
    let command = read_small(store, &id, LOG)
        .and_then(|text| Some(text.lines().next()?.strip_prefix("$ ")?.to_string()))
        .unwrap_or_default();
    let legacy = bits & HAS_PID != 0 && bits & HAS_RECORD == 0;
    let status = if store.is_locked(&id) {
        Status::Running
    } else if legacy {
        // No lock was ever taken: the best that can be known is whether that
        // pid lives and started no later than the job did.
        let alive = pid.is_some_and(|p| {
            crate::sys::process_exists(p)
                && crate::sys::process_start_time(p)
                    .is_none_or(|t| t <= started.unwrap_or(f64::MAX) + 2.0)
        });
        if alive {
            Status::Running
        } else {
            Status::Ended
        }
    } else {
        Status::Unknown
    };
    Job {
        record: Record {
            log: store.path(&id, LOG).to_string_lossy().into_owned(),
            name: String::new(),
            command: vec![command],
            cwd: String::new(),
            host: String::new(),
            pid,
            pgid: None,
            started: started.unwrap_or(0.0),
            ended: None,
            duration: None,
            exit_code: None,
            signal: None,
            status,
            topic: None,
            id,
        },
        status,
        legacy,
        recorded: false,
    }
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

/// The words left after a verb's options: its job references. One that
/// still looks like an option is an unknown option.
pub fn references(args: pico_args::Arguments, verb: &str) -> Result<Vec<std::ffi::OsString>> {
    let rest = args.finish();
    if let Some(arg) = rest.iter().find(|a| a.as_encoded_bytes().starts_with(b"-")) {
        let shown = crate::quote::shell_quote(arg.as_encoded_bytes());
        return Err(Error::usage(format!(
            "unknown option {shown} (see {verb} --help)"
        )));
    }
    Ok(rest)
}

/// Find the one job `reference` means: an exact id, else a unique id prefix,
/// else the newest job with that name.
pub fn resolve<'a>(jobs: &'a [Job], reference: &str) -> Result<&'a Job> {
    if reference.is_empty() {
        return Err(Error::usage("empty job reference"));
    }
    if let Some(job) = jobs.iter().find(|j| j.id() == reference) {
        return Ok(job);
    }
    let by_prefix: Vec<&Job> = jobs
        .iter()
        .filter(|j| j.id().starts_with(reference))
        .collect();
    let by_name = jobs
        .iter()
        .rev()
        .find(|j| parse_stamp(j.id()).is_some_and(|(_, _, name)| name == reference));
    match (by_name, by_prefix.as_slice()) {
        (Some(job), _) => Ok(job),
        (None, [job]) => Ok(job),
        (None, []) => Err(Error::new(
            code::FAILURE,
            format!(
                "no job matches {}",
                crate::quote::shell_quote(reference.as_bytes())
            ),
        )),
        (None, many) => {
            let mut message = format!(
                "{} matches {} jobs:",
                crate::quote::shell_quote(reference.as_bytes()),
                many.len()
            );
            for job in many {
                message.push_str("\n  ");
                message.push_str(&crate::quote::escape(job.id()));
            }
            Err(Error::new(code::FAILURE, message))
        }
    }
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
    }

    #[test]
    fn job_file_names_split() {
        assert_eq!(split_name("x_20251205_163539.json"), Some((17, HAS_RECORD)));
        assert_eq!(split_name("x.log"), Some((1, HAS_LOG)));
        assert_eq!(split_name(".x.json.tmp"), None);
        assert_eq!(split_name(".log"), None);
        assert_eq!(split_name("notes.txt"), None);
    }
}
