//! Detachment: `run` forks a supervisor, which leaves the terminal's session
//! and forks the job into a process group of its own, then waits for it and
//! records how it ended. The job is held at a gate until its pid file and
//! record exist.
//!
//! Rules: everything the job child needs (argv, descriptors) is made before
//! `fork`; between `fork` and `exec` the child calls only fork-safe `sys`
//! functions and leaves with `_exit`. The supervisor may allocate, because
//! `run` is single-threaded. `run` returns only once the job has exec'd, and
//! an exec failure leaves no job files behind.

use crate::error::{Error, Result, code};
use crate::notify::Target;
use crate::record::{Record, Status};
use crate::store::Store;
use crate::sys::{self, ExecArgs, Fork};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Instant, SystemTime};

/// Report from the supervisor to `run`: one tag byte and an i32.
const STARTED: u8 = b'P';
const EXEC_FAILED: u8 = b'E';
const STORE_FAILED: u8 = b'S';

/// A job about to start.
pub struct Launch {
    /// The log: locked, header written.
    pub log: File,
    /// Where the job's output begins in the log.
    pub header_len: u64,
    pub record: Record,
    pub command: Vec<OsString>,
    pub notify: Option<Target>,
}

/// Start the job. Returns its record with the pid filled in.
pub fn start(store: &Store, launch: Launch) -> Result<Record> {
    let Launch {
        log,
        header_len,
        mut record,
        command,
        notify,
    } = launch;
    let args = ExecArgs::new(&command).map_err(|e| Error::new(code::USAGE, e.to_string()))?;
    let pipe_failed = |e| {
        Error::new(
            code::FAILURE,
            format!("cannot start the job: {}", crate::error::describe(&e)),
        )
    };
    let (report_in, report_out) = sys::pipe_cloexec().map_err(pipe_failed)?;
    match sys::fork().map_err(pipe_failed)? {
        Fork::Child => {
            drop(report_in);
            let end = supervise(store, &log, record, &args, report_out);
            if let (Some(target), Some((record, footer_at))) = (notify, end) {
                announce(&log, &record, header_len, footer_at, &target);
            }
            sys::exit_now(0)
        }
        Fork::Parent(_) => {
            // The supervisor holds the log (and its lock) from here on.
            drop(log);
            drop(report_out);
            match receive(report_in) {
                Some((STARTED, value)) => {
                    record.pid = Some(value);
                    record.pgid = Some(value);
                    Ok(record)
                }
                Some((EXEC_FAILED, value)) => Err(exec_error(&command[0], value)),
                Some((_, value)) => Err(Error::new(
                    code::FAILURE,
                    format!(
                        "cannot record the job in {}: {}",
                        crate::quote::escape(&store.dir().to_string_lossy()),
                        crate::error::describe(&io::Error::from_raw_os_error(value))
                    ),
                )),
                None => {
                    store.remove_files(&record.id);
                    Err(Error::new(
                        code::FAILURE,
                        "the supervisor died before the job started",
                    ))
                }
            }
        }
    }
}

fn exec_error(program: &OsString, errno: i32) -> Error {
    let name = crate::quote::shell_quote(program.as_encoded_bytes());
    match errno {
        libc::ENOENT => Error::new(code::NOT_FOUND, format!("{name}: command not found")),
        libc::EACCES | libc::EPERM | libc::EISDIR => {
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

/// Read one message; `None` at end of file (the writer exec'd or died).
fn receive(pipe: OwnedFd) -> Option<(u8, i32)> {
    let mut message = [0u8; 5];
    File::from(pipe).read_exact(&mut message).ok()?;
    Some((
        message[0],
        i32::from_le_bytes([message[1], message[2], message[3], message[4]]),
    ))
}

/// Write one message: a tag byte and an i32. Fork-safe: no allocation.
fn send(report: &OwnedFd, tag: u8, value: i32) {
    let mut message = [tag, 0, 0, 0, 0];
    message[1..].copy_from_slice(&value.to_le_bytes());
    let _ = sys::write_raw(report.as_fd(), &message);
}

/// The supervisor: detach, start the job, wait for it, record the end.
/// Returns the final record and where the footer starts in the log, or
/// `None` if the end could not be recorded.
fn supervise(
    store: &Store,
    log: &File,
    mut record: Record,
    args: &ExecArgs,
    report: OwnedFd,
) -> Option<(Record, u64)> {
    let _ = sys::setsid();
    sys::ignore_signal(libc::SIGHUP);
    // stdin from /dev/null; stdout and stderr onto the log, so that anything
    // the supervisor itself has to say lands there too. Then drop whatever
    // else the caller handed us: an ssh channel must not wait on us.
    let stdio = File::open("/dev/null").and_then(|null| {
        sys::dup_onto(null.as_fd(), 0)?;
        sys::dup_onto(log.as_fd(), 1)?;
        sys::dup_onto(log.as_fd(), 2)
    });
    sys::close_inherited_except(&[log.as_raw_fd(), report.as_raw_fd()]);
    let id = record.id.clone();
    let fail = |e: io::Error| -> ! {
        store.remove_files(&id);
        send(&report, STORE_FAILED, e.raw_os_error().unwrap_or(libc::EIO));
        sys::exit_now(1)
    };
    if let Err(e) = stdio {
        fail(e);
    }
    // Room for the final record, taken before the job can fill the disk.
    let space = store.reserve_record(&record).unwrap_or_else(|e| fail(e));
    let (exec_in, exec_out) = sys::pipe_cloexec().unwrap_or_else(|e| fail(e));
    // The job waits at this gate until its pid file and record exist, so
    // that nothing it writes can come before them (or fill the disk first).
    let (gate_in, gate_out) = sys::pipe_cloexec().unwrap_or_else(|e| fail(e));
    let clock = Instant::now();
    let pid = match sys::fork().unwrap_or_else(|e| fail(e)) {
        Fork::Child => {
            // The job. Fork-safe calls only from here to exec.
            drop(gate_out);
            let _ = sys::own_process_group(0);
            sys::reset_signals();
            // One byte means go; end of file means the supervisor gave up.
            if !matches!(sys::read_raw(gate_in.as_fd(), &mut [0u8]), Ok(1)) {
                sys::exit_now(127);
            }
            let err = sys::execvp(args);
            send(
                &exec_out,
                EXEC_FAILED,
                err.raw_os_error().unwrap_or(libc::ENOEXEC),
            );
            sys::exit_now(127)
        }
        Fork::Parent(pid) => pid,
    };
    // Also set here, so the group exists whichever process runs first.
    let _ = sys::own_process_group(pid);
    drop((gate_in, exec_out));
    record.pid = Some(pid);
    record.pgid = Some(pid);
    if let Err(e) = store
        .create_pid_file(&record.id, pid)
        .and_then(|()| store.write_record(&record, false))
        .and_then(|()| sys::write_raw(gate_out.as_fd(), b"g"))
    {
        drop(gate_out);
        let _ = sys::wait_for(pid);
        fail(e);
    }
    drop(gate_out);
    if let Some((_, errno)) = receive(exec_in) {
        // exec failed: the message is the child's errno. Leave no trace.
        let _ = sys::wait_for(pid);
        store.remove_files(&id);
        send(&report, EXEC_FAILED, errno);
        sys::exit_now(0);
    }
    send(&report, STARTED, pid);
    drop(report);
    // The job has its own copy of the environment; ours need not show
    // the notification credentials to anyone listing it.
    sys::scrub_environment(&["NTFY_TOKEN", "NTFY_USER"]);

    // From here on the supervisor only waits: it need not hold run's pages.
    let raw = sys::wait_for_idle(pid);
    let elapsed = clock.elapsed();
    let ended = SystemTime::now();
    record.ended = Some(crate::time::unix_seconds(ended));
    record.duration = Some(elapsed.as_secs_f64());
    match raw.map(ExitStatus::from_raw) {
        Ok(status) if status.signal().is_some() => {
            record.signal = status.signal().map(sys::signal_name);
        }
        Ok(status) => record.exit_code = status.code(),
        Err(e) => eprintln!(
            "run: cannot wait for the job: {}",
            crate::error::describe(&e)
        ),
    }
    record.status = match record.recorded_status() {
        // No exit code and no signal: we could not learn how it ended.
        Status::Running => Status::Lost,
        status => status,
    };
    // The footer first, then the record: whoever sees the final record
    // finds the footer already in the log.
    let footer_at = write_footer(log, &record, elapsed, ended).unwrap_or(0);
    if let Err(e) = store.write_final_record(&record, space) {
        eprintln!(
            "run: cannot write the final record: {}",
            crate::error::describe(&e)
        );
        return None;
    }
    Some((record, footer_at))
}

/// Notify, once the record is final, and say in the log how that went.
fn announce(mut log: &File, record: &Record, header_len: u64, footer_at: u64, target: &Target) {
    let output = crate::notify::output_tail(log, header_len, footer_at);
    if let Some(message) = crate::notify::message(record, &output) {
        let outcome = crate::notify::deliver(target, &message);
        let _ = writeln!(log, "--- {outcome}");
    }
}

/// `--- done: exit 0 after 3m 12s, ended 2025-12-05 16:38:51 +0100`, on a
/// line of its own even if the job's last line had no newline. Returns the
/// size of the log before it.
fn write_footer(
    mut log: &File,
    record: &Record,
    elapsed: std::time::Duration,
    ended: SystemTime,
) -> io::Result<u64> {
    let size = log.metadata()?.len();
    let mut last = [b'\n'];
    if size > 0 {
        log.read_exact_at(&mut last, size - 1)?;
    }
    let how = match (&record.signal, record.exit_code) {
        (Some(signal), _) => signal.clone(),
        (None, Some(code)) => format!("exit {code}"),
        (None, None) => "exit unknown".to_string(),
    };
    let footer = format!(
        "{}--- {}: {how} after {}, ended {}\n",
        if last[0] == b'\n' { "" } else { "\n" },
        record.status.word(),
        crate::time::duration(elapsed),
        crate::time::human(&crate::time::local(ended)),
    );
    log.write_all(footer.as_bytes())?;
    Ok(size)
}

/// The file `execvp` would run for `name`: `name` itself if it holds a `/`,
/// else the first executable file of that name on PATH.
pub fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = std::path::PathBuf::from(name);
        return executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| !name.is_empty() && executable(candidate))
}
