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

fn script(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(SCRIPT)
        .args(args)
        .env("CUSTOS_HOME", home)
        .env("CUSTOS_DRILL_PIN", support::PIN)
        .output()
        .unwrap()
}

fn keys_check(conf: &Path, environment: &str) -> support::cli::Run {
    support::cli::custos()
        .current_dir(support::cli::repo())
        .env("SOFTHSM2_CONF", conf)
        .env("CUSTOS_DRILL_PIN", support::PIN)
        .args(["keys", "check", environment])
        .run()
}

#[test]
fn a_reset_after_a_drill_changed_the_tokens_makes_them_check_clean_again() {
    let home = tempfile::tempdir().unwrap();
    let conf = support::cli::rehearsal_tokens(home.path());
    // What a ZMK rotation drill leaves behind: a key gone, and a new one the register lacks.
    for args in [
        &[
            "--delete-object",
            "--type",
            "secrkey",
            "--label",
            "ZPK-ACME-02",
        ][..],
        &[
            "--keygen",
            "--key-type",
            "AES:16",
            "--label",
            "ZPK-ACME-11",
            "--id",
            "11",
        ][..],
    ] {
        let output = Command::new("pkcs11-tool")
            .args([
                "--module",
                support::MODULE,
                "--token-label",
                "custos-drill-primary",
            ])
            .args(["--login", "--pin", "env:CUSTOS_DRILL_PIN"])
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .env("CUSTOS_DRILL_PIN", support::PIN)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let drifted = keys_check(&conf, "drill-primary");
    assert_eq!(drifted.code, 1, "{}", drifted.stdout);
    assert!(
        drifted
            .stdout
            .ends_with("drift: 2 findings: 1 missing, 1 unknown\n"),
        "{}",
        drifted.stdout
    );

    let reset = script(home.path(), &["--reset"]);
    let stderr = String::from_utf8_lossy(&reset.stderr);
    assert!(reset.status.success(), "{stderr}");
    let tokens = home.path().join("softhsm/tokens");
    assert!(
        stderr.starts_with(&format!(
            "rehearsal-tokens: reset: deleting the drill tokens in {} and making them afresh \
             (drill keys only)\nrehearsal-tokens: deleted token custos-drill-primary\n\
             rehearsal-tokens: deleted token custos-drill-secondary\n\
             rehearsal-tokens: deleted token custos-drill-new\n",
            tokens.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("seeded ZPK-ACME-02 on custos-drill-primary"),
        "{stderr}"
    );

    for environment in ["drill-primary", "drill-secondary", "drill-new"] {
        let clean = keys_check(&conf, environment);
        assert_eq!(clean.code, 0, "{environment}: {}", clean.stdout);
    }
}

#[test]
fn a_reset_touches_no_tokens_outside_the_drill_home_and_bad_arguments_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let softhsm = home.path().join("softhsm");
    std::fs::create_dir_all(&softhsm).unwrap();
    let elsewhere = home.path().join("bank-tokens");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        softhsm.join("softhsm2.conf"),
        format!("directories.tokendir = {}\n", elsewhere.display()),
    )
    .unwrap();

    let refused = script(home.path(), &["--reset"]);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        format!(
            "rehearsal-tokens: error: not resetting: {} keeps tokens in `{}`, not in the drill \
             home {}\n",
            softhsm.join("softhsm2.conf").display(),
            elsewhere.display(),
            softhsm.join("tokens").display()
        )
    );

    let unknown = script(home.path(), &["--rest"]);
    assert!(!unknown.status.success());
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "rehearsal-tokens: error: unknown argument `--rest`: give --reset, or nothing\n"
    );
}
