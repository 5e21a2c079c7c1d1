//! Options with getopt habits, for every command: `-qf` is `-q -f`; `-Nx`
//! and `-N x` give `-N` the value `x`, as do `--name=x` and `--name x`; `--`
//! ends the options; `-` is an operand.
//!
//! Rule: one parser, reading the words in order, so a word is an option, an
//! option's value or an operand, never two of these. Each command declares
//! its options once, in an `Opt` table that its completions are made from.

use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};

#[derive(Clone, Copy, PartialEq)]
pub enum Takes {
    Nothing,
    /// A value, named for the error message ("a duration such as 90s").
    Value(&'static str),
    /// run's `-n`: a value only when the command's rule says the words
    /// after it make one; never an attached one, so `-nf` is `-n -f`.
    Maybe(&'static str),
}

pub struct Opt {
    /// The short letter, or 0 for none.
    pub short: u8,
    pub long: &'static str,
    pub takes: Takes,
    /// For completions; empty for internal options, which are not offered.
    pub about: &'static str,
}

/// An `Opt`, in one line of a table.
pub const fn opt(short: u8, long: &'static str, takes: Takes, about: &'static str) -> Opt {
    Opt {
        short,
        long,
        takes,
        about,
    }
}

impl Opt {
    /// What its value must be, for messages.
    fn needs(&self) -> &'static str {
        match self.takes {
            Takes::Value(what) | Takes::Maybe(what) => what,
            Takes::Nothing => "no value",
        }
    }

    /// How the option is shown in a message: `--long`, or `-s` if that is
    /// what was typed.
    fn shown(&self, short: bool) -> String {
        match short {
            true => format!("-{}", self.short as char),
            false => format!("--{}", self.long),
        }
    }
}

/// What a command was given: options by long name, in order, and operands.
pub struct Args {
    found: Vec<(&'static Opt, Option<OsString>, bool)>,
    pub operands: Vec<OsString>,
}

/// How the operands sit among the options.
#[derive(PartialEq)]
pub enum Operands {
    /// Anywhere (the verbs' job references).
    Anywhere,
    /// The first one ends the options, and it and every word after it are
    /// operands, unchanged (run's command).
    EndOptions,
}

/// Parse `words` against `opts`. `maybe(rest)` decides, for a `Takes::Maybe`
/// option, whether the first of the words after it is its value.
pub fn parse(
    words: Vec<OsString>,
    opts: &'static [Opt],
    verb: &str,
    operands: Operands,
    maybe: impl Fn(&[OsString]) -> bool,
) -> Result<Args> {
    let unknown = |word: &[u8]| {
        let shown = crate::quote::shell_quote(word);
        Error::usage(format!("unknown option {shown} (see {verb} --help)"))
    };
    let missing = |opt: &Opt, short: bool| match opt.takes {
        Takes::Nothing => Error::usage(format!("{} takes no value", opt.shown(short))),
        _ => Error::usage(format!("{} needs {}", opt.shown(short), opt.needs())),
    };
    let mut args = Args {
        found: Vec::new(),
        operands: Vec::new(),
    };
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let bytes = word.as_encoded_bytes();
        if bytes == b"--" {
            args.operands.extend(words);
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            args.operands.push(word);
            if operands == Operands::EndOptions {
                args.operands.extend(words);
                break;
            }
            continue;
        }
        // Whether a `Takes::Maybe` option here would take the next word.
        let maybe_next = maybe(words.as_slice());
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, attached) = match long.iter().position(|&b| b == b'=') {
                Some(at) => (&long[..at], Some(&long[at + 1..])),
                None => (long, None),
            };
            let opt = opts
                .iter()
                .find(|o| o.long.as_bytes() == name)
                .ok_or_else(|| unknown(bytes))?;
            let value = match (opt.takes, attached) {
                (Takes::Nothing, Some(_)) => return Err(missing(opt, false)),
                (Takes::Nothing, None) => None,
                (_, Some(value)) => Some(os(value)),
                (Takes::Maybe(_), None) if !maybe_next => None,
                (_, None) => Some(words.next().ok_or_else(|| missing(opt, false))?),
            };
            args.found.push((opt, value, false));
            continue;
        }
        // A cluster of short options; a value-taking one takes the rest of
        // the word, or else the next word.
        for (i, &letter) in bytes.iter().enumerate().skip(1) {
            let opt = opts
                .iter()
                .find(|o| o.short == letter && letter != 0)
                .ok_or_else(|| unknown(&[b'-', letter]))?;
            let last = i + 1 == bytes.len();
            match opt.takes {
                Takes::Value(_) if !last => {
                    args.found.push((opt, Some(os(&bytes[i + 1..])), true));
                    break;
                }
                Takes::Value(_) => {
                    let value = words.next().ok_or_else(|| missing(opt, true))?;
                    args.found.push((opt, Some(value), true));
                }
                Takes::Maybe(_) if last && maybe_next => {
                    args.found.push((opt, words.next(), true));
                }
                _ => args.found.push((opt, None, true)),
            }
        }
    }
    Ok(args)
}

fn os(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_owned()
}

impl Args {
    /// Whether the option `long` was given.
    pub fn flag(&self, long: &str) -> bool {
        self.found.iter().any(|(o, _, _)| o.long == long)
    }

    /// Which of `longs` was given last, if any.
    pub fn last_of(&self, longs: &[&str]) -> Option<&'static str> {
        let found = self.found.iter().rev();
        found.map(|(o, _, _)| o.long).find(|l| longs.contains(l))
    }

    /// The last time `long` was given: the option, its value, and whether
    /// it was typed short.
    fn last(&self, long: &str) -> Option<&(&'static Opt, Option<OsString>, bool)> {
        self.found.iter().rev().find(|(o, _, _)| o.long == long)
    }

    /// The last value given to `long`, if any; an option given without one
    /// (a `Takes::Maybe`) has none.
    pub fn os(&self, long: &str) -> Option<&OsStr> {
        self.last(long).and_then(|(_, v, _)| v.as_deref())
    }

    /// The last value of `long`, read by `read`; a value it refuses is bad
    /// usage, with the option's own message.
    pub fn value<T>(&self, long: &str, read: impl Fn(&str) -> Option<T>) -> Result<Option<T>> {
        let Some((opt, Some(value), short)) = self.last(long) else {
            return Ok(None);
        };
        match value.to_str().and_then(&read) {
            Some(v) => Ok(Some(v)),
            None => Err(Error::usage(format!(
                "{} needs {}, not {}",
                opt.shown(*short),
                opt.needs(),
                crate::quote::shell_quote(value.as_encoded_bytes())
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        opt(b'q', "quiet", Takes::Nothing, "q"),
        opt(b'f', "follow", Takes::Nothing, "f"),
        opt(b'N', "name", Takes::Value("a name"), "n"),
        opt(b'n', "notify", Takes::Maybe("a topic"), "n"),
    ];

    fn words(text: &str) -> Vec<OsString> {
        text.split(' ').map(OsString::from).collect()
    }

    fn run(text: &str) -> Result<Args> {
        let maybe = |rest: &[OsString]| rest.len() > 1 && rest[0] == "topic";
        parse(words(text), OPTS, "run", Operands::EndOptions, maybe)
    }

    #[test]
    fn getopt_habits() {
        let a = run("-qf cmd -q").unwrap();
        assert!(a.flag("quiet") && a.flag("follow"));
        assert_eq!(a.operands, words("cmd -q"));
        for text in [
            "-N -q cmd",
            "-N-q cmd",
            "--name=-q cmd",
            "--name -q cmd",
            "-fN -q cmd",
        ] {
            let a = run(text).unwrap();
            assert_eq!(a.os("name"), Some(OsStr::new("-q")), "{text}");
            assert!(!a.flag("quiet"), "{text}");
            assert_eq!(a.operands, words("cmd"), "{text}");
        }
        let a = run("-q -- -f x").unwrap();
        assert!(!a.flag("follow"));
        assert_eq!(a.operands, words("-f x"));
        let a = run("- x").unwrap();
        assert_eq!(a.operands, words("- x"));
    }

    #[test]
    fn maybe_takes_a_value_only_when_the_rule_says_so() {
        let a = run("-n topic make all").unwrap();
        assert_eq!(a.os("notify"), Some(OsStr::new("topic")));
        assert_eq!(a.operands, words("make all"));
        let a = run("-qn topic make").unwrap();
        assert_eq!(a.os("notify"), Some(OsStr::new("topic")));
        let a = run("-n make all").unwrap();
        assert!(a.flag("notify") && a.os("notify").is_none());
        assert_eq!(a.operands, words("make all"));
        let a = run("-nf topic x").unwrap();
        assert!(a.flag("follow") && a.os("notify").is_none());
        let a = run("--notify=t make").unwrap();
        assert_eq!(a.os("notify"), Some(OsStr::new("t")));
    }

    #[test]
    fn bad_options_are_one_line_usage_errors() {
        let message = |text: &str| run(text).err().unwrap().message;
        assert_eq!(message("-x cmd"), "unknown option -x (see run --help)");
        assert_eq!(message("-qx cmd"), "unknown option -x (see run --help)");
        assert_eq!(
            message("--nope cmd"),
            "unknown option --nope (see run --help)"
        );
        assert_eq!(message("-N"), "-N needs a name");
        assert_eq!(message("--name"), "--name needs a name");
        assert_eq!(message("--quiet=1 x"), "--quiet takes no value");
        let verbs = parse(words("a -q b"), OPTS, "runlog", Operands::Anywhere, |_| {
            false
        });
        let verbs = verbs.unwrap();
        assert!(verbs.flag("quiet"));
        assert_eq!(verbs.operands, words("a b"));
        let bad = verbs.value("quiet", |_| Some(1)).unwrap();
        assert_eq!(bad, None);
        let named = run("-N 5x cmd").unwrap();
        let err = named.value("name", |s| s.parse::<u8>().ok()).err().unwrap();
        assert_eq!(err.message, "-N needs a name, not 5x");
    }
}
