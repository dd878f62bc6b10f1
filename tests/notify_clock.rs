//! A drill's set clock stays with the drill: a real incident's notification delivered in the
//! same run is stamped with the real time, and `custos escalate --now` escalates drills on the
//! set clock and real incidents on the real one.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use std::process::Command;

use custos::notify::{self, NotificationState, Policy};
use custos::store::{Event, Store};
use jiff::{SignedDuration, Timestamp};
use notify_common::*;

/// Runs the binary in the project directory against its store.
fn custos(project: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite"])
        .args(args)
        .output()
        .unwrap()
}

/// Asserts `at` lies between `before` and now.
fn real(at: Timestamp, before: Timestamp, what: &str) {
    assert!(
        at >= before && at <= Timestamp::now(),
        "{what} is {at}, not the real time (after {before})"
    );
}

#[test]
fn a_drill_expiry_check_on_a_set_clock_sends_a_real_notification_on_the_real_clock() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let policies = project.path().join("policies");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    params.not_after = rcgen::date_time_ymd(2030, 1, 20);
    std::fs::write(
        policies.join("soon.pem"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
    std::fs::write(
        policies.join("inventory.yaml"),
        "bands:\n  - { days: 30, severity: high, notify: on-call, template: expiry-warning }\n  \
         - { days: 7, severity: critical, notify: ciso, template: expiry-final-warning }\n\
         expired: { severity: critical, notify: ciso, template: expiry-expired }\n\
         certificates:\n  soon: { file: soon.pem }\n",
    )
    .unwrap();

    // A real incident's board report is queued, with a clock some caller got wrong, and waits.
    let policy = Policy::load(&policies).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", false, &zmk_inputs());
    let before = Timestamp::now();
    let board = notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "zmk-compromise-board-report",
        "2030-01-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap();

    // A drill check replays 1 January 2030 and delivers the whole outbox.
    let run = custos(
        &project,
        &["expiry", "check", "--drill", "--now", "2030-01-01"],
    );
    assert!(run.status.success(), "{run:?}");

    let row = store.notification(board).unwrap();
    assert_eq!(row.state, NotificationState::Sent);
    real(row.queued_at, before, "the queue time");
    real(row.sent_at.unwrap(), before, "the send time");
    for delivery in store.deliveries(board).unwrap() {
        real(delivery.at, before, "the delivery time");
    }
    let sent = store
        .events(&incident)
        .unwrap()
        .into_iter()
        .find(|record| matches!(record.event, Event::NotificationSent { .. }))
        .unwrap();
    real(sent.at, before, "the time of `notification_sent`");

    // The drill's own alert carries the drill's day.
    let alert = store
        .outbox()
        .unwrap()
        .into_iter()
        .find(|n| n.template == "expiry-warning")
        .unwrap();
    let drill_day: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    assert_eq!(
        (alert.queued_at, alert.sent_at),
        (drill_day, Some(drill_day))
    );
    let mails = mails(mail_dir.path());
    assert_eq!(mails.len(), 2);
    let board_mail = mails
        .iter()
        .find(|m| m.rcpt_to() == ["board@bank.test"])
        .unwrap();
    assert!(!board_mail.header("Date").unwrap().contains("2030"));
}

#[test]
fn custos_escalate_with_a_set_clock_escalates_drills_on_it_and_real_incidents_on_the_real_one() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let opened = Timestamp::now() - SignedDuration::from_mins(10);
    let incident = open_at(&mut store, "zmk-compromise", false, &zmk_inputs(), opened);
    let drill = open(&mut store, "zmk-compromise", true, &zmk_inputs());

    // An hour into the drill: the drill's executives hear of it; the real incident has been open
    // for ten real minutes, which is below every rule.
    let first = custos(&project, &["escalate", "--now", &at(61).to_string()]);
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8(first.stdout).unwrap();
    assert!(
        stdout.contains("escalated INC-2 (executives-after-1-hour)"),
        "{stdout}"
    );
    assert!(!stdout.contains("INC-1"), "{stdout}");

    // Two days into the drill: the board hears of the drill; the real incident is still ten
    // minutes old.
    let later = custos(&project, &["escalate", "--now", &at(2 * 1440).to_string()]);
    assert!(later.status.success(), "{later:?}");
    let stdout = String::from_utf8(later.stdout).unwrap();
    assert!(
        stdout.contains("escalated INC-2 (board-after-1-day)"),
        "{stdout}"
    );
    assert!(!stdout.contains("INC-1"), "{stdout}");

    assert!(events_of(&store, &incident, "escalation_fired").is_empty());
    let fired: Vec<Timestamp> = store
        .events(&drill)
        .unwrap()
        .into_iter()
        .filter(|record| matches!(record.event, Event::EscalationFired { .. }))
        .map(|record| record.at)
        .collect();
    assert_eq!(fired.first(), Some(&at(61)));
    assert_eq!(fired.last(), Some(&at(2 * 1440)));
    for mail in mails(mail_dir.path()) {
        assert_eq!(mail.rcpt_to(), [DRILL]);
    }
}
