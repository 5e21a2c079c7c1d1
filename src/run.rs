//! `run [OPTIONS] [--] COMMAND [ARGS...]`: start a job, and `run --link`.
//!
//! Rule: options end at the first argument that is not an option, or at
//! `--`; everything after belongs to the command, unchanged, and only the part
//! before it is given to pico-args.

use crate::error::{Error, Result, code};
use crate::naming;
use crate::quote::{escape, shell_join};
use crate::record::{Record, Status};
use crate::store::Store;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const HELP: &str = "\
run - start a command in the background; it outlives the terminal

Usage: run [OPTIONS] [--] COMMAND [ARGS...]
       run -n [TOPIC] COMMAND [ARGS...]
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
  -t, --topic TOPIC notify TOPIC (implies -n; never ambiguous). TOPIC is a
                    name (on default-host from the ntfy CLI's client.yml,
                    else https://ntfy.sh), host/topic, or an http(s) URL.
                    Credentials: NTFY_TOKEN, else NTFY_USER=user:pass, else
                    default-token or default-user/-password in client.yml
      --link [DIR]  create the runs, runlog, runrm, runkill and runwait
                    links to this binary, beside it or in DIR
      --completions SHELL  print completions for bash, zsh or fish:
                    source <(run --completions bash)
  -h, --help        show this help
  -V, --version     show the version

Each job gets ID.log (header, output, footer), ID.pid and ID.json in the
state directory: $RUN_DIR (a relative path is taken from the current
directory), else $XDG_DATA_HOME/run, else ~/.local/share/run. It must belong
to you and not be writable by others (fix with: chmod 700 DIR).

Exit status: 0 started; 1 could not record the job; 2 bad usage;
126 command not executable; 127 command not found.";

/// The names this binary answers to, besides `run`.
pub const OTHER_NAMES: &[&str] = &["runs", "runlog", "runrm", "runkill", "runwait"];

/// `run`'s options that take a value; the splitter must skip those values.
const VALUE_OPTIONS: &[&[u8]] = &[b"-N", b"--name", b"-t", b"--topic", b"--completions"];

/// Split `args` (without argv[0]) into options and the command. `-n WORD`
/// becomes `--topic WORD` when WORD is a topic by the topic rule: more words
/// follow it, and `runnable` says it names nothing that could run.
fn split(
    mut args: Vec<OsString>,
    runnable: impl Fn(&OsStr) -> bool,
) -> (Vec<OsString>, Vec<OsString>) {
    let mut i = 0;
    while let Some(arg) = args.get(i).map(|a| a.as_bytes()) {
        if arg == b"--" {
            let command = args.split_off(i + 1);
            args.pop();
            return (args, command);
        }
        if !arg.starts_with(b"-") || arg == b"-" {
            break;
        }
        if (arg == b"-n" || arg == b"--notify")
            && i + 2 < args.len()
            && !args[i + 1].as_bytes().starts_with(b"-")
            && !runnable(&args[i + 1])
        {
            args[i] = "--topic".into();
            i += 2;
            continue;
        }
        i += if VALUE_OPTIONS.contains(&arg) { 2 } else { 1 };
    }
    let command = args.split_off(i.min(args.len()));
    (args, command)
}

struct Options {
    name: Option<OsString>,
    quiet: bool,
    link: bool,
    notify: bool,
    topic: Option<String>,
    follow: bool,
}

fn parse(head: Vec<OsString>) -> Result<Option<Options>> {
    let mut p = pico_args::Arguments::from_vec(head);
    if p.contains(["-h", "--help"]) {
        println!("{HELP}");
        return Ok(None);
    }
    if let Some(shell) = p
        .opt_value_from_str::<_, String>("--completions")
        .map_err(|_| Error::usage("--completions needs bash, zsh or fish"))?
    {
        let script = crate::completions::script(&shell).ok_or_else(|| {
            Error::usage(format!(
                "no completions for {}: use bash, zsh or fish",
                crate::quote::shell_quote(shell.as_bytes())
            ))
        })?;
        print!("{script}");
        return Ok(None);
    }
    if p.contains(["-V", "--version"]) {
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
        println!(
            "run {} ({}-{}{env}, {https})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
        );
        return Ok(None);
    }
    let options = Options {
        quiet: p.contains(["-q", "--quiet"]),
        link: p.contains("--link"),
        notify: p.contains(["-n", "--notify"]),
        follow: p.contains(["-f", "--follow"]),
        topic: p
            .opt_value_from_str(["-t", "--topic"])
            .map_err(|_| Error::usage("--topic needs a topic"))?,
        name: p
            .opt_value_from_os_str(["-N", "--name"], |s| Ok::<_, String>(s.to_owned()))
            .map_err(|_| Error::usage("--name needs a value"))?,
    };
    if let Some(unknown) = p.finish().first() {
        let shown = crate::quote::shell_quote(unknown.as_bytes());
        return Err(Error::usage(format!(
            "unknown option {shown} (see run --help)"
        )));
    }
    Ok(Some(options))
}

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let (head, command) = split(args, crate::notify::is_runnable);
    let Some(options) = parse(head)? else {
        return Ok(code::OK);
    };
    if options.link {
        return link(&command);
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
    let store = Store::open()?;
    let now = SystemTime::now();
    let local = crate::time::local(now);
    let cwd = std::env::current_dir()
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
    let record = Record {
        // The id, and with it the log's path, is chosen by the supervisor.
        id: String::new(),
        log: String::new(),
        name,
        command: command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        cwd,
        host,
        pid: None,
        pgid: None,
        sid: None,
        started: crate::time::unix_seconds(now),
        ended: None,
        duration: None,
        exit_code: None,
        signal: None,
        status: Status::Running,
        topic: notify.as_ref().map(|t| t.url.clone()),
    };
    let launch = crate::spawn::Launch {
        temp,
        log,
        base,
        header_len: header.len() as u64,
        record,
        command,
        notify,
    };
    let record = crate::spawn::start(&store, launch)?;
    // The start line names where the notification will go, so that a typo
    // in a topic shows before anything is published.
    let target = match &record.topic {
        Some(url) => format!("\nnotify: {}", escape(url)),
        None => String::new(),
    };
    let started = format!("started {} (pid {})", record.id, record.pid.unwrap_or(0));
    let mut out = std::io::stdout().lock();
    let _ = if options.quiet {
        writeln!(out, "{}", record.id)
    } else if options.follow {
        // The log follows on stdout; what run says goes to stderr.
        writeln!(std::io::stderr(), "{started}{target}")
    } else {
        writeln!(out, "{started}\nlog: {}{target}", escape(&record.log))
    };
    drop(out);
    if options.follow {
        // Follow as runlog does; Ctrl+C stops following, not the job.
        crate::sys::exit_130_on_interrupt();
        let job = crate::jobs::Job {
            record,
            status: Status::Running,
            legacy: false,
            recorded: true,
        };
        return crate::runlog::show(&store, &job, None, true);
    }
    Ok(code::OK)
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
    let dir = match rest.first() {
        Some(dir) => PathBuf::from(dir),
        None => exe.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut names: Vec<&str> = OTHER_NAMES.to_vec();
    if dir.join("run") != exe {
        names.insert(0, "run");
    }
    for name in names {
        let path = dir.join(name);
        let shown = escape(&path.to_string_lossy());
        if std::fs::read_link(&path).is_ok_and(|target| target == exe) {
            println!("{shown}: already linked");
            continue;
        }
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(Error::new(
                code::FAILURE,
                format!(
                    "{shown} exists and is not a link to {}; remove it or pick another DIR",
                    escape(&exe.to_string_lossy())
                ),
            ));
        }
        std::os::unix::fs::symlink(&exe, &path).map_err(|e| {
            let mut err = Error::io("cannot create link", &path, e);
            err.message
                .push_str(" (name a writable directory: run --link DIR)");
            err
        })?;
        println!("{shown} -> {}", escape(&exe.to_string_lossy()));
    }
    Ok(code::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<OsString> {
        args.iter().map(Into::into).collect()
    }

    /// The splitter with `make`, `true` and `./build.sh` runnable.
    fn split(args: Vec<OsString>) -> (Vec<OsString>, Vec<OsString>) {
        super::split(args, |w| {
            ["make", "true", "./build.sh"].iter().any(|r| w == *r)
        })
    }

    #[test]
    fn the_topic_rule_decides_what_follows_dash_n() {
        let (head, command) = split(words(&["-n", "make", "all"]));
        assert_eq!((head, command), (words(&["-n"]), words(&["make", "all"])));
        let (head, command) = split(words(&["-n", "builds", "make", "all"]));
        assert_eq!(
            (head, command),
            (words(&["--topic", "builds"]), words(&["make", "all"]))
        );
        let (head, command) = split(words(&["-n", "https://h/t", "--name", "x", "make"]));
        assert_eq!(
            (head, command),
            (
                words(&["--topic", "https://h/t", "--name", "x"]),
                words(&["make"])
            )
        );
        // A lone word after -n is the command, whatever it is.
        let (head, command) = split(words(&["-n", "builds"]));
        assert_eq!((head, command), (words(&["-n"]), words(&["builds"])));
        let (head, command) = split(words(&["-n", "./build.sh", "x"]));
        assert_eq!(
            (head, command),
            (words(&["-n"]), words(&["./build.sh", "x"]))
        );
    }

    #[test]
    fn options_stop_at_the_command() {
        let (head, command) = split(words(&["-q", "grep", "-n", "foo", "file"]));
        assert_eq!(head, words(&["-q"]));
        assert_eq!(command, words(&["grep", "-n", "foo", "file"]));
    }

    #[test]
    fn double_dash_ends_options_and_is_dropped() {
        let (head, command) = split(words(&["-q", "--", "-weird", "x"]));
        assert_eq!(head, words(&["-q"]));
        assert_eq!(command, words(&["-weird", "x"]));
        let (head, command) = split(words(&["--", "--"]));
        assert!(head.is_empty());
        assert_eq!(command, words(&["--"]));
    }

    #[test]
    fn option_values_are_skipped() {
        let (head, command) = split(words(&["--name", "nightly", "make", "-j8"]));
        assert_eq!(head, words(&["--name", "nightly"]));
        assert_eq!(command, words(&["make", "-j8"]));
        let (head, command) = split(words(&["-N", "-q", "make"]));
        assert_eq!(head, words(&["-N", "-q"]));
        assert_eq!(command, words(&["make"]));
        let (head, command) = split(words(&["--name=x", "make"]));
        assert_eq!(head, words(&["--name=x"]));
        assert_eq!(command, words(&["make"]));
    }

    #[test]
    fn missing_value_and_no_command() {
        let (head, command) = split(words(&["--name"]));
        assert_eq!(head, words(&["--name"]));
        assert!(command.is_empty());
        assert!(split(Vec::new()).1.is_empty());
    }

    #[test]
    fn lone_dash_is_a_command_word() {
        let (head, command) = split(words(&["-", "x"]));
        assert!(head.is_empty());
        assert_eq!(command, words(&["-", "x"]));
    }
}
