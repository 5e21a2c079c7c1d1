//! `run`: starting a job, detachment, the job files, and how the end is
//! recorded. Each test drives the real binary in a fresh RUN_DIR.

mod common;
use common::*;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

#[test]
fn exit_codes_and_signals_are_recorded_in_record_and_footer() {
    let w = World::new();
    let ok = w.start(&["true"]);
    let three = w.start(&["sh", "-c", "exit 3"]);
    let term = w.start(&["sh", "-c", "kill -TERM $$"]);

    let job = w.wait_end(&ok);
    assert_eq!(field_str(&job, "status").unwrap(), "done");
    assert_eq!(field_num(&job, "exit_code"), Some(0.0));
    assert!(is_null(&job, "signal"));
    assert!(
        w.log(&ok)
            .lines()
            .last()
            .unwrap()
            .starts_with("--- done: exit 0 after 0s, peak ")
    );

    let job = w.wait_end(&three);
    assert_eq!(field_str(&job, "status").unwrap(), "failed");
    assert_eq!(field_num(&job, "exit_code"), Some(3.0));
    assert!(
        w.log(&three)
            .lines()
            .last()
            .unwrap()
            .starts_with("--- failed: exit 3 after ")
    );

    let job = w.wait_end(&term);
    assert_eq!(field_str(&job, "status").unwrap(), "killed");
    assert_eq!(field_str(&job, "signal").unwrap(), "SIGTERM");
    assert!(is_null(&job, "exit_code"));
    assert!(
        w.log(&term)
            .lines()
            .last()
            .unwrap()
            .starts_with("--- killed: SIGTERM after ")
    );

    // The footer sits on a line of its own after output without a newline.
    let id = w.start(&["printf", "no newline"]);
    w.wait_end(&id);
    let log = w.log(&id);
    assert!(log.contains("---\nno newline\n--- done: exit 0"), "{log}");
}

#[test]
fn record_has_every_field_of_the_schema() {
    let w = World::new();
    let id = w.start(&["--name", "nightly", "sh", "-c", "exit 0"]);
    let job = w.wait_end(&id);
    assert!(id.starts_with("nightly_"), "{id}");
    assert_eq!(field_str(&job, "name").unwrap(), "nightly");
    let command: &Vec<tinyjson::JsonValue> = job["command"].get().unwrap();
    let command: Vec<String> = command
        .iter()
        .map(|v| v.get::<String>().unwrap().clone())
        .collect();
    assert_eq!(command, ["sh", "-c", "exit 0"]);
    assert_eq!(field_str(&job, "cwd").unwrap(), w.root.to_str().unwrap());
    assert!(!field_str(&job, "host").unwrap().is_empty());
    let pid = field_num(&job, "pid").unwrap();
    assert_eq!(field_num(&job, "pgid"), Some(pid));
    let started = field_num(&job, "started").unwrap();
    let ended = field_num(&job, "ended").unwrap();
    assert!(ended >= started && started > 1.7e9);
    assert!(field_num(&job, "duration").unwrap() >= 0.0);
    assert!(is_null(&job, "topic"));
    let log = w.state.join(format!("{id}.log"));
    assert_eq!(field_str(&job, "log").unwrap(), log.to_str().unwrap());
    let pid_file = std::fs::read_to_string(w.state.join(format!("{id}.pid"))).unwrap();
    assert_eq!(pid_file, format!("{pid}\n"));
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let ns = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
        assert_eq!(field_num(&job, "pid_ns"), Some(ns as f64));
        // The supervisor's start, from the process table, and the job's.
        let supervisor = field_num(&job, "sid_since_boot").unwrap();
        let since_boot = field_num(&job, "since_boot").unwrap();
        assert!(
            (0.0..3.0).contains(&(supervisor - since_boot + 0.01)),
            "{supervisor} {since_boot}"
        );
    }

    let header: Vec<String> = w.log(&id).lines().take(5).map(String::from).collect();
    assert_eq!(header[0], "$ sh -c 'exit 0'");
    assert!(header[1].starts_with("Started: 20"));
    assert!(
        header[1].contains(" +") || header[1].contains(" -"),
        "no UTC offset"
    );
    assert!(header[2].starts_with("Host: "));
    assert_eq!(header[3], format!("Dir: {}", w.root.display()));
    assert_eq!(header[4], "---");
}

#[test]
fn stdout_and_stderr_keep_their_order_in_the_log() {
    let w = World::new();
    let id = w.start(&["sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2; echo 5"]);
    w.wait_end(&id);
    assert_eq!(w.body(&id), "1\n2\n3\n4\n5\n");
}

#[test]
fn sigpipe_is_back_at_its_default_for_the_job() {
    let w = World::new();
    let id = w.start(&["sh", "-c", "yes | head -n 1"]);
    assert_eq!(field_str(&w.wait_end(&id), "status").unwrap(), "done");
    assert!(
        !w.log(&id).contains("Broken pipe"),
        "yes saw EPIPE: SIGPIPE was ignored"
    );
    // Stronger: `yes` itself must die of SIGPIPE (status 141).
    let id = w.start(&[
        "bash",
        "-c",
        "yes | head -n 1 >/dev/null; exit ${PIPESTATUS[0]}",
    ]);
    assert_eq!(field_num(&w.wait_end(&id), "exit_code"), Some(141.0));
}

#[cfg(target_os = "linux")]
#[test]
fn signals_ignored_by_the_caller_are_default_for_the_job() {
    let w = World::new();
    let out = w
        .cmd("sh")
        .args([
            "-c",
            "trap '' INT HUP TERM; exec run -q sh -c 'grep -E \"^Sig(Ign|Blk)\" /proc/self/status'",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let id = text(&out.stdout).trim().to_string();
    w.wait_end(&id);
    // Signals 1-31 (the low 31 bits). 32-34 are reserved by the C library,
    // which refuses to change them; only a caller that ignored them passes
    // that on.
    let log = w.log(&id);
    for field in ["SigBlk:", "SigIgn:"] {
        let line = log.lines().find(|l| l.starts_with(field)).unwrap();
        let mask = u64::from_str_radix(line[field.len()..].trim(), 16).unwrap();
        assert_eq!(mask & 0x7fff_ffff, 0, "{log}");
    }
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn job_survives_the_hangup_of_its_terminal_session() {
    let w = World::new();
    let id_file = w.root.join("id");
    let sh_pid_file = w.root.join("shpid");
    // A shell in a new session on a real pseudo-terminal (script(1)), which
    // starts a job and then lingers like an interactive login would.
    let inner = format!(
        "echo $$ > {}; run -q sleep 2 > {}; sleep 60",
        sh_pid_file.display(),
        id_file.display()
    );
    let mut script = w
        .cmd("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let id = poll("the job id", || {
        std::fs::read_to_string(&id_file)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    let id = id.trim().to_string();
    let shell = std::fs::read_to_string(&sh_pid_file)
        .unwrap()
        .trim()
        .to_string();
    // Hang up the whole session, then make sure it is gone.
    assert!(kill("HUP", &format!("-{shell}")), "no session to hang up");
    kill("KILL", &format!("-{shell}"));
    let _ = script.kill();
    let _ = script.wait();
    assert_eq!(w.status(&id), "running", "the job died with its terminal");
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").unwrap(), "done");
}

#[test]
fn two_hundred_parallel_launches_give_two_hundred_jobs() {
    let w = World::new();
    let children: Vec<_> = (0..200)
        .map(|_| {
            w.cmd("run")
                .args(["-q", "--name", "same", "true"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids: Vec<String> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout).trim().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "ids were not distinct");
    w.wait_all_done(200);
    for id in &ids {
        let log = w.log(id);
        assert!(
            log.starts_with("$ true\n") && log.contains("--- done: exit 0"),
            "{log}"
        );
    }
}

#[test]
fn missing_or_unexecutable_command_leaves_no_files() {
    let w = World::new();
    let out = w.output("run", &["no-such-command-xyz", "arg"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        text(&out.stderr),
        "run: no-such-command-xyz: command not found\n"
    );
    let script = w.root.join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let out = w.output("run", &[script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    let script = script.to_str().unwrap();
    assert_eq!(
        text(&out.stderr),
        format!("run: {script}: not executable (chmod +x {script})\n")
    );
    let dir = w.root.to_str().unwrap().to_string();
    for (args, code, said) in [
        (vec![dir.as_str()], 126, format!("run: {dir}: is a directory\n")),
        (vec!["-q", "/"], 126, "run: /: is a directory\n".to_string()),
        (
            vec!["make && make install"],
            127,
            "run: 'make && make install': command not found; to run a shell line: run sh -c 'make && make install'\n".to_string(),
        ),
        (
            vec!["CUDA_VISIBLE_DEVICES=1", "python3", "train.py"],
            127,
            "run: CUDA_VISIBLE_DEVICES=1: command not found; to set it for the job: run env CUDA_VISIBLE_DEVICES=1 …\n"
                .to_string(),
        ),
        (vec!["=1", "x"], 127, "run: =1: command not found\n".to_string()),
        (
            vec!["cd", "build"],
            127,
            "run: cd: a shell builtin, not a program; to run a shell line: run sh -c 'cd …'\n"
                .to_string(),
        ),
    ] {
        let out = w.output("run", &args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert_eq!(text(&out.stderr), said);
    }
    assert_eq!(w.files(), Vec::<String>::new(), "files were left behind");
}

#[test]
fn non_utf8_arguments_reach_the_command_byte_for_byte() {
    let w = World::new();
    let target = w.root.join("out.bin");
    let arg = std::ffi::OsStr::from_bytes(b"caf\xe9 \xff\xfe\x01");
    let out = w
        .cmd("run")
        .args(["-q", "sh", "-c", "printf %s \"$1\" > \"$2\"", "sh"])
        .arg(arg)
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success());
    let id = text(&out.stdout).trim().to_string();
    w.wait_end(&id);
    assert_eq!(std::fs::read(&target).unwrap(), b"caf\xe9 \xff\xfe\x01");
    // The header shows the bytes escaped, never raw.
    let log = std::fs::read(w.state.join(format!("{id}.log"))).unwrap();
    let header = log.split(|&b| b == b'\n').next().unwrap();
    let quoted = br"$'caf\xe9 \xff\xfe\x01'";
    assert!(
        header.windows(quoted.len()).any(|w| w == quoted),
        "{}",
        text(header)
    );
    assert!(!header.contains(&0xff) && !header.contains(&0x01));
}

#[cfg(target_os = "linux")]
#[test]
fn job_has_only_descriptors_0_1_and_2() {
    let w = World::new();
    // The caller holds descriptor 5 open without close-on-exec.
    let out = w
        .cmd("sh")
        .args(["-c", "exec 5</dev/null; exec run -q sh -c 'ls /proc/$$/fd'"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    w.wait_end(&id);
    let body = w.body(&id);
    assert_eq!(body.lines().collect::<Vec<_>>(), ["0", "1", "2"], "{body}");
}

#[test]
fn run_returns_at_once_even_when_its_output_is_captured() {
    // Like `ssh host run cmd`: the caller reads run's output to the end,
    // which only comes once nothing of the job holds the pipe.
    let w = World::new();
    let out = w
        .cmd("run")
        .args(["-q", "sleep", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(w.status(&id), "running", "output ended only after the job");
    let pid = field_num(&w.job(&id), "pid").unwrap() as i64;
    assert!(kill("KILL", &pid.to_string()));
    w.wait_status(&id, "killed");
}

#[test]
fn state_directory_is_0700_and_files_0600_under_umask_000() {
    let w = World::new();
    let out = w
        .cmd("sh")
        .args(["-c", "umask 000; exec run -q true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    w.wait_end(&id);
    w.indexed(&[&id]);
    assert_eq!(mode(&w.state), 0o700);
    for file in w.files() {
        assert_eq!(mode(&w.state.join(&file)), 0o600, "{file}");
    }
    // The job's three files, and the index that listing it wrote.
    let job = |suffix: &str| format!("{id}{suffix}");
    assert_eq!(
        w.files(),
        [".index".to_string(), job(".json"), job(".log"), job(".pid")]
    );
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn a_planted_symlink_at_the_next_log_path_is_not_followed() {
    let w = World::new();
    std::fs::create_dir_all(&w.state).unwrap();
    let target = w.root.join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    // Plant links for this second and the next few, under the exact names.
    let now = std::time::SystemTime::now();
    for ahead in 0..5 {
        let t = now + std::time::Duration::from_secs(ahead);
        let stamp = Command::new("date")
            .arg(format!(
                "-d@{}",
                t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            ))
            .arg("+%Y%m%d_%H%M%S")
            .output()
            .unwrap();
        let id = format!("trap_{}", text(&stamp.stdout).trim());
        for suffix in [".log", ".pid", ".json"] {
            std::os::unix::fs::symlink(&target, w.state.join(format!("{id}{suffix}"))).unwrap();
        }
    }
    let id = w.start(&["--name", "trap", "sh", "-c", "echo written"]);
    assert!(id.ends_with("_2"), "the planted id was reused: {id}");
    w.wait_end(&id);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    assert!(w.log(&id).contains("\nwritten\n"));
}

#[cfg(target_os = "linux")]
#[test]
fn killed_supervisor_reads_running_then_lost() {
    let w = World::new();
    let flag = w.root.join("go");
    let id = w.start(&[
        "sh",
        "-c",
        &format!("while [ ! -e {} ]; do sleep 0.05; done", flag.display()),
    ]);
    let pid = field_num(&w.job(&id), "pid").unwrap() as i64;
    let supervisor = parent_of(pid);
    assert!(kill("KILL", &supervisor.to_string()));
    poll("the supervisor to die", || {
        (!alive(supervisor)).then_some(())
    });
    assert_eq!(
        w.status(&id),
        "running",
        "the job is alive, so it is running"
    );
    std::fs::write(&flag, "").unwrap();
    let job = w.wait_status(&id, "lost");
    assert!(is_null(&job, "exit_code") && is_null(&job, "ended"));
}

#[test]
fn timestamps_honour_tz() {
    let w = World::new();
    let utc = w
        .cmd("run")
        .env("TZ", "UTC0")
        .args(["-q", "true"])
        .output()
        .unwrap();
    let east = w
        .cmd("run")
        .env("TZ", "XYZ-5")
        .args(["-q", "true"])
        .output()
        .unwrap();
    // true_YYYYmmdd_HHMMSS: the hour is the first two digits of the third part.
    let hour = |out: &std::process::Output| -> i32 {
        text(&out.stdout).split('_').nth(2).unwrap()[..2]
            .parse()
            .unwrap()
    };
    let diff = (hour(&east) - hour(&utc)).rem_euclid(24);
    assert!(
        diff == 5 || diff == 4,
        "TZ=XYZ-5 should be 5 hours ahead of UTC, got {diff}"
    );
    let id = text(&east.stdout).trim().to_string();
    w.wait_end(&id);
    assert!(w.log(&id).lines().nth(1).unwrap().ends_with(" +0500"));
}

#[test]
fn link_creates_the_other_names_and_is_idempotent() {
    let w = World::new();
    let dir = w.root.join("links");
    std::fs::create_dir(&dir).unwrap();
    let out = w.output("run", &["--link", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for name in NAMES {
        let target = std::fs::read_link(dir.join(name)).unwrap();
        assert_eq!(target, binary(), "{name}");
    }
    // No shell would find them there: it says so, in one line.
    let said = format!("run: {} is not on PATH; add it there", dir.display());
    assert!(
        text(&out.stderr).starts_with(&said),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr).lines().count(), 1);
    let again = w.output("run", &["--link", dir.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("already linked"));
    // The links work: `runs` lists through its link.
    let out = Command::new(dir.join("runs"))
        .env("RUN_DIR", &w.state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let locked = w.root.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
    let out = w.output("run", &["--link", locked.to_str().unwrap()]);
    if !is_root() {
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("run --link DIR"));
    }
    let occupied = w.root.join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("runs"), "mine").unwrap();
    let out = w.output("run", &["--link", occupied.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("run: ") && text(&out.stderr).contains("exists"));
    assert_eq!(
        std::fs::read_to_string(occupied.join("runs")).unwrap(),
        "mine"
    );
    // Every name in the way is told, on one line, and none is linked.
    std::os::unix::fs::symlink("/bin/true", occupied.join("runlog")).unwrap();
    let out = w.output("run", &["--link", occupied.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/occupied/runs, ")
            && err.contains("/occupied/runlog exist and are not links"),
        "{err}"
    );
    let mut left: Vec<_> = std::fs::read_dir(&occupied)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["runlog", "runs"],
        "links were made beside those in the way"
    );
    // The binary's own directory, as `.` or a relative path: the binary
    // itself is not in the way.
    let own = w.root.join("own");
    std::fs::create_dir(&own).unwrap();
    copy_program(&binary(), &own.join("run"));
    for dir in [".", "../own"] {
        let out = Command::new(own.join("run"))
            .args(["--link", dir])
            .current_dir(&own)
            .output()
            .unwrap();
        assert!(out.status.success(), "{dir}: {}", text(&out.stderr));
        let made = std::fs::read_link(own.join("runwait")).unwrap();
        assert_eq!(made, own.join("run"), "{dir}");
        assert!(
            std::fs::symlink_metadata(own.join("run"))
                .unwrap()
                .is_file()
        );
    }
}

#[test]
fn usage_errors_are_one_line_with_exit_2_and_leave_nothing() {
    let w = World::new();
    let cases: &[&[&str]] = &[
        &[],
        &["--"],
        &[""],
        &["--bogus", "true"],
        &["--name"],
        &["--name", "", "true"],
        &["--name", "..", "true"],
        &["--name", "a/b", "true"],
        &["--name", "!!!", "true"],
        &["--name", "-x", "true"],
        &["-N", "héllo wörld", "true"],
        &["-N", ".x", "true"],
        &["-N", &"x".repeat(41), "true"],
    ];
    for args in cases {
        let out = w.output("run", args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("run: ") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(w.files(), Vec::<String>::new());
}

#[test]
fn options_after_the_command_belong_to_the_command() {
    let w = World::new();
    let id = w.start(&["sh", "-c", "echo \"$@\"", "sh", "-q", "--name", "x"]);
    w.wait_end(&id);
    assert!(w.log(&id).contains("\n-q --name x\n"));
    assert!(id.starts_with("sh_"), "{id}");
}

#[test]
fn the_start_line_names_the_notification_target_and_q_keeps_its_meaning_with_f() {
    let w = World::new();
    // Port 9 on loopback: refused at once; only the start line matters here.
    let out = w.output("run", &["-t", "http://127.0.0.1:9/pyhton", "true"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 3, "{said}");
    assert!(
        lines[0].starts_with("started ") && lines[1].starts_with("log: "),
        "{said}"
    );
    assert_eq!(lines[2], "notify: http://127.0.0.1:9/pyhton");
    // Without a topic there is no notify line.
    let out = w.output("run", &["true"]);
    assert_eq!(text(&out.stdout).lines().count(), 2);
    // -q with -f: the id first, then the log; nothing on stderr.
    let out = w.output("run", &["-q", "-f", "sh", "-c", "echo followed"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    let said = text(&out.stdout);
    let id = said.lines().next().unwrap();
    assert!(id.starts_with("sh_") && !id.contains(' '), "{said}");
    assert!(said.contains("\nfollowed\n"), "{said}");
    assert_eq!(w.status(id), "done");
    // -f alone says "started" on stderr, with the target.
    let out = w.output("run", &["-f", "-t", "http://127.0.0.1:9/t", "true"]);
    let err = text(&out.stderr);
    assert!(
        err.starts_with("started ") && err.ends_with("\nnotify: http://127.0.0.1:9/t\n"),
        "{err}"
    );
}

#[test]
fn options_have_getopt_habits_on_every_command() {
    let w = World::new();
    // -qf is -q -f; --name=x is --name x.
    let out = w.output("run", &["-qf", "--name=first", "sh", "-c", "echo one"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let first = said.lines().next().unwrap().to_string();
    assert!(first.starts_with("first_"), "{said}");
    assert!(said.contains("\none\n"), "{said}");
    // A value is a value even when it looks like an option, so -N -q is
    // the name "-q", refused by the name rule, and not a missing name.
    let out = w.output("run", &["-N", "-q", "true"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("run: invalid --name -q: "), "{err}");
    let out = w.output("run", &["-qNsecond", "true"]);
    let second = text(&out.stdout).trim().to_string();
    assert!(second.starts_with("second_"), "{second}");
    w.wait_status(&second, "done");
    // The verbs: a cluster, an attached value, --opt=value, and -- before
    // a reference.
    let out = w.output("runlog", &["--no-follow", "--lines=1", "--", &first]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
    let out = w.output("runlog", &["-fn1", &first]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let out = w.output("runs", &["-rh"]);
    assert!(text(&out.stdout).starts_with("runs - "));
    let out = w.output("runwait", &["--timeout=5s", &first, &second]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = w.output("runrm", &["--dry-run", "--keep=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&first), "{}", text(&out.stdout));
    // Errors stay one line, and say which option and value.
    for (name, args, want) in [
        (
            "runkill",
            &["-s0", "x"][..],
            "runkill: -s needs a signal: a name like TERM or SIGINT, or a number from 1, not 0\n",
        ),
        (
            "runkill",
            &["--grace=soon", "x"],
            "runkill: --grace needs a duration such as 5s or 2m, not soon\n",
        ),
        (
            "runlog",
            &["-x"],
            "runlog: unknown option -x (see runlog --help)\n",
        ),
        ("runs", &["--json=1"], "runs: --json takes no value\n"),
        (
            "run",
            &["-qz", "true"],
            "run: unknown option -z (see run --help)\n",
        ),
    ] {
        let out = w.output(name, args);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}");
        assert_eq!(text(&out.stderr), want, "{name} {args:?}");
    }
}

#[test]
fn stray_records_under_the_next_ids_are_skipped_not_fatal() {
    let w = World::new();
    w.ensure_state();
    // A record and a pid file, without a log, under each id this second and
    // the next nine can give (slack for a loaded machine): the launch must
    // take a free `_N`.
    let now = text(&w.cmd("date").arg("+%s").output().unwrap().stdout)
        .trim()
        .parse::<u64>()
        .unwrap();
    let mut planted = Vec::new();
    for ahead in 0..10 {
        let out = w
            .cmd("date")
            .args(["-d", &format!("@{}", now + ahead), "+%Y%m%d_%H%M%S"])
            .output()
            .unwrap();
        let stamp = text(&out.stdout).trim().to_string();
        w.plant(&format!("stray_{stamp}.json"), b"{}");
        w.plant(&format!("stray_{stamp}.pid"), b"1\n");
        planted.push(format!("stray_{stamp}_2"));
    }
    let id = w.start(&["-N", "stray", "true"]);
    assert!(planted.contains(&id), "{id} not in {planted:?}");
    assert_eq!(
        field_str(&w.wait_end(&id), "status").as_deref(),
        Some("done")
    );
}

/// A perl that fills `mib` MiB of one string in place (no copy) and then
/// burns `cpu` seconds of user time.
fn allocate(mib: u32, cpu: f64) -> String {
    format!(
        "perl -e 'vec($x, {mib}*1024*1024-1, 8) = 1; $x =~ tr/\\0/a/; 1 while (times)[0] < {cpu}'"
    )
}

#[test]
fn what_a_job_cost_is_the_largest_process_and_all_the_cpu_it_waited_for() {
    let w = World::new();
    // The leader is sh; the cost is that of the perls it waited for: the
    // larger of the two resident sets (not their sum), and both CPU times.
    let script = format!("{}; {}", allocate(200, 0.2), allocate(100, 0.2));
    let id = w.start(&["--name", "train", "sh", "-c", &script]);
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").unwrap(), "done");
    let kib = field_num(&job, "peak_rss_kib").unwrap();
    assert!((200.0 * 1024.0..290.0 * 1024.0).contains(&kib), "{kib} KiB");
    let user = field_num(&job, "cpu_user").unwrap();
    assert!(user >= 0.4, "user CPU {user}");
    assert!(field_num(&job, "cpu_system").unwrap() >= 0.0);
    let record: tinyjson::JsonValue = std::fs::read_to_string(w.state.join(format!("{id}.json")))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(field_num(&record, "peak_rss_kib"), Some(kib));

    // The footer and runs' detail column say it as people do.
    let peak = format!("peak {:.1} MiB, CPU ", kib / 1024.0);
    let footer = w.log(&id).lines().last().unwrap().to_string();
    assert!(footer.starts_with("--- done: exit 0 after "), "{footer}");
    assert!(footer.contains(&format!(", {peak}")), "{footer}");
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let row = listing.lines().find(|l| l.contains(&id)).unwrap();
    assert!(row.contains(&format!("exit 0, {peak}")), "{row}");

    // A job killed by a signal has cost something too.
    let id = w.start(&["sh", "-c", &format!("{}; kill -KILL $$", allocate(50, 0.0))]);
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "signal").unwrap(), "SIGKILL");
    assert!(field_num(&job, "peak_rss_kib").unwrap() >= 50.0 * 1024.0);
    assert!(w.log(&id).lines().last().unwrap().contains(", peak "));

    // A running job has no cost yet: null, and no cost in its row.
    let id = w.start(&["sleep", "30"]);
    let job = w.job(&id);
    for key in ["peak_rss_kib", "cpu_user", "cpu_system"] {
        assert!(is_null(&job, key), "{key} of a running job");
    }
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let row = listing.lines().find(|l| l.contains(&id)).unwrap();
    assert!(!row.contains("peak"), "{row}");
    w.output("runkill", &[&id]);
}

#[test]
fn again_reruns_a_jobs_command_in_its_directory_with_its_name_topic_and_timeout() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("again");
    let dir = w.root.join("work dir");
    std::fs::create_dir(&dir).unwrap();
    let script = "pwd; echo \"$MOOD\"; printf '%s|' \"$@\"; echo";
    let first = w
        .cmd("run")
        .current_dir(&dir)
        .env("MOOD", "first")
        .args(["-q", "-N", "nightly", "--timeout", "1h", "-t", &url])
        .args(["sh", "-c", script, "sh", "a b", "q'uote", ""])
        .output()
        .unwrap();
    let first = text(&first.stdout).trim().to_string();
    w.wait_end(&first);
    server.next();

    // From elsewhere, with the caller's environment, by name.
    let out = w
        .cmd("run")
        .env("MOOD", "second")
        .args(["--again", "nightly"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let again = said
        .strip_prefix("started ")
        .and_then(|s| s.split(' ').next())
        .unwrap();
    assert_ne!(again, first);
    let job = w.wait_end(again);
    assert_eq!(field_str(&job, "name").unwrap(), "nightly");
    assert_eq!(field_str(&job, "cwd").unwrap(), dir.to_str().unwrap());
    assert_eq!(field_str(&job, "topic").unwrap(), url);
    assert_eq!(field_num(&job, "timeout"), Some(3600.0));
    assert_eq!(job["command"], w.job(&first)["command"]);
    let output = format!("---\n{}\nsecond\na b|q'uote||\n--- done: ", dir.display());
    assert!(w.log(again).contains(&output), "{}", w.log(again));
    assert_eq!(server.next().header("Title"), Some("nightly done"));

    // What is given here wins; two at once are two jobs.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            w.cmd("run")
                .args(["-q", "-N", "other", "--again", &first])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in runs {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        assert_eq!(field_str(&w.wait_end(&id), "name").unwrap(), "other");
    }
    assert_eq!(w.jobs().len(), 4);
}

#[test]
fn again_refuses_what_it_cannot_rerun_exactly_and_starts_nothing() {
    let w = World::new();
    w.seed_legacy();
    let raw = w
        .cmd("run")
        .arg("-q")
        .args(["sh", "-c", "true"])
        .arg(std::ffi::OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    let raw = text(&raw.stdout).trim().to_string();
    w.wait_end(&raw);
    let gone = w.root.join("gone");
    std::fs::create_dir(&gone).unwrap();
    let out = w
        .cmd("run")
        .current_dir(&gone)
        .args(["-q", "true"])
        .output()
        .unwrap();
    let orphan = text(&out.stdout).trim().to_string();
    w.wait_end(&orphan);
    std::fs::remove_dir(&gone).unwrap();
    // A directory whose name is not UTF-8, which still exists.
    let odd = w.root.join(std::ffi::OsStr::from_bytes(b"odd\xff"));
    std::fs::create_dir(&odd).unwrap();
    let out = w
        .cmd("run")
        .current_dir(&odd)
        .args(["-q", "true"])
        .output()
        .unwrap();
    let odd_dir = text(&out.stdout).trim().to_string();
    w.wait_end(&odd_dir);
    // Damaged records: a directory that is not absolute (`bin` exists in
    // the directory run is started from, so following it would run the
    // command in the wrong place), none at all, and timeouts that `run`
    // never records.
    // A command with no words or an empty first one, and a name `run`
    // never gives, are no recipe either.
    let ok = ("\"bad\"", "[\"true\"]");
    let damaged = [
        (
            ok,
            "\"bin\"",
            "null",
            "its record holds no absolute directory",
        ),
        (ok, "null", "null", "its record holds no absolute directory"),
        (ok, "\"/\"", "-5", "its record's timeout is not a duration"),
        (ok, "\"/\"", "0", "its record's timeout is not a duration"),
        (
            ok,
            "\"/\"",
            "1e400",
            "its record's timeout is not a duration",
        ),
        (
            ("\"bad\"", "[]"),
            "\"/\"",
            "null",
            "its record holds no command",
        ),
        (
            ("\"bad\"", "[\"\",\"x\"]"),
            "\"/\"",
            "null",
            "its record holds no command",
        ),
        (
            ("\"../x\"", "[\"true\"]"),
            "\"/\"",
            "null",
            "its record's name is not one run gives",
        ),
    ];
    for (n, ((name, command), cwd, timeout, _)) in damaged.iter().enumerate() {
        w.plant(
            &format!("bad_20251205_16354{n}.json"),
            format!(
                "{{\"id\":\"bad_20251205_16354{n}\",\"name\":{name},\"command\":{command},\"cwd\":{cwd},\"host\":\"h\",\"pid\":4194002,\"pgid\":4194002,\"started\":1764948939.0,\"ended\":1764948940.0,\"duration\":1.0,\"exit_code\":0,\"signal\":null,\"status\":\"done\",\"topic\":null,\"timeout\":{timeout}}}\n"
            )
            .as_bytes(),
        );
    }
    let damaged_ids: Vec<String> = (0..damaged.len())
        .map(|n| format!("bad_20251205_16354{n}"))
        .collect();
    let before = w.files();
    for (reference, code, says) in [
        (
            "build_20251205_163539",
            1,
            "cannot run build_20251205_163539 again: it has no record",
        ),
        (raw.as_str(), 1, "again: its command line was not UTF-8"),
        (orphan.as_str(), 1, "cannot enter the job's directory"),
        (
            odd_dir.as_str(),
            1,
            "again: its directory's name was not UTF-8",
        ),
        ("nosuchjob", 1, "no job matches nosuchjob"),
    ]
    .into_iter()
    .chain(
        damaged_ids
            .iter()
            .zip(damaged)
            .map(|(id, d)| (id.as_str(), 1, d.3)),
    ) {
        let out = w.output("run", &["--again", reference]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{reference}: {err}");
        assert!(
            err.starts_with("run: ") && err.contains(says) && err.lines().count() == 1,
            "{err}"
        );
    }
    let out = w.output("run", &["--again", &raw, "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(w.files(), before, "nothing was made");
}

#[cfg(target_os = "linux")]
#[test]
fn a_started_job_whose_id_cannot_be_printed_is_named_on_stderr() {
    let w = World::new();
    for quiet in [true, false] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut cmd = w.cmd("run");
        if quiet {
            cmd.arg("-q");
        }
        let out = cmd.arg("true").stdout(full).output().unwrap();
        // It started: exit 0, and stderr names the job it could not print.
        assert_eq!(out.status.code(), Some(0));
        let err = text(&out.stderr);
        let id = err
            .strip_prefix("run: started ")
            .and_then(|rest| {
                rest.strip_suffix(", but cannot print its id: No space left on device\n")
            })
            .unwrap_or_else(|| panic!("{err}"));
        assert_eq!(
            field_str(&w.wait_end(id), "status").as_deref(),
            Some("done")
        );
    }
    // A reader that went away is no news.
    let mut child = w
        .cmd("run")
        .args(["-q", "true"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
}

/// A job started from a directory that was removed: the header and the
/// record name it as the kernel does (they were empty), and `--again`
/// refuses it clearly.
#[cfg(target_os = "linux")]
#[test]
fn a_job_started_in_a_removed_directory_names_it() {
    let w = World::new();
    let out = w
        .cmd("sh")
        .args([
            "-c",
            "mkdir gone && cd gone && rmdir ../gone && exec run -q true",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let job = w.wait_end(&id);
    let gone = format!("{} (deleted)", w.root.join("gone").display());
    assert_eq!(field_str(&job, "cwd"), Some(gone.clone()));
    assert!(
        w.log(&id).contains(&format!("\nDir: {gone}\n")),
        "{}",
        w.log(&id)
    );
    let out = w.output("run", &["--again", &id]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("run: cannot enter the job's directory"),
        "{err}"
    );
}

/// `run --link` without DIR puts the other names beside the name `run`
/// was called by, not beside the file it resolves to: `run` may be a link
/// to a versioned file kept off PATH (they went there, out of PATH's
/// reach). Beside such a link they link to `run`, and so follow it to the
/// next version.
#[test]
fn link_goes_beside_the_name_run_was_called_by() {
    let w = World::new();
    let (dist, bin) = (w.root.join("dist"), w.root.join("on-path"));
    std::fs::create_dir(&dist).unwrap();
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(binary(), dist.join("run-1.2.3")).unwrap();
    std::os::unix::fs::symlink("../dist/run-1.2.3", bin.join("run")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    for program in [std::path::PathBuf::from("run"), bin.join("run")] {
        let out = Command::new(&program)
            .arg("--link")
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{program:?}: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        for name in NAMES.iter().filter(|&&n| n != "run") {
            let target = std::fs::read_link(bin.join(name));
            assert_eq!(
                target.ok(),
                Some(std::path::PathBuf::from("run")),
                "{program:?} {name}"
            );
        }
        let made: Vec<_> = std::fs::read_dir(&dist).unwrap().collect();
        assert_eq!(made.len(), 1, "links were made beside the versioned file");
    }
    let out = Command::new("runs")
        .env("PATH", &path)
        .env("RUN_DIR", &w.state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A signal that leaves a core dump says so, as a shell does ("Segmentation
/// fault (core dumped)"): in the record, the footer, `runs` and the
/// notification. One that leaves none (a core size limit of 0) does not.
#[cfg(target_os = "linux")]
#[test]
fn a_core_dump_is_told_with_the_signal() {
    use std::os::unix::process::CommandExt;
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.trim() != "core" {
        println!("skipped: cores go to {pattern:?}, not to the job's directory");
        return;
    }
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the plain struct it is given.
    unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut hard) };
    if hard.rlim_max == 0 {
        println!("skipped: core dumps are not allowed here (ulimit -Hc 0)");
        return;
    }
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("cores");
    let start = |core: libc::rlim_t| {
        let mut cmd = w.cmd("run");
        cmd.args(["-q", "-t", &url, "-N", "crash", "sh", "-c", "kill -SEGV $$"]);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: core.min(hard.rlim_max),
                    rlim_max: hard.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &limit);
                Ok(())
            })
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let dumped = start(libc::RLIM_INFINITY);
    let job = w.wait_end(&dumped);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGSEGV"));
    assert_eq!(job["core_dumped"], tinyjson::JsonValue::Boolean(true));
    assert!(
        w.root.join("core").exists(),
        "no core in the job's directory"
    );
    let footer = w
        .log(&dumped)
        .lines()
        .find(|l| l.starts_with("--- "))
        .unwrap()
        .to_string();
    assert!(
        footer.starts_with("--- killed: SIGSEGV, core dumped after "),
        "{footer}"
    );
    let table = text(&w.output("runs", &[] as &[&str]).stdout);
    let line = table
        .lines()
        .find(|l| l.contains(dumped.as_str()))
        .unwrap_or("");
    assert!(line.contains(" SIGSEGV, core dumped, peak "), "{table}");
    let title = server.next().header("Title").map(String::from);
    assert_eq!(
        title.as_deref(),
        Some("crash killed (SIGSEGV, core dumped)")
    );
    let _ = std::fs::remove_file(w.root.join("core"));
    let none = start(0);
    let job = w.wait_end(&none);
    assert_eq!(job["core_dumped"], tinyjson::JsonValue::Boolean(false));
    let footer = w
        .log(&none)
        .lines()
        .find(|l| l.starts_with("--- "))
        .unwrap()
        .to_string();
    assert!(footer.starts_with("--- killed: SIGSEGV after "), "{footer}");
}
