//! The HTML report's sections that a scripted walk of the test runbook does not reach:
//! approvals typed at one terminal, KCVs with their method, escalations and failed deliveries.
//! The log is written with the store API, as the engine would write it.

#![allow(clippy::unwrap_used)]

use custos::export::{Filter, Manifest, html_report};
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
    let source = std::fs::read_to_string("tests/fixtures/card-triage.yaml").unwrap();
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

    let manifest = Manifest::build(&store, &Filter::default(), Some(&key.verifying_key())).unwrap();
    let entry = &manifest.incidents[0];
    let page = html_report(&store, &manifest, entry, Some(&key.verifying_key())).unwrap();

    assert!(page.contains("<tr class=\"flag\">"), "no flagged approval");
    assert!(page.contains("SAME TERMINAL as bob"));
    assert!(page.contains("SAME TERMINAL as alice"));
    assert!(page.contains("alice@ops-01, /dev/pts/3, pid 4242"));
    assert!(page.contains("08D7B4 (aes-cmac)"));
    assert!(page.contains("Deadlines missed (escalations fired)"));
    assert!(page.contains("nobody acknowledged within 15 min"));
    assert!(page.contains("INC-1 &lt;needs&gt; attention"));
    assert!(page.contains("#1 failed at 2026-12-03 03:21:00 UTC: connection refused"));
    assert!(page.contains("Chain verified: 9 events."), "{page}");
    assert!(page.contains("REAL INCIDENT"));
}
