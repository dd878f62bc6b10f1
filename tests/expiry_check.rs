//! `custos expiry check` on a set clock: certificates made with chosen validity (one of them
//! on a real SoftHSM2 token), a key and an HSM device, checked on several days. Each object
//! lands in the right band, each alert reaches the drill Maildir exactly once, the incident is
//! opened when its band is reached and never again, and the exit code follows the last band.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod expiry_common;
mod support;

use expiry_common::{Project, ca, inventory, leaf, line, words};
use serde_json::Value;

const INPUTS: &str = "inputs: { cert_name: OCSP Signer, cert_kind: ocsp-signer, \
                      key_label: ocsp-2026, ocsp_url: http://ocsp.bank.example }";

/// The OCSP chain ends with its CA (2030-03-01, before the signer's 2030-06-01); the token
/// certificate on 2030-02-15; the key (2027-04-01 + P3Y) on 2030-04-01; the device on
/// 2030-12-31; the root on 2031-01-01.
fn project() -> Project {
    let mut project = Project::new();
    let (ca_cert, issuer) = ca("Issuing CA", (2030, 3, 1));
    let signer = leaf("OCSP Signer", (2030, 6, 1), &issuer);
    project.write("certs/ocsp-chain.pem", signer.pem() + &ca_cert.pem());
    let (root, _) = ca("Root CA", (2031, 1, 1));
    project.write("certs/root.der", root.der());
    let (on_token, _) = ca("Token Signer", (2030, 2, 15));
    project.token_certificate("expiry-signer", on_token.der());

    project.write(
        "inventory.yaml",
        inventory(&format!(
            "\
incidents:
  certificate: {{ runbook: certificate-expiry, at: 30 }}
certificates:
  ocsp:
    file: certs/ocsp-chain.pem
    {INPUTS}
  root:
    file: certs/root.der
    incident: {{ runbook: certificate-expiry, at: expired }}
    {INPUTS}
  token-signer:
    token: {{ environment: drill-primary, label: expiry-signer }}
    incident: {{ runbook: certificate-expiry, at: expired }}
    {INPUTS}
keys:
  zmk:
    activated: 2027-04-01
    cryptoperiod: P3Y
devices:
  hsm-a:
    end_of_support: 2030-12-31
    thresholds: [365, 90]
"
        )),
    );
    project
}

#[test]
fn each_band_is_alerted_once_the_incident_opens_at_its_band_and_the_last_band_fails_the_check() {
    let project = project();

    // 2029-10-01: everything is further away than its largest threshold; nothing is due.
    let quiet = project.check("2029-10-01", &[]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert_eq!(
        words(line(&quiet, "ocsp")),
        [
            "ocsp",
            "certificate",
            "certs/ocsp-chain.pem",
            "2030-03-01 00:00",
            "151",
            "-",
            "-"
        ]
    );
    assert!(project.mail_subjects().is_empty());

    // 2029-12-05: the chain (86 days) and the token certificate (72) enter band 90, the
    // device (391 days) is still clear, the key (117) too.
    let first = project.check("2029-12-05", &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(
        words(line(&first, "ocsp"))[4..],
        ["86", "90 (low)", "sent now"]
    );
    assert_eq!(
        words(line(&first, "token-signer"))[2..],
        [
            "token drill-primary/expiry-signer",
            "2030-02-15 00:00",
            "72",
            "90 (low)",
            "sent now"
        ]
    );
    assert_eq!(words(line(&first, "zmk"))[4..], ["117", "-", "-"]);
    assert_eq!(
        project.mail_subjects().len(),
        2,
        "{:?}",
        project.mail_subjects()
    );

    // The same day again: nothing new is sent, and the table says the alerts went out.
    let again = project.check("2029-12-05", &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(words(line(&again, "ocsp"))[6], "sent");
    assert_eq!(project.mail_subjects().len(), 2);

    // 2030-01-31: the chain is 29 days out, band 30: its alert and its incident; the token
    // certificate (15 days) is in band 30 too, but opens its incident only once expired. The
    // key (60 days) enters band 60 and the device (334 days) its own band 365.
    let thirty = project.check("2030-01-31", &[]);
    assert_eq!(thirty.code, 0, "{thirty:?}");
    assert_eq!(
        words(line(&thirty, "ocsp"))[4..],
        ["29", "30 (high)", "sent now"]
    );
    assert!(
        thirty.stdout.contains("opened INC-3 for `ocsp`"),
        "{}",
        thirty.stdout
    );
    let subjects = project.mail_subjects();
    assert_eq!(subjects.len(), 6, "{subjects:?}");
    assert!(
        subjects.contains(
            &"[DRILL] Renewal due: certificate `ocsp` (certs/ocsp-chain.pem) ends 2030-03-01 \
              00:00 UTC: 29 days left, inside the 30-day band"
                .to_owned()
        ),
        "{subjects:?}"
    );

    // 2030-02-10: the token certificate is 5 days out, in its last band: the check fails.
    let last = project.check("2030-02-10", &[]);
    assert_eq!(last.code, 1, "{last:?}");
    assert_eq!(
        words(line(&last, "token-signer"))[4..],
        ["5", "7 (critical)", "sent now"]
    );
    assert!(!last.stdout.contains("opened"), "{}", last.stdout);

    // 2030-03-02: the chain has expired; its incident is not opened a second time. The token
    // certificate expired too and opens its own, once.
    let expired = project.check("2030-03-02", &["--json"]);
    assert_eq!(expired.code, 1, "{expired:?}");
    let report: Value = serde_json::from_str(&expired.stdout).unwrap();
    let ocsp = object(&report, "ocsp");
    assert_eq!(ocsp["band"], "expired");
    assert_eq!(ocsp["days_left"], -1);
    assert_eq!(ocsp["incident"], "INC-3");
    assert_eq!(ocsp["incident_opened_now"], false);
    let token = object(&report, "token-signer");
    assert_eq!(token["incident_opened_now"], true);
    assert_eq!(report["failed"], true);

    let again = project.check("2030-03-02", &["--json"]);
    let report: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(
        object(&report, "token-signer")["incident_opened_now"],
        false
    );
    assert_eq!(object(&report, "ocsp")["alert"], "sent");

    // Each alert once: 90, 30 and expired for the chain; 90, 30, 7 and expired for the token
    // certificate (neither was checked on a day inside its 60-day band); 60 and 30 for the
    // key; 365 for the device.
    let subjects = project.mail_subjects();
    assert_eq!(subjects.len(), 10, "{subjects:?}");
    let expired_subjects: Vec<_> = subjects.iter().filter(|s| s.contains("Expired:")).collect();
    assert_eq!(expired_subjects.len(), 2, "{subjects:?}");

    // The incident stands at the runbook's start with the object's inputs, every chain holds.
    let store = project.dir.path().join("incidents.sqlite");
    let log = support::cli::custos()
        .arg("--store")
        .arg(&store)
        .args(["log", "INC-3"])
        .run();
    assert!(
        log.stdout.contains("runbook `certificate-expiry` version"),
        "{}",
        log.stdout
    );
    assert!(
        log.stdout.contains(r#""cert_kind":"ocsp-signer""#),
        "{}",
        log.stdout
    );
    assert!(
        log.stdout.contains("node_entered node=intake"),
        "{}",
        log.stdout
    );
    let verify = support::cli::custos()
        .arg("--store")
        .arg(&store)
        .arg("verify")
        .run();
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}

fn object<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["object"] == name)
        .unwrap()
}

#[test]
fn two_checks_running_at_once_send_each_alert_once_and_open_one_incident() {
    let project = Project::new();
    let (soon, _) = ca("Soon CA", (2030, 3, 1));
    project.write("certs/soon.pem", soon.pem());
    project.write(
        "inventory.yaml",
        inventory(&format!(
            "\
incidents:
  certificate: {{ runbook: certificate-expiry, at: 30 }}
certificates:
  soon:
    file: certs/soon.pem
    {INPUTS}
"
        )),
    );

    // A first check, with nothing due, creates the log: creating a new log is not what races
    // here.
    assert_eq!(project.check("2029-01-01", &[]).code, 0);

    let runs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| project.check("2030-02-20", &["--json"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut opened = 0;
    for run in &runs {
        assert_eq!(run.code, 0, "{run:?}");
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        let soon = object(&report, "soon");
        assert_eq!(soon["band"], "30");
        assert_eq!(soon["incident"], "INC-2");
        opened += i32::from(soon["incident_opened_now"] == true);
    }
    assert_eq!(opened, 1);
    assert_eq!(
        project.mail_subjects().len(),
        1,
        "{:?}",
        project.mail_subjects()
    );
}
