//! Timestamps and durations, formatted by hand (no date crate).
//!
//! Rule: wall-clock times are only for display and ids; every duration comes
//! from the monotonic clock.

use crate::sys::{self, LocalTime};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, with the fraction.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Broken-down local time of `t` (TZ honoured). Falls back to UTC fields if
/// the C library cannot convert, which only happens for absurd years.
pub fn local(t: SystemTime) -> LocalTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    sys::local_time(secs).unwrap_or(LocalTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        offset: 0,
    })
}

/// `20251205_163539`, the stamp in a job id.
pub fn id_stamp(t: &LocalTime) -> String {
    format!(
        "{:04}{:02}{:02}_{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// `2025-12-05 16:35:39 +0100`, for log headers and footers.
pub fn human(t: &LocalTime) -> String {
    let sign = if t.offset < 0 { '-' } else { '+' };
    let off = t.offset.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        off / 3600,
        off / 60 % 60
    )
}

/// When jobs started, as a listing says it: `16:35` today, else `Dec 05`,
/// or `Dec 2025` in another year.
/// Local time is asked once per quarter hour of UTC that jobs started in:
/// every UTC offset since 1972 is a whole number of quarter hours, so no
/// quarter hour holds a change of offset or of day. (musl's localtime for
/// each of 10,000 rows cost 5 ms, 14% of the listing.)
pub struct Starts {
    today: LocalTime,
    quarter: Option<(i64, LocalTime)>,
}

impl Starts {
    pub fn new(now: SystemTime) -> Starts {
        Starts {
            today: local(now),
            quarter: None,
        }
    }

    pub fn push(&mut self, out: &mut String, started: f64) {
        use std::fmt::Write;
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let secs = started.max(0.0) as i64;
        let quarter = secs - secs.rem_euclid(900);
        let t = match &self.quarter {
            Some((q, t)) if *q == quarter => t,
            _ => {
                &self
                    .quarter
                    .insert((
                        quarter,
                        local(UNIX_EPOCH + Duration::from_secs(quarter as u64)),
                    ))
                    .1
            }
        };
        let today = &self.today;
        let month = MONTHS[(t.month as usize).clamp(1, 12) - 1];
        let _ = if (t.year, t.month, t.day) == (today.year, today.month, today.day) {
            let minute = t.minute + (secs - quarter) as u32 / 60;
            write!(out, "{:02}:{:02}", t.hour, minute)
        } else if t.year == today.year {
            write!(out, "{month} {:02}", t.day)
        } else {
            // Another year's `Dec 07` would read as this year's.
            write!(out, "{month} {}", t.year)
        };
    }
}

/// `s` seconds; a negative count (or NaN) is 0, and one too big for a
/// `Duration` (from a damaged record) is `None`.
pub fn seconds(s: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(s.max(0.0)).ok()
}

/// The original's style, two units at most: `45s`, `3m 12s`, `2h 15m`, `1d 4h`.
pub fn duration(d: Duration) -> String {
    let mut out = String::new();
    push_duration(&mut out, d);
    out
}

/// A limit as one would give it: `2h`, not `2h 0m`; `0.5s`, not `0s`.
pub fn limit(d: Duration) -> String {
    if d.as_secs() < 60 && d.subsec_nanos() > 0 {
        return format!("{}s", d.as_secs_f64());
    }
    let text = duration(d);
    let zero = [" 0h", " 0m", " 0s"]
        .iter()
        .find_map(|z| text.strip_suffix(z));
    zero.unwrap_or(&text).to_string()
}

/// `duration`, onto the end of `out`.
pub fn push_duration(out: &mut String, d: Duration) {
    use std::fmt::Write;
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    let _ = if days > 0 {
        write!(out, "{days}d {hours}h")
    } else if hours > 0 {
        write!(out, "{hours}h {minutes}m")
    } else if minutes > 0 {
        write!(out, "{minutes}m {seconds}s")
    } else {
        write!(out, "{seconds}s")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> LocalTime {
        LocalTime {
            year: 2025,
            month: 12,
            day: 5,
            hour: 16,
            minute: 3,
            second: 9,
            offset,
        }
    }

    #[test]
    fn id_stamp_is_zero_padded() {
        assert_eq!(id_stamp(&at(0)), "20251205_160309");
    }

    #[test]
    fn human_time_carries_the_offset() {
        assert_eq!(human(&at(3600)), "2025-12-05 16:03:09 +0100");
        assert_eq!(
            human(&at(-(5 * 3600 + 30 * 60))),
            "2025-12-05 16:03:09 -0530"
        );
        assert_eq!(human(&at(0)), "2025-12-05 16:03:09 +0000");
    }

    #[test]
    fn durations_in_the_original_style() {
        let s = Duration::from_secs;
        assert_eq!(duration(Duration::from_millis(400)), "0s");
        assert_eq!(duration(s(45)), "45s");
        assert_eq!(duration(s(192)), "3m 12s");
        assert_eq!(duration(s(2 * 3600 + 15 * 60 + 59)), "2h 15m");
        assert_eq!(duration(s(86400 + 4 * 3600 + 1)), "1d 4h");
    }
}

/// `90s`, `30m`, `12h`, `7d`, or units together, largest first and each
/// once, as the listings show them (`1h30m`, `2d12h`); bare seconds; each
/// number may have a fraction, as sleep(1)'s do (`1.5h`, `0.5`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let (mut total, mut rest, mut last) = (Duration::ZERO, text, u64::MAX);
    while !rest.is_empty() {
        let at = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let scale = match rest[at..].chars().next() {
            // Bare seconds: the whole text is one number.
            None if at == text.len() => 1,
            Some('d') => 86_400,
            Some('h') => 3600,
            Some('m') => 60,
            Some('s') => 1,
            _ => return None,
        };
        let (whole, fraction) = rest[..at].split_once('.').unwrap_or((&rest[..at], ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || scale >= last || !digits(whole) || !digits(fraction)
        {
            return None;
        }
        // The fraction's first nine digits, as nanoseconds of a unit.
        let nanos: u64 = format!("{:0<9.9}", fraction).parse().ok()?;
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let part = Duration::from_secs(whole.checked_mul(scale)?)
            .checked_add(Duration::from_nanos(nanos * scale))?;
        total = total.checked_add(part)?;
        (rest, last) = (&rest[(at + 1).min(rest.len())..], scale);
    }
    Some(total)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604800)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("2d12h5s"),
            Some(Duration::from_secs(216_005))
        );
        assert_eq!(parse_duration("0m"), Some(Duration::ZERO));
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("1.5h"), Some(ms(5_400_000)));
        assert_eq!(parse_duration("0.5"), Some(ms(500)));
        assert_eq!(parse_duration(".25s"), Some(ms(250)));
        assert_eq!(parse_duration("2.s"), Some(ms(2000)));
        assert_eq!(parse_duration("1h0.5m"), Some(ms(3_630_000)));
        assert_eq!(
            parse_duration("0.0000000019s"),
            Some(Duration::from_nanos(1))
        );
        for bad in [
            "",
            "m",
            "5x",
            "-5s",
            ".",
            ".s",
            "1..5h",
            "1.5.h",
            "1e3",
            "-0.5",
            "inf",
            "5 s",
            "99999999999999999999d",
            "30m1h",
            "1h1h",
            "1h30",
            "h30m",
            "1hm",
            "1h\u{e9}",
            "\u{e9}",
            "213503982334602d",
            "213503982334601d8h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
