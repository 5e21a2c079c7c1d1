//! `runkill`, `runwait`, `run -f` and the shell completions.

mod common;
use common::*;
use std::process::Stdio;

/// A job that runs until `flag` appears (or, with `ignore_term`, shrugs
/// off SIGTERM while it waits: returned once its trap is set, since `run`
/// returns before the shell has begun).
fn waiting(w: &World, flag: &str, ignore_term: bool) -> String {
    let ready = w.root.join(format!("{flag}.ready"));
    let trap = match ignore_term {
        true => format!("trap '' TERM; touch {}; ", ready.display()),
        false => String::new(),
    };
    let flag = w.root.join(flag);
    let id = w.start(&[
        "sh",
        "-c",
        &format!(
            "{trap}while [ ! -e {} ]; do sleep 0.02; done",
            flag.display()
        ),
    ]);
    if ignore_term {
        poll("the job to set its trap", || ready.exists().then_some(()));
    }
    id
}

#[test]
fn runkill_terms_the_group_and_records_it() {
    let w = World::new();
    let id = waiting(&w, "never", false);
    let out = w.output("runkill", &[&id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("{id}: killed (SIGTERM)")),
        "{}",
        text(&out.stdout)
    );
    let job = w.job(&id);
    assert_eq!(field_str(&job, "status").unwrap(), "killed");
    assert_eq!(field_str(&job, "signal").unwrap(), "SIGTERM");
}

#[test]
fn runkill_escalates_to_sigkill_after_the_grace_period() {
    let w = World::new();
    let stubborn = waiting(&w, "never", true);
    let meek = waiting(&w, "never2", false);
    let out = w.output("runkill", &["--grace", "1s", &stubborn, &meek]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(field_str(&w.job(&stubborn), "signal").unwrap(), "SIGKILL");
    assert_eq!(field_str(&w.job(&meek), "signal").unwrap(), "SIGTERM");
}

/// Whether a process whose command line is exactly `command` lives.
fn runs_as(command: &str) -> bool {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{}$", command.replace('.', "\\."))])
        .output()
        .unwrap();
    !out.stdout.is_empty()
}

/// Jobs that make process groups of their own inside their session: `timeout`
/// does, and so does a shell with job control (`set -m`), whose jobs may
/// also ignore SIGTERM. Their sleeps have lengths of their own (from `base`
/// and this test process's pid), to be found by.
fn group_makers(w: &World, base: u32, timeout: &[&str]) -> Vec<(String, Vec<String>)> {
    let base = base + 10 * std::process::id();
    let sleep = |n: u32| format!("sleep {base}.{n}");
    let jobs = [
        (
            format!("timeout 100 {}; echo after", sleep(1)),
            vec![sleep(1)],
        ),
        (
            format!("set -m; {} & {} & wait", sleep(2), sleep(3)),
            vec![sleep(2), sleep(3)],
        ),
        (
            format!("trap '' TERM; set -m; (trap '' TERM; {}) & wait", sleep(4)),
            vec![sleep(4)],
        ),
    ];
    jobs.into_iter()
        .map(|(script, sleeps)| {
            let mut args = timeout.to_vec();
            args.extend(["bash", "-c", &script]);
            let id = w.start(&args);
            for sleep in &sleeps {
                poll("the job's sleep to start", || runs_as(sleep).then_some(()));
            }
            (id, sleeps)
        })
        .collect()
}

/// runkill stops the whole job: every process group of its session, not
/// only the job's own, SIGKILL for those that outstay the grace; and so
/// do a timeout and a SIGTERM to the supervisor that ends the job.
#[test]
fn runkill_and_a_timeout_stop_every_process_group_of_the_job() {
    let w = World::new();
    let jobs = group_makers(&w, 200, &[]);
    let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    let out = w.output("runkill", &[&["--grace", "1s"][..], &ids].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (id, sleeps) in &jobs {
        assert_eq!(field_str(&w.job(id), "status").as_deref(), Some("killed"));
        for sleep in sleeps {
            assert!(!runs_as(sleep), "{id}: `{sleep}` outlived runkill");
        }
    }
    // A timeout's grace (5 s) counts from the timeout, for what the job
    // left running as for the job.
    let jobs = group_makers(&w, 201, &["--timeout", "1s"]);
    for (id, sleeps) in &jobs {
        let end = w.wait_end(id);
        assert!(
            matches!(&end["timed_out"], tinyjson::JsonValue::Boolean(true)),
            "{id}"
        );
        for sleep in sleeps {
            poll(&format!("{id}: `{sleep}` to be stopped"), || {
                (!runs_as(sleep)).then_some(())
            });
        }
    }
    // The supervisor passes a SIGTERM on to the job's group; the two jobs
    // that do not ignore it end, and so does what they left.
    let jobs = group_makers(&w, 202, &[]);
    for (id, sleeps) in &jobs[..2] {
        let sid = field_num(&w.job(id), "sid").unwrap() as i64;
        assert!(kill("TERM", &sid.to_string()));
        let end = w.wait_end(id);
        assert_eq!(field_str(&end, "signal").as_deref(), Some("SIGTERM"));
        for sleep in sleeps {
            poll(&format!("{id}: `{sleep}` to be stopped"), || {
                (!runs_as(sleep)).then_some(())
            });
        }
    }
    let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    let out = w.output("runkill", &[&["--grace", "1s"][..], &ids[2..]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn runkill_s_sends_only_that_signal() {
    let w = World::new();
    let id = waiting(&w, "never", false);
    // A name in any case, as kill(1) takes it.
    let out = w.output("runkill", &["-s", "sigInt", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{id}: sent SIGINT\n"));
    assert_eq!(field_str(&w.wait_end(&id), "signal").unwrap(), "SIGINT");
    let id = waiting(&w, "never", true);
    let out = w.output("runkill", &["-s", "9", &id]);
    assert!(out.status.success());
    assert_eq!(field_str(&w.wait_end(&id), "signal").unwrap(), "SIGKILL");
    assert_eq!(
        w.output("runkill", &["-s", "NOPE", &id]).status.code(),
        Some(2)
    );
}

#[test]
fn runkill_refuses_a_job_that_has_ended() {
    let w = World::new();
    let id = w.start(&["true"]);
    w.wait_end(&id);
    let out = w.output("runkill", &[&id]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!("runkill: {id} is not running: done (exit 0) after 0s\n")
    );
    assert_eq!(w.output("runkill", &[] as &[&str]).status.code(), Some(2));
}

/// `runkill NAME` stops the job of that name that is running, though a
/// newer one of the name has ended; with none running, it still refuses.
#[test]
fn runkill_of_a_name_stops_its_running_job_not_a_newer_ended_one() {
    let w = World::new();
    let running = w.start(&["-N", "build", "sleep", "300"]);
    let ended = w.start(&["-N", "build", "true"]);
    w.wait_end(&ended);
    let out = w.output("runkill", &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(w.status(&running), "killed");
    assert_eq!(w.status(&ended), "done");
    let out = w.output("runkill", &["build"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!("runkill: {ended} is not running")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn runwait_waits_for_the_named_jobs_and_exits_with_the_first_failure() {
    let w = World::new();
    let fails = waiting(&w, "a", false);
    let works = waiting(&w, "b", false);
    let child = w
        .cmd("runwait")
        .args([&works, &fails])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(w.root.join("b"), "").unwrap();
    w.wait_end(&works);
    assert!(kill(
        "KILL",
        &format!("-{}", field_num(&w.job(&fails), "pgid").unwrap() as i64)
    ));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 9), "{}", text(&out.stdout));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines[0], format!("{works}: done (exit 0) after 0s"));
    assert!(lines[1].starts_with(&format!("{fails}: killed (SIGKILL)")));
}

#[test]
fn runwait_without_jobs_waits_for_every_running_one() {
    let w = World::new();
    let one = waiting(&w, "go", false);
    let two = waiting(&w, "go", false);
    let mut child = w.cmd("runwait").stdout(Stdio::piped()).spawn().unwrap();
    // Only once runwait has chosen the running jobs may they end: it
    // chooses them, then watches the state directory (one inotify watch,
    // which /proc/PID/fdinfo shows), then looks at them.
    let fds = format!("/proc/{}/fdinfo", child.id());
    poll("runwait to watch the state directory", || {
        let watching = std::fs::read_dir(&fds).ok()?.flatten().any(|fd| {
            std::fs::read_to_string(fd.path()).is_ok_and(|info| info.contains("inotify wd:"))
        });
        watching.then_some(())
    });
    std::fs::write(w.root.join("go"), "").unwrap();
    let out = child.wait().unwrap();
    assert!(out.success());
    for id in [one, two] {
        assert_eq!(w.status(&id), "done");
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn runwait_times_out_with_124_and_leaves_the_job_running() {
    let w = World::new();
    let id = waiting(&w, "later", false);
    let out = w.output("runwait", &["--timeout", "1s", &id]);
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(w.status(&id), "running");
    std::fs::write(w.root.join("later"), "").unwrap();
    w.wait_end(&id);
}

#[test]
fn run_f_follows_and_exits_with_the_jobs_status() {
    let w = World::new();
    let out = w.output("run", &["-f", "sh", "-c", "echo hello; exit 6"]);
    assert_eq!(out.status.code(), Some(6));
    let shown = text(&out.stdout);
    assert!(shown.contains("---\nhello\n--- failed: exit 6"), "{shown}");
}

#[test]
fn ctrl_c_stops_run_f_and_the_job_keeps_running() {
    let w = World::new();
    let flag = w.root.join("go");
    let mut child = w
        .cmd("run")
        .args([
            "-f",
            "sh",
            "-c",
            &format!(
                "echo started; while [ ! -e {} ]; do sleep 0.02; done",
                flag.display()
            ),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !text(&seen).contains("started\n") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "run -f ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(kill("INT", &child.id().to_string()));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let (id, job) = w.jobs().into_iter().next().unwrap();
    assert_eq!(field_str(&job, "status").unwrap(), "running");
    // Said, since a Ctrl+C looks as if it stopped the job.
    let said = format!("\n\nrunlog: stopped following; {id} runs on (runkill {id} stops it)\n");
    assert!(text(&out.stderr).ends_with(&said), "{}", text(&out.stderr));
    std::fs::write(&flag, "").unwrap();
    assert_eq!(field_str(&w.wait_end(&id), "status").unwrap(), "done");
}

#[test]
fn bash_completion_offers_the_job_ids_and_names() {
    let w = World::new();
    let id = w.start(&["--name", "nightly", "true"]);
    w.wait_end(&id);
    let script = "source <(run --completions bash) || exit 9; COMP_WORDS=(runlog ''); COMP_CWORD=1; _run_jobs; printf '%s\\n' \"${COMPREPLY[@]}\"";
    let out = w.cmd("bash").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let words: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(words, ["nightly", id.as_str()]);
    let script = "source <(run --completions bash); COMP_WORDS=(run -q bas); COMP_CWORD=2; _run; printf '%s\\n' \"${COMPREPLY[@]}\"";
    let out = w.cmd("bash").args(["-c", script]).output().unwrap();
    assert!(
        text(&out.stdout).lines().any(|l| l == "bash"),
        "commands are completed: {}",
        text(&out.stdout)
    );
}

/// The options a command's --help lists: `-x` and `--long` words that
/// begin a line.
fn options_in_help(w: &World, name: &str) -> Vec<String> {
    let help = text(&w.output(name, &["--help"]).stdout);
    let mut found = Vec::new();
    for line in help.lines().filter(|l| l.starts_with("  ")) {
        for word in line
            .trim_start()
            .split([' ', ','])
            .filter(|w| !w.is_empty())
        {
            if !word.starts_with('-') {
                break;
            }
            found.push(word.to_string());
        }
    }
    assert!(found.len() >= 2, "{name} --help lists no options:\n{help}");
    found
}

#[test]
fn every_shell_completes_every_option_and_runkill_only_running_jobs() {
    let w = World::new();
    let done = w.start(&["--name", "finished", "true"]);
    w.wait_end(&done);
    let flag = w.root.join("go");
    let running = w.start(&[
        "--name",
        "busy",
        "sh",
        "-c",
        &format!("while [ ! -e {} ]; do sleep 0.05; done", flag.display()),
    ]);
    let bash = |words: &str| {
        let script = format!(
            "source <(run --completions bash) || exit 9; COMP_WORDS=({words}); \
             COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _${{COMP_WORDS[0]}}; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = w.cmd("bash").args(["-c", &script]).output().unwrap();
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let fish = |line: &str| {
        let script = format!("run --completions fish | source; complete -C '{line}'");
        let out = w
            .cmd("fish")
            .args(["--no-config", "-c", &script])
            .output()
            .expect("fish must be installed (scripts/test installs it)");
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        let words = text(&out.stdout);
        words
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let zsh = text(&w.output("run", &["--completions", "zsh"]).stdout);
    for name in ["run", "runs", "runlog", "runrm", "runkill", "runwait"] {
        let offered = bash(&format!("{name} -"));
        let in_fish = fish(&format!("{name} -"));
        for option in options_in_help(&w, name) {
            assert!(
                offered.contains(&option),
                "bash: {name} {option}: {offered:?}"
            );
            assert!(
                in_fish.contains(&option),
                "fish: {name} {option}: {in_fish:?}"
            );
            let long = option.trim_start_matches('-');
            assert!(zsh.contains(&format!("-{long}")), "zsh: {name} {option}");
        }
    }
    // Jobs: runlog offers every job, runkill only the running one.
    for (line, want) in [
        ("runlog ", &[running.as_str(), done.as_str()][..]),
        ("runkill ", &[running.as_str()]),
    ] {
        for (shell, words) in [("bash", bash(&format!("{line}''"))), ("fish", fish(line))] {
            let ids: Vec<&String> = words.iter().filter(|w| w.contains("_20")).collect();
            assert_eq!(ids, want, "{shell}: {line}");
        }
    }
    assert!(bash("runkill busy").contains(&"busy".to_string()));
    assert!(!bash("runkill fin").contains(&"finished".to_string()));
    assert_eq!(bash("runkill -s ST"), ["STOP"]);
    std::fs::write(&flag, "").unwrap();
    w.wait_end(&running);
}

#[test]
fn zsh_sources_its_completion_and_fish_gets_one() {
    let w = World::new();
    let out = w
        .cmd("zsh")
        .args(["-f", "-c", "autoload -Uz compinit && compinit -u -D && source <(run --completions zsh) && echo sourced"])
        .output()
        .expect("zsh must be installed (scripts/test installs it)");
    assert_eq!(text(&out.stdout), "sourced\n", "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let fish = w.output("run", &["--completions", "fish"]);
    assert!(
        text(&fish.stdout).contains("complete -c runlog")
            || text(&fish.stdout).contains("for command in runlog")
    );
    let bad = w.output("run", &["--completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).starts_with("run: no completions for tcsh"));
}

/// The footer line of a finished job's log (the line before any
/// notification line).
fn footer(w: &World, id: &str) -> String {
    let log = w.log(id);
    let line = log
        .lines()
        .rev()
        .find(|l| l.starts_with("--- ") && !l.contains("notif"));
    line.unwrap().to_string()
}

#[test]
fn a_timeout_terms_the_whole_group_and_is_recorded_and_notified() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("cron");
    // Several at once: each supervisor keeps its own deadline. A child in
    // the background is in the job's group, so it is stopped too.
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let script = format!("sleep 300 & echo $! > {}/child{i}; wait", w.root.display());
            w.start(&[
                "--timeout",
                "1s",
                "-t",
                &url,
                "-N",
                "nightly",
                "sh",
                "-c",
                &script,
            ])
        })
        .collect();
    let quick = w.start(&["--timeout", "1h", "true"]);
    for (i, id) in ids.iter().enumerate() {
        let job = w.wait_end(id);
        assert_eq!(field_str(&job, "status").unwrap(), "killed", "{id}");
        assert_eq!(field_str(&job, "signal").unwrap(), "SIGTERM", "{id}");
        assert_eq!(job["timed_out"], tinyjson::JsonValue::Boolean(true), "{id}");
        assert_eq!(field_num(&job, "timeout"), Some(1.0), "{id}");
        // Never before the deadline.
        assert!(field_num(&job, "duration").unwrap() >= 1.0, "{id}");
        let f = footer(&w, id);
        assert!(
            f.starts_with("--- killed: timed out after 1s, SIGTERM after 1s, peak "),
            "{f}"
        );
        let child = std::fs::read_to_string(w.root.join(format!("child{i}"))).unwrap();
        let child: i64 = child.trim().parse().unwrap();
        poll("the background child to die", || {
            (!alive(child)).then_some(())
        });
    }
    for _ in &ids {
        let request = server.next();
        assert_eq!(
            request.header("Title"),
            Some("nightly killed (timed out after 1s, SIGTERM)")
        );
        assert_eq!(request.header("Tags"), Some("skull"));
    }
    // A job that ends first is what it was, and says nothing of a timeout.
    let job = w.wait_end(&quick);
    assert_eq!(field_str(&job, "status").unwrap(), "done");
    assert_eq!(job["timed_out"], tinyjson::JsonValue::Boolean(false));
    assert_eq!(field_num(&job, "timeout"), Some(3600.0));
    assert!(footer(&w, &quick).starts_with("--- done: exit 0 after 0s"));
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let row = listing.lines().find(|l| l.contains(&ids[0])).unwrap();
    assert!(row.contains(" timed out after 1s, SIGTERM, peak "), "{row}");
}

#[test]
fn a_timed_out_job_that_ignores_sigterm_gets_sigkill_after_the_grace() {
    let w = World::new();
    // One shrugs SIGTERM off; one handles it and exits 0, which is still a
    // job stopped by its timeout.
    let stubborn = w.start(&[
        "--timeout",
        "1",
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.05; done",
    ]);
    let handler = w.start(&[
        "--timeout",
        "1",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 0.05; done",
    ]);
    let job = w.wait_end(&handler);
    assert_eq!(field_str(&job, "status").unwrap(), "killed");
    assert_eq!(field_num(&job, "exit_code"), Some(0.0));
    assert!(footer(&w, &handler).starts_with("--- killed: timed out after 1s, exit 0 after 1s"));
    let job = w.wait_end(&stubborn);
    assert_eq!(field_str(&job, "signal").unwrap(), "SIGKILL");
    assert_eq!(job["timed_out"], tinyjson::JsonValue::Boolean(true));
    assert!(
        field_num(&job, "duration").unwrap() >= 6.0,
        "1s, then 5s of grace"
    );

    // runkill before the deadline is runkill's, not the timeout's.
    let id = w.start(&["--timeout", "1h", "sleep", "300"]);
    assert!(w.output("runkill", &[&id]).status.success());
    let job = w.job(&id);
    assert_eq!(field_str(&job, "signal").unwrap(), "SIGTERM");
    assert_eq!(job["timed_out"], tinyjson::JsonValue::Boolean(false));
}

#[test]
fn a_bad_timeout_is_a_usage_error_that_starts_nothing() {
    let w = World::new();
    for bad in [
        "0", "0s", "0h0m", "0.0s", "soon", "1.5.h", "1e3", "-1s", "", "30m1h", "1h30",
    ] {
        let out = w.output("run", &["--timeout", bad, "true"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with("run: --timeout needs a duration above 0") && err.lines().count() == 1,
            "{bad}: {err}"
        );
    }
    assert!(w.files().is_empty(), "{:?}", w.files());
    // Units together, as the listings show durations; or a fraction, as
    // sleep(1) takes one (it was "needs a duration above 0").
    for good in ["1h30m", "1.5h"] {
        let id = w.start(&["--timeout", good, "true"]);
        assert_eq!(field_num(&w.wait_end(&id), "timeout"), Some(5400.0));
    }
    let id = w.start(&["--timeout", "0.3", "sleep", "300"]);
    let job = w.wait_end(&id);
    assert_eq!(field_num(&job, "timeout"), Some(0.3));
    assert_eq!(job["timed_out"], tinyjson::JsonValue::Boolean(true));
    assert!(
        w.log(&id)
            .contains("\n--- killed: timed out after 0.3s, SIGTERM after 0s")
    );
}

#[test]
fn a_stopped_job_shows_as_stopped_and_running_again_once_continued() {
    let w = World::new();
    let ids: Vec<String> = (0..3).map(|_| w.start(&["sleep", "300"])).collect();
    let mut args: Vec<&str> = vec!["-s", "STOP"];
    args.extend(ids.iter().map(|s| s.as_str()));
    let out = w.output("runkill", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for id in &ids {
        let job = w.wait_status(id, "stopped");
        assert!(
            field_num(&job, "pid").is_some(),
            "a stopped job keeps its pid"
        );
        assert!(is_null(&job, "ended"), "a stopped job has not ended");
    }
    // Not ended: listed as not ended, and waited through.
    let listing = text(&w.output("runs", &["-r"]).stdout);
    for id in &ids {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with("● stopped") && l.contains(id.as_str())),
            "{listing}"
        );
    }
    let out = w.output("runwait", &["--timeout", "1s", &ids[0]]);
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert!(
        w.output("runkill", &["-s", "CONT", &ids[0]])
            .status
            .success()
    );
    w.wait_status(&ids[0], "running");
    // A stopped job that runkill stops is continued, so that it ends on its
    // SIGTERM now rather than on SIGKILL after the grace.
    let out = w.output("runkill", &["--grace", "60s", &ids[1]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&ids[1]);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGTERM"));
    assert_eq!(field_str(&job, "status").as_deref(), Some("killed"));
    // So is one its timeout stops.
    let late = w.start(&["--timeout", "2s", "sleep", "300"]);
    assert!(w.output("runkill", &["-s", "STOP", &late]).status.success());
    let job = w.wait_end(&late);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGTERM"));
    assert_eq!(job["timed_out"], tinyjson::JsonValue::Boolean(true));
    assert!(w.output("runkill", &[&ids[0], &ids[2]]).status.success());
}

#[test]
fn runkill_stop_and_cont_return_only_once_the_listing_shows_them() {
    let w = World::new();
    let ids: Vec<String> = (0..2).map(|_| w.start(&["sleep", "300"])).collect();
    let mut wrong = Vec::new();
    for round in 0..40 {
        // Right after each start too, and for two jobs at once.
        let fresh = w.start(&["sleep", "300"]);
        for (signal, want) in [("STOP", "stopped"), ("CONT", "running")] {
            let out = w.output("runkill", &["-s", signal, &fresh, &ids[0], &ids[1]]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let jobs = w.jobs();
            for id in [&fresh, &ids[0], &ids[1]] {
                let now = field_str(&jobs[id.as_str()], "status").unwrap();
                if now != want {
                    wrong.push(format!("round {round}: {id} {now} after {signal}"));
                }
            }
        }
        assert!(
            w.output("runkill", &["-s", "KILL", &fresh])
                .status
                .success()
        );
    }
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(w.output("runkill", &[&ids[0], &ids[1]]).status.success());
}

#[test]
fn the_last_of_many_stops_and_continues_is_the_status_that_stays() {
    let w = World::new();
    let mut random = Random::new("stops_and_continues");
    let id = w.start(&["sleep", "300"]);
    let pgid = field_num(&w.job(&id), "pgid").unwrap() as i64;
    for round in 0..12 {
        // A burst of signals at random moments, straight to the group, then
        // one that settles it.
        for _ in 0..random.below(8) {
            let signal = ["STOP", "CONT"][random.below(2) as usize];
            assert!(kill(signal, &format!("-{pgid}")));
            std::thread::sleep(std::time::Duration::from_micros(random.below(3000)));
        }
        let (signal, want) = [("STOP", "stopped"), ("CONT", "running")][round % 2];
        assert!(kill(signal, &format!("-{pgid}")));
        w.wait_status(&id, want);
        // It stays so: no late event overwrites it.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(w.status(&id), want, "round {round}");
    }
    assert!(w.output("runkill", &[&id]).status.success());
    assert_eq!(
        field_str(&w.wait_end(&id), "status").as_deref(),
        Some("killed")
    );
}

#[test]
fn a_stopped_job_whose_supervisor_is_killed_reads_lost_once_it_ends() {
    let w = World::new();
    let id = w.start(&["sleep", "300"]);
    let job = w.job(&id);
    let (pid, sid) = (
        field_num(&job, "pid").unwrap() as i64,
        field_num(&job, "sid").unwrap() as i64,
    );
    assert!(w.output("runkill", &["-s", "STOP", &id]).status.success());
    w.wait_status(&id, "stopped");
    assert!(sigkill(sid));
    assert!(sigkill(pid));
    assert_eq!(
        field_str(&w.wait_end(&id), "status").as_deref(),
        Some("lost")
    );
}

/// A job stopped from outside runkill (`kill -STOP`) before its record says
/// so (its supervisor is held stopped too, so the record cannot catch up)
/// is continued with the SIGTERM, and ends by it, not by the SIGKILL after
/// the grace.
#[test]
#[cfg(target_os = "linux")]
fn runkill_continues_a_job_stopped_from_outside_before_its_record_says_so() {
    let w = World::new();
    let id = waiting(&w, "never", false);
    let job = w.job(&id);
    let (sid, pgid) = (
        field_num(&job, "sid").unwrap() as i64,
        field_num(&job, "pgid").unwrap() as i64,
    );
    // Each stopped once it has taken the signal (state T): the supervisor
    // first, so that it cannot record the job's stop.
    let stopped = |pid: i64| {
        poll(&format!("{pid} to stop"), || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            (stat.rsplit_once(')')?.1.split_whitespace().next() == Some("T")).then_some(())
        })
    };
    assert!(kill("STOP", &sid.to_string()));
    stopped(sid);
    assert!(kill("STOP", &format!("-{pgid}")));
    stopped(pgid);
    assert_eq!(
        w.status(&id),
        "running",
        "the record caught up: not the case tried"
    );
    let runkill = w
        .cmd("runkill")
        .args(["--grace", "3s", &id])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The job ends on runkill's signals (by SIGKILL after the grace if it
    // was never continued) before the supervisor may record anything.
    poll("the job to end", || (!alive(pgid)).then_some(()));
    assert!(kill("CONT", &sid.to_string()));
    let out = runkill.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&id);
    assert_eq!(
        field_str(&job, "signal").as_deref(),
        Some("SIGTERM"),
        "{job:?}"
    );
}

/// A supervisor stopped from outside (`kill -STOP`) cannot record the end
/// runkill brings: runkill continues it too, and the job reads killed,
/// whether the job was stopped with it or not.
#[test]
fn runkill_continues_a_stopped_supervisor_so_that_the_end_is_recorded() {
    let w = World::new();
    let alone = waiting(&w, "never", false);
    let both = waiting(&w, "never2", false);
    for (id, job_too) in [(&alone, false), (&both, true)] {
        let job = w.job(id);
        let sid = field_num(&job, "sid").unwrap() as i64;
        assert!(kill("STOP", &sid.to_string()));
        if job_too {
            let pgid = field_num(&job, "pgid").unwrap() as i64;
            assert!(kill("STOP", &format!("-{pgid}")));
        }
        poll(&format!("{sid} to stop"), || {
            let stat = std::fs::read_to_string(format!("/proc/{sid}/stat")).ok()?;
            (stat.rsplit_once(')')?.1.split_whitespace().next() == Some("T")).then_some(())
        });
    }
    let out = w.output("runkill", &["--grace", "1s", &alone, &both]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for id in [&alone, &both] {
        let job = w.job(id);
        assert_eq!(
            field_str(&job, "status").as_deref(),
            Some("killed"),
            "{job:?}"
        );
        assert_eq!(
            field_str(&job, "signal").as_deref(),
            Some("SIGTERM"),
            "{job:?}"
        );
    }
}

/// A job whose exit code nobody knows (the original version's `ended`, or
/// `unknown`: a log with no readable record) is no success: runwait, and
/// runlog with or without following, exit 1 for it, as for a lost job, so
/// that `runwait build && deploy` does not deploy. A done job beside it
/// still gives 0.
#[test]
fn an_outcome_nobody_knows_is_not_reported_as_success() {
    let w = World::new();
    let done = w.start(&["true"]);
    w.wait_end(&done);
    w.seed_legacy();
    w.plant("torn_20250101_000000.log", b"$ make\n---\n");
    w.plant("torn_20250101_000000.json", b"{\"id\":");
    for id in ["build_20251205_163539", "torn_20250101_000000"] {
        for args in [
            vec!["runwait", id],
            vec!["runlog", id],
            vec!["runlog", "-f", id],
        ] {
            let out = w.output(args[0], &args[1..]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{args:?}: {}",
                text(&out.stderr)
            );
        }
        let both = w.output("runwait", &[&done, id]);
        assert_eq!(both.status.code(), Some(1), "{}", text(&both.stderr));
    }
    assert_eq!(w.output("runwait", &[&done]).status.code(), Some(0));
    assert_eq!(w.output("runlog", &[&done]).status.code(), Some(0));

    // A job of the original version followed until its process is gone.
    let (mut sleeper, live) = w.plant_live_legacy();
    let follow = w.cmd("runlog").args(["-f", &live]).spawn().unwrap();
    let waiter = w.cmd("runwait").arg(&live).spawn().unwrap();
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert_eq!(follow.wait_with_output().unwrap().status.code(), Some(1));
    assert_eq!(waiter.wait_with_output().unwrap().status.code(), Some(1));
}
