//! `runlog`: resolution, the pickers, showing, following and exit status.

mod common;
use common::*;

/// Two finished jobs, `older` then `newer`, each printing its name in capitals.
#[cfg(target_os = "linux")]
fn older_and_newer(w: &World) -> (String, String) {
    let old = w.start(&["--name", "older", "sh", "-c", "echo OLDER-OUTPUT"]);
    let new = w.start(&["--name", "newer", "sh", "-c", "echo NEWER-OUTPUT"]);
    w.wait_end(&old);
    w.wait_end(&new);
    (old, new)
}
use std::io::Read;
use std::process::{Child, Stdio};

/// A job that waits for `flag` to appear, then runs `then`.
fn gated(w: &World, flag: &str, then: &str) -> String {
    let flag = w.root.join(flag);
    w.start(&[
        "sh",
        "-c",
        &format!(
            "while [ ! -e {} ]; do sleep 0.02; done; {then}",
            flag.display()
        ),
    ])
}

fn open_gate(w: &World, flag: &str) {
    std::fs::write(w.root.join(flag), "").unwrap();
}

/// Read `child`'s stdout on a thread until `marker` has appeared; returns a
/// handle that yields everything read once the child is done.
fn read_until(child: &mut Child, marker: &'static str) -> std::thread::JoinHandle<Vec<u8>> {
    let mut stdout = child.stdout.take().unwrap();
    let (seen, wait) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        let mut told = false;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            if !told && text(&all).contains(marker) {
                told = true;
                let _ = seen.send(());
            }
        }
    });
    wait.recv_timeout(std::time::Duration::from_secs(30))
        .expect("marker never appeared");
    reader
}

#[test]
fn jobs_resolve_by_id_prefix_and_name() {
    let w = World::new();
    let first = w.start(&["--name", "build", "sh", "-c", "echo first"]);
    let second = w.start(&["--name", "build", "sh", "-c", "echo second"]);
    let other = w.start(&["--name", "test", "sh", "-c", "echo other"]);
    for id in [&first, &second, &other] {
        w.wait_end(id);
    }
    let show = |reference: &str| w.output("runlog", &["--no-follow", reference]);
    assert!(text(&show(&first).stdout).contains("\nfirst\n"));
    assert!(
        text(&show("build").stdout).contains("\nsecond\n"),
        "a name means its newest job"
    );
    assert!(
        text(&show("tes").stdout).contains("\nother\n"),
        "a unique prefix"
    );
    let ambiguous = show("b");
    assert_eq!(ambiguous.status.code(), Some(1));
    let err = text(&ambiguous.stderr);
    assert!(
        err.starts_with("runlog: 'b' matches 2 jobs:")
            || err.starts_with("runlog: b matches 2 jobs:"),
        "{err}"
    );
    assert!(err.contains(&first) && err.contains(&second));
    let unknown = show("nothing");
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(text(&unknown.stderr), "runlog: no job matches nothing\n");
    assert_eq!(show("").status.code(), Some(2));
}

// Linux-only: script(1) -qec.
#[cfg(target_os = "linux")]
#[test]
fn the_numbered_menu_shows_the_status_words_of_runs() {
    let w = World::new();
    let ok = w.start(&["--name", "fine", "true"]);
    let bad = w.start(&["--name", "broken", "sh", "-c", "exit 3"]);
    w.wait_end(&ok);
    w.wait_end(&bad);
    let mut child = w
        .cmd("script")
        .args(["-qec", "runlog --no-follow </dev/null", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"1\n").unwrap();
    let out = text(&child.wait_with_output().unwrap().stdout);
    assert!(
        out.contains(&format!("1) ○ failed  {bad}  sh -c 'exit 3'")),
        "{out}"
    );
    assert!(out.contains(&format!("2) ○ done    {ok}  true")), "{out}");
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn numbered_menu_on_the_terminal_picks_cancels_and_asks_again() {
    let w = World::new();
    let (old, new) = older_and_newer(&w);
    // stdin is redirected inside the terminal: the menu must use /dev/tty.
    let menu = |answers: &str| -> std::process::Output {
        let mut child = w
            .cmd("script")
            .args([
                "-qec",
                "runlog --no-follow </dev/null; echo \"[rc=$?]\"",
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answers.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = text(&menu("2\n").stdout);
    assert!(
        out.contains(&format!("1) ○ done    {new}")),
        "newest first: {out}"
    );
    assert!(out.contains(&format!("2) ○ done    {old}")), "{out}");
    assert!(out.contains("Pick a job [1-2]: "), "{out}");
    assert!(
        out.contains("OLDER-OUTPUT") && out.contains("[rc=0]"),
        "{out}"
    );

    let out = text(&menu("9\nxyz\n1\n").stdout);
    assert_eq!(out.matches("Pick a job [1-2]: ").count(), 3, "{out}");
    assert!(
        out.contains("NEWER-OUTPUT") && out.contains("[rc=0]"),
        "{out}"
    );

    for cancel in ["\n", "q\n"] {
        let out = text(&menu(cancel).stdout);
        assert!(
            out.contains("[rc=130]") && !out.contains("-OUTPUT\r\n"),
            "{out}"
        );
    }
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn fzf_gets_the_jobs_and_its_choice_is_shown() {
    let w = World::new();
    let (old, new) = older_and_newer(&w);
    // A stand-in fzf: keeps its input and arguments, runs the preview for
    // the second line as fzf would, and chooses that line.
    let fake = w.root.join("fakebin");
    std::fs::create_dir(&fake).unwrap();
    let script = format!(
        "#!/bin/sh\ncat > {root}/fzf-input\nfor a in \"$@\"; do echo \"$a\"; done > {root}/fzf-args\n\
         line=$(sed -n 2p {root}/fzf-input)\nid=${{line%%\"$(printf '\\t')\"*}}\n\
         preview=$(sed -n 's/^--preview=//p' {root}/fzf-args)\n\
         sh -c \"$(echo \"$preview\" | sed \"s/{{1}}/$id/\")\" > {root}/fzf-preview\n\
         printf '%s\\n' \"$line\"\n",
        root = w.root.display()
    );
    write_program(&fake.join("fzf"), script);
    let out = w
        .cmd("script")
        .args(["-qec", "runlog --no-follow; echo \"[rc=$?]\"", "/dev/null"])
        .env("PATH", format!("{}:{}", fake.display(), w.path_var()))
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(
        shown.contains("OLDER-OUTPUT") && shown.contains("[rc=0]"),
        "{shown}"
    );
    let input = std::fs::read_to_string(w.root.join("fzf-input")).unwrap();
    let lines: Vec<&str> = input.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].starts_with(&format!("{new}\t○ done    {new}  sh -c")),
        "{input}"
    );
    assert!(lines[1].starts_with(&format!("{old}\t")), "{input}");
    let args = std::fs::read_to_string(w.root.join("fzf-args")).unwrap();
    assert!(args.contains("--prompt=log> "), "{args}");
    let preview = std::fs::read_to_string(w.root.join("fzf-preview")).unwrap();
    assert!(
        preview.contains("OLDER-OUTPUT") && preview.contains("--- done: exit 0"),
        "{preview}"
    );
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn several_jobs_and_no_terminal_is_an_error() {
    let w = World::new();
    for _ in 0..2 {
        let id = w.start(&["true"]);
        w.wait_end(&id);
    }
    // setsid: no controlling terminal, so /dev/tty cannot be opened.
    let out = w.cmd("setsid").args(["-w", "runlog"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("runlog: there are several jobs and no terminal"));
    let empty = World::new();
    let out = empty.output("runlog", &[] as &[&str]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no jobs yet"));
}

#[test]
fn following_stops_when_the_job_ends_with_its_status() {
    let w = World::new();
    for (then, code, footer) in [
        ("echo end; exit 0", 0, "--- done: exit 0"),
        ("echo end; exit 3", 3, "--- failed: exit 3"),
        ("echo end; kill -TERM $$", 128 + 15, "--- killed: SIGTERM"),
    ] {
        let flag = format!("flag{code}");
        let id = gated(&w, &flag, then);
        let mut child = w
            .cmd("runlog")
            .arg(&id)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Once the header is out, runlog is following a running job.
        let reader = read_until(&mut child, "---\n");
        assert_eq!(w.status(&id), "running");
        open_gate(&w, &flag);
        let status = child.wait().unwrap();
        let out = text(&reader.join().unwrap());
        assert_eq!(status.code(), Some(code), "{out}");
        assert!(out.contains(&format!("---\nend\n{footer}")), "{out}");
    }
}

#[test]
fn follow_shows_new_output_as_it_comes() {
    let w = World::new();
    let id = gated(&w, "go", "echo second; sleep 0.2");
    let id2 = w.start(&["true"]);
    w.wait_end(&id2);
    let mut child = w
        .cmd("runlog")
        .arg(&id)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = read_until(&mut child, "---\n");
    open_gate(&w, "go");
    assert!(child.wait().unwrap().success());
    assert!(text(&reader.join().unwrap()).contains("second\n--- done"));
}

/// A log emptied while it is followed (`: > LOG`, to free the disk) is
/// followed from its start, as tail -f does: what comes after is shown.
#[test]
fn a_log_emptied_while_followed_is_followed_from_its_start() {
    let w = World::new();
    let gate = w.root.join("go");
    // Far more before the cut than after it, so the log never grows back
    // past where the reader was.
    let id = w.start(&[
        "sh",
        "-c",
        &format!(
            "printf '%04000d\\n' 0; while [ ! -e {} ]; do sleep 0.02; done; echo after",
            gate.display()
        ),
    ]);
    let mut child = w
        .cmd("runlog")
        .arg(&id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = read_until(&mut child, "00000\n");
    std::fs::File::options()
        .write(true)
        .open(w.state.join(format!("{id}.log")))
        .unwrap()
        .set_len(0)
        .unwrap();
    open_gate(&w, "go");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&reader.join().unwrap());
    assert!(shown.contains("00000\nafter\n--- done: exit 0"), "{shown}");
    assert_eq!(
        text(&out.stderr),
        format!("runlog: {id}: log truncated; following from its start\n")
    );
}

#[test]
fn dash_n_shows_the_last_lines() {
    let w = World::new();
    let id = w.start(&[
        "sh",
        "-c",
        "i=1; while [ $i -le 100 ]; do echo line$i; i=$((i+1)); done",
    ]);
    w.wait_end(&id);
    let out = w.output("runlog", &["--no-follow", "-n", "3", &id]);
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "line99");
    assert_eq!(lines[1], "line100");
    assert!(lines[2].starts_with("--- done: exit 0"));
    assert_eq!(w.output("runlog", &["-n", "x", &id]).status.code(), Some(2));
}

#[test]
fn ctrl_c_stops_watching_and_the_job_keeps_running() {
    let w = World::new();
    let id = gated(&w, "stop", "echo finished");
    let mut child = w
        .cmd("runlog")
        .arg(&id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = read_until(&mut child, "---\n");
    assert!(kill("INT", &child.id().to_string()));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        stderr,
        format!("\nrunlog: stopped following; {id} runs on (runkill {id} stops it)\n")
    );
    assert_eq!(w.status(&id), "running");
    open_gate(&w, "stop");
    assert_eq!(field_str(&w.wait_end(&id), "status").unwrap(), "done");
}

#[test]
fn output_bytes_pass_through_unchanged() {
    let w = World::new();
    let id = w.start(&["printf", r"\377\376\000bin\033[2J\n"]);
    w.wait_end(&id);
    let out = w.output("runlog", &["--no-follow", &id]);
    let body = b"---\n\xff\xfe\x00bin\x1b[2J\n--- done";
    assert!(
        out.stdout.windows(body.len()).any(|w| w == body),
        "{:?}",
        text(&out.stdout)
    );
}

#[test]
fn logs_of_the_original_shell_version_are_shown() {
    let w = World::new();
    w.seed_legacy();
    let out = w.output("runlog", &["build_20251205_163539"]);
    // Shown whole; its exit code is not known, so no success (control.rs).
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "$ ./build.sh --release\nStarted: Fri Dec  5 16:35:39 CET 2025\n---\ncompiling...\ndone\n"
    );
    let out = w.output("runlog", &["-n", "1", "train"]);
    assert_eq!(text(&out.stdout), "epoch 1\n");
}

/// With more jobs than a terminal shows, the menu lists the newest twenty
/// and says how many older ones it leaves out: all of them scrolled the
/// newest, numbered first, off the screen.
#[test]
fn the_numbered_menu_shows_the_newest_twenty() {
    let w = World::new();
    let ids: Vec<String> = (0..23)
        .map(|i| {
            w.start(&[
                "-N",
                &format!("m{i}"),
                "printf",
                "%s-%s.",
                "OUT",
                &i.to_string(),
            ])
        })
        .collect();
    w.wait_all_done(ids.len());
    let out = w
        .cmd("script")
        .args(["-qec", "runlog --no-follow </dev/null", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"1\n")?;
            child.wait_with_output()
        })
        .unwrap();
    let out = text(&out.stdout);
    let newest = ids.last().unwrap();
    assert!(out.contains(&format!("1) ○ done    {newest}")), "{out}");
    assert!(out.contains("20) ") && !out.contains("21) "), "{out}");
    assert!(
        out.contains("(3 older jobs not shown: name one, runlog JOB)"),
        "{out}"
    );
    assert!(out.contains("Pick a job [1-20]: "), "{out}");
    // The newest one's log, and no other's.
    assert!(out.contains("OUT-22.") && !out.contains("OUT-21."), "{out}");
}
