//! `run -n`: notifications against a real loopback HTTP server.

mod common;
use common::*;

/// `run` with notification settings, returning the job id.
fn start(w: &World, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = w.cmd("run");
    cmd.env("RUN_NOTIFY_TIMEOUT", "2");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg("-q").args(args).output().unwrap();
    assert!(out.status.success(), "run {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

fn config(w: &World, text: &str) -> String {
    let path = w.root.join("client.yml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn done_failed_and_killed_send_the_right_message() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("jobs");
    let topic = [("NTFY_TOPIC", url.as_str())];

    let id = start(
        &w,
        &topic,
        &["-n", "--name", "build", "sh", "-c", "echo ok"],
    );
    let request = server.next();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/jobs");
    assert_eq!(request.header("Title"), Some("build done"));
    assert_eq!(request.header("Tags"), Some("white_check_mark"));
    assert_eq!(request.header("Priority"), Some("default"));
    let body = text(&request.body);
    assert!(body.starts_with("sh -c 'echo ok'\n0s on "), "{body}");
    // What it cost, as the record has it.
    let job = w.wait_end(&id);
    let kib = field_num(&job, "peak_rss_kib").unwrap();
    let cost = match kib {
        k if k < 1024.0 => format!(", peak {k} KiB, CPU "),
        k => format!(", peak {:.1} MiB, CPU ", k / 1024.0),
    };
    assert!(body.lines().nth(1).unwrap().contains(&cost), "{body}");
    assert!(
        !body.contains("ok\n"),
        "a success carries no output: {body}"
    );
    assert_eq!(w.notify_line(&id), format!("--- notified {url}: HTTP 200"));
    let job = w.job(&id);
    assert_eq!(field_str(&job, "topic").unwrap(), url);
    assert_eq!(field_str(&job, "status").unwrap(), "done");

    start(
        &w,
        &topic,
        &[
            "-n",
            "--name",
            "build",
            "sh",
            "-c",
            "echo first; echo 'last words'; exit 2",
        ],
    );
    let request = server.next();
    assert_eq!(request.header("Title"), Some("build failed (exit 2)"));
    assert_eq!(request.header("Tags"), Some("x"));
    assert_eq!(request.header("Priority"), Some("high"));
    assert!(
        text(&request.body).ends_with("\n\nfirst\nlast words"),
        "{}",
        text(&request.body)
    );

    start(
        &w,
        &topic,
        &["-n", "--name", "build", "sh", "-c", "kill -KILL $$"],
    );
    let request = server.next();
    assert_eq!(request.header("Title"), Some("build killed (SIGKILL)"));
    assert_eq!(request.header("Tags"), Some("skull"));
    assert_eq!(request.header("Priority"), Some("high"));
}

#[test]
fn the_output_tail_is_what_a_terminal_would_show() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("bars");
    let script = r"printf 'progress 10%%\rprogress 50%%\rprogress 100%%\n'; printf '\033]0;my title\007\033[32mgreen\033[0m\n'; printf 'abc\033]2;t\033\\def\r\n'; printf 'old line\r\033[Knew\n'; exit 3";
    start(&w, &[], &["-t", &url, "--name", "bars", "sh", "-c", script]);
    let request = server.next();
    assert_eq!(request.header("Title"), Some("bars failed (exit 3)"));
    let body = text(&request.body);
    let tail = body.split_once("\n\n").map(|(_, t)| t).unwrap_or("");
    assert_eq!(tail, "progress 100%\ngreen\nabcdef\nnew", "{body:?}");
}

#[test]
fn the_topic_rule_and_the_url_forms() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let env_url = server.url("fromenv");
    let cfg = config(
        &w,
        &format!("default-host: http://127.0.0.1:{}\n", server.port),
    );
    let env = [
        ("NTFY_TOPIC", env_url.as_str()),
        ("NTFY_CONFIG", cfg.as_str()),
    ];
    let command = |id: &str| -> Vec<String> {
        let job = w.wait_end(id);
        job["command"]
            .get::<Vec<tinyjson::JsonValue>>()
            .unwrap()
            .iter()
            .map(|v| v.get::<String>().unwrap().clone())
            .collect()
    };

    // `true` is runnable, so it is the command and the topic is NTFY_TOPIC.
    let id = start(&w, &env, &["-n", "true", "all"]);
    assert_eq!(server.next().path, "/fromenv");
    assert_eq!(command(&id), ["true", "all"]);

    // `builds` is not: it is the topic, on the config's default-host.
    let id = start(&w, &env, &["-n", "builds", "true", "all"]);
    assert_eq!(server.next().path, "/builds");
    assert_eq!(command(&id), ["true", "all"]);

    // A URL is a topic; so is host/topic (https assumed).
    let url = server.url("byurl");
    let id = start(&w, &env, &["-n", &url, "true"]);
    assert_eq!(server.next().path, "/byurl");
    assert_eq!(command(&id), ["true"]);
    let hostpath = format!("127.0.0.1:{}/bypath", server.port);
    let id = start(&w, &env, &["-n", &hostpath, "true"]);
    assert_eq!(
        field_str(&w.wait_end(&id), "topic").unwrap(),
        format!("https://{hostpath}")
    );
    let line = w.notify_line(&id);
    assert!(
        line.starts_with(&format!("--- notification to https://{hostpath} failed: ")),
        "{line}"
    );

    // A topic that is also a command name needs --topic, which is never ambiguous.
    let id = start(&w, &env, &["--topic", "true", "true"]);
    let request = poll("the /true request", || {
        server.received().into_iter().find(|r| r.path == "/true")
    });
    assert_eq!(request.method, "POST");
    assert_eq!(command(&id), ["true"]);

    // -n alone, with a lone word, takes NTFY_TOPIC.
    start(&w, &env, &["-n", "true"]);
    poll("the /fromenv request", || {
        server.received().into_iter().find(|r| r.path == "/fromenv")
    });
}

#[test]
fn token_and_basic_auth_from_env_and_config() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("auth");
    let topic = ("NTFY_TOPIC", url.as_str());

    start(
        &w,
        &[
            topic,
            ("NTFY_TOKEN", "tk_envtoken"),
            ("NTFY_USER", "ignored:x"),
        ],
        &["-n", "true"],
    );
    assert_eq!(
        server.next().header("Authorization"),
        Some("Bearer tk_envtoken")
    );

    start(&w, &[topic, ("NTFY_USER", "alice:s3cret")], &["-n", "true"]);
    // base64("alice:s3cret")
    assert_eq!(
        server.next().header("Authorization"),
        Some("Basic YWxpY2U6czNjcmV0")
    );

    let cfg = config(&w, "default-token: tk_fromconfig\n");
    start(&w, &[topic, ("NTFY_CONFIG", &cfg)], &["-n", "true"]);
    assert_eq!(
        server.next().header("Authorization"),
        Some("Bearer tk_fromconfig")
    );

    let cfg = config(&w, "default-user: bob\ndefault-password: \"pa ss\"\n");
    start(&w, &[topic, ("NTFY_CONFIG", &cfg)], &["-n", "true"]);
    // base64("bob:pa ss")
    assert_eq!(
        server.next().header("Authorization"),
        Some("Basic Ym9iOnBhIHNz")
    );

    start(&w, &[topic], &["-n", "true"]);
    assert_eq!(server.next().header("Authorization"), None);
}

#[cfg(target_os = "linux")]
#[test]
fn credentials_never_reach_disk_argv_or_the_supervisors_environment() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("secret");
    let flag = w.root.join("go");
    let id = start(
        &w,
        &[("NTFY_TOPIC", &url), ("NTFY_TOKEN", "tk_SECRET_TOKEN")],
        &[
            "-n",
            "sh",
            "-c",
            &format!("while [ ! -e {} ]; do sleep 0.02; done", flag.display()),
        ],
    );
    let pid = field_num(&w.job(&id), "pid").unwrap() as i64;
    let supervisor = parent_of(pid);
    for what in ["environ", "cmdline"] {
        let bytes = std::fs::read(format!("/proc/{supervisor}/{what}")).unwrap();
        assert!(
            !text(&bytes).contains("tk_SECRET_TOKEN"),
            "token in the supervisor's {what}"
        );
    }
    // The job itself keeps the caller's environment, token included.
    let job_env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(text(&job_env).contains("NTFY_TOKEN=tk_SECRET_TOKEN"));
    std::fs::write(&flag, "").unwrap();
    assert_eq!(
        server.next().header("Authorization"),
        Some("Bearer tk_SECRET_TOKEN")
    );
    w.notify_line(&id);
    for file in w.files() {
        let content = std::fs::read(w.state.join(&file)).unwrap();
        assert!(!text(&content).contains("tk_SECRET"), "token in {file}");
    }
    let listing = w.output("runs", &["--json"]);
    assert!(!text(&listing.stdout).contains("tk_SECRET"));
}

#[test]
fn a_down_failing_or_silent_server_costs_bounded_time_and_is_logged() {
    let w = World::new();
    // Nothing listens on a port we bound and let go of.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("http://127.0.0.1:{closed}/t");
    let failing = Server::start(&[Reply::Status(500)]);
    let silent = Server::start(&[Reply::Hang]);
    let reset = Server::start(&[Reply::Reset]);
    let cases = [
        (down.clone(), "failed: "),
        (failing.url("t"), "failed: HTTP 500"),
        (silent.url("t"), "failed: "),
        (reset.url("t"), "failed: "),
    ];
    let ids: Vec<String> = cases
        .iter()
        .map(|(url, _)| start(&w, &[("NTFY_TOPIC", url)], &["-n", "sh", "-c", "exit 4"]))
        .collect();
    for ((url, want), id) in cases.iter().zip(&ids) {
        // The record is final at once, whatever the server does.
        let job = w.wait_end(id);
        assert_eq!(field_str(&job, "status").unwrap(), "failed");
        assert_eq!(field_num(&job, "exit_code"), Some(4.0));
        let line = w.notify_line(id);
        assert!(
            line.starts_with(&format!("--- notification to {url} ")) && line.contains(want),
            "{line}"
        );
    }
    // Three attempts each, then it gave up.
    assert_eq!(failing.received().len(), 3);
    assert_eq!(silent.received().len(), 3);
}

#[test]
fn a_429_waits_and_retries() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(429), Reply::Status(200)]);
    let url = server.url("busy");
    let id = start(&w, &[("NTFY_TOPIC", &url)], &["-n", "true"]);
    let first = server.next();
    let second = server.next();
    assert!(second.at.duration_since(first.at).unwrap() >= std::time::Duration::from_millis(900));
    assert_eq!(w.notify_line(&id), format!("--- notified {url}: HTTP 200"));
}

#[test]
fn an_overlong_failure_tail_is_cut_to_the_limit_as_valid_utf8() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let url = server.url("long");
    // 3-byte characters in lines of odd lengths, far past 4096 bytes.
    let script = "i=0; while [ $i -lt 400 ]; do echo \"$i €€€€€€€€€€€€€€€€€€€€€\"; i=$((i+1)); done; printf '\\033[31mred\\033[0m\\n'; exit 1";
    start(&w, &[("NTFY_TOPIC", &url)], &["-n", "sh", "-c", script]);
    let request = server.next();
    assert!(request.body.len() <= 4096, "{} bytes", request.body.len());
    let body = String::from_utf8(request.body).expect("valid UTF-8");
    assert!(body.ends_with("399 €€€€€€€€€€€€€€€€€€€€€\nred"), "{body}");
    assert!(!body.contains('\x1b'));
}

#[test]
fn bad_topics_and_credentials_fail_before_anything_starts() {
    let w = World::new();
    // (environment, arguments, what stderr must say)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (
            &[],
            &["-n", "true"],
            "run: -n needs a topic: set NTFY_TOPIC or use --topic TOPIC\n",
        ),
        (
            &[],
            &["--topic", "has space", "true"],
            "run: invalid topic 'has space'",
        ),
        (
            &[],
            &["--topic", &"x".repeat(65), "true"],
            "run: invalid topic",
        ),
        (&[], &["--topic", "docs", "true"], "ntfy reserves that name"),
        (
            &[],
            &["--topic", "ftp://h/t", "true"],
            "only http:// and https://",
        ),
        (
            &[],
            &["--topic", "https://u:hunter2@h/t", "true"],
            "run: invalid topic 'https://…@h/t': put credentials in NTFY_TOKEN or NTFY_USER, not in the URL",
        ),
        (
            &[],
            &["--topic", "https://h/", "true"],
            "run: invalid topic",
        ),
        (
            &[("NTFY_TOKEN", "tk\r\nX-Evil: 1")],
            &["--topic", "ok", "true"],
            "NTFY_TOKEN contains a line break",
        ),
        (
            &[("NTFY_USER", "nopassword")],
            &["--topic", "ok", "true"],
            "NTFY_USER must be user:password",
        ),
        (&[], &["--topic"], "run: --topic needs a topic\n"),
        // Each of these once passed the check, then panicked the supervisor.
        (
            &[],
            &["-t", "http://127.0.0.1:99999/x", "true"],
            "not a URL that can be sent to",
        ),
        (&[], &["-t", "http://:80/x", "true"], "no host"),
        (
            &[],
            &["-t", "http://[::1/x", "true"],
            "not a URL that can be sent to",
        ),
        (&[], &["-t", "https://ünï.com/t", "true"], "punycode"),
        (&[], &["-t", "http:/x", "true"], "the scheme in full"),
        (&[], &["-t", "h:8o/x", "true"], "a port is a number"),
    ];
    for (env, args, want) in cases {
        let mut cmd = w.cmd("run");
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let out = cmd.args(*args).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(want) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(!err.contains("X-Evil") && !err.contains("hunter2"), "{err}");
    }
    // A config that is there but cannot be read, never taken for an empty
    // one (its token lost without a word), nor waited on (a FIFO).
    let config = w.root.join("config");
    let fifo = w.root.join("fifo");
    assert!(w.cmd("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::create_dir(w.root.join("dir")).unwrap();
    std::fs::write(&config, b"default-token: tk_\xff\n").unwrap();
    for (path, want) in [
        (&config, "it is not UTF-8 text"),
        (&fifo, "not a regular file"),
        (&w.root.join("dir"), "not a regular file"),
    ] {
        let out = w
            .cmd("timeout")
            .arg("10")
            .arg(w.bin.join("run"))
            .args(["-t", "http://127.0.0.1:9/x", "true"])
            .env("NTFY_CONFIG", path)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {err}");
        let said = format!(
            "run: cannot read the ntfy config {}: {want}\n",
            path.display()
        );
        assert_eq!(err, said);
    }
    assert!(w.files().is_empty(), "a job was started: {:?}", w.files());
}

#[test]
fn an_exec_that_fails_after_the_start_is_notified_with_its_reason() {
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let script = w.root.join("orphan.sh");
    write_program(&script, "#!/no/such/interpreter\n");
    let url = server.url("execs");
    start(
        &w,
        &[],
        &["-t", &url, "-N", "orphan", script.to_str().unwrap()],
    );
    let request = server.next();
    assert_eq!(
        request.header("Title"),
        Some(
            "orphan failed (exec failed: its interpreter /no/such/interpreter was not found, exit 127)"
        )
    );
    let body = text(&request.body);
    assert!(
        body.ends_with("\n\nexec failed: its interpreter /no/such/interpreter was not found"),
        "{body}"
    );
}

/// An end that cannot be recorded (the file system gone read-only, an I/O
/// error: strace makes the room's fill fail with EROFS, or its rename with
/// EIO) is still told: the notification names the outcome and that it was
/// not recorded, and the log says both; the listing says `lost`, as no end
/// is on disk.
#[cfg(target_os = "linux")]
#[test]
fn an_end_that_cannot_be_recorded_is_still_told() {
    if !can_strace() {
        return;
    }
    let w = World::new();
    // The final record's room cannot be filled; or it is, with the footer
    // after it, but cannot be renamed into place.
    // As glibc and musl word it (the shipped binary is musl's).
    for (call, errno, words) in [
        ("pwrite64", "EROFS", &["Read-only file system"][..]),
        ("rename", "EIO", &["Input/output error", "I/O error"][..]),
    ] {
        let server = Server::start(&[Reply::Status(200)]);
        let url = server.url("ro");
        // strace follows the supervisor, and ends when it does.
        let out = w
            .cmd("strace")
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg(format!("trace={call}"))
            .arg("-e")
            .arg(format!("inject={call}:error={errno}"))
            .arg(w.bin.join("run"))
            .args(["-q", "-t", &url, "-N", "frozen", "sh", "-c"])
            .arg("echo working; exit 5")
            .env("RUN_NOTIFY_TIMEOUT", "2")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        let requests = server.received();
        assert_eq!(
            requests.len(),
            1,
            "{call}: one notification, before the end"
        );
        let request = &requests[0];
        assert_eq!(request.header("Title"), Some("frozen failed (exit 5)"));
        let body = text(&request.body);
        let why = words
            .iter()
            .find(|why| body.contains(&format!("its end could not be recorded ({why})")))
            .unwrap_or_else(|| panic!("{call}: {body}"));
        assert!(body.ends_with("\n\nworking"), "{call}: {body}");
        let log = w.log(&id);
        assert!(
            log.contains(&format!(
                "run: cannot record the job's end (failed: exit 5): {why}"
            )),
            "{log}"
        );
        assert_eq!(w.status(&id), "lost");
    }
}

/// A job that fills its log's disk loses its own last words (a training
/// run's "No space left on device" cannot reach the log), and the footer
/// with them: the notification says the log could not be written to, so
/// that "failed (exit 3)" above a tail of old output is not all it tells.
/// A file size limit stands in for a full disk: writes past it fail with
/// EFBIG, as they would with ENOSPC. Also for a job that is done.
#[test]
fn a_log_that_cannot_be_written_to_is_told_in_the_notification() {
    let w = World::new();
    for (job, title) in [("exit 3", "full failed (exit 3)"), ("exit 0", "full done")] {
        let server = Server::start(&[Reply::Status(200)]);
        let url = server.url("full");
        // 8 KiB: the job writes more, with SIGXFSZ ignored, so its writes
        // fail rather than kill it; the limit is the supervisor's too.
        let out = w
            .cmd("sh")
            .args(["-c", "ulimit -f 8; exec \"$0\" \"$@\""])
            .arg(w.bin.join("run"))
            .args(["-q", "-t", &url, "-N", "full", "sh", "-c"])
            .arg(format!(
                "trap '' XFSZ; echo early; head -c 9000 /dev/zero | tr '\\0' y; echo late; {job}"
            ))
            .env("RUN_NOTIFY_TIMEOUT", "2")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let id = text(&out.stdout).trim().to_string();
        let request = server.next();
        assert_eq!(request.header("Title"), Some(title));
        let body = text(&request.body);
        assert!(
            body.contains("\nits log could not be written to (File too large): it may lack the job's last output"),
            "{body}"
        );
        let log = w.log(&id);
        let output = log.split_once("\n---\n").unwrap().1;
        assert!(output.starts_with("early\nyyy"), "{log}");
        assert!(
            !output.contains("late") && !output.contains("\n--- "),
            "{log}"
        );
    }
}

/// A job runkill stopped says so where its output ends, before the footer
/// and so in the notification: "killed (SIGTERM)" alone could be a
/// shutdown's, or anyone's `kill`. Each signal is said before it goes, in
/// order, on a line of its own though the job's last had no newline.
#[test]
fn a_job_runkill_stopped_says_so_in_its_notification() {
    let w = World::new();
    for (job, grace, title, said) in [
        (
            "printf partial; sleep 300",
            "5s",
            "sh killed (SIGTERM)",
            &["SIGTERM at "][..],
        ),
        (
            "trap '' TERM; printf partial; while :; do sleep 1; done",
            "0.3",
            "sh killed (SIGKILL)",
            &["SIGTERM at ", "SIGKILL at "],
        ),
    ] {
        let server = Server::start(&[Reply::Status(200)]);
        let url = server.url("k");
        let id = start(&w, &[], &["-t", &url, "sh", "-c", job]);
        poll("the output", || {
            w.log(&id).ends_with("partial").then_some(())
        });
        let out = w.output("runkill", &["--grace", grace, &id]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let request = server.next();
        assert_eq!(request.header("Title"), Some(title));
        let body = text(&request.body);
        let tail = body.split_once("\n\npartial\n").expect(&body).1;
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), said.len(), "{body}");
        for (line, said) in lines.iter().zip(said) {
            assert!(line.starts_with(&format!("--- runkill: {said}")), "{body}");
        }
        if said.len() == 2 {
            assert!(
                tail.ends_with(", still running 0.3s after SIGTERM"),
                "{body}"
            );
        }
        let log = w.log(&id);
        assert!(
            log.contains(&format!("partial\n{tail}\n--- killed: ")),
            "{log}"
        );
    }
}

/// A CA bundle named by SSL_CERT_FILE that is not a file (a FIFO, a
/// device) is passed over as a missing one is, and the notification goes
/// on (here to fail its handshake, and say so): the supervisor once waited
/// on the FIFO for ever, and a listing said it was still notifying.
#[cfg(feature = "tls")]
#[test]
fn a_certificate_bundle_that_is_not_a_file_never_holds_up_the_notification() {
    let w = World::new();
    let server = Server::start(&[Reply::Reset]);
    let url = server.url("t").replacen("http://", "https://", 1);
    let fifo = w.root.join("bundle");
    assert!(w.cmd("mkfifo").arg(&fifo).status().unwrap().success());
    for bundle in [fifo.to_str().unwrap(), "/dev/zero"] {
        let env = [("NTFY_TOPIC", url.as_str()), ("SSL_CERT_FILE", bundle)];
        let id = start(&w, &env, &["-n", "true"]);
        let line = w.notify_line(&id);
        assert!(
            line.starts_with(&format!("--- notification to {url} failed: ")),
            "{bundle}: {line}"
        );
    }
}
