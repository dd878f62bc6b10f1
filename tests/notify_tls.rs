//! Mail to a relay whose certificate an internal CA issued: STARTTLS and TLS from the first
//! byte, trusting the policy's `ca_file`, then SMTP AUTH, through a real aiosmtpd on loopback.
//! The password reaches the server, and neither it nor the base64 forms AUTH sends it in ever
//! appear in the output, the log, the store or the mail, not even when the server echoes them.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use std::path::Path;
use std::process::{Command, Output};

use custos::notify::{self, NotificationState, Policy};
use custos::store::Store;
use notify_common::*;

const PASSWORD: &str = "Tr0ub4dor-and-3-horses";
/// The password as AUTH LOGIN and AUTH PLAIN (`\0custos\0password`) send it.
const PASSWORD_FORMS: [&str; 3] = [
    PASSWORD,
    "VHIwdWI0ZG9yLWFuZC0zLWhvcnNlcw",
    "AGN1c3RvcwBUcjB1YjRkb3ItYW5kLTMtaG9yc2Vz",
];
const WRONG: &str = "wrong-Horse-battery-9";
const WRONG_FORMS: [&str; 3] = [
    WRONG,
    "d3JvbmctSG9yc2UtYmF0dGVyeS05",
    "AGN1c3RvcwB3cm9uZy1Ib3JzZS1iYXR0ZXJ5LTk",
];

/// A project whose `notify.yaml` reaches `server` with `security`, trusting its CA when
/// `trust` is set, logging in with the variables `TEST_SMTP_USER` and `TEST_SMTP_PASSWORD`.
fn project_for(server: &AuthServer, security: &str, trust: bool) -> tempfile::TempDir {
    let login = "  username_env: TEST_SMTP_USER\n  password_env: TEST_SMTP_PASSWORD\n";
    let project = project(server.port, login);
    let policies = project.path().join("policies");
    std::fs::write(policies.join("internal-ca.pem"), &server.ca_pem).unwrap();
    let ca = if trust {
        "  ca_file: internal-ca.pem\n"
    } else {
        ""
    };
    let notify = std::fs::read_to_string(policies.join("notify.yaml"))
        .unwrap()
        .replace(
            "  security: none\n",
            &format!("  security: {security}\n{ca}"),
        );
    std::fs::write(policies.join("notify.yaml"), notify).unwrap();
    project
}

/// Queues the board report of a real ZMK incident, without sending it.
fn queue_board_report(project: &tempfile::TempDir) -> notify::NotificationId {
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", false, &zmk_inputs());
    notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "zmk-compromise-board-report",
        at(30),
    )
    .unwrap()
}

/// `custos -vv notify flush` with every diagnostic on, logging in with `password`.
fn flush(project: &tempfile::TempDir, password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite", "-vv", "notify", "flush"])
        .env("CUSTOS_LOG", "trace")
        .env("TEST_SMTP_USER", "custos")
        .env("TEST_SMTP_PASSWORD", password)
        .output()
        .unwrap()
}

/// Fails if any of `forms` is in the output or in any file under `dir`.
fn nowhere(forms: &[&str], output: &Output, dir: &Path) {
    let printed = [&output.stdout, &output.stderr];
    let mut files = vec![];
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    for form in forms {
        for bytes in printed {
            assert!(!contains(bytes, form), "`{form}` was printed");
        }
        for (path, bytes) in &files {
            assert!(!contains(bytes, form), "`{form}` is in {path}");
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn starttls_trusting_the_ca_file_logs_in_and_never_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let server = AuthServer::start(dir.path(), "starttls", "custos", PASSWORD);
    let project = project_for(&server, "starttls", true);
    let id = queue_board_report(&project);

    let output = flush(&project, PASSWORD);

    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("sent {id}")), "{stdout}");
    assert_eq!(server.logins(), "PLAIN custos accepted\n");
    let mails = mails(&server.maildir);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to(), ["board@bank.test"]);
    let store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    assert_eq!(
        store.notification(id).unwrap().state,
        NotificationState::Sent
    );
    drop(store);
    nowhere(&PASSWORD_FORMS, &output, project.path());
    nowhere(&PASSWORD_FORMS, &output, &server.maildir);
}

#[test]
fn a_refused_login_is_recorded_without_the_password_even_when_the_server_echoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = AuthServer::start(dir.path(), "starttls", "custos", PASSWORD);
    let project = project_for(&server, "starttls", true);
    let id = queue_board_report(&project);

    let output = flush(&project, WRONG);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(server.logins(), "PLAIN custos refused\n");
    let store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let error = store.notification(id).unwrap().last_error.unwrap();
    assert!(
        error.starts_with(&format!(
            "the mail server 127.0.0.1:{} did not take the message: ",
            server.port
        )) && error.contains("5.7.8 refused ******** ********"),
        "{error}"
    );
    drop(store);
    nowhere(&WRONG_FORMS, &output, project.path());
    assert!(mails(&server.maildir).is_empty());
}

#[test]
fn tls_from_the_first_byte_needs_the_ca_file_to_trust_an_internal_relay() {
    let dir = tempfile::tempdir().unwrap();
    let server = AuthServer::start(dir.path(), "tls", "custos", PASSWORD);
    let untrusting = project_for(&server, "tls", false);
    let refused = queue_board_report(&untrusting);

    let output = flush(&untrusting, PASSWORD);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "failed {refused}: the mail server 127.0.0.1:{}",
            server.port
        )) && stdout.contains("invalid peer certificate: UnknownIssuer"),
        "{stdout}"
    );
    assert_eq!(
        server.logins(),
        "",
        "no login before the certificate is trusted"
    );

    let trusting = project_for(&server, "tls", true);
    let sent = queue_board_report(&trusting);
    let output = flush(&trusting, PASSWORD);

    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("sent {sent}")), "{stdout}");
    assert_eq!(server.logins(), "PLAIN custos accepted\n");
    assert_eq!(mails(&server.maildir).len(), 1);
    nowhere(&PASSWORD_FORMS, &output, trusting.path());
}

#[test]
fn a_ca_file_without_a_certificate_or_without_tls_is_refused_with_its_position() {
    let project = project(2525, "  ca_file: internal-ca.pem\n");
    let policies = project.path().join("policies");
    std::fs::write(policies.join("internal-ca.pem"), "not a certificate\n").unwrap();
    let file = policies.join("notify.yaml");
    let text = std::fs::read_to_string(&file).unwrap();

    let without_tls = custos::notify::check(&policies);
    std::fs::write(&file, text.replace("security: none", "security: starttls")).unwrap();
    let not_pem = custos::notify::check(&policies);

    let render = |reports: Vec<custos::runbook::Report>| -> String {
        reports.iter().map(ToString::to_string).collect()
    };
    let path = file.display();
    assert_eq!(
        render(without_tls),
        format!(
            "{path}:6:12: `ca_file` names a CA for TLS, but `security: none` uses no TLS\n  |\n6 \
             |   ca_file: internal-ca.pem\n  |            ^^^^^^^^^^^^^^^\n"
        )
    );
    assert_eq!(
        render(not_pem),
        format!(
            "{path}:6:12: `ca_file` `{}` holds no PEM `CERTIFICATE` block\n  |\n6 |   ca_file: \
             internal-ca.pem\n  |            ^^^^^^^^^^^^^^^\n",
            policies.join("internal-ca.pem").display()
        )
    );
}
