//! `custos validate` checks what the expiry inventory names in the other policies and the
//! runbooks: groups and templates of the bands, environments of token certificates, the runbook
//! each incident is opened from and the inputs each object gives it, the register's keys among
//! them. Every problem is named with its position.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod expiry_common;
mod support;

use expiry_common::{Project, inventory};
use support::cli::custos;

const INPUTS: &str = "{ cert_name: OCSP, cert_kind: ocsp-signer, key_label: ocsp, \
                      ocsp_url: http://ocsp.bank.example }";

const REGISTER: &str = "\
keys:
  - { name: ZMK-A, purpose: ZMK, algorithm: aes-256, environment: drill-primary, state: active,
      activation: 2027-01-01, cryptoperiod: P1Y,
      attributes: { sensitive: true, extractable: true } }
";

#[test]
fn every_name_the_inventory_uses_that_does_not_resolve_fails_validate_with_its_position() {
    let project = Project::new();
    // The shipped escalation rules and templates name nodes and values of every runbook.
    let shipped = support::cli::repo().join("runbooks");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        let to = project
            .dir
            .path()
            .join("runbooks")
            .join(path.file_name().unwrap());
        std::fs::copy(&path, to).unwrap();
    }
    project.write("keys.yaml", REGISTER);
    let text = inventory(&format!(
        "\
incidents:
  certificate: {{ runbook: certificate-expiry, at: 30 }}
  key: {{ runbook: certificate-expiry, at: 7 }}
certificates:
  good:
    file: certs/good.pem
    inputs: {INPUTS}
  on-token:
    token: {{ environment: drill-primry, label: signer }}
    inputs: {INPUTS}
  renamed:
    file: certs/renamed.pem
    incident: {{ runbook: cert-expiry, at: expired }}
  extra:
    file: certs/extra.pem
    inputs: {{ cert_name: Extra, owner: pki-team }}
  short:
    file: certs/short.pem
    inputs: {{ cert_name: Short, cert_kind: ocsp-signer }}
  odd:
    file: certs/odd.pem
    inputs: {{ cert_name: Odd, cert_kind: tls-server, key_label: odd, ocsp_url: x }}
"
    ))
    .replace(
        "{ days: 90, severity: low, notify: operations, template: expiry-notice }",
        "{ days: 90, severity: low, notify: operation, template: expiry-notise }",
    );
    project.write("inventory.yaml", &text);

    let run = custos()
        .current_dir(project.dir.path())
        .arg("validate")
        .run();

    assert_eq!(run.code, 1, "{run:?}");
    let source = |number: usize| text.lines().nth(number - 1).unwrap().to_owned();
    let problem = |number: usize, column: usize, message: &str| {
        format!(
            "policies/inventory.yaml:{number}:{column}: {message}\n    | {}\n    | {}^\n",
            source(number),
            " ".repeat(column - 1)
        )
    };
    let expected = [
        problem(
            2,
            40,
            "band 90 notifies `operation`, which is not a group of notify.yaml",
        ),
        problem(
            2,
            61,
            "band 90 uses template `expiry-notise`, which is not in templates/",
        ),
        problem(
            9,
            19,
            "key `ZMK-A` of the key register: runbook `certificate-expiry` needs the input \
             `cert_name`, which a key of the register cannot give; name a runbook whose inputs \
             are optional",
        ),
        problem(
            15,
            27,
            "certificate `on-token`: environment `drill-primry` is not defined in \
             environments.yaml",
        ),
        problem(
            19,
            26,
            "runbook `cert-expiry` does not exist: there is no `runbooks/cert-expiry.yaml`",
        ),
        problem(
            21,
            5,
            "`extra`: runbook `certificate-expiry` has no input `owner`",
        ),
        problem(
            24,
            5,
            "`short`: runbook `certificate-expiry` needs the input `key_label`; give it under \
             the object's `inputs`",
        ),
        problem(
            27,
            5,
            "`odd`: input `cert_kind` `tls-server` is not one of ocsp-signer, issuing-ca, \
             root-ca",
        ),
    ]
    .concat();
    assert_eq!(
        run.stderr,
        format!("{expected}custos: 1 file(s) invalid\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_shipped_inventory_sends_every_objects_last_warning_to_both_people_its_template_addresses() {
    let policies = support::cli::repo().join("policies");
    let inventory = custos::expiry::load(&policies).unwrap();
    let policy = custos::notify::Policy::load(&policies).unwrap();
    let groups = &policy.mail.as_ref().unwrap().groups;
    let addresses =
        |group: &str| -> Vec<String> { groups[group].iter().map(|r| r.address.clone()).collect() };

    let template = &policy.templates.as_ref().unwrap()["expiry-final-warning"];
    assert!(
        template
            .body
            .contains("To the Chief Information Security Officer and the on-call manager,"),
        "{}",
        template.body
    );
    let both = [addresses("ciso"), addresses("on-call")].concat();
    assert_eq!(addresses("ciso-and-on-call"), both);
    for object in &inventory.objects {
        let last = object.bands.last().unwrap();
        assert_eq!(
            (
                last.alert.severity.as_str(),
                last.alert.notify.as_str(),
                last.alert.template.as_str()
            ),
            ("critical", "ciso-and-on-call", "expiry-final-warning"),
            "{}",
            object.name
        );
    }
    assert!(
        inventory
            .objects
            .iter()
            .any(custos::expiry::Object::from_register)
    );
}
