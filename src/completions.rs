//! Shell completion scripts, printed by `run --completions SHELL`.
//!
//! Rule: job ids and names come from `runs --complete`, which reads only
//! the directory listing, so a Tab never waits on thousands of records.

const BASH: &str = r#"# run completions for bash: source <(run --completions bash)
_run_jobs() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    [[ $cur == -* ]] && return 0
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(runs --complete 2>/dev/null)" -- "$cur"))
}
_run() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} i
    case $prev in -N|--name|-t|--topic) return 0 ;; --completions) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return 0 ;; esac
    # Once the command has begun, complete its words as files.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -N|--name|-t|--topic) ((i++)) ;;
            --) ((i++)); break ;;
            -*) ;;
            *) break ;;
        esac
    done
    if ((i < COMP_CWORD)); then
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "-N --name -q --quiet -f --follow -n --notify -t --topic --link --completions -h --help -V --version" -- "$cur"))
    else
        COMPREPLY=($(compgen -c -- "$cur"))
    fi
}
complete -F _run run
complete -F _run_jobs runlog runrm runkill runwait
complete -W "--json --running --failed --help" runs
"#;

const ZSH: &str = r#"# run completions for zsh: source <(run --completions zsh), after compinit
_run_jobs() {
    local -a jobs
    jobs=(${(f)"$(runs --complete 2>/dev/null)"})
    _describe -t jobs 'job' jobs
}
_run_cmd() {
    _arguments -s -S \
        '(-N --name)'{-N,--name}'[name the job]:name:' \
        '(-q --quiet)'{-q,--quiet}'[print only the job id]' \
        '(-f --follow)'{-f,--follow}'[follow the log]' \
        '(-n --notify)'{-n,--notify}'[notify ntfy when the job ends]' \
        '(-t --topic)'{-t,--topic}'[notify this topic]:topic:' \
        '--link[link the other names]:directory:_files -/' \
        '--completions[print completions]:shell:(bash zsh fish)' \
        '(-h --help)'{-h,--help}'[show help]' \
        '(-V --version)'{-V,--version}'[show the version]' \
        '*::command:_normal'
}
_run_dispatch() {
    case $service in
        run) _run_cmd ;;
        runs) _arguments '--json[JSON records]' '(-r --running)'{-r,--running}'[running only]' '--failed[failed only]' ;;
        *) _run_jobs ;;
    esac
}
compdef _run_dispatch run runs runlog runrm runkill runwait
"#;

const FISH: &str = r#"# run completions for fish: run --completions fish | source
complete -c run -s N -l name -r -d 'name the job'
complete -c run -s q -l quiet -d 'print only the job id'
complete -c run -s f -l follow -d 'follow the log'
complete -c run -s n -l notify -d 'notify ntfy when the job ends'
complete -c run -s t -l topic -r -d 'notify this topic'
complete -c run -l link -d 'link the other names'
complete -c run -l completions -x -a 'bash zsh fish' -d 'print completions'
complete -c run -x -a '(__fish_complete_subcommand)'
complete -c runs -l json -d 'JSON records'
complete -c runs -s r -l running -d 'running jobs only'
complete -c runs -l failed -d 'failed jobs only'
for command in runlog runrm runkill runwait
    complete -c $command -f -a '(runs --complete 2>/dev/null)'
end
"#;

/// The script for `shell`, if there is one.
pub fn script(shell: &str) -> Option<&'static str> {
    match shell {
        "bash" => Some(BASH),
        "zsh" => Some(ZSH),
        "fish" => Some(FISH),
        _ => None,
    }
}
