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
            .contains("INC-1    card-triage                  open    drill"),
        "{}",
        list.stdout
    );
}
