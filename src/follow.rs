//! Showing a job's log, and following it until the job ends: for `runlog`
//! and for `run -f`.
//!
//! Rule: a log is streamed, never read whole, and its bytes pass through
//! unchanged; following sleeps until the log changes (no busy loop) and ends
//! once the store says the job has ended.

use crate::error::{Error, Result, code};
use crate::jobs::Job;
use crate::record::Status;
use crate::store::{LOG, Store, open_read};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::time::Duration;

/// How long to trust inotify before checking the lock anyway.
const RECHECK: Duration = Duration::from_secs(1);

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
    // Ctrl+C stops following, not the job: said, since it looks otherwise.
    if follow && !job.status.is_finished() {
        let id = crate::quote::escape(job.id());
        let stop = if job.legacy {
            String::new()
        } else {
            format!(" (runkill {id} stops it)")
        };
        crate::sys::say_on_interrupt(format!("\nrunlog: stopped following; {id} runs on{stop}\n"));
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if !pump(&mut log, &mut out, &path)? {
        return Ok(code::OK);
    }
    if follow && job.elsewhere() {
        crate::error::tell!("runlog: {}; not followed", job.outcome());
    }
    if !follow || job.status.is_finished() {
        return Ok(job.exit_status());
    }
    // Until the store says it has ended: its end recorded (the supervisor
    // may hold the log a while longer to notify), or nothing of it alive.
    let alive = || {
        if job.legacy {
            job.record.pid.is_some_and(crate::sys::process_exists)
        } else {
            matches!(job.refresh(store), Ok(Some(now)) if !now.status.is_finished())
        }
    };
    let watch = crate::sys::Watch::file(&path);
    while alive() {
        watch.wait(RECHECK, |_| {});
        // Emptied to free the disk (`: > LOG`), as tail -f takes it: the
        // output from then on is at its start.
        let (at, len) = (log.stream_position(), log.metadata().map(|m| m.len()));
        if let (Ok(at), Ok(len)) = (at, len)
            && len < at
        {
            crate::error::tell!(
                "runlog: {}: log truncated; following from its start",
                crate::quote::escape(job.id())
            );
            log.rewind()
                .map_err(|e| Error::io("cannot read log", &path, e))?;
        }
        if !pump(&mut log, &mut out, &path)? {
            return Ok(code::OK);
        }
    }
    // The footer was written before the end was recorded.
    if !pump(&mut log, &mut out, &path)? {
        return Ok(code::OK);
    }
    if job.legacy {
        // Its process is gone; it left no exit code.
        return Ok(code::FAILURE);
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
        crate::error::tell!(
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
