//! Hardening: faults, hostile input and other users, one test per property.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

/// A small tmpfs mounted at `path` for the life of the guard (root only).
#[cfg(target_os = "linux")]
struct Tmpfs(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Tmpfs {
    fn mount(path: &std::path::Path, options: &str) -> Option<Tmpfs> {
        if !is_root() {
            println!("skipped: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .status()
            .unwrap()
            .success();
        if !ok {
            println!("skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(Tmpfs(path.to_path_buf()))
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem at `dir` until it has no room left.
#[cfg(target_os = "linux")]
fn fill(dir: &std::path::Path) {
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k", "status=none"])
        .arg(format!("of={}", dir.join("filler").display()))
        .stderr(Stdio::null())
        .status();
}

/// Held by the tests whose jobs die of SIGKILL and by the one that has the
/// OOM killer kill: a SIGKILL while it ran would read `out of memory`.
static SIGKILLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_job_killed_by_sigkill_reads_killed_in_record_footer_and_notification() {
    let _serial = SIGKILLS.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    let server = Server::start(&[Reply::Status(200)]);
    let out = w
        .cmd("run")
        .env("NTFY_TOPIC", server.url("k"))
        .args(["-q", "-n", "--name", "victim", "sh", "-c", "kill -KILL $$"])
        .output()
        .unwrap();
    let id = text(&out.stdout).trim().to_string();
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").unwrap(), "killed");
    assert_eq!(field_str(&job, "signal").unwrap(), "SIGKILL");
    assert!(w.log(&id).contains("\n--- killed: SIGKILL after "));
    assert_eq!(
        server.next().header("Title"),
        Some("victim killed (SIGKILL)")
    );
}

#[test]
fn a_reboot_leaves_a_lost_job_that_runrm_removes() {
    let w = World::new();
    // What a reboot leaves: a record with no end, a log nobody holds.
    w.plant_record("rebooted_20250101_000000", None, None);
    w.plant("rebooted_20250101_000000.log", b"$ make\n---\nhalf\n");
    w.plant("rebooted_20250101_000000.pid", b"4194003\n");
    assert_eq!(w.status("rebooted_20250101_000000"), "lost");
    let out = w.output("runrm", &["rebooted"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(w.files().is_empty(), "{:?}", w.files());
}

/// A reboot is told by the kernel's boot id, not by the wall clock (which
/// may have stepped since): a record of another boot whose session id now
/// belongs to a live session reads lost, and the same record of this boot
/// reads running.
#[cfg(target_os = "linux")]
#[test]
fn a_record_of_another_boot_is_lost_whatever_now_has_its_ids() {
    let w = World::new();
    let uptime = || -> f64 {
        let text = std::fs::read_to_string("/proc/uptime").unwrap();
        text.split_whitespace().next().unwrap().parse().unwrap()
    };
    let since_boot = uptime();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // A session of its own, as a job's supervisor has.
    let mut session = Command::new("setsid")
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    let sid = session.id();
    poll("the session to be made", || {
        let stat = std::fs::read_to_string(format!("/proc/{sid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        (fields.get(3) == Some(&sid.to_string().as_str())).then_some(())
    });
    let this_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let other_boot = "00000000-0000-4000-8000-000000000000";
    // This machine's: another machine's is another question.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    for (n, (boot, status)) in [(other_boot, "lost"), (this_boot.trim(), "running")]
        .into_iter()
        .enumerate()
    {
        let id = format!("boot_20250101_00000{n}");
        w.plant(
            &format!("{id}.json"),
            format!(
                "{{\"id\":\"{id}\",\"name\":\"boot\",\"command\":[\"x\"],\"cwd\":\"/\",\"host\":\"{host}\",\"pid\":{sid},\"pgid\":{sid},\"sid\":{sid},\"started\":{started},\"since_boot\":{since_boot},\"boot_id\":\"{boot}\",\"ended\":null,\"status\":\"running\",\"topic\":null,\"log\":\"/x\"}}"
            )
            .as_bytes(),
        );
        w.plant(&format!("{id}.log"), b"$ x\n---\n");
        assert_eq!(w.status(&id), status, "a record of boot {boot}");
    }
    session.kill().unwrap();
    session.wait().unwrap();
}

/// A job's session leader is its supervisor, which started with the job:
/// a record whose session id is that of a session that began well before
/// the job (another pid namespace's record, a damaged one) reads lost, even
/// while that session makes new processes; and runkill signals nothing.
#[cfg(target_os = "linux")]
#[test]
fn a_session_older_than_the_job_is_not_its_supervisors() {
    /// The session, killed whole however the test ends.
    struct Session(std::process::Child);
    impl Drop for Session {
        fn drop(&mut self) {
            let group = format!("-{}", self.0.id());
            let _ = Command::new("kill").args(["-9", "--", &group]).status();
            let _ = self.0.wait();
        }
    }
    let w = World::new();
    let mut session = Session(
        Command::new("setsid")
            // Each sleep in a process group of its own (`set -m`); a
            // signalled one ends the loop.
            .args([
                "bash",
                "-c",
                "set -m; while :; do sleep 0.1 || exit 9; done",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let sid = session.0.id();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // The job started 2.5 s from now: the session is 3.5 s older than it,
    // and its newest sleep a few tenths of a second younger.
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap();
    let since_boot = uptime
        .split_whitespace()
        .next()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        + 2.5;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 2.5;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    // Its job's group is gone: only the session could be signalled.
    let group = (300_000..).find(|n| !std::path::Path::new(&format!("/proc/{n}")).exists());
    let group = group.unwrap();
    let id = "old_20250101_000001";
    w.plant(
        &format!("{id}.json"),
        format!(
            "{{\"id\":\"{id}\",\"name\":\"old\",\"command\":[\"x\"],\"cwd\":\"/\",\"host\":\"h\",\"pid\":{group},\"pgid\":{group},\"sid\":{sid},\"started\":{started},\"since_boot\":{since_boot},\"boot_id\":\"{}\",\"ended\":null,\"status\":\"running\",\"topic\":null,\"log\":\"/x\"}}",
            boot.trim()
        )
        .as_bytes(),
    );
    w.plant(&format!("{id}.log"), b"$ x\n---\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(w.status(id), "lost");
    // Even with its log locked, so that it reads running, runkill refuses.
    let log = std::fs::File::open(w.state.join(format!("{id}.log"))).unwrap();
    log.lock().unwrap();
    let out = w.output("runkill", &["--grace", "1s", id]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        session.0.try_wait().unwrap().is_none(),
        "runkill stopped it"
    );
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn run_on_a_full_disk_fails_clearly_and_leaves_nothing() {
    let w = World::new();
    let Some(_disk) = Tmpfs::mount(&w.state, "size=256k,mode=0700") else {
        return;
    };
    fill(&w.state);
    // A unique argument: other tests on this machine run `sleep 30` too.
    let out = w.output("run", &["sleep", "30.0417"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("run: cannot ")
            && err.contains("No space left on device")
            && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(w.files(), ["filler"], "half-made files were left");
    let left = Command::new("pgrep")
        .args(["-f", "^sleep 30.0417$"])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "a process was left behind");
}

/// A small btrfs on a loop device, mounted at `path` for the life of the
/// guard (root only, with btrfs-progs): a file system that copies on write.
#[cfg(target_os = "linux")]
struct Btrfs(std::path::PathBuf, std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Btrfs {
    fn mount(path: &std::path::Path) -> Option<Btrfs> {
        if !is_root() {
            println!("skipped: mounting a btrfs needs root (CI runs as root)");
            return None;
        }
        let image = path.with_extension("btrfs");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(128 << 20)
            .unwrap();
        let made = Command::new("mkfs.btrfs")
            .arg("-q")
            .arg(&image)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::fs::create_dir_all(path).unwrap();
        let mounted = made.is_ok_and(|s| s.success())
            && Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_file(&image);
            println!("skipped: no btrfs here (btrfs-progs, a loop device)");
            return None;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
        Some(Btrfs(path.to_path_buf(), image))
    }
}

#[cfg(target_os = "linux")]
impl Drop for Btrfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_file(&self.1);
    }
}

/// A job whose output fills the disk: its end is still recorded, whole.
/// On tmpfs, and on btrfs, where the room reserved for the end cannot be
/// written over on a full disk (the job read `lost`).
// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn a_job_that_fills_the_disk_still_gets_its_end_recorded() {
    let w = World::new();
    if let Some(_disk) = Tmpfs::mount(&w.state, "size=512k,mode=0700") {
        fills_the_disk(&w);
    }
    let w = World::new();
    if let Some(_disk) = Btrfs::mount(&w.state) {
        fills_the_disk(&w);
    }
}

/// A memory cgroup of its own with a 32 MiB limit, for a job to move into
/// (cgroup v2, else v1's memory controller); removed once dropped.
#[cfg(target_os = "linux")]
struct MemoryCgroup(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl MemoryCgroup {
    fn new() -> Option<MemoryCgroup> {
        let name = format!("run-test-{}", std::process::id());
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
        let (dir, limits) = if v2 {
            let dir = std::path::Path::new("/sys/fs/cgroup").join(name);
            (
                dir,
                &[("memory.max", "33554432"), ("memory.swap.max", "0")][..],
            )
        } else {
            let dir = std::path::Path::new("/sys/fs/cgroup/memory").join(name);
            (
                dir,
                &[
                    ("memory.limit_in_bytes", "33554432"),
                    ("memory.memsw.limit_in_bytes", "33554432"),
                ][..],
            )
        };
        if !is_root() || std::fs::create_dir(&dir).is_err() {
            println!("skipped: no memory cgroup can be made here (root, cgroup v1 or v2)");
            return None;
        }
        let cgroup = MemoryCgroup(dir);
        // The swap limits may not exist (no swap accounting).
        for (i, (file, limit)) in limits.iter().enumerate() {
            let set = std::fs::write(cgroup.0.join(file), limit);
            if i == 0 && set.is_err() {
                println!("skipped: cannot limit a memory cgroup here");
                return None;
            }
        }
        Some(cgroup)
    }
}

#[cfg(target_os = "linux")]
impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A job the kernel's OOM killer killed says so, where "SIGKILL" (or a
/// shell's "exit 137") told nothing: in the listing, the record's reason,
/// and the notification's title. A job runkill SIGKILLed while the OOM
/// killer ran (it says so in the log) is not said to be out of memory.
#[cfg(target_os = "linux")]
#[test]
fn a_job_the_oom_killer_killed_is_said_to_be_out_of_memory() {
    let _serial = SIGKILLS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(cgroup) = MemoryCgroup::new() else {
        return;
    };
    let w = World::new();
    let server = Server::start(&[Reply::Status(200), Reply::Status(200), Reply::Status(200)]);
    let url = server.url("oom");
    // Killed by runkill after the OOM kills below, begun before them.
    let bystander = w.start(&["-t", &url, "-N", "bystander", "sleep", "300"]);
    let procs = cgroup.0.join("cgroup.procs");
    let into = format!("echo $$ > {};", procs.display());
    let direct = w.start(&[
        "-t",
        &url,
        "-N",
        "direct",
        "sh",
        "-c",
        &format!("{into} exec tail -n 1 /dev/zero"),
    ]);
    let piped = w.start(&[
        "-t",
        &url,
        "-N",
        "piped",
        "sh",
        "-c",
        &format!("{into} head -c 400000000 /dev/zero | tail -n 1 > /dev/null"),
    ]);
    let mut titles = Vec::new();
    for (id, status, how) in [
        (&direct, "killed", "SIGKILL"),
        (&piped, "failed", "exit 137"),
    ] {
        let job = w.wait_end(id);
        assert_eq!(field_str(&job, "status").as_deref(), Some(status), "{id}");
        assert_eq!(
            field_str(&job, "reason").as_deref(),
            Some("out of memory"),
            "{id}"
        );
        let listed = text(&w.output("runs", &[id.as_str()]).stdout);
        assert!(
            listed.contains(&format!("out of memory, {how}")),
            "{listed}"
        );
        titles.push(server.next().header("Title").unwrap().to_string());
    }
    let out = w.output("runkill", &["-s", "KILL", &bystander]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&bystander);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGKILL"));
    assert!(is_null(&job, "reason"), "{job:?}");
    titles.push(server.next().header("Title").unwrap().to_string());
    titles.sort();
    assert_eq!(
        titles,
        [
            "bystander killed (SIGKILL)",
            "direct killed (out of memory, SIGKILL)",
            "piped failed (out of memory, exit 137)",
        ]
    );
}

#[cfg(target_os = "linux")]
fn fills_the_disk(w: &World) {
    let id = w.start(&["sh", "-c", "cat /dev/zero; exit 7"]);
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").unwrap(), "failed");
    assert_eq!(field_num(&job, "exit_code"), Some(7.0));
    // The record on disk is whole, and runs reads it.
    let record = std::fs::read_to_string(w.state.join(format!("{id}.json"))).unwrap();
    assert!(
        record.parse::<tinyjson::JsonValue>().is_ok(),
        "torn record: {record:?}"
    );
    assert!(w.output("runs", &[] as &[&str]).status.success());
    // No temporary file is left; the listing's index may be there.
    assert!(
        !w.files()
            .iter()
            .any(|f| f.starts_with('.') && f != ".index"),
        "{:?}",
        w.files()
    );
}

#[test]
fn listing_and_following_while_two_hundred_jobs_start() {
    let w = World::new();
    let first = w.start(&["sh", "-c", "sleep 0.5"]);
    let spawn = |name: &str, args: &[&str]| {
        w.cmd(name)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..200).map(|_| spawn("run", &["-q", "true"])).collect();
    let mut readers = Vec::new();
    for _ in 0..10 {
        readers.push(spawn("runs", &["--json"]));
        readers.push(spawn("runlog", &["--no-follow", &first]));
        readers.push(spawn("runs", &[]));
    }
    for child in children.into_iter().chain(readers) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            text(&out.stderr)
        );
    }
    w.wait_all_done(201);
}

#[test]
fn hostile_command_lines_are_escaped_everywhere() {
    let w = World::new();
    let nasty = [
        "tab\there",
        "new\nline",
        "\x1b]2;title\x07",
        "\x1b[31mred",
        "\u{9b}2J",
    ];
    let mut args = vec!["sh", "-c", "exit 0", "sh"];
    args.extend(nasty);
    let id = w.start(&args);
    w.wait_end(&id);
    let header = w.log(&id).lines().next().unwrap().to_string();
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    for shown in [&header, &listing] {
        assert!(
            !shown.contains('\x1b')
                && !shown.contains('\x07')
                && !shown.contains('\u{9b}')
                && !shown.contains('\t'),
            "{shown:?}"
        );
        assert!(
            shown.contains(
                r"$'tab\there' $'new\nline' $'\x1b]2;title\x07' $'\x1b[31mred' $'\xc2\x9b2J'"
            ),
            "{shown:?}"
        );
    }
}

/// A crafted record's fields reach the terminal escaped too, whether the
/// listing reads the record or its index, and in runwait's report.
#[test]
fn a_crafted_signal_name_in_a_record_is_escaped() {
    let w = World::new();
    let id = "crafted_20250101_000000";
    w.plant_job(
        id,
        r#""started":1735689600.0,"ended":1735689601.0,"duration":1.0,"exit_code":null,"signal":"\u001b[2J","status":"killed""#,
    );
    for _ in 0..2 {
        let listing = text(&w.output("runs", &[] as &[&str]).stdout);
        assert!(!listing.contains('\x1b'), "{listing:?}");
        assert!(
            listing.starts_with("○ killed  crafted_20250101_000000  ")
                && listing.contains(r"  \x1b[2J  1s  x"),
            "{listing:?}"
        );
    }
    assert!(w.files().contains(&".index".to_string()));
    // And in what runwait says of how the job ended.
    let said = text(&w.output("runwait", &[id]).stdout);
    assert_eq!(said, format!("{id}: killed (\\x1b[2J) after 1s\n"));
}

#[test]
fn a_megabyte_of_arguments_is_kept_whole() {
    let w = World::new();
    let chunk = "x".repeat(1023);
    let args: Vec<String> = (0..1024).map(|i| format!("{i}{chunk}")).collect();
    let out = w
        .cmd("run")
        .args(["-q", "true"])
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let job = w.wait_end(&id);
    let command = job["command"].get::<Vec<tinyjson::JsonValue>>().unwrap();
    assert_eq!(command.len(), 1025);
    assert_eq!(command[1024].get::<String>().unwrap(), &args[1023]);
}

// Linux-only: script(1) -qec, setsid(1), GNU date -d, or tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn bad_state_directories_give_clear_errors() {
    let w = World::new();
    let file = w.root.join("a-file");
    std::fs::write(&file, "").unwrap();
    let cases: [(&str, i32, &str); 3] = [
        (file.to_str().unwrap(), 1, "is not a directory"),
        (
            &format!("{}/sub", file.display()),
            1,
            "cannot use state directory",
        ),
        ("", 2, "RUN_DIR is set but empty"),
    ];
    for (dir, code, want) in cases {
        let out = w
            .cmd("run")
            .env("RUN_DIR", dir)
            .args(["true"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{dir}: {err}");
        assert!(
            err.starts_with("run: ") && err.contains(want) && err.lines().count() == 1,
            "{dir}: {err}"
        );
    }
    // A missing directory whose parent cannot be written.
    let locked = w.root.join("locked");
    let _ro = if is_root() {
        Tmpfs::mount(&locked, "size=64k,ro")
    } else {
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
        None
    };
    let out = w
        .cmd("run")
        .env("RUN_DIR", locked.join("state"))
        .args(["true"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot create state directory") && err.contains("set RUN_DIR"),
        "{err}"
    );
    // A state directory that cannot be written (a read-only mount): the
    // directory is named, not a temporary file in it.
    let frozen = w.root.join("frozen");
    if let Some(_ro) = is_root()
        .then(|| Tmpfs::mount(&frozen, "size=64k,mode=0700,ro"))
        .flatten()
    {
        let out = w
            .cmd("run")
            .env("RUN_DIR", &frozen)
            .args(["true"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(
            err,
            format!(
                "run: cannot create log in {}: Read-only file system\n",
                frozen.display()
            )
        );
    }
    // Another user's directory (`su` keeps the other user's HOME): the way
    // out is named.
    if is_root() {
        use std::os::unix::process::CommandExt;
        let private = w.root.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let uid = 60000 + std::process::id() % 1000;
        let out = w
            .cmd("run")
            .env("RUN_DIR", private.join("state"))
            .args(["true"])
            .uid(uid)
            .gid(uid)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("cannot use state directory")
                && err.contains("Permission denied (set RUN_DIR to a directory of your own)")
                && err.lines().count() == 1,
            "{err}"
        );
    }
    // A relative RUN_DIR is taken from the current directory.
    let out = w
        .cmd("run")
        .env("RUN_DIR", "rel/state")
        .args(["-q", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        w.root
            .join("rel/state")
            .join(format!("{}.log", text(&out.stdout).trim()))
            .exists()
    );
}

#[test]
fn a_fifo_named_like_a_log_never_hangs_runlog_or_runrm() {
    let w = World::new();
    w.plant_fifo("pipe_20250101_000000.log");
    for (name, args) in [
        ("runlog", vec!["pipe_20250101_000000"]),
        ("runrm", vec![]),
        ("runs", vec![]),
    ] {
        let mut child = w
            .cmd(name)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = poll(&format!("{name} to finish"), || child.try_wait().unwrap());
        let err = text(&child.wait_with_output().unwrap().stderr);
        if name == "runlog" {
            assert_eq!(status.code(), Some(1));
            assert!(err.contains("not a regular file"), "{err}");
        }
    }
    let fifo = w.state.join("pipe_20250101_000000.log");
    assert!(fifo.exists(), "runrm removed a FIFO");
}

#[test]
fn files_are_0600_and_the_directory_0700_under_any_umask() {
    for umask in ["000", "022", "077", "002"] {
        let w = World::new();
        let out = w
            .cmd("sh")
            .args(["-c", &format!("umask {umask}; exec run -q true")])
            .output()
            .unwrap();
        let id = text(&out.stdout).trim().to_string();
        w.wait_end(&id);
        assert_eq!(mode(&w.state), 0o700, "umask {umask}");
        for file in w.files() {
            assert_eq!(mode(&w.state.join(&file)), 0o600, "umask {umask}: {file}");
        }
    }
}

#[test]
fn a_loose_or_foreign_state_directory_is_refused() {
    let w = World::new();
    w.ensure_state();
    for loose in [0o770, 0o707, 0o777] {
        std::fs::set_permissions(&w.state, std::fs::Permissions::from_mode(loose)).unwrap();
        let out = w.output("run", &["true"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{loose:o}");
        assert!(
            err.contains("is writable by others; fix it with: chmod 700 "),
            "{err}"
        );
    }
    // The original version's 0755 is used as it is: never chmodded.
    std::fs::set_permissions(&w.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(w.output("run", &["true"]).status.success());
    assert_eq!(mode(&w.state), 0o755);
    assert!(text(&w.output("run", &["--help"]).stdout).contains("chmod 700"));
    if is_root() {
        assert!(
            Command::new("chown")
                .args(["65534"])
                .arg(&w.state)
                .status()
                .unwrap()
                .success()
        );
        let out = w.output("runs", &[] as &[&str]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("belongs to another user"),
            "{}",
            text(&out.stderr)
        );
    } else {
        println!("skipped the other-owner case: chown needs root");
    }
}

#[test]
fn planted_symlinks_are_never_followed_by_runs_or_runlog() {
    let w = World::new();
    let secret = w.root.join("secret");
    std::fs::write(&secret, "TOP SECRET CONTENT\n").unwrap();
    let id = w.start(&["true"]);
    w.wait_end(&id);
    // Replace a real job's log and record with links to the secret.
    for suffix in [".log", ".json"] {
        let path = w.state.join(format!("{id}{suffix}"));
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&secret, &path).unwrap();
    }
    for (name, args) in [
        ("runs", vec!["--json"]),
        ("runlog", vec!["--no-follow", id.as_str()]),
        ("runs", vec![]),
    ] {
        let out = w.output(name, &args);
        assert!(
            !text(&out.stdout).contains("TOP SECRET") && !text(&out.stderr).contains("TOP SECRET"),
            "{name}"
        );
    }
    let runs = w.output("runs", &[] as &[&str]);
    assert!(
        text(&runs.stderr).contains(&format!("{id}.json: cannot read record")),
        "{}",
        text(&runs.stderr)
    );
    assert!(
        text(&runs.stdout).contains(&id),
        "the job must still be listed"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "TOP SECRET CONTENT\n"
    );
}

/// A queue's file planted as a symlink, a FIFO or a directory is never
/// used, and `run -Q` says so in one line that names the fix (it said
/// "Invalid argument", "Too many levels of symbolic links", "Is a
/// directory"); nothing of the job is made, and what was planted is left.
#[test]
fn a_planted_queue_file_is_refused_in_plain_words() {
    let w = World::new();
    w.ensure_state();
    let target = w.root.join("target");
    std::fs::write(&target, "mine\n").unwrap();
    let queue = w.state.join(".queue-q");
    for kind in ["symlink", "fifo", "dir"] {
        match kind {
            "symlink" => std::os::unix::fs::symlink(&target, &queue).unwrap(),
            "fifo" => w.plant_fifo(".queue-q"),
            _ => std::fs::create_dir(&queue).unwrap(),
        }
        let out = w.output("run", &["-Q", "q", "true"]);
        assert_eq!(out.status.code(), Some(1), "{kind}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "run: cannot lock the queue {}: not a regular file; remove it to use the queue\n",
                queue.display()
            ),
            "{kind}"
        );
        assert_eq!(w.files(), vec![".queue-q".to_string()], "{kind}");
        if kind == "dir" {
            std::fs::remove_dir(&queue).unwrap();
        } else {
            std::fs::remove_file(&queue).unwrap();
        }
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine\n");
}

#[test]
fn empty_unknown_and_ambiguous_references_are_errors() {
    let w = World::new();
    for n in ["alpha", "alpine"] {
        let id = w.start(&["--name", n, "true"]);
        w.wait_end(&id);
    }
    for name in ["runlog", "runrm", "runkill", "runwait"] {
        let out = w.output(name, &[""]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert_eq!(text(&out.stderr), format!("{name}: empty job reference\n"));
        let out = w.output(name, &["zzz"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(text(&out.stderr), format!("{name}: no job matches zzz\n"));
        let out = w.output(name, &["al"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("{name}: al matches 2 jobs: alpha_"))
                && err.contains(", alpine_")
                && err.lines().count() == 1,
            "{err}"
        );
    }
    assert_eq!(w.jobs().len(), 2, "nothing was removed");
}

#[cfg(target_os = "linux")]
/// What `run ARGS` said and left: its exit code, its stderr, and the
/// state directory's files.
fn refused(w: &World, args: &[&std::ffi::OsStr]) -> (Option<i32>, String, Vec<String>) {
    let out = w.cmd("run").args(args).output().unwrap();
    (out.status.code(), text(&out.stderr), w.files())
}

// Linux-only: a noexec tmpfs.
#[cfg(target_os = "linux")]
#[test]
fn a_command_that_cannot_run_is_refused_before_anything_is_made() {
    use std::ffi::OsStr;
    let w = World::new();
    // Not found on PATH, though a directory of that name is on it.
    std::fs::create_dir_all(w.root.join("bin/made-up-dir")).unwrap();
    let (code, err, files) = refused(&w, &[OsStr::new("made-up-dir")]);
    assert_eq!(
        (code, err.as_str()),
        (Some(126), "run: made-up-dir: is a directory\n")
    );
    assert!(files.is_empty(), "{files:?}");
    let Some(_mount) = Tmpfs::mount(&w.root.join("noexec"), "noexec,size=1m") else {
        return;
    };
    let script = w.root.join("noexec/job.sh");
    write_program(&script, "#!/bin/sh\necho ran\n");
    let (code, err, files) = refused(&w, &[script.as_os_str()]);
    assert_eq!(code, Some(126));
    assert_eq!(
        err,
        format!(
            "run: {}: cannot run a file on a noexec mount\n",
            script.display()
        )
    );
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn an_exec_that_fails_after_the_start_is_the_jobs_recorded_outcome() {
    let w = World::new();
    // A script whose interpreter is missing: the file checks out, the
    // exec fails with ENOENT.
    let script = w.root.join("orphan.sh");
    write_program(&script, "#!/no/such/interpreter\n");
    let id = w.start(&[script.to_str().unwrap()]);
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").as_deref(), Some("failed"));
    assert_eq!(field_num(&job, "exit_code"), Some(127.0));
    // The reason is in the record, so the listing and runwait say it too.
    let why = "exec failed: its interpreter /no/such/interpreter was not found";
    assert_eq!(field_str(&job, "reason").as_deref(), Some(why));
    let listing = text(&w.output("runs", &[&id]).stdout);
    assert!(listing.contains(&format!("{why}, exit 127")), "{listing}");
    let waited = text(&w.output("runwait", &[&id]).stdout);
    assert!(
        waited.contains(&format!("failed ({why}, exit 127)")),
        "{waited}"
    );
    let footer = w.log(&id).lines().last().unwrap().to_string();
    assert!(
        footer.starts_with("--- failed: exec failed: its interpreter /no/such/interpreter was not found, exit 127 after "),
        "{footer}"
    );
    // A script saved on Windows: its interpreter is `/bin/sh\r`.
    let crlf = w.root.join("crlf.sh");
    write_program(&crlf, "#!/bin/sh\r\necho hi\r\n");
    let job = w.wait_end(&w.start(&[crlf.to_str().unwrap()]));
    assert_eq!(
        field_str(&job, "reason").as_deref(),
        Some("exec failed: its interpreter $'/bin/sh\\x0d' was not found")
    );
    // A program open for writing: ETXTBSY, exit 126.
    let busy = w.root.join("busy");
    copy_program(std::path::Path::new("/bin/true"), &busy);
    let _writer = std::fs::OpenOptions::new().write(true).open(&busy).unwrap();
    let id = w.start(&[busy.to_str().unwrap()]);
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").as_deref(), Some("failed"));
    assert_eq!(field_num(&job, "exit_code"), Some(126.0));
    let why = Some("exec failed: Text file busy");
    assert_eq!(field_str(&job, "reason").as_deref(), why);
    assert!(
        w.log(&id)
            .contains("\n--- failed: exec failed: Text file busy, exit 126 after "),
        "{}",
        w.log(&id)
    );
}

// Linux-only: unshare(1) and a mount namespace.
#[cfg(target_os = "linux")]
#[test]
fn without_proc_a_launch_uses_a_named_temporary_log_and_leaves_none() {
    if !is_root() {
        println!("skipped: hiding /proc needs root (CI runs as root)");
        return;
    }
    // A chroot's root is no mount point, and unshare cannot make it private.
    let can = Command::new("unshare").args(["-m", "true"]).output();
    if !can.is_ok_and(|o| o.status.success()) {
        println!("skipped: no private mount namespace here (a chroot?)");
        return;
    }
    let w = World::new();
    // /proc hidden under an empty tmpfs: no unnamed files can be linked.
    let out = w
        .cmd("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs none /proc && exec run -q sh -c 'echo hidden; exit 3'",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let job = w.wait_end(&id);
    assert_eq!(field_num(&job, "exit_code"), Some(3.0));
    assert!(w.log(&id).contains("\nhidden\n"));
    let files = w.files();
    assert!(!files.iter().any(|f| f.starts_with(".new-")), "{files:?}");
    let own = files.iter().filter(|f| f.starts_with(&id)).count();
    assert_eq!(own, 3, "{files:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn stdout_on_a_full_disk_is_one_clear_error_never_a_panic() {
    let w = World::new();
    let id = w.start(&["echo", "hi"]);
    w.wait_end(&id);
    let cases: &[(&str, &[&str])] = &[
        ("runs", &[]),
        ("runs", &["--json"]),
        ("runs", &["--complete"]),
        ("runwait", &[&id]),
        ("runrm", &["--dry-run"]),
        ("runrm", &["--help"]),
        ("runkill", &["--help"]),
        ("runlog", &["--help"]),
        ("runwait", &["--help"]),
        ("run", &["--help"]),
        ("run", &["--completions", "bash"]),
    ];
    for (name, args) in cases {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = w.cmd(name).args(*args).stdout(full).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {err}");
        assert_eq!(
            err,
            format!("{name}: cannot write: No space left on device\n"),
            "{name} {args:?}"
        );
    }
    // Nothing was removed by the dry run, or by anything else.
    assert_eq!(w.status(&id), "done");
    // A reader that goes away before the end (`| head -1`) is no error:
    // more than a pipe's buffer of output, and the reader closed at once.
    for n in 0..4000 {
        w.plant_record(
            &format!("a_long_name_for_a_job_20251205_1{n:05}"),
            Some(2.0),
            Some(0),
        );
    }
    for args in [&["--complete"][..], &[]] {
        let mut child = w
            .cmd("runs")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(text(&out.stderr), "", "runs {args:?}");
        assert_eq!(out.status.code(), Some(0), "runs {args:?}");
    }
}

/// The caller's umask is the job's, never the state directory's: under any
/// umask (0777, 0277: the owner's own bits masked), the directory run makes
/// is 0700 and each file 0600, queued jobs follow one another, and the job
/// sees the umask it was given.
#[test]
fn any_umask_leaves_the_directory_0700_its_files_0600_and_the_job_its_own() {
    use std::os::unix::process::CommandExt;
    for umask in [0o777, 0o277, 0o000] {
        let w = World::new();
        let start = |args: &[&str]| {
            let mut cmd = w.cmd("run");
            cmd.arg("-q").args(args);
            // SAFETY: umask is async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    libc::umask(umask);
                    Ok(())
                })
            };
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "umask {umask:o}: {}",
                text(&out.stderr)
            );
            text(&out.stdout).trim().to_string()
        };
        let first = start(&["-Q", "q", "sh", "-c", "umask; exit 3"]);
        let second = start(&["-Q", "q", "true"]);
        assert_eq!(w.output("runwait", &[&first]).status.code(), Some(3));
        assert_eq!(w.output("runwait", &[&second]).status.code(), Some(0));
        assert!(
            w.log(&first).contains(&format!("\n{umask:04o}\n")),
            "umask {umask:o}"
        );
        assert_eq!(mode(&w.state), 0o700, "umask {umask:o}");
        for name in w.files() {
            let path = w.state.join(&name);
            if path.is_file() {
                assert_eq!(mode(&path), 0o600, "umask {umask:o}: {name}");
            }
        }
    }
}

/// Under a file size limit (`ulimit -f`) too small for run's own files,
/// `run` says so in one line (EFBIG, not a supervisor dead of SIGXFSZ) and
/// leaves nothing; under one the job's output outgrows, the job is killed
/// by SIGXFSZ as it would be anywhere, and that is recorded. A listing
/// whose index outgrows the limit lists all the same (it was killed by
/// SIGXFSZ, exit 153 and not a word).
#[test]
fn a_file_size_limit_is_a_clear_error_or_the_jobs_recorded_end() {
    use std::os::unix::process::CommandExt;
    let w = World::new();
    let limited_as = |name: &str, bytes: u64, args: &[&str]| {
        let mut cmd = w.cmd(name);
        cmd.args(args);
        // SAFETY: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
                Ok(())
            })
        };
        cmd.output().unwrap()
    };
    let limited = |bytes, args: &[&str]| limited_as("run", bytes, args);
    let out = limited(2048, &["true"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("run: ") && err.contains("File too large") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(w.files(), Vec::<String>::new());
    let out = limited(16384, &["-q", "head", "-c", "100000", "/dev/zero"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "status").as_deref(), Some("killed"));
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGXFSZ"));
    assert_eq!(w.output("runwait", &[&id]).status.code(), Some(128 + 25));
    let second = w.start(&["true"]);
    w.wait_end(&second);
    // Two jobs' index lines are more than 1 KiB; a listing with no index
    // writes one.
    for args in [&[][..], &["--json"]] {
        let _ = std::fs::remove_file(w.state.join(".index"));
        let out = limited_as("runs", 1024, args);
        assert!(out.status.success(), "runs {args:?}: {:?}", out.status);
        let listed = text(&out.stdout);
        assert!(listed.contains(&id) && listed.contains(&second), "{listed}");
    }
    let _ = std::fs::remove_file(w.state.join(".index"));
    let out = limited_as("runs", 1024, &["--json"]);
    let jobs: tinyjson::JsonValue = text(&out.stdout).parse().unwrap();
    assert_eq!(jobs.get::<Vec<tinyjson::JsonValue>>().unwrap().len(), 2);
    let strays: Vec<String> = w
        .files()
        .into_iter()
        .filter(|f| f.starts_with('.') && f != ".index")
        .collect();
    assert_eq!(strays, Vec::<String>::new());
}

/// Where there is no `/proc` (a chroot or a container with none mounted),
/// the process checks fall back to the system calls: a job reads running
/// while it runs, and runkill stops it (it said "it started before the
/// machine rebooted").
#[cfg(target_os = "linux")]
#[test]
fn without_proc_runs_sees_a_job_running_and_runkill_stops_it() {
    let w = World::new();
    // One of the binary's names, in a mount namespace whose /proc is gone.
    let bare = |name: &str, args: &[&str]| {
        w.cmd("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("umount -l /proc && exec \"$@\"")
            .arg("sh")
            .arg(w.bin.join(name))
            .args(args)
            .output()
            .unwrap()
    };
    let probe = bare("runs", &[]);
    if !probe.status.success() {
        println!("skipped: no mount namespace here: {}", text(&probe.stderr));
        return;
    }
    let out = bare("run", &["-q", "sleep", "30.0751"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let listed = text(&bare("runs", &["--json"]).stdout);
    let jobs: tinyjson::JsonValue = listed.parse().unwrap();
    let jobs: &Vec<tinyjson::JsonValue> = jobs.get().unwrap();
    assert_eq!(field_str(&jobs[0], "status").as_deref(), Some("running"));
    let out = bare("runkill", &[&id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGTERM"));
}

/// A state directory shared between machines (a home on NFS or Lustre) may
/// not show one machine's locks to another. A job of another machine
/// (another host name and another kernel) with no end recorded is
/// `unknown` here, never `lost`, and a sweeping runrm leaves it (only
/// naming it removes it). Another boot of this host, or a container of
/// this kernel (another host name, the same boot id), is judged as ever.
#[cfg(target_os = "linux")]
#[test]
fn another_machines_job_is_unknown_here_never_lost_or_swept() {
    let w = World::new();
    let this_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let other_boot = "00000000-0000-4000-8000-000000000001";
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let plant = |id: &str, host: &str, boot: &str| {
        w.plant(
            &format!("{id}.json"),
            format!(
                "{{\"id\":\"{id}\",\"name\":\"far\",\"command\":[\"x\"],\"cwd\":\"/\",\"host\":\"{host}\",\"pid\":4000000,\"pgid\":4000000,\"sid\":3999999,\"started\":{started},\"since_boot\":1.0,\"boot_id\":\"{boot}\",\"ended\":null,\"status\":\"running\",\"topic\":null,\"log\":\"/x\"}}"
            )
            .as_bytes(),
        );
        w.plant(&format!("{id}.log"), b"$ x\n---\n");
    };
    let far = "far_20250101_000001";
    plant(far, "elsewhere.example", other_boot);
    plant("far_20250101_000002", host, other_boot);
    plant("far_20250101_000003", "container", this_boot.trim());
    assert_eq!(w.status(far), "unknown");
    assert_eq!(w.status("far_20250101_000002"), "lost");
    assert_eq!(w.status("far_20250101_000003"), "lost");
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    assert!(listing.contains("on elsewhere.example"), "{listing}");
    let out = w.output("runrm", &[] as &[&str]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ran on elsewhere.example") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(w.jobs().keys().collect::<Vec<_>>(), vec![far]);
    // Neither stopped nor waited for nor followed as if it had ended here:
    // each says where it ran.
    let cannot_see = "it ran on elsewhere.example, which this machine cannot see";
    for (name, said) in [
        (
            "runkill",
            format!(
                "runkill: {far} ran on elsewhere.example, which this machine cannot see; stop it there\n"
            ),
        ),
        ("runwait", String::new()),
        (
            "runlog",
            format!("runlog: {far}: unknown ({cannot_see}); not followed\n"),
        ),
    ] {
        let out = w.output(name, &[far]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(text(&out.stderr), said, "{name}");
    }
    let out = w.output("runwait", &[far]);
    assert!(text(&out.stdout).contains(&format!("{far}: unknown ({cannot_see})")));
    // Nor is it something to start after: nothing starts.
    let before = w.files();
    for option in ["--after", "--after-ok"] {
        let out = w.output("run", &[option, far, "true"]);
        assert_eq!(out.status.code(), Some(1), "{option}");
        let said = format!("run: cannot wait for {far}: unknown ({cannot_see})\n");
        assert_eq!(text(&out.stderr), said, "{option}");
    }
    assert_eq!(w.files(), before);
    let out = w.output("runrm", &[far]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(w.jobs().is_empty());
}

/// A job started in another pid namespace (a container sharing the state
/// directory, on this kernel) reads running from outside, whose locks it
/// shares; but its ids are the container's, and a process here may have
/// them. runkill from outside refuses with a clear error and signals
/// nothing, even when a stranger here holds the very session and group
/// ids; runkill inside the namespace stops it.
#[cfg(target_os = "linux")]
#[test]
fn a_containers_job_is_never_signalled_from_outside_its_pid_namespace() {
    if !is_root() {
        println!("skipped: a pid namespace and chosen pids need root (CI runs as root)");
        return;
    }
    let probe = Command::new("unshare")
        .args(["-pf", "--mount-proc", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        println!("skipped: no pid namespace here");
        return;
    }
    let w = World::new();
    let id_file = w.root.join("id");
    let base = 20000 + std::process::id() % 10000;
    // The namespace's first process stays, so that the job lives on; its
    // pids start high, so that this namespace's may be had here too.
    let mut container = w
        .cmd("unshare")
        .args(["--kill-child", "-pf", "--mount-proc", "sh", "-c"])
        .arg("echo $2 > /proc/sys/kernel/ns_last_pid && \"$0\" -q sleep 30.0752 > \"$1\"; exec sleep 60")
        .arg(w.bin.join("run"))
        .arg(&id_file)
        .arg(base.to_string())
        .spawn()
        .unwrap();
    let id = poll("the job in the namespace to start", || {
        let id = std::fs::read_to_string(&id_file).ok()?;
        id.ends_with('\n').then(|| id.trim().to_string())
    });
    assert!(!id.is_empty(), "run failed in the namespace");
    let job = w.job(&id);
    assert_eq!(field_str(&job, "status").as_deref(), Some("running"));
    let sid = field_num(&job, "sid").unwrap() as i64;
    // Its pid is the container's, not one to `kill` here.
    let pid = field_num(&job, "pid").unwrap();
    let listing = text(&w.output("runs", &[] as &[&str]).stdout);
    assert!(
        listing.contains(&format!(" pid {pid} (another pid namespace) ")),
        "{listing}"
    );
    // A stranger here with the job's session id, and a group of its own in
    // that session, as the job's processes would be.
    let mut stranger = None;
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (sid - 1).to_string()).unwrap();
        let child = Command::new("setsid")
            .args(["bash", "-c", "set -m; sleep 30 & wait"])
            .spawn()
            .unwrap();
        if i64::from(child.id()) == sid {
            stranger = Some(child);
            break;
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
    let Some(mut stranger) = stranger else {
        let _ = container.kill();
        let _ = container.wait();
        println!("skipped: pid {sid} could not be had here");
        return;
    };
    let group = poll("the stranger's group", || {
        children_of(stranger.id()).first().copied()
    });
    let out = w.output("runkill", &["-s", "TERM", &id]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another pid namespace"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(alive(group), "the stranger's group was signalled: {err}");
    assert_eq!(w.status(&id), "running");
    let _ = stranger.kill();
    let _ = stranger.wait();
    let _ = kill("KILL", &format!("-{group}"));
    // Inside its namespace, runkill stops it.
    let init = children_of(container.id()).first().copied().unwrap();
    let out = w
        .cmd("nsenter")
        .args(["-t", &init.to_string(), "-p", "-m"])
        .arg(w.bin.join("runkill"))
        .arg(&id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job = w.wait_end(&id);
    assert_eq!(field_str(&job, "signal").as_deref(), Some("SIGTERM"));
    let _ = container.kill();
    let _ = container.wait();
}

#[test]
fn planted_job_names_are_only_words_to_tab_completion() {
    let w = World::new();
    let id = w.start(&["--name", "plain", "true"]);
    w.wait_end(&id);
    // Names a shell would run, expand or glob if it read them as code.
    let names = [
        "$(touch PWNED)",
        "`touch PWNED2`",
        "${HOME}x",
        "*",
        "a b",
        "a:b",
    ];
    for (n, name) in names.iter().enumerate() {
        w.plant(&format!("{name}_20261208_00000{n}.log"), b"$ true\n");
    }
    let mut want: Vec<String> = vec!["plain".into(), id.clone()];
    for (n, name) in names.iter().enumerate() {
        want.push(name.to_string());
        want.push(format!("{name}_20261208_00000{n}"));
    }
    want.sort();
    let offered = |out: Output| {
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        let mut words: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
        words.sort();
        words
    };
    let bash = "source <(run --completions bash) || exit 9; COMP_WORDS=(runlog \"$1\"); COMP_CWORD=1; _run_jobs; printf '%s\\n' \"${COMPREPLY[@]}\"";
    let complete = |cur: &str| {
        let out = w
            .cmd("bash")
            .current_dir(&w.root)
            .env("HOME", &w.root)
            .args(["-c", bash, "bash", cur])
            .output()
            .unwrap();
        offered(out)
    };
    assert_eq!(complete(""), want, "bash offers every name as it is");
    assert_eq!(
        complete("$(touch"),
        ["$(touch PWNED)", "$(touch PWNED)_20261208_000000"],
        "bash matches a prefix as text, not as a pattern"
    );
    let fish = w
        .cmd("fish")
        .current_dir(&w.root)
        .env("HOME", &w.root)
        .args([
            "--no-config",
            "-c",
            "run --completions fish | source; complete -C 'runlog '",
        ])
        .output()
        .expect("fish must be installed (scripts/test installs it)");
    let fish_words: Vec<String> = offered(fish)
        .into_iter()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .filter(|l| !l.starts_with('-'))
        .collect();
    assert_eq!(fish_words, want, "fish offers every name as it is");
    // zsh lists what Tab offers on a terminal, which zpty gives it.
    let zsh = r#"
zmodload zsh/zpty || exit 9
zpty z 'zsh -f -i'
zpty -w z $'PROMPT=$\'\\x52DY> \'; LISTMAX=100000; autoload -U compinit; compinit -u -D; source <(run --completions zsh)'
# Keys typed before the prompt would be thrown away.
zpty -r z _ '*RDY> ' || exit 8
zpty -w -n z $'runlog \t\t'
zpty -r z listed '*plain_*' || exit 8
zpty -w z $'\C-u echo Z\'\'DONE'
zpty -r z rest '*ZDONE*' || exit 8
print -r -- "$listed$rest"
"#;
    let out = w
        .cmd("timeout")
        .current_dir(&w.root)
        .env("HOME", &w.root)
        .args(["60", "zsh", "-f", "-c", zsh])
        .output()
        .unwrap();
    assert!(out.status.success(), "zsh: {}", text(&out.stderr));
    let listed = screen_items(&text(&out.stdout));
    for word in &want {
        assert!(
            listed.contains(word),
            "zsh does not offer {word:?}; it listed {listed:?}"
        );
    }
    for planted in ["PWNED", "PWNED2"] {
        assert!(
            !w.root.join(planted).exists(),
            "a job's name was run as a command by completion"
        );
    }
}

/// The items a terminal shows, from what was written to it: each line cut
/// into the columns of a completion listing (two spaces or more apart, or
/// an escape sequence between), carriage returns and bells dropped.
fn screen_items(raw: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // A move of the cursor ends an item too.
                plain.push_str("  ");
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' | '\x07' | '\x08' => {}
            c => plain.push(c),
        }
    }
    plain
        .lines()
        .flat_map(|line| line.split("  ").map(str::trim).collect::<Vec<_>>())
        .filter(|item| !item.is_empty())
        .map(String::from)
        .collect()
}

/// With no inotify to be had (a user's 128 instances all taken, as editors
/// and containers do), following a log and waiting for jobs still see every
/// line and the end, by looking again and again: strace makes each
/// inotify_init1 fail with EMFILE.
#[cfg(target_os = "linux")]
#[test]
fn without_inotify_following_and_waiting_still_end_with_the_job() {
    if !can_strace() {
        return;
    }
    let w = World::new();
    let gate = w.root.join("go");
    let gated = |then: &str| {
        format!(
            "while [ ! -e {} ]; do sleep 0.02; done; {then}",
            gate.display()
        )
    };
    let failing = w.start(&["sh", "-c", &gated("echo after; exit 3")]);
    let done = w.start(&["sh", "-c", &gated("true")]);
    // Each one's strace log tells when its inotify_init1 has failed: from
    // then on it waits without a watch.
    let traced = |name: &str, args: &[&str]| {
        let log = w.root.join(format!("{name}.strace"));
        let child = w
            .cmd("strace")
            .args(["-f", "-qq", "-e", "trace=inotify_init1"])
            .args(["-e", "inject=inotify_init1:error=EMFILE", "-o"])
            .arg(&log)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (child, log)
    };
    let runlog = w.bin.join("runlog");
    let runwait = w.bin.join("runwait");
    let run = w.bin.join("run");
    let (follower, a) = traced("runlog", &[runlog.to_str().unwrap(), &failing]);
    let (waiter, b) = traced("runwait", &[runwait.to_str().unwrap(), &failing, &done]);
    let (runner, c) = traced(
        "run",
        &[
            run.to_str().unwrap(),
            "-f",
            "sh",
            "-c",
            &gated("echo later"),
        ],
    );
    for log in [a, b, c] {
        poll(
            &format!("{} to fail to make a watch", log.display()),
            || {
                let text = std::fs::read_to_string(&log).ok()?;
                text.contains("inotify_init1(").then_some(())
            },
        );
    }
    std::fs::write(&gate, "").unwrap();
    let follower = follower.wait_with_output().unwrap();
    assert_eq!(
        follower.status.code(),
        Some(3),
        "{}",
        text(&follower.stderr)
    );
    assert!(
        text(&follower.stdout).contains("after\n--- failed: exit 3"),
        "{}",
        text(&follower.stdout)
    );
    let waiter = waiter.wait_with_output().unwrap();
    assert_eq!(waiter.status.code(), Some(3), "{}", text(&waiter.stderr));
    assert_eq!(
        text(&waiter.stdout).lines().count(),
        2,
        "{}",
        text(&waiter.stdout)
    );
    let runner = runner.wait_with_output().unwrap();
    assert!(runner.status.success(), "{}", text(&runner.stderr));
    assert!(
        text(&runner.stdout).contains("later\n--- done"),
        "{}",
        text(&runner.stdout)
    );
}
