//! `runwait [--timeout DURATION] [JOB...]`: wait until jobs end.
//!
//! Rule: a job has ended when the store says so (its end recorded, or
//! nothing of it alive), not when its log is let go. For one job it sleeps
//! on the locks that the job's end lets go of; for more, or if those did
//! not tell, on one watch of the state directory, whatever the number of
//! jobs: no thread and no descriptor per job, and a look at every job once
//! a second for those whose supervisor died. It never touches the jobs: on
//! a timeout they keep running. It prints only final outcomes; when it
//! cannot read a job, it says so and exits 1.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Error, Result, code};
use crate::jobs::{self, Job};
use crate::store::{LOG, PID, RECORD, Store};
use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

const HELP: &str = "\
runwait - wait until jobs end, printing each outcome as it happens

Usage: runwait [--timeout DURATION] [--] [JOB...]

Without JOB, it waits for every job running now.
Options:
      --timeout DURATION  give up after this long (90s, 30m, 12h); the jobs
                          keep running
  -h, --help              show this help

Exit status: 0 all were done; else the first failure's: its exit code,
128+N if killed by signal N, 1 if lost, skipped or its exit code is
unknown (ended, unknown); 124 on timeout; 1 if a job could not be read or
was removed meanwhile; 2 bad usage.";

const TIMED_OUT: i32 = 124;

/// How often every job is looked at, for ends that no file change tells of.
const RECHECK: Duration = Duration::from_secs(1);

/// runwait's options, for the parser and the completions.
pub const OPTIONS: &[Opt] = &[
    opt(
        0,
        "timeout",
        Takes::Value("a duration such as 90s, 30m or 12h"),
        "give up after this long",
    ),
    opt(b'h', "help", Takes::Nothing, "show help"),
];

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let p = crate::args::parse(args, OPTIONS, "runwait", Operands::Anywhere, |_| false)?;
    if p.flag("help") {
        crate::error::say!("{HELP}");
        return Ok(code::OK);
    }
    let timeout = p.value("timeout", crate::time::parse_duration)?;
    let references = p.operands;
    let store = Store::existing()?;
    let chosen: Vec<Job> = if references.is_empty() {
        let running = jobs::list(store.as_ref(), |s| !s.is_finished())?;
        running.into_iter().filter(|j| j.recorded).collect()
    } else {
        jobs::select(store.as_ref(), &references)?
    };
    let (Some(store), false) = (store, chosen.is_empty()) else {
        crate::error::tell!("runwait: no running jobs");
        return Ok(code::OK);
    };
    // The watch is made only if a job is still pending after a first look
    // (closing one costs the kernel's grace period, up to 20 ms), and then
    // every job is looked at again, so that no end falls in between.
    let mut watch = None;
    // A timeout past any clock's end is none.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut pending: Vec<String> = chosen.iter().map(|j| j.id().to_string()).collect();
    let mut status = code::OK;
    let mut changed: HashSet<Vec<u8>> = HashSet::new();
    let mut everything = true;
    let mut last_look = Instant::now();
    let mut locks_left = 2;
    loop {
        let mut i = 0;
        while i < pending.len() {
            let id = &pending[i];
            if !everything && !changed.contains(id.as_bytes()) {
                i += 1;
                continue;
            }
            let job = match jobs::find(&store, id) {
                Ok(Some(job)) => job,
                Ok(None) => {
                    return Err(Error::new(
                        code::FAILURE,
                        format!("{} was removed while waited for", crate::quote::escape(id)),
                    ));
                }
                Err(e) => {
                    return Err(Error::new(
                        code::FAILURE,
                        format!(
                            "cannot read {}: {}",
                            crate::quote::escape(id),
                            crate::error::describe(&e)
                        ),
                    ));
                }
            };
            if !job.status.is_finished() {
                i += 1;
                continue;
            }
            crate::error::say!("{}", job.outcome());
            if status == code::OK {
                status = job.exit_status();
            }
            pending.remove(i);
        }
        if pending.is_empty() {
            return Ok(status);
        }
        if everything {
            last_look = Instant::now();
        }
        let mut wait = RECHECK.saturating_sub(last_look.elapsed());
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                crate::error::tell!("runwait: timed out; the jobs keep running");
                return Ok(TIMED_OUT);
            }
            wait = wait.min(left);
        }
        let Some(watch) = &watch else {
            // One job: sleep on the locks that its end lets go of, with no
            // watch to make (or close: that waits for the kernel's grace
            // period, up to 20 ms). First its room, which its supervisor
            // holds until the end is recorded or it dies; then, if the job
            // is still running, its log, which the job holds while it
            // lives. Each once, and none once one is found that nobody
            // holds (a supervisor of a version that locks no room, a job
            // that let go of its log), which tells nothing: the watch and
            // its looks follow.
            if let ([id], 1..) = (pending.as_slice(), locks_left) {
                let file = match locks_left {
                    2 => store.open_room(id),
                    _ => crate::store::open_read(&store.path(id, LOG)),
                };
                locks_left -= 1;
                if let Ok(file) = file {
                    if file.try_lock_shared().is_ok() {
                        locks_left = 0;
                    } else {
                        let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                        crate::sys::await_shared_lock(file.as_fd(), limit);
                    }
                }
                continue;
            }
            watch = Some(crate::sys::Watch::dir(store.dir()));
            continue;
        };
        changed.clear();
        let told = watch.wait(wait, |name| {
            let id = [RECORD, LOG, PID]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix.as_bytes()));
            if let Some(id) = id {
                changed.insert(id.to_vec());
            }
        });
        everything = !told || last_look.elapsed() >= RECHECK;
    }
}
