//! The interactive walk, driven through a pseudo-terminal as a person would drive it.

#![allow(clippy::unwrap_used)]

mod support;

use rexpect::session::{PtySession, spawn_command};
use std::process::Command;
use support::cli::{custos, repo};

const TIMEOUT_MS: u64 = 15_000;

fn drill(store: &std::path::Path) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    command
        .current_dir(repo())
        .env("CUSTOS_STORE", store)
        .env("TERM", "xterm")
        .env("COLUMNS", "80")
        .env("LINES", "40")
        .args([
            "--policies",
            "tests/fixtures/no-policies",
            "drill",
            "tests/fixtures/card-triage.yaml",
            "--as",
            "erin",
        ]);
    spawn_command(command, Some(TIMEOUT_MS)).expect("custos starts in a pseudo-terminal")
}

/// Waits for `prompt`, then types `answer` and Enter.
fn answer(session: &mut PtySession, prompt: &str, answer: &str) {
    session
        .exp_string(prompt)
        .unwrap_or_else(|error| panic!("waiting for {prompt:?}: {error}"));
    session.send_line(answer).unwrap();
}

#[test]
fn a_person_walks_a_drill_at_the_terminal_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let mut session = drill(&store);

    answer(&mut session, "Serial number printed on the card", "C-0042");
    answer(&mut session, "How many valid shares are left?", "4");
    session
        .exp_string("Record who reported the card and when")
        .unwrap();
    session.exp_string("Card C-0042; 4 shares left.").unwrap();
    answer(&mut session, "Who reported it?", "the night guard");
    answer(&mut session, "When was it last seen?", "2026-12-01");
    answer(&mut session, "When the step is done:", "");

    session.exp_string("Has the card been found?").unwrap();
    session.exp_string("Reported by the night guard.").unwrap();
    session.exp_string("Path: intake ").unwrap();
    answer(&mut session, "Your decision:", "");

    answer(&mut session, "KCV shown by the card's share", "08d7b4");
    answer(&mut session, "When the step is done:", "");
    session.exp_string("closed at `found`: resolved").unwrap();
    session.exp_string("Debrief of INC-1 (drill)").unwrap();
    session.exp_eof().unwrap();

    let log = custos()
        .env("CUSTOS_STORE", &store)
        .args(["log", "INC-1", "--json"])
        .run();
    assert!(
        log.stdout.contains(r#""fields":{"kcv":"08D7B4"}"#),
        "{}",
        log.stdout
    );
    assert!(log.stdout.contains(r#""actor":"erin""#));
    assert!(log.stdout.contains(r#""type":"incident_closed""#));
}

#[test]
fn a_wrong_value_is_refused_at_the_prompt_and_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let mut session = drill(&store);

    answer(&mut session, "Serial number printed on the card", "C-1");
    answer(&mut session, "How many valid shares are left?", "four");
    session.exp_string("`four` is not a number").unwrap();
    session.send("\x7f\x7f\x7f\x7f").unwrap();
    session.send_line("4").unwrap();
    session.exp_string("Who reported it?").unwrap();
    session.send_control('c').unwrap();
    session
        .exp_string("custos: INC-1 stopped at `intake`: paused by the responder")
        .unwrap();
    session.exp_eof().unwrap();
}

#[test]
fn pausing_at_a_decision_leaves_the_incident_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let mut session = drill(&store);

    answer(&mut session, "Serial number printed on the card", "C-2");
    answer(&mut session, "How many valid shares are left?", "2");
    answer(&mut session, "Who reported it?", "frank");
    answer(&mut session, "When was it last seen?", "2026-11-30");
    answer(&mut session, "When the step is done:", "");
    answer(&mut session, "Your decision:", "Pause");
    session
        .exp_string("`custos resume INC-1` continues where it stopped")
        .unwrap();
    session.exp_eof().unwrap();

    let list = custos()
        .env("CUSTOS_STORE", &store)
        .args(["incidents"])
        .run();
    assert!(
        list.stdout
            .contains("INC-1 card-triage                 open   drill 20"),
        "{}",
        list.stdout
    );
}

/// `custos drill RUNBOOK --as PERSON` in a pseudo-terminal, with the shipped policies (and
/// their roster) unless `policies` names others, and `env` set.
fn drill_with(
    runbook: &str,
    store: &std::path::Path,
    policies: &str,
    env: &[(&str, &str)],
) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    command
        .current_dir(repo())
        .env("CUSTOS_STORE", store)
        .env("TERM", "xterm")
        .env("COLUMNS", "80")
        .env("LINES", "40")
        .env_remove("CUSTOS_POLICIES")
        .args(["--policies", policies, "drill", runbook, "--as", "dave"]);
    for (name, value) in env {
        command.env(name, value);
    }
    spawn_command(command, Some(TIMEOUT_MS)).expect("custos starts in a pseudo-terminal")
}

/// `custos approve INC-1 --as PERSON` from another process, as a second custodian would.
fn approve_elsewhere(store: &std::path::Path, person: &str) {
    let run = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", store)
        .env("P", format!("{person}-drill-passphrase"))
        .args(["approve", "INC-1", "--as", person, "--passphrase-env", "P"])
        .run();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

fn notes_at(store: &std::path::Path, node: &str) -> Vec<String> {
    let log = custos()
        .env("CUSTOS_STORE", store)
        .args(["log", "INC-1", "--json"])
        .run();
    log.stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["event"]["type"] == "note_added" && event["event"]["node"] == node)
        .map(|event| event["event"]["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_walker_waits_for_approvals_from_other_terminals_and_goes_on_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let mut session = drill_with("tests/fixtures/dual-control.yaml", &store, "policies", &[]);

    session.exp_string("checks that you are dave.").unwrap();
    answer(
        &mut session,
        "Passphrase for dave:",
        "dave-drill-passphrase",
    );
    answer(&mut session, "When the step is done:", "");
    answer(&mut session, "Approval:", "Wait");
    session
        .exp_string("From another terminal: custos approve INC-1 approve --as PERSON")
        .unwrap();
    session
        .exp_string("Press Enter to go back to the menu.")
        .unwrap();

    // Long enough for several rounds of polling with nothing to find.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    approve_elsewhere(&store, "bob");
    session.exp_string("approved: bob").unwrap();
    approve_elsewhere(&store, "erin");

    // The quorum is met without a key pressed; the walk asks for a note and goes on.
    answer(&mut session, "Before going on:", "Add");
    answer(
        &mut session,
        "Note:",
        "bob and erin approved from the vault room",
    );
    answer(&mut session, "Before going on:", "");
    session.exp_string("closed at `done`: completed").unwrap();
    session.exp_eof().unwrap();

    assert_eq!(
        notes_at(&store, "approve"),
        ["bob and erin approved from the vault room"]
    );
}

#[test]
fn enter_while_waiting_goes_back_to_the_approval_menu() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let mut session = drill_with("tests/fixtures/dual-control.yaml", &store, "policies", &[]);

    answer(
        &mut session,
        "Passphrase for dave:",
        "dave-drill-passphrase",
    );
    answer(&mut session, "When the step is done:", "");
    answer(&mut session, "Approval:", "Wait");
    session
        .exp_string("Press Enter to go back to the menu.")
        .unwrap();
    session.exp_string("waiting at `approve`").unwrap();
    session.send("\r").unwrap();
    session.flush().unwrap();
    answer(&mut session, "Approval:", "Pause");
    session
        .exp_string("custos: INC-1 stopped at `approve`: paused by the responder")
        .unwrap();
    session.exp_eof().unwrap();
}

const HEALTH_THEN_TELL: &str = "\
id: health-then-tell
title: Check the primary and tell the executives
version: 1
severity: high
summary: A step, an automated health check, a notification, the end.
start: prepare
nodes:
  prepare:
    kind: step
    title: Get ready
    next: check
  check:
    kind: action
    title: Check the primary HSM
    run: hsm.health
    with:
      environment: production-primary
    on_success: tell
    on_failure: tell
  tell:
    kind: notify
    title: Tell the executives
    to: executives
    template: pty-notice
    next: done
  done:
    kind: end
    title: Done
    outcome: resolved
";

#[test]
fn notes_are_offered_after_an_action_and_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    let conf = support::cli::rehearsal_tokens(&dir.path().join("home"));
    let policies = dir.path().join("policies");
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo().join("policies"))
        .arg(&policies)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        policies.join("templates/pty-notice.yaml"),
        "subject: \"Notice for {{incident.id}}\"\nbody: |\n  At \"{{node.title}}\".\n",
    )
    .unwrap();
    let runbook = dir.path().join("health-then-tell.yaml");
    std::fs::write(&runbook, HEALTH_THEN_TELL).unwrap();
    let store = dir.path().join("incidents.sqlite");

    let conf = conf.display().to_string();
    let env = [
        ("SOFTHSM2_CONF", conf.as_str()),
        ("CUSTOS_DRILL_PIN", "123456"),
    ];
    let mut session = drill_with(
        runbook.to_str().unwrap(),
        &store,
        policies.to_str().unwrap(),
        &env,
    );
    answer(&mut session, "When the step is done:", "");
    session.exp_string("hsm.health: ").unwrap();
    answer(&mut session, "Before going on:", "Add");
    answer(&mut session, "Note:", "the front panel shows green too");
    answer(&mut session, "Before going on:", "");
    session.exp_string("executives told (pty-notice").unwrap();
    answer(&mut session, "Before going on:", "Add");
    answer(&mut session, "Note:", "also told the CEO by phone");
    answer(&mut session, "Before going on:", "");
    session.exp_string("closed at `done`: resolved").unwrap();
    session.exp_eof().unwrap();

    assert_eq!(
        notes_at(&store, "check"),
        ["the front panel shows green too"]
    );
    assert_eq!(notes_at(&store, "tell"), ["also told the CEO by phone"]);
}

/// A step that overruns its `within` after two seconds, for the escalation watch.
const SLOW_STEP: &str = "\
id: slow-step
title: A step that overruns while its prompt is open
version: 1
severity: medium
summary: The responder leaves the prompt open past the step's time limit.
start: count
nodes:
  count:
    kind: step
    title: Count the cards in the safe
    within: PT2S
    fields:
      cards: { prompt: How many cards are in the safe?, type: number }
    next: done
  done: { kind: end, title: Counted, outcome: resolved }
";

#[test]
fn an_escalation_falls_due_and_is_sent_while_the_prompt_waits_for_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo().join("policies"))
        .arg(&policies)
        .status()
        .unwrap();
    assert!(status.success());
    let runbook = dir.path().join("slow-step.yaml");
    std::fs::write(&runbook, SLOW_STEP).unwrap();
    let store = dir.path().join("incidents.sqlite");

    let mut session = drill_with(
        runbook.to_str().unwrap(),
        &store,
        policies.to_str().unwrap(),
        &[("CUSTOS_WATCH_SECONDS", "1")],
    );
    session
        .exp_string("How many cards are in the safe?")
        .unwrap();
    // Nobody answers: the watch beside the prompt fires the overrun and sends it.
    session.exp_string("custos: escalation: ").unwrap();
    let fired = custos()
        .env("CUSTOS_STORE", &store)
        .args(["log", "INC-1", "--json"])
        .run();
    assert_eq!(
        fired.stdout.matches(r#""type":"escalation_fired""#).count(),
        1,
        "{}",
        fired.stdout
    );
    assert!(!fired.stdout.contains(r#""type":"field_recorded""#));

    session
        .exp_string("should have been done within 2 s")
        .unwrap();
    session.send_line("5").unwrap();
    answer(&mut session, "When the step is done:", "");
    session.exp_string("closed at `done`: resolved").unwrap();
    session.exp_eof().unwrap();

    let log = custos()
        .env("CUSTOS_STORE", &store)
        .args(["log", "INC-1", "--json"])
        .run();
    assert_eq!(
        log.stdout.matches(r#""type":"escalation_fired""#).count(),
        1,
        "the walker's own look between moves does not fire it again: {}",
        log.stdout
    );
    let delivered = std::fs::read_dir(dir.path().join("drill-mailbox/new"))
        .unwrap()
        .count();
    assert_eq!(delivered, 1, "one message in the drill Maildir");
}
