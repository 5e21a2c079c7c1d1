//! `runs [OPTIONS]`: list the jobs with their true status, oldest first.
//!
//! Rule: status comes from the job store (record plus lock), and everything a
//! command line could contain is escaped before it reaches the terminal.

use crate::error::{Error, Result, code};
use crate::jobs::{self, Job};
use crate::record::Status;
use crate::store::Store;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::time::SystemTime;

const HELP: &str = "\
runs - list background jobs started with run, oldest first

Usage: runs [OPTIONS]

Options:
      --json      print a JSON array of job records (see README, Job record)
  -r, --running   only running jobs
      --failed    only failed, killed and lost jobs
  -h, --help      show this help

Status: running, done (exit 0), failed (other exit code), killed (by a
signal), lost (no end recorded and nothing of it alive). Jobs of the
original shell version show as running or ended, marked old.
Colour only on a terminal, and never with NO_COLOR set.";

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let mut p = pico_args::Arguments::from_vec(args);
    if p.contains(["-h", "--help"]) {
        println!("{HELP}");
        return Ok(code::OK);
    }
    // Internal, for shell completion: ids and names, one a line.
    if p.contains("--complete") {
        for word in jobs::completions(&Store::open()?) {
            println!("{}", crate::quote::escape(&word));
        }
        return Ok(code::OK);
    }
    let json = p.contains("--json");
    let running = p.contains(["-r", "--running"]);
    let failed = p.contains("--failed");
    if let Some(unknown) = p.finish().first() {
        let shown = crate::quote::shell_quote(unknown.as_encoded_bytes());
        return Err(Error::usage(format!(
            "unknown argument {shown} (see runs --help)"
        )));
    }
    let store = Store::open()?;
    let listing = jobs::list(&store)?;
    for problem in &listing.problems {
        eprintln!("runs: {problem}");
    }
    let shown: Vec<&Job> = listing
        .jobs
        .iter()
        .filter(|j| !running || j.status == Status::Running)
        .filter(|j| !failed || matches!(j.status, Status::Failed | Status::Killed | Status::Lost))
        .collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        let _ = writeln!(out, "[");
        for (i, job) in shown.iter().enumerate() {
            let comma = if i + 1 < shown.len() { "," } else { "" };
            let _ = writeln!(out, "{}{comma}", job.record.to_json(job.status));
        }
        let _ = writeln!(out, "]");
    } else if listing.jobs.is_empty() {
        eprintln!(
            "runs: no jobs in {}; start one with: run COMMAND",
            crate::quote::escape(&store.dir().to_string_lossy())
        );
    } else {
        let terminal = stdout.is_terminal();
        let colour = terminal && std::env::var_os("NO_COLOR").is_none();
        let width = terminal
            .then(|| crate::sys::terminal_width(std::os::fd::AsFd::as_fd(&stdout)))
            .flatten();
        table(&mut out, &shown, colour, width);
    }
    // The process ends here: freeing 10,000 records one by one would cost
    // more than listing them did.
    std::mem::forget(listing);
    match out.flush() {
        // A reader that stopped early (`runs | head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::new(
            code::FAILURE,
            format!("cannot write: {}", crate::error::describe(&e)),
        )),
        _ => Ok(code::OK),
    }
}

/// The listing: mark, status, id, detail, duration, command; columns padded
/// to the widest cell, each line cut to `width` if given. The cells are
/// written once, into one buffer.
fn table(out: &mut impl Write, jobs: &[&Job], colour: bool, width: Option<usize>) {
    let now = crate::time::unix_seconds(SystemTime::now());
    // Each row: where its id, detail, duration and command begin and end.
    let mut cells = String::new();
    let mut rows: Vec<[usize; 5]> = Vec::with_capacity(jobs.len());
    let mut widths = [0usize; 3];
    for job in jobs {
        let mut row = [cells.len(); 5];
        crate::quote::push_escaped(&mut cells, job.id());
        row[1] = cells.len();
        push_detail(&mut cells, job);
        row[2] = cells.len();
        push_elapsed(&mut cells, job, now);
        row[3] = cells.len();
        job.push_command_line(&mut cells);
        row[4] = cells.len();
        for (i, width) in widths.iter_mut().enumerate() {
            *width = (*width).max(cells[row[i]..row[i + 1]].chars().count());
        }
        rows.push(row);
    }
    let mut line = String::new();
    for (job, row) in jobs.iter().zip(&rows) {
        let status = job.status;
        line.clear();
        line.push(status.mark());
        line.push(' ');
        pad(&mut line, status.word(), 7);
        for (i, width) in widths.into_iter().enumerate() {
            let cell = &cells[row[i]..row[i + 1]];
            line.push(' ');
            if i == 2 {
                // Durations align right.
                line.extend(std::iter::repeat_n(
                    ' ',
                    width.saturating_sub(cell.chars().count()),
                ));
                line.push_str(cell);
            } else {
                pad(&mut line, cell, width);
            }
            line.push(' ');
        }
        line.push_str(&cells[row[3]..row[4]]);
        if let Some(width) = width
            && line.chars().count() > width
        {
            line = line
                .chars()
                .take(width.saturating_sub(1))
                .collect::<String>()
                + "…";
        }
        let paint = match status {
            Status::Done => "\x1b[32m",
            Status::Failed | Status::Killed => "\x1b[31m",
            Status::Lost => "\x1b[33m",
            _ => "",
        };
        let _ = if colour && !paint.is_empty() {
            // Colour the mark and the word, which are never cut.
            let split = line.char_indices().nth(9).map_or(line.len(), |(i, _)| i);
            writeln!(out, "{paint}{}\x1b[0m{}", &line[..split], &line[split..])
        } else {
            writeln!(out, "{line}")
        };
    }
}

/// `exit 2`, `SIGTERM`, `pid 123`, or `-`; `(old)` for the original's jobs.
fn push_detail(cells: &mut String, job: &Job) {
    use std::fmt::Write;
    let record = &job.record;
    let _ = match (job.status, &record.signal, record.exit_code, record.pid) {
        (_, Some(signal), _, _) => cells.write_str(signal),
        (_, None, Some(code), _) => write!(cells, "exit {code}"),
        (Status::Running | Status::Ended, _, _, Some(pid)) => write!(cells, "pid {pid}"),
        _ => cells.write_str("-"),
    };
    if job.legacy {
        cells.push_str(" (old)");
    }
}

/// How long the job ran, or has been running; `-` if unknown.
fn push_elapsed(cells: &mut String, job: &Job, now: f64) {
    let record = &job.record;
    let seconds = match (record.duration, job.status) {
        (Some(d), _) => d,
        (None, Status::Running) if record.started > 0.0 => now - record.started,
        _ => return cells.push('-'),
    };
    crate::time::push_duration(cells, std::time::Duration::from_secs_f64(seconds.max(0.0)));
}

fn pad(line: &mut String, text: &str, width: usize) {
    line.push_str(text);
    line.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(text.chars().count()),
    ));
}
