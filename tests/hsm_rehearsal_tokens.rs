//! `scripts/rehearsal-tokens` makes drill tokens the shipped `policies/environments.yaml` finds,
//! with the same keys on primary and secondary, and changes nothing when run again.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use custos::hsm::Hsm;
use serde_json::json;
use support::{in_child, run};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/rehearsal-tokens");
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/environments.yaml");

fn make_tokens(home: &Path) -> String {
    let output = Command::new(SCRIPT)
        .env("CUSTOS_HOME", home)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the script failed: {stderr}");
    let config = home.join("softhsm/softhsm2.conf");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("export SOFTHSM2_CONF={}\n", config.display())
    );
    stderr
}

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let first = make_tokens(dir);
    assert!(
        first.contains("seeded KEK-BACKUP on custos-drill-new"),
        "{first}"
    );
    let second = make_tokens(dir);
    assert!(
        !second.contains("seeded") && !second.contains("made token"),
        "{second}"
    );
    (dir.join("softhsm/softhsm2.conf"), PathBuf::from(SHIPPED))
}

#[test]
fn the_drill_tokens_hold_matching_keys_and_a_second_run_changes_nothing() {
    let name = "the_drill_tokens_hold_matching_keys_and_a_second_run_changes_nothing";
    in_child(name, setup, |drill| {
        let mut hsm = Hsm::new();
        let params = [
            ("left", json!("drill-primary")),
            ("right", json!("drill-secondary")),
        ];
        let out = run(&mut hsm, drill, "hsm.compare", &params).unwrap();
        assert_eq!(out["in_sync"], json!(true), "{out:?}");
        assert!(
            out["summary"]
                .as_str()
                .unwrap()
                .contains("the same 6 secret keys"),
            "{out:?}"
        );

        let find = [("environment", json!("drill-new"))];
        let out = run(&mut hsm, drill, "hsm.find", &find).unwrap();
        assert_eq!(out["labels"], json!("KEK-BACKUP"));

        let wrap = [
            ("environment", json!("drill-primary")),
            ("key", json!("ZPK-ACME-01")),
            ("wrapping_key", json!("KEK-BACKUP")),
        ];
        let wrapped = run(&mut hsm, drill, "hsm.wrap", &wrap).unwrap();
        let unwrap = [
            ("environment", json!("drill-new")),
            ("wrapped", wrapped["wrapped"].clone()),
            ("unwrapping_key", json!("KEK-BACKUP")),
            ("label", json!("ZPK-ACME-01")),
            ("id", json!("02")),
            ("algorithm", json!("aes-128")),
        ];
        let unwrapped = run(&mut hsm, drill, "hsm.unwrap", &unwrap).unwrap();
        assert_eq!(unwrapped["kcv"], wrapped["kcv"]);
    });
}
