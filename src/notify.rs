//! ntfy notifications: where to (the topic rule, the ntfy CLI's config and
//! credentials), what (title, tags, priority, body), and delivery.
//!
//! Rules: credentials live only in memory. They never reach the log, the
//! record, argv or the supervisor's environment listing, and every error
//! about them names the variable, never the value. Delivery is bounded in
//! time and can neither fail nor delay the job: the record is final first.

use crate::record::{Record, Status};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

/// ntfy's default server, as the ntfy CLI uses it.
const DEFAULT_HOST: &str = "https://ntfy.sh";
/// ntfy turns bigger messages into attachments, which servers reject.
const MAX_BODY: usize = 4096;
const ATTEMPTS: u32 = 3;
/// Per attempt, for connecting and for reading; `RUN_NOTIFY_TIMEOUT`
/// (seconds) may lower it.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Names the ntfy server refuses as topics.
const RESERVED: &[&str] = &[
    "docs", "static", "file", "app", "metrics", "account", "settings", "signup", "login", "v1",
];

/// Where a notification goes, and as whom.
#[derive(Clone)]
pub struct Target {
    /// The topic's URL. Never holds credentials: it goes in the record.
    pub url: String,
    auth: Option<Auth>,
}

#[derive(Clone)]
enum Auth {
    Bearer(String),
    Basic(String, String),
}

/// The few keys of the ntfy CLI's `client.yml` that matter here.
#[derive(Default, Debug, PartialEq)]
struct Config {
    default_host: Option<String>,
    default_token: Option<String>,
    default_user: Option<String>,
    default_password: Option<String>,
}

/// Resolve a topic as the ntfy CLI reads it: a bare name on the configured
/// default host, `host/topic` (https), or a full `http(s)://` URL. Checks
/// the topic and the credentials now, before any job starts.
pub fn target(topic: &str) -> Result<Target, String> {
    let config = read_config()?;
    let url = topic_url(topic, config.default_host.as_deref())?;
    if url.starts_with("https://") && !cfg!(feature = "tls") {
        return Err("this build of run has no HTTPS; use an http:// topic URL".into());
    }
    let auth = credentials(&config)?;
    Ok(Target { url, auth })
}

fn topic_url(topic: &str, default_host: Option<&str>) -> Result<String, String> {
    let shown = crate::quote::shell_quote(topic.as_bytes());
    let bad = |why: &str| format!("invalid topic {shown}: {why}");
    if topic.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it may not contain spaces or control characters"));
    }
    if !topic.contains("://") && topic.split('/').next().is_some_and(|h| h.ends_with(':')) {
        return Err(bad("write the scheme in full: http:// or https://"));
    }
    let url = if topic.contains("://") {
        topic.to_string()
    } else if topic.contains('/') {
        format!("https://{topic}")
    } else {
        let host = default_host.unwrap_or(DEFAULT_HOST).trim_end_matches('/');
        if !host.starts_with("http://") && !host.starts_with("https://") {
            return Err(
                "default-host in the ntfy config must start with http:// or https://".into(),
            );
        }
        format!("{host}/{topic}")
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("not a URL"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad("only http:// and https:// URLs"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() || authority.starts_with(':') {
        return Err(bad("no host"));
    }
    if let Some((_, host)) = authority.rsplit_once('@') {
        // Said without them: stderr may go to a cron mail or a CI log.
        let hidden = format!("{scheme}://…@{host}/{path}");
        return Err(format!(
            "invalid topic {}: put credentials in NTFY_TOKEN or NTFY_USER, not in the URL",
            crate::quote::shell_quote(hidden.as_bytes())
        ));
    }
    if !authority.is_ascii() {
        return Err(bad(
            "a host name must be ASCII; give its punycode form (xn--…)",
        ));
    }
    let port = match authority.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(']') && host.contains(':') => None, // [v6
        Some((_, port)) => Some(port),
        None => None,
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("a port is a number"));
    }
    if path.contains(['?', '#']) {
        return Err(bad("no query or fragment"));
    }
    let name = path.rsplit('/').next().unwrap_or("");
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
        return Err(bad("a topic name is 1 to 64 of A-Z a-z 0-9 - _"));
    }
    if RESERVED.contains(&name) {
        return Err(bad("ntfy reserves that name"));
    }
    // The very parser that will send to it must take it.
    if let Err(e) = attohttpc::RequestBuilder::try_new(attohttpc::Method::POST, &url) {
        return Err(bad(&format!("not a URL that can be sent to ({e})")));
    }
    Ok(url)
}

/// The ntfy CLI's order: NTFY_TOKEN, NTFY_USER (`user:pass`), then the
/// config's default-token, or default-user with default-password.
fn credentials(config: &Config) -> Result<Option<Auth>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let clean = |value: &str, from: &str| -> Result<(), String> {
        if value.chars().any(char::is_control) {
            return Err(format!("{from} contains a line break or control character"));
        }
        Ok(())
    };
    if let Some(token) = env("NTFY_TOKEN") {
        clean(&token, "NTFY_TOKEN")?;
        return Ok(Some(Auth::Bearer(token)));
    }
    if let Some(user) = env("NTFY_USER") {
        clean(&user, "NTFY_USER")?;
        let (name, password) = user
            .split_once(':')
            .ok_or("NTFY_USER must be user:password")?;
        return Ok(Some(Auth::Basic(name.into(), password.into())));
    }
    if let Some(token) = &config.default_token {
        clean(token, "default-token in the ntfy config")?;
        return Ok(Some(Auth::Bearer(token.clone())));
    }
    if let (Some(user), Some(password)) = (&config.default_user, &config.default_password) {
        clean(user, "default-user in the ntfy config")?;
        clean(password, "default-password in the ntfy config")?;
        return Ok(Some(Auth::Basic(user.clone(), password.clone())));
    }
    Ok(None)
}

/// `$NTFY_CONFIG`, else `/etc/ntfy/client.yml` for root, else
/// `~/.config/ntfy/client.yml`; a missing file is an empty config. One
/// that is there but cannot be read is an error, not an empty config: its
/// token would be lost without a word.
fn read_config() -> Result<Config, String> {
    use std::io::{self, Read};
    use std::os::unix::fs::OpenOptionsExt;
    let path = match std::env::var_os("NTFY_CONFIG") {
        Some(path) => PathBuf::from(path),
        None if crate::sys::effective_uid() == 0 => PathBuf::from("/etc/ntfy/client.yml"),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".config/ntfy/client.yml"),
            None => return Ok(Config::default()),
        },
    };
    let cannot = |why: &str| {
        let shown = crate::quote::escape(&path.to_string_lossy());
        format!("cannot read the ntfy config {shown}: {why}")
    };
    // Without blocking, so that a FIFO there cannot hang the launch.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path);
    let file = match opened {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Config::default());
        }
        Err(e) => return Err(cannot(&crate::error::describe(&e))),
        Ok(file) => file,
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(cannot("not a regular file"));
    }
    let mut text = String::new();
    file.take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => cannot("it is not UTF-8 text"),
            _ => cannot(&crate::error::describe(&e)),
        })?;
    Ok(parse_config(&text))
}

/// Top-level `key: value` lines only; no YAML library.
fn parse_config(text: &str) -> Config {
    let mut config = Config::default();
    for line in text.lines() {
        if line.starts_with([' ', '\t', '#']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value.split(" #").next().unwrap_or("").trim(),
        };
        let value = Some(value.to_string()).filter(|v| !v.is_empty());
        match key.trim() {
            "default-host" => config.default_host = value,
            "default-token" => config.default_token = value,
            "default-user" => config.default_user = value,
            "default-password" => config.default_password = value,
            _ => {}
        }
    }
    config
}

pub struct Message {
    pub title: String,
    pub tags: &'static str,
    pub priority: &'static str,
    pub body: String,
}

/// The message for a job that ended as `record` says; `None` for a lost
/// job, which sends nothing. `output` is the end of the job's output;
/// `troubles`, lines on what went wrong in recording it (a log that could
/// not be written to, an end that could not be recorded).
pub fn message(record: &Record, output: &str, troubles: &[String]) -> Option<Message> {
    let (tags, priority, unknown) = match record.status {
        Status::Done => ("white_check_mark", "default", ""),
        Status::Failed => ("x", "high", "exit ?"),
        Status::Killed => ("skull", "high", "signal"),
        Status::Skipped => ("fast_forward", "high", "never started"),
        _ => return None,
    };
    let title = match record.status {
        Status::Done => format!("{} done", record.name),
        status => {
            let how = record.end_detail().unwrap_or(unknown.into());
            format!("{} {} ({how})", record.name, status.word())
        }
    };
    let mut command = crate::quote::shell_join(&record.command);
    if command.chars().count() > 200 {
        command = command.chars().take(199).collect::<String>() + "…";
    }
    let duration = crate::time::duration(
        crate::time::seconds(record.duration.unwrap_or(0.0)).unwrap_or_default(),
    );
    let mut body = format!(
        "{command}\n{duration} on {}",
        crate::quote::escape(&record.host)
    );
    if let Some(cost) = record.cost() {
        body = format!("{body}, {cost}");
    }
    for trouble in troubles {
        body = format!("{body}\n{trouble}");
    }
    if record.status != Status::Done && !output.trim().is_empty() {
        body.push_str("\n\n");
        let room = MAX_BODY.saturating_sub(body.len());
        body.push_str(cut_front(output.trim_end(), room));
    }
    Some(Message {
        title,
        tags,
        priority,
        body,
    })
}

/// The end of `text` within `room` bytes, from a line start if one fits,
/// cut on a character boundary.
fn cut_front(text: &str, room: usize) -> &str {
    if text.len() <= room {
        return text;
    }
    let mut start = text.len() - room;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    match tail.find('\n') {
        Some(i) if i + 1 < tail.len() => &tail[i + 1..],
        _ => tail,
    }
}

/// The last lines of output in the log between `start` (after the header)
/// and `end` (where the footer begins), as displayable text.
pub fn output_tail(log: &File, start: u64, end: u64) -> String {
    let from = end.saturating_sub(MAX_BODY as u64).max(start);
    let mut buf = vec![0u8; (end - from.min(end)) as usize];
    if log.read_exact_at(&mut buf, from).is_err() {
        return String::new();
    }
    let clean = screen(&String::from_utf8_lossy(&buf));
    let lines: Vec<&str> = clean.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// What a terminal would show of `text`: each line's last state after `\r`
/// and backspace rewrote it (and ESC [ K erased it), with escape sequences
/// (colours, OSC titles up to BEL or ESC \\) and other control characters
/// removed whole.
fn screen(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut line: Vec<char> = Vec::new();
    let mut at: usize = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.extend(line.drain(..));
                out.push('\n');
                at = 0;
            }
            '\r' => at = 0,
            '\x08' => at = at.saturating_sub(1),
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    while let Some(p) = chars.next_if(|c| !('\x40'..='\x7e').contains(c)) {
                        params.push(p);
                    }
                    // Erase in line: to its end (0), or all of it (2).
                    match (chars.next(), params.as_str()) {
                        (Some('K'), "" | "0") => line.truncate(at),
                        (Some('K'), "2") => line.clear(),
                        _ => {}
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            c if c.is_control() && c != '\t' => {}
            c => {
                match line.get_mut(at) {
                    Some(cell) => *cell = c,
                    None => line.push(c),
                }
                at += 1;
            }
        }
    }
    out.extend(line);
    out
}

/// Send `message` to `target`, retrying a bounded number of times. Returns
/// the line for the job's log: the HTTP status, or the error.
pub fn deliver(target: &Target, message: &Message) -> String {
    let timeout = std::env::var("RUN_NOTIFY_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .and_then(crate::time::seconds)
        .map_or(MAX_TIMEOUT, |d| d.min(MAX_TIMEOUT));
    let roots = target.url.starts_with("https://").then(tls::roots);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let mut request =
            match attohttpc::RequestBuilder::try_new(attohttpc::Method::POST, &target.url) {
                Ok(request) => request,
                Err(e) => {
                    last = e.to_string();
                    break;
                }
            };
        request = request
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .timeout(timeout)
            .follow_redirects(false);
        if let Some(roots) = &roots {
            request = tls::trust(request, roots);
        }
        request = match &target.auth {
            Some(Auth::Bearer(token)) => request.bearer_auth(token.as_str()),
            Some(Auth::Basic(user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let sent = request
            .try_header("Title", message.title.as_str())
            .and_then(|r| r.try_header("Tags", message.tags))
            .and_then(|r| r.try_header("Priority", message.priority))
            .and_then(|r| r.text(message.body.as_str()).send());
        let wait = match sent {
            Ok(response) if response.is_success() => {
                return format!(
                    "notified {}: HTTP {}",
                    target.url,
                    response.status().as_u16()
                );
            }
            Ok(response) => {
                let code = response.status().as_u16();
                last = format!("HTTP {code}");
                match code {
                    429 => response
                        .headers()
                        .get("Retry-After")
                        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                        .map_or(Duration::from_secs(5), |s| Duration::from_secs(s.min(10))),
                    500..=599 => Duration::from_secs(attempt as u64),
                    // Other client errors (401, 403, 404) will not change.
                    _ => break,
                }
            }
            Err(e) => {
                last = e.to_string();
                Duration::from_secs(attempt as u64)
            }
        };
        if attempt < ATTEMPTS {
            std::thread::sleep(wait);
        }
    }
    format!(
        "notification to {} failed: {}",
        target.url,
        crate::quote::escape(&last)
    )
}

#[cfg(feature = "tls")]
mod tls {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    pub type Roots = Vec<CertificateDer<'static>>;

    /// The system's CA bundle (`SSL_CERT_FILE` first), else the roots built
    /// in (`roots.pem`: the main public CAs, from Mozilla's set). attohttpc
    /// 0.31's ring features load no roots themselves.
    pub fn roots() -> Roots {
        let candidates = std::env::var_os("SSL_CERT_FILE")
            .into_iter()
            .map(std::path::PathBuf::from)
            .chain(
                [
                    "/etc/ssl/certs/ca-certificates.crt",
                    "/etc/pki/tls/certs/ca-bundle.crt",
                    "/etc/ssl/cert.pem",
                ]
                .into_iter()
                .map(Into::into),
            );
        // Only a regular file: a FIFO or a device there would hang the
        // supervisor, or never end.
        let file = |path: &std::path::PathBuf| std::fs::metadata(path).is_ok_and(|m| m.is_file());
        for path in candidates.filter(file) {
            if let Ok(certs) = CertificateDer::pem_file_iter(&path) {
                let certs: Roots = certs.filter_map(Result::ok).collect();
                if !certs.is_empty() {
                    return certs;
                }
            }
        }
        built_in()
    }

    pub fn built_in() -> Roots {
        CertificateDer::pem_slice_iter(include_bytes!("roots.pem"))
            .filter_map(Result::ok)
            .collect()
    }

    pub fn trust(
        mut request: attohttpc::RequestBuilder,
        roots: &Roots,
    ) -> attohttpc::RequestBuilder {
        for root in roots {
            request = request.add_root_certificate(root.clone());
        }
        request
    }
}

/// Without TLS, an https topic is refused before the job starts.
#[cfg(not(feature = "tls"))]
mod tls {
    pub fn roots() {}

    pub fn trust(request: attohttpc::RequestBuilder, _roots: &()) -> attohttpc::RequestBuilder {
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_what_a_terminal_shows() {
        assert_eq!(
            screen("progress 10%\rprogress 50%\rprogress 100%\ndone\n"),
            "progress 100%\ndone\n"
        );
        assert_eq!(screen("12345\rab\n"), "ab345\n");
        assert_eq!(screen("12345\rab\x1b[K\n"), "ab\n");
        assert_eq!(screen("12345\x1b[2Kx\n"), "x\n");
        assert_eq!(screen("abc\x08\x08X\n"), "aXc\n");
        assert_eq!(screen("\x1b]0;title\x07ok \x1b]2;t\x1b\\end\n"), "ok end\n");
        assert_eq!(screen("\x1b[1;31mred\x1b[0m\tx\x01\r\n"), "red\tx\n");
        assert_eq!(screen("no newline\rNO"), "NO newline");
        assert_eq!(screen(""), "");
        // An OSC that never ends takes the rest, not the whole tail.
        assert_eq!(screen("a\n\x1b]0;tit"), "a\n");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn the_built_in_roots_all_parse_and_include_lets_encrypt() {
        let pem = include_str!("roots.pem");
        let certs = tls::built_in();
        assert_eq!(
            certs.len(),
            pem.matches("-----BEGIN CERTIFICATE-----").count()
        );
        assert!(certs.len() >= 20, "{}", certs.len());
        assert!(certs.iter().all(|c| c.starts_with(&[0x30, 0x82])));
        assert!(pem.contains("\n# ISRG Root X1\n-----BEGIN"));
        assert!(pem.contains("\n# ISRG Root X2\n-----BEGIN"));
    }

    #[test]
    fn topic_forms() {
        assert_eq!(topic_url("builds", None).unwrap(), "https://ntfy.sh/builds");
        assert_eq!(
            topic_url("builds", Some("http://h:8080/")).unwrap(),
            "http://h:8080/builds"
        );
        assert_eq!(
            topic_url("ntfy.example.com/builds", None).unwrap(),
            "https://ntfy.example.com/builds"
        );
        assert_eq!(
            topic_url("http://127.0.0.1:9/a_b-1", None).unwrap(),
            "http://127.0.0.1:9/a_b-1"
        );
        assert_eq!(
            topic_url("https://h/base/t", None).unwrap(),
            "https://h/base/t"
        );
        assert_eq!(topic_url("h:8080/t", None).unwrap(), "https://h:8080/t");
        assert_eq!(
            topic_url("http://[::1]:8080/t", None).unwrap(),
            "http://[::1]:8080/t"
        );
    }

    #[test]
    fn bad_topics_are_refused() {
        for bad in [
            "has space",
            &"x".repeat(65),
            "",
            "bad!",
            "docs",
            "ftp://h/t",
            "https:///t",
            "https://user:pw@h/t",
            "https://h/",
            "https://h/t?x=1",
            "line\nbreak",
            "http://127.0.0.1:99999/x",
            "http://:80/x",
            "http://[::1/x",
            "https://ünï.com/t",
            "http:/x",
            "h:/x",
            "h:8o/x",
            "http://h:/x",
        ] {
            assert!(topic_url(bad, None).is_err(), "{bad:?}");
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn without_tls_an_https_topic_is_a_clear_error() {
        let err = target("https://ntfy.example.com/t").err().unwrap();
        assert!(err.contains("no HTTPS"), "{err}");
        assert!(target("http://127.0.0.1:1/t").is_ok());
    }

    #[test]
    fn config_keys_are_read_without_yaml() {
        let text = "# ntfy\ndefault-host: https://ntfy.example.com\ndefault-token: \"tk_abc\" # comment\n\
                    default-user: 'me'\ndefault-password: secret # trailing\nsubscribe:\n  - topic: x\n    default-host: nope\n";
        assert_eq!(
            parse_config(text),
            Config {
                default_host: Some("https://ntfy.example.com".into()),
                default_token: Some("tk_abc".into()),
                default_user: Some("me".into()),
                default_password: Some("secret".into()),
            }
        );
    }

    #[test]
    fn cutting_keeps_the_end_on_a_boundary() {
        assert_eq!(cut_front("abc", 10), "abc");
        assert_eq!(cut_front("line1\nline2\nline3", 8), "line3");
        let text = "é".repeat(10);
        let cut = cut_front(&text, 5);
        assert!(cut.len() <= 5 && cut.chars().all(|c| c == 'é'));
    }
}
