//! Hostile input and damaged state: nothing crashes, nothing but a job is
//! touched, and machine-readable output stays valid (tinyjson parses it).

mod common;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tinyjson::JsonValue;

/// Every flag combination `runs --json` takes.
const FILTERS: [&[&str]; 4] = [
    &[],
    &["--running"],
    &["--failed"],
    &["--running", "--failed"],
];

/// Run `name args` with a deadline; a hang fails the test instead of it.
fn bounded(w: &World, name: &str, args: &[&str]) -> Output {
    let mut child = w
        .cmd(name)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// `runs --json ARGS`: exit 0 and exactly one JSON array; its ids.
fn json_ids(w: &World, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = bounded(w, "runs", &all);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "runs {all:?}: {}",
        text(&out.stderr)
    );
    let value: JsonValue = stdout
        .parse()
        .unwrap_or_else(|e| panic!("runs {all:?} printed invalid JSON ({e:?}): {stdout:?}"));
    let jobs: &Vec<JsonValue> = value.get().expect("an array");
    jobs.iter().map(|j| field_str(j, "id").unwrap()).collect()
}

/// No panic, no signal, and every error one line starting with the name.
fn sane(name: &str, args: &[&str], out: &Output) {
    let err = text(&out.stderr);
    assert!(out.status.code().is_some(), "{name} {args:?} died: {err}");
    assert!(!err.contains("panicked"), "{name} {args:?} panicked: {err}");
    for line in err.lines() {
        assert!(
            line.starts_with(&format!("{name}: ")),
            "{name} {args:?}: {err}"
        );
    }
}

#[test]
fn runs_json_is_one_array_in_every_state_and_with_every_filter() {
    let w = World::new();
    // Missing: no directory, and none made by listing.
    for filter in FILTERS {
        assert!(json_ids(&w, filter).is_empty());
    }
    assert!(!w.state.exists(), "runs created the state directory");
    // Empty.
    w.ensure_state();
    for filter in FILTERS {
        assert!(json_ids(&w, filter).is_empty());
    }
    // Only finished jobs, so --running matches nothing.
    let ok = w.start(&["true"]);
    let bad = w.start(&["sh", "-c", "exit 3"]);
    w.wait_end(&ok);
    w.wait_end(&bad);
    assert!(json_ids(&w, &["--running"]).is_empty());
    assert_eq!(json_ids(&w, &["--failed"]), vec![bad.clone()]);
    // A damaged record beside them, and a damaged index: cut one line.
    w.indexed(&[&ok, &bad]);
    w.plant("broken_20250101_000000.json", b"{\"id\": \"broken_2025");
    w.plant("broken_20250101_000000.log", b"$ x\n---\n");
    let index = w.state.join(".index");
    let len = std::fs::metadata(&index).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap();
    file.set_len(len - 40).unwrap();
    for _ in 0..2 {
        for filter in FILTERS {
            let ids = json_ids(&w, filter);
            assert!(ids.iter().all(|id| !id.is_empty()));
            if filter.is_empty() {
                assert_eq!(ids.len(), 3, "{ids:?}");
            }
        }
    }
    // With concurrent writers: jobs starting and ending while listing.
    let starters: Vec<_> = (0..4)
        .map(|_| {
            let mut cmd = w.cmd("sh");
            cmd.args([
                "-c",
                "for i in 1 2 3 4 5 6 7 8 9 10; do run -q true; run -q sh -c 'exit 1'; done",
            ]);
            cmd.stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    let mut listings = 0;
    while listings < 40 {
        for filter in FILTERS {
            json_ids(&w, filter);
            listings += 1;
        }
    }
    for mut s in starters {
        assert!(s.wait().unwrap().success());
    }
    poll("the 80 jobs to end", || {
        (json_ids(&w, &[]).len() == 83 && json_ids(&w, &["--running"]).is_empty()).then_some(())
    });
    assert_eq!(json_ids(&w, &["--failed"]).len(), 41);
}

#[test]
fn only_a_job_is_a_job() {
    let w = World::new();
    let id = w.start(&["true"]);
    w.wait_end(&id);
    // What a project directory holds, and names nearly shaped like ids.
    let strangers: &[(&str, &[u8])] = &[
        ("package.json", b"{\"name\": \"app\"}"),
        ("build.log", b"compiling\n"),
        ("server.pid", b"1\n"),
        ("notes_20250101.log", b"x"),
        ("x_20250101_0000.log", b"x"),
        ("x_2025010a_000000.json", b"{}"),
        ("x_20250101_000000_.pid", b"1\n"),
        ("_20250101_000000.log", b"x"),
        ("x_20250101_000000.txt", b"x"),
    ];
    let mut before = Vec::new();
    for (name, content) in strangers {
        let path = w.plant(name, content);
        before.push((path.clone(), std::fs::metadata(&path).unwrap()));
    }
    for (name, args) in [
        ("runs", &[][..]),
        ("runs", &["--json"][..]),
        ("runs", &["--failed"][..]),
        ("runrm", &[][..]),
        ("runrm", &["--failed"][..]),
        ("runwait", &["--timeout", "1s"][..]),
    ] {
        let out = bounded(&w, name, args);
        sane(name, args, &out);
        let shown = text(&out.stdout);
        for (stranger, _) in strangers {
            let stem = stranger.rsplit_once('.').unwrap().0;
            assert!(
                !shown.contains(stem),
                "{name} {args:?} showed {stranger}: {shown}"
            );
        }
    }
    assert!(
        json_ids(&w, &[]).is_empty(),
        "the job was removed, nothing else"
    );
    for (path, meta) in before {
        let now = std::fs::metadata(&path).unwrap_or_else(|_| panic!("{path:?} was removed"));
        assert_eq!(
            (now.ino(), now.mtime_nsec(), now.mode(), now.len()),
            (meta.ino(), meta.mtime_nsec(), meta.mode(), meta.len()),
            "{path:?} was changed"
        );
    }
    for name in ["runlog", "runrm", "runkill", "runwait"] {
        let out = bounded(&w, name, &["package"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(
            text(&out.stderr),
            format!("{name}: no job matches package\n")
        );
    }
}

/// A file named like a job is not yet a job to a sweep: `runrm` without
/// names takes a job only if it has a record, or a log that begins as a
/// job's does (`$ COMMAND`, as run and the original shell version write).
/// Someone's own `backup_20240101_000000.log`, or a `.json` of theirs, is
/// left whole, and goes only when named.
#[test]
fn a_sweep_takes_only_what_is_evidently_a_job() {
    let w = World::new();
    let done = w.start(&["true"]);
    w.wait_end(&done);
    let damaged = w.start(&["true"]);
    w.wait_end(&damaged);
    damage_in_place(&w.state.join(format!("{damaged}.json")));
    let header_only = "legacy_20240101_000009";
    w.plant(&format!("{header_only}.log"), b"$ ./backup.sh\n");
    let strangers: &[(&str, &[u8])] = &[
        ("mylog_20240101_000000.log", b"my own log\n"),
        ("data_20240101_000001.json", b"{\"user\": \"data\"}\n"),
        ("server_20240101_000002.pid", b"1234\n"),
        ("notes_20240101_000003.json", b"not json\n"),
        ("empty_20240101_000004.log", b""),
    ];
    for (name, content) in strangers {
        w.plant(name, content);
    }
    let ids = |out: &Output| -> Vec<String> {
        let mut ids: Vec<String> = strangers
            .iter()
            .map(|(name, _)| name.split_once('.').unwrap().0.to_string())
            .filter(|id| text(&out.stderr).contains(&format!("runrm: {id} ")))
            .collect();
        ids.sort();
        ids
    };
    let mut all: Vec<String> = strangers
        .iter()
        .map(|(name, _)| name.split_once('.').unwrap().0.to_string())
        .collect();
    all.sort();
    let dry = bounded(&w, "runrm", &["--dry-run"]);
    assert!(
        text(&dry.stdout).starts_with("would remove")
            && text(&dry.stdout).contains("would remove 3 jobs"),
        "{}",
        text(&dry.stdout)
    );
    for args in [&[][..], &["--failed"][..]] {
        let out = bounded(&w, "runrm", args);
        sane("runrm", args, &out);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert_eq!(
            ids(&out),
            all,
            "each file left is named: {}",
            text(&out.stderr)
        );
        for (name, content) in strangers {
            let kept = std::fs::read(w.state.join(name))
                .unwrap_or_else(|e| panic!("runrm {args:?} removed {name}: {e}"));
            assert_eq!(&kept, content, "{name} was changed");
        }
    }
    let mut listed = json_ids(&w, &[]);
    listed.sort();
    assert_eq!(listed, all, "what is left is listed, and only that");
    for id in [done.as_str(), damaged.as_str(), header_only] {
        assert!(
            !w.files().iter().any(|f| f.starts_with(id)),
            "{id} is a job and was left: {:?}",
            w.files()
        );
    }
    let named = bounded(&w, "runrm", &["mylog_20240101_000000"]);
    assert_eq!(named.status.code(), Some(0), "{}", text(&named.stderr));
    assert!(!w.state.join("mylog_20240101_000000.log").exists());
}

#[test]
fn hostile_records_and_indexes_cost_one_line_never_a_crash() {
    let w = World::new();
    let deep_array = "[".repeat(200_000);
    let deep_object = "{\"a\":".repeat(100_000);
    let huge = format!(
        "{{\"id\":\"huge_20250101_000005\",\"command\":[\"{}\"]}}",
        "x".repeat(41 << 20)
    );
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        ("deep_20250101_000001", deep_array.into_bytes()),
        ("obj_20250101_000002", deep_object.into_bytes()),
        (
            "utf_20250101_000003",
            b"{\"id\":\"\xff\xfe\",\"command\":[\"\\ud800\\u0041\"]}".to_vec(),
        ),
        ("nul_20250101_000004", vec![0; 4096]),
        ("huge_20250101_000005", huge.into_bytes()),
        (
            "nums_20250101_000006",
            b"{\"started\":1e999999,\"ended\":-1e400,\"pid\":99999999999999999999}".to_vec(),
        ),
        (
            "type_20250101_000007",
            b"{\"command\":{\"a\":1},\"pid\":\"x\",\"status\":[1]}".to_vec(),
        ),
        (
            "esc_20250101_000008",
            br#"{"command":["\u","\x","\"#.to_vec(),
        ),
    ];
    // A real record whose argument holds an unpaired surrogate.
    let utf = w.start(&["true", "SURROGATE"]);
    w.wait_end(&utf);
    let path = w.state.join(format!("{utf}.json"));
    let record = std::fs::read_to_string(&path).unwrap();
    let tmp = w.root.join("record.tmp");
    std::fs::write(&tmp, record.replace("SURROGATE", r"\ud800\u0041")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let mut ids: Vec<String> = vec![utf.clone()];
    for (id, record) in &corpus {
        w.plant(&format!("{id}.json"), record);
        w.plant(&format!("{id}.log"), b"$ x\n---\n");
        ids.push(id.to_string());
    }
    // A record that is a character device: never read (it has no end).
    if is_root() {
        let dev = w.state.join("dev_20250101_000009.json");
        let made = Command::new("mknod")
            .arg(&dev)
            .args(["c", "1", "5"])
            .status();
        assert!(made.unwrap().success(), "mknod");
        w.plant("dev_20250101_000009.log", b"$ x\n---\n");
        ids.push("dev_20250101_000009".into());
    } else {
        println!("skipped the device record: mknod needs root");
    }
    // A damaged index: every kind of broken line.
    let fields = "\t1\t2\tdone\t0\tx\ty\tz\t{}";
    w.plant(
        ".index",
        format!(
            "run index 3\n{utf}{fields}\tdeadbeef\n\n\t\t\t\n{}\n{utf}\t1",
            "[".repeat(100_000)
        )
        .as_bytes(),
    );
    let every = ids.len();
    for round in 0..2 {
        for filter in FILTERS {
            let listed = json_ids(&w, filter);
            if filter.is_empty() {
                assert_eq!(listed.len(), every, "round {round}: {listed:?}");
            }
        }
        let out = bounded(&w, "runs", &[]);
        sane("runs", &[], &out);
        assert_eq!(out.status.code(), Some(0));
        for id in &ids {
            for (name, args) in [
                ("runlog", vec!["--no-follow", id]),
                ("runkill", vec![id]),
                ("runwait", vec![id]),
            ] {
                let out = bounded(&w, name, &args);
                sane(name, &args, &out);
            }
        }
    }
    // The unpaired surrogate became U+FFFD, and the A after it was kept.
    let job = w.job(&utf);
    let command: &Vec<JsonValue> = job["command"].get().unwrap();
    assert_eq!(command[1].get::<String>().unwrap(), "\u{FFFD}A");
    let out = bounded(&w, "runrm", &[]);
    sane("runrm", &[], &out);
    // Damaged jobs go; a device named like a record is left alone, and said so.
    let left = json_ids(&w, &[]);
    let err = text(&out.stderr);
    if is_root() {
        assert_eq!(left, vec!["dev_20250101_000009".to_string()], "{err}");
        assert!(err.contains("not a regular file; left alone"), "{err}");
    } else {
        assert!(left.is_empty(), "runrm kept damaged jobs: {left:?}: {err}");
    }
}

#[test]
fn a_planted_or_loose_state_directory_is_refused_and_never_changed() {
    if !is_root() {
        println!("skipped: needs root to plant files of another user");
        return;
    }
    let w = World::new();
    let victim = w.root.join("project");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("package.json"), "{}").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Another user's symlink, in a sticky world-writable directory.
    let shared = w.root.join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let link = shared.join("run-alice");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let chowned = Command::new("chown")
        .args(["-h", "65534"])
        .arg(&link)
        .status();
    assert!(chowned.unwrap().success());
    for name in ["run", "runs", "runrm", "runlog", "runwait"] {
        let args: &[&str] = if name == "run" { &["true"] } else { &[] };
        let out = w
            .cmd(name)
            .env("RUN_DIR", &link)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.lines().count() == 1 && err.contains("symlink"),
            "{name}: {err}"
        );
    }
    assert_eq!(mode(&victim), 0o755, "the victim was chmodded");
    assert!(victim.join("package.json").exists());
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 1);
    // The state directory itself in a world-writable directory without the
    // sticky bit: anyone could swap it.
    let open = w.root.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = w
        .cmd("run")
        .env("RUN_DIR", open.join("state"))
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!open.join("state").exists());
    // Nor anything run would make in such a directory, or in another
    // user's: a missing parent is judged by the nearest one there is. Root
    // with another user's HOME (`sudo -E`), before that user's
    // ~/.local/share exists, makes nothing in that home.
    let home = w.root.join("alice");
    std::fs::create_dir(&home).unwrap();
    assert!(
        Command::new("chown")
            .arg("65534")
            .arg(&home)
            .status()
            .unwrap()
            .success()
    );
    for (dir, home) in [
        (Some(open.join("deep/er/state")), None),
        (None, Some(&home)),
    ] {
        let mut cmd = w.cmd("run");
        cmd.env_remove("XDG_DATA_HOME");
        match (&dir, home) {
            (Some(dir), _) => cmd.env("RUN_DIR", dir),
            (_, home) => cmd.env_remove("RUN_DIR").env("HOME", home.unwrap()),
        };
        let out = cmd.arg("true").output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dir:?} {home:?}: {err}");
        assert!(
            err.contains(" lies in ") && err.lines().count() == 1,
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&open).unwrap().count(),
        0,
        "made in {open:?}"
    );
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        0,
        "made in {home:?}"
    );
    // A shared directory such as /tmp (root's own, sticky, writable by
    // all) is refused, and never with advice to close it.
    let out = w
        .cmd("run")
        .env("RUN_DIR", &shared)
        .arg("true")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a shared directory") && !err.contains("chmod"),
        "{err}"
    );
    assert_eq!(mode(&shared), 0o1777);
    // A 0500 directory is refused as not writable, and left 0500.
    w.ensure_state();
    std::fs::set_permissions(&w.state, std::fs::Permissions::from_mode(0o500)).unwrap();
    let out = w.output("run", &["true"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("chmod 700"), "{err}");
    assert_eq!(mode(&w.state), 0o500, "a 0500 directory was chmodded");
    std::fs::set_permissions(&w.state, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn every_job_can_be_named_and_reached() {
    let w = World::new();
    // A script named like an option: its job's name drops the dash.
    let script = w.root.join("-x");
    write_program(&script, "#!/bin/sh\nsleep 30\n");
    let id = w.start(&[script.to_str().unwrap()]);
    assert!(id.starts_with("x_"), "{id}");
    // `--` ends the options of every command that takes a job.
    let out = w.output("runlog", &["--no-follow", "--", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = w.output("runkill", &["--", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = w.output("runwait", &["--", &id]);
    assert!(out.status.code().is_some());
    assert_eq!(w.status(&id), "killed");
    let out = w.output("runrm", &["--", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(w.jobs().is_empty());
    // A --name that would start with a dash is refused, not changed.
    let out = w.output("run", &["--name", "-x", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("run: invalid --name -x: "));
    assert!(w.jobs().is_empty());
}

#[test]
fn bidi_controls_in_a_command_line_never_reach_the_terminal_raw() {
    let w = World::new();
    let id = w.start(&["sh", "-c", "true", "\u{202e}gpj.exe", "a\u{2066}b\u{200b}"]);
    w.wait_end(&id);
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let header = w.log(&id);
    for shown in [&listing, &header] {
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{2066}'),
            "{shown}"
        );
        assert!(shown.contains("\\u202egpj.exe"), "{shown}");
    }
    // The record keeps the argument as it was.
    let job = w.job(&id);
    let command: &Vec<JsonValue> = job["command"].get().unwrap();
    assert_eq!(command[3].get::<String>().unwrap(), "\u{202e}gpj.exe");
}

/// A command line of control bytes, as long as Linux takes by default
/// (each byte is 6 in JSON, `\u0001`): its record is read like any other,
/// so its end and exit code are never lost.
#[test]
fn a_command_line_of_megabytes_is_recorded_and_its_end_never_lost() {
    let w = World::new();
    // 1.5 MB of arguments, under the 2 MiB of an 8 MiB stack: 9 MB of JSON.
    let arg = "\u{1}".repeat(100_000);
    let mut args = vec!["sh", "-c", "sleep 0.5; exit 3", "sh"];
    args.extend(std::iter::repeat_n(arg.as_str(), 15));
    let id = w.start(&args);
    assert_eq!(w.status(&id), "running");
    let out = w.output("runwait", &[&id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").as_deref(), Some("failed"));
    assert_eq!(field_num(&job, "exit_code"), Some(3.0));
    let command: &Vec<JsonValue> = job["command"].get().unwrap();
    assert_eq!(command.len(), 19);
    assert_eq!(command[18].get::<String>(), Some(&arg));
    let out = w.output("runs", &[] as &[&str]);
    assert!(out.status.success() && out.stderr.is_empty());
    let listing = text(&out.stdout);
    let line = listing.lines().find(|l| l.contains(id.as_str())).unwrap();
    assert!(line.contains(" exit 3"), "{}", &line[..200]);
}

/// A duration past the end of any clock (2^64 - 1 seconds, the largest
/// that parses) is "for ever" to every option that takes one: never a
/// panic, and each command does what it would with a very long one.
#[test]
fn a_duration_past_any_clocks_end_is_for_ever() {
    const FOREVER: &str = "18446744073709551615s";
    let w = World::new();
    let flag = w.root.join("go");
    let script = format!("while [ ! -e {} ]; do sleep 0.02; done", flag.display());
    let long = w.start(&["--timeout", FOREVER, "sh", "-c", &script]);
    let waiter = w
        .cmd("runwait")
        .args(["--timeout", FOREVER, &long])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(&flag, "").unwrap();
    let out = waiter.wait_with_output().unwrap();
    sane("runwait", &["--timeout", FOREVER], &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(field_str(&w.job(&long), "status").as_deref(), Some("done"));
    // runkill's grace: SIGTERM stops the job, and runkill waits for that.
    let stubborn = w.start(&["sleep", "30"]);
    let out = bounded(&w, "runkill", &["--grace", FOREVER, &stubborn]);
    sane("runkill", &["--grace", FOREVER], &out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(w.status(&stubborn), "killed");
    // The filters: every job is younger than that; none is older.
    assert_eq!(json_ids(&w, &["--since", FOREVER]).len(), 2);
    let out = bounded(&w, "runrm", &["--older-than", FOREVER]);
    sane("runrm", &["--older-than", FOREVER], &out);
    assert_eq!(json_ids(&w, &[]).len(), 2, "runrm removed a job");
}
