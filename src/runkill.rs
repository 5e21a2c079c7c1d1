//! `runkill [-s SIGNAL] [--grace DURATION] JOB...`: stop running jobs.
//!
//! Rule: only a job the job store shows as running is signalled, and only
//! through its process groups (its own, and the others of its session but
//! the supervisor's), once the process table shows a process of the job's
//! own session in each: a recycled PID or group id is never hit, and a job
//! with no living process is never signalled. It is stopped once its end
//! is recorded and nothing of it is left. The supervisor records how the
//! job ended, as always.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Error, Result, code};
use crate::jobs::{self, Job};
use crate::quote::escape;
use crate::record::Status;
use crate::store::Store;
use std::ffi::OsString;
use std::time::{Duration, Instant};

const HELP: &str = "\
runkill - stop running jobs: SIGTERM to the job's process groups, then
SIGKILL to what is still running after the grace period

Usage: runkill [-s SIGNAL] [--grace DURATION] [--] JOB...

Options:
  -s, --signal SIG     send only SIG (INT, SIGINT or a number), nothing after
      --grace DURATION wait this long before SIGKILL (default 5s; 90s, 2m)
  -h, --help           show this help

JOB is an id, a unique id prefix, or a name (its newest running job, else
its newest).
Pause and resume: runkill -s STOP JOB, runkill -s CONT JOB (the job is
stopped meanwhile). A stopped job, or supervisor, is continued after any
other signal.
Exit status: 0 every job was signalled (and, without -s, has ended);
1 a job was not running, could not be signalled safely, or would not end;
2 bad usage.";

/// How long a SIGKILLed job may take to be reaped and recorded.
const AFTER_KILL: Duration = Duration::from_secs(10);

/// runkill's options, for the parser and the completions.
pub const OPTIONS: &[Opt] = &[
    opt(
        b's',
        "signal",
        Takes::Value("a signal: a name like TERM or SIGINT, or a number from 1"),
        "send only this signal",
    ),
    opt(
        0,
        "grace",
        Takes::Value("a duration such as 5s or 2m"),
        "wait this long before SIGKILL",
    ),
    opt(b'h', "help", Takes::Nothing, "show help"),
];

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let p = crate::args::parse(args, OPTIONS, "runkill", Operands::Anywhere, |_| false)?;
    if p.flag("help") {
        crate::error::say!("{HELP}");
        return Ok(code::OK);
    }
    let signal: Option<i32> = p.value("signal", |s| {
        crate::sys::signal_number(&s.to_ascii_uppercase()).filter(|&n| n > 0)
    })?;
    let grace = p
        .value("grace", crate::time::parse_duration)?
        .unwrap_or(crate::spawn::GRACE);
    let references = p.operands;
    if references.is_empty() {
        return Err(Error::usage("name a JOB to stop (see runs)"));
    }
    let store = Store::existing()?;
    // A name means its newest job that has not ended, if one has not: the
    // one there is to stop, though a newer one of that name has ended.
    let ids = store
        .as_ref()
        .map(jobs::ids)
        .transpose()?
        .unwrap_or_default();
    let alive = jobs::list(store.as_ref(), |s| !s.is_finished())?;
    let references: Vec<OsString> = references
        .into_iter()
        .map(|reference| {
            let named = |job: &&Job| {
                crate::store::parse_stamp(job.id()).is_some_and(|(_, _, name)| *name == *reference)
            };
            match alive.iter().rev().find(named) {
                Some(job) if !ids.iter().any(|id| reference == id.as_str()) => job.id().into(),
                _ => reference,
            }
        })
        .collect();
    let chosen = jobs::select(store.as_ref(), &references)?;
    // Every reference resolved, so there is a store.
    let Some(store) = store else {
        return Ok(code::FAILURE);
    };
    let mut status = code::OK;
    let mut signalled = Vec::new();
    for job in &chosen {
        match (
            signal_group(&store, job, signal.unwrap_or(libc::SIGTERM)),
            signal,
        ) {
            (Ok(()), Some(sig)) => {
                settle(&store, job, sig);
                crate::error::say!(
                    "{}: sent {}",
                    escape(job.id()),
                    crate::sys::signal_name(sig)
                );
            }
            (Ok(()), None) => signalled.push(job),
            (Err(problem), _) => {
                crate::error::tell!("runkill: {problem}");
                status = code::FAILURE;
            }
        }
    }
    // SIGTERM went to all of them at once; now their grace runs together.
    // A job is stopped once its end is recorded and nothing of it is left.
    // A grace past any clock's end (`--grace 18446744073709551615s`) is for ever.
    let deadline = Instant::now().checked_add(grace);
    while signalled.iter().any(|j| !stopped(&store, j))
        && deadline.is_none_or(|deadline| Instant::now() < deadline)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for job in &signalled {
        let left = left(&store, job);
        if !left.is_empty() {
            let grace = crate::time::limit(grace);
            note(
                &store,
                job,
                libc::SIGKILL,
                &format!(", still running {grace} after SIGTERM"),
            );
        }
        for (group, _) in left {
            let _ = crate::sys::send_signal(-group, libc::SIGKILL);
        }
    }
    for job in signalled {
        match wait_end(&store, job, AFTER_KILL) {
            Some(ended) => crate::error::say!("{}", ended.outcome()),
            None => {
                crate::error::tell!(
                    "runkill: {} did not end even after SIGKILL",
                    escape(job.id())
                );
                status = code::FAILURE;
            }
        }
    }
    Ok(status)
}

/// After SIGSTOP or SIGCONT to a job that has begun, wait (up to a second)
/// until its supervisor has recorded the change, so that `runs` right after
/// shows it. (A full disk leaves the record as it was: see README.)
fn settle(store: &Store, job: &Job, sig: i32) {
    let stopped = match sig {
        libc::SIGSTOP => true,
        libc::SIGCONT => false,
        _ => return,
    };
    if !matches!(job.status, Status::Running | Status::Stopped) {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match job.refresh(store) {
            Ok(Some(now))
                if !now.status.is_finished() && (now.status == Status::Stopped) != stopped => {}
            _ => return,
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Say in the job's log, before the signal goes, that runkill sends it: in
/// the output its notification ends with, a SIGTERM is then runkill's and
/// not a shutdown's or someone's kill. Best effort: the signal matters more.
fn note(store: &Store, job: &Job, sig: i32, more: &str) {
    let at = crate::time::human(&crate::time::local(std::time::SystemTime::now()));
    let sig = crate::sys::signal_name(sig);
    let says = Store::RUNKILL_SAYS;
    let _ = store.add_to_log(job.id(), &format!("{says}{sig} at {at}{more}"));
}

/// What of the job is left running: see `Store::left_running`.
fn left(store: &Store, job: &Job) -> Vec<(i32, bool)> {
    match job.refresh(store) {
        Ok(Some(now)) => store.left_running(&now.record),
        _ => Vec::new(),
    }
}

/// Whether the job has ended and left nothing running, as far as can be
/// read; its final state if so.
fn stopped(store: &Store, job: &Job) -> bool {
    wait_end(store, job, Duration::ZERO).is_some()
}

/// Wait up to `limit` for the job to end and leave nothing running; its
/// final state if it did.
fn wait_end(store: &Store, job: &Job, limit: Duration) -> Option<Job> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(now)) = job.refresh(store)
            && now.status.is_finished()
            && store.left_running(&now.record).is_empty()
        {
            return Some(now);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send `sig` to the job's process groups, if the store shows it running
/// and the process table shows the groups are still the job's.
fn signal_group(store: &Store, job: &Job, sig: i32) -> std::result::Result<(), String> {
    let id = escape(job.id());
    if job.legacy || !job.recorded {
        return Err(format!(
            "{id} has no record to tell whether its PID is still the job's; not signalled"
        ));
    }
    let now = match job.refresh(store) {
        Ok(Some(now)) => now,
        Ok(None) => return Err(format!("{id} has been removed")),
        Err(e) => {
            return Err(format!("cannot read {id}: {}", crate::error::describe(&e)));
        }
    };
    if now.elsewhere() {
        return Err(format!(
            "{id} ran on {}, which this machine cannot see; stop it there",
            escape(&now.record.host)
        ));
    }
    if now.status.is_finished() {
        return Err(format!("{id} is not running: {}", now.ending()));
    }
    let pausing = [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU];
    // A stopped supervisor (`kill -STOP`) cannot record the end: it is
    // continued too, and then records a job that has already ended.
    let supervisor = now.record.sid.filter(|&sid| {
        !pausing.contains(&sig)
            && store.supervisor_lives(&now.record)
            && crate::sys::process(sid).is_ok_and(|p| p.is_some_and(|p| p.stopped))
    });
    if let Some(sid) = supervisor {
        let _ = crate::sys::send_signal(sid, libc::SIGCONT);
    }
    let groups = match store.groups_to_signal(&now.record) {
        Err(_) if supervisor.is_some() => Vec::new(),
        groups => groups.map_err(|why| format!("{id} is not signalled: {why}"))?,
    };
    if !groups.is_empty() {
        note(store, job, sig, "");
    }
    let mut result = Ok(());
    for (group, stopped) in groups {
        let sent = crate::sys::send_signal(-group, sig);
        // A stopped job acts on any other signal only once continued, as a
        // shell's kill does for its stopped jobs. Stopped as its record
        // says, or as a process of the group is now: a stop from outside
        // runkill reaches the record a moment later.
        if (stopped || now.status == Status::Stopped) && !pausing.contains(&sig) {
            let _ = crate::sys::send_signal(-group, libc::SIGCONT);
        }
        match sent {
            // The group emptied between the check and the signal: it ended.
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => {
                result = Err(format!(
                    "cannot signal {id}: {}",
                    crate::error::describe(&e)
                ));
            }
            _ => {}
        }
    }
    result
}
