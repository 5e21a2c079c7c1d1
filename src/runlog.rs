//! `runlog [OPTIONS] [JOB]`: pick a job, show its log, and follow it until
//! the job ends.
//!
//! Rule: a log is streamed, never read whole, and its bytes pass through
//! unchanged; following sleeps until the log changes (no busy loop) and ends
//! when the job's lock is released.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Error, Result, code};
use crate::jobs::{self, Job};
use crate::record::Status;
use crate::store::{LOG, Store, open_read};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::time::Duration;

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
signal N, 1 if lost or unknown to runlog; 2 bad usage; 130 cancelled.";

/// How long to trust inotify before checking the lock anyway.
const RECHECK: Duration = Duration::from_secs(1);

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
        println!("{HELP}");
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
        Some(_) => show(&store, &job, Some(40), false),
        None => show(&store, &job, lines, !no_follow),
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
    let mut child = Command::new(fzf)
        .args([
            "--height=40%",
            "--reverse",
            "--prompt=log> ",
            "--delimiter=\t",
            "--with-nth=2..",
        ])
        .arg(format!("--preview={preview}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let mut input = String::new();
    for job in jobs {
        input.push_str(job.id());
        input.push('\t');
        input.push_str(&summary(job));
        input.push('\n');
    }
    if let Some(mut stdin) = child.stdin.take() {
        // fzf may quit before reading everything; that is its answer.
        let _ = stdin.write_all(input.as_bytes());
    }
    let output = child.wait_with_output().map_err(failed)?;
    let chosen = String::from_utf8_lossy(&output.stdout);
    let id = chosen.split('\t').next().unwrap_or("").trim();
    match output.status.code() {
        Some(0) => jobs
            .iter()
            .find(|j| j.id() == id)
            .copied()
            .ok_or_else(cancelled),
        Some(1 | 130) | None => Err(cancelled()),
        Some(_) => Err(Error::new(code::FAILURE, "fzf failed")),
    }
}

fn pick_from_menu<'a>(tty: File, jobs: &[&'a Job]) -> Result<&'a Job> {
    let mut out = &tty;
    let mut input = io::BufReader::new(&tty);
    let failed = |e: io::Error| {
        Error::new(
            code::FAILURE,
            format!("terminal: {}", crate::error::describe(&e)),
        )
    };
    let mut menu = String::new();
    for (n, job) in jobs.iter().enumerate() {
        menu.push_str(&format!("{}) {}\n", n + 1, summary(job)));
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

/// Print the log (the last `lines` of it), then follow it while the job runs.
pub fn show(store: &Store, job: &Job, lines: Option<u64>, follow: bool) -> Result<i32> {
    let path = store.path(job.id(), LOG);
    let mut log = open_read(&path).map_err(|e| Error::io("cannot open log", &path, e))?;
    let meta = log
        .metadata()
        .map_err(|e| Error::io("cannot open log", &path, e))?;
    if !meta.is_file() {
        return Err(Error::new(
            code::FAILURE,
            format!(
                "{}: not a regular file",
                crate::quote::escape(&path.to_string_lossy())
            ),
        ));
    }
    let start = match lines {
        Some(n) => {
            tail_start(&log, meta.len(), n).map_err(|e| Error::io("cannot read log", &path, e))?
        }
        None => 0,
    };
    log.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io("cannot read log", &path, e))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if !pump(&mut log, &mut out, &path)? {
        return Ok(code::OK);
    }
    if !follow || job.status != Status::Running {
        return Ok(job.exit_status());
    }
    // Until the store says it has ended: its end recorded (the supervisor
    // may hold the log a while longer to notify), or nothing of it alive.
    let alive = || {
        if job.legacy {
            job.record.pid.is_some_and(crate::sys::process_exists)
        } else {
            matches!(job.refresh(store), Ok(Some(now)) if now.status == Status::Running)
        }
    };
    let watch =
        crate::sys::Watch::file(&path).map_err(|e| Error::io("cannot watch log", &path, e))?;
    while alive() {
        watch.wait(RECHECK, |_| {});
        if !pump(&mut log, &mut out, &path)? {
            return Ok(code::OK);
        }
    }
    // The footer was written before the end was recorded.
    if !pump(&mut log, &mut out, &path)? {
        return Ok(code::OK);
    }
    if job.legacy {
        return Ok(code::OK);
    }
    let ended = job
        .refresh(store)
        .map_err(|e| Error::io("cannot read the record of", &path, e))?
        .ok_or_else(|| {
            Error::new(
                code::FAILURE,
                format!("{} was removed", crate::quote::escape(job.id())),
            )
        })?;
    if ended.status == Status::Lost {
        eprintln!(
            "runlog: {} is lost: no end was recorded (its supervisor died, or the machine rebooted)",
            crate::quote::escape(ended.id())
        );
    }
    Ok(ended.exit_status())
}

/// Copy what the log has beyond its current offset; false once the reader
/// has gone away (`runlog | head`), which ends runlog quietly.
fn pump(log: &mut File, out: &mut impl Write, path: &std::path::Path) -> Result<bool> {
    match io::copy(log, out).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::io("cannot copy log", path, e)),
    }
}

/// The offset where the last `n` lines of a `size`-byte log begin, found by
/// reading backwards from the end in blocks.
fn tail_start(log: &File, size: u64, n: u64) -> io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    if n == 0 {
        return Ok(size);
    }
    let mut buf = vec![0u8; BLOCK as usize];
    let mut newlines = 0;
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        log.read_exact_at(chunk, start)?;
        for (i, &byte) in chunk.iter().enumerate().rev() {
            let at = start + i as u64;
            // The newline that ends the last line does not start a line.
            if byte == b'\n' && at + 1 != size {
                newlines += 1;
                if newlines == n {
                    return Ok(at + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(text: &str, n: u64) -> String {
        let path = std::env::temp_dir().join(format!(
            "runlog-tail-{}-{n}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        let start = tail_start(&file, text.len() as u64, n).unwrap();
        std::fs::remove_file(&path).unwrap();
        text[start as usize..].to_string()
    }

    #[test]
    fn tail_finds_the_last_lines() {
        assert_eq!(tail_of("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_of("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_of("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail_of("a\nb\nc\n", 0), "");
        assert_eq!(tail_of("", 3), "");
        let long = "x".repeat(100_000) + "\nlast\n";
        assert_eq!(tail_of(&long, 1), "last\n");
    }
}
