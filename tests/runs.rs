//! `runs`: the listing, its status words, JSON, filters, colour, escaping,
//! original-format jobs and damaged state directories.

mod common;
use common::*;

/// One job of each status; returns (running, done, failed, killed, lost).
fn one_of_each(w: &World) -> [String; 5] {
    let done = w.start(&["true"]);
    let failed = w.start(&["sh", "-c", "exit 3"]);
    let killed = w.start(&["sh", "-c", "kill -TERM $$"]);
    // Lost as after a reboot: no end recorded, and no one holds the lock.
    let lost = "gone_20240101_000000".to_string();
    w.plant_record(&lost, None, None);
    w.plant(&format!("{lost}.log"), b"$ sleep 1\n---\n");
    let running = w.start(&["sleep", "30"]);
    for id in [&done, &failed, &killed] {
        w.wait_end(id);
    }
    [running, done, failed, killed, lost]
}

fn line_of<'a>(listing: &'a str, id: &str) -> &'a str {
    listing
        .lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{listing}"))
}

fn stop(w: &World, id: &str) {
    let pid = field_num(&w.job(id), "pid").unwrap() as i64;
    kill("KILL", &pid.to_string());
}

#[test]
fn every_status_word_is_shown_and_true() {
    let w = World::new();
    let [running, done, failed, killed, lost] = one_of_each(&w);
    let out = w.output("runs", &[] as &[&str]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    assert!(line_of(&listing, &running).starts_with("● running "));
    assert!(line_of(&listing, &running).contains("pid "));
    assert!(line_of(&listing, &done).starts_with("○ done "));
    assert!(line_of(&listing, &done).contains("exit 0"));
    assert!(line_of(&listing, &failed).starts_with("○ failed "));
    assert!(line_of(&listing, &failed).contains("exit 3"));
    assert!(line_of(&listing, &killed).starts_with("○ killed "));
    assert!(line_of(&listing, &killed).contains("SIGTERM"));
    assert!(line_of(&listing, &lost).starts_with("○ lost "));
    let jobs = w.jobs();
    for (id, word) in [
        (&running, "running"),
        (&done, "done"),
        (&failed, "failed"),
        (&killed, "killed"),
        (&lost, "lost"),
    ] {
        assert_eq!(
            field_str(&jobs[id.as_str()], "status").unwrap(),
            word,
            "{id}"
        );
    }
    stop(&w, &running);
}

#[test]
fn json_fields_match_the_job() {
    let w = World::new();
    let id = w.start(&["sh", "-c", "echo hi; exit 7", "arg one"]);
    let job = w.wait_end(&id);
    let command: Vec<String> = job["command"]
        .get::<Vec<tinyjson::JsonValue>>()
        .unwrap()
        .iter()
        .map(|v| v.get::<String>().unwrap().clone())
        .collect();
    assert_eq!(command, ["sh", "-c", "echo hi; exit 7", "arg one"]);
    assert_eq!(field_num(&job, "exit_code"), Some(7.0));
    assert_eq!(field_str(&job, "status").unwrap(), "failed");
    assert_eq!(field_str(&job, "name").unwrap(), "sh"); // echo and exit are builtins
    let record = std::fs::read_to_string(w.state.join(format!("{id}.json"))).unwrap();
    let record: tinyjson::JsonValue = record.parse().unwrap();
    for key in [
        "id",
        "name",
        "command",
        "cwd",
        "host",
        "pid",
        "pgid",
        "started",
        "ended",
        "duration",
        "exit_code",
        "signal",
        "status",
        "topic",
        "peak_rss_kib",
        "cpu_user",
        "cpu_system",
        "timeout",
        "timed_out",
        "log",
    ] {
        assert_eq!(
            job[key], record[key],
            "{key} differs between runs --json and the record"
        );
    }
}

#[test]
fn jobs_are_listed_oldest_first_even_within_one_second() {
    let w = World::new();
    let ids: Vec<String> = ["zeta", "alpha", "mid"]
        .iter()
        .map(|n| w.start(&["--name", n, "true"]))
        .collect();
    w.plant_record("old_20200101_000000", Some(1577836801.0), Some(0));
    for id in &ids {
        w.wait_end(id);
    }
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let order: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(order, ["old_20200101_000000", &ids[0], &ids[1], &ids[2]]);
}

#[test]
fn filters_show_running_or_failed_jobs_only() {
    let w = World::new();
    let [running, done, failed, killed, lost] = one_of_each(&w);
    let only = |flag: &str| -> Vec<String> {
        let listing = text(&w.output("runs", &[flag]).stdout);
        listing
            .lines()
            .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(only("--running"), [running.as_str()]);
    assert_eq!(only("-r"), [running.as_str()]);
    let mut failing = only("--failed");
    failing.sort();
    let mut want = vec![failed, killed, lost];
    want.sort();
    assert_eq!(failing, want);
    assert!(!only("--failed").contains(&done));
    stop(&w, &running);
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let w = World::new();
    let id = w.start(&["true"]);
    w.wait_end(&id);
    let piped = w.output("runs", &[] as &[&str]);
    assert!(
        !piped.stdout.contains(&0x1b),
        "escape codes in piped output"
    );
    let on_pty = |no_color: bool| -> String {
        let mut cmd = w.cmd("script");
        cmd.args(["-qec", "runs", "/dev/null"])
            .stderr(std::process::Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        text(&cmd.output().unwrap().stdout)
    };
    assert!(
        on_pty(false).contains("\x1b[32m○ done"),
        "no colour on a terminal"
    );
    let plain = on_pty(true);
    assert!(
        plain.contains("○ done") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

// Linux-only: script(1) -qec, stty.
#[cfg(target_os = "linux")]
#[test]
fn a_narrow_terminal_shortens_long_ids_and_keeps_the_command() {
    let w = World::new();
    let long = w.start(&[
        "--name",
        "a_rather_long_job_name_xy",
        "sh",
        "-c",
        "exit 0",
        "the-command-words",
    ]);
    let short = w.start(&["--name", "b", "true"]);
    w.wait_end(&long);
    w.wait_end(&short);
    let on_pty = |cols: usize| -> String {
        let out = w
            .cmd("script")
            .args(["-qec", &format!("stty cols {cols}; runs"), "/dev/null"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        text(&out.stdout).replace('\r', "")
    };
    let listing = on_pty(70);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    for line in &lines {
        assert!(line.chars().count() <= 70, "{line:?}");
    }
    // The long id is cut in the middle: its start and its stamp's end stay.
    let row = lines[0];
    let id = row.split_whitespace().nth(2).unwrap();
    let (head, tail) = id.split_once('…').expect("the id is shortened");
    assert!(long.starts_with(head) && long.ends_with(tail), "{row}");
    assert!(head.len() >= 5 && tail.len() >= 5, "{row}");
    assert!(row.contains("sh -c 'exit 0' the-comma"), "{row}");
    // What the job cost gives way first, whole, before any of the id.
    assert!(row.contains(" exit 0  ") && !row.contains("peak"), "{row}");
    // On a wide terminal nothing is cut, and the columns are as the README
    // shows them: two spaces before each cell.
    let wide = on_pty(200);
    let row = line_of(&wide, &long);
    let start = row[format!("○ done    {long}  ").len()..]
        .split("  ")
        .next()
        .unwrap();
    let hhmm = |s: &str| s.len() == 5 && s.as_bytes()[2] == b':';
    assert!(hhmm(start), "a job of today shows its start time: {row:?}");
    assert!(
        row.starts_with(&format!("○ done    {long}  {start}  exit 0, peak ")),
        "{row:?}"
    );
    assert!(!lines[0].contains(start), "{}", lines[0]);
    // When the command would get a little less than its least room, only
    // the start column goes.
    let before_command = row[..row.find("sh -c").unwrap()].chars().count();
    let fit = on_pty(before_command + 25 - 3);
    let cut = line_of(&fit, &long);
    let without_start = row.replacen(&format!("  {start}"), "", 1);
    assert!(
        without_start.starts_with(cut.trim_end_matches('…')),
        "{fit}"
    );
    assert!(cut.contains(", peak ") && cut.contains("sh -c"), "{fit}");
    assert!(
        row.ends_with("0s  sh -c 'exit 0' the-command-words"),
        "{row:?}"
    );
    let piped = text(&w.output("runs", &[] as &[&str]).stdout);
    assert_eq!(line_of(&piped, &long), row);
}

// Linux-only: script(1) -qec, stty.
#[cfg(target_os = "linux")]
#[test]
fn wide_and_combining_characters_are_measured_in_terminal_columns() {
    let w = World::new();
    // Thirty two-column characters, and an accent made of forty combining
    // marks (zero columns each) on one letter.
    let wide = w.start(&["--name", "wide", "echo", &"漢字".repeat(15)]);
    let accent = format!("e{}", "\u{301}".repeat(40));
    let marks = w.start(&["--name", "marks", "echo", &accent, "end"]);
    w.wait_end(&wide);
    w.wait_end(&marks);
    let columns = |line: &str| -> usize {
        line.chars()
            .map(|c| match c as u32 {
                0x300..=0x36F => 0,
                0x4E00..=0x9FFF => 2,
                _ => 1,
            })
            .sum()
    };
    let out = w
        .cmd("script")
        .args(["-qec", "stty cols 60; runs", "/dev/null"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let listing = text(&out.stdout).replace('\r', "");
    // Found by their commands: a narrow terminal shortens the ids.
    let (wide, marks) = (line_of(&listing, "echo '漢"), line_of(&listing, "' end"));
    // Cut to the terminal's 60 columns, and no fewer than it needs.
    assert!(wide.ends_with('…'), "{listing}");
    assert!((59..=60).contains(&columns(wide)), "{listing}");
    // Forty marks take no room: the line fits whole, and is not cut.
    assert!(columns(marks) <= 60, "{listing}");
    assert!(
        marks.ends_with(&format!("echo '{accent}' end")),
        "{listing}"
    );
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn control_characters_in_a_command_are_escaped() {
    let w = World::new();
    let id = w.start(&[
        "sh",
        "-c",
        "exit 0",
        "\x1b[2J\x1b]0;pwned\x07",
        "line\nbreak",
    ]);
    w.wait_end(&id);
    for out in [
        w.output("runs", &[] as &[&str]),
        w.cmd("script")
            .args(["-qec", "runs", "/dev/null"])
            .output()
            .unwrap(),
    ] {
        let listing = text(&out.stdout);
        let line = line_of(&listing, &id);
        assert!(
            line.contains(r"$'\x1b[2J\x1b]0;pwned\x07' $'line\nbreak'"),
            "{line:?}"
        );
        // The only escapes allowed are runs' own colours.
        let stripped = listing.replace("\x1b[32m", "").replace("\x1b[0m", "");
        assert!(
            !stripped.contains('\x1b') && !stripped.contains('\x07'),
            "{listing:?}"
        );
    }
    let header = w.log(&id).lines().next().unwrap().to_string();
    assert!(
        !header.contains('\x1b') && header.contains(r"\x1b[2J"),
        "{header:?}"
    );
}

#[test]
fn a_job_without_a_record_has_the_nulls_the_readme_names() {
    let w = World::new();
    w.seed_legacy();
    // A log with no header and no record (damaged or half-removed).
    w.plant("bare_20251205_170000.log", b"output only\n");
    let jobs = w.jobs();
    for (id, name, command) in [
        (
            "build_20251205_163539",
            "build",
            vec!["./build.sh --release"],
        ),
        ("bare_20251205_170000", "bare", vec![]),
    ] {
        let job = &jobs[id];
        assert_eq!(field_str(job, "name").as_deref(), Some(name), "{id}");
        let words: Vec<String> = job["command"]
            .get::<Vec<tinyjson::JsonValue>>()
            .unwrap()
            .iter()
            .map(|v| v.get::<String>().unwrap().clone())
            .collect();
        assert_eq!(words, command, "{id}");
        for key in [
            "pgid",
            "sid",
            "ended",
            "duration",
            "exit_code",
            "signal",
            "topic",
            "peak_rss_kib",
            "cpu_user",
            "cpu_system",
            "timeout",
        ] {
            assert!(is_null(job, key), "{id}: {key} is not null");
        }
        assert_eq!(
            job["timed_out"],
            tinyjson::JsonValue::Boolean(false),
            "{id}"
        );
        assert_eq!(field_str(job, "cwd").as_deref(), Some(""), "{id}");
        assert!(field_num(job, "started").unwrap() > 1.7e9, "{id}");
    }
    assert!(field_num(&jobs["build_20251205_163539"], "pid").is_some());
    assert!(is_null(&jobs["bare_20251205_170000"], "pid"));
}

#[test]
fn jobs_of_the_original_shell_version_are_listed() {
    let w = World::new();
    w.seed_legacy();
    // A live one: the pid of a process that started before its stamp's end.
    let (mut sleeper, live) = w.plant_live_legacy();
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    let build = line_of(&listing, "build_20251205_163539");
    assert!(
        build.starts_with("○ ended ")
            && build.contains("(old)")
            && build.contains("./build.sh --release"),
        "{build}"
    );
    assert!(line_of(&listing, "train_20251205_160000").starts_with("○ ended "));
    assert!(
        line_of(&listing, &live).starts_with("● running "),
        "{listing}"
    );
    let jobs = w.jobs();
    assert_eq!(
        field_str(&jobs["build_20251205_163539"], "status").unwrap(),
        "ended"
    );
    assert_eq!(
        field_num(&jobs["build_20251205_163539"], "pid"),
        Some(4194000.0)
    );
    assert_eq!(
        field_str(&jobs[live.as_str()], "status").unwrap(),
        "running"
    );
    // A pid reused by a process that started after the job: not running.
    let reused = "reused_20200101_000000";
    w.plant(
        &format!("{reused}.pid"),
        format!("{}\n", sleeper.id()).as_bytes(),
    );
    w.plant(&format!("{reused}.log"), b"$ x\n");
    assert_eq!(field_str(&w.jobs()[reused], "status").unwrap(), "ended");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn a_damaged_state_directory_lists_every_job_or_reports_it() {
    let w = World::new();
    let good = w.start(&["true"]);
    w.wait_end(&good);
    w.plant("trunc_20250101_000000.json", b"{\"id\":\"trunc_2025");
    w.plant("trunc_20250101_000000.log", b"$ make all\n---\n");
    w.plant("zero_20250101_000001.json", b"");
    w.plant_record("nolog_20250101_000002", Some(1735689700.0), Some(1));
    w.plant("logonly_20250101_000003.log", b"$ ./orphan.sh\n---\n");
    w.plant("notes.txt", b"not a job");
    std::fs::create_dir(w.state.join("dir_20250101_000004.log")).unwrap();
    w.plant_fifo("fifo_20250101_000005.log");
    w.plant_fifo("fifo_20250101_000006.json");

    let out = w.output("runs", &[] as &[&str]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let problems = text(&out.stderr);
    assert!(line_of(&listing, "trunc_20250101_000000").contains("make all"));
    assert_eq!(
        problems
            .matches("trunc_20250101_000000.json: damaged record")
            .count(),
        1,
        "{problems}"
    );
    line_of(&listing, "zero_20250101_000001");
    assert!(problems.contains("zero_20250101_000001.json: damaged record"));
    assert!(line_of(&listing, "nolog_20250101_000002").starts_with("○ failed "));
    assert!(line_of(&listing, "logonly_20250101_000003").starts_with("○ unknown "));
    assert!(!listing.contains("notes"));
    assert!(problems.contains("dir_20250101_000004.log: a directory named like a job file"));
    line_of(&listing, "fifo_20250101_000005");
    line_of(&listing, "fifo_20250101_000006");
    line_of(&listing, &good);
    assert!(w.output("runs", &["--json"]).status.success());
}

#[test]
fn a_job_file_named_in_something_not_utf8_is_reported() {
    let w = World::new();
    w.ensure_state();
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"bad\xff_20250101_000000.log");
    std::fs::write(w.state.join(name), "$ x\n---\n").unwrap();
    let out = w.output("runs", &[] as &[&str]);
    assert!(out.status.success());
    let problems = text(&out.stderr);
    assert_eq!(problems.matches("not UTF-8").count(), 1, "{problems}");
    assert!(problems.contains("_20250101_000000.log: a job file whose name is not UTF-8"));
}

/// Numbers no duration can hold, in a damaged record: shown as unknown,
/// never a panic.
#[test]
fn absurd_times_in_a_record_never_crash_a_command() {
    let w = World::new();
    let id = "huge_20250101_000000";
    w.plant_job(
        id,
        r#""started":-1e300,"ended":1e300,"duration":1e300,"exit_code":0,"signal":null,"status":"done""#,
    );
    for (name, args) in [
        ("runs", &[][..]),
        ("runs", &[][..]),
        ("runs", &["--json"][..]),
        ("runwait", &[id][..]),
        ("runrm", &["--older-than", "1d", "--dry-run"][..]),
    ] {
        let out = w.output(name, args);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).is_empty(),
            "{name}: {}",
            text(&out.stderr)
        );
    }
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    assert!(line_of(&listing, id).starts_with("○ done "), "{listing}");
    assert!(line_of(&listing, id).contains("  -  x"), "{listing}");
}

#[test]
fn an_unreadable_record_is_reported_not_hidden() {
    let w = World::new();
    let path = w.plant("secret_20250101_000000.json", b"{}");
    w.plant("secret_20250101_000000.log", b"$ secret\n---\n");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let out = w.output("runs", &[] as &[&str]);
    assert!(out.status.success());
    line_of(&text(&out.stdout), "secret_20250101_000000");
    // Root reads it anyway, and then finds `{}` is no record.
    assert!(
        text(&out.stderr).contains("secret_20250101_000000.json: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ten_thousand_jobs_are_all_listed() {
    let w = World::new();
    for i in 0..10_000 {
        let id = format!("bulk_20250101_{:06}_{}", i / 100, i % 100 + 2);
        w.plant_record(&id, Some(1735689700.0 + i as f64), Some(i % 2));
    }
    let out = w.output("runs", &["--json"]);
    assert!(out.status.success());
    let value: tinyjson::JsonValue = text(&out.stdout).parse().unwrap();
    assert_eq!(
        value.get::<Vec<tinyjson::JsonValue>>().unwrap().len(),
        10_000
    );
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    assert_eq!(listing.lines().count(), 10_000);
    assert_eq!(
        listing
            .lines()
            .filter(|l| l.starts_with("○ failed "))
            .count(),
        5_000
    );
}

#[test]
fn no_jobs_gives_a_hint_and_exit_0() {
    let w = World::new();
    let out = w.output("runs", &[] as &[&str]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).starts_with("runs: no jobs; start one with: run COMMAND"));
    assert!(!w.state.exists(), "runs created the state directory");
    let out = w.output("runs", &["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("runs: unknown option --bogus (see runs --help)"));
}

/// Replace a job's record as `run` does: a new file renamed into place.
fn replace_record(w: &World, id: &str, from: &str, to: &str) {
    let path = w.state.join(format!("{id}.json"));
    let record = std::fs::read_to_string(&path).unwrap();
    assert!(record.contains(from), "{record}");
    let temp = w.state.join(".replacement");
    std::fs::write(&temp, record.replace(from, to)).unwrap();
    std::fs::rename(&temp, &path).unwrap();
}

fn inode(w: &World, name: &str) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(w.state.join(name)).unwrap())
}

#[test]
fn the_index_is_believed_only_for_the_very_files_it_copied() {
    let w = World::new();
    let a = w.start(&["sh", "-c", "exit 3"]);
    let b = w.start(&["true"]);
    w.wait_end(&a);
    w.wait_end(&b);
    // The first listing writes the index; the next ones read it.
    let first = text(&w.output("runs", &["--json"]).stdout);
    let index = std::fs::read_to_string(w.state.join(".index")).unwrap();
    assert_eq!(index.lines().count(), 3, "{index}");
    assert_eq!(text(&w.output("runs", &["--json"]).stdout), first);
    // A record replaced (by rename, as run replaces them) is read afresh.
    replace_record(&w, &a, "\"exit_code\":3", "\"exit_code\":4");
    assert_eq!(field_num(&w.job(&a), "exit_code"), Some(4.0));
    // An entry whose inodes are not the files' is not believed, whatever it
    // says; nor is a damaged or foreign index.
    let record = inode(&w, &format!("{a}.json"));
    let index = std::fs::read_to_string(w.state.join(".index")).unwrap();
    let lying = index
        .replace(&format!("{a}\t{record}:"), &format!("{a}\t{}:", record + 1))
        .replace("exit 4, ", "exit 9, ")
        .replace("\"exit_code\":4", "\"exit_code\":9");
    for lie in [
        format!("{a}\t{}:", record + 1),
        "exit 9, ".into(),
        "\"exit_code\":9".into(),
    ] {
        assert!(lying.contains(&lie), "{lying}");
    }
    let header = index.lines().next().unwrap();
    for planted in [lying, format!("{header}\nnot an entry\n"), "garbage".into()] {
        w.plant(".index", planted.as_bytes());
        let jobs = w.jobs();
        assert_eq!(field_num(&jobs[&a], "exit_code"), Some(4.0));
        assert_eq!(field_str(&jobs[&b], "status").unwrap(), "done");
        let table = text(&w.output("runs", &[] as &[&str]).stdout);
        assert!(line_of(&table, &a).contains(" exit 4, "), "{table}");
    }
    // Nor is an entry that holds a control character, though its inodes
    // are true: run escapes what it writes there.
    let index = std::fs::read_to_string(w.state.join(".index")).unwrap();
    let line = index.lines().find(|l| l.starts_with(&a)).unwrap();
    let (before, after) = line.split_once("exit 4").unwrap();
    w.plant(
        ".index",
        index
            .replace(line, &format!("{before}\x1b[8mexit 4{after}"))
            .as_bytes(),
    );
    let out = w.output("runs", &[] as &[&str]);
    assert!(!out.stdout.contains(&0x1b), "{}", text(&out.stdout));
    assert!(line_of(&text(&out.stdout), &a).contains(" exit 4, "));
}

/// The index holds what `runs` prints for each finished job; printed from
/// there, the listing is the one made from the records.
#[test]
fn a_listing_from_the_index_is_the_listing_from_the_records() {
    let w = World::new();
    let ids = [
        w.start(&["sh", "-c", "exit 3"]),
        w.start(&["true"]),
        w.start(&["sh", "-c", "kill -TERM $$"]),
        w.start(&["printf", "%s", "tab\there 'q' \u{1b}[31m é"]),
    ];
    for id in &ids {
        w.wait_end(id);
    }
    let _ = std::fs::remove_file(w.state.join(".index"));
    let table = w.output("runs", &[] as &[&str]);
    let json = w.output("runs", &["--json"]);
    let index = std::fs::read_to_string(w.state.join(".index")).unwrap();
    assert_eq!(index.lines().count(), 1 + ids.len(), "{index}");
    // Damaged in place (same inodes): only the index can list them now.
    for id in &ids {
        damage_in_place(&w.state.join(format!("{id}.json")));
    }
    assert_eq!(w.output("runs", &[] as &[&str]), table);
    assert_eq!(w.output("runs", &["--json"]), json);
    let table = text(&table.stdout);
    for (id, word) in ids.iter().zip(["failed", "done", "killed", "done"]) {
        assert!(
            line_of(&table, id).starts_with(&format!("○ {word} ")),
            "{table}"
        );
    }
    assert!(
        table.contains("SIGTERM") && table.contains("\\x1b"),
        "{table}"
    );
    assert!(!table.contains('\x1b'));
}

#[test]
fn finished_jobs_are_listed_from_the_index_without_opening_their_records() {
    let w = World::new();
    let id = w.start(&["sh", "-c", "exit 3"]);
    w.wait_end(&id);
    w.indexed(&[&id]);
    // Overwritten in place (same inode), which run never does: a listing
    // that opened the record would report it damaged.
    damage_in_place(&w.state.join(format!("{id}.json")));
    let out = w.output("runs", &[] as &[&str]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(line_of(&text(&out.stdout), &id).starts_with("○ failed "));
}

/// The ids `runs ARGS --json` lists, in its order, parsed with tinyjson.
fn listed(w: &World, args: &[&str]) -> Vec<String> {
    let out = w.cmd("runs").args(args).arg("--json").output().unwrap();
    assert!(out.status.success(), "runs {args:?}: {}", text(&out.stderr));
    let value: tinyjson::JsonValue = text(&out.stdout).parse().unwrap();
    let jobs: &Vec<tinyjson::JsonValue> = value.get().unwrap();
    jobs.iter().map(|j| field_str(j, "id").unwrap()).collect()
}

#[test]
fn runs_filters_by_name_id_prefix_count_and_age() {
    let w = World::new();
    // Empty: every filter lists nothing, and says nothing is wrong.
    for args in [&["--last", "3"][..], &["--since", "1h"]] {
        assert!(listed(&w, args).is_empty());
    }
    // Old jobs (2025-12-05, from records and from the original's files),
    // then new ones.
    w.seed_legacy();
    w.plant_job("build_20251205_170000", r#""started":1764954000.0,"ended":1764954001.0,"duration":1.0,"exit_code":3,"signal":null,"status":"failed""#);
    let build = w.start(&["-N", "build", "true"]);
    let build2 = w.start(&["-N", "build", "sh", "-c", "exit 4"]);
    let test = w.start(&["-N", "test", "true"]);
    for id in [&build, &build2, &test] {
        w.wait_end(id);
    }
    let (build, build2, test) = (build.as_str(), build2.as_str(), test.as_str());
    let all = listed(&w, &[]);
    assert_eq!(all.len(), 6, "{all:?}");

    // A name is every job of that name, old and new; an id or a unique
    // prefix is that job; several references are their union, in order.
    let builds = [
        "build_20251205_163539",
        "build_20251205_170000",
        build,
        build2,
    ];
    assert_eq!(listed(&w, &["build"]), builds);
    assert_eq!(listed(&w, &[build2]), [build2]);
    assert_eq!(listed(&w, &["tr"]), ["train_20251205_160000"]);
    assert_eq!(
        listed(&w, &["test", "train"]),
        ["train_20251205_160000", test]
    );
    assert_eq!(
        listed(&w, &["build", "--failed"]),
        ["build_20251205_170000", build2]
    );
    for (bad, says) in [("nope", "no job matches nope"), ("b", "b matches 4 jobs")] {
        let out = w.output("runs", &[bad]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.starts_with("runs: ") && err.contains(says) && err.lines().count() == 1,
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }

    // --last N keeps the newest N of what the other filters chose.
    assert_eq!(listed(&w, &["--last", "2"]), [build2, test]);
    assert_eq!(listed(&w, &["--last", "1", "build"]), [build2]);
    assert_eq!(listed(&w, &["--last", "99"]), all);
    // --since is by start time, read from the id where there is no record.
    assert_eq!(listed(&w, &["--since", "1h"]), [build, build2, test]);
    assert_eq!(listed(&w, &["--since", "36500d"]), all);
    for (args, says) in [
        (
            &["--last", "0"][..],
            "--last needs a number of jobs from 1, not 0",
        ),
        (
            &["--last", "x"],
            "--last needs a number of jobs from 1, not x",
        ),
        (
            &["--since", "soon"],
            "--since needs a duration such as 90s, 2h or 7d, not soon",
        ),
    ] {
        let out = w.output("runs", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr).trim(), format!("runs: {says}"));
    }

    // The start column: the time today, the year for a job of another.
    let out = w
        .cmd("runs")
        .env("TZ", "UTC")
        .args(["build"])
        .output()
        .unwrap();
    let listing = text(&out.stdout);
    let old = line_of(&listing, "build_20251205_170000");
    let words: Vec<&str> = old.split_whitespace().collect();
    assert_eq!(
        words[2..6],
        ["build_20251205_170000", "Dec", "2025", "exit"],
        "{old}"
    );
    let new = line_of(&listing, build);
    let cell = new
        .split("  ")
        .find(|c| c.len() == 5 && c.as_bytes()[2] == b':');
    assert!(cell.is_some(), "{new}");
}

#[test]
fn a_job_of_another_year_shows_its_year_not_a_day_that_reads_as_this_years() {
    let w = World::new();
    // 2023-11-14 22:13:20 UTC; the last second of 2023 in UTC; 01:59:59 on
    // 2024-01-01 in UTC, which is still 2023 two hours west of it.
    for (id, started, tz, shown) in [
        ("y0_20231114_221320", 1_700_000_000, "UTC0", "Nov 2023"),
        ("y1_20231231_235959", 1_704_067_199, "UTC0", "Dec 2023"),
        ("y2_20231231_235959", 1_704_074_399, "XST2", "Dec 2023"),
        ("y3_20240101_015959", 1_704_074_399, "UTC0", "Jan 2024"),
    ] {
        w.plant_job(
            id,
            &format!(r#""started":{started}.5,"ended":{started}.9,"duration":0.4,"exit_code":0,"signal":null,"status":"done""#),
        );
        assert_eq!(start_cell(&w, id, tz), shown);
    }
    // Yesterday in UTC, which is this year's but on 1 January: its day.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (year, _, _) = civil(now);
    let started = now - 86_400;
    let (y, m, d) = civil(started);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months[m as usize - 1];
    let shown = match y == year {
        true => format!("{month} {d:02}"),
        false => format!("{month} {y}"),
    };
    let id = "y4_20251205_163539";
    w.plant_job(
        id,
        &format!(r#""started":{started}.5,"ended":{started}.9,"duration":0.4,"exit_code":0,"signal":null,"status":"done""#),
    );
    assert_eq!(start_cell(&w, id, "UTC0"), shown);
}

/// The start cell of job `id` in `runs JOB` under zone `tz`.
fn start_cell(w: &World, id: &str, tz: &str) -> String {
    let out = w.cmd("runs").arg(id).env("TZ", tz).output().unwrap();
    let listing = text(&out.stdout);
    let line = line_of(&listing, id);
    let at = line.find(id).unwrap() + id.len();
    let cell = line[at..].split("  ").find(|c| !c.is_empty());
    cell.unwrap_or_default().trim().to_string()
}

/// (year, month, day) in UTC of Unix second `t` (days to civil, as in
/// Howard Hinnant's date algorithms).
fn civil(t: i64) -> (i64, u32, u32) {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[test]
fn the_start_column_is_local_time_even_in_a_quarter_hour_zone() {
    let w = World::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Minutes into quarter hours of UTC, seconds before now: each must be
    // told apart, in a zone 5h 45m east of UTC (a POSIX TZ, no tzdata).
    let offset = 5 * 3600 + 45 * 60;
    let mut expected = Vec::new();
    for (i, ago) in [0, 7 * 60 + 13, 14 * 60 + 59, 15 * 60, 3600 + 60]
        .into_iter()
        .enumerate()
    {
        let started = now - ago;
        let id = format!("q{i}_20251205_163539");
        w.plant_job(
            &id,
            &format!(r#""started":{started}.5,"ended":{started}.9,"duration":0.4,"exit_code":0,"signal":null,"status":"done""#),
        );
        let local = started + offset;
        if local.div_euclid(86400) == (now + offset).div_euclid(86400) {
            let minutes = local.rem_euclid(86400) / 60;
            expected.push((id, format!("{:02}:{:02}", minutes / 60, minutes % 60)));
        }
    }
    let out = w.cmd("runs").env("TZ", "NPT-5:45").output().unwrap();
    let listing = text(&out.stdout);
    assert!(!expected.is_empty());
    for (id, hhmm) in expected {
        let words: Vec<&str> = line_of(&listing, &id).split_whitespace().collect();
        assert_eq!(words[3], hhmm, "{listing}");
    }
}

/// An exit code no process can have (only 0 to 255 are) makes a record
/// damaged: never a failure that `runwait` reports as success (256 is 0
/// once it is an exit status), nor a number passed on as it stands.
#[test]
fn an_exit_code_no_process_can_have_is_damage_not_an_outcome() {
    let w = World::new();
    let codes = ["256", "300", "-1", "2.5", "1e10"];
    for (n, code) in codes.iter().enumerate() {
        w.plant_job(
            &format!("odd_20250101_00000{n}"),
            &format!(r#""started":1.0,"ended":2.0,"duration":1.0,"exit_code":{code},"signal":null,"status":"failed""#),
        );
    }
    let out = w.output("runs", &[] as &[&str]);
    let listing = text(&out.stdout);
    let problems = text(&out.stderr);
    for (n, code) in codes.iter().enumerate() {
        let id = format!("odd_20250101_00000{n}");
        assert!(
            problems.contains(&format!("{id}.json: damaged record")),
            "{code}: {problems}"
        );
        assert!(!line_of(&listing, &id).contains("exit"), "{listing}");
        let waited = w.output("runwait", &[&id]);
        assert_eq!(
            waited.status.code(),
            Some(1),
            "{code}: {}",
            text(&waited.stderr)
        );
    }
    // Nor a signal this system has not: 128+128 would be exit 0 too.
    for (n, signal) in ["SIG128", "SIG0", "SIG-1", "SIG999"].iter().enumerate() {
        let id = format!("sig_20250101_00000{n}");
        w.plant_job(
            &id,
            &format!(r#""started":1.0,"ended":2.0,"duration":1.0,"exit_code":null,"signal":"{signal}","status":"killed""#),
        );
        let waited = w.output("runwait", &[&id]);
        assert_eq!(
            waited.status.code(),
            Some(1),
            "{signal}: {}",
            text(&waited.stdout)
        );
    }
    // The real bounds still read as they are.
    w.plant_job(
        "edge_20250101_000000",
        r#""started":1.0,"ended":2.0,"duration":1.0,"exit_code":255,"signal":null,"status":"failed""#,
    );
    let waited = w.output("runwait", &["edge_20250101_000000"]);
    assert_eq!(waited.status.code(), Some(255));
    assert_eq!(
        text(&waited.stdout),
        "edge_20250101_000000: failed (exit 255) after 1s\n"
    );
    w.plant_job(
        "edge_20250101_000001",
        r#""started":1.0,"ended":2.0,"duration":1.0,"exit_code":null,"signal":"SIG31","status":"killed""#,
    );
    let waited = w.output("runwait", &["edge_20250101_000001"]);
    assert_eq!(waited.status.code(), Some(128 + 31));
}

/// A job waiting for many names the first two and how many more: the
/// column is as wide as its widest cell, and one such job made every row
/// of the table as wide as all its ids. `--json` keeps them all.
#[test]
fn a_job_waiting_for_many_names_a_few_and_keeps_the_table_narrow() {
    let w = World::new();
    let deps: Vec<String> = (0..6)
        .map(|i| w.start(&["-N", &format!("dep{i}"), "sleep", "30.0754"]))
        .collect();
    let waiting = w.start(&["--after", &deps.join(","), "true"]);
    let few = w.start(&["--after", &deps[..3].join(","), "true"]);
    let table = text(&w.output("runs", &[] as &[&str]).stdout);
    let line = line_of(&table, &waiting);
    assert!(
        line.contains(&format!("after {},{} +4 more ", deps[0], deps[1])),
        "{table}"
    );
    assert!(line_of(&table, &few).contains(&format!("after {} ", deps[..3].join(","))));
    assert!(table.lines().all(|l| l.chars().count() < 150), "{table}");
    let job = w.job(&waiting);
    let after: &Vec<tinyjson::JsonValue> = job["after"].get().unwrap();
    assert_eq!(after.len(), 6);
    let out = w.output("runkill", &deps);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
