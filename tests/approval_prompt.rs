//! The hidden passphrase prompts, driven through a real pseudo-terminal: nothing typed is
//! echoed, and an approval typed at a terminal records that terminal.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod approval_common;

use std::process::Command;

use approval_common::*;
use custos::policy::roster::{self, Roster};
use custos::store::{Event, Store};

fn custos_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    for variable in [
        "CUSTOS_STORE",
        "CUSTOS_POLICIES",
        "CUSTOS_LOG",
        "SSH_CONNECTION",
    ] {
        command.env_remove(variable);
    }
    command
}

#[test]
fn approve_asks_at_a_hidden_prompt_and_records_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("incidents.sqlite");
    let mut store = Store::open(&store_path).unwrap();
    let incident = open_ceremony(&mut store);
    enter(&mut store, &incident, "approve_generation", 1);

    let mut command = custos_command();
    command
        .args(["--store", &store_path.display().to_string()])
        .args(["--policies", &repo().join("policies").display().to_string()])
        .args(["approve", "INC-1", "--as", "bob"]);
    let mut session = rexpect::session::spawn_command(command, Some(20_000)).unwrap();
    session.exp_string("Passphrase for bob:").unwrap();
    session.send_line(&passphrase("bob")).unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("granted: `bob` approves `approve_generation` of INC-1 as custodian"));
    assert!(
        !rest.contains(&passphrase("bob")),
        "the passphrase was echoed: {rest}"
    );

    let last = store.events(&incident).unwrap().pop().unwrap();
    let Event::ApprovalGranted { origin, .. } = last.event else {
        panic!("expected a grant, got {:?}", last.event);
    };
    assert!(origin.terminal.starts_with("pts/"), "{origin:?}");
    assert_ne!(origin.pid, std::process::id());
}

#[test]
fn roster_passwd_asks_for_the_current_passphrase_then_the_new_one_twice_at_hidden_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        repo().join("policies/roster.yaml"),
        policies.join("roster.yaml"),
    )
    .unwrap();

    let mut command = custos_command();
    command
        .env("CUSTOS_ARGON2_TEST_PARAMS", "1")
        .args(["--policies", &policies.display().to_string()])
        .args(["roster", "passwd", "dave"]);
    let mut session = rexpect::session::spawn_command(command, Some(20_000)).unwrap();
    session.exp_string("Current passphrase for dave:").unwrap();
    session.send_line(&passphrase("dave")).unwrap();
    session.exp_string("New passphrase for dave:").unwrap();
    session.send_line("dave-typed-at-a-terminal").unwrap();
    session.exp_string("Type it again:").unwrap();
    session.send_line("dave-typed-at-a-terminal").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(
        rest.contains("the passphrase of `dave` is changed"),
        "{rest}"
    );
    assert!(!rest.contains("dave-typed-at-a-terminal"), "echoed: {rest}");
    assert!(!rest.contains(&passphrase("dave")), "echoed: {rest}");

    let roster = Roster::load(&policies.join("roster.yaml")).unwrap();
    let credential = &roster.person("dave").unwrap().credential;
    assert!(roster::verify_passphrase(
        credential,
        "dave-typed-at-a-terminal"
    ));
}
