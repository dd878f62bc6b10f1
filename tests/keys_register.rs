//! The key register file: every problem reported with its position, and the hierarchy drawn as
//! DOT (which Graphviz renders without a warning) and as Mermaid.

#![allow(clippy::unwrap_used)]

mod keys_common;
mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use keys_common::Project;

const BROKEN: &str = "\
keys:
  - name: ZMK-A
    purpose: ZMK
    algorithm: aes-256
    environment: production-primary
    kcv: { value: 7DF76G, method: ecb }
    parent: ZPK-B
    state: active
    attributes: { sensitive: true, extractable: false }
  - name: ZPK-B
    purpose: ZPK
    algorithm: aes-128
    environment: [production-primary, production-tertiary]
    label: ZMK-A
    parent: ZMK-A
    kcv: { value: 7DF76B11, method: ecb }
    cryptoperiod: one year
    state: active
    attributes: { sensitive: true, extractable: false }
  - name: ZPK-B
    purpose: ZPK
    algorithm: aes-512
    environment: production-secondary
    parent: ZMK-C
    state: active
    attributes: { sensitive: true, extractable: false }
";

#[test]
fn every_problem_of_the_register_is_reported_with_its_position() {
    let project = Project::new();
    std::fs::write(project.register(), BROKEN).unwrap();

    let run = project.custos(&["keys", "graph"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "\
policies/keys.yaml:6:10: key `ZMK-A`: KCV `7DF76G` is not 2 to 3 bytes of hex, as the ecb method gives
    |     kcv: { value: 7DF76G, method: ecb }
    |          ^
policies/keys.yaml:7:13: key `ZMK-A`: parent `ZPK-B` is a ZPK, which cannot protect keys (a parent is a ZMK, TMK, KEK or BDK)
    |     parent: ZPK-B
    |             ^
policies/keys.yaml:7:13: key `ZMK-A`: its parents go round in a cycle: ZMK-A -> ZPK-B -> ZMK-A
    |     parent: ZPK-B
    |             ^
policies/keys.yaml:13:18: key `ZPK-B`: environment `production-tertiary` is not defined in environments.yaml (defined: `drill-new`, `drill-primary`, `drill-secondary`, `production-new`, `production-primary`, `production-secondary`)
    |     environment: [production-primary, production-tertiary]
    |                  ^
policies/keys.yaml:14:12: key `ZPK-B`: label `ZMK-A` in `production-primary` is already the label of key `ZMK-A`
    |     label: ZMK-A
    |            ^
policies/keys.yaml:15:13: key `ZPK-B`: its parents go round in a cycle: ZPK-B -> ZMK-A -> ZPK-B
    |     parent: ZMK-A
    |             ^
policies/keys.yaml:16:10: key `ZPK-B`: KCV `7DF76B11` is not 2 to 3 bytes of hex, as the ecb method gives
    |     kcv: { value: 7DF76B11, method: ecb }
    |          ^
policies/keys.yaml:17:19: key `ZPK-B`: cryptoperiod `one year` is not a positive ISO 8601 duration such as `P1Y` or `P18M`
    |     cryptoperiod: one year
    |                   ^
policies/keys.yaml:20:11: key `ZPK-B` appears twice in the register
    |   - name: ZPK-B
    |           ^
policies/keys.yaml:22:16: key `ZPK-B`: algorithm `aes-512` is not one of `aes-128`, `aes-192`, `aes-256`, `tdes`
    |     algorithm: aes-512
    |                ^
policies/keys.yaml:24:13: key `ZPK-B`: parent `ZMK-C` is not in the register (defined: `ZMK-A`, `ZPK-B`)
    |     parent: ZMK-C
    |             ^
custos: the key register cannot be used
"
    );
}

#[test]
fn custos_validate_checks_the_register_with_the_other_policies() {
    let project = Project::new();
    std::fs::write(project.register(), BROKEN).unwrap();
    let run = project.custos(&["validate", "policies"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "policies/keys.yaml:6:10: key `ZMK-A`: KCV `7DF76G` is not 2 to 3 bytes of hex, as \
             the ecb method gives\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("policies/keys.yaml:20:11: key `ZPK-B` appears twice in the register\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_yaml_1_1_boolean_an_unknown_field_and_an_unknown_state_are_rejected() {
    let project = Project::new();
    let cases = [
        (
            "attributes: { sensitive: true, extractable: true }\n\n  - name: ZPK-ACME-01",
            "attributes: { sensitive: yes, extractable: true }\n\n  - name: ZPK-ACME-01",
            "policies/keys.yaml:30:30: invalid boolean (strict mode expects true/false)\n    \
             |     attributes: { sensitive: yes, extractable: true }\n    \
             |                              ^\n",
        ),
        (
            "    custodians: [alice, bob, erin]\n",
            "    custodians: [alice, bob, erin]\n    slot: 3\n",
            "policies/keys.yaml:27:5: unknown field `slot`, expected one of name, purpose, \
             algorithm, environment, label, kcv, parent, counterparty, custodians, activation, \
             cryptoperiod, state, attributes\n    |     slot: 3\n    |     ^\n",
        ),
        (
            "    state: active\n    attributes: { sensitive: true, extractable: false }\n\n  \
             - name: PVK-01",
            "    state: retired\n    attributes: { sensitive: true, extractable: false }\n\n  \
             - name: PVK-01",
            "policies/keys.yaml:64:12: unknown variant `retired`, expected one of \
             pre-activation, active, suspended, deactivated, compromised, destroyed\n    \
             |     state: retired\n    |            ^\n",
        ),
    ];
    let shipped = std::fs::read_to_string(project.register()).unwrap();
    for (from, to, message) in cases {
        std::fs::write(project.register(), &shipped).unwrap();
        project.edit_register(from, to);
        let run = project.custos(&["keys", "graph"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert_eq!(
            run.stderr,
            format!("{message}custos: the key register cannot be used\n")
        );
    }
}

const DOT: &str = r##"digraph keys {
  graph [rankdir=TB, label="key register", labelloc=t, fontname=Helvetica];
  node [shape=box, style="rounded,filled", fontname=Helvetica];
  "ZMK-ACME-2026" [label="ZMK-ACME-2026\nZMK aes-256 - compromised\n2026-01-15 to 2027-01-15 (43 days left)", fillcolor="#f8cecc", color="#b85450", style="rounded,filled"];
  "ZPK-ACME-01" [label="ZPK-ACME-01\nZPK aes-128 - active\n2026-02-01 to 2027-02-01 (60 days left)", fillcolor="#d5e8d4", color="#82b366", style="rounded,filled"];
  "ZPK-ACME-02" [label="ZPK-ACME-02\nZPK aes-128 - active\n2026-02-01 to 2027-02-01 (60 days left)", fillcolor="#d5e8d4", color="#82b366", style="rounded,filled"];
  "KEK-BACKUP" [label="KEK-BACKUP\nKEK aes-256 - active\n2025-01-10 to 2027-01-10 (38 days left)", fillcolor="#d5e8d4", color="#82b366", style="rounded,filled"];
  "PVK-01" [label="PVK-01\nPVK tdes - active\n2025-06-01 to 2027-06-01 (180 days left)", fillcolor="#d5e8d4", color="#82b366", style="rounded,filled"];
  "MAC-01" [label="MAC-01\nMAC aes-128 - active\n2026-03-01 to 2027-03-01 (88 days left)", fillcolor="#d5e8d4", color="#82b366", style="rounded,filled"];
  "ZMK-ACME-2026" -> "ZPK-ACME-01";
  "ZMK-ACME-2026" -> "ZPK-ACME-02";
  "KEK-BACKUP" -> "PVK-01";
  "KEK-BACKUP" -> "MAC-01";
}
"##;

#[test]
fn the_graph_shows_parents_states_and_days_left_and_renders_without_warnings() {
    let project = Project::new();
    project.edit_register(
        "cryptoperiod: P1Y\n    state: active\n    attributes: { sensitive: true, extractable: \
         true }\n\n  - name: ZPK-ACME-01",
        "cryptoperiod: P1Y\n    state: compromised\n    attributes: { sensitive: true, \
         extractable: true }\n\n  - name: ZPK-ACME-01",
    );
    let run = project.custos(&["keys", "graph", "--today", "2026-12-03"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, DOT);

    let mut dot = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz `dot` is installed (apt-get install -y graphviz)");
    dot.stdin
        .take()
        .unwrap()
        .write_all(run.stdout.as_bytes())
        .unwrap();
    let output = dot.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let svg = String::from_utf8_lossy(&output.stdout);
    assert!(svg.contains("<title>ZMK&#45;ACME&#45;2026&#45;&gt;ZPK&#45;ACME&#45;01</title>"));
    assert!(svg.contains("fill=\"#f8cecc\""));
}

#[test]
fn the_mermaid_picture_names_each_state_as_a_class() {
    let project = Project::new();
    project.edit_register(
        "activation: 2025-01-10\n    cryptoperiod: P2Y\n    state: active",
        "activation: 2025-01-10\n    cryptoperiod: P2Y\n    state: deactivated",
    );
    let run = project.custos(&[
        "keys",
        "graph",
        "--format",
        "mermaid",
        "--today",
        "2027-01-12",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "\
flowchart TD
  k0[\"ZMK-ACME-2026<br/>ZMK aes-256 - active<br/>2026-01-15 to 2027-01-15 (3 days left)\"]
  k1[\"ZPK-ACME-01<br/>ZPK aes-128 - active<br/>2026-02-01 to 2027-02-01 (20 days left)\"]
  k2[\"ZPK-ACME-02<br/>ZPK aes-128 - active<br/>2026-02-01 to 2027-02-01 (20 days left)\"]
  k3[\"KEK-BACKUP<br/>KEK aes-256 - deactivated<br/>2025-01-10 to 2027-01-10 (ended 2 days ago)\"]
  k4[\"PVK-01<br/>PVK tdes - active<br/>2025-06-01 to 2027-06-01 (140 days left)\"]
  k5[\"MAC-01<br/>MAC aes-128 - active<br/>2026-03-01 to 2027-03-01 (48 days left)\"]
  k0 --> k1
  k0 --> k2
  k3 --> k4
  k3 --> k5
  classDef active fill:#d5e8d4,stroke:#82b366
  class k0,k1,k2,k4,k5 active
  classDef deactivated fill:#eeeeee,stroke:#999999
  class k3 deactivated
"
    );
}

#[test]
fn a_custodian_the_roster_does_not_list_is_reported_where_the_roster_exists() {
    let project = Project::new();
    project.edit_register(
        "custodians: [alice, bob, erin]",
        "custodians: [alice, bob, zed]",
    );
    let without_roster = project.custos(&["keys", "graph", "--today", "2026-12-03"]);
    assert_eq!(without_roster.code, 0, "{}", without_roster.stderr);

    let project = project.with_all_policies();
    project.edit_register(
        "custodians: [alice, bob, erin]",
        "custodians: [alice, bob, zed]",
    );
    let run = project.custos(&["keys", "graph"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "policies/keys.yaml:26:30: key `ZMK-ACME-2026`: custodian `zed` is not in the roster\n    \
         |     custodians: [alice, bob, zed]\n    \
         |                              ^\n\
         custos: the key register cannot be used\n"
    );
}

#[test]
fn the_validator_checks_what_keys_transition_is_given_to_move_descendants() {
    let project = Project::new();
    let fixture = support::cli::repo().join("tests/fixtures/key-register-walk.yaml");
    let text = std::fs::read_to_string(fixture).unwrap();
    let runbooks = project.path().join("runbooks");
    std::fs::create_dir_all(&runbooks).unwrap();
    let path = runbooks.join("key-register-walk.yaml");
    let with = "with: { name: \"{{inputs.zmk}}\", state: compromised }";
    assert_eq!(text.matches(with).count(), 1);

    let descendants = with.replace(" }", ", descendants: true }");
    std::fs::write(&path, text.replace(with, &descendants)).unwrap();
    let run = project.custos(&["validate", "runbooks/key-register-walk.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let wrong = with.replace(" }", ", descendants: all }");
    std::fs::write(&path, text.replace(with, &wrong)).unwrap();
    let run = project.custos(&["validate", "runbooks/key-register-walk.yaml"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with(
            "runbooks/key-register-walk.yaml:24:57: node `mark_compromised`: parameter \
             `descendants` of `keys.transition` must be `true` or `false`, not `\"all\"`\n"
        ),
        "{}",
        run.stderr
    );
}
