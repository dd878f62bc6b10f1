//! `hsm.load_components` through a scripted drill against the real SoftHSM2 drill tokens: the
//! answers file names the variables that hold the components, the log records their KCVs and
//! the combined KCV, and no component value reaches the incident store.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::cli::{Run, custos, rehearsal_tokens, repo};

/// The published TDES vector `0123456789ABCDEFFEDCBA9876543210` split in two: ECB KCV `08D7B4`,
/// CMAC `0A82458664`. The component KCVs were computed apart, with `openssl enc -des-ede-ecb`.
const COMPONENT_A: &str = "1111111111111111F0F0F0F0F0F0F0F0";
const COMPONENT_B: &str = "1032547698BADCFE0E2C4A6886A4C2E0";
const COMBINED: &str = "0123456789ABCDEFFEDCBA9876543210";

fn walk(home: &Path, conf: &Path, command: &str) -> Run {
    let runbook = repo().join("tests/fixtures/load-components-walk.yaml");
    let answers = repo().join("tests/fixtures/load-components-walk.answers.yaml");
    custos()
        .current_dir(repo())
        .env("SOFTHSM2_CONF", conf)
        .env("CUSTOS_DRILL_PIN", "123456")
        .env("CUSTOS_DRILL_COMPONENT_A", COMPONENT_A)
        // Spaces, as a custodian might type them, are ignored.
        .env(
            "CUSTOS_DRILL_COMPONENT_B",
            "10325476 98BADCFE 0E2C4A68 86A4C2E0",
        )
        .arg("--store")
        .arg(home.join("incidents.sqlite"))
        .args([command, runbook.to_str().unwrap(), "--answers"])
        .arg(answers)
        .args(["--as", "alice"])
        .run()
}

fn finished(home: &Path) -> Vec<Value> {
    let log = custos()
        .arg("--store")
        .arg(home.join("incidents.sqlite"))
        .args(["log", "INC-1", "--json"])
        .run();
    assert_eq!(log.code, 0, "{}", log.stderr);
    log.stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["event"].clone())
        .filter(|event| event["type"] == "action_finished")
        .collect()
}

/// Every byte of the store: the database and, if present, its write-ahead log.
fn store_bytes(home: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in [
        "incidents.sqlite",
        "incidents.sqlite-wal",
        "incidents.sqlite-shm",
    ] {
        if let Ok(content) = std::fs::read(home.join(name)) {
            bytes.extend(content);
        }
    }
    assert!(!bytes.is_empty());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn a_drill_loads_a_key_from_components_named_in_the_answers_and_logs_only_their_kcvs() {
    let home = tempfile::tempdir().unwrap();
    let conf = rehearsal_tokens(home.path());

    let run = walk(home.path(), &conf, "drill");
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("INC-1 closed at `done`"),
        "{}",
        run.stderr
    );

    let actions = finished(home.path());
    assert_eq!(actions[0]["action"], "hsm.load_components");
    assert_eq!(
        actions[0]["outputs"],
        json!({
            "component_kcvs": ["73668A", "29CC59"],
            "kcv": "08D7B4",
            "method": "ecb",
            "length": 3,
        })
    );
    assert_eq!(actions[1]["outputs"]["kcv"], "0A82458664");
    assert_eq!(actions[1]["outputs"]["method"], "cmac");

    let store = store_bytes(home.path());
    for secret in [COMPONENT_A, COMPONENT_B, COMBINED] {
        let raw = hex::decode(secret).unwrap();
        for needle in [secret.to_owned(), secret.to_ascii_lowercase()] {
            assert!(
                !contains(&store, needle.as_bytes()),
                "{needle} is in the store"
            );
            assert!(!run.stdout.contains(&needle) && !run.stderr.contains(&needle));
        }
        assert!(
            !contains(&store, &raw),
            "the bytes of {secret} are in the store"
        );
    }
}

#[test]
fn outside_a_drill_no_component_is_read_and_the_action_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let conf = rehearsal_tokens(home.path());

    let run = walk(home.path(), &conf, "run");
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let actions = finished(home.path());
    assert_eq!(actions[0]["ok"], false);
    assert_eq!(
        actions[0]["error"],
        "`hsm.load_components` runs only in a drill: clear components are never loaded into a \
         live HSM"
    );
}

#[test]
fn an_answers_file_with_a_component_written_into_it_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let answers = home.path().join("answers.yaml");
    std::fs::write(
        &answers,
        format!("components:\n  ZMK-DRILL-LOADED: [{COMPONENT_A}, CUSTOS_DRILL_COMPONENT_B]\n"),
    )
    .unwrap();
    let runbook = repo().join("tests/fixtures/load-components-walk.yaml");
    let run = custos()
        .current_dir(repo())
        .arg("--store")
        .arg(home.path().join("incidents.sqlite"))
        .args(["drill", runbook.to_str().unwrap(), "--answers"])
        .arg(&answers)
        .run();
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(
            "`components` for `ZMK-DRILL-LOADED`: an entry looks like a key component, not the \
             name of a variable; components never go in the answers file"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(COMPONENT_A), "{}", run.stderr);
}
