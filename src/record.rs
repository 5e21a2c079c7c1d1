//! The job record (`ID.json`) and the status words.
//!
//! Rule: the record's JSON shape is a public interface (`runs --json`, README
//! "Job record"): fields are only ever added, never renamed or retyped.

use std::borrow::Cow;
use std::fmt::Write;
use tinyjson::JsonValue;

/// What became of a job. See README, "Status".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Running, but stopped by a signal (SIGSTOP, SIGTSTP) until SIGCONT.
    Stopped,
    /// Not started yet: waiting for other jobs to end (`--after`, a queue).
    Waiting,
    /// Never started: a job it needed to succeed did not.
    Skipped,
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
        !matches!(self, Status::Running | Status::Stopped | Status::Waiting)
    }

    /// Ended without success: what `--failed` selects in runs and runrm.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Killed | Status::Lost | Status::Skipped
        )
    }

    /// `●` while running, `○` once ended, as the original showed them.
    pub fn mark(self) -> char {
        if self.is_finished() { '○' } else { '●' }
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Waiting => "waiting",
            Status::Skipped => "skipped",
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
            Status::Stopped,
            Status::Waiting,
            Status::Skipped,
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
    /// When the supervisor started, as the process table has it (seconds
    /// since the boot): what tells it from a later process with its pid,
    /// however long `run` was held up before it forked.
    pub sid_since_boot: Option<f64>,
    /// Unix seconds.
    pub started: f64,
    /// The same moment in seconds since the boot, and the boot's id: what
    /// the job's processes are told by, whatever the wall clock did since.
    /// `None` in older records and where the system has neither.
    pub since_boot: Option<f64>,
    pub boot_id: Option<String>,
    /// The pid namespace its ids are of (the inode of /proc/self/ns/pid):
    /// another one's (a container's) processes cannot be seen from here.
    pub pid_ns: Option<u64>,
    pub ended: Option<f64>,
    /// Seconds, from the monotonic clock.
    pub duration: Option<f64>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Whether the signal that ended it left a core dump.
    pub core_dumped: bool,
    pub status: Status,
    pub topic: Option<String>,
    pub log: String,
    /// What it cost, from wait4's rusage (the job's leader and the
    /// descendants it waited for): the largest resident set of any one of
    /// them in KiB, and CPU seconds in user and in system mode.
    pub peak_rss_kib: Option<u64>,
    pub cpu_user: Option<f64>,
    pub cpu_system: Option<f64>,
    /// `--timeout`, in seconds, and whether the job was stopped by it.
    pub timeout: Option<f64>,
    pub timed_out: bool,
    /// Jobs to wait for before starting: to end (`after`), and to succeed
    /// as well (`after_ok`); the queue it was started in.
    pub after: Vec<String>,
    pub after_ok: Vec<String>,
    pub queue: Option<String>,
    /// When the command itself started (Unix seconds): after `started` by
    /// the time a waiting job waited; `None` until then, and in older
    /// records.
    pub began: Option<f64>,
    /// Why it ended as it did, where the exit code or signal does not say:
    /// `build_20251205_163539 failed (exit 2)` for a skipped job.
    pub reason: Option<String>,
}

impl Record {
    /// A running job's record with nothing known yet but these.
    pub fn new(id: String, name: String, command: Vec<String>, started: f64) -> Record {
        Record {
            id,
            name,
            command,
            started,
            cwd: String::new(),
            host: String::new(),
            log: String::new(),
            pid: None,
            pgid: None,
            sid: None,
            sid_since_boot: None,
            since_boot: None,
            boot_id: None,
            pid_ns: None,
            ended: None,
            duration: None,
            exit_code: None,
            signal: None,
            status: Status::Running,
            topic: None,
            peak_rss_kib: None,
            cpu_user: None,
            cpu_system: None,
            timeout: None,
            timed_out: false,
            core_dumped: false,
            after: Vec::new(),
            after_ok: Vec::new(),
            queue: None,
            reason: None,
            began: None,
        }
    }

    /// The status the record itself states: its end, or `running` if it has
    /// none. Whether a running job is alive is the store's question.
    pub fn recorded_status(&self) -> Status {
        match (self.ended, self.exit_code, &self.signal) {
            (None, _, _) if matches!(self.status, Status::Waiting | Status::Stopped) => self.status,
            (None, _, _) => Status::Running,
            (Some(_), _, _) if self.timed_out => Status::Killed,
            (Some(_), _, Some(_)) => Status::Killed,
            (Some(_), Some(0), None) => Status::Done,
            (Some(_), Some(_), None) => Status::Failed,
            (Some(_), None, None) => self.status,
        }
    }

    /// How it ended, in the words every view of a job uses: the signal
    /// (`SIGTERM`), else `exit 2`; `None` while nothing is recorded. Not
    /// escaped: a record's signal is a string anyone could have written.
    pub fn end_detail(&self) -> Option<String> {
        let how = match (&self.signal, self.exit_code, &self.reason) {
            (Some(signal), _, _) if self.core_dumped => format!("{signal}, core dumped"),
            (Some(signal), _, _) => signal.clone(),
            (None, Some(code), _) => format!("exit {code}"),
            (None, None, Some(reason)) => return Some(reason.clone()),
            (None, None, None) => return None,
        };
        let how = match &self.reason {
            Some(reason) => format!("{reason}, {how}"),
            None => how,
        };
        match self.timeout.and_then(crate::time::seconds) {
            Some(limit) if self.timed_out => Some(format!(
                "timed out after {}, {how}",
                crate::time::limit(limit)
            )),
            _ => Some(how),
        }
    }

    /// `peak 11.2 GiB, CPU 7h 40m`: what it cost, if that was recorded.
    pub fn cost(&self) -> Option<String> {
        let kib = self.peak_rss_kib?;
        let cpu = self.cpu_user.unwrap_or(0.0) + self.cpu_system.unwrap_or(0.0);
        let peak = match kib as f64 {
            k if k < 1024.0 => format!("{kib} KiB"),
            k if k < 1024.0 * 1024.0 => format!("{:.1} MiB", k / 1024.0),
            k => format!("{:.1} GiB", k / (1024.0 * 1024.0)),
        };
        let cpu = match crate::time::seconds(cpu)? {
            d if d.as_secs() >= 60 => crate::time::duration(d),
            d if d.as_secs() >= 10 => format!("{:.1}s", d.as_secs_f64()),
            d => format!("{:.2}s", d.as_secs_f64()),
        };
        Some(format!("peak {peak}, CPU {cpu}"))
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
        push_raw(&mut out, "pid", self.pid.map(|n| Number::Int(n.into())));
        push_raw(&mut out, "pgid", self.pgid.map(|n| Number::Int(n.into())));
        push_raw(&mut out, "sid", self.sid.map(|n| Number::Int(n.into())));
        push_raw(
            &mut out,
            "sid_since_boot",
            self.sid_since_boot.map(Number::Seconds),
        );
        push_raw(&mut out, "started", Some(Number::Seconds(self.started)));
        push_raw(&mut out, "since_boot", self.since_boot.map(Number::Seconds));
        match &self.boot_id {
            Some(id) => push_str(&mut out, "boot_id", id),
            None => push_raw(&mut out, "boot_id", None),
        }
        let ns = self.pid_ns.map(|n| Number::Int(n as i64));
        push_raw(&mut out, "pid_ns", ns);
        push_raw(&mut out, "began", self.began.map(Number::Seconds));
        push_raw(&mut out, "ended", self.ended.map(Number::Seconds));
        push_raw(&mut out, "duration", self.duration.map(Number::Seconds));
        push_raw(
            &mut out,
            "exit_code",
            self.exit_code.map(|n| Number::Int(n.into())),
        );
        match &self.signal {
            Some(s) => push_str(&mut out, "signal", s),
            None => push_raw(&mut out, "signal", None),
        }
        let _ = write!(out, "\"core_dumped\":{},", self.core_dumped);
        push_str(&mut out, "status", status.word());
        match &self.topic {
            Some(t) => push_str(&mut out, "topic", t),
            None => push_raw(&mut out, "topic", None),
        }
        let kib = self.peak_rss_kib.map(|k| Number::Int(k as i64));
        push_raw(&mut out, "peak_rss_kib", kib);
        push_raw(&mut out, "cpu_user", self.cpu_user.map(Number::Seconds));
        push_raw(&mut out, "cpu_system", self.cpu_system.map(Number::Seconds));
        push_raw(&mut out, "timeout", self.timeout.map(Number::Seconds));
        let _ = write!(out, "\"timed_out\":{},", self.timed_out);
        for (key, ids) in [("after", &self.after), ("after_ok", &self.after_ok)] {
            let _ = write!(out, "\"{key}\":[");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(&mut out, id);
            }
            out.push_str("],");
        }
        for (key, value) in [("queue", &self.queue), ("reason", &self.reason)] {
            match value {
                Some(v) => push_str(&mut out, key, v),
                None => push_raw(&mut out, key, None),
            }
        }
        out.push_str("\"log\":");
        push_json_string(&mut out, &self.log);
        out.push('}');
        out
    }

    /// Parse a record; `None` unless it is one JSON object with at least an
    /// id, a command and a start time, each of its type. Unknown fields are
    /// ignored, so records of a newer version still read.
    pub fn from_json(text: &str) -> Option<Record> {
        let JsonValue::Object(mut fields) = prepared(text)?.parse::<JsonValue>().ok()? else {
            return None;
        };
        let mut take = |key: &str| fields.remove(key).unwrap_or(JsonValue::Null);
        let JsonValue::Array(command) = take("command") else {
            return None;
        };
        Some(Record {
            id: string(take("id")).filter(|id| !id.is_empty())?,
            command: command.into_iter().map(string).collect::<Option<_>>()?,
            started: number(take("started"))?,
            name: nullable(take("name"), string)?.unwrap_or_default(),
            cwd: nullable(take("cwd"), string)?.unwrap_or_default(),
            host: nullable(take("host"), string)?.unwrap_or_default(),
            log: nullable(take("log"), string)?.unwrap_or_default(),
            pid: nullable(take("pid"), int)?,
            pgid: nullable(take("pgid"), int)?,
            sid: nullable(take("sid"), int)?,
            sid_since_boot: nullable(take("sid_since_boot"), number)?,
            since_boot: nullable(take("since_boot"), number)?,
            boot_id: nullable(take("boot_id"), string)?,
            pid_ns: nullable(take("pid_ns"), |v| number(v).map(|n| n as u64))?,
            ended: nullable(take("ended"), number)?,
            duration: nullable(take("duration"), number)?,
            exit_code: nullable(take("exit_code"), exit_code)?,
            signal: nullable(take("signal"), string)?,
            core_dumped: nullable(take("core_dumped"), boolean)?.unwrap_or(false),
            topic: nullable(take("topic"), string)?,
            peak_rss_kib: nullable(take("peak_rss_kib"), |v| number(v).map(|n| n as u64))?,
            cpu_user: nullable(take("cpu_user"), number)?,
            cpu_system: nullable(take("cpu_system"), number)?,
            timeout: nullable(take("timeout"), number)?,
            timed_out: nullable(take("timed_out"), boolean)?.unwrap_or(false),
            after: nullable(take("after"), strings)?.unwrap_or_default(),
            after_ok: nullable(take("after_ok"), strings)?.unwrap_or_default(),
            queue: nullable(take("queue"), string)?,
            reason: nullable(take("reason"), string)?,
            began: nullable(take("began"), number)?,
            status: nullable(take("status"), string)?
                .and_then(|word| Status::from_word(&word))
                .unwrap_or(Status::Running),
        })
    }
}

fn string(value: JsonValue) -> Option<String> {
    match value {
        JsonValue::String(s) => Some(s),
        _ => None,
    }
}

fn number(value: JsonValue) -> Option<f64> {
    match value {
        JsonValue::Number(n) => Some(n),
        _ => None,
    }
}

fn strings(value: JsonValue) -> Option<Vec<String>> {
    match value {
        JsonValue::Array(items) => items.into_iter().map(string).collect(),
        _ => None,
    }
}

fn boolean(value: JsonValue) -> Option<bool> {
    match value {
        JsonValue::Boolean(b) => Some(b),
        _ => None,
    }
}

fn int(value: JsonValue) -> Option<i32> {
    number(value).map(|n| n as i32)
}

/// An exit code a process can have: a whole number from 0 to 255. Any
/// other (256 would be 0 once it is `runwait`'s exit status) is damage.
fn exit_code(value: JsonValue) -> Option<i32> {
    number(value)
        .filter(|n| (0.0..=255.0).contains(n) && n.fract() == 0.0)
        .map(|n| n as i32)
}

/// `null` (or a missing field) as `Some(None)`; a value of the wrong type
/// as `None`, which makes the record damaged.
fn nullable<T>(value: JsonValue, read: fn(JsonValue) -> Option<T>) -> Option<Option<T>> {
    match value {
        JsonValue::Null => Some(None),
        value => read(value).map(Some),
    }
}

/// `text` as tinyjson may be given it: `None` if it nests deeper than a
/// record may (tinyjson recurses once a level, and the stack is finite),
/// and with each unpaired UTF-16 surrogate escape, which tinyjson refuses,
/// made U+FFFD, as other readers do.
fn prepared(text: &str) -> Option<Cow<'_, str>> {
    let b = text.as_bytes();
    let surrogate = |at: usize| {
        let hex = std::str::from_utf8(b.get(at + 2..at + 6)?).ok()?;
        let unit = u32::from_str_radix(hex, 16).ok()?;
        (b[at + 1] == b'u' && (0xD800..0xE000).contains(&unit)).then_some(unit)
    };
    let (mut depth, mut in_string, mut lone, mut i) = (0, false, Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'\\' if in_string => {
                i += match surrogate(i) {
                    Some(unit)
                        if unit < 0xDC00 && surrogate(i + 6).is_some_and(|u| u >= 0xDC00) =>
                    {
                        12
                    }
                    Some(_) => {
                        lone.push(i);
                        6
                    }
                    None => 2,
                };
                continue;
            }
            b'"' => in_string = !in_string,
            b'[' | b'{' if !in_string => depth += 1,
            b']' | b'}' if !in_string => depth -= 1,
            _ => {}
        }
        if depth > MAX_DEPTH {
            return None;
        }
        i += 1;
    }
    if lone.is_empty() {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for at in lone {
        out.push_str(&text[from..at]);
        out.push_str("\\ufffd");
        from = at + 6;
    }
    out.push_str(&text[from..]);
    Some(Cow::Owned(out))
}

/// How deep a record's JSON may nest before it counts as damaged.
const MAX_DEPTH: i32 = 32;

/// A number as a record holds it.
enum Number {
    Int(i64),
    /// Seconds, written with microseconds and without exponent notation.
    Seconds(f64),
}

fn push_raw(out: &mut String, key: &str, value: Option<Number>) {
    let _ = match value {
        None => write!(out, "\"{key}\":null,"),
        Some(Number::Int(n)) => write!(out, "\"{key}\":{n},"),
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
            sid_since_boot: Some(81234.13),
            started: 1764948939.25,
            since_boot: Some(81234.125),
            boot_id: Some("53fcd1b6-b40f-4ab1-a5a2-f1fea416dd70".into()),
            pid_ns: Some(4026531836),
            ended: Some(1764949131.5),
            duration: Some(192.25),
            exit_code: Some(3),
            signal: None,
            core_dumped: false,
            status: Status::Failed,
            topic: Some("builds".into()),
            log: "/home/me/.local/share/run/build_20251205_163539.log".into(),
            peak_rss_kib: Some(11_744_051),
            cpu_user: Some(27_000.5),
            cpu_system: Some(600.25),
            timeout: Some(86_400.0),
            timed_out: false,
            after: vec!["fetch_20251205_163000".into(), "gen_20251205_163100".into()],
            after_ok: vec!["test_20251205_163200".into()],
            queue: Some("builds".into()),
            reason: Some("a \"reason\"".into()),
            began: Some(1764952240.5),
        }
    }

    #[test]
    fn a_timeout_is_killed_and_says_so_in_whole_units() {
        let mut record = sample();
        record.reason = None;
        assert_eq!(record.recorded_status(), Status::Failed);
        record.timed_out = true;
        assert_eq!(record.recorded_status(), Status::Killed);
        assert_eq!(record.end_detail().unwrap(), "timed out after 1d, exit 3");
        for (limit, said) in [
            (7200.0, "2h"),
            (5400.0, "1h 30m"),
            (60.0, "1m"),
            (45.0, "45s"),
            (0.5, "0.5s"),
            (90.5, "1m 30s"),
        ] {
            record.timeout = Some(limit);
            assert_eq!(
                record.end_detail().unwrap(),
                format!("timed out after {said}, exit 3")
            );
        }
        record.ended = None;
        assert_eq!(
            record.recorded_status(),
            Status::Running,
            "no end, no verdict"
        );
        record.status = Status::Stopped;
        assert_eq!(record.recorded_status(), Status::Stopped);
        assert_eq!(Status::from_word("stopped"), Some(Status::Stopped));
        assert!(!Status::Stopped.is_finished());
    }

    #[test]
    fn cost_reads_as_people_say_it() {
        let mut record = sample();
        assert_eq!(record.cost().unwrap(), "peak 11.2 GiB, CPU 7h 40m");
        (record.peak_rss_kib, record.cpu_user, record.cpu_system) = (Some(812), Some(0.004), None);
        assert_eq!(record.cost().unwrap(), "peak 812 KiB, CPU 0.00s");
        (record.peak_rss_kib, record.cpu_user) = (Some(218_088), Some(12.34));
        assert_eq!(record.cost().unwrap(), "peak 213.0 MiB, CPU 12.3s");
        record.peak_rss_kib = None;
        assert_eq!(record.cost(), None, "an older record says nothing of it");
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
        // A lone surrogate is U+FFFD, whatever comes after it.
        let lone =
            r#"{"id":"x","command":["\ud800\u0041","\udc00","\ud83d\ud83d\ude00"],"started":1}"#;
        let command = Record::from_json(lone).unwrap().command;
        assert_eq!(command, ["\u{FFFD}A", "\u{FFFD}", "\u{FFFD}😀"]);
        // Too deep for a record, whatever its strings hold: refused
        // before the recursive parser sees it.
        let deep = format!(
            "{{\"id\":\"x\",\"command\":[],\"started\":1,\"a\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(Record::from_json(&deep), None);
        let quoted = format!(
            "{{\"id\":\"{}\",\"command\":[],\"started\":1}}",
            "[".repeat(100)
        );
        assert!(Record::from_json(&quoted).is_some());
    }
}
