//! `runrm`: what it removes, its selectors, and that it never removes a
//! running job or follows a symlink.

mod common;
use common::*;
use tinyjson::JsonValue;

fn gated(w: &World, flag: &str) -> String {
    let flag = w.root.join(flag);
    w.start(&[
        "sh",
        "-c",
        &format!("while [ ! -e {} ]; do sleep 0.02; done", flag.display()),
    ])
}

fn ids(w: &World) -> Vec<String> {
    let mut ids: Vec<String> = w.jobs().into_keys().collect();
    ids.sort();
    ids
}

fn finished(w: &World, args: &[&str]) -> String {
    let id = w.start(args);
    w.wait_end(&id);
    id
}

const HOUR: f64 = 3600.0;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn without_selectors_every_finished_job_goes_and_running_ones_stay() {
    let w = World::new();
    let running = gated(&w, "go");
    finished(&w, &["true"]);
    finished(&w, &["sh", "-c", "exit 3"]);
    finished(&w, &["sh", "-c", "kill $$"]);
    w.plant_record("lost_20240101_000000", None, None);
    let out = w.output("runrm", &[] as &[&str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("removed 4 jobs, "),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(ids(&w), [running.as_str()]);
    let mut left = w.files();
    // The running job keeps its files, and the room held for its record.
    left.retain(|f| !f.starts_with(&running) && !f.starts_with(&format!(".{running}")));
    assert!(left.is_empty(), "left behind: {left:?}");
    open_gate(&w, "go");
    w.wait_end(&running);
}

fn open_gate(w: &World, flag: &str) {
    std::fs::write(w.root.join(flag), "").unwrap();
}

#[test]
fn a_named_running_job_is_kept_with_exit_1() {
    let w = World::new();
    let running = gated(&w, "go");
    let done = finished(&w, &["true"]);
    let out = w.output("runrm", &[&running, &done]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("runrm: {running} is running; not removed")));
    assert_eq!(ids(&w), [running.as_str()]);
    open_gate(&w, "go");
    w.wait_end(&running);
    // An unknown name removes nothing at all.
    let out = w.output("runrm", &[&running, "no-such-job"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(ids(&w), [running]);
}

/// A job that has ended but whose log is still held is kept, and runrm
/// says by what: its supervisor sending the notification (to a server that
/// never answers), or a process the job left in the background. Once let
/// go, it goes.
#[test]
fn an_ended_job_whose_log_is_held_is_kept_and_runrm_says_by_what() {
    let w = World::new();
    let silent = Server::start(&[Reply::Hang]);
    let out = w
        .cmd("run")
        .env("RUN_NOTIFY_TIMEOUT", "1")
        .args(["-q", "-t", &silent.url("t"), "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let notifying = text(&out.stdout).trim().to_string();
    let flag = w.root.join("go");
    let script = format!(
        "(while [ ! -e {} ]; do sleep 0.02; done) & exit 0",
        flag.display()
    );
    let left_behind = w.start(&["-N", "bg", "sh", "-c", &script]);
    for id in [&notifying, &left_behind] {
        assert_eq!(field_str(&w.wait_end(id), "status").unwrap(), "done");
    }
    poll("the notification to be tried", || {
        (!silent.received().is_empty()).then_some(())
    });
    let out = w.output("runrm", &[] as &[&str]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (id, why) in [
        (&notifying, "is still sending its notification"),
        (
            &left_behind,
            "has ended, but a process it started still has its log open",
        ),
    ] {
        assert!(stderr.contains(&format!("runrm: {id} {why}")), "{stderr}");
    }
    assert_eq!(ids(&w).len(), 2);
    open_gate(&w, "go");
    w.notify_line(&notifying);
    poll("both jobs to be removed", || {
        let out = w.output("runrm", &[] as &[&str]);
        (out.status.success() && ids(&w).is_empty()).then_some(())
    });
    assert!(
        w.files()
            .iter()
            .all(|f| !f.contains("bg_") && !f.contains("true_"))
    );
}

/// `runs --failed` shows what went wrong; `runrm --failed` must clear the
/// very same jobs, skipped ones too, and nothing else.
#[test]
fn runrm_failed_removes_what_runs_failed_lists() {
    let w = World::new();
    let done = finished(&w, &["-N", "ok", "true"]);
    let failed = finished(&w, &["-N", "bad", "false"]);
    let killed = finished(&w, &["-N", "shot", "sh", "-c", "kill -9 $$"]);
    let skipped = finished(&w, &["-N", "never", "--after-ok", &failed, "true"]);
    assert_eq!(w.status(&skipped), "skipped");
    let out = w.output("runs", &["--failed", "--json"]);
    let JsonValue::Array(listed) = text(&out.stdout).parse::<JsonValue>().unwrap() else {
        panic!("runs --json printed no array");
    };
    let mut listed: Vec<String> = listed
        .iter()
        .map(|job| field_str(job, "id").unwrap())
        .collect();
    listed.sort();
    let mut want = vec![failed.clone(), killed.clone(), skipped.clone()];
    want.sort();
    assert_eq!(listed, want, "runs --failed");
    let out = w.output("runrm", &["--failed", "--dry-run"]);
    let mut would: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("would remove "))
        .filter(|l| !l.ends_with(" freed"))
        .map(str::to_string)
        .collect();
    would.sort();
    assert_eq!(would, want, "runrm --failed --dry-run");
    assert!(w.output("runrm", &["--failed"]).status.success());
    assert_eq!(ids(&w), [done]);
}

#[test]
fn older_than_failed_and_keep_select_together() {
    let w = World::new();
    let t = now();
    w.plant_record("old_20240101_000000", Some(t - 48.0 * HOUR), Some(0));
    w.plant_record("oldfail_20240101_000001", Some(t - 47.0 * HOUR), Some(2));
    w.plant_record("newfail_20240101_000002", Some(t - 60.0), Some(2));
    w.plant_record("new_20240101_000003", Some(t - 30.0), Some(0));

    let out = w.output("runrm", &["--older-than", "1d", "--dry-run"]);
    let listed = text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("would remove ") && !l.ends_with(" freed"))
        .count();
    assert_eq!(listed, 2);
    assert_eq!(ids(&w).len(), 4, "--dry-run removed something");

    assert!(
        w.output("runrm", &["--failed", "--older-than", "12h"])
            .status
            .success()
    );
    assert_eq!(
        ids(&w),
        [
            "new_20240101_000003",
            "newfail_20240101_000002",
            "old_20240101_000000"
        ]
    );

    assert!(w.output("runrm", &["--failed"]).status.success());
    assert_eq!(ids(&w), ["new_20240101_000003", "old_20240101_000000"]);

    w.plant_record("newest_20240101_000004", Some(t), Some(0));
    assert!(w.output("runrm", &["--keep", "2"]).status.success());
    assert_eq!(ids(&w), ["new_20240101_000003", "newest_20240101_000004"]);

    for bad in [
        &["--older-than", "soon"][..],
        &["--keep", "-1"],
        &["--keep"],
        &["--bogus"],
    ] {
        let out = w.output("runrm", bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out.stderr).starts_with("runrm: "));
    }
    assert_eq!(ids(&w).len(), 2);
}

#[test]
fn the_summary_counts_the_space_freed() {
    let w = World::new();
    // No state directory yet, then an empty one: a dry run says it still.
    for _ in 0..2 {
        let out = w.output("runrm", &["--dry-run"]);
        assert_eq!(text(&out.stdout), "would remove 0 jobs, 0 B freed\n");
        let out = w.output("runrm", &[] as &[&str]);
        assert_eq!(text(&out.stdout), "removed 0 jobs, 0 B freed\n");
        w.ensure_state();
    }
    w.plant_record("a_20240101_000000", Some(1.0), Some(0));
    let record_size = std::fs::metadata(w.state.join("a_20240101_000000.json"))
        .unwrap()
        .len();
    w.plant(
        "a_20240101_000000.log",
        &vec![b'x'; 3 * 1024 * 1024 - record_size as usize],
    );
    let out = w.output("runrm", &["--dry-run"]);
    assert_eq!(
        text(&out.stdout),
        "would remove a_20240101_000000\nwould remove 1 job, 3.0 MiB freed\n"
    );
    let out = w.output("runrm", &[] as &[&str]);
    assert_eq!(text(&out.stdout), "removed 1 job, 3.0 MiB freed\n");
    assert!(w.files().is_empty());
}

#[test]
fn jobs_of_the_original_shell_version_are_removed_when_their_process_is_gone() {
    let w = World::new();
    w.seed_legacy();
    let (mut sleeper, live) = w.plant_live_legacy();
    let out = w.output("runrm", &[] as &[&str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("removed 2 jobs"));
    assert_eq!(w.files(), [format!("{live}.log"), format!("{live}.pid")]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn symlinks_are_never_followed_and_their_targets_survive() {
    let w = World::new();
    let target = w.root.join("precious");
    std::fs::write(&target, "keep").unwrap();
    w.ensure_state();
    for suffix in [".log", ".pid"] {
        std::os::unix::fs::symlink(
            &target,
            w.state.join(format!("evil_20240101_000000{suffix}")),
        )
        .unwrap();
    }
    w.plant_record("evil_20240101_000000", Some(1.0), Some(0));
    let out = w.output("runrm", &[] as &[&str]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a regular file; left alone"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    // The links and the record stay: the job is still visible.
    assert!(w.files().contains(&"evil_20240101_000000.json".to_string()));
    assert!(
        std::fs::symlink_metadata(w.state.join("evil_20240101_000000.log"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn jobs_started_while_runrm_runs_are_never_removed() {
    let w = World::new();
    let remover = {
        let runrm = w.bin.join("runrm");
        let state = w.state.clone();
        std::thread::spawn(move || {
            for _ in 0..40 {
                let out = std::process::Command::new(&runrm)
                    .env("RUN_DIR", &state)
                    .output()
                    .unwrap();
                assert!(out.status.code() == Some(0) || out.status.code() == Some(1));
            }
        })
    };
    let started: Vec<String> = (0..30).map(|_| gated(&w, "go")).collect();
    remover.join().unwrap();
    let jobs = w.jobs();
    for id in &started {
        assert_eq!(
            field_str(&jobs[id.as_str()], "status").as_deref(),
            Some("running"),
            "{id}"
        );
        assert!(
            w.state.join(format!("{id}.log")).exists(),
            "{id}: log removed"
        );
    }
    open_gate(&w, "go");
    for id in &started {
        w.wait_end(id);
    }
}

#[test]
fn removing_jobs_drops_the_listing_index() {
    let w = World::new();
    let id = w.start(&["true"]);
    w.wait_end(&id);
    w.indexed(&[&id]);
    let out = w.output("runrm", &[] as &[&str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Its ids may come again, with inodes the removed files had.
    assert_eq!(w.files(), Vec::<String>::new());
}

#[test]
fn removing_a_job_drops_its_index_line_and_keeps_the_others() {
    let w = World::new();
    let gone = w.start(&["true"]);
    let kept = w.start(&["sh", "-c", "exit 3"]);
    w.wait_end(&gone);
    w.wait_end(&kept);
    w.indexed(&[&gone, &kept]);
    let index = || std::fs::read_to_string(w.state.join(".index")).unwrap_or_default();
    // Overwritten in place (same inode): only the index can list it now.
    damage_in_place(&w.state.join(format!("{kept}.json")));
    let out = w.output("runrm", &[&gone]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!index().contains(&format!("{gone}\t")), "{}", index());
    let out = w.output("runs", &[] as &[&str]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(!listing.contains(&gone), "{listing}");
    let line = listing
        .lines()
        .find(|l| l.contains(&kept))
        .unwrap_or_default();
    assert!(line.starts_with("○ failed "), "{listing}");
}

/// A queue's file goes with the last of its jobs, and stays while anything
/// of the queue is left to follow: its last job kept, or (that one
/// removed) an earlier one still running, which the next job then waits
/// for.
#[test]
fn a_queue_with_nothing_left_to_follow_leaves_no_file() {
    let w = World::new();
    let queue = |name: &str| w.state.join(format!(".queue-{name}"));
    for _ in 0..2 {
        finished(&w, &["-Q", "done", "true"]);
    }
    // `kept`: its last job is named by no runrm.
    let first = finished(&w, &["-Q", "kept", "true"]);
    finished(&w, &["-Q", "kept", "true"]);
    // `busy`: a running job, and after it a waiting one, cancelled.
    let running = w.start(&[
        "-Q",
        "busy",
        "sh",
        "-c",
        &format!(
            "while [ ! -e {} ]; do sleep 0.02; done",
            w.root.join("go").display()
        ),
    ]);
    let cancelled = w.start(&["-Q", "busy", "true"]);
    assert!(w.output("runkill", &[&cancelled]).status.success());
    w.wait_end(&cancelled);
    assert!(queue("done").exists() && queue("kept").exists() && queue("busy").exists());
    let out = w.output("runrm", &[&first, &cancelled]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        queue("kept").exists(),
        "the queue's last job is still there"
    );
    assert!(queue("busy").exists(), "the queue's first job still runs");
    let out = w.output("runrm", &[] as &[&str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.status(&running), "running");
    assert!(!queue("done").exists() && !queue("kept").exists());
    assert!(queue("busy").exists(), "the queue's first job still runs");
    // The next job of `busy` waits for the running one.
    let next = w.start(&["-Q", "busy", "true"]);
    assert_eq!(w.status(&next), "waiting");
    open_gate(&w, "go");
    let ended = field_num(&w.wait_end(&running), "ended").unwrap();
    assert!(field_num(&w.wait_end(&next), "began").unwrap() >= ended);
    let out = w.output("runrm", &[] as &[&str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!queue("busy").exists());
    let left: Vec<String> = w.files();
    assert!(left.iter().all(|f| f == ".index"), "{left:?}");
}

/// A job joining a queue just as runrm removes the queue's file (runrm
/// held by strace just before its unlink, the job waiting for the lock on
/// the file runrm then unlinks) joins the queue at its name, not the file
/// removed: the next job waits for it, never starts beside it.
#[cfg(target_os = "linux")]
#[test]
fn a_job_joining_a_queue_as_runrm_removes_its_file_still_heads_the_queue() {
    use std::os::unix::fs::MetadataExt;
    use std::process::Stdio;
    if !can_strace() {
        return;
    }
    let w = World::new();
    finished(&w, &["-Q", "q", "true"]);
    let queue = w.state.join(".queue-q");
    let inode = std::fs::metadata(&queue).unwrap().ino();
    let mut remover = w
        .cmd("strace")
        .args(["-qq", "-o", "/dev/null", "-P"])
        .arg(&queue)
        .args(["-e", "trace=unlink,unlinkat"])
        .args(["-e", "inject=unlink,unlinkat:delay_enter=30000000"])
        .arg(w.bin.join("runrm"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let runrm = poll("runrm to lock the queue's file", || {
        children_of(remover.id())
            .into_iter()
            .find(|&pid| flocks(pid as u32, false).contains(&inode))
    });
    let gate = w.root.join("go");
    let script = format!("while [ ! -e {} ]; do sleep 0.02; done", gate.display());
    let mut joining = w
        .cmd("run")
        .args(["-q", "-Q", "q", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    poll("the job to wait for the queue's lock", || {
        (lock_awaited(joining.id())? == inode).then_some(())
    });
    // Without its tracer, runrm unlinks at once.
    remover.kill().unwrap();
    remover.wait().unwrap();
    poll("runrm to end", || (!alive(runrm)).then_some(()));
    assert!(joining.wait().unwrap().success());
    let mut first = String::new();
    std::io::Read::read_to_string(&mut joining.stdout.take().unwrap(), &mut first).unwrap();
    let first = first.trim();
    let next = w.start(&["-Q", "q", "true"]);
    assert_eq!(w.status(&next), "waiting", "it started beside {first}");
    open_gate(&w, "go");
    let ended = field_num(&w.wait_end(first), "ended").unwrap();
    assert!(field_num(&w.wait_end(&next), "began").unwrap() >= ended);
}

/// Three runrm at once over the same finished jobs: each job is removed
/// and counted once in all (never as removed by two, or as held by the
/// other's lock), and every runrm exits 0.
#[test]
fn concurrent_runrms_count_each_job_once() {
    const JOBS: usize = 120;
    let w = World::new();
    let ids: Vec<String> = (0..JOBS).map(|_| w.start(&["true"])).collect();
    for id in &ids {
        w.wait_end(id);
    }
    let sweepers: Vec<_> = (0..3)
        .map(|_| {
            w.cmd("runrm")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut removed = 0;
    for sweeper in sweepers {
        let out = sweeper.wait_with_output().unwrap();
        let (said, err) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success() && err.is_empty(), "{said}{err}");
        let n: usize = said
            .strip_prefix("removed ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{said}"));
        removed += n;
    }
    assert_eq!(removed, JOBS, "jobs counted as removed, in all");
    assert!(w.jobs().is_empty());
}

/// A queue's file that is not a regular file (a planted symlink, a FIFO)
/// is left alone when runrm removes the queue's last job, and what a
/// symlink points to is never touched.
#[test]
fn a_queue_file_that_is_not_a_file_is_left_alone() {
    let w = World::new();
    let victim = w.root.join("victim");
    std::fs::write(&victim, "keep me\n").unwrap();
    finished(&w, &["-Q", "linked", "true"]);
    finished(&w, &["-Q", "fifo", "true"]);
    let linked = w.state.join(".queue-linked");
    std::fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&victim, &linked).unwrap();
    std::fs::remove_file(w.state.join(".queue-fifo")).unwrap();
    w.plant_fifo(".queue-fifo");
    let out = w.output("runrm", &[] as &[&str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(w.jobs().is_empty());
    assert!(
        std::fs::symlink_metadata(&linked)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    assert!(w.files().contains(&".queue-fifo".to_string()));
}
