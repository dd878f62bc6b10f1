//! A module is initialised once per process however many `Hsm`s use it, and finalised only
//! when asked; and the HSM tests fail, rather than skip, where SoftHSM2 is not installed.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod hsm_spy;
mod support;

use std::path::Path;
use std::time::Duration;

use cryptoki::error::{Error as CkError, RvError};
use custos::hsm::{Hsm, module};
use serde_json::json;
use support::{MODULE, run, softhsm};

#[test]
fn two_hsms_share_one_initialised_module_and_close_finalises_it() {
    softhsm(
        "two_hsms_share_one_initialised_module_and_close_finalises_it",
        |drill| {
            let params = [("environment", json!("drill-primary"))];
            let mut first = Hsm::new();
            let mut second = Hsm::new();
            run(&mut first, drill, "hsm.health", &params).unwrap();
            let out = run(&mut second, drill, "hsm.health", &params).unwrap();
            assert_eq!(
                out["verdict"],
                json!("healthy"),
                "a second C_Initialize would have failed"
            );

            let context = module::module("drill-primary", Path::new(MODULE)).unwrap();
            drop(second);
            first.close(Duration::from_secs(5)).unwrap();
            let error = context.get_all_slots().unwrap_err();
            assert!(
                matches!(error, CkError::Pkcs11(RvError::CryptokiNotInitialized, _)),
                "close must call C_Finalize: {error}"
            );

            let mut again = Hsm::new();
            let out = run(&mut again, drill, "hsm.health", &params).unwrap();
            assert_eq!(
                out["verdict"],
                json!("healthy"),
                "a later action initialises afresh"
            );
            again.close(Duration::from_secs(5)).unwrap();
        },
    );
}

#[test]
fn without_softhsm2_util_the_hsm_tests_fail_and_say_how_to_install_it() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "two_hsms_share_one_initialised_module_and_close_finalises_it",
            "--exact",
        ])
        .env("PATH", "/nonexistent")
        .env_remove("CUSTOS_TEST_CHILD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "the suite must fail, not skip: {stdout}"
    );
    assert!(
        stdout.contains("softhsm2-util is needed for the HSM tests")
            && stdout.contains("apt-get install -y softhsm2 opensc"),
        "{stdout}"
    );
}

// Every way out of a command finalises the module once: counted by OpenSC's pkcs11-spy.

/// A project directory with the drill tokens, the shipped key register and the shipped
/// environments reached through the spy; returns the `SOFTHSM2_CONF` path.
fn spied_project(dir: &Path) -> std::path::PathBuf {
    let conf = support::cli::rehearsal_tokens(dir);
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("environments.yaml"),
        hsm_spy::shipped_environments(),
    )
    .unwrap();
    let register = support::cli::repo().join("policies/keys.yaml");
    std::fs::copy(register, policies.join("keys.yaml")).unwrap();
    conf
}

fn spied(dir: &Path, conf: &Path, pin: &str, args: &[&str]) -> support::cli::Run {
    std::fs::remove_file(dir.join("spy.log")).ok();
    support::cli::custos()
        .current_dir(dir)
        .env("SOFTHSM2_CONF", conf)
        .env("CUSTOS_DRILL_PIN", pin)
        .env("PKCS11SPY", MODULE)
        .env("PKCS11SPY_OUTPUT", dir.join("spy.log"))
        .args(args)
        .run()
}

fn assert_finalised_once(dir: &Path) {
    let log = dir.join("spy.log");
    assert_eq!(hsm_spy::calls(&log, "C_Initialize"), 1);
    assert_eq!(
        hsm_spy::calls(&log, "C_Finalize"),
        1,
        "C_Finalize once, at exit"
    );
}

#[test]
fn hsm_check_finalises_the_module_once_whether_the_token_is_healthy_or_not() {
    let home = tempfile::tempdir().unwrap();
    let conf = spied_project(home.path());

    let healthy = spied(
        home.path(),
        &conf,
        "123456",
        &["hsm", "check", "drill-primary"],
    );
    assert_eq!(healthy.code, 0, "{}{}", healthy.stdout, healthy.stderr);
    assert_finalised_once(home.path());

    let refused = spied(
        home.path(),
        &conf,
        "999999",
        &["hsm", "check", "drill-primary"],
    );
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert_finalised_once(home.path());
}

#[test]
fn keys_check_finalises_the_module_even_when_the_token_cannot_be_read() {
    let home = tempfile::tempdir().unwrap();
    let conf = spied_project(home.path());

    let clean = spied(
        home.path(),
        &conf,
        "123456",
        &["keys", "check", "drill-primary"],
    );
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert_finalised_once(home.path());

    let refused = spied(
        home.path(),
        &conf,
        "999999",
        &["keys", "check", "drill-primary"],
    );
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert_eq!(
        refused.stderr,
        "custos: error: environment `drill-primary`: the token rejected the PIN; custos does not \
         retry, because the token counts wrong tries and locks the PIN after a few\n"
    );
    assert_finalised_once(home.path());
}

#[test]
fn the_actions_of_a_walk_finalise_the_module_when_dropped_without_closing() {
    softhsm(
        "the_actions_of_a_walk_finalise_the_module_when_dropped_without_closing",
        |drill| {
            use custos::engine::Actions;
            use custos::engine::hsm_actions::HsmActions;

            let mut actions = HsmActions::new(
                Some(drill.environments.clone()),
                Box::new(support::secrets()),
                drill.dir.clone(),
            );
            let params = support::with(&[("environment", json!("drill-primary"))]);
            let out = actions
                .run("hsm.health", &params, false, Duration::from_secs(20))
                .unwrap();
            assert_eq!(out["verdict"], json!("healthy"));

            let context = module::module("drill-primary", Path::new(MODULE)).unwrap();
            // As when a walk returns an error before `close`: only the drop runs.
            drop(actions);
            let error = context.get_all_slots().unwrap_err();
            assert!(
                matches!(error, CkError::Pkcs11(RvError::CryptokiNotInitialized, _)),
                "the drop must call C_Finalize: {error}"
            );
        },
    );
}

#[test]
fn expiry_check_finalises_the_module_it_loaded_for_a_token_certificate() {
    let home = tempfile::tempdir().unwrap();
    let conf = spied_project(home.path());
    let policies = home.path().join("policies");
    let shipped = support::cli::repo().join("policies");
    for file in ["notify.yaml", "escalation.yaml"] {
        std::fs::copy(shipped.join(file), policies.join(file)).unwrap();
    }
    std::fs::create_dir_all(policies.join("templates")).unwrap();
    for entry in std::fs::read_dir(shipped.join("templates")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            policies.join("templates").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::write(
        policies.join("inventory.yaml"),
        "\
bands:
  - { days: 30, severity: high, notify: on-call, template: expiry-warning }
expired: { severity: critical, notify: on-call, template: expiry-expired }
certificates:
  signer:
    token: { environment: drill-primary, label: no-such-certificate }
",
    )
    .unwrap();

    let run = spied(
        home.path(),
        &conf,
        "123456",
        &["expiry", "check", "--now", "2030-01-01"],
    );

    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("no-such-certificate"), "{}", run.stdout);
    assert_finalised_once(home.path());
}
