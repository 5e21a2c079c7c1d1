//! `run -n` against the real ntfy server (Debian's `ntfy` package, fetched by
//! scripts/fetch-ntfy), over HTTP and over HTTPS with a test CA. If the
//! server cannot be had, these tests fail: they never skip. Linux-only: the
//! server comes as a Debian package.
#![cfg(target_os = "linux")]

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tinyjson::JsonValue;

/// `$NTFY_BIN`, else the copy scripts/fetch-ntfy keeps under target/.
fn ntfy_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NTFY_BIN") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/fetch-ntfy"))
        .arg(root.join("target/ntfy"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run scripts/fetch-ntfy");
    assert!(
        out.status.success(),
        "scripts/fetch-ntfy failed: the ntfy server could not be fetched"
    );
    PathBuf::from(text(&out.stdout).trim())
}

struct Ntfy {
    child: Child,
    bin: PathBuf,
    config: PathBuf,
    http: u16,
    https: Option<u16>,
}

impl Drop for Ntfy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Ntfy {
    /// Start `ntfy serve` on loopback with auth (deny-all by default), a
    /// user `alice` who may write `builds`, and return it with her token.
    fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> (Ntfy, String) {
        let bin = ntfy_binary();
        let http = free_port();
        let mut yml = format!(
            "base-url: \"http://127.0.0.1:{http}\"\nlisten-http: \"127.0.0.1:{http}\"\n\
             auth-file: \"{d}/auth.db\"\nauth-default-access: \"deny-all\"\ncache-file: \"{d}/cache.db\"\n",
            d = dir.display()
        );
        let https = tls.map(|(cert, key)| {
            let port = free_port();
            yml.push_str(&format!(
                "listen-https: \"127.0.0.1:{port}\"\ncert-file: \"{}\"\nkey-file: \"{}\"\n",
                cert.display(),
                key.display()
            ));
            port
        });
        let config = dir.join("server.yml");
        std::fs::write(&config, yml).unwrap();
        let child = Command::new(&bin)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let server = Ntfy {
            child,
            bin,
            config,
            http,
            https,
        };
        poll("ntfy to listen", || {
            (std::net::TcpStream::connect(("127.0.0.1", http)).is_ok()
                && dir.join("auth.db").exists())
            .then_some(())
        });
        server.admin(&["user", "add", "--role=user", "alice"]);
        server.admin(&["access", "alice", "builds", "rw"]);
        let out = server.admin(&["token", "add", "alice"]);
        let token = out
            .split_whitespace()
            .find(|w| w.starts_with("tk_"))
            .expect("a token")
            .to_string();
        (server, token)
    }

    fn admin(&self, args: &[&str]) -> String {
        let (verb, rest) = args.split_first().unwrap();
        let out = Command::new(&self.bin)
            .arg(verb)
            .arg("--config")
            .arg(&self.config)
            .args(rest)
            .env("NTFY_PASSWORD", "alice-password")
            .output()
            .unwrap();
        assert!(out.status.success(), "ntfy {args:?}: {}", text(&out.stderr));
        text(&out.stdout) + &text(&out.stderr)
    }

    /// The messages on `topic`, read back through the server's own API.
    fn messages(&self, topic: &str, token: &str) -> Vec<JsonValue> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        write!(
            stream,
            "GET /{topic}/json?poll=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // The body may be chunked: keep the lines that are JSON objects.
        body.lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| l.parse().unwrap())
            .collect()
    }
}

fn start_job(w: &World, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = w.cmd("run");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.arg("-q").args(args).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

#[test]
fn real_ntfy_receives_the_message_with_token_auth_and_refuses_a_wrong_token() {
    let w = World::new();
    let (ntfy, token) = Ntfy::start(&w.root, None);
    let url = format!("http://127.0.0.1:{}/builds", ntfy.http);
    let id = start_job(
        &w,
        &[("NTFY_TOKEN", &token)],
        &[
            "-n",
            &url,
            "--name",
            "build",
            "sh",
            "-c",
            "echo compiling; echo 'error: boom'; exit 2",
        ],
    );
    assert_eq!(w.notify_line(&id), format!("--- notified {url}: HTTP 200"));
    let messages = ntfy.messages("builds", &token);
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        message["title"].get::<String>().unwrap(),
        "build failed (exit 2)"
    );
    assert_eq!(message["priority"].get::<f64>(), Some(&4.0));
    let tags: Vec<String> = message["tags"]
        .get::<Vec<JsonValue>>()
        .unwrap()
        .iter()
        .map(|t| t.get::<String>().unwrap().clone())
        .collect();
    assert_eq!(tags, ["x"]);
    let body = message["message"].get::<String>().unwrap();
    assert!(
        body.starts_with("sh -c 'echo compiling; echo '\\''error: boom'\\''; exit 2'\n"),
        "{body}"
    );
    assert!(body.ends_with("\n\ncompiling\nerror: boom"), "{body}");

    let id = start_job(
        &w,
        &[("NTFY_TOKEN", "tk_wrongwrongwrongwrongwrongwr")],
        &["-n", &url, "true"],
    );
    let line = w.notify_line(&id);
    assert_eq!(line, format!("--- notification to {url} failed: HTTP 401"));
    assert!(!w.log(&id).contains("tk_wrong"));
    assert_eq!(ntfy.messages("builds", &token).len(), 1);
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made with openssl.
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=run test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn real_ntfy_over_https_trusts_ssl_cert_file_and_only_that() {
    let w = World::new();
    let (ca, cert, key) = test_ca(&w.root);
    let (ntfy, token) = Ntfy::start(&w.root, Some((&cert, &key)));
    let url = format!("https://127.0.0.1:{}/builds", ntfy.https.unwrap());
    let ca = ca.to_str().unwrap();
    let id = start_job(
        &w,
        &[("NTFY_TOKEN", &token), ("SSL_CERT_FILE", ca)],
        &["-n", &url, "--name", "secure", "true"],
    );
    assert_eq!(w.notify_line(&id), format!("--- notified {url}: HTTP 200"));
    let messages = ntfy.messages("builds", &token);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["title"].get::<String>().unwrap(), "secure done");
    assert_eq!(
        messages[0]["tags"].get::<Vec<JsonValue>>().unwrap()[0]
            .get::<String>()
            .unwrap(),
        "white_check_mark"
    );

    // Without the test CA the server's certificate is not trusted.
    let id = start_job(
        &w,
        &[("NTFY_TOKEN", &token), ("RUN_NOTIFY_TIMEOUT", "2")],
        &["-n", &url, "true"],
    );
    let line = w.notify_line(&id);
    assert!(
        line.starts_with(&format!("--- notification to {url} failed: ")),
        "{line}"
    );
    assert!(
        line.to_lowercase().contains("certificate") || line.contains("UnknownIssuer"),
        "{line}"
    );
    assert_eq!(ntfy.messages("builds", &token).len(), 1);
}
