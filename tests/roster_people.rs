//! People the walk records as who they are: `person` fields checked against the roster (one
//! holder per component, nobody holding two components of one key: PCI PIN 21-2.4) and a
//! ceremony's participants, refused at run time; and how the validator reads the declarations.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use support::cli::{Run, custos, repo};

/// A step recording who holds components A and B of the key named by the input `zmk_label`.
const HOLDERS: &str = "\
id: record-holders
title: Record the holders of the key components
version: 1
severity: high
summary: One step naming two custodians, then the end.
inputs:
  zmk_label: { prompt: Label of the key }
start: load
nodes:
  load:
    kind: step
    title: Load the components
    fields:
      custodian_a:
        prompt: Roster id of custodian A
        type: person
        component: { key: zmk_label, name: A }
      custodian_b:
        prompt: Roster id of custodian B
        type: person
        component: { key: zmk_label, name: B }
      witness:
        prompt: Roster id of the witness
        type: person
        required: false
    next: done
  done:
    kind: end
    title: Recorded
    outcome: completed
";

/// A key ceremony of one step.
const CEREMONY: &str = "\
id: tiny-ceremony
title: A tiny ceremony
version: 1
severity: medium
summary: Participants, one step, the end.
ceremony: true
start: work
nodes:
  work:
    kind: step
    title: Do the work
    next: done
  done:
    kind: end
    title: Done
    outcome: completed
";

struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let scene = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(scene.path("record-holders.yaml"), HOLDERS).unwrap();
        std::fs::write(scene.path("tiny-ceremony.yaml"), CEREMONY).unwrap();
        scene
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A drill of `runbook` with the shipped roster, answered by `answers`.
    fn drill(&self, runbook: &str, answers: &str) -> Run {
        let file = self.path("answers.yaml");
        std::fs::write(&file, answers).unwrap();
        custos()
            .current_dir(repo())
            .env("CUSTOS_STORE", self.path("incidents.sqlite"))
            .args(["drill"])
            .arg(self.path(runbook))
            .arg("--answers")
            .arg(&file)
            .args(["--as", "dave"])
            .run()
    }

    fn log(&self, incident: &str) -> String {
        custos()
            .env("CUSTOS_STORE", self.path("incidents.sqlite"))
            .args(["log", incident, "--json"])
            .run()
            .stdout
    }
}

fn holders(label: &str, a: &str, b: &str) -> String {
    format!(
        "inputs: {{ zmk_label: {label} }}\nnodes:\n  load: {{ fields: {{ custodian_a: {a}, \
         custodian_b: {b} }} }}\n"
    )
}

fn refused(run: &Run, reason: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected =
        format!("custos: INC-1 stopped at `load`: the step `load` cannot be recorded: {reason}\n");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}

#[test]
fn two_different_custodians_holding_no_other_component_are_recorded() {
    let scene = Scene::new();
    let run = scene.drill(
        "record-holders.yaml",
        &holders("ZMK-ACME-2027", "alice", "bob"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        scene
            .log("INC-1")
            .contains(r#""fields":{"custodian_a":"alice","custodian_b":"bob"}"#)
    );
}

#[test]
fn one_person_named_for_two_components_is_refused_and_nothing_is_recorded() {
    let scene = Scene::new();
    let run = scene.drill(
        "record-holders.yaml",
        &holders("ZMK-ACME-2027", "alice", "alice"),
    );
    refused(
        &run,
        "`alice` is named in both `custodian_a` and `custodian_b`: one person may not hold two \
         components of one key (PCI PIN 21-2.4)",
    );
    assert!(!scene.log("INC-1").contains("step_completed"));
}

#[test]
fn a_custodian_who_holds_another_component_of_the_key_is_refused() {
    // The shipped roster gives bob component B of ZMK-ACME-2026.
    let scene = Scene::new();
    let run = scene.drill(
        "record-holders.yaml",
        &holders("ZMK-ACME-2026", "bob", "alice"),
    );
    refused(
        &run,
        "`custodian_a`: `bob` holds component B of `ZMK-ACME-2026` and may not be recorded as the \
         holder of component A (PCI PIN 21-2.4)",
    );
}

#[test]
fn a_person_field_naming_someone_outside_the_roster_is_refused() {
    let scene = Scene::new();
    let answers = "inputs: { zmk_label: ZMK-X }\nnodes:\n  load: { fields: { custodian_a: alice, \
                   custodian_b: bob, witness: mallory } }\n";
    let run = scene.drill("record-holders.yaml", answers);
    refused(&run, "`witness`: `mallory` is not in the roster");

    let run = scene.drill(
        "record-holders.yaml",
        &holders("ZMK-X", "\"Alice Andrade\"", "bob"),
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "node `load`, field `custodian_a`: `Alice Andrade` is not a roster id: lowercase \
             letters, digits, `-`, `_` and `.`"
        ),
        "{}",
        run.stderr
    );
}

fn ceremony(participants: &str) -> String {
    format!("participants:\n{participants}nodes:\n  work: {{}}\n")
}

#[test]
fn a_ceremonys_participants_must_be_distinct_people_of_the_roster_in_roles_they_hold() {
    let scene = Scene::new();
    let run = scene.drill(
        "tiny-ceremony.yaml",
        &ceremony("  - { person: alice, role: custodian }\n  - { person: alice, role: witness }\n"),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "custos: the incident was not opened: the participants cannot be recorded: `alice` is \
         listed twice; each participant takes one role\n"
    );

    let run = scene.drill(
        "tiny-ceremony.yaml",
        &ceremony("  - { person: mallory, role: custodian }\n"),
    );
    assert_eq!(
        run.stderr,
        "custos: the incident was not opened: the participants cannot be recorded: `mallory` is \
         not in the roster, so they cannot take part as custodian\n"
    );

    let run = scene.drill(
        "tiny-ceremony.yaml",
        &ceremony("  - { person: carol, role: custodian }\n"),
    );
    assert_eq!(
        run.stderr,
        "custos: the incident was not opened: the participants cannot be recorded: `carol` does \
         not hold the role custodian in the roster (they hold security-officer)\n"
    );
    let list = custos()
        .env("CUSTOS_STORE", scene.path("incidents.sqlite"))
        .arg("incidents")
        .run();
    assert!(
        list.stderr.starts_with("custos: no incidents in "),
        "{list:?}"
    );

    let run = scene.drill(
        "tiny-ceremony.yaml",
        &ceremony(
            "  - { person: alice, role: custodian }\n  - { person: bob, role: custodian }\n  - \
             { person: Ines Auditor, role: witness }\n",
        ),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        scene
            .log("INC-1")
            .contains(r#""type":"participants_recorded""#)
    );
}

/// The messages of the validator for `source`.
fn problems(source: &str) -> Vec<String> {
    let context = custos::runbook::Context::default();
    match custos::runbook::parse(source, None, &context) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.into_iter().map(|d| d.message).collect(),
    }
}

#[test]
fn the_validator_reads_person_fields_and_their_components() {
    assert_eq!(problems(HOLDERS), Vec::<String>::new());

    let text_holder = HOLDERS.replacen("type: person\n        component", "component", 1);
    assert_eq!(
        problems(&text_holder),
        ["`custodian_a` has a `component` but is not a step field of type `person`"]
    );
    let unknown_key = HOLDERS.replacen("key: zmk_label, name: A", "key: zmk, name: A", 1);
    assert_eq!(
        problems(&unknown_key),
        [
            "the `component` of `custodian_a` names the key by input `zmk`, which the runbook \
             does not have"
        ]
    );
    let same = HOLDERS.replacen("name: B", "name: A", 1);
    assert_eq!(
        problems(&same),
        ["`custodian_a` and `custodian_b` both hold component A of the key in input `zmk_label`"]
    );
    let person_input = HOLDERS.replacen(
        "zmk_label: { prompt: Label of the key }",
        "zmk_label: { prompt: Who, type: person }",
        1,
    );
    let found = problems(&person_input);
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("input `zmk_label` has unknown type `person`")),
        "{found:?}"
    );
}

#[test]
fn the_shipped_zmk_compromise_runbook_names_its_custodians_as_roster_people() {
    let path: &Path = &repo().join("runbooks/zmk-compromise.yaml");
    let source = std::fs::read_to_string(path).unwrap();
    let runbook =
        custos::runbook::parse(&source, Some("zmk-compromise"), &Default::default()).unwrap();
    let node = runbook
        .node(&custos::runbook::NodeId("load_components".into()))
        .unwrap();
    let custos::runbook::NodeKind::Step { fields, .. } = &node.kind else {
        panic!("load_components is a step");
    };
    let holders: Vec<(&str, &str)> = fields
        .iter()
        .filter_map(|field| {
            let holds = field.holds.as_ref()?;
            assert_eq!(field.kind, custos::runbook::InputKind::Person);
            assert_eq!(holds.key, "new_zmk_label");
            Some((field.name.as_str(), holds.component.as_str()))
        })
        .collect();
    assert_eq!(
        holders,
        [
            ("custodian_a", "A"),
            ("custodian_b", "B"),
            ("custodian_c", "C")
        ]
    );
}
