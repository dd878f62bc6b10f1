//! The DORA clock of the shipped escalation policy runs to its end: the initial report sent by
//! the runbook starts the intermediate report's deadline, the intermediate report is sent before
//! it falls due and starts the final report's, and neither deadline is missed. A drill on a set
//! clock, through a real SMTP server on loopback.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use custos::notify::{self, Policy};
use custos::store::Store;
use jiff::{SignedDuration, Span, Timestamp, tz::TimeZone};
use notify_common::*;

#[test]
fn the_initial_report_starts_the_intermediate_and_final_reports_which_go_out_before_their_deadlines()
 {
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    let project = project(server.port, "");
    let policy = Policy::load(&project.path().join("policies")).unwrap();
    let mut store = Store::open(&project.path().join("incidents.sqlite")).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);
    enter(&mut store, &incident, "notify_executives", 300);
    enter(&mut store, &incident, "notify_regulator", 310);
    notify::queue(
        &mut store,
        &policy,
        &incident,
        Some("notify_regulator"),
        "regulator",
        "major-incident-initial-report",
        at(320),
    )
    .unwrap();
    assert_eq!(
        notify::deliver(&mut store, &policy, at(320))
            .unwrap()
            .sent
            .len(),
        1
    );
    enter(&mut store, &incident, "notify_counterparty", 330);

    // The intermediate report is due 72 hours after the initial one and goes out 12 hours
    // before; the final one a calendar month after the intermediate, and goes out a week before.
    let hours = |h: i64| at(320) + SignedDuration::from_hours(h);
    let intermediate_sent = hours(60) + SignedDuration::from_mins(1);
    let final_due = intermediate_sent
        .to_zoned_datetime(TimeZone::UTC)
        .checked_add(Span::new().months(1))
        .unwrap()
        .timestamp();
    let final_warning = final_due - SignedDuration::from_hours(7 * 24);
    let rounds: &[(Timestamp, &[&str])] = &[
        (hours(60) - SignedDuration::from_mins(1), &[]),
        (intermediate_sent, &["dora-intermediate-report"]),
        (hours(72) + SignedDuration::from_mins(1), &[]),
        (final_warning - SignedDuration::from_mins(1), &[]),
        (
            final_warning + SignedDuration::from_mins(1),
            &["dora-final-report"],
        ),
        (final_due + SignedDuration::from_mins(1), &[]),
    ];
    for (now, expected) in rounds {
        let report = notify::escalate(&mut store, &policy, *now).unwrap();
        let fired: Vec<&str> = report
            .fired
            .iter()
            .map(|fired| fired.key.as_str())
            .filter(|key| key.starts_with("dora-"))
            .collect();
        assert_eq!(&fired, expected, "at {now}");
        assert!(report.delivery.all_delivered(), "at {now}: {report:?}");
    }

    let mails = mails(mail_dir.path());
    let report = |title: &str| {
        mails
            .iter()
            .find(|m| m.header("Subject").unwrap().contains(title))
            .unwrap_or_else(|| panic!("no {title} in {mails:?}"))
    };
    let intermediate = report("Intermediate report");
    assert_eq!(
        intermediate.header("Subject"),
        Some("[DRILL] Intermediate report on a major ICT-related incident (INC-1)")
    );
    assert_eq!(intermediate.rcpt_to(), [DRILL]);
    for line in [
        "- Reporting entity reference: INC-1 (the reference of the initial notification)",
        "- Description: a zone master key (ZMK-ACME-2026) shared with Banco Ejemplo is confirmed \
         compromised.",
        "2. Actions taken so far, from the incident record\n- 2026-12-03 08:00 UTC: Record the \
         report\n- 2026-12-03 13:00 UTC",
        "- 2026-12-03 13:10 UTC: Send the initial report to the regulator",
        "- DORA intermediate report (72 hours after the initial report): due 2026-12-06 13:20 UTC \
         (open)",
    ] {
        assert!(
            intermediate.body.contains(line),
            "{line}\n{}",
            intermediate.body
        );
    }
    let last = report("Final report");
    assert!(
        last.body
            .contains("3. Root causes, lessons learned and measures against a recurrence"),
        "{}",
        last.body
    );
    assert!(
        last.body.contains(
            "- DORA intermediate report (72 hours after the initial report): due \
             2026-12-06 13:20 UTC (met)"
        ),
        "{}",
        last.body
    );
}
