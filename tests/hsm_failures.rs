//! The failures a responder meets most: a missing module, a wrong PIN, an absent token and a
//! mechanism the module refuses, each against a real SoftHSM2 installation.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use custos::hsm::{EnvSecrets, FixedSecrets, Hsm, HsmError};
use serde_json::json;
use support::{MODULE, run, softhsm, with};

#[test]
fn a_missing_module_is_named_with_its_path_and_environment() {
    softhsm(
        "a_missing_module_is_named_with_its_path_and_environment",
        |drill| {
            let mut hsm = Hsm::new();
            let params = [("environment", json!("missing-module"))];
            let error = run(&mut hsm, drill, "hsm.find", &params).unwrap_err();
            assert!(matches!(error, HsmError::ModuleMissing { .. }));
            assert!(!error.retryable());
            assert_eq!(
                error.to_string(),
                "cannot load the PKCS#11 module `/usr/lib/nowhere/libmissing-pkcs11.so` for \
             environment `missing-module`: no such file"
            );

            let health = run(&mut hsm, drill, "hsm.health", &params).unwrap();
            assert_eq!(health["verdict"], json!("failed"));
            assert!(
                health["details"]
                    .as_str()
                    .unwrap()
                    .contains("cannot load the PKCS#11 module")
            );
        },
    );
}

#[test]
fn a_wrong_pin_is_tried_once_never_retried_and_never_shown() {
    softhsm(
        "a_wrong_pin_is_tried_once_never_retried_and_never_shown",
        |drill| {
            let mut hsm = Hsm::new();
            let wrong = "999999";
            let mut secrets = FixedSecrets::new().with_pin("drill-primary", wrong);
            let params = with(&[("environment", json!("drill-primary"))]);
            let timeout = Duration::from_secs(20);

            let error = hsm
                .run(
                    "hsm.find",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap_err();
            assert!(matches!(error, HsmError::PinRejected { .. }));
            assert!(!error.retryable());
            assert_eq!(
                error.to_string(),
                "environment `drill-primary`: the token rejected the PIN; custos does not retry, \
             because the token counts wrong tries and locks the PIN after a few"
            );
            assert!(!format!("{error:?}").contains(wrong));
            assert_eq!(
                secrets.requests,
                ["pin drill-primary"],
                "asked once, tried once"
            );

            let health = run(
                &mut hsm,
                drill,
                "hsm.health",
                &[("environment", json!("drill-primary"))],
            );
            let health = health.unwrap();
            assert!(!serde_json::to_string(&health).unwrap().contains(wrong));
            assert_eq!(
                health["canary"],
                json!("ok"),
                "the right PIN still works: {health:?}"
            );
        },
    );
}

#[test]
fn a_wrong_pin_during_a_health_check_fails_the_verdict() {
    softhsm(
        "a_wrong_pin_during_a_health_check_fails_the_verdict",
        |drill| {
            let mut hsm = Hsm::new();
            let mut secrets = FixedSecrets::new().with_pin("drill-primary", "000000");
            let params = with(&[("environment", json!("drill-primary"))]);
            let timeout = Duration::from_secs(20);
            let out = hsm
                .run(
                    "hsm.health",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap();
            assert_eq!(out["verdict"], json!("failed"));
            assert!(
                out["details"]
                    .as_str()
                    .unwrap()
                    .contains("the token rejected the PIN"),
                "{out:?}"
            );
            assert_eq!(out["canary"], json!("failed"));
        },
    );
}

#[test]
fn an_absent_token_is_reported_with_its_label_and_the_slots_searched() {
    softhsm(
        "an_absent_token_is_reported_with_its_label_and_the_slots_searched",
        |drill| {
            let mut hsm = Hsm::new();
            let params = [
                ("environment", json!("absent-token")),
                ("label", json!("ZMK")),
            ];
            let error = run(&mut hsm, drill, "hsm.kcv", &params).unwrap_err();
            assert!(matches!(error, HsmError::TokenNotFound { .. }));
            // Two drill tokens, plus the uninitialised token SoftHSM2 always offers.
            assert_eq!(
                error.to_string(),
                format!(
                    "environment `absent-token`: no token with label `custos-nobody-made-this` among \
                 the 3 slot(s) of `{MODULE}`"
                )
            );
        },
    );
}

#[test]
fn a_mechanism_the_module_refuses_is_said_plainly() {
    softhsm("a_mechanism_the_module_refuses_is_said_plainly", |drill| {
        let kek = hex::decode("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF").unwrap();
        support::import_key(drill, "drill-primary", "ZMK-TDES", "des3", &kek);
        let key = hex::decode("00112233445566778899AABBCCDDEEFF").unwrap();
        support::import_key(drill, "drill-primary", "ZPK-ACME-01", "aes", &key);
        let mut hsm = Hsm::new();

        let params = [
            ("environment", json!("drill-primary")),
            ("key", json!("ZPK-ACME-01")),
            ("wrapping_key", json!("ZMK-TDES")),
            ("mechanism", json!("des3-ecb")),
        ];
        let error = run(&mut hsm, drill, "hsm.wrap", &params).unwrap_err();
        assert!(
            matches!(error, HsmError::UnsupportedMechanism { .. }),
            "{error:?}"
        );
        assert!(!error.retryable());
        assert_eq!(
            error.to_string(),
            "environment `drill-primary`: the module refuses mechanism CKM_DES3_ECB for wrapping \
             (CKR_MECHANISM_INVALID); SoftHSM2 lists DES3 yet refuses to wrap with it: use an \
             AES key-encryption key"
        );

        let aes_under_tdes = [
            ("environment", json!("drill-primary")),
            ("key", json!("ZPK-ACME-01")),
            ("wrapping_key", json!("ZMK-TDES")),
        ];
        let error = run(&mut hsm, drill, "hsm.wrap", &aes_under_tdes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment `drill-primary`: key `ZMK-TDES` is tdes; wrapping needs an AES \
             key-encryption key"
        );
    });
}

#[test]
fn pins_come_from_the_variable_the_environment_names() {
    softhsm(
        "pins_come_from_the_variable_the_environment_names",
        |drill| {
            let mut hsm = Hsm::new();
            let mut secrets = EnvSecrets::new(&drill.environments);
            let params = with(&[("environment", json!("drill-primary"))]);
            let timeout = Duration::from_secs(20);
            let out = hsm
                .run(
                    "hsm.health",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap();
            assert_eq!(out["verdict"], json!("healthy"));

            let mut hsm = Hsm::new();
            let prod = with(&[("environment", json!("production-primary"))]);
            let error = hsm
                .run(
                    "hsm.health",
                    &prod,
                    &drill.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                "no PIN for environment `production-primary`: its PIN is asked at a terminal, and \
             none is here"
            );
        },
    );
}
