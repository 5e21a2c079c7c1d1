//! Every libc call in the crate, each behind a small safe wrapper that returns
//! `io::Result`.
//!
//! Rule: `unsafe` lives here and nowhere else, and every block says why it is
//! sound. Functions documented "fork-safe" are async-signal-safe: they neither
//! allocate nor take locks, so they may run between `fork` and `exec`.
//! Linux-only calls sit behind `cfg(target_os = "linux")` with a portable
//! fallback beside them.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::time::Duration;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `call()` again while it fails with EINTR: its result, or the error.
/// Fork-safe (an OS error allocates nothing); inlined, so that the idle
/// supervisor's wait maps back no page of its own.
#[inline(always)]
fn retry(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let ret = call();
        if ret >= 0 {
            return Ok(ret as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Which side of a `fork` we are on.
pub enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)`. `run` is single-threaded (it never spawns a thread), so the
/// child's copy of the heap and of every lock is consistent.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: fork has no memory-safety preconditions of its own; the caller's
    // process is single-threaded, so no lock can be held by a vanished thread.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Fork::Child
    } else {
        Fork::Parent(pid)
    })
}

/// `_exit(2)`: leave a forked child without running destructors or atexit
/// handlers that belong to the parent. Fork-safe.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes any int and never returns.
    unsafe { libc::_exit(code) }
}

/// `setsid(2)`: a new session with no controlling terminal.
pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments; failure is reported through errno.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// `setpgid(pid, pid)`: put `pid` (0 for the caller) in a process group of its
/// own. Fork-safe.
pub fn own_process_group(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setpgid(pid, pid) }).map(drop)
}

/// `dup2(2)`: make descriptor `target` refer to `fd`'s open file. The new
/// descriptor does not have close-on-exec set. Fork-safe.
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: `fd` is open for the borrow; dup2 on any target number is sound,
    // and the callers only target 0, 1 and 2, which Rust code does not own.
    cvt(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// `write(2)` of a whole small buffer, retried on EINTR. Fork-safe.
pub fn write_raw(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe a live slice.
        let n =
            retry(|| unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) })?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// `read(2)` into a small buffer, retried on EINTR; 0 at end of file.
/// Fork-safe.
pub fn read_raw(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe a live, writable slice.
    retry(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// A pipe whose two ends are both close-on-exec.
pub fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(target_os = "linux")]
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: as above; the process is single-threaded, so no exec can
        // slip in between pipe and fcntl.
        cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        for fd in fds {
            // SAFETY: fd was just returned by pipe and is open.
            cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
        }
    }
    // SAFETY: pipe returned two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Close every descriptor from 3 up except those in `keep`. Used by the
/// supervisor so that it pins nothing of its caller's (an ssh channel, a
/// pipe): `ssh host run cmd` must return at once.
pub fn close_inherited_except(keep: &[RawFd]) {
    let mut keep = keep.to_vec();
    // 0, 1 and 2 are kept anyway; a negative number stands for no file.
    keep.retain(|&fd| fd > 2);
    keep.sort_unstable();
    #[cfg(target_os = "linux")]
    {
        // close_range(2), Linux 5.9 and later: the gaps between the keepers.
        let mut first = 3;
        let mut closed = true;
        for last in keep.iter().map(|&k| k - 1).chain([RawFd::MAX]) {
            if first <= last {
                // SAFETY: closes only numbers outside `keep`; no Rust object
                // owns them (see the fallback below).
                let ret = unsafe {
                    libc::syscall(
                        libc::SYS_close_range,
                        first as libc::c_uint,
                        last as libc::c_uint,
                        0,
                    )
                };
                closed &= ret == 0;
            }
            first = last.saturating_add(2);
        }
        if closed {
            return;
        }
    }
    #[cfg(target_os = "linux")]
    const FD_DIR: &str = "/proc/self/fd";
    #[cfg(not(target_os = "linux"))]
    const FD_DIR: &str = "/dev/fd";
    let open: Vec<RawFd> = match std::fs::read_dir(FD_DIR) {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        // Without the directory, fall back to a bounded sweep.
        Err(_) => (3..1024).collect(),
    };
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a number we do not own is sound for the process
            // (at worst EBADF); every descriptor Rust code still uses is in
            // `keep`, and the read_dir handle above is already dropped.
            unsafe { libc::close(fd) };
        }
    }
}

/// Call `each(name, inode, type)` for every entry of `dir` but `.` and `..`,
/// from the directory listing alone: no `stat`, and no allocation per entry.
/// The type is a `DT_*` value. On Linux, `getdents64` reads 64 KiB of entries
/// at a time.
#[cfg(target_os = "linux")]
pub fn scan_dir(dir: &std::path::Path, mut each: impl FnMut(&[u8], u64, u8)) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let fd = dir.as_raw_fd();
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = retry(|| unsafe {
            libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) as isize
        })?;
        if n == 0 {
            return Ok(());
        }
        // Each entry: d_ino (8 bytes), d_off (8), d_reclen (2), d_type (1),
        // then the name and a NUL, padded to d_reclen.
        let mut entries = &buf[..n];
        while entries.len() >= 19 {
            let field = |at: usize, len: usize| &entries[at..at + len];
            let ino = u64::from_ne_bytes(field(0, 8).try_into().unwrap_or_default());
            let len = u16::from_ne_bytes(field(16, 2).try_into().unwrap_or_default()) as usize;
            if len < 19 || len > entries.len() {
                return Err(io::Error::from(io::ErrorKind::InvalidData));
            }
            let name = &entries[19..len];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                each(name, ino, entries[18]);
            }
            entries = &entries[len..];
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn scan_dir(dir: &std::path::Path, mut each: impl FnMut(&[u8], u64, u8)) -> io::Result<()> {
    use std::os::unix::fs::DirEntryExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = match entry.file_type() {
            Ok(t) if t.is_file() => libc::DT_REG,
            Ok(t) if t.is_dir() => libc::DT_DIR,
            Ok(t) if t.is_symlink() => libc::DT_LNK,
            _ => libc::DT_UNKNOWN,
        };
        each(entry.file_name().as_bytes(), entry.ino(), kind);
    }
    Ok(())
}

/// `argv` for `execvp`, built before `fork` so that the child allocates
/// nothing.
pub struct ExecArgs {
    file: CString,
    _strings: Vec<CString>,
    pointers: Vec<*const libc::c_char>,
}

impl ExecArgs {
    /// `file` is what to execute, `args` the argv (non-empty). Fails only
    /// if a word holds a NUL byte, which no OS argument can.
    pub fn new(file: &std::path::Path, args: &[OsString]) -> io::Result<ExecArgs> {
        if args.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let strings = args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pointers: Vec<_> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Ok(ExecArgs {
            file: CString::new(file.as_os_str().as_bytes())?,
            _strings: strings,
            pointers,
        })
    }

    /// The file to execute.
    pub fn file(&self) -> &std::path::Path {
        std::path::Path::new(std::ffi::OsStr::from_bytes(self.file.as_bytes()))
    }
}

/// `execvp(3)` of the file already found (it holds a `/`, so there is no
/// PATH search; libc still runs a script without `#!` with /bin/sh).
/// Returns only on failure. Fork-safe: nothing is allocated.
pub fn execvp(args: &ExecArgs) -> io::Error {
    // SAFETY: `file` is a C string and `pointers` a NULL-terminated array of
    // pointers into `_strings`, all living as long as `args`.
    unsafe { libc::execvp(args.file.as_ptr(), args.pointers.as_ptr()) };
    io::Error::last_os_error()
}

/// A new file in `dir` that has no name yet (O_TMPFILE), open for reading
/// and appending; `link_file` gives it one. Unsupported where the file
/// system lacks O_TMPFILE, or where /proc (which the link goes through) is
/// not mounted.
#[cfg(target_os = "linux")]
pub fn unnamed_file(dir: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Looked at once per process (the supervisor inherits the answer).
    static PROC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*PROC.get_or_init(|| std::path::Path::new("/proc/self/fd").is_dir()) {
        return Err(io::ErrorKind::Unsupported.into());
    }
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir)
}

#[cfg(not(target_os = "linux"))]
pub fn unnamed_file(_dir: &std::path::Path) -> io::Result<std::fs::File> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Give the unnamed `file` the name `path`; fails if `path` exists.
#[cfg(target_os = "linux")]
pub fn link_file(file: &std::fs::File, path: &std::path::Path) -> io::Result<()> {
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: two valid C strings; linkat does not keep them.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if linked == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn link_file(_file: &std::fs::File, _path: &std::path::Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// `access(path, X_OK)`: whether this process may execute `path`.
pub fn may_execute(path: &std::path::Path) -> bool {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string.
    unsafe { libc::access(path.as_ptr(), libc::X_OK) == 0 }
}

/// Whether `path` is on a file system mounted noexec.
#[cfg(target_os = "linux")]
pub fn on_noexec_mount(path: &std::path::Path) -> bool {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid C string and a zeroed statvfs for the result.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(path.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_NOEXEC != 0
    }
}

#[cfg(not(target_os = "linux"))]
pub fn on_noexec_mount(_path: &std::path::Path) -> bool {
    false
}

/// Put every signal's disposition back to its default and empty the signal
/// mask, so the job does not inherit Rust's ignored SIGPIPE or anything the
/// caller ignored. Fork-safe.
pub fn reset_signals() {
    // SAFETY: sigaction with SIG_DFL is async-signal-safe; numbers that are not
    // signals, or cannot be caught, fail with EINVAL, which is ignored.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        for sig in 1..65 {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    unblock_all_signals();
}

/// Empty the signal mask. Fork-safe.
fn unblock_all_signals() {
    if let Some(empty) = signal_set([]) {
        // SAFETY: an emptied sigset_t; sigprocmask only changes this
        // thread's mask.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) };
    }
}

/// The caller's umask, for the job (`restore_umask`).
static CALLERS_UMASK: AtomicU32 = AtomicU32::new(0o022);

/// Make files 0600 and directories 0700 as asked, whatever the caller's
/// umask (one of 0277 made the state directory unwritable to us), and keep
/// the caller's for the job.
pub fn private_umask() {
    // SAFETY: umask cannot fail.
    let callers = unsafe { libc::umask(0o077) };
    CALLERS_UMASK.store(callers as u32, Ordering::SeqCst);
}

/// Give this process the caller's umask again: the job's. Fork-safe.
pub fn restore_umask() {
    // SAFETY: umask cannot fail; the value is one umask returned.
    unsafe { libc::umask(CALLERS_UMASK.load(Ordering::SeqCst) as libc::mode_t) };
}

/// Take signals back from the caller, before the supervisor is forked:
/// SIGCHLD at its default, so that a child is not reaped before it is
/// waited for (its exit code lost) if the caller ignored it, as some
/// daemons do; and an empty mask, so that a mask a threaded caller left
/// does not hold back a timeout or a signal to pass on.
pub fn own_signals() {
    // SAFETY: SIG_DFL is a valid disposition for SIGCHLD.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    unblock_all_signals();
}

/// Ignore `sig` in this process.
pub fn ignore_signal(sig: libc::c_int) {
    // SAFETY: SIG_IGN is a valid disposition for the catchable signals the
    // callers pass.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Whether child `pid` has been killed by a signal (reaping it if it has
/// ended), without waiting: false while it lives, or if it exited.
pub fn child_killed(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let ended = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid;
    ended && libc::WIFSIGNALED(status)
}

/// `waitpid(pid, 0)`, blocking and retried on EINTR; returns the raw status.
pub fn wait_for(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    retry(|| unsafe { libc::waitpid(pid, &mut status, 0) } as isize)?;
    Ok(status)
}

/// The signals that would end the supervisor, other than SIGKILL, the
/// faults and its own SIGALRM: it passes each on to the job's group
/// instead, or takes it as a cancel while the job waits (SIGPIPE stays
/// ignored, as Rust leaves it).
fn stop_signals() -> impl Iterator<Item = libc::c_int> {
    let named = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
    ];
    #[cfg(target_os = "linux")]
    let extra = [libc::SIGPWR, libc::SIGSTKFLT]
        .into_iter()
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX());
    #[cfg(not(target_os = "linux"))]
    let extra = std::iter::empty();
    named.into_iter().chain(extra)
}

/// The set of `signals`; `None` if one of them is no signal here.
fn signal_set(signals: impl IntoIterator<Item = libc::c_int>) -> Option<libc::sigset_t> {
    // SAFETY: a zeroed sigset_t emptied by sigemptyset; sigaddset only
    // checks each number and sets its bit.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        let all = signals
            .into_iter()
            .all(|sig| libc::sigaddset(&mut set, sig) == 0);
        all.then_some(set)
    }
}

/// The process group a timeout stops (0: none armed), how far it has got
/// (0 armed, 1 SIGTERM sent, 2 SIGKILL sent), and the grace in microseconds.
static STOP_GROUP: AtomicI32 = AtomicI32::new(0);
static STOP_STAGE: AtomicI32 = AtomicI32::new(0);
static STOP_GRACE: AtomicU64 = AtomicU64::new(0);
/// When the timeout's next step is due, in `monotonic_micros`: a SIGALRM
/// before it (`kill -ALRM`) is not the timer's, and stops nothing.
static STOP_AT: AtomicU64 = AtomicU64::new(0);

/// CLOCK_MONOTONIC in microseconds. Async-signal-safe.
fn monotonic_micros() -> u64 {
    // SAFETY: a zeroed timespec is valid, and a valid out-pointer;
    // CLOCK_MONOTONIC always exists.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t);
        t
    };
    t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1000
}

/// Stop process group `group` once `after` has passed: SIGTERM, then
/// SIGKILL `grace` later unless disarmed. The signals come from a SIGALRM
/// handler, so a process blocked in a wait wakes no earlier than the
/// deadline, and a deadline reached outside the wait is not missed.
pub fn stop_group_after(group: libc::pid_t, after: Duration, grace: Duration) {
    extern "C" fn on_alarm(_: libc::c_int) {
        // SAFETY: errno is saved and restored around calls that are
        // async-signal-safe; the statics are atomics.
        unsafe {
            let errno = *errno_location();
            let (now, due) = (monotonic_micros(), STOP_AT.load(Ordering::SeqCst));
            if now < due {
                set_timer(Duration::from_micros(due - now));
                *errno_location() = errno;
                return;
            }
            let stage = STOP_STAGE.fetch_add(1, Ordering::SeqCst);
            let group = STOP_GROUP.load(Ordering::SeqCst);
            let signal = [libc::SIGTERM, libc::SIGKILL].get(stage as usize);
            if let (true, Some(&signal)) = (group > 0, signal) {
                libc::kill(-group, signal);
                // A stopped job acts on its SIGTERM only once continued.
                libc::kill(-group, libc::SIGCONT);
            }
            if stage == 0 {
                let grace = STOP_GRACE.load(Ordering::SeqCst);
                STOP_AT.store(now + grace, Ordering::SeqCst);
                set_timer(Duration::from_micros(grace));
            }
            *errno_location() = errno;
        }
    }
    STOP_GROUP.store(group, Ordering::SeqCst);
    STOP_STAGE.store(0, Ordering::SeqCst);
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    STOP_GRACE.store(micros(grace), Ordering::SeqCst);
    let after = after.max(Duration::from_micros(1));
    STOP_AT.store(
        monotonic_micros().saturating_add(micros(after)),
        Ordering::SeqCst,
    );
    // SAFETY: the handler is async-signal-safe; SA_RESTART resumes whatever
    // call it interrupts (a wait goes on waiting for the group to die).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
    }
    set_timer(after);
}

/// Disarm `stop_group_after`; whether it had begun to stop the group.
pub fn disarm_stop() -> bool {
    STOP_GROUP.store(0, Ordering::SeqCst);
    set_timer(Duration::ZERO);
    STOP_STAGE.load(Ordering::SeqCst) > 0
}

/// Hold the stop signals back (`hold`), or let them come again. Held
/// across a fork, neither reaches the parent's handler in the child, which
/// empties its mask (`reset_signals`) only once its dispositions are the
/// defaults; in the parent, one that came meanwhile is handled at the let-go.
pub fn hold_stop_signals(hold: bool) {
    // Every stop signal is one here.
    let Some(set) = signal_set(stop_signals()) else {
        return;
    };
    let how = if hold {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: a sigset_t built with sigemptyset and sigaddset; sigprocmask
    // only changes this thread's mask.
    unsafe { libc::sigprocmask(how, &set, std::ptr::null_mut()) };
}

/// The process group `forward_stop_signals` passes signals on to, and
/// whether it has passed one on.
static FORWARD_GROUP: AtomicI32 = AtomicI32::new(0);
static FORWARDED: AtomicBool = AtomicBool::new(false);

/// From now on no stop signal ends this process: each goes on to process
/// group `group` (with a SIGCONT, since a stopped job acts on it only once
/// continued), and whatever call it interrupts is resumed. Group 0: to no
/// one, as once the job has been waited for, its group id may be a
/// stranger's.
pub fn forward_stop_signals(group: libc::pid_t) {
    extern "C" fn on_signal(sig: libc::c_int) {
        // SAFETY: kill is async-signal-safe; errno is kept; the static is an
        // atomic.
        unsafe {
            let errno = *errno_location();
            let group = FORWARD_GROUP.load(Ordering::SeqCst);
            if group > 0 {
                libc::kill(-group, sig);
                libc::kill(-group, libc::SIGCONT);
                FORWARDED.store(true, Ordering::SeqCst);
            }
            *errno_location() = errno;
        }
    }
    FORWARD_GROUP.store(group, Ordering::SeqCst);
    // SAFETY: the handler is async-signal-safe; SA_RESTART resumes the wait.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        for sig in stop_signals() {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Whether `forward_stop_signals` has passed a signal on to the job.
pub fn forwarded() -> bool {
    FORWARDED.load(Ordering::SeqCst)
}

/// The signal `catch_stop` caught (0: none yet).
static STOP_CAUGHT: AtomicI32 = AtomicI32::new(0);

/// Catch the stop signals instead of dying of them: note which came, and
/// from then on interrupt any blocking call every 10 ms (a repeating
/// SIGALRM; no handler restarts what it interrupts), so that a wait entered
/// just after `stop_caught` said no still ends. `default_stop` undoes this.
pub fn catch_stop() {
    extern "C" fn on_stop(sig: libc::c_int) {
        STOP_CAUGHT.store(sig, Ordering::SeqCst);
        set_timer(Duration::from_millis(10));
    }
    extern "C" fn on_alarm(_: libc::c_int) {
        set_timer(Duration::from_millis(10));
    }
    // SAFETY: the handlers touch only an atomic and set_timer, which keeps
    // errno.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        action.sa_sigaction = on_stop as *const () as libc::sighandler_t;
        for sig in stop_signals() {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// The stop signal that came since `catch_stop`, if one did.
pub fn stop_caught() -> Option<libc::c_int> {
    Some(STOP_CAUGHT.load(Ordering::SeqCst)).filter(|&sig| sig != 0)
}

/// The stop signals kill this process again, and no alarm interrupts it
/// (SIGALRM is ignored again, as from the detach on; SIGXFSZ, as from the
/// start: see main).
pub fn default_stop() {
    for sig in stop_signals() {
        // SAFETY: SIG_DFL is a valid disposition for these signals.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    set_timer(Duration::ZERO);
    ignore_signal(libc::SIGALRM);
    ignore_signal(libc::SIGXFSZ);
}

/// Wait until a shared lock on `file` is had (and keep it), an error comes,
/// or `limit` has passed (never, if None). Past the limit a SIGALRM every
/// 10 ms interrupts the wait, so that one entered just after the deadline
/// still ends.
pub fn await_shared_lock(file: BorrowedFd, limit: Option<Duration>) {
    extern "C" fn on_alarm(_: libc::c_int) {}
    let deadline = limit.map(|limit| {
        // SAFETY: the handler does nothing; no SA_RESTART, so that the
        // alarm interrupts the flock.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        }
        set_timer_every(
            limit.max(Duration::from_micros(1)),
            Duration::from_millis(10),
        );
        monotonic_micros().saturating_add(u64::try_from(limit.as_micros()).unwrap_or(u64::MAX))
    });
    loop {
        // SAFETY: plain integer arguments.
        match cvt(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if deadline.is_some_and(|due| monotonic_micros() >= due) {
                    break;
                }
            }
            _ => break,
        }
    }
    if deadline.is_some() {
        set_timer(Duration::ZERO);
    }
}

/// SIGALRM after `d` (never, if zero). Async-signal-safe.
fn set_timer(d: Duration) {
    set_timer_every(d, Duration::ZERO)
}

/// SIGALRM after `first` (never, if zero), then every `then` (if not zero).
fn set_timer_every(first: Duration, then: Duration) {
    let time = |d: Duration| libc::timeval {
        tv_sec: d.as_secs() as _,
        tv_usec: d.subsec_micros() as _,
    };
    let timer = libc::itimerval {
        it_interval: time(then),
        it_value: time(first),
    };
    // SAFETY: a valid itimerval; the old value is not asked for.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
}

#[cfg(any(target_os = "linux", target_os = "android"))]
use libc::__errno_location as errno_location;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
use libc::__error as errno_location;

/// `kill(2)`.
pub fn send_signal(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Broken-down local time, honouring TZ.
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Seconds east of UTC.
    pub offset: i64,
}

/// `localtime_r(3)` for Unix time `secs`.
pub fn local_time(secs: i64) -> io::Result<LocalTime> {
    let t = secs as _;
    // SAFETY: tm is plain data, so all-zero is a valid value, and localtime_r
    // writes only into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return Err(io::Error::other("time out of range"));
    }
    Ok(LocalTime {
        year: tm.tm_year + 1900,
        month: tm.tm_mon as u32 + 1,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        offset: tm.tm_gmtoff as i64,
    })
}

/// `gethostname(2)`.
pub fn hostname() -> io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`; one byte is kept for NUL.
    cvt(unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) })?;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
}

/// The effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The home directory of the effective user from the password database, if
/// there is an entry.
pub fn home_from_passwd() -> Option<PathBuf> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: passwd is plain data; all-zero is valid.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid and `buf`'s length is passed alongside.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || pw.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success pw_dir points to a NUL-terminated string inside `buf`.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    let dir = OsStr::from_bytes(dir.to_bytes());
    (!dir.is_empty()).then(|| PathBuf::from(OsString::from_vec(dir.as_bytes().to_vec())))
}

const SIGNALS: &[(libc::c_int, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGSYS, "SIGSYS"),
];

/// `SIGTERM` for 15, and so on; `SIG<n>` for numbers without a name.
pub fn signal_name(sig: i32) -> String {
    match SIGNALS.iter().find(|(n, _)| *n == sig) {
        Some((_, name)) => name.to_string(),
        None => format!("SIG{sig}"),
    }
}

/// The number of a signal named `SIGTERM`, `TERM` or `SIG15`: one this
/// system has (not `SIG128`, whose 128+N would read as exit 0).
pub fn signal_number(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    let exists = |&sig: &i32| signal_set([sig]).is_some();
    SIGNALS
        .iter()
        .find(|(_, n)| &n[3..] == bare)
        .map(|(sig, _)| *sig)
        .or_else(|| bare.parse().ok().filter(exists))
}

/// `mktime(3)`: local broken-down time back to Unix seconds (DST guessed).
pub fn unix_from_local(t: &LocalTime) -> Option<i64> {
    // SAFETY: tm is plain data; all-zero is valid before the fields are set.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = t.year - 1900;
    tm.tm_mon = t.month as libc::c_int - 1;
    tm.tm_mday = t.day as libc::c_int;
    tm.tm_hour = t.hour as libc::c_int;
    tm.tm_min = t.minute as libc::c_int;
    tm.tm_sec = t.second as libc::c_int;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, initialised struct that mktime may normalise.
    let secs = unsafe { libc::mktime(&mut tm) };
    (secs != -1).then_some(secs as i64)
}

/// Whether a process with this pid exists. Only for jobs of the original
/// shell version, which left nothing better than a pid.
pub fn process_exists(pid: i32) -> bool {
    pid > 0
        && match send_signal(pid, 0) {
            Ok(()) => true,
            Err(e) => e.raw_os_error() == Some(libc::EPERM),
        }
}

/// A live process as the system lists it: its ids, and when it started.
#[derive(Clone, Copy, Debug)]
pub struct Process {
    pub pid: i32,
    pub group: i32,
    pub session: i32,
    /// When it started, in seconds since the boot, as `boot_clock` counts:
    /// no step of the wall clock moves it.
    pub since_boot: f64,
    /// Stopped by a signal (state `T`), as `kill -STOP` leaves it.
    pub stopped: bool,
}

/// Every live process (zombies left out), from `/proc`. An error where
/// there is no `/proc` (a chroot or container with none mounted): a list
/// without this very process is no list.
#[cfg(target_os = "linux")]
pub fn processes() -> io::Result<Vec<Process>> {
    let hz = stat_clock();
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let pid = entry.file_name().to_str().and_then(|n| n.parse().ok());
        // A process may end while the list is read: it is simply not in it.
        if let Some(process) = pid.and_then(|pid| process_at(pid, hz)) {
            all.push(process);
        }
    }
    match all.iter().any(|p| p.pid == own_pid()) {
        true => Ok(all),
        false => Err(io::Error::from(io::ErrorKind::Unsupported)),
    }
}

/// One process, if it is alive (not a zombie); `Err` where there is no
/// `/proc` to tell.
#[cfg(target_os = "linux")]
pub fn process(pid: i32) -> io::Result<Option<Process>> {
    let hz = stat_clock();
    match process_at(pid, hz) {
        None if process_at(own_pid(), hz).is_none() => {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }
        found => Ok(found),
    }
}

/// The clock ticks per second that `/proc/PID/stat` counts in.
#[cfg(target_os = "linux")]
fn stat_clock() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// `/proc/PID/stat`: state, process group and session are fields 3, 5 and
/// 6, the start time in ticks field 22, all counted after the command
/// name, which is in parentheses and may hold anything.
#[cfg(target_os = "linux")]
fn process_at(pid: i32, hz: f64) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    Some(Process {
        pid,
        group: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        since_boot: fields.get(19)?.parse::<f64>().ok()? / hz,
        stopped: fields.first() == Some(&"T"),
    })
}

/// When the system booted, in Unix seconds (whole seconds).
#[cfg(target_os = "linux")]
pub fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Seconds since the boot (`CLOCK_BOOTTIME`), the clock that process start
/// times count in.
#[cfg(target_os = "linux")]
pub fn boot_clock() -> Option<f64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: t is a valid timespec for the call to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut t) } == 0;
    ok.then(|| t.tv_sec as f64 + t.tv_nsec as f64 / 1e9)
}

/// The kernel's id of this boot: another one means the machine rebooted.
#[cfg(target_os = "linux")]
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

#[cfg(not(target_os = "linux"))]
pub fn boot_clock() -> Option<f64> {
    None
}

#[cfg(not(target_os = "linux"))]
pub fn boot_id() -> Option<String> {
    None
}

/// How many processes the kernel's OOM killer has killed since boot, of
/// every memory cgroup (`oom_kill` in `/proc/vmstat`); elsewhere none.
#[cfg(target_os = "linux")]
pub fn oom_kills() -> Option<u64> {
    let vmstat = std::fs::read_to_string("/proc/vmstat").ok()?;
    let line = vmstat.lines().find_map(|l| l.strip_prefix("oom_kill "))?;
    line.trim().parse().ok()
}

#[cfg(not(target_os = "linux"))]
pub fn oom_kills() -> Option<u64> {
    None
}

/// The current directory's name where `getcwd` has none (it was removed):
/// the kernel's, `/path (deleted)`. Elsewhere none.
#[cfg(target_os = "linux")]
pub fn removed_cwd() -> Option<std::path::PathBuf> {
    std::fs::read_link("/proc/self/cwd").ok()
}

#[cfg(not(target_os = "linux"))]
pub fn removed_cwd() -> Option<std::path::PathBuf> {
    None
}

/// The pid namespace this process sees ids in: the inode of
/// `/proc/self/ns/pid`. Elsewhere (and without /proc) unknown.
#[cfg(target_os = "linux")]
pub fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

#[cfg(not(target_os = "linux"))]
pub fn pid_namespace() -> Option<u64> {
    None
}

/// Elsewhere there is no process table to read; callers fall back to
/// `session_of` and `group_of`.
#[cfg(not(target_os = "linux"))]
pub fn processes() -> io::Result<Vec<Process>> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
pub fn process(_pid: i32) -> io::Result<Option<Process>> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
pub fn boot_time() -> Option<f64> {
    None
}

/// `getsid(2)`: the session of process `pid`.
pub fn session_of(pid: i32) -> io::Result<i32> {
    // SAFETY: plain integer argument.
    cvt(unsafe { libc::getsid(pid) })
}

/// `getpgid(2)`: the process group of process `pid`.
pub fn group_of(pid: i32) -> io::Result<i32> {
    // SAFETY: plain integer argument.
    cvt(unsafe { libc::getpgid(pid) })
}

/// `getpid(2)`. Fork-safe.
pub fn own_pid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Columns of the terminal on `fd`, if it is one.
pub fn terminal_width(fd: BorrowedFd<'_>) -> Option<usize> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the ioctl's one out-argument.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(size.ws_col as usize)
}

/// Wakes a waiter when a file or a directory changes: inotify on Linux
/// where it can be had (a user's instances may all be taken), else a short
/// sleep.
pub struct Watch {
    #[cfg(target_os = "linux")]
    inotify: Option<OwnedFd>,
}

impl Watch {
    /// A log: written to, or closed by a writer.
    pub fn file(path: &std::path::Path) -> Watch {
        #[cfg(target_os = "linux")]
        let mask = libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_DONT_FOLLOW;
        #[cfg(not(target_os = "linux"))]
        let mask = 0;
        Watch::new(path, mask)
    }

    /// The state directory: a file renamed into it (a record replaced) or
    /// removed from it.
    pub fn dir(path: &std::path::Path) -> Watch {
        #[cfg(target_os = "linux")]
        let mask = libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_ONLYDIR;
        #[cfg(not(target_os = "linux"))]
        let mask = 0;
        Watch::new(path, mask)
    }

    #[cfg(target_os = "linux")]
    fn new(path: &std::path::Path, mask: u32) -> Watch {
        let watch = || -> io::Result<OwnedFd> {
            let path = CString::new(path.as_os_str().as_bytes())?;
            // SAFETY: no pointer arguments.
            let fd = cvt(unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) })?;
            // SAFETY: inotify_init1 returned a fresh descriptor that we now own.
            let inotify = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: `path` is a valid NUL-terminated string.
            cvt(unsafe { libc::inotify_add_watch(fd, path.as_ptr(), mask) })?;
            Ok(inotify)
        };
        Watch {
            inotify: watch().ok(),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_path: &std::path::Path, _mask: u32) -> Watch {
        Watch {}
    }

    /// Block until something changes or `timeout` passes, and call `each`
    /// with the name of each directory entry that changed. True if it was
    /// woken by events (all of them named, for a directory); false on a
    /// timeout, or where there are no events to tell.
    #[cfg(target_os = "linux")]
    pub fn wait(&self, timeout: std::time::Duration, mut each: impl FnMut(&[u8])) -> bool {
        let Some(inotify) = &self.inotify else {
            return nap(timeout);
        };
        let mut pollfd = libc::pollfd {
            fd: inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pollfd, 1, millis) } <= 0 {
            return false;
        }
        let mut buf = [0u8; 4096];
        let mut complete = true;
        loop {
            // SAFETY: the buffer and its length match; the fd is non-blocking.
            let n = unsafe { libc::read(pollfd.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            // Each event: wd (4 bytes), mask (4), cookie (4), len (4), then
            // `len` bytes of NUL-padded name.
            let mut events = &buf[..n as usize];
            while events.len() >= 16 {
                let len = u32::from_ne_bytes([events[12], events[13], events[14], events[15]]);
                let Some(name) = events.get(16..16 + len as usize) else {
                    complete = false;
                    break;
                };
                let mask = u32::from_ne_bytes([events[4], events[5], events[6], events[7]]);
                complete &= mask & libc::IN_Q_OVERFLOW == 0;
                each(&name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())]);
                events = &events[16 + len as usize..];
            }
        }
        complete
    }

    #[cfg(not(target_os = "linux"))]
    pub fn wait(&self, timeout: std::time::Duration, _each: impl FnMut(&[u8])) -> bool {
        nap(timeout)
    }
}

/// What a watch without events does: sleep a little, then say nothing was
/// told, so that the waiter looks at everything.
fn nap(timeout: std::time::Duration) -> bool {
    std::thread::sleep(timeout.min(std::time::Duration::from_millis(200)));
    false
}

/// What SIGINT's handler says on stderr before it exits (see
/// `say_on_interrupt`): a leaked string, set once its length is.
static FAREWELL: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static FAREWELL_LEN: AtomicUsize = AtomicUsize::new(0);

/// Make SIGINT end the process at once with status 130, the shell's code for
/// an interrupt, instead of dying by the signal.
pub fn exit_130_on_interrupt() {
    extern "C" fn on_interrupt(_: libc::c_int) {
        let len = FAREWELL_LEN.load(Ordering::SeqCst);
        // SAFETY: write and _exit are async-signal-safe; the text is leaked,
        // `len` bytes long, and was stored before its length.
        unsafe {
            if len > 0 {
                libc::write(2, FAREWELL.load(Ordering::SeqCst).cast(), len);
            }
            libc::_exit(130)
        }
    }
    // SAFETY: the handler only calls async-signal-safe functions.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        )
    };
}

/// From now on an interrupt (see `exit_130_on_interrupt`) says `text` first.
pub fn say_on_interrupt(text: String) {
    let text: &'static mut str = Box::leak(text.into_boxed_str());
    FAREWELL.store(text.as_mut_ptr(), Ordering::SeqCst);
    FAREWELL_LEN.store(text.len(), Ordering::SeqCst);
}

/// Overwrite, in place, the values of the named variables in this process's
/// environment block, so that `/proc/PID/environ` (and `ps e`) no longer
/// show them. Children forked earlier keep their copies.
pub fn scrub_environment(names: &[&str]) {
    unsafe extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    // SAFETY: the process is single-threaded and never calls setenv, so
    // `environ` is the NULL-terminated array of NUL-terminated strings the
    // kernel laid out; we only write NULs inside those strings' bounds.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = std::ffi::CStr::from_ptr(*entry).to_bytes();
            for name in names {
                if bytes.len() > name.len()
                    && bytes.starts_with(name.as_bytes())
                    && bytes[name.len()] == b'='
                {
                    let value = (*entry).add(name.len() + 1);
                    std::ptr::write_bytes(value, 0, bytes.len() - name.len() - 1);
                }
            }
            entry = entry.add(1);
        }
    }
}

/// `wait_for`, for a wait that may last days: first unmap the pages of this
/// program's file that the process has mapped but not modified, so an idle
/// supervisor does not keep the ~1 MB of code that starting the job
/// touched. They stay in the page cache and fault back in on use. The unmap
/// and the blocking call sit together because the kernel maps pages back
/// 64 KiB at a time around each one touched in between.
#[cfg(target_os = "linux")]
pub fn wait_for_idle(pid: libc::pid_t) -> io::Result<Waited> {
    // Both calls go through the one `syscall` entry point, so that only two
    // windows of code are mapped back: this function's and that one's.
    if let Some((start, len)) = read_only_image() {
        // SAFETY: the range is our executable's read-only image, with no
        // private (modified) page; MADV_DONTNEED on it only drops page table
        // entries, and every page refaults from the file intact.
        unsafe { libc::syscall(libc::SYS_madvise, start, len, libc::MADV_DONTNEED) };
    }
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid out-pointers.
    retry(|| unsafe {
        libc::syscall(libc::SYS_wait4, pid, &mut status, WAIT_FLAGS, &mut usage) as isize
    })?;
    // Linux counts ru_maxrss in KiB.
    Ok(Waited::from(status, &usage, 1))
}

/// Also told when the child stops or continues.
const WAIT_FLAGS: libc::c_int = libc::WUNTRACED | libc::WCONTINUED;

/// What waiting for a child told.
pub enum Waited {
    Stopped,
    Continued,
    /// It ended: its wait status, and what it cost.
    Ended(libc::c_int, Usage),
}

impl Waited {
    fn from(status: libc::c_int, usage: &libc::rusage, maxrss_unit: u64) -> Waited {
        if libc::WIFSTOPPED(status) {
            Waited::Stopped
        } else if libc::WIFCONTINUED(status) {
            Waited::Continued
        } else {
            Waited::Ended(status, Usage::from(usage, maxrss_unit))
        }
    }
}

/// (start, length) of this program's read-only image: from its ELF header
/// (the start of its first mapping) to the end of its code, in whole pages.
/// The linker lays out headers, read-only data and code there, before any
/// writable segment, and a static or position-independent executable has
/// no text relocations, so no page of it is ever modified. Found from the
/// linker's symbols, not by reading /proc/self/smaps: that read cost each
/// launch 0.2-0.8 ms of CPU beside the next one on 2 cores (issue 18).
#[cfg(target_os = "linux")]
fn read_only_image() -> Option<(usize, usize)> {
    unsafe extern "C" {
        static __ehdr_start: u8;
        static etext: u8;
    }
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .ok()
        .filter(|&page| page > 0)?;
    // Only the symbols' addresses are taken, never their bytes.
    let start = (std::ptr::addr_of!(__ehdr_start) as usize).div_ceil(page) * page;
    let end = std::ptr::addr_of!(etext) as usize / page * page;
    (end > start).then(|| (start, end - start))
}

/// A shared lock on `file`, for a wait that may last days: as
/// `wait_for_idle`, the pages of this program's file go first. A signal
/// interrupts it (`ErrorKind::Interrupted`).
#[cfg(target_os = "linux")]
pub fn lock_shared_idle(file: BorrowedFd) -> io::Result<()> {
    if let Some((start, len)) = read_only_image() {
        // SAFETY: as in `wait_for_idle`.
        unsafe { libc::syscall(libc::SYS_madvise, start, len, libc::MADV_DONTNEED) };
    }
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::syscall(libc::SYS_flock, file.as_raw_fd(), libc::LOCK_SH) } as libc::c_int)
        .map(drop)
}

/// Elsewhere, only the lock.
#[cfg(not(target_os = "linux"))]
pub fn lock_shared_idle(file: BorrowedFd) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) }).map(drop)
}

/// Elsewhere, only the wait.
#[cfg(not(target_os = "linux"))]
pub fn wait_for_idle(pid: libc::pid_t) -> io::Result<Waited> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid out-pointers.
    retry(|| unsafe { libc::wait4(pid, &mut status, WAIT_FLAGS, &mut usage) } as isize)?;
    // macOS and the BSDs count ru_maxrss in bytes.
    Ok(Waited::from(status, &usage, 1024))
}

/// What a waited-for child cost: its own and that of the descendants it
/// waited for (wait4's rusage).
pub struct Usage {
    /// The largest resident set of any one of those processes, KiB.
    pub peak_rss_kib: u64,
    /// CPU seconds, in user and in system mode.
    pub user: f64,
    pub system: f64,
}

impl Usage {
    fn from(usage: &libc::rusage, maxrss_unit: u64) -> Usage {
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Usage {
            peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0) / maxrss_unit,
            user: seconds(usage.ru_utime),
            system: seconds(usage.ru_stime),
        }
    }
}
