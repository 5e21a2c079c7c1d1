//! The job record (`ID.json`) and the status words.
//!
//! Rule: the record's JSON shape is a public interface (`runs --json`, README
//! "Job record"): fields are only ever added, never renamed or retyped.

use std::fmt::Write;

/// What became of a job. See README, "Status".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    Done,
    Failed,
    Killed,
    Lost,
    /// A job of the original shell version whose process is gone: it left no
    /// exit code, so whether it succeeded is unknown.
    Ended,
    /// No readable record, and nothing holds the log's lock.
    Unknown,
}

impl Status {
    /// Whether the job has ended, so that it may be removed.
    pub fn is_finished(self) -> bool {
        self != Status::Running
    }

    /// `●` while running, `○` once ended, as the original showed them.
    pub fn mark(self) -> char {
        if self == Status::Running {
            '●'
        } else {
            '○'
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Killed => "killed",
            Status::Lost => "lost",
            Status::Ended => "ended",
            Status::Unknown => "unknown",
        }
    }

    pub fn from_word(word: &str) -> Option<Status> {
        [
            Status::Running,
            Status::Done,
            Status::Failed,
            Status::Killed,
            Status::Lost,
            Status::Ended,
            Status::Unknown,
        ]
        .into_iter()
        .find(|s| s.word() == word)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub command: Vec<String>,
    pub cwd: String,
    pub host: String,
    pub pid: Option<i32>,
    pub pgid: Option<i32>,
    /// The job's session: the supervisor's pid. With `pgid` and `started`,
    /// what tells the job's processes from strangers that reuse its ids.
    pub sid: Option<i32>,
    /// Unix seconds.
    pub started: f64,
    pub ended: Option<f64>,
    /// Seconds, from the monotonic clock.
    pub duration: Option<f64>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub status: Status,
    pub topic: Option<String>,
    pub log: String,
}

impl Record {
    /// The status the record itself states: its end, or `running` if it has
    /// none. Whether a running job is alive is the store's question.
    pub fn recorded_status(&self) -> Status {
        match (self.ended, self.exit_code, &self.signal) {
            (None, _, _) => Status::Running,
            (Some(_), _, Some(_)) => Status::Killed,
            (Some(_), Some(0), None) => Status::Done,
            (Some(_), Some(_), None) => Status::Failed,
            (Some(_), None, None) => self.status,
        }
    }

    /// One JSON object on one line, fields in a fixed order. `status` is
    /// passed in so that listings can print the computed status.
    pub fn to_json(&self, status: Status) -> String {
        let mut out = String::with_capacity(512);
        out.push('{');
        push_str(&mut out, "id", &self.id);
        push_str(&mut out, "name", &self.name);
        out.push_str("\"command\":[");
        for (i, arg) in self.command.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, arg);
        }
        out.push_str("],");
        push_str(&mut out, "cwd", &self.cwd);
        push_str(&mut out, "host", &self.host);
        push_raw(&mut out, "pid", self.pid.map(Number::Int));
        push_raw(&mut out, "pgid", self.pgid.map(Number::Int));
        push_raw(&mut out, "sid", self.sid.map(Number::Int));
        push_raw(&mut out, "started", Some(Number::Seconds(self.started)));
        push_raw(&mut out, "ended", self.ended.map(Number::Seconds));
        push_raw(&mut out, "duration", self.duration.map(Number::Seconds));
        push_raw(&mut out, "exit_code", self.exit_code.map(Number::Int));
        match &self.signal {
            Some(s) => push_str(&mut out, "signal", s),
            None => push_raw(&mut out, "signal", None),
        }
        push_str(&mut out, "status", status.word());
        match &self.topic {
            Some(t) => push_str(&mut out, "topic", t),
            None => push_raw(&mut out, "topic", None),
        }
        out.push_str("\"log\":");
        push_json_string(&mut out, &self.log);
        out.push('}');
        out
    }

    /// Parse a record; `None` unless it is one JSON object with at least an
    /// id, a command and a start time. Unknown fields are skipped, so records
    /// of a newer version still read.
    pub fn from_json(text: &str) -> Option<Record> {
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        };
        let mut record = Record {
            id: String::new(),
            name: String::new(),
            command: Vec::new(),
            cwd: String::new(),
            host: String::new(),
            pid: None,
            pgid: None,
            sid: None,
            started: f64::NAN,
            ended: None,
            duration: None,
            exit_code: None,
            signal: None,
            status: Status::Running,
            topic: None,
            log: String::new(),
        };
        let mut has_command = false;
        p.expect(b'{')?;
        if !p.take(b'}') {
            loop {
                let key = p.key()?;
                p.expect(b':')?;
                match key {
                    "id" => record.id = p.string()?,
                    "name" => record.name = p.string()?,
                    "cwd" => record.cwd = p.string()?,
                    "host" => record.host = p.string()?,
                    "log" => record.log = p.string()?,
                    "command" => {
                        record.command = p.strings()?;
                        has_command = true;
                    }
                    "signal" => record.signal = p.nullable(Parser::string)?,
                    "topic" => record.topic = p.nullable(Parser::string)?,
                    "status" => {
                        record.status = Status::from_word(&p.string()?).unwrap_or(Status::Running)
                    }
                    "pid" => record.pid = p.nullable(Parser::number)?.map(|n| n as i32),
                    "pgid" => record.pgid = p.nullable(Parser::number)?.map(|n| n as i32),
                    "sid" => record.sid = p.nullable(Parser::number)?.map(|n| n as i32),
                    "exit_code" => record.exit_code = p.nullable(Parser::number)?.map(|n| n as i32),
                    "started" => record.started = p.number()?,
                    "ended" => record.ended = p.nullable(Parser::number)?,
                    "duration" => record.duration = p.nullable(Parser::number)?,
                    _ => p.skip(0)?,
                }
                if p.take(b'}') {
                    break;
                }
                p.expect(b',')?;
            }
        }
        p.whitespace();
        let complete = p.pos == p.bytes.len() && !record.id.is_empty();
        (complete && has_command && record.started.is_finite()).then_some(record)
    }
}

/// A reader for the JSON that records hold: strings, numbers, null, arrays
/// of strings, and (skipped) anything else. tinyjson's general parser cost
/// about 42,000 instructions per record; this one keeps a 10,000-job listing
/// inside its budget.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    #[inline(always)]
    fn whitespace(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        self.whitespace();
        self.bytes.get(self.pos).copied()
    }

    /// Consume `byte` if it comes next.
    #[inline(always)]
    fn take(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.pos += found as usize;
        found
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.take(byte).then_some(())
    }

    /// An object's key, borrowed: the keys of a record need no unescaping.
    /// One that does is none of ours; it reads as `\\`, and is skipped.
    fn key(&mut self) -> Option<&'a str> {
        self.whitespace();
        let start = self.pos + 1;
        let len = self
            .bytes
            .get(start..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        if self.bytes[start + len] == b'\\' {
            return self.string().map(|_| "\\");
        }
        self.expect(b'"')?;
        self.pos = start + len + 1;
        self.text.get(start..start + len)
    }

    fn string(&mut self) -> Option<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Take the plain run up to the next quote or backslash at once;
            // those are ASCII, so the run ends on a character boundary.
            let start = self.pos;
            let run = self.bytes.get(start..)?;
            let end = start + run.iter().position(|&b| b == b'"' || b == b'\\')?;
            let plain = self.text.get(start..end)?;
            self.pos = end + 1;
            if self.bytes[end] == b'"' {
                if out.is_empty() {
                    return Some(plain.to_string());
                }
                out.push_str(plain);
                return Some(out);
            }
            out.push_str(plain);
            let escape = *self.bytes.get(self.pos)?;
            self.pos += 1;
            out.push(match escape {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return None,
            });
        }
    }

    /// The XXXX of `\uXXXX`, joining a surrogate pair; a lone surrogate
    /// becomes U+FFFD, and whatever follows it is read on its own.
    fn unicode_escape(&mut self) -> Option<char> {
        let hex = |at: usize| -> Option<u32> {
            let digits = std::str::from_utf8(self.bytes.get(at..at + 4)?).ok()?;
            u32::from_str_radix(digits, 16).ok()
        };
        let first = hex(self.pos)?;
        let high = (0xD800..0xDC00).contains(&first);
        let second = match high && self.bytes[self.pos + 4..].starts_with(b"\\u") {
            true => hex(self.pos + 6).filter(|s| (0xDC00..0xE000).contains(s)),
            false => None,
        };
        let Some(second) = second else {
            self.pos += 4;
            return Some(char::from_u32(first).unwrap_or('\u{FFFD}'));
        };
        self.pos += 10;
        let joined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        Some(char::from_u32(joined).unwrap_or('\u{FFFD}'))
    }

    fn number(&mut self) -> Option<f64> {
        self.whitespace();
        let start = self.pos;
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
        {
            self.pos += 1;
        }
        let number = &self.text[start..self.pos];
        // Whole numbers (pids, exit codes) need no float parser.
        if number.len() < 16 && number.bytes().all(|b| b.is_ascii_digit()) && start < self.pos {
            return Some(
                number
                    .bytes()
                    .fold(0u64, |n, b| n * 10 + u64::from(b - b'0')) as f64,
            );
        }
        number.parse().ok()
    }

    /// `null`, or whatever `value` reads.
    fn nullable<T>(&mut self, value: fn(&mut Self) -> Option<T>) -> Option<Option<T>> {
        self.whitespace();
        if self.bytes[self.pos..].starts_with(b"null") {
            self.pos += 4;
            return Some(None);
        }
        value(self).map(Some)
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        self.expect(b'[')?;
        let mut list = Vec::new();
        if self.take(b']') {
            return Some(list);
        }
        loop {
            list.push(self.string()?);
            if self.take(b']') {
                return Some(list);
            }
            self.expect(b',')?;
        }
    }

    /// Skip one value of any kind, nested at most `MAX_DEPTH` deep: a
    /// record is flat, and a deeper one is damaged (or hostile).
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            open @ (b'[' | b'{') if depth < MAX_DEPTH => {
                self.pos += 1;
                let close = if open == b'[' { b']' } else { b'}' };
                while !self.take(close) {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip(depth + 1)?;
                    if !self.take(b',') {
                        return self.expect(close);
                    }
                }
                Some(())
            }
            b'[' | b'{' => None,
            b't' | b'f' | b'n' => {
                let word = [&b"true"[..], b"false", b"null"]
                    .into_iter()
                    .find(|w| self.bytes[self.pos..].starts_with(w))?;
                self.pos += word.len();
                Some(())
            }
            _ => self.number().map(drop),
        }
    }
}

/// How deep an unknown field's value may nest before the record counts as
/// damaged: the parser recurses once a level, and the stack is finite.
const MAX_DEPTH: usize = 32;

/// A number as a record holds it.
enum Number {
    Int(i32),
    /// Seconds, written with microseconds and without exponent notation.
    Seconds(f64),
}

fn push_raw(out: &mut String, key: &str, value: Option<Number>) {
    let _ = match value {
        None => write!(out, "\"{key}\":null,"),
        Some(Number::Int(n)) => write!(out, "\"{key}\":{n},"),
        // Integer arithmetic: `{:.6}` on a float costs ten times as much.
        Some(Number::Seconds(s)) if s.is_finite() && s.abs() < 1e12 => {
            let micros = (s.abs() * 1e6).round() as u64;
            let sign = if s < 0.0 && micros > 0 { "-" } else { "" };
            let (whole, fraction) = (micros / 1_000_000, micros % 1_000_000);
            write!(out, "\"{key}\":{sign}{whole}.{fraction:06},")
        }
        Some(Number::Seconds(s)) if s.is_finite() => write!(out, "\"{key}\":{s:.6},"),
        Some(Number::Seconds(_)) => write!(out, "\"{key}\":null,"),
    };
}

fn push_str(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, "\"{key}\":");
    push_json_string(out, value);
    out.push(',');
}

/// A JSON string literal, escaping quotes, backslashes and control characters.
pub fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            id: "build_20251205_163539".into(),
            name: "build".into(),
            command: vec!["sh".into(), "-c".into(), "echo \"hi\"\n\x1b[2J\\".into()],
            cwd: "/home/me".into(),
            host: "box".into(),
            pid: Some(12345),
            pgid: Some(12345),
            sid: Some(12344),
            started: 1764948939.25,
            ended: Some(1764949131.5),
            duration: Some(192.25),
            exit_code: Some(3),
            signal: None,
            status: Status::Failed,
            topic: Some("builds".into()),
            log: "/home/me/.local/share/run/build_20251205_163539.log".into(),
        }
    }

    #[test]
    fn record_round_trips() {
        let record = sample();
        let json = record.to_json(record.status);
        assert_eq!(Record::from_json(&json), Some(record));
    }

    #[test]
    fn running_record_round_trips_with_nulls() {
        let mut record = sample();
        (
            record.ended,
            record.duration,
            record.exit_code,
            record.topic,
        ) = (None, None, None, None);
        record.status = Status::Running;
        let json = record.to_json(Status::Running);
        assert!(json.contains("\"ended\":null"));
        assert!(json.contains("\"topic\":null"));
        assert_eq!(Record::from_json(&json), Some(record));
    }

    #[test]
    fn seconds_are_written_as_with_six_decimals() {
        for s in [
            0.0,
            0.003584,
            192.25,
            1764948939.25,
            1735689600.000001,
            -2.5,
            3e12,
        ] {
            let mut out = String::new();
            push_raw(&mut out, "t", Some(Number::Seconds(s)));
            assert_eq!(out, format!("\"t\":{s:.6},"));
        }
        let mut out = String::new();
        push_raw(&mut out, "t", Some(Number::Seconds(f64::INFINITY)));
        assert_eq!(out, "\"t\":null,");
    }

    #[test]
    fn recorded_status_follows_the_end() {
        let mut record = sample();
        assert_eq!(record.recorded_status(), Status::Failed);
        record.exit_code = Some(0);
        assert_eq!(record.recorded_status(), Status::Done);
        (record.exit_code, record.signal) = (None, Some("SIGKILL".into()));
        assert_eq!(record.recorded_status(), Status::Killed);
        record.ended = None;
        assert_eq!(record.recorded_status(), Status::Running);
    }

    #[test]
    fn unknown_fields_are_skipped_and_escapes_decoded() {
        let json = r#"{"future":{"a":[1,{"b":null}],"c":true},"i\u0064":"no","id":"x\u00e9\ud83d\ude00\n","command":["a\"b"],"started":1.5e9,"extra":-2}"#;
        let record = Record::from_json(json).unwrap();
        assert_eq!(record.id, "xé😀\n");
        assert_eq!(record.command, ["a\"b"]);
        assert_eq!(record.started, 1.5e9);
    }

    #[test]
    fn garbage_is_not_a_record() {
        assert_eq!(Record::from_json(""), None);
        assert_eq!(Record::from_json("{\"id\":\"x\""), None);
        assert_eq!(Record::from_json("[1,2]"), None);
        assert_eq!(Record::from_json("{\"id\":\"x\"}"), None);
        assert_eq!(Record::from_json("{}"), None);
        assert_eq!(
            Record::from_json("{\"id\":\"x\",\"command\":[],\"started\":1} trailing"),
            None
        );
        assert_eq!(Record::from_json("{\"id\":\"\\ud800"), None);
    }
}
