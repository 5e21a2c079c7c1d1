//! The one error type above `io::Error`: a message that already says what was
//! being done and to which path, and the exit code it maps to.
//!
//! Rule: `main` prints an error once, as `PROG: message`; below it, only
//! what goes on after a problem (a job that could not be signalled, a
//! record that could not be written) is told, with `tell!`. Nothing prints
//! with a macro that can panic: `say!` and `tell!` stand for `println!` and
//! `eprintln!`, and stdout that cannot be written is one error at the end.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// Documented exit codes (README, "Exit codes").
pub mod code {
    /// Success.
    pub const OK: i32 = 0;
    /// A runtime failure: I/O on the state directory, a job that did not
    /// end well, an unknown job.
    pub const FAILURE: i32 = 1;
    /// Bad usage: unknown option, missing value, invalid name, no command.
    pub const USAGE: i32 = 2;
    /// The command was found but could not be executed.
    pub const NOT_EXECUTABLE: i32 = 126;
    /// The command was not found.
    pub const NOT_FOUND: i32 = 127;
    /// Cancelled by the user.
    pub const CANCELLED: i32 = 130;
}

#[derive(Debug)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: i32, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(code::USAGE, message)
    }

    /// "`what` `path`: `why`", e.g. "cannot create /x/y.log: Permission denied".
    pub fn io(what: &str, path: &Path, err: io::Error) -> Error {
        Error::new(
            code::FAILURE,
            format!(
                "{what} {}: {}",
                crate::quote::escape(&path.to_string_lossy()),
                describe(&err)
            ),
        )
    }
}

/// The OS's words for an io::Error, without Rust's " (os error N)" suffix.
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `println!` that never panics. A line that cannot be written (stdout on a
/// full disk) is dropped and the command goes on; `main` then says so once
/// (see `unsaid`). A reader that has gone (a closed pipe) is no error.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::error::said(std::io::Write::write_fmt(
            &mut std::io::stdout(),
            format_args!("{}\n", format_args!($($arg)*)),
        ))
    };
}
pub(crate) use say;

/// `eprintln!` that never panics: stderr may be a full disk (the
/// supervisor's is the log) or gone, and nothing is left to tell then.
macro_rules! tell {
    ($($arg:tt)*) => {
        drop(std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("{}\n", format_args!($($arg)*)),
        ))
    };
}
pub(crate) use tell;

/// The first failed write to stdout, as an errno (0: none).
static UNSAID: AtomicI32 = AtomicI32::new(0);

pub fn said(result: io::Result<()>) {
    if let Err(e) = result
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let _ = UNSAID.compare_exchange(0, errno, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Why something could not be written to stdout, once all is flushed.
pub fn unsaid() -> Option<io::Error> {
    said(io::Write::flush(&mut io::stdout()));
    let errno = UNSAID.load(Ordering::Relaxed);
    (errno != 0).then(|| io::Error::from_raw_os_error(errno))
}
