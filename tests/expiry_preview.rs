//! `custos expiry check --now` without `--drill` is a preview: the same table and exit code,
//! but nothing is sent, nothing opened, and no band is used up for the real check that day.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod expiry_common;
mod support;

use expiry_common::{Project, ca, inventory, line, words};
use serde_json::Value;

const PREVIEW: &str = "custos: --now without --drill is a preview: nothing was sent or opened\n";

fn project() -> Project {
    let project = Project::new();
    let (soon, _) = ca("Soon CA", (2030, 3, 1));
    project.write("certs/soon.pem", soon.pem());
    project.write(
        "inventory.yaml",
        inventory(
            "\
incidents:
  certificate: { runbook: certificate-expiry, at: 30 }
certificates:
  soon:
    file: certs/soon.pem
    inputs: { cert_name: Soon, cert_kind: ocsp-signer, key_label: soon-2026,
              ocsp_url: http://ocsp.bank.example }
",
        ),
    );
    project
}

#[test]
fn a_set_date_without_drill_shows_what_is_due_and_sends_and_opens_nothing() {
    let project = project();
    let store = project.dir.path().join("incidents.sqlite");

    let preview = project.preview("2030-02-10", &[]);

    assert_eq!(preview.code, 0, "{preview:?}");
    assert_eq!(preview.stderr, PREVIEW);
    assert_eq!(
        words(line(&preview, "soon"))[4..],
        ["19", "30 (high)", "due"]
    );
    assert!(
        preview
            .stdout
            .contains("would open an incident from `certificate-expiry` for `soon`"),
        "{}",
        preview.stdout
    );
    assert!(project.mail_subjects().is_empty());
    assert!(!store.exists(), "a preview creates no log");

    // The drill of that day does what the preview showed; a preview afterwards still shows the
    // real alert as due, since the drill's watch is not the real one.
    let drill = project.check("2030-02-10", &[]);
    assert_eq!(
        words(line(&drill, "soon"))[4..],
        ["19", "30 (high)", "sent now"]
    );
    assert!(
        drill.stdout.contains("opened INC-2 for `soon`"),
        "{}",
        drill.stdout
    );
    let again = project.preview("2030-02-10", &["--json"]);
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    let soon = &report["objects"][0];
    assert_eq!(soon["alert"], "due");
    assert_eq!(soon["incident_due"], "certificate-expiry");
    assert_eq!(project.mail_subjects().len(), 1);
    let incidents = support::cli::custos()
        .arg("--store")
        .arg(&store)
        .arg("incidents")
        .run();
    assert_eq!(
        incidents.stdout.matches("INC-").count(),
        2,
        "{}",
        incidents.stdout
    );
}

#[test]
fn a_preview_exits_as_the_check_would() {
    let project = project();

    let last = project.preview("2030-02-25", &[]);
    let expired = project.preview("2030-03-02", &[]);

    assert_eq!((last.code, expired.code), (1, 1), "{last:?}\n{expired:?}");
    assert_eq!(last.stderr, PREVIEW);
    assert_eq!(
        words(line(&expired, "soon"))[5..],
        ["expired (critical)", "due"]
    );
    assert!(project.mail_subjects().is_empty());
}
