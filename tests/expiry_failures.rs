//! What goes wrong with one object stays with that object: an unreadable file, a malformed
//! certificate and an unreachable token are reported on their own lines and the others are
//! checked and alerted as usual. An invalid inventory stops the check with exit code 2.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod expiry_common;
mod support;

use expiry_common::{Project, ca, inventory, line, words};

#[test]
fn unreadable_malformed_and_unreachable_objects_are_reported_while_the_others_are_alerted() {
    let mut project = Project::new();
    let (good, _) = ca("Good CA", (2030, 3, 1));
    project.token_certificate("present", good.der());
    project.write("certs/good.pem", good.pem());
    project.write("certs/garbage.der", b"this is not DER at all");
    project.write("certs/cut.der", &good.der()[..120]);
    project.write(
        "certs/truncated.pem",
        &good.pem().replace("-----END", "-----ENDX")[..200],
    );
    let environments = std::fs::read_to_string(project.policies().join("environments.yaml"))
        .unwrap()
        + "
  nowhere:
    description: an HSM whose module is not installed here
    module: /nonexistent/libpkcs11.so
    token: { label: nowhere }
    pin: { env: CUSTOS_DRILL_PIN }
    production: false
";
    project.write("environments.yaml", environments);
    project.write(
        "inventory.yaml",
        inventory(
            "\
certificates:
  good: { file: certs/good.pem }
  missing: { file: certs/missing.pem }
  garbage: { file: certs/garbage.der }
  offline: { token: { environment: nowhere, label: signer } }
  absent: { token: { environment: drill-primary, label: absent } }
  truncated: { file: certs/truncated.pem }
  cut: { file: certs/cut.der }
",
        ),
    );

    let run = project.check("2030-02-20", &[]);

    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        words(line(&run, "good"))[4..],
        ["9", "30 (high)", "sent now"]
    );
    let missing = line(&run, "missing");
    assert!(
        missing.ends_with(&format!(
            "error: cannot read `{}`: No such file or directory (os error 2)",
            project.policies().join("certs/missing.pem").display()
        )),
        "{missing}"
    );
    assert!(
        line(&run, "garbage").ends_with(
            "error: `certs/garbage.der` certificate 1 is malformed: it is not a complete \
             DER-encoded X.509 certificate"
        ),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "offline").ends_with(
            "error: cannot load the PKCS#11 module `/nonexistent/libpkcs11.so` for environment \
             `nowhere`: no such file"
        ),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "absent").ends_with(
            "error: environment `drill-primary`: no certificate labelled `absent` on the token"
        ),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "truncated").ends_with(
            "error: `certs/truncated.pem` PEM block 1 is not valid base64 PEM: incomplete PEM"
        ),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "cut").ends_with(
            "error: `certs/cut.der` certificate 1 is malformed: it is not a complete \
             DER-encoded X.509 certificate"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        project.mail_subjects().len(),
        1,
        "{:?}",
        project.mail_subjects()
    );
}

#[test]
fn an_object_far_from_its_end_passes_the_check_with_exit_code_zero() {
    let project = Project::new();
    let (far, _) = ca("Far CA", (2040, 1, 1));
    project.write("certs/far.pem", far.pem());
    project.write(
        "inventory.yaml",
        inventory("certificates:\n  far: { file: certs/far.pem }\n"),
    );

    let run = project.check("2030-01-01", &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        words(line(&run, "far"))[3..],
        ["2040-01-01 00:00", "3652", "-", "-"]
    );
    assert!(project.mail_subjects().is_empty());
}

#[test]
fn an_invalid_inventory_is_reported_with_its_position_and_exits_with_two() {
    let project = Project::new();
    project.write(
        "inventory.yaml",
        inventory("keys:\n  zmk: { activated: 2027-04-01, cryptoperiod: three years }\n"),
    );

    let run = project.check("2030-01-01", &[]);

    assert_eq!(run.code, 2, "{run:?}");
    let path = project.policies().join("inventory.yaml");
    assert_eq!(
        run.stderr,
        format!(
            "{}:8:47: `cryptoperiod`: `three years` is not a period in years, months or days \
             like P2Y or P18M\n    |   zmk: {{ activated: 2027-04-01, cryptoperiod: three \
             years }}\n    |                                               ^\ncustos: the expiry \
             inventory is invalid; nothing was checked\n",
            path.display()
        )
    );
}

#[test]
fn a_band_naming_an_unknown_group_or_template_stops_the_check_with_exit_code_two() {
    let project = Project::new();
    let text = inventory("").replace(
        "notify: ciso-and-on-call, template: expiry-final-warning",
        "notify: cso, template: final",
    );
    project.write("inventory.yaml", text);

    let run = project.check("2030-01-01", &[]);

    assert_eq!(run.code, 2, "{run:?}");
    let path = project.policies().join("inventory.yaml");
    let path = path.display();
    let line = "  - { days: 7, severity: critical, notify: cso, template: final }";
    let caret = |column: usize| format!("    | {line}\n    | {}^\n", " ".repeat(column - 1));
    assert_eq!(
        run.stderr,
        format!(
            "{path}:5:44: band 7 notifies `cso`, which is not a group of notify.yaml\n{}\
             {path}:5:59: band 7 uses template `final`, which is not in templates/\n{}\
             custos: the expiry inventory is invalid; nothing was checked\n",
            caret(44),
            caret(59)
        )
    );
}

#[test]
fn a_date_that_is_no_date_is_a_usage_error() {
    let project = Project::new();

    let run = project.check("next tuesday", &[]);

    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "`next tuesday` is neither a date like 2027-03-01 nor a time like \
             2027-03-01T09:00:00Z"
        ),
        "{}",
        run.stderr
    );
}
