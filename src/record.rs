//! The job record (`ID.json`) and the status words.
//!
//! Rule: the record's JSON shape is a public interface (`runs --json`, README
//! "Job record"): fields are only ever added, never renamed or retyped.

use std::collections::HashMap;
use std::fmt::Write;
use tinyjson::JsonValue;

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

    fn from_word(word: &str) -> Option<Status> {
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
        push_raw(&mut out, "pid", self.pid.map(|p| p.to_string()));
        push_raw(&mut out, "pgid", self.pgid.map(|p| p.to_string()));
        push_raw(&mut out, "started", Some(seconds(self.started)));
        push_raw(&mut out, "ended", self.ended.map(seconds));
        push_raw(&mut out, "duration", self.duration.map(seconds));
        push_raw(&mut out, "exit_code", self.exit_code.map(|c| c.to_string()));
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

    /// Parse a record; `None` if it is not a JSON object with at least an id,
    /// a command and a start time.
    pub fn from_json(text: &str) -> Option<Record> {
        let value: JsonValue = text.parse().ok()?;
        let map: &HashMap<String, JsonValue> = value.get()?;
        let string = |key: &str| map.get(key)?.get::<String>().cloned();
        let number = |key: &str| map.get(key)?.get::<f64>().copied();
        let int = |key: &str| number(key).map(|n| n as i32);
        let command = map
            .get("command")?
            .get::<Vec<JsonValue>>()?
            .iter()
            .map(|v| v.get::<String>().cloned())
            .collect::<Option<Vec<String>>>()?;
        let record = Record {
            id: string("id")?,
            name: string("name").unwrap_or_default(),
            command,
            cwd: string("cwd").unwrap_or_default(),
            host: string("host").unwrap_or_default(),
            pid: int("pid"),
            pgid: int("pgid"),
            started: number("started")?,
            ended: number("ended"),
            duration: number("duration"),
            exit_code: int("exit_code"),
            signal: string("signal"),
            status: string("status")
                .and_then(|s| Status::from_word(&s))
                .unwrap_or(Status::Running),
            topic: string("topic"),
            log: string("log").unwrap_or_default(),
        };
        Some(record)
    }
}

/// Seconds with microseconds, without exponent notation.
fn seconds(value: f64) -> String {
    format!("{value:.6}")
}

fn push_raw(out: &mut String, key: &str, value: Option<String>) {
    let _ = write!(out, "\"{key}\":{},", value.as_deref().unwrap_or("null"));
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
    fn garbage_is_not_a_record() {
        assert_eq!(Record::from_json(""), None);
        assert_eq!(Record::from_json("{\"id\":\"x\""), None);
        assert_eq!(Record::from_json("[1,2]"), None);
        assert_eq!(Record::from_json("{\"id\":\"x\"}"), None);
    }
}
