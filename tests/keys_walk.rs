//! `keys.lookup` and `keys.transition` in scripted walks through the real binary: what the
//! incident log records, when the register is rewritten (a real incident) and when it is not (a
//! drill), and how a move NIST SP 800-57 forbids is refused.

#![allow(clippy::unwrap_used)]

mod keys_common;
mod support;

use keys_common::Project;
use serde_json::{Value, json};
use support::cli::repo;

const ANSWERS: &str = "\
inputs: { zmk: ZMK-ACME-2026 }
nodes:
  review: { notes: [Both ZPKs are on the replacement list] }
";

fn walk(project: &Project, command: &str) -> Vec<Value> {
    let answers = project.path().join("answers.yaml");
    std::fs::write(&answers, ANSWERS).unwrap();
    let runbook = repo().join("tests/fixtures/key-register-walk.yaml");
    let run = project.custos(&[
        command,
        runbook.to_str().unwrap(),
        "--answers",
        answers.to_str().unwrap(),
        "--as",
        "alice",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let log = project.custos(&["log", "INC-1", "--json"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    log.stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["event"].clone())
        .filter(|event| event["type"] == "action_finished")
        .collect()
}

fn finished(node: &str, ok: bool, outputs: &Value, error: Option<&str>, next: &str) -> Value {
    let action = if node == "under_zmk" {
        "keys.lookup"
    } else {
        "keys.transition"
    };
    json!({
        "type": "action_finished",
        "node": node,
        "action": action,
        "ok": ok,
        "outputs": outputs,
        "error": error,
        "next": next,
    })
}

fn lookup() -> Value {
    finished(
        "under_zmk",
        true,
        &json!({
            "names": "ZPK-ACME-01, ZPK-ACME-02",
            "labels": "ZPK-ACME-01, ZPK-ACME-02",
            "kcvs": "32301E ecb, B5AB65 ecb",
            "count": 2,
        }),
        None,
        "mark_compromised",
    )
}

#[test]
fn a_real_walk_records_the_transition_and_rewrites_only_that_state_in_the_register() {
    let project = Project::new();
    let before = std::fs::read_to_string(project.register()).unwrap();

    let finished_events = walk(&project, "run");
    assert_eq!(
        finished_events,
        [
            lookup(),
            finished(
                "mark_compromised",
                true,
                &json!({
                    "name": "ZMK-ACME-2026",
                    "from": "active",
                    "to": "compromised",
                    "moved": ["ZMK-ACME-2026"],
                    "count": 1,
                    "persisted": true,
                }),
                None,
                "revive",
            ),
            finished(
                "revive",
                false,
                &json!({}),
                Some(
                    "key `ZMK-ACME-2026` cannot move from `compromised` to `active`: NIST SP \
                     800-57 allows only `destroyed`"
                ),
                "review",
            ),
        ]
    );

    let after = std::fs::read_to_string(project.register()).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(old, new)| old != new)
        .collect();
    assert_eq!(changed, [("    state: active", "    state: compromised")]);
    assert_eq!(before.lines().count(), after.lines().count());
    let leftovers: Vec<_> = std::fs::read_dir(project.path().join("policies"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let graph = project.custos(&["keys", "graph", "--today", "2026-12-03"]);
    assert!(
        graph
            .stdout
            .contains("ZMK-ACME-2026\\nZMK aes-256 - compromised\\n"),
        "{}",
        graph.stdout
    );
}

#[test]
fn a_drill_records_the_transition_but_leaves_the_register_as_it_was() {
    let project = Project::new();
    let before = std::fs::read_to_string(project.register()).unwrap();

    let finished_events = walk(&project, "drill");
    assert_eq!(finished_events[0], lookup());
    assert_eq!(
        finished_events[1]["outputs"],
        json!({
            "name": "ZMK-ACME-2026",
            "from": "active",
            "to": "compromised",
            "moved": ["ZMK-ACME-2026"],
            "count": 1,
            "persisted": false,
        })
    );
    assert_eq!(
        finished_events[2]["error"],
        "key `ZMK-ACME-2026` cannot move from `compromised` to `active`: NIST SP 800-57 allows \
         only `destroyed`",
        "a drill checks a move against the drill's earlier moves"
    );
    assert_eq!(std::fs::read_to_string(project.register()).unwrap(), before);
}

/// The `state:` line of `ZMK-ACME-2026` in the shipped register, with what comes before it.
const ZMK_STATE: &str = "activation: 2026-01-15\n    cryptoperiod: P1Y\n    state: active\n";

#[test]
fn a_quoted_state_moves_and_one_the_rewrite_cannot_read_fails_the_action_loudly() {
    let project = Project::new();
    project.edit_register(ZMK_STATE, &ZMK_STATE.replace("active", "\"active\""));
    let quoted = std::fs::read_to_string(project.register()).unwrap();
    let finished_events = walk(&project, "run");
    assert_eq!(finished_events[1]["ok"], true, "{:#?}", finished_events[1]);
    assert_eq!(finished_events[1]["outputs"]["persisted"], true);
    let after = std::fs::read_to_string(project.register()).unwrap();
    assert_eq!(
        after,
        quoted.replace("state: \"active\"", "state: \"compromised\"")
    );

    // An escape: YAML reads `active`, but the text is not a word custos can rewrite.
    let project = Project::new();
    project.edit_register(ZMK_STATE, &ZMK_STATE.replace("active", "\"act\\x69ve\""));
    let before = std::fs::read_to_string(project.register()).unwrap();
    let finished_events = walk(&project, "run");
    assert_eq!(finished_events[1]["ok"], false);
    assert_eq!(finished_events[1]["outputs"], json!({}));
    assert_eq!(
        finished_events[1]["error"],
        "policies/keys.yaml: the move of key `ZMK-ACME-2026` to `compromised` was not written, \
         and the register is unchanged: the state of key `ZMK-ACME-2026` at line 29, column 12 \
         is written `\"act\\x69ve\"`, not as `active`, `\"active\"` or `'active'`; change the \
         state by hand"
    );
    assert_eq!(std::fs::read_to_string(project.register()).unwrap(), before);
}

#[test]
fn a_walk_without_a_register_takes_the_failure_branch_with_the_reason() {
    let project = Project::new();
    std::fs::remove_file(project.register()).unwrap();

    let finished_events = walk(&project, "drill");
    assert_eq!(finished_events[0]["ok"], false);
    assert_eq!(
        finished_events[0]["error"],
        "`keys.lookup` needs the key register, and policies/keys.yaml does not exist"
    );
}

#[test]
fn the_zmk_runbook_in_a_drill_moves_the_zpks_with_the_zmk_and_lists_them_from_the_register() {
    let project = Project::with_tokens().with_all_policies();
    let answers = project.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "\
inputs:
  zmk_label: ZMK-ACME-2026
  zmk_kcv: 6D40DEB1DF cmac
  counterparty: ACME Bank
  new_zmk_label: ZMK-ACME-2027
nodes:
  intake: { fields: { reported_by: carol, source: counterparty-alert, evidence: safe 2 } }
  assess: confirmed
",
    )
    .unwrap();
    let runbook = repo().join("runbooks/zmk-compromise.yaml");
    let run = project.custos(&[
        "drill",
        runbook.to_str().unwrap(),
        "--answers",
        answers.to_str().unwrap(),
        "--as",
        "alice",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "[7] Set the ZMK and the keys under it to compromised in the key register \
             (compromise_in_register)\n    \
             keys.transition: name=ZMK-ACME-2026, from=active, to=compromised, \
             moved=[\"ZMK-ACME-2026\",\"ZPK-ACME-01\",\"ZPK-ACME-02\"], count=3, \
             persisted=false\n\
             [8] List the keys under the ZMK from the key register (register_zpks)\n    \
             keys.lookup: names=ZPK-ACME-01, ZPK-ACME-02, labels=ZPK-ACME-01, ZPK-ACME-02, \
             kcvs=32301E ecb, B5AB65 ecb, count=2\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "custos: INC-1 stopped at `list_dependents`: the answers file has no answer for node \
             `list_dependents` (visit 1)\n"
        ),
        "{}",
        run.stderr
    );
}
