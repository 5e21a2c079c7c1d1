//! Shell completion scripts, printed by `run --completions SHELL`.
//!
//! Rule: the options come from each command's own `OPTIONS` table, the one
//! its parser reads, so every option is offered and none that isn't there.
//! Job ids and names come from `runs --complete`, which reads only the
//! directory listing (with `-r`, the running jobs, for runkill), so a Tab
//! never waits on thousands of records.

use crate::args::{Opt, Takes};
use std::fmt::Write;

/// Each command, its options, and what its operands are: `None` for none,
/// else the `runs --complete` flags that list them.
const COMMANDS: &[(&str, &[Opt], Option<&str>)] = &[
    ("runs", crate::runs::OPTIONS, Some("")),
    ("runlog", crate::runlog::OPTIONS, Some("")),
    ("runrm", crate::runrm::OPTIONS, Some("")),
    ("runkill", crate::runkill::OPTIONS, Some(" -r")),
    ("runwait", crate::runwait::OPTIONS, Some(" -r")),
];

/// The words an option's value can be, where they are few.
fn choices(opt: &Opt) -> &'static str {
    match opt.long {
        "completions" => "bash zsh fish",
        "signal" => "TERM INT HUP KILL QUIT USR1 USR2 STOP CONT",
        _ => "",
    }
}

fn offered(opts: &[Opt]) -> impl Iterator<Item = &Opt> {
    opts.iter().filter(|o| !o.about.is_empty())
}

/// `-s --long` for each option (with `values`, only those taking one).
fn words(opts: &[Opt], values: bool) -> String {
    let mut out = Vec::new();
    let takes = |o: &Opt| matches!(o.takes, Takes::Value(_));
    for o in offered(opts).filter(|o| !values || takes(o)) {
        if o.short != 0 {
            out.push(format!("-{}", o.short as char));
        }
        out.push(format!("--{}", o.long));
    }
    out.join(" ")
}

fn bash() -> String {
    let run = crate::run::OPTIONS;
    let mut s = String::from(
        r#"# run completions for bash: source <(run --completions bash)
# Each name is a word as it is: compgen -W would expand it again (and run
# a planted `$(...)`), and an unquoted $(...) would glob it.
_run_jobs() {
    local cur=${COMP_WORDS[COMP_CWORD]} word
    COMPREPLY=()
    while IFS= read -r word; do
        [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
    done < <(runs --complete $1 2>/dev/null)
}
# $1 the options, $2 those taking a value, $3 `runs --complete` flags for
# the operands, or `none`.
_run_verb() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in -s|--signal) COMPREPLY=($(compgen -W "SIGNALS" -- "${cur^^}")); return 0 ;; esac
    case " $2 " in *" $prev "*) return 0 ;; esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$1" -- "$cur"))
    elif [[ $3 != none ]]; then
        _run_jobs "$3"
    fi
}
_run() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i
    case $prev in --completions) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return 0 ;; esac
    case " VALUES " in *" $prev "*) return 0 ;; esac
    # Once the command has begun, complete its words as files.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --) ((i++)); break ;;
            --*=*) ;;
            -*) case " VALUES " in *" ${COMP_WORDS[i]} "*) ((i++)) ;; esac ;;
            *) break ;;
        esac
    done
    if ((i < COMP_CWORD)); then
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "OPTIONS" -- "$cur"))
    else
        COMPREPLY=($(compgen -c -- "$cur"))
    fi
}
complete -F _run run
"#,
    )
    .replace("SIGNALS", choices(&crate::runkill::OPTIONS[0]))
    .replace("VALUES", &words(run, true))
    .replace("OPTIONS", &words(run, false));
    for (name, opts, operands) in COMMANDS {
        let operands = operands.map_or("none", str::trim);
        let (all, values) = (words(opts, false), words(opts, true));
        let _ = writeln!(
            s,
            "_{name}() {{ _run_verb \"{all}\" \"{values}\" \"{operands}\"; }}\ncomplete -F _{name} {name}"
        );
    }
    s
}

/// zsh `_arguments` specs for `opts`.
fn zsh_specs(opts: &[Opt]) -> String {
    let mut s = String::new();
    for o in offered(opts) {
        let names = match o.short {
            0 => format!("'--{}", o.long),
            c => format!("'(-{0} --{1})'{{-{0},--{1}}}'", c as char, o.long),
        };
        let value = match (o.takes, choices(o)) {
            (Takes::Value(_), "") => ":value:".to_string(),
            (Takes::Value(_), words) => format!(":value:({words})"),
            _ => String::new(),
        };
        let _ = write!(s, " \\\n        {names}[{}]{value}'", o.about);
    }
    s
}

fn zsh() -> String {
    let mut s = String::from(
        r#"# run completions for zsh: source <(run --completions zsh), after compinit
_run_jobs() {
    local -a jobs
    # _describe reads `word:description`: a colon in a name is quoted.
    jobs=(${${(f)"$(runs --complete $1 2>/dev/null)"}//:/\\:})
    _describe -t jobs 'job' jobs
}
_run_dispatch() {
    case $service in
"#,
    );
    let _ = writeln!(
        s,
        "        run) _arguments -s -S{} \\\n        '*::command:_normal' ;;",
        zsh_specs(crate::run::OPTIONS)
    );
    for (name, opts, operands) in COMMANDS {
        let operands = match operands {
            Some(flags) => format!(" \\\n        '*:job:{{_run_jobs{flags}}}'"),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "        {name}) _arguments -s -S{}{operands} ;;",
            zsh_specs(opts)
        );
    }
    s.push_str("    esac\n}\ncompdef _run_dispatch run runs runlog runrm runkill runwait\n");
    s
}

fn fish() -> String {
    let mut s = String::from("# run completions for fish: run --completions fish | source\n");
    let all = std::iter::once(("run", crate::run::OPTIONS, None)).chain(COMMANDS.iter().copied());
    for (name, opts, operands) in all {
        for o in offered(opts) {
            let _ = write!(s, "complete -c {name}");
            if o.short != 0 {
                let _ = write!(s, " -s {}", o.short as char);
            }
            let _ = write!(s, " -l {}", o.long);
            match (o.takes, choices(o)) {
                (Takes::Value(_), "") => s.push_str(" -r"),
                (Takes::Value(_), words) => {
                    let _ = write!(s, " -x -a '{words}'");
                }
                _ => {}
            }
            let _ = writeln!(s, " -d '{}'", o.about);
        }
        if let Some(flags) = operands {
            let _ = writeln!(
                s,
                "complete -c {name} -f -a '(runs --complete{flags} 2>/dev/null)'"
            );
        }
    }
    s.push_str("complete -c run -x -a '(__fish_complete_subcommand)'\n");
    s
}

/// The script for `shell`, if there is one.
pub fn script(shell: &str) -> Option<String> {
    match shell {
        "bash" => Some(bash()),
        "zsh" => Some(zsh()),
        "fish" => Some(fish()),
        _ => None,
    }
}
