//! `runrm [OPTIONS] [JOB...]`: remove finished jobs.
//!
//! Rule: a running job is never removed. "Finished" is the job store's
//! status, checked again while runrm itself holds the job's lock, so no job
//! can start or run under it; a job's record goes last, so an interrupted
//! runrm leaves a job that `runs` still shows. A queue's file goes, under
//! its lock, only once nothing of the queue is left to follow.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Result, code};
use crate::jobs::{self, Job};
use crate::quote::escape;
use crate::record::Status;
use crate::store::{LOG, PID, RECORD, Store, open_read};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::time::{Duration, SystemTime};

const HELP: &str = "\
runrm - remove finished jobs (log, pid file and record)

Usage: runrm [OPTIONS] [JOB...]

Without JOB, every finished job (done, failed, killed, skipped, lost)
goes; files only named like a job (no record, and no log that begins
`$ COMMAND`) go only when named. JOB is an id, a unique id prefix, or a
name (the newest job of that name). Running jobs are never removed, even
when named. Selectors combine; all must hold.

Options:
      --older-than DURATION  only jobs that ended longer ago (90s, 12h, 7d)
      --failed               only failed, killed, lost and skipped jobs
      --keep N               keep the newest N of the jobs selected
      --dry-run              list what would go, remove nothing
  -h, --help                 show this help

Exit status: 0 done; 1 a job was kept (a named job was running, an ended
job's log is still held, or files only named like a job were left) or a
file could not be removed; 2 bad usage.";

/// runrm's options, for the parser and the completions.
pub const OPTIONS: &[Opt] = &[
    opt(
        0,
        "older-than",
        Takes::Value("a duration such as 90s, 30m, 12h or 7d"),
        "only jobs that ended longer ago",
    ),
    opt(
        0,
        "failed",
        Takes::Nothing,
        "only failed, killed, lost and skipped jobs",
    ),
    opt(
        0,
        "keep",
        Takes::Value("a number of jobs"),
        "keep the newest N",
    ),
    opt(0, "dry-run", Takes::Nothing, "list what would go"),
    opt(b'h', "help", Takes::Nothing, "show help"),
];

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let p = crate::args::parse(args, OPTIONS, "runrm", Operands::Anywhere, |_| false)?;
    if p.flag("help") {
        crate::error::say!("{HELP}");
        return Ok(code::OK);
    }
    let older_than: Option<Duration> = p.value("older-than", crate::time::parse_duration)?;
    let keep: Option<usize> = p.value("keep", |s| s.parse().ok())?;
    let failed_only = p.flag("failed");
    let dry_run = p.flag("dry-run");
    let references = p.operands;
    let store = Store::existing()?;
    let mut status = code::OK;
    // Named jobs must all resolve before anything is removed.
    let mut chosen: Vec<Job> = match references.is_empty() {
        true => jobs::list(store.as_ref(), Status::is_finished)?,
        false => jobs::select(store.as_ref(), &references)?,
    };
    let sweeping = references.is_empty();
    chosen.retain(|job| {
        let running = !job.status.is_finished();
        // Another machine's job that this one cannot see, or files only
        // named like a job (someone's `backup_20240101_000000.log`): only
        // by name.
        let elsewhere = sweeping && job.elsewhere();
        let stranger = sweeping && !job.evident();
        if running {
            crate::error::tell!(
                "runrm: {} is {}; not removed",
                escape(job.id()),
                job.status.word()
            );
        } else if elsewhere {
            crate::error::tell!(
                "runrm: {} ran on {}, and this machine cannot tell whether it still runs; not removed (name it to remove it)",
                escape(job.id()),
                escape(&job.record.host)
            );
        } else if stranger {
            crate::error::tell!(
                "runrm: {} has no record, and no log that begins as a job's does; not removed (name it to remove it)",
                escape(job.id())
            );
        }
        if running || elsewhere || stranger {
            status = code::FAILURE;
        }
        !running && !elsewhere && !stranger
    });
    let verb = if dry_run { "would remove" } else { "removed" };
    let Some(store) = store else {
        crate::error::say!("{verb} 0 jobs, 0 B freed");
        return Ok(status);
    };
    let now = SystemTime::now();
    chosen.retain(|job| {
        let failed = job.status.is_failure();
        let old_enough = older_than.is_none_or(|age| {
            ended_at(&store, job).is_some_and(|t| now.duration_since(t).unwrap_or_default() >= age)
        });
        (!failed_only || failed) && old_enough
    });
    if let Some(keep) = keep {
        // `chosen` is oldest first: keep its last `keep`.
        chosen.truncate(chosen.len().saturating_sub(keep));
    }

    let (mut removed, mut freed) = (0usize, 0u64);
    // No listing may read the directory until the removed jobs are out of
    // the index too: it would write their lines back.
    let lock = if dry_run {
        None
    } else {
        Some(store.lock(true)?)
    };
    for job in &chosen {
        if dry_run {
            crate::error::say!("would remove {}", escape(job.id()));
            removed += 1;
            freed += job_size(&store, job.id());
            continue;
        }
        match remove(&store, job) {
            Ok(Removal::Freed(bytes)) => {
                removed += 1;
                freed += bytes;
            }
            // Another runrm removed it meanwhile.
            Ok(Removal::Gone) => {}
            Ok(Removal::Held) => {
                // Ended, but its log is held: by its supervisor (alive
                // past the end only to notify), or by what the job left
                // running in the background.
                let why = if store.supervisor_lives(&job.record) {
                    "is still sending its notification (try again in a few seconds)"
                } else {
                    "has ended, but a process it started still has its log open"
                };
                crate::error::tell!("runrm: {} {why}; not removed", escape(job.id()));
                status = code::FAILURE;
            }
            Err(problem) => {
                crate::error::tell!("runrm: {problem}");
                status = code::FAILURE;
            }
        }
    }
    if removed > 0 && !dry_run {
        jobs::unindex(
            &store,
            &chosen.iter().map(|job| job.id()).collect::<Vec<_>>(),
        );
        drop(lock);
        // A queue with no job left to follow leaves no file behind: its
        // last job is gone and none of it is still to end. A job that joins
        // it after this listing is its last job, which the lock shows.
        let mut queues: Vec<String> = chosen
            .iter()
            .filter_map(|j| j.record.queue.clone())
            .collect();
        queues.sort();
        queues.dedup();
        if !queues.is_empty()
            && let Ok(unfinished) = jobs::list(Some(&store), |s| !s.is_finished())
        {
            queues.retain(|name| {
                unfinished
                    .iter()
                    .all(|j| j.record.queue.as_ref() != Some(name))
            });
            for name in queues {
                store.drop_queue(&name, |last| {
                    last.is_none_or(|id| matches!(jobs::find(&store, id), Ok(None)))
                });
            }
        }
    }
    let plural = if removed == 1 { "" } else { "s" };
    crate::error::say!("{verb} {removed} job{plural}, {} freed", size(freed));
    Ok(status)
}

/// When the job ended: its record's end, else (lost, or of the original
/// version) the last change to its log, else its start.
fn ended_at(store: &Store, job: &Job) -> Option<SystemTime> {
    let record = &job.record;
    let secs = record.ended.or_else(|| {
        fs::symlink_metadata(store.path(job.id(), LOG))
            .and_then(|m| m.modified())
            .ok()
            .map(crate::time::unix_seconds)
    });
    let secs = secs.unwrap_or(record.started);
    SystemTime::UNIX_EPOCH.checked_add(crate::time::seconds(secs)?)
}

fn job_size(store: &Store, id: &str) -> u64 {
    [LOG, PID, RECORD]
        .iter()
        .filter_map(|s| fs::symlink_metadata(store.path(id, s)).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// What removing one job came to.
enum Removal {
    /// Its files are gone, this many bytes of them.
    Freed(u64),
    /// Its log is held: it turned out to be running after all.
    Held,
    /// Another runrm removed it first.
    Gone,
}

/// Remove one job's files while holding its lock.
fn remove(store: &Store, job: &Job) -> std::result::Result<Removal, String> {
    let id = job.id();
    // Hold the log's lock for the whole removal: while we hold it, nothing
    // of the job can be alive. A `runs` probing the lock holds it for a
    // moment, so try a few times.
    let _lock = match open_read(&store.path(id, LOG)) {
        Ok(log) => {
            let mut attempts = 0;
            loop {
                match log.try_lock() {
                    Ok(()) => break Some(log),
                    Err(fs::TryLockError::WouldBlock) if attempts < 20 => {
                        attempts += 1;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(fs::TryLockError::WouldBlock) => return Ok(Removal::Held),
                    Err(fs::TryLockError::Error(e)) => {
                        return Err(format!(
                            "{}: cannot lock log: {}",
                            escape(id),
                            crate::error::describe(&e)
                        ));
                    }
                }
            }
        }
        Err(_) => None,
    };
    // Whether this runrm removed any of its files.
    let (mut freed, mut found) = (0, false);
    let mut problems = Vec::new();
    store.remove_spares(id);
    for suffix in [LOG, PID, RECORD] {
        let path = store.path(id, suffix);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!(
                    "{}: {}",
                    escape(&path.to_string_lossy()),
                    crate::error::describe(&e)
                ));
                continue;
            }
        };
        if !meta.is_file() {
            problems.push(format!(
                "{}: not a regular file; left alone",
                escape(&path.to_string_lossy())
            ));
            continue;
        }
        if suffix == RECORD && !problems.is_empty() {
            // Keep the job visible while any of its files remain.
            break;
        }
        match fs::remove_file(&path) {
            Ok(()) => (freed, found) = (freed + meta.len(), true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!(
                "cannot remove {}: {}",
                escape(&path.to_string_lossy()),
                crate::error::describe(&e)
            )),
        }
    }
    if problems.is_empty() {
        Ok(if found {
            Removal::Freed(freed)
        } else {
            Removal::Gone
        })
    } else {
        Err(problems.join("; "))
    }
}

/// `1.5 MiB`, `320 KiB`, `12 B`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(size(12), "12 B");
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(1536 * 1024), "1.5 MiB");
    }
}
