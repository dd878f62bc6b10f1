//! A certificate on a token ends with the first of its chain: its issuers are found by name
//! among the token's certificate objects and the files its entry names, on a real SoftHSM2
//! token with certificates made by rcgen.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod expiry_common;
mod support;

use expiry_common::{Project, ca, intermediate, inventory, leaf, line, words};
use serde_json::Value;

#[test]
fn a_long_lived_leaf_ends_with_the_intermediate_on_its_token_that_expires_sooner() {
    let mut project = Project::new();
    let (root, root_issuer) = ca("Bank Root CA", (2040, 1, 1));
    let (issuing, issuing_issuer) = intermediate("Issuing CA", (2030, 3, 1), &root_issuer);
    let signer = leaf("OCSP Signer", (2035, 1, 1), &issuing_issuer);
    let (stranger, _) = ca("Unrelated CA", (2029, 1, 1));
    project.token_certificate("ocsp-signer", signer.der());
    project.token_certificate("issuing-ca", issuing.der());
    project.token_certificate("unrelated", stranger.der());
    project.write("certs/root.pem", root.pem());
    project.write(
        "inventory.yaml",
        inventory(
            "\
certificates:
  signer:
    token: { environment: drill-primary, label: ocsp-signer }
    chain: [{ label: issuing-ca }, { file: certs/root.pem }]
  alone:
    token: { environment: drill-primary, label: issuing-ca }
",
        ),
    );

    // 2030-02-01: the leaf has five years left, but its issuing CA 28 days.
    let run = project.check("2030-02-01", &["--json"]);

    assert_eq!(run.code, 0, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let signer = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["object"] == "signer")
        .unwrap();
    assert_eq!(signer["end"], "2030-03-01T00:00:00Z");
    assert_eq!(signer["ends_with"], "CN=Issuing CA");
    assert_eq!(signer["days_left"], 28);
    assert_eq!(signer["band"], "30");
    let table = project.check("2030-02-01", &[]);
    assert_eq!(
        words(line(&table, "signer"))[2..],
        [
            "token drill-primary/ocsp-signer",
            "2030-03-01 00:00",
            "28",
            "30 (high)",
            "sent"
        ]
    );
}

#[test]
fn a_chain_file_that_issues_nothing_in_the_chain_is_that_objects_error() {
    let mut project = Project::new();
    let (issuing, issuing_issuer) = ca("Issuing CA", (2034, 3, 1));
    let signer = leaf("OCSP Signer", (2033, 1, 1), &issuing_issuer);
    let (stranger, _) = ca("Unrelated CA", (2029, 1, 1));
    project.token_certificate("ocsp-signer", signer.der());
    project.token_certificate("issuing-ca", issuing.der());
    project.write("certs/stranger.pem", stranger.pem());
    project.write(
        "inventory.yaml",
        inventory(
            "\
certificates:
  signer:
    token: { environment: drill-primary, label: ocsp-signer }
    chain: [{ file: certs/stranger.pem }]
  typo:
    token: { environment: drill-primary, label: ocsp-signer }
    chain: [{ label: isuing-ca }]
",
        ),
    );

    let run = project.check("2030-02-01", &[]);

    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        line(&run, "signer").ends_with(
            "error: `chain` names `certs/stranger.pem`, but its certificate `CN=Unrelated CA` \
             issues neither `CN=OCSP Signer` nor any of its issuers"
        ),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "typo")
            .ends_with("error: `chain` names `isuing-ca`, which is no certificate on the token"),
        "{}",
        run.stdout
    );
}
