//! A module is initialised once per process however many `Hsm`s use it, and finalised only
//! when asked; and the HSM tests fail, rather than skip, where SoftHSM2 is not installed.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

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
