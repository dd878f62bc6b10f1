//! A drill on a set clock: escalations fire at the right moments, once each, and drill mail
//! reaches only the drill recipients, marked `[DRILL]`.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use custos::notify::{self, Policy};
use custos::store::{Event, Store};
use notify_common::*;

#[test]
fn a_drill_escalates_at_four_hours_and_one_day_once_each_and_only_to_the_drill_recipients() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);

    // (minutes after opening, what fires then) for the shipped rules of a critical incident;
    // at 5 hours the incident is classified as major, which starts the DORA clock.
    let rounds: &[(i64, &[&str])] = &[
        (20, &[]),
        (31, &["step-overdue:intake"]),
        (59, &[]),
        (61, &["executives-after-1-hour"]),
        (239, &[]),
        (241, &["board-after-4-hours"]),
        (242, &[]),
        (300, &[]),
        (359, &[]),
        (361, &["step-overdue:notify_executives"]),
        (479, &[]),
        (481, &["dora-initial-report-near"]),
        (539, &[]),
        (541, &["dora-initial-report-missed"]),
        (1199, &[]),
        (1201, &["dora-awareness-near"]),
        (1439, &[]),
        (1441, &["board-after-1-day"]),
        (1442, &[]),
        (4000, &[]),
    ];
    for (minutes, expected) in rounds {
        if *minutes == 300 {
            enter(&mut store, &incident, "notify_executives", 300);
        }
        let report = notify::escalate(&mut store, &policy, at(*minutes)).unwrap();
        let fired: Vec<&str> = report.fired.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(&fired, expected, "at +{minutes} min");
        assert!(
            report.delivery.all_delivered(),
            "at +{minutes} min: {report:?}"
        );
    }

    let fired: Vec<(String, jiff::Timestamp)> = store
        .events(&incident)
        .unwrap()
        .into_iter()
        .filter_map(|record| match record.event {
            Event::EscalationFired { rule, .. } => Some((rule, record.at)),
            _ => None,
        })
        .collect();
    let expected: Vec<(String, jiff::Timestamp)> = rounds
        .iter()
        .flat_map(|(minutes, keys)| keys.iter().map(|key| ((*key).to_owned(), at(*minutes))))
        .collect();
    assert_eq!(fired, expected);

    let mails = mails(mail_dir.path());
    assert_eq!(mails.len(), 8, "one message per escalation");
    for mail in &mails {
        assert_eq!(mail.rcpt_to(), [DRILL], "{:?}", mail.file);
        assert!(mail.header("To").unwrap().contains(DRILL));
        for (_, real) in GROUPS {
            assert!(!mail.header("To").unwrap().contains(real));
        }
        assert!(mail.header("Subject").unwrap().starts_with("[DRILL] "));
        assert!(mail.body.starts_with("THIS IS A DRILL."), "{}", mail.body);
    }
    let subjects: Vec<&str> = mails.iter().map(|m| m.header("Subject").unwrap()).collect();
    assert!(
        subjects.contains(&"[DRILL] Board notice: critical incident open for 4 h 01 min (INC-1)"),
        "{subjects:?}"
    );
    assert!(
        subjects
            .contains(&"[DRILL] Board notice: critical incident still open after a day (INC-1)"),
        "{subjects:?}"
    );
    let missed = mails
        .iter()
        .find(|m| m.header("Subject").unwrap().contains("DEADLINE MISSED"))
        .unwrap();
    assert_eq!(missed.rcpt_to(), [DRILL]);
    assert!(
        missed.body.contains(
            "Why you receive it: the deadline \"DORA initial report (4 hours after classification \
         as major)\" passed at 2026-12-03 17:00 UTC and is not met."
        ),
        "{}",
        missed.body
    );
    let board = mails
        .iter()
        .find(|m| m.header("Subject").unwrap().contains("4 h 01 min"))
        .unwrap();
    assert!(
        board.body.contains(
            "Why the Board is told: the incident has been open for 4 h 01 min (the limit for a \
         critical incident is 4 h 00 min)."
        ),
        "{}",
        board.body
    );
}

#[test]
fn a_drill_without_drill_delivery_is_refused_rather_than_mailed_to_real_groups() {
    let project = project(free_port(), "");
    let policies = project.path().join("policies");
    let notify_yaml = std::fs::read_to_string(policies.join("notify.yaml")).unwrap();
    let without_drill = &notify_yaml[..notify_yaml.find("drill:").unwrap()];
    std::fs::write(policies.join("notify.yaml"), without_drill).unwrap();
    let policy = Policy::load(&policies).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());

    let error = notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "zmk-compromise-board-report",
        at(5),
    )
    .unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "incident `INC-1` is a drill, but `{}` has no `drill:` section; drill mail never \
             goes to the real groups, so add `drill: {{ recipients: [...] }}` or `drill: {{ \
             mailbox: DIR }}`",
            policies.join("notify.yaml").display()
        )
    );
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn a_drill_mailbox_takes_drill_mail_without_any_server() {
    let project = project(free_port(), "");
    let policies = project.path().join("policies");
    let notify_yaml = std::fs::read_to_string(policies.join("notify.yaml")).unwrap();
    let with_mailbox = format!("{notify_yaml}  mailbox: drill-mail\n");
    std::fs::write(policies.join("notify.yaml"), with_mailbox).unwrap();
    let policy = Policy::load(&policies).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(
        &mut store,
        "quorum-card-lost",
        true,
        &serde_json::json!({
            "card_serial": "SC-0042", "card_role": "security officer", "share_index": 2,
        }),
    );

    let id = notify::queue(
        &mut store,
        &policy,
        &incident,
        None,
        "board",
        "quorum-at-risk",
        at(5),
    )
    .unwrap();
    let report = notify::deliver(&mut store, &policy, at(5)).unwrap();

    assert_eq!(report.sent, [id]);
    let mails = mails(&policies.join("drill-mail"));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to(), [DRILL]);
    assert_eq!(
        mails[0].header("Subject"),
        Some("[DRILL] Board notice: the HSM security officer quorum has no margin left (INC-1)")
    );
    assert!(
        mails[0].body.contains("(card SC-0042, share 2)"),
        "{}",
        mails[0].body
    );
}

/// A critical runbook whose first step waits for someone, for a drill that stays open.
const LONG_OUTAGE: &str = "\
id: long-outage
title: Both payment HSMs are down
version: 1
severity: critical
summary: The cluster does not answer; the drill stays open while the clock runs.
start: assess
nodes:
  assess:
    kind: step
    title: Assess the outage with the vendor
    fields:
      ticket: { prompt: Vendor ticket number }
    next: done
  done: { kind: end, title: Restored, outcome: resolved }
";

#[test]
fn a_drill_run_by_the_binary_escalates_at_four_hours_and_one_day_once_each() {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let dir = project.path();
    std::fs::write(dir.join("long-outage.yaml"), LONG_OUTAGE).unwrap();
    std::fs::write(dir.join("answers.yaml"), "nodes: {}\n").unwrap();
    let custos = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_custos"))
            .current_dir(dir)
            .args(["--policies", "policies", "--store", "incidents.sqlite"])
            .args(args)
            .env_remove("CUSTOS_STORE")
            .env_remove("CUSTOS_POLICIES")
            .output()
            .unwrap()
    };

    // The drill opens at 08:00 and stops at its first step, which the file does not answer.
    let opened = custos(&[
        "drill",
        "long-outage.yaml",
        "--now",
        &at(0).to_string(),
        "--as",
        "facilitator",
        "--answers",
        "answers.yaml",
    ]);
    let stderr = String::from_utf8_lossy(&opened.stderr);
    assert!(stderr.contains("INC-1 stopped at `assess`"), "{stderr}");

    // Cron runs `custos escalate` with the drill clock at these minutes after opening.
    let rounds: &[(i64, &[&str])] = &[
        (239, &[]),
        (241, &["board-after-4-hours"]),
        (242, &[]),
        (1439, &[]),
        (1441, &["board-after-1-day"]),
        (1500, &[]),
    ];
    let store = Store::open(&dir.join("incidents.sqlite")).unwrap();
    let incident = "INC-1".parse().unwrap();
    let mut expected = Vec::new();
    for (minutes, board) in rounds {
        let run = custos(&["escalate", "--now", &at(*minutes).to_string()]);
        assert!(run.status.success(), "at +{minutes} min: {run:?}");
        expected.extend(board.iter().map(|rule| ((*rule).to_owned(), at(*minutes))));

        let fired: Vec<(String, jiff::Timestamp)> = store
            .events(&incident)
            .unwrap()
            .into_iter()
            .filter_map(|record| match record.event {
                Event::EscalationFired { rule, .. } if rule.starts_with("board-") => {
                    Some((rule, record.at))
                }
                _ => None,
            })
            .collect();
        assert_eq!(fired, expected, "at +{minutes} min");
    }

    let board: Vec<String> = mails(mail_dir.path())
        .iter()
        .filter_map(|mail| mail.header("Subject").map(str::to_owned))
        .filter(|subject| subject.contains("Board notice"))
        .collect();
    assert_eq!(
        board,
        [
            // Opened a few milliseconds after 08:00 on the drill clock: 4 h 00 min 59 s.
            "[DRILL] Board notice: critical incident open for 4 h 00 min (INC-1)",
            "[DRILL] Board notice: critical incident still open after a day (INC-1)",
        ]
    );
}
