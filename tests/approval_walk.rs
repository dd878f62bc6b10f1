//! Dual control during a walk: the walker waits at an approval node while a second custodian
//! approves from another process, then goes on.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::cli::{custos, repo};

#[test]
fn the_walker_waits_for_an_approval_from_another_process_and_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let answers = dir.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "nodes:\n  prepare: {}\n  approve:\n    approvals:\n      \
         - { person: bob, passphrase_env: BOB_PASS }\n      - { wait: true }\n",
    )
    .unwrap();

    let walker = Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(repo())
        .env("CUSTOS_STORE", &store)
        .env("BOB_PASS", "bob-drill-passphrase")
        .env("CUSTOS_PASSPHRASE_DAVE", "dave-drill-passphrase")
        .args([
            "drill",
            "tests/fixtures/dual-control.yaml",
            "--as",
            "dave",
            "--answers",
        ])
        .arg(&answers)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait until bob's approval is in the log, then approve as erin from "another terminal".
    let started = Instant::now();
    loop {
        let log = custos()
            .env("CUSTOS_STORE", &store)
            .args(["log", "INC-1", "--json"])
            .run();
        if log.stdout.contains("\"approval_granted\"") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "bob's approval never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let approve = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", &store)
        .env("ERIN_PASS", "erin-drill-passphrase")
        .args([
            "approve",
            "INC-1",
            "--as",
            "erin",
            "--passphrase-env",
            "ERIN_PASS",
        ])
        .run();
    assert_eq!(approve.code, 0, "{}\n{}", approve.stdout, approve.stderr);

    let output = walker.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("custos: INC-1 closed at `done`: completed; the log is sealed"),
        "{stderr}"
    );

    let log = custos()
        .env("CUSTOS_STORE", &store)
        .args(["log", "INC-1", "--json"])
        .run();
    let completed = log
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["event"]["type"] == "approval_completed")
        .unwrap();
    assert_eq!(
        completed["event"]["people"],
        serde_json::json!(["bob", "erin"])
    );
    let verify = custos()
        .env("CUSTOS_STORE", &store)
        .args(["verify", "INC-1"])
        .run();
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}

/// `custos drill` of the dual-control fixture with `args`, its passphrase variables in `env`.
fn start_dual_control(
    store: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> support::cli::Run {
    let dir = store.parent().unwrap();
    let answers = dir.join("prepare-only.yaml");
    std::fs::write(&answers, "nodes:\n  prepare: {}\n").unwrap();
    let mut command = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", store)
        .args(["drill", "tests/fixtures/dual-control.yaml", "--answers"])
        .arg(&answers)
        .args(args);
    for (name, value) in env {
        command = command.env(name, value);
    }
    command.run()
}

#[test]
fn a_runbook_that_excludes_the_initiator_does_not_start_without_as() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let run = start_dual_control(&store, &[], &[]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `dual-control` has approvals that exclude the person who opens the incident, \
         so it starts only with `--as PERSON`: a person of the roster, who authenticates with \
         their passphrase\n"
    );
    assert!(!store.exists(), "nothing was opened");
}

#[test]
fn an_initiator_with_a_wrong_passphrase_or_outside_the_roster_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");

    let wrong = [("CUSTOS_PASSPHRASE_ALICE", "bob-drill-passphrase")];
    let run = start_dual_control(&store, &["--as", "alice"], &wrong);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `alice` did not authenticate, so the incident was not opened: wrong passphrase\n"
    );

    let run = start_dual_control(
        &store,
        &["--as", "root"],
        &[("CUSTOS_PASSPHRASE_ROOT", "x")],
    );
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `root` did not authenticate, so the incident was not opened: unknown person: \
         not in the roster\n"
    );

    let run = start_dual_control(&store, &["--as", "alice"], &[]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: the incident was not opened: `alice` must authenticate to open this incident, \
         and the environment variable `CUSTOS_PASSPHRASE_ALICE` for their passphrase is not set \
         (the answers file may name another: `initiator: { passphrase_env: VAR }`)\n"
    );
    assert!(!store.exists(), "nothing was opened");

    let run = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", &store)
        .env("CUSTOS_PASSPHRASE_ALICE", "alice-drill-passphrase")
        .args(["--policies", "tests/fixtures/no-policies"])
        .args(["drill", "tests/fixtures/dual-control.yaml", "--as", "alice"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: `dual-control` has approvals that exclude the person who opens the incident, \
         and there is no roster to authenticate `alice` against\n"
    );
}

#[test]
fn an_authenticated_initiator_is_recorded_and_still_may_not_approve() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("incidents.sqlite");
    let env = [("CUSTOS_PASSPHRASE_ALICE", "alice-drill-passphrase")];
    let run = start_dual_control(&store, &["--as", "alice"], &env);
    assert_eq!(run.code, 1, "{}", run.stderr);

    let log = custos()
        .env("CUSTOS_STORE", &store)
        .args(["log", "INC-1", "--json"])
        .run();
    let events: Vec<serde_json::Value> = log
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let proof = &events[1]["event"];
    assert_eq!(proof["type"], "initiator_authenticated");
    assert_eq!(proof["person"], "alice");
    assert_eq!(proof["credential"].as_str().unwrap().len(), 8);
    assert!(!log.stdout.contains("alice-drill-passphrase"));

    let approve = custos()
        .current_dir(repo())
        .env("CUSTOS_STORE", &store)
        .env("P", "alice-drill-passphrase")
        .args(["approve", "INC-1", "--as", "alice", "--passphrase-env", "P"])
        .run();
    assert_eq!(approve.code, 1);
    assert!(
        approve.stderr.contains(
            "initiator excluded: the person who opened the incident may not approve here"
        ),
        "{}",
        approve.stderr
    );
}
