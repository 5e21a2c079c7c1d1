//! `run`, one binary under several names: it acts by the name it was invoked
//! under (`run`, `runs`, `runlog`, `runrm`, `runkill`, `runwait`).
//!
//! Rule: this file only dispatches and reports; errors are printed here, once,
//! as `NAME: message`, and mapped to the exit codes in `error::code`.
#![deny(unsafe_code)]

mod args;
mod completions;
mod error;
mod follow;
mod jobs;
mod naming;
mod notify;
mod quote;
mod record;
mod run;
mod runkill;
mod runlog;
mod runrm;
mod runs;
mod runwait;
mod spawn;
mod store;
mod sys;
mod time;

use error::code;
use std::ffi::OsString;
use std::path::Path;

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let invoked = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("run")
        .to_string();
    let rest = args.split_off(1.min(args.len()));
    sys::private_umask();
    // Past a file size limit (`ulimit -f`) a write fails with EFBIG, said
    // as an error, instead of killing the command with nothing said (the
    // listing's index, the supervisor's footer); the job gets it back.
    sys::ignore_signal(libc::SIGXFSZ);
    let (name, result) = match invoked.as_str() {
        "runs" => ("runs", runs::main(rest)),
        "runlog" => ("runlog", runlog::main(rest)),
        "runrm" => ("runrm", runrm::main(rest)),
        "runkill" => ("runkill", runkill::main(rest)),
        "runwait" => ("runwait", runwait::main(rest)),
        // Any other name (run-x86_64, a renamed copy) acts as `run`.
        _ => ("run", run::main(rest)),
    };
    let mut status = match result {
        Ok(status) => status,
        Err(err) => {
            crate::error::tell!("{name}: {err}");
            if err.code == code::OK {
                code::FAILURE
            } else {
                err.code
            }
        }
    };
    // What could not be printed is said once; a success that was not told
    // is not one.
    if let Some(e) = error::unsaid() {
        crate::error::tell!("{name}: cannot write: {}", error::describe(&e));
        if status == code::OK {
            status = code::FAILURE;
        }
    }
    std::process::exit(status)
}
