//! `runlog [OPTIONS] [JOB]`: pick a job, show its log, and follow it until
//! the job ends.
//!
//! Rule: the job is found as every command finds one (`jobs::select`), or
//! picked from the listing; showing it is `follow`'s.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Error, Result, code};
use crate::jobs::{self, Job};
use crate::store::Store;
use crate::sys;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;

const HELP: &str = "\
runlog - show a job's log, and follow it until the job ends

Usage: runlog [OPTIONS] [JOB]

JOB is a job id, a unique prefix of one, or a job name (the newest job of
that name). Without JOB: the only job, or a picker (fzf when it is on PATH
and this is a terminal, else a numbered menu on the terminal).

Options:
  -n, --lines N     show only the last N lines first
  -f, --follow      follow the log until the job ends (the default)
      --no-follow   print the log and exit, even if the job is running
  -h, --help        show this help

Ctrl+C stops watching; the job keeps running.
Exit status: the job's: 0 done, its exit code if failed, 128+N if killed by
signal N, 1 if lost, skipped or its exit code is unknown (ended, unknown),
or the job is unknown to runlog; 2 bad usage; 130 cancelled.";

/// runlog's options, for the parser and the completions.
pub const OPTIONS: &[Opt] = &[
    opt(
        b'n',
        "lines",
        Takes::Value("a number of lines"),
        "show only the last N lines first",
    ),
    opt(
        b'f',
        "follow",
        Takes::Nothing,
        "follow until the job ends (the default)",
    ),
    opt(0, "no-follow", Takes::Nothing, "print the log and exit"),
    opt(b'h', "help", Takes::Nothing, "show help"),
    opt(0, "preview", Takes::Value("a job id"), ""),
];

pub fn main(args: Vec<OsString>) -> Result<i32> {
    // From the first byte shown, Ctrl+C means "stop watching": exit 130.
    crate::sys::exit_130_on_interrupt();
    let p = crate::args::parse(args, OPTIONS, "runlog", Operands::Anywhere, |_| false)?;
    if p.flag("help") {
        crate::error::say!("{HELP}");
        return Ok(code::OK);
    }
    let lines: Option<u64> = p.value("lines", |s| s.parse().ok())?;
    // -f is the default, accepted for tail's sake; the last one given wins.
    let no_follow = p.last_of(&["follow", "no-follow"]) == Some("no-follow");
    // Internal: what fzf's preview window shows for a highlighted job.
    let preview: Option<String> = p.value("preview", |s| Some(s.to_string()))?;
    let rest = p.operands;
    if rest.len() > 1 {
        return Err(Error::usage("give at most one JOB"));
    }
    let store = Store::existing()?;
    let named = preview
        .as_ref()
        .map(OsString::from)
        .or(rest.first().cloned());
    let job = match named {
        Some(reference) => jobs::select(store.as_ref(), &[reference])?.remove(0),
        None => pick(&jobs::list(store.as_ref(), |_| true)?)?.clone(),
    };
    // A job was found, so there is a store.
    let Some(store) = store else {
        return Ok(code::FAILURE);
    };
    match preview {
        Some(_) => crate::follow::show(&store, &job, Some(40), false),
        None => crate::follow::show(&store, &job, lines, !no_follow),
    }
}

fn cancelled() -> Error {
    Error::new(code::CANCELLED, "cancelled")
}

/// Choose a job when none was named.
fn pick(jobs: &[Job]) -> Result<&Job> {
    match jobs {
        [] => {
            return Err(Error::new(
                code::FAILURE,
                "no jobs yet; start one with: run COMMAND",
            ));
        }
        [only] => return Ok(only),
        _ => {}
    }
    let newest_first: Vec<&Job> = jobs.iter().rev().collect();
    if io::stdin().is_terminal()
        && io::stdout().is_terminal()
        && let Ok(fzf) = crate::spawn::resolve(&["fzf".into()])
    {
        return pick_with_fzf(&fzf, &newest_first);
    }
    match OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(tty) => pick_from_menu(tty, &newest_first),
        Err(_) => Err(Error::usage(
            "there are several jobs and no terminal to pick one on: name a JOB (see runs)",
        )),
    }
}

fn summary(job: &Job) -> String {
    let mark = job.status.mark();
    format!(
        "{mark} {:<7} {}  {}",
        job.status.word(),
        crate::quote::escape(job.id()),
        job.command_line()
    )
}

fn pick_with_fzf<'a>(fzf: &std::path::Path, jobs: &[&'a Job]) -> Result<&'a Job> {
    // fzf runs the preview through a shell; argv[0] finds this binary again
    // under the name that makes it act as runlog.
    let me = std::env::args_os()
        .next()
        .unwrap_or_else(|| "runlog".into());
    let preview = format!(
        "{} --preview {{1}}",
        crate::quote::shell_quote(me.as_encoded_bytes())
    );
    let failed = |e: io::Error| {
        Error::new(
            code::FAILURE,
            format!("cannot run fzf: {}", crate::error::describe(&e)),
        )
    };
    let argv = [
        "fzf",
        "--height=40%",
        "--reverse",
        "--prompt=log> ",
        "--delimiter=\t",
        "--with-nth=2..",
        &format!("--preview={preview}"),
    ];
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let exec = sys::ExecArgs::new(fzf, &argv).map_err(failed)?;
    // Its stdin and stdout are pipes; its stderr and /dev/tty, the terminal.
    // (std's Command would cost the static binary 35 KB.)
    let (their_in, our_in) = sys::pipe_cloexec().map_err(failed)?;
    let (our_out, their_out) = sys::pipe_cloexec().map_err(failed)?;
    let pid = match sys::fork().map_err(failed)? {
        sys::Fork::Child => {
            // Fork-safe calls only, up to the exec.
            let _ = sys::dup_onto(their_in.as_fd(), 0);
            let _ = sys::dup_onto(their_out.as_fd(), 1);
            sys::reset_signals();
            let _ = sys::execvp(&exec);
            sys::exit_now(127)
        }
        sys::Fork::Parent(pid) => pid,
    };
    drop((their_in, their_out));
    let mut input = String::new();
    for job in jobs {
        input.push_str(job.id());
        input.push('\t');
        input.push_str(&summary(job));
        input.push('\n');
    }
    // fzf may quit before reading everything; that is its answer.
    let _ = File::from(our_in).write_all(input.as_bytes());
    let mut chosen = String::new();
    let _ = File::from(our_out).read_to_string(&mut chosen);
    let status = sys::wait_for(pid).map_err(failed)?;
    let id = chosen.split('\t').next().unwrap_or("").trim();
    match std::process::ExitStatus::from_raw(status).code() {
        Some(0) => jobs
            .iter()
            .find(|j| j.id() == id)
            .copied()
            .ok_or_else(cancelled),
        Some(1 | 130) | None => Err(cancelled()),
        Some(127) => Err(failed(io::Error::from_raw_os_error(libc::ENOENT))),
        Some(_) => Err(Error::new(code::FAILURE, "fzf failed")),
    }
}

/// How many jobs the numbered menu shows, newest first.
const MENU_LINES: usize = 20;

fn pick_from_menu<'a>(tty: File, jobs: &[&'a Job]) -> Result<&'a Job> {
    let mut out = &tty;
    let mut input = io::BufReader::new(&tty);
    let failed = |e: io::Error| {
        Error::new(
            code::FAILURE,
            format!("terminal: {}", crate::error::describe(&e)),
        )
    };
    // The newest, as many as a terminal shows above its prompt: with more,
    // the newest would scroll away.
    let (jobs, older) = jobs.split_at(jobs.len().min(MENU_LINES));
    let mut menu = String::new();
    for (n, job) in jobs.iter().enumerate() {
        menu.push_str(&format!("{}) {}\n", n + 1, summary(job)));
    }
    if !older.is_empty() {
        let s = if older.len() == 1 { "" } else { "s" };
        menu.push_str(&format!(
            "({} older job{s} not shown: name one, runlog JOB)\n",
            older.len()
        ));
    }
    out.write_all(menu.as_bytes()).map_err(failed)?;
    loop {
        write!(out, "Pick a job [1-{}]: ", jobs.len()).map_err(failed)?;
        let mut answer = String::new();
        if input.read_line(&mut answer).map_err(failed)? == 0 {
            let _ = writeln!(out);
            return Err(cancelled());
        }
        match answer.trim() {
            "" | "q" => return Err(cancelled()),
            text => match text.parse::<usize>() {
                Ok(n) if (1..=jobs.len()).contains(&n) => return Ok(jobs[n - 1]),
                _ => writeln!(out, "Not a job number: {}", crate::quote::escape(text))
                    .map_err(failed)?,
            },
        }
    }
}
