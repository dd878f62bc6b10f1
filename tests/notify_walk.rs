//! Notify nodes in a walk: the drill's mail reaches the drill mailbox only, with `[DRILL]` in
//! the subject, and the log records it queued and sent.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use support::cli::{custos, rehearsal_tokens, repo};

/// A copy of the shipped policies whose drill mailbox is inside `dir`.
fn policies_in(dir: &Path) -> std::path::PathBuf {
    let policies = dir.join("policies");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo().join("policies"))
        .arg(&policies)
        .status()
        .unwrap();
    assert!(status.success());
    policies
}

const MAJOR: &str = r#"
inputs: { member: hsm-b, alert_source: monitoring }
nodes:
  intake: { fields: { first_failure: "02:50", customer_impact: all-failing } }
  primary_down: "yes"
  run_major: { fields: { bridge: "+1 555 0100", vendor_case: "V-1", classified_at: "03:05" } }
  major_reportable: "yes"
"#;

#[test]
fn a_drill_through_two_notify_nodes_mails_only_the_drill_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let conf = rehearsal_tokens(&dir.path().join("home"));
    let policies = policies_in(dir.path());
    let answers = dir.path().join("major.yaml");
    std::fs::write(&answers, MAJOR).unwrap();
    let store = dir.path().join("incidents.sqlite");

    let run = custos()
        .current_dir(repo())
        .env("SOFTHSM2_CONF", &conf)
        .env("CUSTOS_DRILL_PIN", "123456")
        .env("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase")
        .arg("--policies")
        .arg(&policies)
        .arg("--store")
        .arg(&store)
        .args([
            "drill",
            "secondary-hsm-unreachable",
            "--as",
            "dave",
            "--answers",
        ])
        .arg(&answers)
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("executives told (hsm-cluster-down, message `INC-1.N1`): sent"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("regulator told (major-incident-initial-report, message `INC-1.N2`): sent")
    );

    let mailbox = dir.path().join("drill-mailbox/new");
    let mut mails: Vec<String> = std::fs::read_dir(&mailbox)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    mails.sort_by_key(|mail| mail.contains("regulator"));
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        assert!(mail.contains("X-RcptTo: hsm-drills@bank.example"), "{mail}");
        assert!(
            !mail.contains("@bank.example>\r\nTo: \"Chief"),
            "drill mail went to a real group"
        );
        let subject = mail
            .lines()
            .find(|line| line.starts_with("Subject: "))
            .unwrap();
        assert!(subject.starts_with("Subject: [DRILL] "), "{subject}");
    }

    let log = custos()
        .arg("--store")
        .arg(&store)
        .args(["log", "INC-1", "--json"])
        .run();
    let kinds: Vec<String> = log
        .stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["event"]["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| *kind == "notification_queued")
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| *kind == "notification_sent")
            .count(),
        2
    );
    assert_eq!(kinds.last().unwrap(), "incident_closed");
}
