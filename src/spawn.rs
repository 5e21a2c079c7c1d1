//! Detachment: `run` forks a supervisor, which leaves the terminal's session,
//! publishes the job's log under its id, and forks the job into a process
//! group of its own; then it waits for the job and records how it ended.
//! The job is held at a gate until its record and pid file exist.
//!
//! Rules: the command is checked as execve will check it (`resolve`)
//! before anything is made, so a command that cannot run is a synchronous
//! error that leaves no files. Everything the job child needs (argv,
//! descriptors) is made before `fork`; between `fork` and `exec` the child
//! calls only fork-safe `sys` functions and leaves with `_exit`. The
//! supervisor may allocate, because `run` is single-threaded. Whatever dies
//! during a launch, `run` says "started" exactly when the job has reached
//! its gate with its record and pid file made: the job itself says so on
//! the report pipe once past it (the supervisor, if the job was killed
//! there), and `run` returns then, without waiting for the exec. An exec
//! that still fails is the job's outcome: `failed`, exit 126 or 127, with
//! the reason in the footer and the notification. From the job's fork on,
//! a signal that would end the supervisor (SIGTERM, SIGINT, SIGHUP,
//! SIGUSR1, …: `sys::stop_signals`) goes on to the job's group instead
//! (held until the job can take it), so that only SIGKILL parts a
//! supervisor from the end it must record.

use crate::error::{Error, Result, code};
use crate::notify::Target;
use crate::record::{Record, Status};
use crate::store::Store;
use crate::sys::{self, ExecArgs, Fork};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant, SystemTime};

/// Reports to `run`, each one tag byte and an i32, from the supervisor:
const TRYING_SUFFIX: u8 = b'I';
const STORE_FAILED: u8 = b'S';
const START_FAILED: u8 = b'F';
/// and from the job itself, past its gate (its pid):
const PASSED_GATE: u8 = b'G';
/// or from the supervisor, when the job is to wait for others first,
const WAITING: u8 = b'W';
/// and from the job to the supervisor, when its exec failed (the errno).
const EXEC_FAILED: u8 = b'E';

/// How long a job stopped by runkill or its timeout has between SIGTERM and
/// SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// A job about to start.
pub struct Launch {
    /// The new log (locked, header written), and its temporary name if it
    /// has one.
    pub temp: Option<PathBuf>,
    pub log: File,
    /// The id it is to have, before any `_N`.
    pub base: String,
    /// Where the job's output begins in the log.
    pub header_len: u64,
    pub record: Record,
    pub command: Vec<OsString>,
    /// What `resolve` found to execute.
    pub file: PathBuf,
    pub notify: Option<Target>,
    /// The queue's file, locked, if the job is queued: the supervisor
    /// writes the job's id into it and then lets the next job read it.
    pub queue: Option<File>,
}

/// What `run` heard on the report pipe, to its end.
#[derive(Default)]
struct Heard {
    suffix: Option<u32>,
    passed_gate: Option<i32>,
    waiting: bool,
    store_failed: Option<i32>,
    start_failed: Option<i32>,
}

/// Start the job. Returns its record with the id and pid filled in.
pub fn start(store: &Store, launch: Launch) -> Result<Record> {
    let args = ExecArgs::new(&launch.file, &launch.command)
        .map_err(|e| Error::new(code::USAGE, e.to_string()))?;
    let drop_temp = |temp: &Option<PathBuf>| {
        if let Some(temp) = temp {
            let _ = std::fs::remove_file(temp);
        }
    };
    let pipe_failed = |e| {
        drop_temp(&launch.temp);
        Error::new(
            code::FAILURE,
            format!("cannot start the job: {}", crate::error::describe(&e)),
        )
    };
    let (report_in, report_out) = sys::pipe_cloexec().map_err(pipe_failed)?;
    sys::own_signals();
    let supervisor = match sys::fork().map_err(pipe_failed)? {
        Fork::Child => {
            drop(report_in);
            supervise(store, launch, &args, report_out)
        }
        Fork::Parent(pid) => pid,
    };
    let Launch {
        temp,
        log,
        base,
        mut record,
        queue,
        ..
    } = launch;
    drop((report_out, queue));
    let heard = receive(report_in);
    // The log stays open until here, so that its inode (which
    // `remove_launch` checks) cannot go to another file meanwhile.
    drop_temp(&temp);
    let id = heard.suffix.map(|n| crate::store::id_with_suffix(&base, n));
    let clean = || {
        if let Some(id) = &id {
            store.remove_launch(id, &log);
        }
    };
    if let Some(errno) = heard.start_failed {
        clean();
        let why = crate::error::describe(&io::Error::from_raw_os_error(errno));
        return Err(Error::new(
            code::FAILURE,
            format!("cannot start the job: {why}"),
        ));
    }
    if let Some(errno) = heard.store_failed {
        clean();
        return Err(Error::new(
            code::FAILURE,
            format!(
                "cannot record the job in {}: {}",
                crate::quote::escape(&store.dir().to_string_lossy()),
                crate::error::describe(&io::Error::from_raw_os_error(errno))
            ),
        ));
    }
    match (heard.passed_gate, heard.waiting, id.clone()) {
        (pid @ Some(_), _, Some(id)) | (pid @ None, true, Some(id)) => {
            record.log = store
                .path(&id, crate::store::LOG)
                .to_string_lossy()
                .into_owned();
            record.id = id;
            record.pid = pid;
            record.pgid = pid;
            record.status = if pid.is_some() {
                Status::Running
            } else {
                Status::Waiting
            };
            Ok(record)
        }
        _ => {
            // It never passed its gate, so it never will: the gate's other
            // end died with the supervisor, or the job died at it (SIGKILLed
            // by one who read its record, as the byte went in); then its
            // supervisor lives, or has exited, having recorded the end.
            clean();
            let what = match sys::child_killed(supervisor) {
                true => "the supervisor died before the job started",
                false => "the job was killed as it started, before its command ran",
            };
            Err(Error::new(
                code::FAILURE,
                format!("{what}; nothing was started"),
            ))
        }
    }
}

/// Find and check the file `command` names as execve would, before anything
/// is made: found (on PATH if the name has no `/`), a regular file, one we
/// may execute, and not on a noexec mount. (Its argument list always fits:
/// it and the environment are part of what run itself was given.) Returns
/// the file to execute, or the error exec would have given.
pub fn resolve(command: &[OsString]) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let program = &command[0];
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| match dir.as_os_str().is_empty() {
                true => PathBuf::from(".").join(program),
                false => dir.join(program),
            })
            .collect()
    };
    // As execvp: the first file we may execute; else the first refusal.
    let mut refused = None;
    for file in candidates {
        let errno = match std::fs::metadata(&file) {
            Err(e) => match e.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR) => continue,
                errno => errno.unwrap_or(libc::EACCES),
            },
            Ok(m) if m.is_dir() => libc::EISDIR,
            Ok(m) if !m.is_file() => libc::EACCES,
            // Before access(2), which refuses a file there too, unexplained.
            Ok(_) if sys::on_noexec_mount(&file) => {
                let name = crate::quote::shell_quote(program.as_encoded_bytes());
                let why = format!("{name}: cannot run a file on a noexec mount");
                refused.get_or_insert(Error::new(code::NOT_EXECUTABLE, why));
                continue;
            }
            Ok(m) if !sys::may_execute(&file) && m.permissions().mode() & 0o111 == 0 => {
                let name = crate::quote::shell_quote(program.as_encoded_bytes());
                let why = format!("{name}: not executable (chmod +x {name})");
                refused.get_or_insert(Error::new(code::NOT_EXECUTABLE, why));
                continue;
            }
            Ok(_) if !sys::may_execute(&file) => libc::EACCES,
            Ok(_) => return Ok(file),
        };
        refused.get_or_insert_with(|| exec_error(program, errno));
    }
    Err(refused.unwrap_or_else(|| exec_error(program, libc::ENOENT)))
}

fn exec_error(program: &OsString, errno: i32) -> Error {
    let name = crate::quote::shell_quote(program.as_encoded_bytes());
    let bytes = program.as_encoded_bytes();
    match errno {
        // A whole shell line given as one word.
        libc::ENOENT if bytes.iter().any(|b| b" &|;<>()$`*?'\"".contains(b)) => Error::new(
            code::NOT_FOUND,
            format!("{name}: command not found; to run a shell line: run sh -c {name}"),
        ),
        // `run cd build && make`, `run source env.sh`: no program by that name.
        libc::ENOENT if crate::naming::is_shell_word(bytes) => Error::new(
            code::NOT_FOUND,
            format!(
                "{name}: a shell builtin, not a program; to run a shell line: run sh -c '{} …'",
                String::from_utf8_lossy(bytes)
            ),
        ),
        // `run CUDA_VISIBLE_DEVICES=1 python train.py`, as a shell takes it.
        libc::ENOENT if is_assignment(bytes) => Error::new(
            code::NOT_FOUND,
            format!("{name}: command not found; to set it for the job: run env {name} …"),
        ),
        libc::ENOENT => Error::new(code::NOT_FOUND, format!("{name}: command not found")),
        libc::EISDIR => Error::new(code::NOT_EXECUTABLE, format!("{name}: is a directory")),
        libc::EACCES | libc::EPERM => {
            Error::new(code::NOT_EXECUTABLE, format!("{name}: permission denied"))
        }
        _ => Error::new(
            code::NOT_EXECUTABLE,
            format!(
                "{name}: {}",
                crate::error::describe(&io::Error::from_raw_os_error(errno))
            ),
        ),
    }
}

/// Whether `word` is a shell's variable assignment: `NAME=value`.
fn is_assignment(word: &[u8]) -> bool {
    let name = word.split(|&b| b == b'=').next().unwrap_or_default();
    name.len() < word.len()
        && name.first().is_some_and(|b| !b.is_ascii_digit())
        && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Read the report pipe until the job has passed its gate, or to its end:
/// every writer has exited or died.
fn receive(pipe: OwnedFd) -> Heard {
    let mut heard = Heard::default();
    let mut pipe = File::from(pipe);
    let mut message = [0u8; 5];
    while pipe.read_exact(&mut message).is_ok() {
        let value = i32::from_le_bytes([message[1], message[2], message[3], message[4]]);
        match message[0] {
            TRYING_SUFFIX => heard.suffix = u32::try_from(value).ok(),
            PASSED_GATE => {
                heard.passed_gate = Some(value);
                break;
            }
            WAITING => {
                heard.waiting = true;
                break;
            }
            STORE_FAILED => heard.store_failed = Some(value),
            START_FAILED => heard.start_failed = Some(value),
            _ => {}
        }
    }
    heard
}

/// Write one message: a tag byte and an i32. Fork-safe: no allocation. A
/// reader that has gone (run was killed) is no error: the launch goes on.
fn send(report: &OwnedFd, tag: u8, value: i32) {
    let mut message = [tag, 0, 0, 0, 0];
    message[1..].copy_from_slice(&value.to_le_bytes());
    let _ = sys::write_raw(report.as_fd(), &message);
}

/// The supervisor: run the job, announce its end if asked, and exit.
fn supervise(store: &Store, mut launch: Launch, args: &ExecArgs, report: OwnedFd) -> ! {
    let end = detach_and_run(store, &mut launch, args, report);
    // What the job left running in groups of its own (a job-control
    // shell's jobs, `timeout`'s command) is stopped too, once its end is
    // recorded, if a timeout or a signal passed on to it ended it: SIGTERM,
    // then SIGKILL at the end of the grace that began with the first
    // SIGTERM.
    if let Some(record) = end.as_ref().map(|end| &end.record) {
        if record.timed_out {
            let spent = record.duration.unwrap_or(0.0) - record.timeout.unwrap_or(0.0);
            let spent = crate::time::seconds(spent).unwrap_or_default();
            stop_what_is_left(store, record, GRACE.saturating_sub(spent));
        } else if record.signal.is_some() && sys::forwarded() {
            stop_what_is_left(store, record, GRACE);
        }
    }
    if let (Some(end), Some(target)) = (end, &launch.notify) {
        announce(&launch.log, &end, launch.header_len, target);
    }
    sys::exit_now(0)
}

/// SIGTERM (with SIGCONT) to what is left of the job, then SIGKILL once
/// `grace` has passed, unless it is gone by then.
fn stop_what_is_left(store: &Store, record: &Record, grace: Duration) {
    let deadline = Instant::now() + grace;
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        for (group, _) in store.left_running(record) {
            let _ = sys::send_signal(-group, signal);
            let _ = sys::send_signal(-group, libc::SIGCONT);
        }
        while !store.left_running(record).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Detach, publish the log, start the job (after those it waits for), wait
/// for it, record the end. Returns how it ended, or `None` if the end could
/// not be recorded.
fn detach_and_run(
    store: &Store,
    launch: &mut Launch,
    args: &ExecArgs,
    report: OwnedFd,
) -> Option<End> {
    let (log, temp, base) = (&launch.log, launch.temp.as_deref(), &launch.base);
    let mut record = launch.record.clone();
    let queue = launch.queue.take();
    let _ = sys::setsid();
    sys::ignore_signal(libc::SIGHUP);
    // SIGALRM is the supervisor's own timer's (a timeout, a cancel's
    // wake-up): a stray one (`kill -ALRM`) must not end it.
    sys::ignore_signal(libc::SIGALRM);
    // stdin from /dev/null; stdout and stderr onto the log, so that anything
    // the supervisor itself has to say lands there too. Then drop whatever
    // else the caller handed us: an ssh channel must not wait on us.
    let stdio = File::open("/dev/null").and_then(|null| {
        sys::dup_onto(null.as_fd(), 0)?;
        sys::dup_onto(log.as_fd(), 1)?;
        sys::dup_onto(log.as_fd(), 2)
    });
    let queue_fd = queue.as_ref().map_or(-1, |q| q.as_raw_fd());
    sys::close_inherited_except(&[log.as_raw_fd(), report.as_raw_fd(), queue_fd]);
    let published = stdio
        .and_then(|()| {
            store.publish_log(temp, log, base, |n| send(&report, TRYING_SUFFIX, n as i32))
        })
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO));
    let id = match published {
        Ok(id) => id,
        Err(errno) => {
            if let Some(temp) = temp {
                let _ = std::fs::remove_file(temp);
            }
            send(&report, STORE_FAILED, errno);
            sys::exit_now(1)
        }
    };
    record.log = store
        .path(&id, crate::store::LOG)
        .to_string_lossy()
        .into_owned();
    record.id = id.clone();
    record.sid = Some(sys::own_pid());
    record.sid_since_boot = sys::process(sys::own_pid())
        .ok()
        .flatten()
        .map(|me| me.since_boot);
    let fail = |e: io::Error| -> ! {
        store.remove_launch(&id, log);
        send(&report, STORE_FAILED, e.raw_os_error().unwrap_or(libc::EIO));
        sys::exit_now(1)
    };
    // Room for the final record, taken before the job can fill the disk.
    let space = store.reserve_record(&record).unwrap_or_else(|e| fail(e));
    let clock = Instant::now();
    if !record.after.is_empty() || !record.after_ok.is_empty() {
        // Waiting: the supervisor's own group is what runkill stops.
        record.status = Status::Waiting;
        record.pgid = Some(sys::own_pid());
        sys::catch_stop();
        store.write_record(&record).unwrap_or_else(|e| fail(e));
    }
    // `run` hears that a waiting job waits before the queue names it: a
    // `run` that lost its supervisor before then removes what it made,
    // which no job of the queue may be waiting for.
    let report = match record.status {
        Status::Waiting => {
            send(&report, WAITING, 0);
            None
        }
        _ => Some(report),
    };
    // The queue's next job follows this one, from now on.
    if let Some(queue) = queue {
        let _ = crate::store::set_queue_tail(&queue, &id);
    }
    if report.is_none() {
        let mut waited = await_jobs(store, &record);
        // A stop signal up to here cancels it still; one after is
        // held until it can go on to the job (run_job).
        sys::hold_stop_signals(true);
        sys::default_stop();
        if waited.is_ok() && sys::stop_caught().is_some() {
            waited = Err((Status::Killed, CANCELLED.to_string()));
        }
        (record.status, record.pgid) = (Status::Running, None);
        if let Err((status, reason)) = waited {
            record.status = status;
            record.reason = Some(reason);
            if status == Status::Killed {
                record.signal = sys::stop_caught().map(sys::signal_name);
            }
            return finish_unstarted(store, log, record, space, clock, None);
        }
        return run_job(store, log, record, space, args, None);
    }
    run_job(store, log, record, space, args, report)
}

/// The reason of a waiting job that runkill stopped.
const CANCELLED: &str = "cancelled while waiting";

/// The reason of a job killed while the kernel's OOM killer ran.
const OUT_OF_MEMORY: &str = "out of memory";

/// Wait, with no wake-up, until every job `record` names has ended: a
/// shared lock on each one's log, which comes once nothing of that job
/// holds the log. (A job whose session outlives its log's lock is asked
/// after again each second.) A job of the same queue that ended without
/// starting (cancelled, skipped) held no place in it: what it waited for
/// is waited for in its stead, so the queue still runs one job at a time.
/// Then the status and reason the job ends with if it must not start:
/// `killed` if runkill stopped it meanwhile, `skipped` if a job of
/// `after_ok` did not succeed.
fn await_jobs(store: &Store, record: &Record) -> std::result::Result<(), (Status, String)> {
    let cancelled = || (Status::Killed, CANCELLED.to_string());
    let mut ids: Vec<String> = record
        .after
        .iter()
        .chain(&record.after_ok)
        .cloned()
        .collect();
    // How many of `ids` have been looked at as a queue's untaken turn.
    let (mut round, mut looked_at) = (0, 0);
    // Each one's outcome as it was seen to end: `runrm` may remove it
    // while the others are waited for.
    let mut ended: Vec<(String, Status, String)> = Vec::new();
    loop {
        // A job whose log was deleted by hand is waited for all the same.
        let pending: Vec<(&String, Option<File>)> = ids
            .iter()
            .filter(|id| {
                if ended.iter().any(|(done, ..)| done == *id) {
                    return false;
                }
                let (status, reason) = outcome(store, id);
                let finished = status.is_finished();
                if finished {
                    ended.push((id.to_string(), status, reason));
                }
                !finished
            })
            .map(|id| {
                let log = crate::store::open_read(&store.path(id, crate::store::LOG));
                (id, log.ok())
            })
            .collect();
        if pending.is_empty() {
            let known = ids.len();
            if record.queue.is_some() {
                let in_queue = |id: &str| match store.read_record(id) {
                    Ok(Some(dep)) if dep.queue == record.queue => Some(dep),
                    _ => None,
                };
                let mut gone = false;
                for i in looked_at..known {
                    let dep = match store.read_record(&ids[i]) {
                        Ok(Some(dep)) if dep.queue == record.queue && dep.began.is_none() => dep,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            gone = true;
                            continue;
                        }
                        _ => continue,
                    };
                    for id in dep.after.into_iter().chain(dep.after_ok) {
                        if !ids.contains(&id) && in_queue(&id).is_some() {
                            ids.push(id);
                        }
                    }
                }
                if gone {
                    ids.extend(ahead_in_queue(store, record, &ids));
                }
            }
            if ids.len() == known {
                break;
            }
            looked_at = known;
            continue;
        }
        if round > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        round += 1;
        for (id, log) in pending {
            wait_for_end(store, id, log.as_ref());
        }
        if sys::stop_caught().is_some() {
            return Err(cancelled());
        }
    }
    for id in &record.after_ok {
        let seen = ended.iter().find(|(done, ..)| done == id);
        let (status, reason) = match seen {
            Some((_, status, reason)) => (*status, reason.clone()),
            None => outcome(store, id),
        };
        if status != Status::Done {
            return Err((Status::Skipped, reason));
        }
    }
    Ok(())
}

/// A job of the queue that is gone without a trace (removed once lost, or
/// by hand) tells nothing of what came before it: the jobs of the queue
/// with no end recorded that are ahead of this one, not in `ids` yet (a
/// lost one among them is found ended at the first look). Ahead: it
/// started before this one, and waits for it through none of the queue.
fn ahead_in_queue(store: &Store, record: &Record, ids: &[String]) -> Vec<String> {
    let queued = store.unended_of_queue(record.queue.as_deref().unwrap_or_default());
    let mut behind = vec![record.id.clone()];
    loop {
        let more: Vec<String> = queued
            .iter()
            .filter(|j| !behind.contains(&j.id))
            .filter(|j| {
                j.after
                    .iter()
                    .chain(&j.after_ok)
                    .any(|d| behind.contains(d))
            })
            .map(|j| j.id.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        behind.extend(more);
    }
    queued
        .into_iter()
        .filter(|j| j.started < record.started && !behind.contains(&j.id))
        .map(|j| j.id)
        .filter(|id| !ids.contains(id))
        .collect()
}

/// Until job `id`, whose log is `log`, has ended, or a stop signal came
/// (runkill's: see catch_stop), with no wake-up before: the lock its
/// supervisor holds on its room until its end is recorded, so that what
/// the job left running (a daemon, a compiler server) holding its log does
/// not hold up what waits for it. If the supervisor died with no end
/// recorded (or is of a version that does not lock its room): a shared
/// lock on its log, which comes once nothing of the job holds it. With
/// neither, back at once: the caller looks again a second later.
fn wait_for_end(store: &Store, id: &str, log: Option<&File>) {
    if let Ok(room) = store.open_room(id) {
        wait_for_lock(&room);
    }
    if let Some(log) = log
        && !outcome(store, id).0.is_finished()
    {
        wait_for_lock(log);
    }
}

/// A shared lock on `file`, had and let go of, unless a stop signal came.
fn wait_for_lock(file: &File) {
    while sys::stop_caught().is_none() {
        match sys::lock_shared_idle(file.as_fd()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
}

/// How job `id` stands, and that said in words: `build_… failed (exit 2)`.
fn outcome(store: &Store, id: &str) -> (Status, String) {
    let now = match store.read_record(id) {
        // Between its footer and the rename, its end is in its room.
        Ok(Some(record)) => match store.final_spare(&record.id) {
            Ok(Some(end)) if record.ended.is_none() => {
                let status = end.recorded_status();
                Some((end, status))
            }
            _ => store.status(record).ok().flatten(),
        },
        _ => None,
    };
    match now {
        Some((record, status)) => {
            let detail = record
                .end_detail()
                .map_or(String::new(), |d| format!(" ({d})"));
            (status, format!("{id} {}{detail}", status.word()))
        }
        None => (Status::Unknown, format!("{id} has no readable record")),
    }
}

/// Start the job, wait for it, record its end. `report` is run's pipe, if
/// run still waits to hear that the job started.
fn run_job(
    store: &Store,
    log: &File,
    mut record: Record,
    space: crate::store::RecordSpace,
    args: &ExecArgs,
    report: Option<OwnedFd>,
) -> Option<End> {
    if report.is_none() && !store.keeps_id(&record, log) {
        // Removed while it waited: it never starts.
        store.drop_room(space);
        sys::exit_now(0)
    }
    let clock = Instant::now();
    let pipes = sys::pipe_cloexec().and_then(|exec| Ok((exec, sys::pipe_cloexec()?)));
    // The job waits at the gate until its record and pid file exist, so
    // that nothing it writes can come before them (or fill the disk first).
    let ((exec_in, exec_out), (gate_in, gate_out)) = match pipes {
        Ok(pipes) => pipes,
        Err(e) => return not_started(store, log, record, space, report, START_FAILED, e, clock),
    };
    record.began = Some(crate::time::unix_seconds(SystemTime::now()));
    // A stop signal from here on waits for the job to take it.
    sys::hold_stop_signals(true);
    let forked = match sys::fork() {
        Ok(forked) => forked,
        Err(e) => return not_started(store, log, record, space, report, START_FAILED, e, clock),
    };
    let pid = match forked {
        Fork::Child => {
            // The job. Fork-safe calls only from here to exec.
            drop(gate_out);
            let _ = sys::own_process_group(0);
            // One byte means go; end of file means the supervisor gave up
            // or died, and then the job never runs.
            if !matches!(sys::read_raw(gate_in.as_fd(), &mut [0u8]), Ok(1)) {
                sys::exit_now(127);
            }
            // Told while SIGPIPE is still ignored: run may be gone.
            if let Some(report) = report {
                send(&report, PASSED_GATE, sys::own_pid());
            }
            sys::reset_signals();
            sys::restore_umask();
            let err = sys::execvp(args);
            let errno = err.raw_os_error().unwrap_or(libc::ENOEXEC);
            send(&exec_out, EXEC_FAILED, errno);
            sys::exit_now(if errno == libc::ENOENT { 127 } else { 126 })
        }
        Fork::Parent(pid) => pid,
    };
    // Also set here, so the group exists whichever process runs first.
    let _ = sys::own_process_group(pid);
    // Whoever stops the supervisor (`kill PID` of the `run` that ps shows,
    // a shutdown) stops the job, and its end is still recorded.
    sys::forward_stop_signals(pid);
    sys::hold_stop_signals(false);
    // The job has its own copy of the environment; ours need not show the
    // notification credentials to anyone listing it, from before anyone is
    // told the job started.
    sys::scrub_environment(&["NTFY_TOKEN", "NTFY_USER"]);
    drop((gate_in, exec_out));
    record.pid = Some(pid);
    record.pgid = Some(pid);
    // The record before the pid file: a pid file without a record is a job
    // of the original shell version, which a starting job must not look like.
    if let Err(e) = store
        .write_record(&record)
        .and_then(|()| store.create_pid_file(&record.id, pid))
    {
        drop(gate_out);
        let _ = sys::wait_for(pid);
        return not_started(store, log, record, space, report, STORE_FAILED, e, clock);
    }
    // A job that cannot take its gate byte was killed at its gate (by one
    // who read its record: `runkill -s KILL`): it started, and its end is
    // recorded as any other.
    if sys::write_raw(gate_out.as_fd(), b"g").is_err()
        && let Some(report) = &report
    {
        send(report, PASSED_GATE, pid);
    }
    drop((gate_out, report));
    let oom_kills = sys::oom_kills();
    // From here on the supervisor only waits: it need not hold run's pages.
    // (Its exec's outcome is read once it has ended: a job stopped before
    // its exec must be seen stopped meanwhile.)
    // A timeout stops the job's group from a timer, with no wake-up before.
    if let Some(limit) = record.timeout.and_then(crate::time::seconds) {
        sys::stop_group_after(pid, limit.saturating_sub(clock.elapsed()), GRACE);
    }
    // Stopped and continued are recorded as they come (best effort: a full
    // disk leaves the record saying running); then the end.
    let raw = loop {
        record.status = match sys::wait_for_idle(pid) {
            Ok(sys::Waited::Stopped) => Status::Stopped,
            Ok(sys::Waited::Continued) => Status::Running,
            Ok(sys::Waited::Ended(status, usage)) => break Ok((status, usage)),
            Err(e) => break Err(e),
        };
        if store.keeps_id(&record, log) {
            let _ = store.write_record(&record);
        }
    };
    sys::forward_stop_signals(0);
    record.status = Status::Running;
    record.timed_out = record.timeout.is_some() && sys::disarm_stop();
    let elapsed = clock.elapsed();
    let ended = SystemTime::now();
    record.ended = Some(crate::time::unix_seconds(ended));
    record.duration = Some(elapsed.as_secs_f64());
    if let Ok((_, usage)) = &raw {
        record.peak_rss_kib = Some(usage.peak_rss_kib);
        record.cpu_user = Some(usage.user);
        record.cpu_system = Some(usage.system);
    }
    match raw.map(|(status, _)| ExitStatus::from_raw(status)) {
        Ok(status) if status.signal().is_some() => {
            record.signal = status.signal().map(sys::signal_name);
            record.core_dumped = status.core_dumped();
        }
        Ok(status) => record.exit_code = status.code(),
        Err(e) => crate::error::tell!(
            "run: cannot wait for the job: {}",
            crate::error::describe(&e)
        ),
    }
    record.status = match record.recorded_status() {
        // No exit code and no signal: we could not learn how it ended.
        Status::Running => Status::Lost,
        status => status,
    };
    // End of file: the job exec'd (or died first). Else why its exec
    // failed. Said wherever the end is: listing, record, footer,
    // notification.
    let mut failure = [0u8; 5];
    let exec_failed = File::from(exec_in)
        .read_exact(&mut failure)
        .is_ok()
        .then(|| i32::from_le_bytes([failure[1], failure[2], failure[3], failure[4]]));
    record.reason = exec_failed.map(|errno| exec_failure(errno, args.file()));
    let why = record.reason.clone();
    // A SIGKILL (or a shell's 137 for its child's) while the OOM killer
    // ran is most likely its: said, since "SIGKILL" alone tells nothing.
    // Not one of ours (a timeout's) or runkill's (it said so in the log).
    let sigkilled = record.signal.as_deref() == Some("SIGKILL") || record.exit_code == Some(137);
    if why.is_none()
        && sigkilled
        && !record.timed_out
        && oom_kills.is_some_and(|before| sys::oom_kills().is_some_and(|now| now > before))
        && !runkill_sent_kill(log)
    {
        record.reason = Some(OUT_OF_MEMORY.into());
    }
    Some(finish(store, log, record, space, why, elapsed, ended))
}

/// Whether runkill said, in the log's last 4 KiB, that it sent SIGKILL.
fn runkill_sent_kill(log: &File) -> bool {
    let size = log.metadata().map_or(0, |m| m.len());
    let from = size.saturating_sub(4096);
    let mut tail = vec![0u8; (size - from) as usize];
    let said = format!("{}SIGKILL at ", Store::RUNKILL_SAYS);
    log.read_exact_at(&mut tail, from).is_ok()
        && tail.windows(said.len()).any(|w| w == said.as_bytes())
}

/// A job that could not be started (no pipe, no fork, no record): if `run`
/// still waits to hear, nothing of it is left and `run` says why (`what`
/// failed: starting it, or recording it). A job whose wait is over, which
/// run has long reported, is never dropped: it ends `failed`, with why.
#[allow(clippy::too_many_arguments)]
fn not_started(
    store: &Store,
    log: &File,
    mut record: Record,
    space: crate::store::RecordSpace,
    report: Option<OwnedFd>,
    what: u8,
    e: io::Error,
    clock: Instant,
) -> Option<End> {
    if let Some(report) = report {
        store.remove_launch(&record.id, log);
        send(&report, what, e.raw_os_error().unwrap_or(libc::EIO));
        sys::exit_now(1)
    }
    (record.pid, record.pgid, record.status) = (None, None, Status::Failed);
    record.reason = Some(format!("cannot start: {}", crate::error::describe(&e)));
    let why = record.reason.clone();
    finish_unstarted(store, log, record, space, clock, why)
}

/// Record the end of a job that never ran (cancelled or skipped while it
/// waited, or not started at its turn): it ends now, `clock` after it
/// began to wait.
fn finish_unstarted(
    store: &Store,
    log: &File,
    mut record: Record,
    space: crate::store::RecordSpace,
    clock: Instant,
    why: Option<String>,
) -> Option<End> {
    let ended = SystemTime::now();
    record.ended = Some(crate::time::unix_seconds(ended));
    record.duration = Some(clock.elapsed().as_secs_f64());
    Some(finish(
        store,
        log,
        record,
        space,
        why,
        clock.elapsed(),
        ended,
    ))
}

/// Why the exec of `file` failed, in words. A file that is there but whose
/// `#!` interpreter is not (a script saved on Windows: `#!/bin/sh\r`) fails
/// with "No such file or directory": its interpreter is named instead, as
/// a shell's "bad interpreter" does.
fn exec_failure(errno: i32, file: &std::path::Path) -> String {
    let interpreter = || {
        let mut head = [0u8; 256];
        let n = File::open(file).ok()?.read(&mut head).ok()?;
        let line = head[..n]
            .strip_prefix(b"#!")?
            .split(|&b| b == b'\n')
            .next()?;
        let word = line
            .trim_ascii_start()
            .split(|&b| b == b' ' || b == b'\t')
            .next()?;
        (!word.is_empty()).then(|| word.to_vec())
    };
    match (errno == libc::ENOENT).then(interpreter).flatten() {
        Some(word) => format!(
            "exec failed: its interpreter {} was not found",
            crate::quote::shell_quote(&word)
        ),
        None => {
            let err = io::Error::from_raw_os_error(errno);
            format!("exec failed: {}", crate::error::describe(&err))
        }
    }
}

/// Record the end: the final record, the footer, and how it ended for the
/// notification, which goes even where the end cannot be recorded (a file
/// system gone read-only): then it says so, as the log does if it can.
fn finish(
    store: &Store,
    log: &File,
    record: Record,
    space: crate::store::RecordSpace,
    why: Option<String>,
    elapsed: Duration,
    ended: SystemTime,
) -> End {
    // The final record into its room first, then the footer, then the
    // rename: whoever finds the footer finds the end recorded (in the room,
    // if the supervisor died before the rename), and whoever sees the final
    // record in place finds the footer already in the log.
    let mut footer = None;
    let recorded = store.fill_final_record(&record, &space).and_then(|()| {
        footer = Some(write_footer(log, &record, elapsed, ended));
        store.publish_final_record(&record, space, log)
    });
    // Where the job's output ends: before what is said below.
    let footer_at = match footer {
        Some(Ok(at)) => at,
        _ => log.metadata().map_or(0, |m| m.len()),
    };
    let mut troubles = Vec::new();
    // A full disk (or a file size limit) that the job met too: its own last
    // words, and the footer, are not in the log.
    if let Some(Err(e)) = footer {
        let e = crate::error::describe(&e);
        troubles.push(format!(
            "its log could not be written to ({e}): it may lack the job's last output"
        ));
    }
    if let Err(e) = recorded {
        let e = crate::error::describe(&e);
        crate::error::tell!(
            "run: cannot record the job's end ({}: {}): {e}",
            record.status.word(),
            record.end_detail().unwrap_or("exit unknown".into())
        );
        troubles.push(format!(
            "its end could not be recorded ({e}): runs shows it lost"
        ));
    }
    End {
        record,
        footer_at,
        why,
        troubles,
    }
}

/// How a job ended, for its notification.
struct End {
    record: Record,
    /// Where the footer starts in the log (or would have).
    footer_at: u64,
    /// Why it never ran, if its exec failed.
    why: Option<String>,
    /// What went wrong in recording it, for the notification to say.
    troubles: Vec<String>,
}

/// Notify, once the record is final, and say in the log how that went.
fn announce(mut log: &File, end: &End, header_len: u64, target: &Target) {
    let output = match &end.why {
        Some(why) => why.clone(),
        None => crate::notify::output_tail(log, header_len, end.footer_at),
    };
    if let Some(message) = crate::notify::message(&end.record, &output, &end.troubles) {
        let outcome = crate::notify::deliver(target, &message);
        let _ = writeln!(log, "--- {outcome}");
    }
}

/// `--- done: exit 0 after 3m 12s, peak 11.2 MiB, CPU 2m 5s, ended
/// 2025-12-05 16:38:51 +0100`, on a line of its own even if the job's last
/// line had no newline. Returns the size of the log before it.
fn write_footer(
    log: &File,
    record: &Record,
    elapsed: Duration,
    ended: SystemTime,
) -> io::Result<u64> {
    let how = record.end_detail().unwrap_or("exit unknown".into());
    let cost = record
        .cost()
        .map_or(String::new(), |cost| format!(", {cost}"));
    let footer = format!(
        "--- {}: {how} after {}{cost}, ended {}",
        record.status.word(),
        crate::time::duration(elapsed),
        crate::time::human(&crate::time::local(ended)),
    );
    crate::store::add_line(log, &footer)
}
