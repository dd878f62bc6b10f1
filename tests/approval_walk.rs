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
