//! `run --after`, `--after-ok`, `-Q/--queue` and `--queue-ok`: jobs that
//! wait for others, with no daemon.

mod common;
use common::*;
use std::process::Stdio;
use std::time::Duration;

/// A job that runs until `flag` appears in the world's root, then exits
/// with `code`.
fn blocker(w: &World, flag: &str, code: i32) -> String {
    let flag = w.root.join(flag);
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done; exit {code}",
        flag.display()
    );
    w.start(&["-N", "dep", "sh", "-c", &script])
}

/// The first job of queue `build`: it runs until `go` appears in the
/// world's root (`release(w, "go")`).
fn queue_head(w: &World) -> String {
    let flag = w.root.join("go");
    let script = format!("while [ ! -e '{}' ]; do sleep 0.02; done", flag.display());
    w.start(&["-Q", "build", "sh", "-c", &script])
}

/// A job that leaves `marker` in the world's root if it ever runs.
fn marking(w: &World, args: &[&str], marker: &str) -> String {
    let marker = w.root.join(marker);
    let mut all: Vec<&str> = args.to_vec();
    let script = format!("touch '{}'", marker.display());
    all.extend(["sh", "-c", &script]);
    w.start(&all)
}

fn ids(job: &tinyjson::JsonValue, key: &str) -> Vec<String> {
    let list: &Vec<tinyjson::JsonValue> = job[key].get().unwrap();
    list.iter()
        .map(|v| v.get::<String>().unwrap().clone())
        .collect()
}

fn line_of<'a>(listing: &'a str, id: &str) -> &'a str {
    let found = listing
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(id));
    found.unwrap_or_else(|| panic!("no line for {id} in:\n{listing}"))
}

/// Wait until there are `count` jobs, all of them ended.
fn wait_all_ended(w: &World, count: usize) {
    poll(&format!("{count} ended jobs"), || {
        let jobs = w.jobs();
        let ended = jobs.values().all(|j| {
            !matches!(
                field_str(j, "status").as_deref(),
                Some("running" | "waiting")
            )
        });
        (jobs.len() == count && ended).then_some(())
    });
}

fn release(w: &World, flag: &str) {
    std::fs::write(w.root.join(flag), "").unwrap();
}

/// A job that began longer after its start than a launch may take is still
/// its own: runkill stops it, whether it waited for a job or its queue.
#[test]
fn a_job_that_waited_long_is_stopped_by_runkill() {
    let w = World::new();
    let first = blocker(&w, "go", 0);
    let after = w.start(&["--after", &first, "sleep", "60"]);
    let queued = w.start(&["-Q", "q", "sleep", "61"]);
    let next = w.start(&["-Q", "q", "sleep", "62"]);
    std::thread::sleep(Duration::from_secs(4));
    release(&w, "go");
    // The queue's first job began at once; the second begins when it is
    // stopped, seconds after its start.
    for id in [&after, &queued, &next] {
        poll("the job to begin", || {
            (w.status(id) == "running").then_some(())
        });
        let out = w.output("runkill", &["--grace", "1s", id]);
        assert!(out.status.success(), "{id}: {}", text(&out.stderr));
        let job = w.wait_end(id);
        assert_eq!(field_str(&job, "status").as_deref(), Some("killed"));
    }
}

#[test]
fn after_waits_for_every_job_and_after_ok_skips_when_one_failed() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("chain");
    let first = blocker(&w, "go1", 3);
    let second = blocker(&w, "go2", 0);
    let out = w.output(
        "run",
        &[
            "-N",
            "next",
            "--after",
            &format!("{first},{second}"),
            "true",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let next = said.split_whitespace().nth(1).unwrap().to_string();
    assert!(
        said.starts_with(&format!("waiting {next} (after {first}, {second})")),
        "{said}"
    );
    let strict = marking(
        &w,
        &["-N", "strict", "-t", &url, "--after-ok", "dep"],
        "strict-ran",
    );

    // Until both have ended it waits, in runs and runs --json alike.
    let job = w.job(&next);
    assert_eq!(field_str(&job, "status").unwrap(), "waiting");
    assert_eq!(ids(&job, "after"), [first.as_str(), second.as_str()]);
    assert!(is_null(&job, "pid"));
    assert_eq!(
        ids(&w.job(&strict), "after_ok"),
        [second.as_str()],
        "dep is the newest dep"
    );
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    assert!(
        line_of(&listing, &next).starts_with("● waiting "),
        "{listing}"
    );
    assert!(
        line_of(&listing, &next).contains(&format!("after {first},{second}")),
        "{listing}"
    );
    release(&w, "go1");
    w.wait_end(&first);
    assert_eq!(w.status(&next), "waiting", "one of two has ended");
    release(&w, "go2");
    assert_eq!(field_str(&w.wait_end(&next), "status").unwrap(), "done");
    assert_eq!(field_str(&w.wait_end(&strict), "status").unwrap(), "done");
    assert!(w.root.join("strict-ran").exists());
    server.next();

    // --after-ok on a job that failed: skipped, never started, with the
    // reason in the record, the footer, runs and the notification.
    let skipped = marking(
        &w,
        &["-N", "deploy", "-t", &url, "--after-ok", &first],
        "deploy-ran",
    );
    let job = w.wait_end(&skipped);
    assert_eq!(field_str(&job, "status").unwrap(), "skipped");
    let reason = format!("{first} failed (exit 3)");
    assert_eq!(field_str(&job, "reason").unwrap(), reason);
    assert!(is_null(&job, "pid") && is_null(&job, "exit_code") && is_null(&job, "began"));
    assert!(!w.root.join("deploy-ran").exists());
    let footer = w
        .log(&skipped)
        .lines()
        .rev()
        .find(|l| l.starts_with("--- skipped"))
        .unwrap()
        .to_string();
    assert!(
        footer.starts_with(&format!("--- skipped: {reason} after ")),
        "{footer}"
    );
    let request = server.next();
    assert_eq!(
        request.header("Title"),
        Some(format!("deploy skipped ({reason})").as_str())
    );
    // It never ran: runs gives it no running time.
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let cells: Vec<&str> = line_of(&listing, &skipped)
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[cells.len() - 2], "-", "{cells:?}");
    // It counts as a failure for runwait; --failed lists it.
    assert_eq!(w.output("runwait", &[&skipped]).status.code(), Some(1));
    let failed = text(&w.output("runs", &["--failed"]).stdout);
    assert!(
        failed.contains(&skipped) && failed.contains(&first),
        "{failed}"
    );
    // Plain --after starts whatever the outcome.
    let id = marking(&w, &["--after", &first], "after-ran");
    assert_eq!(field_str(&w.wait_end(&id), "status").unwrap(), "done");
    assert!(w.root.join("after-ran").exists());
}

#[test]
fn a_dependency_killed_midway_starts_after_and_skips_after_ok() {
    let w = World::new();
    let dep = blocker(&w, "never", 0);
    let loose = marking(&w, &["--after", &dep], "loose");
    let strict = marking(&w, &["--after-ok", &dep], "strict");
    let chained = marking(&w, &["--after-ok", &strict], "chained");
    assert!(w.output("runkill", &[&dep]).status.success());
    assert_eq!(field_str(&w.wait_end(&loose), "status").unwrap(), "done");
    let job = w.wait_end(&strict);
    assert_eq!(
        field_str(&job, "reason").unwrap(),
        format!("{dep} killed (SIGTERM)")
    );
    // A skip goes down the chain.
    let job = w.wait_end(&chained);
    assert_eq!(field_str(&job, "status").unwrap(), "skipped");
    assert!(
        field_str(&job, "reason")
            .unwrap()
            .starts_with(&format!("{strict} skipped ("))
    );
    assert!(w.root.join("loose").exists());
    assert!(!w.root.join("strict").exists() && !w.root.join("chained").exists());
}

#[test]
fn runkill_cancels_a_waiting_job_at_any_moment_and_runwait_waits_through_waiting() {
    let w = World::new();
    let dep = blocker(&w, "never", 0);
    let waiting = marking(&w, &["--after", &dep], "ran");
    let runwait = w
        .cmd("runwait")
        .arg(&waiting)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = w.output("runkill", &[&waiting]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!(
        "{waiting}: killed (cancelled while waiting, SIGTERM)"
    )));
    let out = runwait.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 15), "{}", text(&out.stdout));
    let job = w.job(&waiting);
    assert_eq!(field_str(&job, "status").unwrap(), "killed");
    assert!(is_null(&job, "pid"));

    // SIGTERM or SIGINT (`kill PID`, `kill -INT PID` of its supervisor) at
    // many moments of a waiting job's life, from right after `run` returns
    // on: it is always cancelled, never started, never lost.
    let mut random = Random::new("cancel");
    for i in 0..12 {
        let id = marking(&w, &["--after", &dep], &format!("ran{i}"));
        std::thread::sleep(std::time::Duration::from_millis(random.below(40)));
        let sid = field_num(&w.job(&id), "sid").unwrap() as i64;
        let signal = ["TERM", "INT"][i % 2];
        assert!(kill(signal, &sid.to_string()));
        let job = w.wait_end(&id);
        assert_eq!(field_str(&job, "status").unwrap(), "killed", "trial {i}");
        assert_eq!(
            field_str(&job, "reason").unwrap(),
            "cancelled while waiting"
        );
        assert_eq!(field_str(&job, "signal"), Some(format!("SIG{signal}")));
    }
    assert_eq!(w.status(&dep), "running", "the job waited for is untouched");
    release(&w, "never");
    w.wait_end(&dep);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let ran = (0..12).filter(|i| w.root.join(format!("ran{i}")).exists());
    assert_eq!(ran.count(), 0);
    assert!(!w.root.join("ran").exists());
}

#[test]
fn a_waiting_job_whose_supervisor_died_is_lost_and_never_starts() {
    let w = World::new();
    let dep = blocker(&w, "go", 0);
    let id = marking(&w, &["--after", &dep], "ran");
    let sid = field_num(&w.job(&id), "sid").unwrap() as i64;
    assert!(sigkill(sid));
    w.wait_status(&id, "lost");
    release(&w, "go");
    w.wait_end(&dep);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!w.root.join("ran").exists());
    assert_eq!(w.status(&id), "lost");
}

/// Removed by hand while it waits (`rm ID.*`): it never starts, and
/// nothing of it comes back, its room for the final record included.
#[test]
fn a_waiting_job_whose_files_were_removed_never_starts_or_comes_back() {
    let w = World::new();
    let dep = blocker(&w, "go", 0);
    let id = marking(&w, &["--after", &dep], "ran");
    let sid = field_num(&w.wait_status(&id, "waiting"), "sid").unwrap() as i64;
    // A waiting job has no pid file yet.
    for suffix in ["log", "json"] {
        std::fs::remove_file(w.state.join(format!("{id}.{suffix}"))).unwrap();
    }
    release(&w, "go");
    w.wait_end(&dep);
    // Its supervisor has had its turn once it is gone.
    poll("the waiting job's supervisor to exit", || {
        (!alive(sid)).then_some(())
    });
    assert!(!w.root.join("ran").exists(), "the removed job ran");
    let left: Vec<String> = w.files().into_iter().filter(|f| f.contains(&id)).collect();
    assert!(left.is_empty(), "the removed job left {left:?}");
    assert!(
        !w.jobs().contains_key(&id),
        "the removed job is listed again"
    );
}

#[test]
fn what_cannot_be_waited_for_is_an_error_before_anything_starts() {
    let w = World::new();
    w.ensure_state();
    let (mut sleeper, legacy) = w.plant_live_legacy();
    let before = w.files();
    for (args, code, says) in [
        (
            &["--after", "nosuch", "true"][..],
            1,
            "run: no job matches nosuch",
        ),
        (&["--after-ok", "", "true"], 2, "run: empty job reference"),
        (
            &["--after", &format!("{legacy},"), "true"],
            2,
            "run: empty job reference",
        ),
        (
            &["--after", &legacy, "true"],
            1,
            "it has no record to say when it ends",
        ),
        (&["-Q", "bad name", "true"], 2, "queue name"),
        (
            &["-Q", "q", "--queue-ok", "q", "true"],
            2,
            "run: give --queue or --queue-ok, not both",
        ),
    ] {
        let out = w.output("run", args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert_eq!(w.files(), before);
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    // Before the first job, a reference to nothing makes no state directory.
    let fresh = World::new();
    for flag in ["--after", "--after-ok"] {
        let out = fresh.output("run", &[flag, "nosuch", "true"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "run: no job matches nosuch\n");
        assert!(!fresh.state.exists(), "{flag}: a state directory was made");
    }
}

/// The lines of `path`, or none.
fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn fifty_jobs_queued_from_parallel_shells_run_one_at_a_time_in_order() {
    let w = World::new();
    let out = w.root.join("out");
    // Each job says when it starts and ends; one in the middle fails,
    // which does not stop a plain queue.
    let launches: Vec<_> = (0..50)
        .map(|i| {
            let code = if i == 25 { 1 } else { 0 };
            let script = format!(
                "echo start {i} >> '{o}'; sleep 0.01; echo end {i} >> '{o}'; exit {code}",
                o = out.display()
            );
            w.cmd("sh")
                .args(["-c", "exec run -q -Q builds sh -c \"$1\"", "sh", &script])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut started: Vec<String> = Vec::new();
    for child in launches {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        started.push(text(&out.stdout).trim().to_string());
    }
    wait_all_ended(&w, 50);
    // Queue order is start order: the record's start times, sorted.
    let jobs = w.jobs();
    let mut by_start: Vec<(f64, i64)> = jobs
        .values()
        .map(|job| {
            let command: &Vec<tinyjson::JsonValue> = job["command"].get().unwrap();
            let script: &String = command[2].get().unwrap();
            let i: i64 = script.split_whitespace().nth(2).unwrap().parse().unwrap();
            (field_num(job, "started").unwrap(), i)
        })
        .collect();
    by_start.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut expected = Vec::new();
    for (_, i) in &by_start {
        expected.push(format!("start {i}"));
        expected.push(format!("end {i}"));
    }
    assert_eq!(lines(&out), expected, "one at a time, in the order queued");
    assert_eq!(jobs.len(), 50);
    // The record says so too: each command began once the one before ended.
    let mut by_began: Vec<(f64, f64)> = jobs
        .values()
        .map(|job| {
            let began = field_num(job, "began").expect("a job that ran has began");
            assert!(began >= field_num(job, "started").unwrap());
            (began, field_num(job, "ended").unwrap())
        })
        .collect();
    by_began.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in by_began.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "{pair:?}: began before the one before ended"
        );
    }
    for job in jobs.values() {
        assert_eq!(field_str(job, "queue").as_deref(), Some("builds"));
    }
    let listed = text(&w.output("runs", &["-Q", "builds"]).stdout);
    assert_eq!(listed.lines().count(), 50);
    assert!(text(&w.output("runs", &["-Q", "other"]).stdout).is_empty());
    // A name no queue can have is a typo, refused as run refuses it.
    for bad in ["", "a/b", "-x"] {
        let out = w.output("runs", &[&format!("--queue={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out.stderr).starts_with("runs: --queue needs a queue name"));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn queue_ok_stops_the_queue_at_a_failure() {
    let w = World::new();
    let first = w.start(&["--queue-ok", "deploy", "sh", "-c", "sleep 0.2; exit 4"]);
    let second = marking(&w, &["--queue-ok", "deploy"], "second");
    let third = marking(&w, &["--queue-ok", "deploy"], "third");
    let job = w.wait_end(&second);
    assert_eq!(
        field_str(&job, "reason").unwrap(),
        format!("{first} failed (exit 4)")
    );
    let job = w.wait_end(&third);
    assert_eq!(field_str(&job, "status").unwrap(), "skipped");
    assert!(!w.root.join("second").exists() && !w.root.join("third").exists());
    // A queue whose last job is gone starts at once.
    assert!(
        w.output("runrm", &[&first, &second, &third])
            .status
            .success()
    );
    let id = marking(&w, &["--queue-ok", "deploy"], "fresh");
    assert_eq!(field_str(&w.wait_end(&id), "status").unwrap(), "done");
    assert!(ids(&w.job(&id), "after_ok").is_empty());
}

#[test]
fn a_queued_job_cancelled_while_waiting_keeps_the_queue_one_at_a_time() {
    let w = World::new();
    let first = w.start(&["-Q", "build", "sh", "-c", &{
        let flag = w.root.join("go");
        format!("while [ ! -e '{}' ]; do sleep 0.02; done", flag.display())
    }]);
    // What a cancelled job waited for outside the queue is not the queue's.
    let other = blocker(&w, "never", 0);
    let second = marking(&w, &["-Q", "build", "--after", &other], "second");
    let third = marking(&w, &["-Q", "build"], "third");
    let fourth = marking(&w, &["-Q", "build"], "fourth");
    // The middle of the queue goes: what came after it must still wait for
    // what came before it, which is still running.
    for cancelled in [&second, &third] {
        let out = w.output("runkill", &[cancelled]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    runs_only_after(&w, &fourth, &first);
    assert!(w.root.join("fourth").exists());
    assert!(!w.root.join("second").exists() && !w.root.join("third").exists());
    assert_eq!(w.status(&other), "running");
    release(&w, "never");
    w.wait_end(&other);
}

#[test]
fn a_queue_whose_cancelled_last_job_was_removed_still_waits_for_its_running_job() {
    let w = World::new();
    let first = queue_head(&w);
    let second = marking(&w, &["-Q", "build"], "second");
    assert!(w.output("runkill", &[&second]).status.success());
    let out = w.output("runrm", &[&second]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let third = marking(&w, &["-Q", "build"], "third");
    assert_eq!(ids(&w.job(&third), "after"), std::slice::from_ref(&first));
    runs_only_after(&w, &third, &first);
}

#[test]
fn a_queued_job_whose_waiting_supervisor_was_killed_takes_no_turn() {
    let w = World::new();
    let first = queue_head(&w);
    let second = marking(&w, &["-Q", "build"], "second");
    let third = marking(&w, &["-Q", "build"], "third");
    let sid = field_num(&w.job(&second), "sid").unwrap() as i64;
    assert!(sigkill(sid));
    w.wait_status(&second, "lost");
    runs_only_after(&w, &third, &first);
    assert!(!w.root.join("second").exists());
}

/// A queued job whose place in the queue is gone without a trace (the
/// lost job it waited for removed by runrm after it joined, before its
/// supervisor looked: strace holds each of its looks at that job's record)
/// still waits for the job that runs: every job of the queue still to end
/// that started before it.
#[cfg(target_os = "linux")]
#[test]
fn a_queued_job_whose_place_was_removed_before_it_looked_still_waits_its_turn() {
    use std::io::BufRead;
    if !can_strace() {
        return;
    }
    let w = World::new();
    let first = queue_head(&w);
    let second = marking(&w, &["-Q", "build"], "second");
    let sid = field_num(&w.job(&second), "sid").unwrap() as i64;
    assert!(sigkill(sid));
    w.wait_status(&second, "lost");
    let mut third = w
        .cmd("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=openat", "-P"])
        .arg(w.state.join(format!("{second}.json")))
        .args(["-e", "inject=openat:delay_enter=400000"])
        .arg(w.bin.join("run"))
        .args(["-q", "-Q", "build", "sh", "-c"])
        .arg(format!("touch '{}'", w.root.join("third").display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(third.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let id = line.trim().to_string();
    // Its supervisor is held at its first look at `second`, found at launch.
    let removed = w.output("runrm", &[second.as_str()]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        assert!(
            !w.root.join("third").exists(),
            "the third job ran beside {first}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.status(&id), "waiting");
    release(&w, "go");
    let ended = field_num(&w.wait_end(&first), "ended").unwrap();
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").unwrap(), "done");
    assert!(field_num(&job, "began").unwrap() >= ended);
    let _ = third.wait();
}

/// A queued job's supervisor killed as it makes its job the queue's last
/// (held there by strace, just after its first ftruncate: the very cut of
/// the queue's file) leaves a file that still names a job: the next job
/// waits for the one running, never starts beside it. Its `run` has heard
/// that it waits by then, so it never removes the job the queue names
/// (which let a job joining just before that removal start at once).
#[cfg(target_os = "linux")]
#[test]
fn a_supervisor_killed_as_it_joins_the_queue_never_lets_the_next_job_jump_it() {
    if !can_strace() {
        return;
    }
    let w = World::new();
    let first = queue_head(&w);
    let queue_file = w.state.join(".queue-build");
    let mut held = w
        .cmd("strace")
        .args(["-f", "-o", "/dev/null", "-e", "trace=ftruncate"])
        .args(["-e", "inject=ftruncate:delay_exit=30000000:when=1"])
        .arg(w.bin.join("run"))
        .args(["-q", "-Q", "build", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The second job's supervisor: the process holding the queue's file,
    // once it has cut it (whatever the cut left).
    let first_line = format!("{first}\n");
    let supervisor = poll("the second supervisor to cut the queue's file", || {
        let now = std::fs::read_to_string(&queue_file).ok()?;
        if now == first_line {
            return None;
        }
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
            let pid: i64 = p.file_name().to_str()?.parse().ok()?;
            let holds = std::fs::read_dir(p.path().join("fd"))
                .ok()?
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|to| to == queue_file));
            holds.then_some(pid)
        })
    });
    let launcher = children_of(held.id());
    assert!(sigkill(supervisor));
    // strace would sit out its delay before it notices.
    let _ = held.kill();
    let _ = held.wait();
    poll("the second job's run to end", || {
        launcher
            .iter()
            .all(|&pid| pid == supervisor || !alive(pid))
            .then_some(())
    });
    // The queue names a job, never one its `run` removed on giving up.
    let named = std::fs::read_to_string(&queue_file).unwrap();
    let named = named.lines().next().unwrap();
    assert!(
        w.state.join(format!("{named}.json")).exists(),
        "the queue names {named}, whose files its run removed"
    );
    let third = marking(&w, &["-Q", "build"], "third");
    runs_only_after(&w, &third, &first);
}

/// A queued job's supervisor SIGKILLed at a random moment of its launch,
/// while the queue's job before it runs: whatever it left, the job queued
/// after it waits for the running one and starts only once that one has
/// ended, and the killed job's command never runs.
#[cfg(target_os = "linux")]
#[test]
fn a_supervisor_killed_at_any_moment_of_a_queued_launch_keeps_the_queue_in_order() {
    const TRIALS: usize = 40;
    let mut random = Random::new("queued_launch_killed");
    for trial in 0..TRIALS {
        let w = World::new();
        let gate = w.root.join("go");
        let script = format!("while [ ! -e '{}' ]; do sleep 0.02; done", gate.display());
        let first = w.start(&["-Q", "q", "sh", "-c", &script]);
        let mark = w.root.join("killed-ran");
        let mut killed = w
            .cmd("run")
            .args(["-q", "-Q", "q", "sh", "-c"])
            .arg(format!("touch '{}'", mark.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let supervisor = spin("the supervisor's fork", || {
            if let Some(&pid) = children_of(killed.id()).first() {
                return Some(pid);
            }
            // On a busy machine `run` may be done before it is looked at:
            // its supervisor leads the job's session.
            killed.try_wait().unwrap()?;
            let mut id = String::new();
            std::io::Read::read_to_string(&mut killed.stdout.take()?, &mut id).ok()?;
            field_num(&w.job(id.trim()), "sid").map(|sid| sid as i64)
        });
        std::thread::sleep(Duration::from_micros(random.below(3_000)));
        sigkill(supervisor);
        let _ = killed.wait();
        let next = marking(&w, &["-Q", "q"], "next-ran");
        assert_eq!(
            w.status(&next),
            "waiting",
            "trial {trial}: it started beside {first}"
        );
        release(&w, "go");
        let ended = field_num(&w.wait_end(&first), "ended").unwrap();
        let job = w.wait_end(&next);
        assert_eq!(
            field_str(&job, "status").as_deref(),
            Some("done"),
            "trial {trial}"
        );
        assert!(field_num(&job, "began").unwrap() >= ended, "trial {trial}");
        assert!(
            !mark.exists(),
            "trial {trial}: the killed job's command ran"
        );
    }
}

/// A queued job's supervisor SIGKILLed at a random moment around its turn
/// (as the job before it ends and it starts its own): the job queued after
/// it never runs while the killed one's command still runs, and it runs
/// once that has ended or never started.
#[cfg(target_os = "linux")]
#[test]
fn a_supervisor_killed_at_any_moment_of_its_turn_keeps_the_queue_one_at_a_time() {
    const TRIALS: usize = 40;
    let mut random = Random::new("queued_turn_killed");
    let mut ran = 0;
    for trial in 0..TRIALS {
        let w = World::new();
        let gate = w.root.join("go");
        let marks = w.root.join("marks");
        let script = format!("while [ ! -e '{}' ]; do sleep 0.01; done", gate.display());
        w.start(&["-Q", "q", "sh", "-c", &script]);
        let middle = format!(
            "echo begin >> '{m}'; sleep 0.1; echo end >> '{m}'",
            m = marks.display()
        );
        let killed = w.start(&["-Q", "q", "sh", "-c", &middle]);
        let supervisor = field_num(&w.job(&killed), "sid").unwrap() as i64;
        let last = format!("echo last >> '{}'", marks.display());
        let next = w.start(&["-Q", "q", "sh", "-c", &last]);
        release(&w, "go");
        std::thread::sleep(Duration::from_micros(random.below(40_000)));
        sigkill(supervisor);
        w.wait_end(&next);
        let marks = std::fs::read_to_string(&marks).unwrap_or_default();
        let marks: Vec<&str> = marks.lines().collect();
        let in_order = matches!(marks.as_slice(), ["last"] | ["begin", "end", "last"]);
        assert!(in_order, "trial {trial}: {marks:?}");
        ran += (marks.len() == 3) as usize;
    }
    println!("the killed job's command ran in {ran} of {TRIALS} trials");
}

/// `later` stays waiting for a second while `first` (blocked on `go`) runs,
/// and once `go` is released it runs, beginning no earlier than `first`
/// ended.
fn runs_only_after(w: &World, later: &str, first: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        assert_eq!(w.status(later), "waiting", "it started beside {first}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    release(w, "go");
    let ended = field_num(&w.wait_end(first), "ended").unwrap();
    let job = w.wait_end(later);
    assert_eq!(field_str(&job, "status").unwrap(), "done");
    assert!(field_num(&job, "began").unwrap() >= ended);
}

/// The job once it has ended (not running, stopped or waiting), or `None`
/// if it vanished from the listing meanwhile.
fn end_or_vanish(w: &World, id: &str) -> Option<tinyjson::JsonValue> {
    poll(&format!("{id} to end or vanish"), || {
        match w.jobs().remove(id) {
            None => Some(None),
            Some(job) => {
                let status = field_str(&job, "status").unwrap();
                let ended = !matches!(status.as_str(), "running" | "stopped" | "waiting");
                ended.then_some(Some(job))
            }
        }
    })
}

/// A SIGTERM to a waiting job's supervisor as the job it waits for ends,
/// at many moments around that end: the waiting job is cancelled (never
/// started) or, once started, killed by that SIGTERM, and its end is
/// recorded: never `lost`.
#[test]
fn a_sigterm_as_a_waiting_job_starts_is_never_lost() {
    const TRIALS: usize = 60;
    let w = World::new();
    let mut random = Random::new("sigterm_as_it_starts");
    let mut failed = Vec::new();
    for trial in 0..TRIALS {
        let flag = format!("go{trial}");
        let dep = blocker(&w, &flag, 0);
        let id = w.start(&["--after", &dep, "sleep", "2"]);
        let sid = field_num(&w.job(&id), "sid").unwrap() as i32;
        let record = w.state.join(format!("{dep}.json"));
        release(&w, &flag);
        // From the moment the end it waits for is recorded, 0 to 3 ms on.
        spin("the end it waits for", || {
            let text = std::fs::read_to_string(&record).unwrap();
            text.contains("\"ended\":1").then_some(())
        });
        let at = std::time::Instant::now() + std::time::Duration::from_micros(random.below(3000));
        while std::time::Instant::now() < at {
            std::hint::spin_loop();
        }
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(sid, libc::SIGTERM) };
        let job = end_or_vanish(&w, &id);
        let Some(job) = job else {
            failed.push(format!("trial {trial}: {id} vanished"));
            continue;
        };
        let status = field_str(&job, "status").unwrap();
        let signal = field_str(&job, "signal");
        if status != "killed" || signal.as_deref() != Some("SIGTERM") {
            failed.push(format!("trial {trial}: {status} {signal:?}"));
        }
        if let Some(group) = field_num(&job, "pgid") {
            // SAFETY: as above.
            unsafe { libc::kill(-(group as i32), libc::SIGKILL) };
        }
    }
    println!("{} of {TRIALS} trials failed", failed.len());
    assert!(failed.is_empty(), "{failed:?}");
}

/// A waiting job SIGKILLed as it starts (its group signalled the moment
/// its record names its pid, often before it can pass its gate) is
/// recorded as killed: it never vanishes, which no one would be told.
#[test]
fn a_waiting_job_killed_at_its_gate_is_recorded_not_removed() {
    const TRIALS: usize = 30;
    let w = World::new();
    let mut failed = Vec::new();
    for trial in 0..TRIALS {
        let flag = format!("go{trial}");
        let dep = blocker(&w, &flag, 0);
        let id = w.start(&["--after", &dep, "sleep", "2"]);
        let record = w.state.join(format!("{id}.json"));
        release(&w, &flag);
        let group: i32 = spin("its record to name its pid", || {
            let text = std::fs::read_to_string(&record).unwrap_or_default();
            let (_, rest) = text.split_once("\"pid\":")?;
            rest.split(',').next()?.parse().ok()
        });
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let job = end_or_vanish(&w, &id);
        let outcome = job.map(|job| {
            (
                field_str(&job, "status").unwrap(),
                field_str(&job, "signal"),
            )
        });
        if outcome != Some(("killed".to_string(), Some("SIGKILL".to_string()))) {
            failed.push(format!("trial {trial}: {outcome:?}"));
        }
    }
    println!("{} of {TRIALS} trials failed", failed.len());
    assert!(failed.is_empty(), "{failed:?}");
}

/// A job whose wait is over but that cannot be started then (here: its
/// user's process limit, reached meanwhile) is never dropped: it ends
/// `failed`, saying why. A launch that cannot start its job says so, not
/// that it could not be recorded, and leaves nothing.
#[cfg(target_os = "linux")]
#[test]
fn a_waiting_job_that_cannot_be_started_ends_failed_and_never_vanishes() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    if !is_root() {
        println!("skipped: needs root to act as a user of its own");
        return;
    }
    let w = World::new();
    // A user of this test's own, whose processes only it makes: a process
    // limit counts every process of the user.
    let uid = 50_000 + std::process::id() % 10_000;
    std::fs::set_permissions(&w.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = w.root.join("user");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
    let state = home.join("state");
    // The binary where that user may run it: a copy (the build's own
    // directory may be closed to others, as /root is).
    let exe = std::fs::canonicalize(w.bin.join("run")).unwrap();
    for name in NAMES {
        let path = w.bin.join(name);
        std::fs::remove_file(&path).unwrap();
        match *name {
            "run" => copy_program(&exe, &path),
            _ => std::os::unix::fs::symlink("run", &path).unwrap(),
        }
    }
    let as_user = |program: &str, nproc: libc::rlim_t, args: &[&str]| -> Command {
        let mut cmd = w.cmd(program);
        cmd.env("RUN_DIR", &state).args(args);
        // SAFETY: setrlimit, setgroups, setgid and setuid are
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: nproc,
                    rlim_max: nproc,
                };
                if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0
                    || libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(uid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        cmd
    };
    let output = |mut cmd: Command| cmd.output().unwrap();
    // Room for run and its supervisor, not for the job.
    let out = output(as_user("run", 2, &["true"]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "run: cannot start the job: Resource temporarily unavailable"
    );
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
    // A job waits for one that ends in a second; meanwhile the user's
    // processes fill the limit it was started under.
    let started = |out: std::process::Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    // The user's processes, zombies too (which this machine's init may be
    // slow to reap): none may be left of the launch above.
    let processes = || {
        let dir = std::fs::read_dir("/proc").unwrap();
        let real = format!("Uid:\t{uid}\t");
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("status")).ok())
            .filter(|status| status.lines().any(|l| l.starts_with(&real)))
            .count()
    };
    poll("the user's processes to be reaped", || {
        (processes() == 0).then_some(())
    });
    let first = started(output(as_user("run", 100, &["-q", "sleep", "1"])));
    poll("the first job's run to be reaped", || {
        (processes() == 2).then_some(())
    });
    let waiter = started(output(as_user(
        "run",
        4,
        &["-q", "--after", &first, "true"],
    )));
    let mut hogs: Vec<_> = (0..3)
        .map(|_| {
            as_user("sleep", 100, &["30"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let record = state.join(format!("{waiter}.json"));
    let end = poll("the waiting job's end", || {
        let text = std::fs::read_to_string(&record).ok()?;
        let job: tinyjson::JsonValue = text.parse().ok()?;
        (!is_null(&job, "ended")).then_some(job)
    });
    for hog in &mut hogs {
        let _ = hog.kill();
        let _ = hog.wait();
    }
    assert_eq!(field_str(&end, "status").as_deref(), Some("failed"));
    assert_eq!(
        field_str(&end, "reason").as_deref(),
        Some("cannot start: Resource temporarily unavailable")
    );
    assert!(is_null(&end, "pid"));
    let out = output(as_user("runwait", 100, &[&waiter]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("cannot start"),
        "{}",
        text(&out.stdout)
    );
}

/// A job that ends leaving something that holds its log (a daemon, a
/// compiler server started by a build) has ended: what waits for it with
/// `--after`, `--after-ok` or a queue starts, without waiting for what it
/// left; and `--after-ok` sees its true outcome.
#[test]
fn a_job_that_leaves_its_log_held_has_ended_for_what_waits_for_it() {
    let w = World::new();
    // Lengths of this test's own, to find what is left by.
    let left = format!("sleep 100.{}", std::process::id());
    let leaves = |code: i32| format!("sleep 0.3; {left} & exit {code}");
    let first = w.start(&["sh", "-c", &leaves(0)]);
    let after = w.start(&["--after", &first, "true"]);
    let after_ok = w.start(&["--after-ok", &first, "true"]);
    let queued = w.start(&["-Q", "q", "sh", "-c", &leaves(3)]);
    let next = w.start(&["-Q", "q", "true"]);
    for (id, status) in [
        (&first, "done"),
        (&after, "done"),
        (&after_ok, "done"),
        (&queued, "failed"),
        (&next, "done"),
    ] {
        let job = w.wait_end(id);
        assert_eq!(field_str(&job, "status").as_deref(), Some(status), "{id}");
    }
    // Each began only once what it waited for had ended.
    let at = |id: &str, key| field_num(&w.job(id), key).unwrap();
    for (later, before) in [(&after, &first), (&after_ok, &first), (&next, &queued)] {
        assert!(
            at(later, "began") >= at(before, "ended"),
            "{later} began early"
        );
    }
    let pgrep = std::process::Command::new("pgrep")
        .args(["-f", &left])
        .output()
        .unwrap();
    let still = text(&pgrep.stdout).lines().count();
    let _ = std::process::Command::new("pkill")
        .args(["-f", &left])
        .status();
    assert_eq!(still, 2, "what the jobs left was not running all along");
}

/// Wait until the supervisor of waiting job `id` waits on the room of job
/// `on`: it has looked at everything it waits for.
#[cfg(target_os = "linux")]
fn waits_on_room(w: &World, id: &str, on: &str) {
    let sid = field_num(&w.job(id), "sid").unwrap() as i64;
    let room = format!(".{on}.json.end");
    poll("the waiter to wait on the room", || {
        let fds = std::fs::read_dir(format!("/proc/{sid}/fd")).ok()?;
        fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .any(|target| target.to_string_lossy().ends_with(&room))
            .then_some(())
    });
}

/// What a job waits for keeps the outcome it ended with, even if `runrm`
/// removes it while the job waits for the others: `--after-ok` of a job that
/// succeeded and was removed still starts, and of one that failed and was
/// removed is still skipped, saying why.
#[cfg(target_os = "linux")]
#[test]
fn after_ok_keeps_the_outcome_of_a_job_removed_while_it_waits() {
    let w = World::new();
    let succeeded = w.start(&["true"]);
    let failed = w.start(&["false"]);
    w.wait_end(&succeeded);
    w.wait_end(&failed);
    let still = blocker(&w, "go", 0);
    let starts = w.start(&["--after-ok", &format!("{succeeded},{still}"), "true"]);
    let skipped = w.start(&["--after-ok", &format!("{failed},{still}"), "true"]);
    // Each waiter has looked at what it waits for; runrm then takes the two
    // that ended.
    for id in [&starts, &skipped] {
        waits_on_room(&w, id, &still);
    }
    let out = w.output("runrm", &[&succeeded, &failed]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    release(&w, "go");
    let job = w.wait_end(&starts);
    assert_eq!(field_str(&job, "status").as_deref(), Some("done"));
    let job = w.wait_end(&skipped);
    assert_eq!(field_str(&job, "status").as_deref(), Some("skipped"));
    let reason = field_str(&job, "reason").unwrap();
    assert!(reason.starts_with(&format!("{failed} failed")), "{reason}");
}

/// A dependency whose supervisor is killed while its job runs on has not
/// ended: what waits for it goes on waiting until nothing of it is left,
/// then takes it as `lost` (`--after` starts, `--after-ok` is skipped).
#[cfg(target_os = "linux")]
#[test]
fn a_dependency_whose_supervisor_was_killed_is_waited_for_until_its_job_ends() {
    let w = World::new();
    let dep = blocker(&w, "go", 0);
    let after = marking(&w, &["--after", &dep], "after");
    let after_ok = marking(&w, &["--after-ok", &dep], "after_ok");
    for id in [&after, &after_ok] {
        waits_on_room(&w, id, &dep);
    }
    let supervisor = field_num(&w.job(&dep), "sid").unwrap() as i32;
    // SAFETY: a plain kill of the dependency's supervisor.
    assert_eq!(unsafe { libc::kill(supervisor, libc::SIGKILL) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        assert_eq!(w.status(&dep), "running");
        for id in [&after, &after_ok] {
            assert_eq!(
                w.status(id),
                "waiting",
                "it started beside its running dependency"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    release(&w, "go");
    assert_eq!(
        field_str(&w.wait_end(&dep), "status").as_deref(),
        Some("lost")
    );
    assert_eq!(
        field_str(&w.wait_end(&after), "status").as_deref(),
        Some("done")
    );
    let job = w.wait_end(&after_ok);
    assert_eq!(field_str(&job, "status").as_deref(), Some("skipped"));
    assert!(w.root.join("after").exists() && !w.root.join("after_ok").exists());
}
