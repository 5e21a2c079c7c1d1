//! Shared test helpers: a fresh state directory per test, the binary under
//! its several names, and deadline-bounded polling instead of sleeps.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tinyjson::JsonValue;

/// The binary under test: `$RUN_BIN` (for example the static release
/// binary), else the one cargo built for this test run.
pub fn binary() -> PathBuf {
    match std::env::var_os("RUN_BIN") {
        Some(path) => std::fs::canonicalize(path).expect("RUN_BIN must exist"),
        None => PathBuf::from(env!("CARGO_BIN_EXE_run")),
    }
}

pub const NAMES: &[&str] = &["run", "runs", "runlog", "runrm", "runkill", "runwait"];

/// A temporary world for one test: `root/bin` holds the binary under every
/// name, `root/state` is RUN_DIR. Removed on drop.
pub struct World {
    pub root: PathBuf,
    pub state: PathBuf,
    pub bin: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl World {
    pub fn new() -> World {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("run-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let exe = binary();
        for name in NAMES {
            std::os::unix::fs::symlink(&exe, bin.join(name)).unwrap();
        }
        World {
            state: root.join("state"),
            root,
            bin,
        }
    }

    /// A command for one of the binary's names, or any other program, in
    /// this world (RUN_DIR set, the names first on PATH).
    pub fn cmd(&self, name: &str) -> Command {
        let program = if NAMES.contains(&name) {
            self.bin.join(name)
        } else {
            PathBuf::from(name)
        };
        let mut cmd = Command::new(program);
        cmd.env("RUN_DIR", &self.state)
            .env("PATH", self.path_var())
            .env_remove("NTFY_TOPIC")
            .env_remove("NTFY_TOKEN")
            .env_remove("NTFY_USER")
            .env_remove("NO_COLOR")
            .env_remove("NTFY_CONFIG")
            .env_remove("SSL_CERT_FILE")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        cmd
    }

    /// PATH with this world's bin first.
    pub fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// `run ARGS`, expected to succeed; returns the job id (`-q`).
    pub fn start(&self, args: &[&str]) -> String {
        let out = self.cmd("run").arg("-q").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "run {args:?} failed: {}",
            text(&out.stderr)
        );
        let id = text(&out.stdout).trim().to_string();
        assert!(!id.is_empty(), "run -q printed no id");
        id
    }

    pub fn output(&self, name: &str, args: &[impl AsRef<OsStr>]) -> Output {
        self.cmd(name).args(args).output().unwrap()
    }

    /// `runs --json`, parsed, keyed by id.
    pub fn jobs(&self) -> HashMap<String, JsonValue> {
        let out = self.output("runs", &["--json"]);
        assert!(
            out.status.success(),
            "runs --json failed: {}",
            text(&out.stderr)
        );
        let value: JsonValue = text(&out.stdout)
            .parse()
            .expect("runs --json is valid JSON");
        let array: &Vec<JsonValue> = value.get().expect("runs --json is an array");
        array
            .iter()
            .map(|job| (field_str(job, "id").unwrap(), job.clone()))
            .collect()
    }

    pub fn job(&self, id: &str) -> JsonValue {
        self.jobs()
            .remove(id)
            .unwrap_or_else(|| panic!("no job {id} in runs --json"))
    }

    pub fn status(&self, id: &str) -> String {
        field_str(&self.job(id), "status").unwrap()
    }

    /// Wait until the job's status is `want`.
    pub fn wait_status(&self, id: &str, want: &str) -> JsonValue {
        let mut last = String::new();
        poll(&format!("{id} to be {want}"), || {
            let job = self.job(id);
            last = field_str(&job, "status").unwrap();
            (last == want).then_some(job)
        })
    }

    /// Wait until the job has any final status, and return its record.
    /// Wait until there are `count` jobs, all done.
    pub fn wait_all_done(&self, count: usize) {
        poll(&format!("{count} finished jobs"), || {
            let jobs = self.jobs();
            (jobs.len() == count
                && jobs
                    .values()
                    .all(|j| field_str(j, "status").as_deref() == Some("done")))
            .then_some(())
        });
    }

    pub fn wait_end(&self, id: &str) -> JsonValue {
        poll(&format!("{id} to end"), || {
            let job = self.job(id);
            let status = field_str(&job, "status");
            (!matches!(status.as_deref(), Some("running" | "stopped" | "waiting"))).then_some(job)
        })
    }

    pub fn log(&self, id: &str) -> String {
        text(&std::fs::read(self.state.join(format!("{id}.log"))).unwrap())
    }

    /// The job's output: the log between the header and the footer.
    pub fn body(&self, id: &str) -> String {
        let log = self.log(id);
        let body = log.split_once("\n---\n").expect("log has a header").1;
        match body.rfind("--- ") {
            Some(i) if body[i..].lines().count() == 1 => body[..i].to_string(),
            _ => body.to_string(),
        }
    }

    /// Make the state directory (0700) if `run` has not yet.
    pub fn ensure_state(&self) {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&self.state);
    }

    /// Put a file straight into the state directory.
    pub fn plant(&self, name: &str, content: &[u8]) -> PathBuf {
        self.ensure_state();
        let path = self.state.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// A FIFO named `name` in the state directory (mkfifo(1)).
    pub fn plant_fifo(&self, name: &str) {
        self.ensure_state();
        let made = Command::new("mkfifo").arg(self.state.join(name)).status();
        assert!(made.unwrap().success(), "mkfifo {name}");
    }

    /// Copy in the jobs of the original shell version kept as a fixture.
    pub fn seed_legacy(&self) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy");
        for entry in std::fs::read_dir(fixtures).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            self.plant(&name, &std::fs::read(entry.path()).unwrap());
        }
    }

    /// A running job of the original shell version: a live `sleep 30` whose
    /// pid and log are planted under an id stamped now. Kill the child after.
    pub fn plant_live_legacy(&self) -> (std::process::Child, String) {
        let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let stamp = text(
            &Command::new("date")
                .arg("+%Y%m%d_%H%M%S")
                .output()
                .unwrap()
                .stdout,
        );
        let id = format!("live_{}", stamp.trim());
        self.plant(
            &format!("{id}.pid"),
            format!("{}\n", sleeper.id()).as_bytes(),
        );
        self.plant(&format!("{id}.log"), b"$ sleep 30\nStarted: now\n---\n");
        (sleeper, id)
    }

    /// A finished job's record, written directly (as a reboot or an older
    /// run would have left it).
    pub fn plant_record(&self, id: &str, ended: Option<f64>, exit_code: Option<i32>) {
        let null = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        let record = format!(
            "{{\"id\":\"{id}\",\"name\":\"x\",\"command\":[\"sleep\",\"1\"],\"cwd\":\"/\",\"host\":\"h\",\"pid\":4194002,\"pgid\":4194002,\"started\":1764948939.0,\"ended\":{},\"duration\":{},\"exit_code\":{},\"signal\":null,\"status\":\"running\",\"topic\":null,\"log\":\"/nonexistent\"}}\n",
            null(ended.map(|e| e.to_string())),
            null(ended.map(|_| "1.0".to_string())),
            null(exit_code.map(|c| c.to_string())),
        );
        self.plant(&format!("{id}.json"), record.as_bytes());
    }

    /// A job planted by hand, as a damaged or crafted record would be: its
    /// log, and a record of command `x` whose times, end and status are
    /// `fields`, as JSON members (`"started":1.0,…,"status":"done"`).
    pub fn plant_job(&self, id: &str, fields: &str) {
        let record = format!(
            "{{\"id\":\"{id}\",\"name\":\"x\",\"command\":[\"x\"],\"cwd\":\"/\",\"host\":\"h\",\"pid\":1,\"pgid\":1,{fields},\"topic\":null,\"log\":\"/x\"}}"
        );
        self.plant(&format!("{id}.json"), record.as_bytes());
        self.plant(&format!("{id}.log"), b"$ x\n---\n");
    }

    /// Wait for the job's log to end with the notification line; return it.
    pub fn notify_line(&self, id: &str) -> String {
        poll("the notification line", || {
            let log = self.log(id);
            let line = log.lines().last()?.to_string();
            (line.starts_with("--- notified ") || line.starts_with("--- notification to "))
                .then_some(line)
        })
    }

    /// List until a listing has indexed every one of these finished jobs:
    /// one that read the directory just before a job ended does not.
    pub fn indexed(&self, ids: &[&str]) {
        poll("a listing to index the jobs", || {
            self.output("runs", &[] as &[&str]);
            let index = std::fs::read_to_string(self.state.join(".index")).ok()?;
            ids.iter()
                .all(|id| index.contains(&format!("{id}\t")))
                .then_some(())
        });
    }

    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(&self.state) {
            Ok(dir) => dir
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test can leave jobs waiting for a flag that will never
        // come; stop them, so that they take no CPU from the tests after.
        let listed = self.cmd("runs").args(["--json", "-r"]).output();
        let running = listed.ok().and_then(|out| {
            let value: JsonValue = text(&out.stdout).parse().ok()?;
            let jobs: &Vec<JsonValue> = value.get()?;
            Some(
                jobs.iter()
                    .filter_map(|j| field_str(j, "id"))
                    .collect::<Vec<_>>(),
            )
        });
        if let Some(ids) = running.filter(|ids| !ids.is_empty()) {
            let _ = self.cmd("runkill").args(["-s", "KILL"]).args(ids).output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Overwrite a record in place with as many bytes of garbage, and give it
/// back its time: the same inode, size and time, as the index keeps them.
pub fn damage_in_place(path: &std::path::Path) {
    let meta = std::fs::metadata(path).unwrap();
    std::fs::write(path, vec![b'#'; meta.len() as usize]).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(meta.modified().unwrap()).unwrap();
}

/// Copy a program to run it: by cp(1), so that no descriptor open for
/// writing it is ever in this process, where a child another test thread
/// forks would hold it until that child execs (ETXTBSY for our exec).
pub fn copy_program(from: &Path, to: &Path) {
    let status = Command::new("cp").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp {from:?} {to:?}");
}

/// Write an executable script, by way of [`copy_program`] for the same
/// reason.
pub fn write_program(path: &Path, content: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    let mut draft = path.as_os_str().to_owned();
    draft.push(".draft");
    let draft = PathBuf::from(draft);
    std::fs::write(&draft, content).unwrap();
    std::fs::set_permissions(&draft, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy_program(&draft, path);
    std::fs::remove_file(&draft).unwrap();
}

/// Whether strace(1) may trace here (scripts/test installs it; a container
/// may forbid ptrace); if not, says the test is skipped.
pub fn can_strace() -> bool {
    let probe = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .status();
    let usable = probe.is_ok_and(|s| s.success());
    if !usable {
        println!("skipped: no strace that may trace here");
    }
    usable
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A field of a JSON object; `None` if it is missing or of another type.
fn field<'a>(job: &'a JsonValue, key: &str) -> Option<&'a JsonValue> {
    job.get::<HashMap<String, JsonValue>>()?.get(key)
}

pub fn field_str(job: &JsonValue, key: &str) -> Option<String> {
    field(job, key)?.get::<String>().cloned()
}

pub fn field_num(job: &JsonValue, key: &str) -> Option<f64> {
    field(job, key)?.get::<f64>().copied()
}

pub fn is_null(job: &JsonValue, key: &str) -> bool {
    job[key].is_null()
}

/// Call `check` until it returns Some, for at most 30 s; panic naming `what`
/// otherwise. Never a fixed sleep.
pub fn poll<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    until(
        what,
        Duration::from_secs(30),
        Some(Duration::from_millis(10)),
        check,
    )
}

/// Poll fast (no 10 ms nap), for at most 10 s: for catching a process
/// within a launch.
pub fn spin<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    until(what, Duration::from_secs(10), None, check)
}

/// `check` until it returns Some, napping `nap` between tries (else only
/// yielding), for at most `limit`.
fn until<T>(
    what: &str,
    limit: Duration,
    nap: Option<Duration>,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        match nap {
            Some(nap) => std::thread::sleep(nap),
            None => std::thread::yield_now(),
        }
    }
}

/// The mode bits of a path, without following a symlink.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// The parent pid of `pid`, from /proc.
#[cfg(target_os = "linux")]
pub fn parent_of(pid: i64) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether `pid` still exists (and is not a zombie).
#[cfg(target_os = "linux")]
pub fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').unwrap().1.split_whitespace().next() != Some("Z"),
        Err(_) => false,
    }
}

/// Whether `pid` still exists (and is not a zombie), from ps(1).
#[cfg(not(target_os = "linux"))]
pub fn alive(pid: i64) -> bool {
    let out = Command::new("ps")
        .args(["-o", "stat=", "-p", &pid.to_string()])
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&out.stdout);
    !stat.trim().is_empty() && !stat.trim().starts_with('Z')
}

/// Send a signal with kill(1), so the tests need no unsafe code; false if
/// there was no such process.
pub fn kill(signal: &str, target: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// What a loopback server does with one request.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// Answer with this HTTP status (and `Retry-After: 1` for 429).
    Status(u16),
    /// Accept, read the request, and never answer.
    Hang,
    /// Read the request, then close the connection without a word.
    Reset,
}

/// One request as the loopback server saw it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the request line arrived.
    pub at: std::time::SystemTime,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP server on 127.0.0.1:0 that records each request and answers
/// by `replies` in turn (the last one repeats).
pub struct Server {
    pub port: u16,
    requests: std::sync::mpsc::Receiver<Request>,
}

impl Server {
    pub fn start(replies: &[Reply]) -> Server {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (send, requests) = std::sync::mpsc::channel();
        let replies = replies.to_vec();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let reply = replies[n.min(replies.len() - 1)];
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let at = std::time::SystemTime::now();
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = header.trim_end().split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = send.send(Request {
                    method,
                    path,
                    headers,
                    body,
                    at,
                });
                match reply {
                    Reply::Status(code) => {
                        let extra = if code == 429 {
                            "Retry-After: 1\r\n"
                        } else {
                            ""
                        };
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {code} X\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                        );
                    }
                    Reply::Hang => {
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(120));
                            drop(stream);
                        });
                    }
                    Reply::Reset => drop(stream),
                }
            }
        });
        Server { port, requests }
    }

    pub fn url(&self, topic: &str) -> String {
        format!("http://127.0.0.1:{}/{topic}", self.port)
    }

    /// The next request, waiting up to 30 s.
    pub fn next(&self) -> Request {
        self.requests
            .recv_timeout(Duration::from_secs(30))
            .expect("no request reached the server")
    }

    /// Whatever requests have arrived so far.
    pub fn received(&self) -> Vec<Request> {
        self.requests.try_iter().collect()
    }
}

/// SIGKILL `pid` at once: a spawned kill(1) would take a millisecond, and
/// the truth tests kill at chosen moments.
pub fn sigkill(pid: i64) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) == 0 }
}

/// The inode of the file process `pid` waits to flock, as /proc/locks
/// tells (a `->` line: pid, then MAJ:MIN:INODE).
pub fn lock_awaited(pid: u32) -> Option<u64> {
    flocks(pid, true).first().copied()
}

/// The inodes of the files process `pid` holds a flock on, or (`waiting`)
/// waits to, as /proc/locks tells.
pub fn flocks(pid: u32, waiting: bool) -> Vec<u64> {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = pid.to_string();
    locks
        .lines()
        .filter_map(|line| {
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            let blocked = fields.get(1) == Some(&"->");
            if blocked {
                fields.remove(1);
            }
            let ours = blocked == waiting && fields.get(1) == Some(&"FLOCK");
            (ours && fields.get(4) == Some(&pid.as_str()))
                .then(|| fields.get(5)?.rsplit(':').next()?.parse().ok())?
        })
        .collect()
}

/// The children of `pid`, from /proc (Linux 3.5 and later).
#[cfg(target_os = "linux")]
pub fn children_of(pid: u32) -> Vec<i64> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// A small random number generator (xorshift), seeded from `RUN_SEED` or
/// the clock, and saying its seed so that a failing run can be replayed.
pub struct Random(u64);

impl Random {
    pub fn new(test: &str) -> Random {
        let seed = std::env::var("RUN_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("{test}: RUN_SEED={seed}");
        Random(seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
