//! The HTML report's sections that a scripted walk of the test runbook does not reach:
//! approvals typed at one terminal, KCVs with their method, node time limits and reporting
//! deadlines met and missed, escalations and failed deliveries, and the chain head and seal.
//! The log is written with the store API, as the engine would write it.

#![allow(clippy::unwrap_used)]

use custos::export::{Filter, Manifest, ReportSettings, html_report};
use custos::notify::Policy;
use custos::store::{
    Attempt, Claim, Event, NewNotification, NotificationId, Opening, Origin, Store, signing,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

fn origin(user: &str) -> Origin {
    Origin {
        user: user.into(),
        host: "ops-01".into(),
        terminal: "/dev/pts/3".into(),
        pid: 4242,
        ssh_client: None,
    }
}

fn granted(person: &str, role: &str) -> Event {
    Event::ApprovalGranted {
        node: "approve_restore".into(),
        person: person.into(),
        role: role.into(),
        origin: origin(person),
        credential: None,
    }
}

#[test]
fn the_report_flags_one_terminal_approvals_and_shows_kcvs_escalations_and_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("incidents.sqlite")).unwrap();
    let key = signing::load_or_create(&dir.path().join("signing.key")).unwrap();
    // `intake` has five minutes and takes nine; `verify` has ten and takes four.
    let source = std::fs::read_to_string("tests/fixtures/card-triage.yaml")
        .unwrap()
        .replace(
            "    title: Record who reported the card and when\n",
            "    title: Record who reported the card and when\n    within: PT5M\n",
        )
        .replace(
            "    title: Check the card's serial against the register\n",
            "    title: Check the card's serial against the register\n    within: PT10M\n",
        );
    assert_eq!(source.matches("within:").count(), 2);
    let opening = Opening {
        runbook_id: "card-triage".into(),
        runbook_version: 1,
        runbook_source: source,
        title: "Triage a reported smart card problem".into(),
        severity: "medium".into(),
        rehearsal: false,
        initiator: "alice".into(),
        inputs: Map::new(),
    };
    let start: Timestamp = "2026-12-03T03:00:00Z".parse().unwrap();
    let id = store.open_incident(&opening, start).unwrap();
    let later = |minutes| start + SignedDuration::from_mins(minutes);

    let entered = Event::NodeEntered {
        node: "intake".into(),
    };
    store.append(&id, "alice", later(1), &[entered]).unwrap();
    store
        .append(&id, "alice", later(2), &[granted("alice", "custodian")])
        .unwrap();
    store
        .append(&id, "bob", later(3), &[granted("bob", "custodian")])
        .unwrap();
    let outputs: Map<String, Value> =
        serde_json::from_str(r#"{"kcv": "08D7B4", "method": "aes-cmac", "label": "ZMK-2026"}"#)
            .unwrap();
    let finished = Event::ActionFinished {
        node: "verify".into(),
        action: "hsm.kcv".into(),
        ok: true,
        outputs,
        error: None,
        next: "found".into(),
    };
    store.append(&id, "custos", later(4), &[finished]).unwrap();
    let verify = Event::NodeEntered {
        node: "verify".into(),
    };
    store.append(&id, "alice", later(10), &[verify]).unwrap();
    let found = Event::NodeEntered {
        node: "found".into(),
    };
    store.append(&id, "alice", later(14), &[found]).unwrap();

    let notification = NewNotification {
        incident: id,
        node: None,
        escalation: Some((
            "ack-deadline".into(),
            "nobody acknowledged within 15 min".into(),
        )),
        group: "operations".into(),
        template: "escalation".into(),
        channel: "smtp".into(),
        sender: "custos@bank.example".into(),
        recipients: vec!["ops@bank.example".into()],
        subject: "INC-1 <needs> attention".into(),
        body: "Please look.".into(),
        html: None,
        domain: "bank.example".into(),
    };
    store
        .queue_notification(&notification, later(20))
        .unwrap()
        .unwrap();
    let number = NotificationId {
        incident: id,
        number: 1,
    };
    let claim = Claim::mine(std::time::Duration::from_secs(60));
    store
        .claim_notification(number, &claim, later(20), |_| true)
        .unwrap();
    let failed = Attempt::Failed {
        error: "connection refused by smtp.bank.example:25".into(),
        retry_at: later(25),
    };
    store.finish_attempt(number, later(21), &failed).unwrap();

    let closing = Event::IncidentClosed {
        node: "found".into(),
        outcome: "resolved".into(),
    };
    store.close(&id, "alice", later(30), closing, &key).unwrap();

    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("escalation.yaml"), ESCALATION).unwrap();
    let policy = Policy::load(&policies).unwrap();

    let public_key = key.verifying_key();
    let manifest = Manifest::build(&store, &Filter::default(), &public_key).unwrap();
    let entry = &manifest.incidents[0];
    let settings = ReportSettings {
        trusted: Some(&public_key),
        escalation: &policy.escalation,
    };
    let page = html_report(&store, &manifest, entry, &settings).unwrap();

    assert!(page.contains("<tr class=\"flag\">"), "no flagged approval");
    assert!(page.contains("SAME TERMINAL as bob"));
    assert!(page.contains("SAME TERMINAL as alice"));
    assert!(page.contains("alice@ops-01, /dev/pts/3, pid 4242"));
    assert!(page.contains("08D7B4 (aes-cmac)"));
    assert!(page.contains("<h2>Escalations fired</h2>"));
    assert!(page.contains("nobody acknowledged within 15 min"));
    assert!(page.contains("INC-1 &lt;needs&gt; attention"));
    assert!(page.contains("#1 failed at 2026-12-03 03:21:00 UTC: connection refused"));
    assert!(page.contains("Chain verified: 11 events."), "{page}");
    assert!(page.contains("REAL INCIDENT"));

    // Deadlines: measured against the runbook's limits and the policy's deadlines.
    for row in [
        "<tr><td>intake</td><td>2026-12-03 03:01:00 UTC</td><td>5 min</td><td>9 min</td>\
         <td>MISSED by 4 min</td></tr>",
        "<tr><td>verify</td><td>2026-12-03 03:10:00 UTC</td><td>10 min</td><td>4 min</td>\
         <td>met</td></tr>",
        "<tr class=\"flag\"><td>Initial report to the regulator</td>\
         <td>2026-12-03 03:15:00 UTC</td><td>—</td><td>MISSED: not met</td></tr>",
        "<tr><td>Board told within the hour</td><td>2026-12-03 04:01:00 UTC</td>\
         <td>2026-12-03 03:10:00 UTC</td><td>met</td></tr>",
        "<tr class=\"flag\"><td>Card checked within 5 minutes of opening</td>\
         <td>2026-12-03 03:05:00 UTC</td><td>2026-12-03 03:10:00 UTC</td>\
         <td>MISSED: met 5 min late</td></tr>",
    ] {
        assert!(page.contains(row), "the report lacks {row}\n{page}");
    }
    assert!(
        page.contains("<p class=\"bad\" id=\"deadlines\">2 met, 3 missed; as of "),
        "{page}"
    );

    // The chain head and the seal, in full, as an auditor compares them with the export.
    let head = entry.head.as_ref().unwrap();
    let seal = entry.seal.as_ref().unwrap();
    for row in [
        format!(
            "<tr><th>Chain head (recomputed)</th><td class=\"mono\">event 11, SHA-256 {}</td></tr>",
            head.hash
        ),
        format!(
            "<tr><th>Seal signature (Ed25519)</th><td class=\"mono\">{}</td></tr>",
            seal.signature
        ),
        format!(
            "<tr><th>Sealing key</th><td class=\"mono\">{}</td></tr>",
            seal.public_key
        ),
    ] {
        assert!(page.contains(&row), "the report lacks {row}");
    }
}

const ESCALATION: &str = "
deadlines:
  initial-report:
    title: Initial report to the regulator
    from: [opened]
    after: PT15M
    met_by: [{notified: regulator-initial}]
  board-told:
    title: Board told within the hour
    from: [{entered: intake}]
    after: PT1H
    met_by: [{entered: verify}]
  card-checked:
    title: Card checked within 5 minutes of opening
    from: [opened]
    after: PT5M
    met_by: [{entered: verify}]
";
