//! Queueing and delivering through a real SMTP server on loopback, and surviving its absence.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use std::process::Command;

use custos::notify::{self, NotificationState, Policy};
use custos::store::{Event, Store};
use notify_common::*;

#[test]
fn a_queued_notification_reaches_the_group_with_its_subject_body_and_message_id() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", false, &zmk_inputs());
    enter(&mut store, &incident, "notify_executives", 30);

    let id = notify::queue(
        &mut store,
        &policy,
        &incident,
        Some("notify_executives"),
        "executives",
        "zmk-compromise-confirmed",
        at(31),
    )
    .unwrap();
    let report = notify::deliver(&mut store, &policy, at(31)).unwrap();

    assert_eq!(report.sent, [id]);
    let row = store.notification(id).unwrap();
    assert_eq!(row.state, NotificationState::Sent);
    let mails = mails(mail_dir.path());
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.rcpt_to(), ["executives@bank.test"]);
    assert_eq!(mail.header("X-MailFrom"), Some("custos@bank.test"));
    assert_eq!(
        mail.header("Subject"),
        Some("URGENT: ZMK shared with Banco Ejemplo is compromised (INC-1)")
    );
    assert_eq!(mail.header("Message-ID"), Some(row.message_id.as_str()));
    assert!(
        row.message_id.starts_with("<custos.INC-1.N1."),
        "{}",
        row.message_id
    );
    assert!(
        row.message_id.ends_with("@bank.test>"),
        "{}",
        row.message_id
    );
    assert_eq!(mail.header("X-Custos-Notification"), Some("INC-1.N1"));
    assert!(
        mail.body.contains("To the executive team,"),
        "{}",
        mail.body
    );
    assert!(
        mail.body.contains("zone master key ZMK-ACME-2026"),
        "{}",
        mail.body
    );
    assert!(
        mail.body
            .contains("step \"Tell executives the ZMK is compromised\"")
    );
    assert!(!mail.body.contains("DRILL"));

    let queued = events_of(&store, &incident, "notification_queued");
    assert_eq!(
        queued,
        [Event::NotificationQueued {
            node: Some("notify_executives".to_owned()),
            notification: "INC-1.N1".to_owned(),
            group: "executives".to_owned(),
            template: "zmk-compromise-confirmed".to_owned(),
        }]
    );
    let sent = events_of(&store, &incident, "notification_sent");
    let [
        Event::NotificationSent {
            message_id,
            response,
            ..
        },
    ] = &sent[..]
    else {
        panic!("expected one sent event, got {sent:?}");
    };
    assert_eq!(message_id, &row.message_id);
    assert!(response.starts_with("250"), "{response}");
    assert!(store.verify(&incident, None).unwrap().is_ok());
}

#[test]
fn notifications_queued_while_the_server_is_down_are_delivered_exactly_once_after_it_returns() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let port = server.stop();
    let project = project(port, "");
    let policies = project.path().join("policies");
    let store_path = project.path().join("incidents.sqlite");
    let policy = Policy::load(&policies).unwrap();
    let mut store = Store::open(&store_path).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);

    // An hour in, the executives and the on-call manager fall due; the server is down.
    let report = notify::escalate(&mut store, &policy, at(61)).unwrap();
    let fired: Vec<&str> = report.fired.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(fired, ["executives-after-1-hour", "step-overdue:intake"]);
    assert_eq!(report.delivery.failed.len(), 2);
    assert!(
        report.delivery.failed[0].1.contains("127.0.0.1"),
        "{report:?}"
    );
    // A second round a minute later retries, fails again, and queues nothing new.
    let again = notify::escalate(&mut store, &policy, at(62)).unwrap();
    assert!(again.fired.is_empty());
    assert_eq!(again.delivery.failed.len(), 2);
    for row in store.outbox().unwrap() {
        assert_eq!((row.state, row.attempts), (NotificationState::Pending, 2));
        assert_eq!(
            row.next_attempt,
            at(64),
            "the second failure waits 2 minutes"
        );
    }

    // The server comes back; cron runs `custos escalate` with the drill clock at 4 h 10 min.
    let server = SmtpServer::start_on(port, mail_dir.path());
    let output = custos(&project, &["escalate", "--now", &at(250).to_string()]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("escalated INC-1 (board-after-4-hours)"),
        "{stdout}"
    );
    assert!(stdout.contains("sent INC-1.N1"), "{stdout}");
    // And once more: nothing is sent twice.
    let output = custos(&project, &["escalate", "--now", &at(251).to_string()]);
    assert!(output.status.success(), "{output:?}");
    drop(server);

    let store = Store::open(&store_path).unwrap();
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|n| n.state == NotificationState::Sent));
    let mails = mails(mail_dir.path());
    let mut ids: Vec<&str> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = outbox.iter().map(|n| n.message_id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(
        ids, expected,
        "each notification is in the mailbox exactly once"
    );
    assert_eq!(events_of(&store, &incident, "notification_sent").len(), 3);
    assert_eq!(events_of(&store, &incident, "notification_failed").len(), 4);
    assert_eq!(events_of(&store, &incident, "escalation_fired").len(), 3);
    assert!(store.verify(&incident, None).unwrap().is_ok());
}

#[test]
fn custos_escalate_exits_1_while_a_notification_is_still_failing() {
    let port = free_port();
    let project = project(port, "");
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);

    let output = custos(&project, &["escalate", "--now", &at(61).to_string()]);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("custos: some notifications are not delivered yet"),
        "{stderr}"
    );
    let list = custos(&project, &["notify", "list"]);
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains("INC-1.N1\tINC-1\texecutives\t"), "{list}");
    assert!(
        list.contains("\tpending\t1\t2026-12-03T09:02:00Z\t<custos.INC-1.N1."),
        "{list}"
    );
}

#[test]
fn no_smtp_password_appears_in_any_error_output_or_record() {
    let password = "Tr0ub4dor-and-3-horses";
    let mail_dir = tempfile::tempdir().unwrap();
    // aiosmtpd offers no AUTH, so a login with these credentials must fail.
    let server = SmtpServer::start(mail_dir.path());
    let login = "  username_env: TEST_SMTP_USER\n  password_env: TEST_SMTP_PASSWORD\n";
    let project = project(server.port, login);
    let store_path = project.path().join("incidents.sqlite");
    let mut store = Store::open(&store_path).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);
    drop(store);

    let output = Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite", "-vv", "escalate", "--now"])
        .arg(at(61).to_string())
        .env("TEST_SMTP_USER", "custos")
        .env("TEST_SMTP_PASSWORD", password)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("failed INC-1.N1"), "{stdout}");
    assert!(!stdout.contains(password) && !stderr.contains(password));
    let store = Store::open(&store_path).unwrap();
    for row in store.outbox().unwrap() {
        let error = row.last_error.unwrap();
        assert!(!error.contains(password), "{error}");
    }
    drop(store);
    for entry in std::fs::read_dir(project.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes());
            assert!(!found, "the password is in {}", path.display());
        }
    }
    assert!(mails(mail_dir.path()).is_empty());
}

#[test]
fn a_missing_password_variable_is_named_without_any_value() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let login = "  username_env: TEST_SMTP_USER\n  password_env: TEST_SMTP_PASSWORD_UNSET\n";
    let project = project(server.port, login);
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);
    drop(store);

    let output = Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite", "escalate", "--now"])
        .arg(at(61).to_string())
        .env("TEST_SMTP_USER", "custos")
        .env_remove("TEST_SMTP_PASSWORD_UNSET")
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "failed INC-1.N1: the environment variable `TEST_SMTP_PASSWORD_UNSET`, which \
             `notify.yaml` names for the SMTP login, is not set"
        ),
        "{stdout}"
    );
}

/// Runs the binary in the project directory against its store.
fn custos(project: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_notification_of_an_incident_closed_before_delivery_is_still_sent_and_recorded() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", false, &zmk_inputs());
    let id = notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "zmk-compromise-board-report",
        at(30),
    )
    .unwrap();
    let closing = Event::IncidentClosed {
        node: "end_completed".to_owned(),
        outcome: "completed".to_owned(),
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    store
        .close(&incident, "alice", at(31), closing, &key)
        .unwrap();

    let report = notify::deliver(&mut store, &policy, at(32)).unwrap();

    assert_eq!(report.sent, [id]);
    assert_eq!(mails(mail_dir.path()).len(), 1);
    let deliveries = store.deliveries(id).unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        (deliveries[0].attempt, deliveries[0].outcome.as_str()),
        (1, "sent")
    );
    assert!(deliveries[0].detail.starts_with("250"), "{deliveries:?}");
    // The sealed log took no event after its close, and still verifies.
    assert!(events_of(&store, &incident, "notification_sent").is_empty());
    assert!(store.verify(&incident, None).unwrap().is_ok());
}

#[test]
fn two_processes_escalating_at_the_same_moment_queue_and_send_each_escalation_once() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let store_path = project.path().join("incidents.sqlite");
    let mut store = Store::open(&store_path).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);

    let runs: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_custos"))
                .current_dir(project.path())
                .args(["--store", "incidents.sqlite", "escalate", "--now"])
                .arg(at(61).to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    // Whatever one process saw in flight, a later run finds nothing left to do.
    let last = custos(&project, &["escalate", "--now", &at(61).to_string()]);
    assert!(last.status.success(), "{last:?}");

    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 2);
    assert!(outbox.iter().all(|n| n.state == NotificationState::Sent));
    assert_eq!(mails(mail_dir.path()).len(), 2);
    assert_eq!(events_of(&store, &incident, "escalation_fired").len(), 2);
    assert_eq!(events_of(&store, &incident, "notification_sent").len(), 2);
}

#[test]
fn what_a_notification_says_cannot_be_edited_or_deleted_in_the_store() {
    let project = project(free_port(), "");
    let store_path = project.path().join("incidents.sqlite");
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&store_path).unwrap();
    let incident = open(&mut store, "zmk-compromise", false, &zmk_inputs());
    notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "zmk-compromise-board-report",
        at(1),
    )
    .unwrap();

    let sql = rusqlite::Connection::open(&store_path).unwrap();
    let edit = sql.execute("UPDATE outbox SET subject = 'nothing to see'", []);
    let delete = sql.execute("DELETE FROM outbox", []);

    assert!(
        edit.unwrap_err()
            .to_string()
            .contains("what a custos notification says is never edited")
    );
    assert!(
        delete
            .unwrap_err()
            .to_string()
            .contains("custos notifications are never deleted")
    );
}

#[test]
fn a_template_with_html_sends_a_plain_text_and_an_html_alternative() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let template = project.path().join("policies/templates/board-brief.yaml");
    std::fs::write(
        &template,
        "subject: \"Brief on {{incident.id}}\"\nbody: |\n  Plain: {{incident.title}}\n\
         html: |\n  <p>Rich: <b>{{incident.title}}</b></p>\n",
    )
    .unwrap();
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", false, &zmk_inputs());

    notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "board-brief",
        at(1),
    )
    .unwrap();
    notify::deliver(&mut store, &policy, at(1)).unwrap();

    let mails = mails(mail_dir.path());
    assert_eq!(mails.len(), 1);
    let content_type = mails[0].header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative;"),
        "{content_type}"
    );
    let text = std::fs::read_to_string(&mails[0].file).unwrap();
    assert!(text.contains("Plain: Emergency ZMK rotation"), "{text}");
    assert!(
        text.contains("<p>Rich: <b>Emergency ZMK rotation"),
        "{text}"
    );
}
