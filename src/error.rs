//! The one error type above `io::Error`: a message that already says what was
//! being done and to which path, and the exit code it maps to.
//!
//! Rule: `main` prints an error once, as `PROG: message`; nothing below it
//! prints errors of its own.

use std::fmt;
use std::io;
use std::path::Path;

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
