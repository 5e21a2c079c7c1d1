//! Turning command lines and names into text that is safe to print.
//!
//! Rule: anything a command line could contain passes through `shell_join` or
//! `escape` before it reaches a terminal or a log header, so no control
//! character (C0, DEL or C1) is ever printed raw, nor any invisible format
//! character that could disguise one (bidi controls such as U+202E,
//! zero-width characters, line and paragraph separators): those are shown
//! as `\uXXXX`, which bash's `$'…'` reads back.

use std::os::unix::ffi::OsStrExt;

/// Quote one argument so that a POSIX shell reads it back unchanged: bare when
/// it is plain, `'single quoted'` when it holds no control character, and
/// bash's `$'…'` with `\xHH` escapes otherwise (also for invalid UTF-8).
pub fn shell_quote(arg: &[u8]) -> String {
    let mut out = String::new();
    push_quoted(&mut out, arg);
    out
}

fn push_quoted(out: &mut String, arg: &[u8]) {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(b);
    match std::str::from_utf8(arg) {
        Ok(text) if !text.is_empty() && arg.iter().all(plain) => out.push_str(text),
        Ok(text) if !text.chars().any(|c| c.is_control() || disguises(c)) => {
            out.push('\'');
            out.push_str(&text.replace('\'', r"'\''"));
            out.push('\'');
        }
        _ => {
            out.push_str("$'");
            escape_into(out, arg, true);
            out.push('\'');
        }
    }
}

/// Quote a whole command line (OS strings, or lossy strings from a
/// record), arguments separated by spaces.
pub fn shell_join<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let mut out = String::new();
    push_join(&mut out, args);
    out
}

/// `shell_join`, onto the end of `out`.
pub fn push_join<S: AsRef<std::ffi::OsStr>>(out: &mut String, args: &[S]) {
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_quoted(out, arg.as_ref().as_bytes());
    }
}

/// `text` with every control character shown as `\xHH` (one escape per byte,
/// so C1 characters are defused too).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

/// `escape`, onto the end of `out`.
pub fn push_escaped(out: &mut String, text: &str) {
    escape_into(out, text.as_bytes(), false);
}

/// The shared escaper. In `$'…'` mode, backslash and quote are escaped too.
fn escape_into(out: &mut String, bytes: &[u8], in_dollar_quote: bool) {
    // Printable ASCII, the usual case, needs no escaping in either mode but
    // for backslash and quote.
    let plain = |&b: &u8| (0x20..0x7f).contains(&b) && !(in_dollar_quote && b"\\'".contains(&b));
    if bytes.iter().all(plain) {
        // All ASCII, so this is valid UTF-8.
        out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
        return;
    }
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' | '\'' if in_dollar_quote => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' if in_dollar_quote => out.push_str("\\n"),
                '\t' if in_dollar_quote => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c if disguises(c) && (c as u32) < 0x10000 => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c if disguises(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// Invisible characters that change how text around them is shown:
/// Unicode's format characters (category Cf) and the line and paragraph
/// separators.
fn disguises(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E
        | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(shell_quote(b"make"), "make");
        assert_eq!(shell_quote(b"--epochs=100"), "--epochs=100");
        assert_eq!(shell_quote(b"./build.sh"), "./build.sh");
    }

    #[test]
    fn spaces_and_quotes_are_single_quoted() {
        assert_eq!(shell_quote(b"a b"), "'a b'");
        assert_eq!(shell_quote(b""), "''");
        assert_eq!(shell_quote(b"it's"), r"'it'\''s'");
        assert_eq!(shell_quote("héllo".as_bytes()), "'héllo'");
    }

    #[test]
    fn control_characters_use_dollar_quotes() {
        assert_eq!(shell_quote(b"a\nb"), r"$'a\nb'");
        assert_eq!(shell_quote(b"\x1b[31mred"), r"$'\x1b[31mred'");
        assert_eq!(shell_quote(b"it's\t"), r"$'it\'s\t'");
        assert_eq!(shell_quote(b"\xff\xfe"), r"$'\xff\xfe'");
        // U+009B, the one-byte CSI of C1, is escaped byte by byte.
        assert_eq!(shell_quote("x\u{9b}2J".as_bytes()), r"$'x\xc2\x9b2J'");
    }

    #[test]
    fn join_quotes_each_argument() {
        let args: Vec<OsString> = ["sh", "-c", "echo hi"].iter().map(Into::into).collect();
        assert_eq!(shell_join(&args), "sh -c 'echo hi'");
    }

    #[test]
    fn escape_defuses_control_characters_only() {
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape("a\x1b[2Jb\x07"), r"a\x1b[2Jb\x07");
        assert_eq!(escape("\u{9b}"), r"\xc2\x9b");
    }

    #[test]
    fn bidi_and_invisible_characters_are_escaped() {
        assert_eq!(escape("a\u{202e}b"), r"a\u202eb");
        assert_eq!(escape("\u{2066}x\u{2069}\u{200b}"), r"\u2066x\u2069\u200b");
        assert_eq!(escape("\u{e0041}"), r"\U000e0041");
        assert_eq!(
            shell_quote("rm \u{202e}fdp.exe".as_bytes()),
            r"$'rm \u202efdp.exe'"
        );
        assert_eq!(escape("\u{2028}"), r"\u2028");
    }
}
