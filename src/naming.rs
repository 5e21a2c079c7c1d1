//! Job names: derived from the command line, or given with `--name`.
//!
//! Rule: a name is 1 to 40 of `[A-Za-z0-9._-]` and starts with neither a
//! dot nor a dash, so it is safe as a file name, never hidden, and never
//! read as an option. A derived name is made to fit; a `--name` that does
//! not fit is refused, never silently changed.

use std::ffi::{OsStr, OsString};
use std::path::Path;

const MAX_LEN: usize = 40;

/// Commands whose job is named after what they run, not after themselves.
const WRAPPERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "python",
    "python2",
    "python3",
    "pypy",
    "pypy3",
    "node",
    "deno",
    "bun",
    "ruby",
    "perl",
    "php",
    "env",
    "nice",
    "nohup",
    "time",
    "uv",
    "uvx",
    "npx",
    "exec",
    "stdbuf",
    "ionice",
    "chrt",
    "taskset",
    "caffeinate",
];

fn is_wrapper(base: &str) -> bool {
    WRAPPERS.contains(&base) || base.starts_with("python3.") || base.starts_with("python2.")
}

fn is_shell(base: &str) -> bool {
    matches!(base, "sh" | "bash" | "zsh" | "dash" | "ksh" | "fish")
}

fn basename(arg: &OsStr) -> String {
    let base = Path::new(arg).file_name().unwrap_or(arg);
    base.to_string_lossy().into_owned()
}

/// `build.sh` → `build`; a leading dot is not an extension.
fn strip_extension(base: &str) -> &str {
    match base.rfind('.') {
        Some(i) if i > 0 => &base[..i],
        _ => base,
    }
}

/// What a wrapper's short option letter is followed by: nothing, a value
/// (`bash -o pipefail`, `ionice -c 3`), code (`sh -c`, `python -c`,
/// `node -e`), or a module (`python -m`).
enum Follows {
    Nothing,
    Value,
    Code,
    Module,
}

fn option(base: &str, letter: u8) -> Follows {
    let python = base.starts_with("python") || base.starts_with("pypy");
    // Per wrapper: the letters that take a value, and those code follows.
    let (value, code) = match base {
        _ if is_shell(base) => ("oO", "c"),
        _ if python => ("WX", "c"),
        "node" | "deno" | "bun" => ("r", "ep"),
        "ruby" => ("r", "e"),
        "perl" => ("", "e"),
        "php" => ("", "r"),
        "env" => ("uC", ""),
        "nice" => ("n", ""),
        "ionice" => ("cnp", ""),
        "taskset" => ("c", ""),
        "time" => ("fo", ""),
        "stdbuf" => ("ioe", ""),
        "caffeinate" => ("tw", ""),
        "npx" => ("p", ""),
        _ => ("", ""),
    };
    match letter {
        b'm' if python => Follows::Module,
        _ if value.as_bytes().contains(&letter) => Follows::Value,
        _ if code.as_bytes().contains(&letter) => Follows::Code,
        _ => Follows::Nothing,
    }
}

/// The job name for `command`, before sanitizing. `python train.py` → `train`,
/// `python -m http.server` → `http.server`, `sh -c 'make all'` → `make`,
/// `bash -lc 'make all'` → `make`.
fn raw_name(command: &[OsString]) -> String {
    let mut i = 0;
    loop {
        let base = basename(&command[i]);
        if !is_wrapper(&base) {
            return strip_extension(&base).to_string();
        }
        // taskset's CPU mask comes before the command, unless -c gave a list.
        let mut mask = base == "taskset";
        let mut j = i + 1;
        'words: while let Some(arg) = command.get(j) {
            let text = arg.to_string_lossy();
            j += 1;
            match text.as_ref() {
                "--" => break,
                "run" if matches!(base.as_str(), "uv" | "deno" | "bun") => {}
                "--eval" | "--print" => return base,
                t if t.starts_with("--") => {}
                // A cluster of short options (`-lc`, `-uc`, `-c3`).
                t if t.starts_with('-') => {
                    for (k, &letter) in t.as_bytes().iter().enumerate().skip(1) {
                        // What follows the letter: the rest of the cluster,
                        // else the next word.
                        let rest = t.get(k + 1..).filter(|r| !r.is_empty());
                        let value = || match rest {
                            Some(rest) => Some(rest.to_string()),
                            None => command.get(j).map(|v| v.to_string_lossy().into_owned()),
                        };
                        match option(&base, letter) {
                            Follows::Nothing => {}
                            Follows::Value => {
                                mask &= !(base == "taskset" && letter == b'c');
                                j += usize::from(rest.is_none());
                                continue 'words;
                            }
                            Follows::Code if is_shell(&base) => {
                                return value().and_then(|v| shell_line_name(&v)).unwrap_or(base);
                            }
                            Follows::Code => return base,
                            Follows::Module => {
                                return value().map_or(base, |m| basename(m.as_ref()));
                            }
                        }
                    }
                }
                t if t.contains('=') || t.bytes().all(|b| b.is_ascii_digit()) => {}
                _ if std::mem::take(&mut mask) => {}
                _ => {
                    j -= 1;
                    break;
                }
            }
        }
        if j >= command.len() {
            return base;
        }
        i = j;
    }
}

/// Words a shell line starts commands with that name nothing a person
/// would recognise the job by: builtins and keywords (a `for` or `case`
/// header names no command either). A command whose first
/// word is one of these is skipped, except that the words after a keyword
/// or a prefix (`then make`, `exec python train.py`) are looked at.
const BUILTINS: &[&str] = &[
    "echo", "printf", "exit", "return", "cd", "export", "unset", "set", "shift", "true", "false",
    ":", ".", "source", "read", "test", "[", "[[", "trap", "wait", "umask", "ulimit", "alias",
    "local", "declare", "typeset", "readonly", "eval", "let", "pushd", "popd", "hash", "type",
    "sleep", "fi", "done", "esac", "}", "for", "select", "case", "function",
];
const PREFIXES: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "exec", "command", "time",
    "nohup", "builtin",
];

/// Whether `word` is a shell builtin, keyword or prefix word, which names
/// no program where it is not found on PATH.
pub fn is_shell_word(word: &[u8]) -> bool {
    BUILTINS
        .iter()
        .chain(PREFIXES)
        .any(|w| w.as_bytes() == word)
}

/// The name of a `sh -c` line: its first command that is not a builtin.
/// Redirections (`>log`, `2>&1`, `< in`, `&> out`) are not commands.
fn shell_line_name(code: &str) -> Option<String> {
    let code = code
        .replace(">&", ">")
        .replace("<&", "<")
        .replace("&>", ">");
    for command in code.split([';', '&', '|', '(', ')', '\n', '`']) {
        let mut words = Vec::new();
        let mut target = false;
        for word in command.split_whitespace() {
            let op = word.trim_start_matches(|c: char| c.is_ascii_digit());
            if std::mem::take(&mut target) {
                continue;
            } else if op.starts_with(['<', '>']) {
                // A bare operator's target is the next word.
                target = op.trim_start_matches(['<', '>']).is_empty();
            } else {
                words.push(word.trim_matches(['"', '\'']));
            }
        }
        let mut k = 0;
        while k < words.len() && (PREFIXES.contains(&words[k]) || is_assignment(words[k])) {
            k += 1;
        }
        // `conda activate ENV` sets up, as `source` does.
        let activates = matches!(words.get(k + 1), Some(&("activate" | "deactivate")))
            && matches!(words[k], "conda" | "mamba" | "micromamba");
        match words.get(k) {
            None => continue,
            Some(word) if BUILTINS.contains(word) || word.starts_with('$') || activates => continue,
            Some(_) => {
                let rest: Vec<OsString> = words[k..].iter().map(OsString::from).collect();
                return Some(raw_name(&rest));
            }
        }
    }
    None
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Keep only `[A-Za-z0-9._-]`, drop leading dots and dashes, cut to 40.
pub fn sanitize(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    kept.trim_start_matches(['.', '-'])
        .chars()
        .take(MAX_LEN)
        .collect()
}

/// The name of a job running `command` (never empty: `job` as a last resort).
pub fn derive(command: &[OsString]) -> String {
    let name = sanitize(&raw_name(command));
    if name.is_empty() {
        "job".to_string()
    } else {
        name
    }
}

/// Check a name given with `--name`: it must already follow the rule.
pub fn from_user(raw: &OsStr) -> Result<String, String> {
    let text = raw.to_string_lossy();
    if raw
        .to_str()
        .is_some_and(|t| !t.is_empty() && sanitize(t) == t)
    {
        return Ok(text.into_owned());
    }
    Err(format!(
        "invalid --name {}: a name is 1 to 40 of A-Z a-z 0-9 . _ - and starts with neither . nor -",
        crate::quote::shell_quote(text.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(Into::into).collect();
        derive(&args)
    }

    #[test]
    fn basename_without_extension() {
        assert_eq!(name(&["./build.sh"]), "build");
        assert_eq!(name(&["make", "-j8"]), "make");
        assert_eq!(name(&["/usr/bin/rsync", "-a", "x", "y"]), "rsync");
        assert_eq!(name(&["archive.tar.gz"]), "archive.tar");
    }

    #[test]
    fn interpreters_are_named_after_their_script() {
        assert_eq!(name(&["python", "train.py", "--epochs", "100"]), "train");
        assert_eq!(name(&["python3.12", "-u", "train.py"]), "train");
        assert_eq!(name(&["python", "-m", "http.server"]), "http.server");
        assert_eq!(name(&["bash", "-x", "./deploy.sh"]), "deploy");
        assert_eq!(name(&["sh", "-c", "make -j8 all"]), "make");
        assert_eq!(name(&["python", "-c", "print(1)"]), "python");
        assert_eq!(name(&["node", "server.js"]), "server");
        assert_eq!(name(&["uv", "run", "train.py"]), "train");
    }

    #[test]
    fn wrappers_nest() {
        assert_eq!(name(&["env", "A=1", "python", "x.py"]), "x");
        assert_eq!(name(&["env", "-u", "NTFY_TOKEN", "make"]), "make");
        assert_eq!(name(&["nice", "-n", "10", "nohup", "./job.sh"]), "job");
        assert_eq!(name(&["time", "make"]), "make");
    }

    #[test]
    fn a_wrappers_options_and_their_values_are_not_the_command() {
        assert_eq!(name(&["bash", "-lc", "make -v"]), "make");
        assert_eq!(name(&["sh", "-ec", "cd /src && ./build.sh"]), "build");
        assert_eq!(
            name(&["bash", "-o", "pipefail", "-c", "make | tee x"]),
            "make"
        );
        assert_eq!(
            name(&["bash", "-lc", "conda activate ml && python train.py"]),
            "train"
        );
        assert_eq!(name(&["bash", "-e", "./deploy.sh"]), "deploy");
        assert_eq!(name(&["python3", "-W", "ignore", "train.py"]), "train");
        assert_eq!(
            name(&["python3", "-X", "importtime", "-c", "pass"]),
            "python3"
        );
        assert_eq!(name(&["python3", "-uc", "import x"]), "python3");
        assert_eq!(name(&["python3", "-um", "http.server"]), "http.server");
        assert_eq!(name(&["python", "-mhttp.server"]), "http.server");
        assert_eq!(name(&["perl", "-pe", "s/a/b/", "f"]), "perl");
        assert_eq!(name(&["perl", "-p", "fix.pl", "f"]), "fix");
        assert_eq!(name(&["node", "-p", "1+1"]), "node");
        assert_eq!(name(&["ionice", "-c", "3", "make"]), "make");
        assert_eq!(name(&["ionice", "-c3", "nice", "-n19", "make"]), "make");
        assert_eq!(name(&["taskset", "-c", "0-3", "make"]), "make");
        assert_eq!(name(&["taskset", "0x3", "make"]), "make");
        assert_eq!(name(&["stdbuf", "-o", "L", "./job.sh"]), "job");
        assert_eq!(name(&["time", "-o", "t.txt", "make"]), "make");
        assert_eq!(name(&["env", "--", "make"]), "make");
        assert_eq!(name(&["sh", "-", "x"]), "x");
        assert_eq!(name(&["sh", "-éc", "make"]), "make");
    }

    #[test]
    fn wrapper_alone_is_its_own_name() {
        assert_eq!(name(&["bash"]), "bash");
        assert_eq!(name(&["bash", "-l"]), "bash");
    }

    #[test]
    fn shell_lines_are_named_after_their_first_real_command() {
        assert_eq!(name(&["sh", "-c", "echo hi"]), "sh");
        assert_eq!(name(&["sh", "-c", "echo start; make all"]), "make");
        assert_eq!(name(&["bash", "-c", "cd /src && ./build.sh"]), "build");
        assert_eq!(
            name(&["sh", "-c", "export X=1; exec python3 train.py"]),
            "train"
        );
        assert_eq!(name(&["sh", "-c", "X=1 Y=2 make -j8"]), "make");
        assert_eq!(
            name(&["sh", "-c", "if true; then cargo build; fi"]),
            "cargo"
        );
        assert_eq!(name(&["sh", "-c", "exit 2"]), "sh");
        assert_eq!(
            name(&["sh", "-c", "set -e\n\"./deploy.sh\" prod"]),
            "deploy"
        );
        assert_eq!(name(&["sh", "-c", "$CMD"]), "sh");
        assert_eq!(name(&["sh", "-c", "echo out; echo err >&2; exit 3"]), "sh");
        assert_eq!(name(&["sh", "-c", "exec >log 2>&1; make all"]), "make");
        assert_eq!(
            name(&["sh", "-c", "exec > log 2> err\n./build.sh"]),
            "build"
        );
        assert_eq!(name(&["bash", "-c", ">out 2>&1 make &> log"]), "make");
        assert_eq!(name(&["sh", "-c", "< in sort | uniq"]), "sort");
        assert_eq!(name(&["sh", "-c", ""]), "sh");
        assert_eq!(
            name(&["sh", "-c", "for f in *.c; do gcc -c $f; done"]),
            "gcc"
        );
        assert_eq!(
            name(&["sh", "-c", "for i in 1 2 3; do echo $i; done"]),
            "sh"
        );
        assert_eq!(name(&["bash", "-c", "case $1 in b) make;; esac"]), "make");
    }

    #[test]
    fn sanitizing_keeps_safe_characters_only() {
        assert_eq!(sanitize("my build!"), "mybuild");
        assert_eq!(sanitize("..hidden"), "hidden");
        assert_eq!(sanitize(&"x".repeat(60)).len(), 40);
        assert_eq!(name(&["$$$"]), "job");
    }

    #[test]
    fn user_names_are_checked() {
        assert_eq!(from_user(OsStr::new("nightly-1")).unwrap(), "nightly-1");
        assert!(from_user(OsStr::new("")).is_err());
        assert!(from_user(OsStr::new("..")).is_err());
        assert!(from_user(OsStr::new("a/b")).is_err());
        assert!(from_user(OsStr::new("!!!")).is_err());
        assert!(from_user(OsStr::new("-x")).is_err());
        assert!(from_user(OsStr::new("héllo wörld")).is_err());
        assert!(from_user(OsStr::new(&"x".repeat(41))).is_err());
        assert_eq!(from_user(OsStr::new(&"x".repeat(40))).unwrap().len(), 40);
        assert_eq!(sanitize("--x"), "x");
    }
}
