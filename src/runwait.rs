//! `runwait [--timeout DURATION] [JOB...]`: wait until jobs end.
//!
//! Rule: it blocks on each job's lock (one thread per job), never in a
//! polling loop, and it never touches the jobs: on a timeout they keep
//! running.

use crate::error::{Error, Result, code};
use crate::jobs::{self, Job};
use crate::record::Status;
use crate::store::{LOG, Store, open_read};
use std::ffi::OsString;
use std::sync::mpsc;
use std::time::Instant;

const HELP: &str = "\
runwait - wait until jobs end, printing each outcome as it happens

Usage: runwait [--timeout DURATION] [JOB...]

Without JOB, it waits for every job running now.
Options:
      --timeout DURATION  give up after this long (90s, 30m, 12h); the jobs
                          keep running
  -h, --help              show this help

Exit status: 0 all were done; else the first failure's: its exit code,
128+N if killed by signal N, 1 if lost; 124 on timeout; 2 bad usage.";

const TIMED_OUT: i32 = 124;

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let mut p = pico_args::Arguments::from_vec(args);
    if p.contains(["-h", "--help"]) {
        println!("{HELP}");
        return Ok(code::OK);
    }
    let timeout = p
        .opt_value_from_fn("--timeout", |s| crate::time::parse_duration(s).ok_or("bad"))
        .map_err(|_| Error::usage("--timeout needs a duration such as 90s, 30m or 12h"))?;
    let references = jobs::references(p, "runwait")?;
    let store = Store::open()?;
    let all = jobs::list(&store)?;
    let chosen: Vec<&Job> = if references.is_empty() {
        all.iter()
            .filter(|j| j.status == Status::Running && j.recorded)
            .collect()
    } else {
        references
            .iter()
            .map(|r| jobs::resolve(&all, &r.to_string_lossy()))
            .collect::<Result<_>>()?
    };
    if chosen.is_empty() {
        eprintln!("runwait: no running jobs");
        return Ok(code::OK);
    }
    let (ended, endings) = mpsc::channel();
    for (n, job) in chosen.iter().enumerate() {
        let log = open_read(&store.path(job.id(), LOG));
        let ended = ended.clone();
        // The supervisor and the job hold the lock until both are gone.
        std::thread::spawn(move || {
            if let Ok(log) = log {
                let _ = log.lock_shared();
            }
            let _ = ended.send(n);
        });
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut status = code::OK;
    for _ in 0..chosen.len() {
        let next = match deadline {
            Some(deadline) => endings
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok(),
            None => endings.recv().ok(),
        };
        let Some(n) = next else {
            eprintln!("runwait: timed out; the jobs keep running");
            return Ok(TIMED_OUT);
        };
        let job = chosen[n].refresh(&store);
        println!("{}", job.outcome());
        if status == code::OK {
            status = job.exit_status();
        }
    }
    Ok(status)
}
