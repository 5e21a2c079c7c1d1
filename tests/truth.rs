//! The first promise, tried as an adversary would: processes killed at
//! random moments, commands racing each other, ids and PIDs reused. Each
//! randomised test runs a fixed number of trials (seeded from RUN_SEED or
//! the clock, and printing the seed) and names the property it holds.
#![cfg(target_os = "linux")]

mod common;
use common::*;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinyjson::JsonValue;

/// Every file in the state directory whose name starts with `prefix`.
fn files_of(w: &World, prefix: &str) -> Vec<String> {
    w.files()
        .into_iter()
        .filter(|f| f.starts_with(prefix))
        .collect()
}

/// The trials that broke the property, each with why; the test fails at
/// its end if there are any, saying how many of how many.
struct Failures(Vec<String>, usize);

impl Failures {
    fn new(trials: usize) -> Failures {
        Failures(Vec::new(), trials)
    }

    fn check(&mut self, holds: bool, why: impl FnOnce() -> String) -> bool {
        if !holds {
            self.0.push(why());
        }
        holds
    }

    fn assert_none(self) {
        println!("{} of {} trials failed", self.0.len(), self.1);
        assert!(
            self.0.is_empty(),
            "{} of {} trials failed: {:#?}",
            self.0.len(),
            self.1,
            self.0
        );
    }
}

/// Property 1: No invisible job: SIGKILL the supervisor at a random moment of the
/// launch. Whenever run says the job did not start, its command never runs
/// (its first act would be to write its mark), and nothing of it is left;
/// whenever run says it started, runs lists it as running while it runs.
#[test]
fn a_supervisor_killed_during_the_launch_leaves_no_invisible_job() {
    const TRIALS: usize = 150;
    let w = World::new();
    let mut random = Random::new("supervisor_killed_during_launch");
    let (mut started, mut refused) = (0, Vec::new());
    let mut failures = Failures::new(TRIALS);
    for trial in 0..TRIALS {
        let mark = w.root.join(format!("ran{trial}"));
        let name = format!("t{trial}");
        let mut run = w
            .cmd("run")
            .args(["-q", "-N", &name, "sh", "-c"])
            .arg(format!("echo $$ > {}; exec sleep 30", mark.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Its only child; none if run was through before it was seen.
        let supervisor = spin("the supervisor", || match children_of(run.id()).first() {
            Some(&pid) => Some(Some(pid)),
            None => run.try_wait().unwrap().map(|_| None),
        });
        std::thread::sleep(Duration::from_micros(random.below(3000)));
        if let Some(supervisor) = supervisor {
            sigkill(supervisor);
        }
        let out = run.wait_with_output().unwrap();
        if out.status.success() {
            started += 1;
            let id = text(&out.stdout).trim().to_string();
            let pid: i64 = poll("the job's mark", || {
                std::fs::read_to_string(&mark).ok()?.trim().parse().ok()
            });
            let shown = w.status(&id);
            failures.check(shown == "running", || {
                format!("trial {trial}: {id} runs, shown {shown}")
            });
            sigkill(pid);
            let status = field_str(&w.wait_end(&id), "status").unwrap();
            failures.check(status == "lost" || status == "killed", || {
                format!("trial {trial}: {id} ended {status}")
            });
        } else {
            let err = text(&out.stderr);
            assert!(
                err.starts_with("run: ") && err.lines().count() == 1,
                "trial {trial}: {err}"
            );
            refused.push((trial, mark, name));
        }
    }
    // The gate opens within microseconds of the record: give any job that
    // got through it time to write its mark, once for all the trials.
    std::thread::sleep(Duration::from_millis(500));
    w.output("runs", &[] as &[&str]);
    for (trial, mark, name) in &refused {
        failures.check(!mark.exists(), || {
            format!("trial {trial}: run said it did not start, but it ran")
        });
        let left = files_of(&w, &format!("{name}_"));
        failures.check(left.is_empty(), || format!("trial {trial}: left {left:?}"));
        if mark.exists() {
            let pid = std::fs::read_to_string(mark).unwrap_or_default();
            sigkill(pid.trim().parse().unwrap_or(0));
        }
    }
    let temps: Vec<String> = files_of(&w, ".new-");
    failures.check(temps.is_empty(), || {
        format!("temporary logs left: {temps:?}")
    });
    println!("{started} started, {} refused", refused.len());
    failures.assert_none();
}

/// Property 2: Nothing half-made stays: SIGKILL `run` itself at a random moment.
/// Each launch leaves a complete job (log, record and pid file, listed
/// with a true status) or nothing, and the next listing removes whatever
/// temporary file a dead launch left.
#[test]
fn run_killed_during_the_launch_leaves_a_whole_job_or_nothing() {
    const TRIALS: usize = 150;
    let w = World::new();
    w.ensure_state();
    let mut random = Random::new("run_killed_during_launch");
    for trial in 0..TRIALS {
        let mut run = w
            .cmd("run")
            .args(["-q", "-N", &format!("t{trial}"), "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(random.below(4000)));
        let _ = run.kill();
        let _ = run.wait();
    }
    // The supervisors of the launches that got that far finish them.
    poll("every launch to settle", || {
        let running = w
            .jobs()
            .values()
            .any(|j| field_str(j, "status").unwrap() == "running");
        (!running).then_some(())
    });
    w.output("runs", &[] as &[&str]);
    let jobs = w.jobs();
    let mut failures = Failures::new(TRIALS);
    for trial in 0..TRIALS {
        let left = files_of(&w, &format!("t{trial}_"));
        if left.is_empty() {
            continue;
        }
        let id = left[0].rsplit_once('.').unwrap().0.to_string();
        let whole = [".json", ".log", ".pid"].map(|s| format!("{id}{s}"));
        if failures.check(left == whole, || {
            format!("trial {trial}: half-made {left:?}")
        }) {
            let status = field_str(&jobs[&id], "status").unwrap();
            failures.check(status == "done", || {
                format!("trial {trial}: {id} is {status}")
            });
        }
    }
    let hidden: Vec<String> = w
        .files()
        .into_iter()
        .filter(|f| f.starts_with('.'))
        .collect();
    failures.check(hidden.iter().all(|f| f == ".index"), || {
        format!("temporary files left: {hidden:?}")
    });
    failures.assert_none();
}

/// Property 3: `lost` means nothing of the job lives: a job that let go of its log
/// (closed it, or unlocked it) reads running while its processes live,
/// whether or not its supervisor does; runrm keeps it, runkill stops it.
#[test]
fn a_job_that_lets_go_of_its_log_is_running_while_it_lives() {
    let w = World::new();
    // Its output elsewhere, and its supervisor killed.
    let closed = w.start(&["sh", "-c", "exec >/dev/null 2>&1; exec sleep 30"]);
    let pid = field_num(&w.job(&closed), "pid").unwrap() as i64;
    let supervisor = parent_of(pid);
    assert!(sigkill(supervisor));
    poll("the supervisor to die", || {
        (!alive(supervisor)).then_some(())
    });
    assert_eq!(w.status(&closed), "running");
    let out = w.output("runrm", &[&closed]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(alive(pid), "runrm removed a running job");
    let out = w.output("runkill", &["--grace", "1s", &closed]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!alive(pid));
    assert_eq!(w.status(&closed), "lost");
    // Its lock undone by the job itself, its supervisor alive.
    let flag = w.root.join("go");
    let unlocked = w.start(&[
        "sh",
        "-c",
        &format!(
            "flock -u 1; while [ ! -e {} ]; do sleep 0.02; done",
            flag.display()
        ),
    ]);
    poll("the job to unlock its log", || {
        let log = std::fs::File::open(w.state.join(format!("{unlocked}.log"))).ok()?;
        log.try_lock().ok()
    });
    assert_eq!(w.status(&unlocked), "running");
    assert_eq!(w.output("runrm", &[&unlocked]).status.code(), Some(1));
    std::fs::write(&flag, "").unwrap();
    assert_eq!(field_str(&w.wait_end(&unlocked), "status").unwrap(), "done");
}

/// Move the wall-clock times in a job's record by `by` seconds: what a step
/// of the wall clock by `-by` since the job started does to every time
/// taken since, such as the start times of processes in Unix seconds.
fn shift_wall_clock(w: &World, id: &str, by: f64) {
    let path = w.state.join(format!("{id}.json"));
    let mut record: JsonValue = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let JsonValue::Object(fields) = &mut record else {
        panic!("{id}: not an object")
    };
    for key in ["started", "began"] {
        if let Some(JsonValue::Number(t)) = fields.get_mut(key) {
            *t += by;
        }
    }
    let temp = w.state.join(format!(".{id}.shifted"));
    std::fs::write(&temp, record.stringify().unwrap()).unwrap();
    std::fs::rename(&temp, &path).unwrap();
}

/// The wall clock steps while jobs run (an NTP sync after boot, a VM
/// resumed, a clock set by hand): each job is still told from strangers,
/// by the boot clock its processes' start times count in. `running` while
/// a process of it lives, with or without its supervisor; and runkill
/// stops it.
#[test]
fn a_step_of_the_wall_clock_never_makes_a_job_a_stranger() {
    let w = World::new();
    for step in [3600.0, -3600.0, 3.0 * 86400.0, -86400.0] {
        // One whose supervisor is killed, and one that unlocked its log, so
        // that only their processes tell that they run; one whose
        // supervisor holds its log.
        let orphan = w.start(&["sh", "-c", "exec >/dev/null 2>&1; exec sleep 30"]);
        let unlocked = w.start(&["sh", "-c", "flock -u 1; exec sleep 32"]);
        let held = w.start(&["sleep", "31"]);
        poll("the job to unlock its log", || {
            let log = std::fs::File::open(w.state.join(format!("{unlocked}.log"))).ok()?;
            log.try_lock().ok()
        });
        let pid = field_num(&w.job(&orphan), "pid").unwrap() as i64;
        let supervisor = parent_of(pid);
        assert!(sigkill(supervisor));
        poll("the supervisor to die", || {
            (!alive(supervisor)).then_some(())
        });
        for id in [&orphan, &unlocked, &held] {
            shift_wall_clock(&w, id, -step);
        }
        for id in [&orphan, &unlocked] {
            assert_eq!(w.status(id), "running", "a step of {step} s");
        }
        // How long each has been running is told by the boot clock too:
        // seconds, not the step.
        let listing = text(&w.output("runs", &[] as &[&str]).stdout);
        for id in [&orphan, &unlocked, &held] {
            let line = listing.lines().find(|l| l.contains(id.as_str())).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let ran = words[words.iter().position(|&w| w == "pid").unwrap() + 2];
            let seconds = ran.strip_suffix('s').and_then(|s| s.parse::<u32>().ok());
            assert!(
                seconds.is_some_and(|s| s < 30),
                "a step of {step} s: {line}"
            );
        }
        for id in [&orphan, &unlocked, &held] {
            let out = w.output("runkill", &["--grace", "1s", id]);
            assert!(
                out.status.success(),
                "a step of {step} s: {}",
                text(&out.stderr)
            );
        }
        assert!(!alive(pid), "a step of {step} s");
        let end = w.wait_end(&held);
        assert_eq!(field_str(&end, "status").as_deref(), Some("killed"));
    }
}

/// Property 4: What was written is believed: SIGKILL the supervisor at a random
/// moment around the job's end. Whenever the log's footer tells the
/// outcome, every command reports that outcome, never `lost`; a runwait
/// that was waiting meanwhile tells the outcome recorded in the end.
#[test]
fn a_supervisor_killed_as_the_job_ends_never_loses_a_written_outcome() {
    const TRIALS: usize = 150;
    let w = World::new();
    let mut random = Random::new("supervisor_killed_at_the_end");
    let mut footers = 0;
    let mut failures = Failures::new(TRIALS);
    for trial in 0..TRIALS {
        let id = w.start(&["-N", &format!("t{trial}"), "sh", "-c", "sleep 0.1; exit 3"]);
        let begun = Instant::now();
        let mut waiting = w
            .cmd("runwait")
            .arg(&id)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let job = w.job(&id);
        let supervisor = match field_num(&job, "sid") {
            Some(sid) => sid as i64,
            // A build that does not record the session (to try the test
            // on an older one).
            None => parent_of(field_num(&job, "pid").unwrap() as i64),
        };
        // The job ends about 100 ms (plus a shell's start) after it began.
        let at = Duration::from_micros(99_000 + random.below(8_000));
        std::thread::sleep(at.saturating_sub(begun.elapsed()));
        sigkill(supervisor);
        let job = w.wait_end(&id);
        let status = field_str(&job, "status").unwrap();
        let footer = w.log(&id).contains("\n--- failed: exit 3 after ");
        footers += footer as usize;
        let waited_meanwhile = waiting.wait().unwrap().code();
        if !footer && status == "lost" {
            failures.check(waited_meanwhile == Some(1), || {
                format!("trial {trial}: lost, but runwait said {waited_meanwhile:?}")
            });
            continue;
        }
        // Known, from the footer or from the final record alone.
        let code = field_num(&job, "exit_code");
        let waited = w.output("runwait", &[&id]).status.code();
        let shown = w.output("runlog", &["--no-follow", &id]).status.code();
        failures.check(
            status == "failed"
                && code == Some(3.0)
                && [waited, waited_meanwhile, shown] == [Some(3); 3],
            || format!("trial {trial}: footer {footer}, {status} {code:?}, runwait {waited:?} (meanwhile {waited_meanwhile:?}), runlog {shown:?}"),
        );
    }
    println!("{footers} of {TRIALS} had their footer written");
    failures.assert_none();
}

/// Put a process with pid `pid` in a session and process group of its own,
/// by setting the kernel's last pid just below it (root only). Returned
/// once it leads them.
fn stranger_with_pid(pid: i64) -> Option<std::process::Child> {
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let child = Command::new("setsid").args(["sleep", "30"]).spawn().ok()?;
        if i64::from(child.id()) == pid {
            // The group is its own once setsid has run in it.
            poll("the stranger to lead its group", || {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                (fields.get(2) == Some(&pid.to_string().as_str())).then_some(())
            });
            return Some(child);
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

/// Property 5: runkill signals only the job's own processes: the job's leader has
/// left a child in a session of its own holding the log, its supervisor is
/// dead, and its process group id now belongs to a stranger. runkill
/// refuses with a clear message and signals nothing.
#[test]
fn runkill_never_signals_a_stranger_that_reuses_the_jobs_group() {
    if !is_root() {
        println!("skipped: reusing a pid needs root (CI runs as root)");
        return;
    }
    let w = World::new();
    let flag = w.root.join("go");
    let id = w.start(&[
        "sh",
        "-c",
        &format!(
            "setsid sleep 30 & echo $! > {}/escaped; while [ ! -e {} ]; do sleep 0.02; done",
            w.root.display(),
            flag.display()
        ),
    ]);
    let job = w.job(&id);
    let group = field_num(&job, "pgid").unwrap() as i64;
    let supervisor = parent_of(group);
    assert!(sigkill(supervisor));
    std::fs::write(&flag, "").unwrap();
    // Reaped, so that its pid is free to be had again.
    let proc = format!("/proc/{group}");
    poll("the job's leader to be gone", || {
        (!std::path::Path::new(&proc).exists()).then_some(())
    });
    // The escaped child still holds the log: the job reads running.
    assert_eq!(w.status(&id), "running");
    let Some(mut stranger) = stranger_with_pid(group) else {
        println!("skipped: pid {group} could not be had again");
        return;
    };
    let out = w.output("runkill", &["-s", "TERM", &id]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!("runkill: {id} is not signalled: ")) && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "runkill killed a stranger"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
    // The escaped child is the job's; no runkill can reach it. Stop it.
    let escaped = std::fs::read_to_string(w.root.join("escaped")).unwrap();
    sigkill(escaped.trim().parse().unwrap());
}

/// Property 6a: runwait returns when the end is recorded, though a child of the job
/// still holds the log, and though the supervisor is still notifying.
#[test]
fn runwait_returns_at_the_recorded_end_not_at_the_log_let_go() {
    let w = World::new();
    let server = Server::start(&[Reply::Hang]);
    let started = w
        .cmd("run")
        .env("RUN_NOTIFY_TIMEOUT", "3")
        .args(["-q", "-t", &server.url("slow"), "sh", "-c"])
        .arg(format!("sleep 60 & echo $! > {}/bg", w.root.display()))
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", text(&started.stderr));
    let id = text(&started.stdout).trim().to_string();
    let out = w.output("runwait", &["--timeout", "20s", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let background: i64 = std::fs::read_to_string(w.root.join("bg"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(background), "runwait waited for the job's child");
    let sid = field_num(&w.job(&id), "sid").unwrap() as i64;
    server.next();
    assert!(alive(sid), "runwait waited for the notification");
    sigkill(background);
}

/// Whether process `pid` holds an inotify descriptor.
fn watches(pid: u32) -> bool {
    let fds = format!("/proc/{pid}/fdinfo");
    std::fs::read_dir(fds).is_ok_and(|fds| {
        fds.flatten().any(|fd| {
            std::fs::read_to_string(fd.path()).is_ok_and(|info| info.contains("inotify wd:"))
        })
    })
}

/// Property 6c: runwait on one job sleeps on the locks its end lets go of,
/// with no watch to close on the way out: its supervisor's on the room for
/// its final record, then, when the supervisor is killed, the job's on its
/// log; and a watch only if the job let go of its log. In each case, with
/// and without a timeout running, it tells how the job ended.
#[test]
fn runwait_on_one_job_waits_on_its_locks_and_outlives_its_supervisor() {
    use std::os::unix::fs::MetadataExt;
    for (timeout, lets_go) in [(None, false), (Some("30s"), false), (None, true)] {
        let case = format!("timeout {timeout:?}, log let go {lets_go}");
        let w = World::new();
        let flag = w.root.join("go");
        let mut script = format!("while [ ! -e {} ]; do sleep 0.02; done", flag.display());
        if lets_go {
            script = format!("exec >/dev/null 2>&1; {script}");
        }
        let id = w.start(&["sh", "-c", &script]);
        let pid = field_num(&w.job(&id), "pid").unwrap() as i64;
        let supervisor = parent_of(pid);
        let inode = |name: String| std::fs::metadata(w.state.join(name)).unwrap().ino();
        let (room, log) = (inode(format!(".{id}.json.end")), inode(format!("{id}.log")));
        let mut args: Vec<&str> = timeout.map_or(vec![], |t| vec!["--timeout", t]);
        args.push(&id);
        let waiter = w
            .cmd("runwait")
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        poll("runwait to wait on the supervisor's lock", || {
            (lock_awaited(waiter.id())? == room).then_some(())
        });
        assert!(!watches(waiter.id()), "{case}: a watch as well");
        assert!(sigkill(supervisor));
        if lets_go {
            poll("runwait to watch instead", || {
                watches(waiter.id()).then_some(())
            });
        } else {
            poll("runwait to wait on the log's lock", || {
                (lock_awaited(waiter.id())? == log).then_some(())
            });
            assert!(!watches(waiter.id()), "{case}: a watch as well");
        }
        std::fs::write(&flag, "").unwrap();
        let out = waiter.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{case}: lost is 1");
        let said = format!("{id}: lost (no end recorded)\n");
        assert_eq!(text(&out.stdout), said, "{case}");
    }
}

/// Property 6d: a room that nobody locks (as a supervisor of a version
/// that locks none leaves it) is no reason to wait on the log: runwait
/// still returns at the recorded end, while the supervisor, holding the
/// log, is still notifying.
#[test]
fn runwait_on_a_room_nobody_locks_still_returns_at_the_recorded_end() {
    let w = World::new();
    let server = Server::start(&[Reply::Hang]);
    let flag = w.root.join("go");
    let script = format!("while [ ! -e {} ]; do sleep 0.02; done", flag.display());
    let started = w
        .cmd("run")
        .env("RUN_NOTIFY_TIMEOUT", "3")
        .args(["-q", "-t", &server.url("slow"), "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", text(&started.stderr));
    let id = text(&started.stdout).trim().to_string();
    // An unlocked stand-in at the room's name while runwait looks; the
    // supervisor's own room goes back before the job ends.
    let room = w.state.join(format!(".{id}.json.end"));
    let kept = w.state.join("kept-room");
    std::fs::rename(&room, &kept).unwrap();
    std::fs::write(&room, " ").unwrap();
    let waiter = w
        .cmd("runwait")
        .arg(&id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    poll("runwait to pass the room by", || {
        (watches(waiter.id()) || lock_awaited(waiter.id()).is_some()).then_some(())
    });
    std::fs::rename(&kept, &room).unwrap();
    std::fs::write(&flag, "").unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    let sid = field_num(&w.job(&id), "sid").unwrap() as i64;
    assert!(alive(sid), "runwait waited for the notification");
    server.next();
}

/// Property 6b: One watch for any number of jobs: 300 running jobs, waited for with
/// 32 descriptors at most, are each reported right.
#[test]
fn runwait_waits_for_hundreds_of_jobs_with_few_descriptors() {
    const JOBS: usize = 300;
    let w = World::new();
    // Every job blocks in flock(1) until the test lets go of the lock, with
    // no CPU, whenever it gets there: all 300 are running when runwait
    // starts and none can end before it watches.
    let lock = w.root.join("lock");
    let held = std::fs::File::create(&lock).unwrap();
    held.lock().unwrap();
    let lock = lock.to_str().unwrap();
    let mut ids = Vec::new();
    for n in 0..JOBS {
        let code = if n % 3 == 0 { 4 } else { 0 };
        let exit = format!("exit {code}");
        ids.push(w.start(&["flock", "-s", lock, "sh", "-c", &exit]));
    }
    let waiter = w
        .cmd("sh")
        .args(["-c", "ulimit -n 32 && exec runwait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let fds = format!("/proc/{}/fdinfo", waiter.id());
    poll("runwait to watch the state directory", || {
        let watching = std::fs::read_dir(&fds).ok()?.flatten().any(|fd| {
            std::fs::read_to_string(fd.path()).is_ok_and(|info| info.contains("inotify wd:"))
        });
        watching.then_some(())
    });
    let jobs = w.jobs();
    assert!(
        ids.iter()
            .all(|id| field_str(&jobs[id], "status").as_deref() == Some("running")),
        "a job ended while the lock was held"
    );
    drop(held);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    assert_eq!(lines.lines().count(), JOBS, "{}", text(&out.stderr));
    for (n, id) in ids.iter().enumerate() {
        let want = if n % 3 == 0 {
            format!("{id}: failed (exit 4)")
        } else {
            format!("{id}: done (exit 0)")
        };
        assert!(
            lines.lines().any(|l| l.starts_with(&want)),
            "{want} not in runwait's output"
        );
    }
}

/// Property 7: Listings never misreport a job that is starting or ending: while
/// 1,000 jobs start and end (exit 0, exit 3, killed by their own SIGKILL,
/// a short sleep), every `runs --json` is one valid JSON array, no job in it
/// is `unknown` or the original version's `ended`, and none is `running`
/// in a listing begun a while after its end was recorded.
#[test]
fn listings_while_a_thousand_jobs_start_and_end_tell_the_truth() {
    const JOBS: usize = 1000;
    const LAUNCHERS: usize = 4;
    let w = World::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    let listings = std::thread::scope(|scope| {
        let lister = scope.spawn(|| {
            let mut listings = Vec::new();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let begun = std::time::SystemTime::now();
                let out = w.output("runs", &["--json"]);
                assert!(out.status.success(), "{}", text(&out.stderr));
                listings.push((begun, text(&out.stdout)));
            }
            listings
        });
        let launchers: Vec<_> = (0..LAUNCHERS)
            .map(|l| {
                let w = &w;
                scope.spawn(move || {
                    for n in (l..JOBS).step_by(LAUNCHERS) {
                        let script = match n % 4 {
                            0 => "true",
                            1 => "exit 3",
                            2 => "kill -KILL $$",
                            _ => "sleep 0.1",
                        };
                        w.start(&["-N", &format!("j{n}"), "sh", "-c", script]);
                    }
                })
            })
            .collect();
        for launcher in launchers {
            launcher.join().unwrap();
        }
        poll("every job to end", || {
            let jobs = w.jobs();
            (jobs.len() == JOBS
                && jobs
                    .values()
                    .all(|j| field_str(j, "status").unwrap() != "running"))
            .then_some(())
        });
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        lister.join().unwrap()
    });
    let ended: HashMap<String, f64> = w
        .jobs()
        .into_iter()
        .map(|(id, job)| (id, field_num(&job, "ended").unwrap()))
        .collect();
    let mut running_seen = 0;
    let mut failures = Failures::new(listings.len());
    for (begun, listing) in &listings {
        let begun = begun
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let value: Result<JsonValue, _> = listing.parse();
        let Some(jobs) = value.as_ref().ok().and_then(|v| v.get::<Vec<JsonValue>>()) else {
            failures.check(false, || format!("not a JSON array: {listing:?}"));
            continue;
        };
        let mut wrong = Vec::new();
        for job in jobs {
            let id = field_str(job, "id").unwrap();
            let status = field_str(job, "status").unwrap();
            if status == "unknown" || status == "ended" {
                wrong.push(format!("{id} listed as {status}"));
            }
            if status == "running" {
                running_seen += 1;
                if begun > ended[&id] + 0.5 {
                    wrong.push(format!(
                        "{id} running {:.3} s after its end",
                        begun - ended[&id]
                    ));
                }
            }
        }
        failures.check(wrong.is_empty(), || wrong.join("; "));
    }
    println!("{} listings, {running_seen} running rows", listings.len());
    failures.assert_none();
}

/// Property 8: A job's identity is unique for its lifetime in the store: remove a
/// finished job while listings run, start a new job under the same id in
/// the same second (ext4 hands it the freed inodes), and the new job is
/// never shown with the removed one's outcome.
#[test]
fn a_removed_jobs_outcome_never_comes_back_on_a_new_job() {
    const TRIALS: usize = 100;
    let w = World::new();
    let (mut same_id, mut trials) = (0, 0);
    let mut failures = Failures::new(TRIALS);
    while trials < TRIALS {
        let name = format!("r{trials}");
        let old = w.start(&["-N", &name, "sh", "-c", "exit 7"]);
        w.wait_end(&old);
        w.indexed(&[&old]);
        // Listings and the removal at once.
        let listers: Vec<_> = (0..3)
            .map(|_| w.cmd("runs").stdout(Stdio::null()).spawn().unwrap())
            .collect();
        let removed = w.output("runrm", &[&old]);
        assert!(removed.status.success(), "{}", text(&removed.stderr));
        for mut lister in listers {
            lister.wait().unwrap();
        }
        let new = w.start(&["-N", &name, "true"]);
        trials += 1;
        if new != old {
            // The second turned over: not the case this tries.
            continue;
        }
        same_id += 1;
        let job = w.wait_end(&new);
        w.output("runs", &[] as &[&str]);
        let job2 = w.job(&new);
        let shown = [job, job2].map(|j| field_str(&j, "status").unwrap());
        failures.check(shown == ["done", "done"], || {
            format!("{new} shown as {shown:?}, the removed job's outcome")
        });
    }
    println!("{same_id} of {TRIALS} trials reused the removed id");
    failures.assert_none();
    assert!(
        same_id > 0,
        "no trial reused an id: the case was never tried"
    );
}

/// Property 8, by hand: a finished job's files removed with `rm` (so its
/// line stays in the index), and a new job under its id in the same
/// second, on the freed inode numbers. The new job is never shown with the
/// removed one's outcome: while it runs, nor once it has ended.
#[test]
fn a_job_removed_by_hand_never_lends_its_outcome_to_the_next_of_its_id() {
    const TRIALS: usize = 120;
    let w = World::new();
    let (mut same_id, mut trials) = (0, 0);
    let mut failures = Failures::new(TRIALS);
    let mut reused = Vec::new();
    while trials < TRIALS {
        let name = format!("h{trials}");
        let old = w.start(&["-N", &name, "sh", "-c", "exit 7"]);
        w.output("runwait", &[&old]);
        w.indexed(&[&old]);
        for suffix in ["json", "log", "pid"] {
            std::fs::remove_file(w.state.join(format!("{old}.{suffix}"))).unwrap();
        }
        // Each new job ends on its own (a runkill or a flag file in between
        // would make files, which take freed inode numbers), and is looked
        // at again once every one has ended.
        let new = w.start(&["-N", &name, "sleep", "0.5"]);
        trials += 1;
        if new != old {
            // The second turned over: not the case this tries.
            continue;
        }
        same_id += 1;
        let shown = w.status(&new);
        failures.check(shown == "running", || {
            format!("{new} running, shown as {shown}")
        });
        reused.push(new);
    }
    let out = w.output("runwait", &reused);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for new in &reused {
        let shown = [w.status(new), w.status(new)];
        failures.check(shown == ["done", "done"], || {
            format!("{new} ended done, shown as {shown:?}")
        });
    }
    println!("{same_id} of {TRIALS} trials reused the removed id");
    failures.assert_none();
    assert!(
        same_id > 0,
        "no trial reused an id: the case was never tried"
    );
}

/// Property 9: A job whose files were removed while it ran (by hand:
/// `rm ID.*`) never comes back, and never writes over the job that takes
/// its id in the same second: when the removed one ends, the new one's
/// record still says how the new one stands, and then how it ended. Every
/// trial runs at once, each job under a name of its own.
#[test]
fn a_job_removed_while_it_runs_never_writes_over_the_next_job_of_its_id() {
    const TRIALS: usize = 12;
    let w = World::new();
    // Each job runs until its flag appears: the removed ones until "old",
    // the new ones until "new".
    let gated = |name: &str, flag: &str| {
        let flag = w.root.join(flag);
        let script = format!("while [ ! -e {} ]; do sleep 0.02; done", flag.display());
        w.start(&["-N", name, "sh", "-c", &script])
    };
    // Each second trial starts a new job of the same name as soon as the
    // old one is gone.
    let (mut pairs, mut supervisors) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let name = format!("gone{trial}");
        let old = gated(&name, "old");
        let job = w.job(&old);
        supervisors.push(field_num(&job, "sid").unwrap() as i64);
        for suffix in [".log", ".json", ".pid"] {
            std::fs::remove_file(w.state.join(format!("{old}{suffix}"))).unwrap();
        }
        let new = (trial % 2 == 0).then(|| gated(&name, "new"));
        if new.is_none() {
            // Stopped and continued once removed: a change its supervisor
            // must not record either.
            let group = format!("-{}", field_num(&job, "pgid").unwrap());
            assert!(kill("STOP", &group) && kill("CONT", &group));
        }
        pairs.push((old, new));
    }
    // Every removed job ends, and its supervisor has done all it does.
    std::fs::write(w.root.join("old"), "").unwrap();
    for sid in supervisors {
        poll("a removed job's supervisor to exit", || {
            (!alive(sid)).then_some(())
        });
    }
    let mut failures = Failures::new(TRIALS);
    let mut same_id = 0;
    let jobs = w.jobs();
    for (old, new) in &pairs {
        match new {
            Some(new) if new == old => {
                same_id += 1;
                // Its own record, whole, as written at its start.
                let file = std::fs::read(w.state.join(format!("{new}.json"))).unwrap();
                let record = text(&file).parse::<JsonValue>().ok();
                let command = record.as_ref().and_then(|r| r["command"].stringify().ok());
                let shown = jobs.get(new).and_then(|j| field_str(j, "status"));
                failures.check(
                    shown.as_deref() == Some("running") && command.is_some_and(|c| c.contains("new")),
                    || format!("{new}, started after {old} was removed, shown as {shown:?}, its record {:?}", text(&file)),
                );
            }
            Some(_) => {} // The second turned over: not the case tried.
            None => {
                failures.check(!jobs.contains_key(old), || {
                    format!("{old} came back after it was removed: {:?}", jobs[old])
                });
            }
        }
    }
    std::fs::write(w.root.join("new"), "").unwrap();
    for (_, new) in pairs.iter().filter(|(old, new)| new.as_ref() == Some(old)) {
        let new = new.as_ref().unwrap();
        let job = w.wait_end(new);
        let ended = (field_str(&job, "status"), field_num(&job, "exit_code"));
        let command = job["command"].stringify().unwrap();
        failures.check(
            ended == (Some("done".into()), Some(0.0)) && command.contains("new"),
            || format!("{new} ended as {ended:?}, command {command}"),
        );
    }
    // Nothing of a removed job without a successor is left, spares too.
    for (old, _) in pairs.iter().filter(|(_, new)| new.is_none()) {
        let left = files_of(&w, &format!(".{old}"));
        failures.check(left.is_empty(), || format!("{old} left {left:?}"));
    }
    println!("{same_id} of {} new jobs took the removed id", TRIALS / 2);
    failures.assert_none();
    assert!(
        same_id > 0,
        "no new job took a removed id: the case was never tried"
    );
}

/// Property 9b: A job whose log alone was deleted while it ran (by hand, to
/// free the disk it filled) is told truly all the same: it reads running
/// while it runs, listings meanwhile included; a stop and a continue are
/// recorded; runkill stops it and that is recorded; a job waiting for
/// another still starts in its turn; and each end is recorded. Each read
/// `lost` once it ended, its exit code gone (its supervisor took the
/// missing log for a job removed whole, and a listing took its room).
#[test]
fn a_job_whose_log_was_deleted_still_has_its_end_recorded() {
    let w = World::new();
    let flag = w.root.join("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; exit 3",
        flag.display()
    );
    let ended = w.start(&["sh", "-c", &script]);
    let stopped = w.start(&["sh", "-c", &script]);
    let killed = w.start(&["sleep", "300"]);
    let waiting = w.start(&["--after", &ended, "sh", "-c", "exit 4"]);
    for id in [&ended, &stopped, &killed, &waiting] {
        std::fs::remove_file(w.state.join(format!("{id}.log"))).unwrap();
    }
    for (id, status) in [
        (&ended, "running"),
        (&stopped, "running"),
        (&killed, "running"),
        (&waiting, "waiting"),
    ] {
        assert_eq!(w.status(id), status, "{id}: {:?}", w.job(id));
    }
    for (signal, status) in [("STOP", "stopped"), ("CONT", "running")] {
        let out = w.output("runkill", &["-s", signal, &stopped]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(w.status(&stopped), status);
    }
    let out = w.output("runkill", &[&killed]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&killed);
    assert_eq!(field_str(&job, "status").as_deref(), Some("killed"));
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGTERM"));
    std::fs::write(&flag, "").unwrap();
    assert_eq!(w.output("runwait", &[&ended]).status.code(), Some(3));
    for (id, code) in [(&ended, 3.0), (&stopped, 3.0), (&waiting, 4.0)] {
        let job = w.wait_end(id);
        let shown = (field_str(&job, "status"), field_num(&job, "exit_code"));
        assert_eq!(shown, (Some("failed".into()), Some(code)), "{id}");
    }
    assert_eq!(files_of(&w, "."), vec![".index".to_string()]);
}

/// Property 10: A job stopped as it starts, at any moment after `run`
/// returns (before its exec too), is shown stopped: its supervisor watches
/// for the stop from the gate on, not only once the exec is done.
#[test]
fn a_job_stopped_as_it_starts_is_shown_stopped() {
    const TRIALS: usize = 400;
    let w = World::new();
    let mut failures = Failures::new(TRIALS);
    // A large environment makes the exec long, and the moment before it
    // wide enough to hit.
    let big = "x".repeat(100_000);
    for _ in 0..TRIALS {
        let mut run = w.cmd("run");
        for n in 0..8 {
            run.env(format!("RUN_TEST_BIG{n}"), &big);
        }
        let out = run.args(["-q", "sleep", "300"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        let pid_file = std::fs::read_to_string(w.state.join(format!("{id}.pid"))).unwrap();
        let group: i32 = pid_file.trim().parse().unwrap();
        // SAFETY: kill(2) has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(-group, libc::SIGSTOP) }, 0);
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            let record = std::fs::read_to_string(w.state.join(format!("{id}.json"))).unwrap();
            let status = field_str(&record.parse::<JsonValue>().unwrap(), "status").unwrap();
            if status == "stopped" || Instant::now() > deadline {
                break status;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        failures.check(status == "stopped", || {
            format!("{id} {status} 2 s after SIGSTOP")
        });
        // SAFETY: as above.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
            libc::kill(-group, libc::SIGCONT);
        }
    }
    failures.assert_none();
}

/// Property 11: A signal that would end a running job's supervisor (the
/// `run` process ps shows: `kill PID`, `pkill run`, a shutdown's SIGTERM,
/// a `kill -USR1` meant for the job) never loses the job's end: the
/// supervisor passes it on to the job's group and records how the job
/// ended. Send each at a random moment from run's return on: the job ends
/// (a `sleep` killed by it; a shell that traps it with `exit 7`, unless it
/// came before the trap), and its end is recorded, never `lost`, never left
/// running. A SIGALRM is the supervisor's own timer's: one that is not the
/// timer's stops nothing, with or without a timeout.
#[test]
fn a_signal_to_the_supervisor_goes_to_the_job_and_its_end_is_recorded() {
    let signals = [
        ("TERM", libc::SIGTERM),
        ("INT", libc::SIGINT),
        ("HUP", libc::SIGHUP),
        ("QUIT", libc::SIGQUIT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("XCPU", libc::SIGXCPU),
        ("XFSZ", libc::SIGXFSZ),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("IO", libc::SIGIO),
    ];
    let trials = signals.len() * 6;
    let w = World::new();
    let mut random = Random::new("signal_to_the_supervisor");
    let mut failures = Failures::new(trials);
    let supervisor_of = |id: &str| {
        let job = w.job(id);
        let pid = |key| field_num(&job, key).unwrap() as libc::pid_t;
        (pid("sid"), pid("pgid"))
    };
    for trial in 0..trials {
        let (name, number) = signals[trial / 2 % signals.len()];
        let traps = trial % 2 == 1;
        let script = format!("trap 'exit 7' {name}; while :; do sleep 0.01; done");
        let command: &[&str] = match traps {
            true => &["sh", "-c", &script],
            false => &["sleep", "30"],
        };
        let out = w.cmd("run").arg("-q").args(command).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        let (supervisor, group) = supervisor_of(&id);
        std::thread::sleep(Duration::from_micros(random.below(30_000)));
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(supervisor, number) };
        let deadline = Instant::now() + Duration::from_secs(5);
        let job = loop {
            let job = w.job(&id);
            let status = field_str(&job, "status").unwrap();
            if !matches!(status.as_str(), "running" | "stopped") || Instant::now() > deadline {
                break job;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let status = field_str(&job, "status").unwrap();
        let signal = field_str(&job, "signal");
        let code = field_num(&job, "exit_code");
        let killed = status == "killed" && signal == Some(format!("SIG{name}"));
        let trapped = traps && status == "failed" && code == Some(7.0);
        failures.check(killed || trapped, || {
            format!(
                "trial {trial} (SIG{name}, {command:?}): {status}, signal {signal:?}, exit {code:?}"
            )
        });
        // SAFETY: as above; whatever is left of a failed trial goes.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
    // SIGALRM, with no timeout, with one an hour away, and with one whose
    // microseconds overflow 64 bits (2^64 µs + 0.384 s): the job runs on.
    let timeouts = [
        &[][..],
        &["--timeout", "1h"],
        &["--timeout", "18446744073709552s"],
    ];
    for timeout in timeouts {
        let out = w
            .cmd("run")
            .arg("-q")
            .args(timeout)
            .args(["sleep", "30"])
            .output()
            .unwrap();
        let id = text(&out.stdout).trim().to_string();
        let (supervisor, _) = supervisor_of(&id);
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: as above.
        unsafe { libc::kill(supervisor, libc::SIGALRM) };
        std::thread::sleep(Duration::from_millis(300));
        failures.check(w.status(&id) == "running", || {
            format!("SIGALRM ({timeout:?}): {}", w.status(&id))
        });
        let stopped = w.output("runkill", &[&id]).status.success();
        failures.check(stopped && w.status(&id) == "killed", || {
            format!("SIGALRM then runkill: {}", w.status(&id))
        });
    }
    // While it waits, such a signal cancels it, as runkill does.
    let first = w.start(&["sleep", "30"]);
    let waiter = w.start(&["--after", &first, "true"]);
    let (supervisor, _) = supervisor_of(&waiter);
    // SAFETY: as above.
    unsafe { libc::kill(supervisor, libc::SIGQUIT) };
    let job = w.wait_end(&waiter);
    failures.check(
        field_str(&job, "status").as_deref() == Some("killed")
            && field_str(&job, "signal").as_deref() == Some("SIGQUIT"),
        || format!("a waiting job's SIGQUIT: {job:?}"),
    );
    let _ = w.output("runkill", &[&first]);
    failures.assert_none();
}

/// Property 11b: Once the job has been waited for, its group id may be a
/// stranger's: a SIGTERM to its supervisor (still sending the notification,
/// to a server that does not answer) reaches no one, and the supervisor
/// goes on.
#[test]
fn a_sigterm_to_a_supervisor_whose_job_has_ended_never_reaches_a_stranger() {
    if !is_root() {
        println!("skipped: reusing a pid needs root (CI runs as root)");
        return;
    }
    let w = World::new();
    let server = Server::start(&[Reply::Hang]);
    let out = w
        .cmd("run")
        .env("RUN_NOTIFY_TIMEOUT", "5")
        .args(["-q", "-t", &server.url("slow"), "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let job = w.wait_end(&id);
    let supervisor = field_num(&job, "sid").unwrap() as i64;
    let group = field_num(&job, "pgid").unwrap() as i64;
    server.next();
    let proc = format!("/proc/{group}");
    poll("the job to be reaped", || {
        (!std::path::Path::new(&proc).exists()).then_some(())
    });
    let Some(mut stranger) = stranger_with_pid(group) else {
        println!("skipped: pid {group} could not be had again");
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(supervisor as libc::pid_t, libc::SIGTERM) },
        0
    );
    // Handled once no longer pending; the handler's kill is synchronous.
    let status = format!("/proc/{supervisor}/status");
    poll("the supervisor to take its SIGTERM", || {
        let text = std::fs::read_to_string(&status).ok()?;
        let pending = |field: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        };
        let term = 1 << (libc::SIGTERM - 1);
        (pending("SigPnd:")? & term == 0 && pending("ShdPnd:")? & term == 0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(50));
    let survived = stranger.try_wait().unwrap().is_none();
    let _ = stranger.kill();
    let _ = stranger.wait();
    assert!(survived, "the supervisor's SIGTERM went on to a stranger");
    assert!(
        alive(supervisor),
        "the supervisor died of a SIGTERM after its job"
    );
    assert_eq!(w.status(&id), "done");
}

/// Property 12: A job SIGKILLed as it starts (its group signalled the
/// moment its record names its pid, by one who read it) is told truly:
/// either `run` says it started and it is listed `killed (SIGKILL)`, or
/// `run` says the job was killed before its command ran and nothing of it
/// is left; never that its supervisor died, which did not.
#[test]
fn a_job_killed_as_it_starts_is_told_truly() {
    const TRIALS: usize = 100;
    let w = World::new();
    w.ensure_state();
    let mut failures = Failures::new(TRIALS);
    for trial in 0..TRIALS {
        let name = format!("k{trial}");
        let mut run = w
            .cmd("run")
            .args(["-q", "-N", &name, "sleep", "3"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let group: Option<i32> = spin("its pid, or run's exit", || {
            let pid = files_of(&w, &format!("{name}_"))
                .iter()
                .filter(|f| f.ends_with(".json"))
                .find_map(|f| {
                    let text = std::fs::read_to_string(w.state.join(f)).ok()?;
                    let (_, rest) = text.split_once("\"pid\":")?;
                    rest.split(',').next()?.parse().ok()
                });
            (pid.is_some() || run.try_wait().unwrap().is_some()).then_some(pid)
        });
        if let Some(group) = group {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let out = run.wait_with_output().unwrap();
        let err = text(&out.stderr);
        let id = text(&out.stdout).trim().to_string();
        let told = match out.status.code() {
            Some(0) => {
                let job = w.wait_end(&id);
                let outcome = (field_str(&job, "status"), field_str(&job, "signal"));
                group.is_none() || outcome == (Some("killed".into()), Some("SIGKILL".into()))
            }
            Some(1) => {
                err == "run: the job was killed as it started, before its command ran; nothing was started\n"
                    && files_of(&w, &format!("{name}_")).is_empty()
            }
            _ => false,
        };
        failures.check(told, || {
            format!("trial {trial}: exit {:?}, {err:?}", out.status.code())
        });
    }
    failures.assert_none();
}

/// What its caller did to signals is not the supervisor's: one that
/// ignored SIGCHLD (some daemons do) or blocked signals (a threaded
/// program's mask) still gets each job's end recorded with its exit code,
/// its timeout, a runkill, and a signal passed on from the supervisor.
#[test]
fn a_callers_ignored_or_blocked_signals_never_cost_a_jobs_end() {
    use std::os::unix::process::CommandExt;
    let w = World::new();
    // Started by a caller that ignores SIGCHLD, or one that blocks signals.
    let start = |ignores: bool, args: &[&str]| {
        let mut cmd = w.cmd("run");
        cmd.arg("-q").args(args);
        // SAFETY: signal and sigprocmask are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if ignores {
                    libc::signal(libc::SIGCHLD, libc::SIG_IGN);
                    return Ok(());
                }
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for sig in [libc::SIGTERM, libc::SIGALRM, libc::SIGCHLD, libc::SIGINT] {
                    libc::sigaddset(&mut set, sig);
                }
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            })
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let exits = start(true, &["sh", "-c", "sleep 0.3; exit 3"]);
    let stopped = start(true, &["sleep", "30.0732"]);
    let times_out = start(false, &["--timeout", "1s", "sleep", "30.0731"]);
    let passed_on = start(false, &["sleep", "30.0733"]);
    let out = w.output("runkill", &[&stopped]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sid = field_num(&w.job(&passed_on), "sid").unwrap() as libc::pid_t;
    // SAFETY: a plain kill of the job's supervisor.
    unsafe { libc::kill(sid, libc::SIGTERM) };
    for (id, status, exit, signal) in [
        (&exits, "failed", Some(3.0), None),
        (&times_out, "killed", None, Some("SIGTERM")),
        (&stopped, "killed", None, Some("SIGTERM")),
        (&passed_on, "killed", None, Some("SIGTERM")),
    ] {
        let job = w.wait_end(id);
        let got = (
            field_str(&job, "status"),
            field_num(&job, "exit_code"),
            field_str(&job, "signal"),
        );
        let want = (Some(status.to_string()), exit, signal.map(String::from));
        assert_eq!(got, want, "{id}");
    }
    assert_eq!(w.job(&times_out)["timed_out"], JsonValue::Boolean(true));
}

/// A `run` held up between its start and the fork of the supervisor (a
/// machine swapping, a debugger, a Ctrl-Z at that moment: here strace
/// holds the fork back 4 s, past the slack a session's start is allowed)
/// still leaves a job that is its supervisor's: runkill stops it (it said
/// "its session id now belongs to another program"), and the end is
/// recorded.
#[cfg(target_os = "linux")]
#[test]
fn a_launch_held_up_before_its_fork_leaves_a_job_that_runkill_stops() {
    if !can_strace() {
        return;
    }
    let w = World::new();
    let out = w
        .cmd("strace")
        .args(["-o", "/dev/null", "-e", "trace=clone,clone3,fork,vfork"])
        .args([
            "-e",
            "inject=clone,clone3,fork,vfork:delay_enter=4000000:when=1",
        ])
        .arg(w.bin.join("run"))
        .args(["-q", "sleep", "30.0753"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let job = w.job(&id);
    let held = field_num(&job, "began").unwrap() - field_num(&job, "started").unwrap();
    assert!(held >= 3.5, "the fork was not held up ({held:.2} s)");
    assert_eq!(field_str(&job, "status").as_deref(), Some("running"));
    let out = w.output("runkill", &[&id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGTERM"));
}

/// SIGKILL runrm at a random moment while it removes twenty jobs of a
/// queue: each job is left whole or gone, or, if cut short, in the order
/// runrm removes (its spares, log, pid file, then its record, so that a
/// job with files left is still listed); the listing, read twice (from the
/// directory, then from the index it wrote), shows exactly the jobs whose
/// records remain, each as it ended; and a new job of the queue runs.
#[test]
fn runrm_killed_at_any_moment_leaves_each_job_whole_gone_or_listed() {
    const TRIALS: usize = 40;
    const JOBS: usize = 20;
    let mut random = Random::new("runrm_killed");
    let mut failures = Failures::new(TRIALS);
    let (mut cut_short, mut gone) = (0, 0);
    for trial in 0..TRIALS {
        let w = World::new();
        let ids: Vec<String> = (0..JOBS).map(|_| w.start(&["-Q", "q", "true"])).collect();
        w.wait_end(ids.last().unwrap());
        w.indexed(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        let mut runrm = w.cmd("runrm").stdout(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(random.below(8_000)));
        sigkill(runrm.id().into());
        let _ = runrm.wait();
        let files = w.files();
        let has = |id: &str, suffix: &str| files.contains(&format!("{id}{suffix}"));
        let mut remaining = Vec::new();
        for id in &ids {
            let left = [".log", ".pid", ".json"].map(|s| has(id, s));
            // Once one is gone, every one before it in runrm's order is.
            let in_order = left.windows(2).all(|pair| pair[0] <= pair[1]);
            failures.check(in_order, || {
                format!("trial {trial}: {id}: log, pid, record {left:?}")
            });
            if left[2] {
                remaining.push(id.clone());
            }
            gone += !left.contains(&true) as usize;
            cut_short += (left.contains(&true) && left.contains(&false)) as usize;
        }
        remaining.sort();
        for _ in 0..2 {
            let jobs = w.jobs();
            let mut listed: Vec<String> = jobs.keys().cloned().collect();
            listed.sort();
            let done = remaining
                .iter()
                .all(|id| field_str(&jobs[id.as_str()], "status").as_deref() == Some("done"));
            failures.check(listed == remaining && done, || {
                format!("trial {trial}: listed {listed:?}, records of {remaining:?}")
            });
        }
        let next = w.start(&["-Q", "q", "true"]);
        let status = field_str(&w.wait_end(&next), "status");
        failures.check(status.as_deref() == Some("done"), || {
            format!("trial {trial}: the next job of the queue: {status:?}")
        });
    }
    println!(
        "{cut_short} jobs were cut short, {gone} of {} gone",
        TRIALS * JOBS
    );
    failures.assert_none();
}
