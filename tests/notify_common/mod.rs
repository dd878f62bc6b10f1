//! Fixtures shared by the `notify_*` integration tests: a real SMTP server on loopback
//! (Debian's aiosmtpd with its Maildir handler), policies pointing at it, incidents opened
//! from the shipped runbooks, and a reader for the delivered messages.

// Each test binary uses a different part of this module, and a failed fixture should stop
// the test at once, as `unwrap` inside a `#[test]` function does.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custos::store::{Event, IncidentId, Opening, Store};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

/// Debian's interpreter, which sees Debian's `python3-aiosmtpd`.
const PYTHON: &str = "/usr/bin/python3";

/// A running aiosmtpd that stores every message it takes in a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl SmtpServer {
    /// Starts a server on a free loopback port; fails the test if aiosmtpd is missing.
    pub fn start(maildir: &Path) -> SmtpServer {
        Self::start_on(free_port(), maildir)
    }

    /// Starts a server on `port`, storing into `maildir`.
    pub fn start_on(port: u16, maildir: &Path) -> SmtpServer {
        require_aiosmtpd();
        // aiosmtpd creates a missing Maildir, but not the folders of an existing directory.
        for folder in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(folder)).unwrap();
        }
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = SmtpServer {
            child,
            port,
            maildir: maildir.to_owned(),
        };
        wait_for_port(port);
        server
    }

    /// Stops the server by its process id and waits until the port is closed.
    pub fn stop(mut self) -> u16 {
        self.kill();
        self.port
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running aiosmtpd with TLS and SMTP AUTH (`smtp_auth.py` beside this file), with a
/// certificate for 127.0.0.1 issued by a private CA made with rcgen.
pub struct AuthServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    /// One line per login attempt: mechanism, user, `accepted` or `refused`.
    pub record: PathBuf,
    /// The private CA's certificate, PEM.
    pub ca_pem: String,
}

impl AuthServer {
    /// Starts a server in `dir` with `mode` `starttls` or `tls`, taking one login.
    pub fn start(dir: &Path, mode: &str, user: &str, password: &str) -> AuthServer {
        require_aiosmtpd();
        let maildir = dir.join("maildir");
        for folder in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(folder)).unwrap();
        }

        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Bank Internal CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let chain = server.signed_by(&key, &issuer).unwrap().pem() + &ca_pem;
        std::fs::write(dir.join("server.pem"), chain).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();

        let port = free_port();
        let record = dir.join("logins.txt");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify_common/smtp_auth.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .arg(port.to_string())
            .arg(mode)
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .arg(&maildir)
            .arg(user)
            .arg(&record)
            .env("SMTP_TEST_PASSWORD", password)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready).unwrap();
        assert_eq!(ready, "ready\n", "smtp_auth.py did not start");
        AuthServer {
            child,
            port,
            maildir,
            record,
            ca_pem,
        }
    }

    /// The login attempts the server saw.
    pub fn logins(&self) -> String {
        std::fs::read_to_string(&self.record).unwrap_or_default()
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails the test, with the remedy, when Debian's aiosmtpd cannot be run.
fn require_aiosmtpd() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        ok,
        "the mail tests need a real SMTP server: `{PYTHON} -c 'import aiosmtpd'` failed; run \
         `apt-get install -y python3-aiosmtpd`"
    );
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("aiosmtpd did not start listening on 127.0.0.1:{port} within 20 s");
}

/// One delivered message, read from the Maildir.
#[derive(Debug)]
pub struct Mail {
    pub file: PathBuf,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Mail {
    /// The first header called `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The envelope recipients aiosmtpd recorded.
    pub fn rcpt_to(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("X-RcptTo"))
            .flat_map(|(_, v)| v.split(',').map(|a| a.trim().to_owned()))
            .collect()
    }
}

/// Every message in `maildir/new`, oldest file name first.
pub fn mails(maildir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort_by_key(|file| delivered(file));
    files.into_iter().map(|file| parse(&file)).collect()
}

/// When the Mailbox handler stored a message, from the name Python's `mailbox.Maildir` gives
/// it, `SECONDS.MMICROSECONDSPPIDQCOUNT.HOST`: the microseconds are not zero-padded, so the
/// names do not sort by time as text.
fn delivered(file: &Path) -> (u64, u64, u64, String) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let number = |after: char, before: char| -> u64 {
        name.split_once(after)
            .and_then(|(_, rest)| rest.split(before).next())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let seconds = name
        .split('.')
        .next()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(u64::MAX);
    (seconds, number('M', 'P'), number('Q', '.'), name)
}

fn parse(file: &Path) -> Mail {
    let text = std::fs::read_to_string(file).unwrap().replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let quoted = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("Content-Transfer-Encoding") && v == "quoted-printable"
    });
    let body = if quoted {
        quoted_printable(body)
    } else {
        body.to_owned()
    };
    Mail {
        file: file.to_owned(),
        headers,
        body,
    }
}

/// Decodes quoted-printable text: soft line breaks and `=XX` escapes.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// The real recipient groups of the test policies, and their single addresses.
pub const GROUPS: &[(&str, &str)] = &[
    ("board", "board@bank.test"),
    ("ciso", "ciso@bank.test"),
    ("executives", "executives@bank.test"),
    ("on-call", "on-call@bank.test"),
    ("operations", "operations@bank.test"),
    ("counterparty", "keys@counterparty.test"),
    ("regulator", "incidents@supervisor.test"),
    ("network-team", "noc@bank.test"),
];

/// The drill recipient of the test policies.
pub const DRILL: &str = "drill-observers@bank.test";

/// A project directory with `policies/` (the shipped templates and escalation rules, and a
/// `notify.yaml` for the loopback server on `port`) and the shipped `runbooks/`.
pub fn project(port: u16, smtp_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("templates")).unwrap();
    std::fs::create_dir_all(dir.path().join("runbooks")).unwrap();

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(shipped.join("policies/templates")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            policies.join("templates").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    for entry in std::fs::read_dir(shipped.join("runbooks")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("runbooks").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::copy(
        shipped.join("policies/escalation.yaml"),
        policies.join("escalation.yaml"),
    )
    .unwrap();
    write_notify(&policies, port, smtp_extra);
    dir
}

/// Writes `notify.yaml` for a loopback server on `port`.
pub fn write_notify(policies: &Path, port: u16, smtp_extra: &str) {
    let mut groups = String::new();
    for (group, address) in GROUPS {
        groups.push_str(&format!(
            "  {group}:\n    - name: The {group} group\n      address: {address}\n"
        ));
    }
    let text = format!(
        "smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  timeout: PT5S\n\
         {smtp_extra}sender:\n  name: HSM Incident Response\n  address: custos@bank.test\n\
         groups:\n{groups}drill:\n  recipients:\n    - name: Drill observers\n      \
         address: {DRILL}\n"
    );
    std::fs::write(policies.join("notify.yaml"), text).unwrap();
}

/// The drill clock: 08:00 UTC on 3 December 2026 plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    let start: Timestamp = "2026-12-03T08:00:00Z".parse().unwrap();
    start + SignedDuration::from_mins(minutes)
}

/// Opens an incident from the shipped runbook `id` with `inputs`, at `at(0)`.
pub fn open(store: &mut Store, runbook: &str, rehearsal: bool, inputs: &Value) -> IncidentId {
    open_at(store, runbook, rehearsal, inputs, at(0))
}

/// Opens an incident from the shipped runbook `id` with `inputs`, at `when`.
pub fn open_at(
    store: &mut Store,
    runbook: &str,
    rehearsal: bool,
    inputs: &Value,
    when: Timestamp,
) -> IncidentId {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("runbooks/{runbook}.yaml"));
    let source = std::fs::read_to_string(path).unwrap();
    let loaded = custos::runbook::parse(&source, None, &Default::default()).unwrap();
    let severity = match loaded.severity {
        custos::runbook::Severity::Low => "low",
        custos::runbook::Severity::Medium => "medium",
        custos::runbook::Severity::High => "high",
        custos::runbook::Severity::Critical => "critical",
    };
    let inputs: Map<String, Value> = inputs.as_object().unwrap().clone();
    let opening = Opening {
        runbook_id: loaded.id.clone(),
        runbook_version: loaded.version,
        runbook_source: source,
        title: loaded.title.clone(),
        severity: severity.to_owned(),
        rehearsal,
        initiator: "alice".to_owned(),
        inputs,
    };
    store.open_incident(&opening, when).unwrap()
}

/// Appends `node_entered` for `node` at `at(minutes)`.
pub fn enter(store: &mut Store, incident: &IncidentId, node: &str, minutes: i64) {
    let event = Event::NodeEntered {
        node: node.to_owned(),
    };
    store
        .append(incident, "alice", at(minutes), &[event])
        .unwrap();
}

/// The ZMK compromise inputs.
pub fn zmk_inputs() -> Value {
    serde_json::json!({
        "zmk_label": "ZMK-ACME-2026",
        "zmk_kcv": "1A2B3C ecb",
        "counterparty": "Banco Ejemplo",
        "new_zmk_label": "ZMK-ACME-2027",
    })
}

/// The events of a kind in the incident's log.
pub fn events_of(store: &Store, incident: &IncidentId, kind: &str) -> Vec<Event> {
    store
        .events(incident)
        .unwrap()
        .into_iter()
        .map(|record| record.event)
        .filter(|event| event.kind() == kind)
        .collect()
}
