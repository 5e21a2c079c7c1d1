//! `run [OPTIONS] [--] COMMAND [ARGS...]`: start a job, and `run --link`.
//!
//! Rule: options end at the first argument that is not an option, or at
//! `--`; everything after belongs to the command, unchanged.

use crate::args::{Operands, Opt, Takes, opt};
use crate::error::{Error, Result, code};
use crate::naming;
use crate::quote::{escape, shell_join};
use crate::record::{Record, Status};
use crate::store::Store;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const HELP: &str = "\
run - start a command in the background; it outlives the terminal

Usage: run [OPTIONS] [--] COMMAND [ARGS...]
       run -n [TOPIC] COMMAND [ARGS...]
       run [OPTIONS] --again JOB
       run --link [DIR]

Options (they end at the first word that is not an option, or at --):
  -N, --name NAME   name the job NAME instead of after the command
  -q, --quiet       print only the job id (with -f: the id, then the log)
  -f, --follow      then follow its log as runlog does, and exit with the
                    job's status (Ctrl+C stops following; the job runs on)
  -n, --notify      send an ntfy notification when the job ends, to TOPIC
                    or $NTFY_TOPIC. The word after -n is TOPIC when more
                    words follow it and it names nothing runnable (not on
                    PATH; with a /, no executable file there): so
                    `run -n make all` notifies $NTFY_TOPIC, and
                    `run -n builds make all` notifies `builds`
      --after JOBS  start only once these jobs have ended (names, ids or
                    id prefixes, comma-separated); until then it is waiting
      --after-ok JOBS  the same, and only if they all succeeded; else it
                    is skipped, never started
  -Q, --queue NAME  run in queue NAME: one job at a time, in the order they
                    were started (after the queue's last job)
      --queue-ok NAME  the same, but start only if the queue's last job
                    succeeded: a failure stops the queue
      --timeout DURATION  stop the job once it has run this long (90s,
                    30m, 1.5h, 1d, 1h30m): SIGTERM to its process group,
                    SIGKILL 5s later; it is then recorded as killed, timed
                    out
  -t, --topic TOPIC notify TOPIC (implies -n; never ambiguous). TOPIC is a
                    name (on default-host from the ntfy CLI's client.yml,
                    else https://ntfy.sh), host/topic, or an http(s) URL.
                    Credentials: NTFY_TOKEN, else NTFY_USER=user:pass, else
                    default-token or default-user/-password in client.yml
      --again JOB   start JOB's command again, in its directory, with its
                    name, notification target and timeout (unless given
                    here); the environment is this shell's, not JOB's
      --link [DIR]  create the runs, runlog, runrm, runkill and runwait
                    links to this binary, in DIR or beside the run you
                    called (if that is a link, they link to it)
      --completions SHELL  print completions for bash, zsh or fish:
                    source <(run --completions bash)
  -h, --help        show this help
  -V, --version     show the version

Each job gets ID.log (header, output, footer), ID.pid and ID.json in the
state directory: $RUN_DIR (a relative path is taken from the current
directory), else $XDG_DATA_HOME/run, else ~/.local/share/run. It must belong
to you and not be writable by others (fix with: chmod 700 DIR).

Exit status: 0 started; 1 could not start or record it; 2 bad usage;
126 command not executable; 127 command not found.";

/// The names this binary answers to, besides `run`.
pub const OTHER_NAMES: &[&str] = &["runs", "runlog", "runrm", "runkill", "runwait"];

const JOBS: &str = "jobs: names, ids or id prefixes, comma-separated";

/// run's options, for the parser and the completions.
pub const OPTIONS: &[Opt] = &[
    opt(b'N', "name", Takes::Value("a name"), "name the job"),
    opt(b'q', "quiet", Takes::Nothing, "print only the job id"),
    opt(b'f', "follow", Takes::Nothing, "follow the log"),
    opt(
        b'n',
        "notify",
        Takes::Maybe("a topic"),
        "notify ntfy when the job ends",
    ),
    opt(b't', "topic", Takes::Value("a topic"), "notify this topic"),
    opt(0, "after", Takes::Value(JOBS), "start once these jobs end"),
    opt(
        0,
        "after-ok",
        Takes::Value(JOBS),
        "start if these jobs succeed",
    ),
    opt(
        b'Q',
        "queue",
        Takes::Value("a queue name"),
        "run in this queue",
    ),
    opt(
        0,
        "queue-ok",
        Takes::Value("a queue name"),
        "run in this queue if all went well",
    ),
    opt(
        0,
        "timeout",
        Takes::Value("a duration above 0 such as 90s or 2h"),
        "stop the job after this long",
    ),
    opt(
        0,
        "again",
        Takes::Value("a job: a name, an id or a unique id prefix"),
        "start the command of a job again",
    ),
    opt(0, "link", Takes::Nothing, "link the other names"),
    opt(
        0,
        "completions",
        Takes::Value("bash, zsh or fish"),
        "print completions",
    ),
    opt(b'h', "help", Takes::Nothing, "show help"),
    opt(b'V', "version", Takes::Nothing, "show the version"),
];

struct Options {
    name: Option<OsString>,
    quiet: bool,
    link: bool,
    notify: bool,
    topic: Option<String>,
    follow: bool,
    timeout: Option<std::time::Duration>,
    again: Option<OsString>,
    after: Option<String>,
    after_ok: Option<String>,
    /// The queue, and whether its last job must have succeeded.
    queue: Option<(String, bool)>,
}

/// The options, and the command (everything from the first word that is
/// not an option). `-n WORD` takes WORD as its topic when more words follow
/// it and `runnable` says it names nothing that could run.
fn parse(
    words: Vec<OsString>,
    runnable: impl Fn(&OsStr) -> bool,
) -> Result<Option<(Options, Vec<OsString>)>> {
    let is_topic = |rest: &[OsString]| {
        rest.len() >= 2 && !rest[0].as_bytes().starts_with(b"-") && !runnable(&rest[0])
    };
    let p = crate::args::parse(words, OPTIONS, "run", Operands::EndOptions, is_topic)?;
    if p.flag("help") {
        crate::error::say!("{HELP}");
        return Ok(None);
    }
    if let Some(shell) = p.value("completions", |s| Some(s.to_string()))? {
        let script = crate::completions::script(&shell).ok_or_else(|| {
            Error::usage(format!(
                "no completions for {}: use bash, zsh or fish",
                crate::quote::shell_quote(shell.as_bytes())
            ))
        })?;
        crate::error::said(std::io::Write::write_all(
            &mut std::io::stdout(),
            script.as_bytes(),
        ));
        return Ok(None);
    }
    if p.flag("version") {
        let env = if cfg!(target_env = "musl") {
            "-musl"
        } else if cfg!(target_env = "gnu") {
            "-gnu"
        } else {
            ""
        };
        let https = if cfg!(feature = "tls") {
            "with HTTPS (rustls, ring)"
        } else {
            "without HTTPS"
        };
        crate::error::say!(
            "run {} ({}-{}{env}, {https})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
        );
        return Ok(None);
    }
    let topic = match (p.value("topic", |s| Some(s.to_string()))?, p.os("notify")) {
        (Some(topic), _) => Some(topic),
        (None, Some(word)) => Some(
            word.to_str()
                .map(str::to_string)
                .ok_or_else(|| Error::usage("the topic is not UTF-8"))?,
        ),
        (None, None) => None,
    };
    let options = Options {
        quiet: p.flag("quiet"),
        link: p.flag("link"),
        notify: p.flag("notify"),
        follow: p.flag("follow"),
        topic,
        name: p.os("name").map(OsStr::to_owned),
        again: p.os("again").map(OsStr::to_owned),
        after: p.value("after", |s| Some(s.to_string()))?,
        after_ok: p.value("after-ok", |s| Some(s.to_string()))?,
        queue: match (p.os("queue"), p.os("queue-ok")) {
            (Some(_), Some(_)) => return Err(Error::usage("give --queue or --queue-ok, not both")),
            (Some(name), None) => Some((queue_name(name)?, false)),
            (None, Some(name)) => Some((queue_name(name)?, true)),
            (None, None) => None,
        },
        timeout: p.value("timeout", |s| {
            crate::time::parse_duration(s).filter(|d| !d.is_zero())
        })?,
    };
    Ok(Some((options, p.operands)))
}

pub fn main(args: Vec<OsString>) -> Result<i32> {
    // The topic rule for `run -n WORD ...`: WORD is a topic, not the
    // command, when it names nothing that could run.
    let runnable = |word: &OsStr| crate::spawn::resolve(&[word.to_owned()]).is_ok();
    let Some((mut options, mut command)) = parse(args, runnable)? else {
        return Ok(code::OK);
    };
    if options.link {
        return link(&command);
    }
    if let Some(reference) = options.again.take() {
        if !command.is_empty() {
            return Err(Error::usage("--again takes no command: it runs JOB's"));
        }
        command = again(&reference, &mut options)?;
    }
    let mut topic = options.topic.clone();
    if options.notify && topic.is_none() {
        topic = std::env::var("NTFY_TOPIC").ok().filter(|t| !t.is_empty());
        if topic.is_none() {
            return Err(Error::usage(
                "-n needs a topic: set NTFY_TOPIC or use --topic TOPIC",
            ));
        }
    }
    let Some(program) = command.first() else {
        return Err(Error::usage("no command given (see run --help)"));
    };
    if program.is_empty() {
        return Err(Error::usage("the command is an empty string"));
    }
    let name = match &options.name {
        Some(raw) => naming::from_user(raw).map_err(Error::usage)?,
        None => naming::derive(&command),
    };
    let notify = match &topic {
        Some(topic) => Some(crate::notify::target(topic).map_err(Error::usage)?),
        None => None,
    };
    // Checked before anything is made: a command that cannot run leaves
    // nothing behind.
    let file = crate::spawn::resolve(&command)?;
    // Resolved before the store is made, so that a reference to nothing
    // leaves no state directory behind either.
    let waits = options.after.is_some() || options.after_ok.is_some();
    let existing = if waits { Store::existing()? } else { None };
    let mut after = waited_for(existing.as_ref(), options.after.as_deref())?;
    let mut after_ok = waited_for(existing.as_ref(), options.after_ok.as_deref())?;
    let store = Store::open()?;
    // The queue stays locked until the supervisor has written this job's
    // id into it: the next job of the queue waits for this one.
    let queue = match &options.queue {
        Some((queue, ok)) => {
            let (file, last) = store.lock_queue(queue).map_err(|e| {
                Error::io(
                    "cannot lock the queue",
                    &store.dir().join(format!(".queue-{queue}")),
                    e,
                )
            })?;
            let before = match last {
                Some(id) if matches!(crate::jobs::find(&store, &id), Ok(Some(_))) => vec![id],
                // Its last job was removed: whatever of the queue is still
                // to end came before this one.
                Some(_) => crate::jobs::list(Some(&store), |s| !s.is_finished())?
                    .into_iter()
                    .filter(|j| j.record.queue.as_ref() == Some(queue))
                    .map(|j| j.record.id)
                    .collect(),
                None => Vec::new(),
            };
            if *ok { &mut after_ok } else { &mut after }.extend(before);
            Some(file)
        }
        None => None,
    };
    let now = SystemTime::now();
    let local = crate::time::local(now);
    let cwd = std::env::current_dir()
        .ok()
        .or_else(crate::sys::removed_cwd)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = crate::sys::hostname().unwrap_or_default();
    let header = format!(
        "$ {}\nStarted: {}\nHost: {}\nDir: {}\n---\n",
        shell_join(&command),
        crate::time::human(&local),
        escape(&host),
        escape(&cwd),
    );
    let base = format!("{name}_{}", crate::time::id_stamp(&local));
    let (temp, log) = store.create_temp_log(header.as_bytes())?;
    let command_words = command.iter().map(|a| a.to_string_lossy().into_owned());
    let started = crate::time::unix_seconds(now);
    let record = Record {
        since_boot: crate::sys::boot_clock(),
        boot_id: crate::sys::boot_id(),
        pid_ns: crate::sys::pid_namespace(),
        cwd,
        host,
        topic: notify.as_ref().map(|t| t.url.clone()),
        timeout: options.timeout.map(|d| d.as_secs_f64()),
        queue: options.queue.as_ref().map(|(queue, _)| queue.clone()),
        after,
        after_ok,
        // The id, and with it the log's path, is chosen by the supervisor.
        ..Record::new(String::new(), name, command_words.collect(), started)
    };
    let launch = crate::spawn::Launch {
        temp,
        log,
        base,
        header_len: header.len() as u64,
        record,
        command,
        file,
        notify,
        queue,
    };
    let record = crate::spawn::start(&store, launch)?;
    // The start line names where the notification will go, so that a typo
    // in a topic shows before anything is published.
    let target = match &record.topic {
        Some(url) => format!("\nnotify: {}", escape(url)),
        None => String::new(),
    };
    let started = match record.pid {
        Some(pid) => format!("started {} (pid {pid})", record.id),
        None => {
            let ids = record.after.iter().chain(&record.after_ok);
            let ids: Vec<String> = ids.map(|id| escape(id)).collect();
            format!("waiting {} (after {})", record.id, ids.join(", "))
        }
    };
    // Written straight to stdout, past std's buffer: if it cannot be, the
    // job runs all the same, so stderr names it instead.
    let line = if options.quiet {
        format!("{}\n", record.id)
    } else if options.follow {
        // The log follows on stdout; what run says goes to stderr.
        crate::error::tell!("{started}{target}");
        String::new()
    } else {
        format!("{started}\nlog: {}{target}\n", escape(&record.log))
    };
    if let Err(e) = crate::sys::write_raw(std::io::stdout().as_fd(), line.as_bytes())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let why = crate::error::describe(&e);
        crate::error::tell!(
            "run: started {}, but cannot print its id: {why}",
            escape(&record.id)
        );
    }
    if options.follow {
        // Follow as runlog does; Ctrl+C stops following, not the job.
        crate::sys::exit_130_on_interrupt();
        let job = crate::jobs::Job {
            record,
            status: Status::Running,
            legacy: false,
            recorded: true,
        };
        return crate::follow::show(&store, &job, None, true);
    }
    Ok(code::OK)
}

/// A queue's name, by the rule for job names.
fn queue_name(raw: &OsStr) -> Result<String> {
    naming::from_user(raw).map_err(|e| Error::usage(e.replace("name", "queue name")))
}

/// The ids of the jobs `list` names (comma-separated), each resolved as
/// runlog resolves a reference. A job of the original shell version that
/// still runs cannot be waited for: it leaves no end to read; nor one of
/// another machine that this one cannot see.
fn waited_for(store: Option<&Store>, list: Option<&str>) -> Result<Vec<String>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let references: Vec<OsString> = list.split(',').map(OsString::from).collect();
    let mut ids = Vec::new();
    for job in crate::jobs::select(store, &references)? {
        if !job.recorded && !job.status.is_finished() {
            return Err(Error::new(
                code::FAILURE,
                format!(
                    "cannot wait for {}: it has no record to say when it ends",
                    escape(job.id())
                ),
            ));
        }
        if job.elsewhere() {
            // Its end may come (the state directory is shared) or never:
            // this machine cannot tell which, nor when.
            return Err(Error::new(
                code::FAILURE,
                format!("cannot wait for {}: {}", escape(job.id()), job.ending()),
            ));
        }
        ids.push(job.record.id);
    }
    Ok(ids)
}

/// `run --again JOB`: JOB's command, with its name, notification target and
/// timeout where `options` give none, from JOB's directory, which becomes
/// the current one.
fn again(reference: &OsStr, options: &mut Options) -> Result<Vec<OsString>> {
    let store = Store::existing()?;
    let job = crate::jobs::select(store.as_ref(), &[reference.to_owned()])?.remove(0);
    let cannot = |why: &str| {
        Error::new(
            code::FAILURE,
            format!("cannot run {} again: {why}", escape(job.id())),
        )
    };
    if !job.recorded {
        return Err(cannot("it has no record of its command"));
    }
    let record = job.record.clone();
    // A record keeps the command and directory as UTF-8, with U+FFFD for
    // other bytes.
    if record.command.iter().any(|word| word.contains('\u{FFFD}')) {
        return Err(cannot(
            "its command line was not UTF-8, so the record does not hold it exactly",
        ));
    }
    if record.cwd.contains('\u{FFFD}') {
        return Err(cannot(
            "its directory's name was not UTF-8, so the record does not hold it exactly",
        ));
    }
    // `run` records only commands, names, absolute directories and
    // timeouts it accepts: a record that says otherwise was damaged,
    // and is no recipe to follow.
    if record.command.first().is_none_or(String::is_empty) {
        return Err(cannot("its record holds no command"));
    }
    if options.name.is_none() && naming::from_user(record.name.as_ref()).is_err() {
        return Err(cannot("its record's name is not one run gives"));
    }
    if !Path::new(&record.cwd).is_absolute() {
        return Err(cannot("its record holds no absolute directory"));
    }
    let timeout = match record.timeout {
        None => None,
        Some(t) => match crate::time::seconds(t).filter(|_| t > 0.0) {
            Some(limit) => Some(limit),
            None => return Err(cannot("its record's timeout is not a duration")),
        },
    };
    std::env::set_current_dir(&record.cwd).map_err(|e| {
        Error::io(
            "cannot enter the job's directory",
            Path::new(&record.cwd),
            e,
        )
    })?;
    options.name.get_or_insert_with(|| record.name.into());
    if !options.notify && options.topic.is_none() {
        options.topic = record.topic;
    }
    options.timeout = options.timeout.or(timeout);
    Ok(record.command.into_iter().map(OsString::from).collect())
}

/// `run --link [DIR]`: make the other names symlinks to this binary.
fn link(rest: &[OsString]) -> Result<i32> {
    if rest.len() > 1 {
        return Err(Error::usage("--link takes at most one directory"));
    }
    let exe = std::env::current_exe().map_err(|e| {
        Error::new(
            code::FAILURE,
            format!("cannot find this binary: {}", crate::error::describe(&e)),
        )
    })?;
    let inode = |m: std::fs::Metadata| (m.dev(), m.ino());
    let this = std::fs::metadata(&exe).map(inode).ok();
    let is_this = |path: &Path| this.is_some() && std::fs::metadata(path).map(inode).ok() == this;
    let dir = match rest.first() {
        Some(dir) => PathBuf::from(dir),
        None => invoked_dir(&exe, is_this),
    };
    // DIR/run is this very binary (not a link to it) when DIR is its own
    // directory, however DIR is spelled (`.`, a relative path).
    let mut names: Vec<&str> = OTHER_NAMES.to_vec();
    let own = std::fs::symlink_metadata(dir.join("run")).map(inode).ok();
    if own.is_none() || own != this {
        names.insert(0, "run");
    }
    // A link to this binary, however it is spelled (relative, through
    // other links).
    let linked = |path: &Path| {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) && is_this(path)
    };
    // Every name in the way is told at once, and then none is made.
    let taken: Vec<String> = names
        .iter()
        .map(|name| dir.join(name))
        .filter(|path| !linked(path) && std::fs::symlink_metadata(path).is_ok())
        .map(|path| escape(&path.to_string_lossy()))
        .collect();
    if !taken.is_empty() {
        let (is, them) = match taken.len() {
            1 => ("exists and is not a link", "it"),
            _ => ("exist and are not links", "them"),
        };
        return Err(Error::new(
            code::FAILURE,
            format!(
                "{} {is} to {}; remove {them} or pick another DIR (nothing was linked)",
                taken.join(", "),
                escape(&exe.to_string_lossy())
            ),
        ));
    }
    // Where DIR/run is a link to this binary (to a versioned file), the
    // others link to it, so that they follow it to the next version.
    let target = match linked(&dir.join("run")) {
        true => PathBuf::from("run"),
        false => exe.clone(),
    };
    for name in names {
        let path = dir.join(name);
        let shown = escape(&path.to_string_lossy());
        if linked(&path) {
            crate::error::say!("{shown}: already linked");
            continue;
        }
        std::os::unix::fs::symlink(&target, &path).map_err(|e| {
            let mut err = Error::io("cannot create link", &path, e);
            err.message
                .push_str(" (name a writable directory: run --link DIR)");
            err
        })?;
        crate::error::say!("{shown} -> {}", escape(&target.to_string_lossy()));
    }
    // The first hour: links that no shell will find.
    let dir_id = std::fs::metadata(&dir).map(inode).ok();
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|p| std::fs::metadata(p).map(inode).ok() == dir_id) {
        crate::error::tell!(
            "run: {} is not on PATH; add it there to call runs, runlog, runrm, runkill and runwait by name",
            escape(&dir.to_string_lossy())
        );
    }
    Ok(code::OK)
}

/// Where `--link` puts the other names by default: beside the name this
/// binary was run by (argv[0]'s directory if it has a `/`, else the first
/// PATH entry where that name is this binary), not beside the file itself:
/// `run` may be a link to a versioned file kept off PATH.
fn invoked_dir(exe: &Path, is_this: impl Fn(&Path) -> bool) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let real = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let Some(arg0) = std::env::args_os().next().map(PathBuf::from) else {
        return real;
    };
    if arg0.as_os_str().as_bytes().contains(&b'/') {
        return arg0.parent().map(Path::to_path_buf).unwrap_or(real);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| is_this(&dir.join(&arg0)))
        .unwrap_or(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<OsString> {
        args.iter().map(Into::into).collect()
    }

    /// The options and command, with `make`, `true` and `./build.sh`
    /// runnable.
    fn split(args: &[&str]) -> (Options, Vec<OsString>) {
        let runnable = |w: &OsStr| ["make", "true", "./build.sh"].iter().any(|r| w == *r);
        parse(words(args), runnable).unwrap().unwrap()
    }

    #[test]
    fn the_topic_rule_decides_what_follows_dash_n() {
        let (o, command) = split(&["-n", "make", "all"]);
        assert!(o.notify && o.topic.is_none());
        assert_eq!(command, words(&["make", "all"]));
        let (o, command) = split(&["-n", "builds", "make", "all"]);
        assert_eq!(o.topic.as_deref(), Some("builds"));
        assert_eq!(command, words(&["make", "all"]));
        let (o, command) = split(&["-qn", "https://h/t", "--name", "x", "make"]);
        assert_eq!(o.topic.as_deref(), Some("https://h/t"));
        assert!(o.quiet && o.name.is_some());
        assert_eq!(command, words(&["make"]));
        // A lone word after -n is the command, whatever it is.
        let (o, command) = split(&["-n", "builds"]);
        assert!(o.topic.is_none());
        assert_eq!(command, words(&["builds"]));
        let (o, command) = split(&["-n", "./build.sh", "x"]);
        assert!(o.topic.is_none());
        assert_eq!(command, words(&["./build.sh", "x"]));
    }

    #[test]
    fn options_stop_at_the_command_or_at_double_dash() {
        let (o, command) = split(&["-q", "grep", "-n", "foo", "file"]);
        assert!(o.quiet && !o.notify);
        assert_eq!(command, words(&["grep", "-n", "foo", "file"]));
        let (o, command) = split(&["-q", "--", "-weird", "x"]);
        assert!(o.quiet);
        assert_eq!(command, words(&["-weird", "x"]));
        let (_, command) = split(&["--", "--"]);
        assert_eq!(command, words(&["--"]));
        let (_, command) = split(&["-", "x"]);
        assert_eq!(command, words(&["-", "x"]));
    }

    #[test]
    fn option_values_are_values_whatever_they_look_like() {
        for args in [
            &["--name", "-q", "make", "-j8"][..],
            &["-N", "-q", "make", "-j8"],
            &["-N-q", "make", "-j8"],
            &["--name=-q", "make", "-j8"],
        ] {
            let (o, command) = split(args);
            assert_eq!(o.name.as_deref(), Some(OsStr::new("-q")), "{args:?}");
            assert!(!o.quiet, "{args:?}");
            assert_eq!(command, words(&["make", "-j8"]));
        }
        let (o, command) = split(&["-qfN", "x", "true"]);
        assert!(o.quiet && o.follow && o.name.is_some());
        assert_eq!(command, words(&["true"]));
    }

    #[test]
    fn missing_value_and_no_command() {
        let runnable = |_: &OsStr| false;
        let err = parse(words(&["--name"]), runnable).err().unwrap();
        assert_eq!(err.message, "--name needs a name");
        let (_, command) = split(&[]);
        assert!(command.is_empty());
    }
}
