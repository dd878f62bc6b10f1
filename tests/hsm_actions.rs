//! Every `hsm.*` action against a real SoftHSM2 token, through `Hsm::run`.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use custos::hsm::{Hsm, HsmError};
use serde_json::{Value, json};
use support::{Drill, run, softhsm, with};

fn env(name: &str) -> (&'static str, Value) {
    ("environment", json!(name))
}

fn generate(hsm: &mut Hsm, drill: &Drill, environment: &str, label: &str, algorithm: &str) {
    let params = [
        env(environment),
        ("label", json!(label)),
        ("id", json!("01")),
        ("algorithm", json!(algorithm)),
        ("extractable", json!(true)),
    ];
    run(hsm, drill, "hsm.generate", &params).unwrap();
}

#[test]
fn a_health_check_of_a_drill_token_is_healthy_with_a_working_canary() {
    softhsm(
        "a_health_check_of_a_drill_token_is_healthy_with_a_working_canary",
        |drill| {
            let mut hsm = Hsm::new();
            let out = run(&mut hsm, drill, "hsm.health", &[env("drill-primary")]).unwrap();

            assert_eq!(out["verdict"], json!("healthy"), "{out:?}");
            assert_eq!(out["token_label"], json!("custos-drill-primary"));
            assert_eq!(out["canary"], json!("ok"));
            assert_eq!(out["pin_locked"], json!(false));
            assert_eq!(out["pin_count_low"], json!(false));
            assert!(
                out["slots"].as_u64().unwrap() >= 3,
                "two tokens and SoftHSM's empty slot"
            );
            for name in custos::catalog::action("hsm.health").unwrap().outputs {
                assert!(
                    out.contains_key(name.name),
                    "missing output `{}`",
                    name.name
                );
            }
        },
    );
}

#[test]
fn a_generated_key_is_sensitive_not_extractable_and_found_with_its_kcv() {
    softhsm(
        "a_generated_key_is_sensitive_not_extractable_and_found_with_its_kcv",
        |drill| {
            let mut hsm = Hsm::new();
            for (label, algorithm) in [("ZPK-ACME-01", "aes-128"), ("PVK-01", "tdes")] {
                let params = [
                    env("drill-primary"),
                    ("label", json!(label)),
                    ("id", json!("0A01")),
                    ("algorithm", json!(algorithm)),
                ];
                let out = run(&mut hsm, drill, "hsm.generate", &params).unwrap();
                assert_eq!(out["label"], json!(label));
                assert_eq!(out["method"], json!("ecb"));
                assert_eq!(out["kcv"].as_str().unwrap().len(), 6);

                let find = [env("drill-primary"), ("label", json!(label))];
                let found = run(&mut hsm, drill, "hsm.find", &find).unwrap();
                assert_eq!(found["count"], json!(1));
                let object = &found["objects"][0];
                assert_eq!(object["id"], json!("0A01"));
                assert_eq!(object["class"], json!("secret-key"));
                assert_eq!(object["attributes"]["sensitive"], json!(true));
                assert_eq!(object["attributes"]["extractable"], json!(false));
                assert_eq!(object["attributes"]["encrypt"], json!(true));
                assert_eq!(object["kcv"]["value"], out["kcv"]);
                assert_eq!(object["kcv"]["method"], json!("ecb"));
            }

            let found = run(&mut hsm, drill, "hsm.find", &[env("drill-primary")]).unwrap();
            assert_eq!(found["labels"], json!("PVK-01,ZPK-ACME-01"));
            let by_id = [
                env("drill-primary"),
                ("id", json!("0a01")),
                ("class", json!("secret-key")),
            ];
            let found_by_id = run(&mut hsm, drill, "hsm.find", &by_id).unwrap();
            assert_eq!(found_by_id["count"], json!(2));
            let certificates = [env("drill-primary"), ("class", json!("certificate"))];
            let none = run(&mut hsm, drill, "hsm.find", &certificates).unwrap();
            assert_eq!(none["count"], json!(0));
            assert_eq!(none["labels"], json!(""));
            assert_eq!(found["objects"][0]["key_type"], json!("tdes"));
            assert_eq!(found["objects"][0]["bits"], json!(192));
        },
    );
}

#[test]
fn a_second_key_with_a_label_in_use_is_refused() {
    softhsm("a_second_key_with_a_label_in_use_is_refused", |drill| {
        let mut hsm = Hsm::new();
        generate(&mut hsm, drill, "drill-primary", "MAC-01", "aes-128");
        let params = [
            env("drill-primary"),
            ("label", json!("MAC-01")),
            ("id", json!("02")),
            ("algorithm", json!("aes-128")),
        ];
        let error = run(&mut hsm, drill, "hsm.generate", &params).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment `drill-primary`: an object labelled `MAC-01` already exists; custos does \
             not create a second one"
        );
    });
}

#[test]
fn a_key_wrapped_on_one_token_unwraps_on_another_with_the_same_kcv() {
    softhsm(
        "a_key_wrapped_on_one_token_unwraps_on_another_with_the_same_kcv",
        |drill| {
            let kek =
                hex::decode("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
            let kek = kek.unwrap();
            support::import_key(drill, "drill-primary", "KEK-BACKUP", "aes", &kek);
            support::import_key(drill, "drill-secondary", "KEK-BACKUP", "aes", &kek);
            let mut hsm = Hsm::new();
            generate(&mut hsm, drill, "drill-primary", "ZPK-ACME-02", "aes-128");

            for mechanism in ["aes-key-wrap", "aes-key-wrap-pad"] {
                let wrap = [
                    env("drill-primary"),
                    ("key", json!("ZPK-ACME-02")),
                    ("wrapping_key", json!("KEK-BACKUP")),
                    ("mechanism", json!(mechanism)),
                ];
                let wrapped = run(&mut hsm, drill, "hsm.wrap", &wrap).unwrap();
                let label = format!("ZPK-ACME-02-{mechanism}");
                let unwrap = [
                    env("drill-secondary"),
                    ("wrapped", wrapped["wrapped"].clone()),
                    ("unwrapping_key", json!("KEK-BACKUP")),
                    ("label", json!(label)),
                    ("id", json!("02")),
                    ("algorithm", json!("aes-128")),
                    ("mechanism", json!(mechanism)),
                ];
                let unwrapped = run(&mut hsm, drill, "hsm.unwrap", &unwrap).unwrap();
                assert_eq!(unwrapped["kcv"], wrapped["kcv"], "{mechanism}");
                assert_eq!(unwrapped["label"], json!(label));
            }
        },
    );
}

#[test]
fn a_destroyed_key_is_proven_absent_by_a_second_search() {
    softhsm(
        "a_destroyed_key_is_proven_absent_by_a_second_search",
        |drill| {
            let mut hsm = Hsm::new();
            generate(&mut hsm, drill, "drill-primary", "ZMK-OLD", "aes-256");
            let params = [env("drill-primary"), ("label", json!("ZMK-OLD"))];

            let out = run(&mut hsm, drill, "hsm.destroy", &params).unwrap();
            assert_eq!(out["destroyed"], json!(1));
            assert_eq!(out["verified_absent"], json!(true));
            let found = run(&mut hsm, drill, "hsm.find", &params).unwrap();
            assert_eq!(found["count"], json!(0));

            let again = run(&mut hsm, drill, "hsm.destroy", &params).unwrap();
            assert_eq!(again["destroyed"], json!(0), "destroying twice is harmless");
        },
    );
}

#[test]
fn comparing_two_tokens_names_what_is_missing_extra_and_different() {
    softhsm(
        "comparing_two_tokens_names_what_is_missing_extra_and_different",
        |drill| {
            let same = hex::decode("00112233445566778899AABBCCDDEEFF").unwrap();
            let other = hex::decode("FFEEDDCCBBAA99887766554433221100").unwrap();
            for environment in ["drill-primary", "drill-secondary"] {
                support::import_key(drill, environment, "ZPK-ACME-01", "aes", &same);
            }
            support::import_key(drill, "drill-primary", "MAC-01", "aes", &same);
            support::import_key(drill, "drill-secondary", "MAC-01", "aes", &other);
            support::import_key(drill, "drill-primary", "PVK-01", "aes", &same);
            support::import_key(drill, "drill-secondary", "KEK-NEW", "aes", &same);

            let mut hsm = Hsm::new();
            let params = [
                ("left", json!("drill-primary")),
                ("right", json!("drill-secondary")),
            ];
            let out = run(&mut hsm, drill, "hsm.compare", &params).unwrap();
            assert_eq!(out["in_sync"], json!(false));
            assert_eq!(out["missing"], json!(["PVK-01"]));
            assert_eq!(out["extra"], json!(["KEK-NEW"]));
            assert_eq!(out["different"], json!(["MAC-01"]));

            let mut fresh = Hsm::new();
            let mut secrets = support::secrets();
            let params = with(&[
                ("left", json!("drill-primary")),
                ("right", json!("drill-primary")),
            ]);
            let timeout = Duration::from_secs(20);
            let out = fresh
                .run(
                    "hsm.compare",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap();
            assert_eq!(
                secrets.requests,
                ["pin drill-primary"],
                "one PIN for one token"
            );
            assert_eq!(out["in_sync"], json!(true));
            assert_eq!(
                out["summary"],
                json!(
                    "`drill-primary` and `drill-primary` hold the same 3 secret keys with the same KCVs"
                )
            );
        },
    );
}

#[test]
fn a_drill_runs_against_the_stand_in_of_a_production_environment() {
    softhsm(
        "a_drill_runs_against_the_stand_in_of_a_production_environment",
        |drill| {
            let mut hsm = Hsm::new();
            let mut secrets = support::secrets();
            let params = with(&[env("production-primary")]);
            let timeout = Duration::from_secs(20);

            let out = hsm
                .run(
                    "hsm.health",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    true,
                    timeout,
                )
                .unwrap();
            assert_eq!(out["token_label"], json!("custos-drill-primary"));
            assert_eq!(secrets.requests, ["pin drill-primary"]);

            let orphan = with(&[env("production-orphan")]);
            let error = hsm
                .run(
                    "hsm.health",
                    &orphan,
                    &drill.environments,
                    &mut secrets,
                    true,
                    timeout,
                )
                .unwrap_err();
            assert!(error.to_string().starts_with(
                "environment `production-orphan` is production and names no `rehearsal` stand-in"
            ));
        },
    );
}

#[test]
fn loading_components_is_refused_outside_a_drill_before_any_component_is_asked() {
    softhsm(
        "loading_components_is_refused_outside_a_drill_before_any_component_is_asked",
        |d| {
            let mut hsm = Hsm::new();
            let mut secrets =
                support::secrets().with_components("ZMK", vec![vec![1; 16], vec![2; 16]]);
            let params = with(&[
                env("drill-primary"),
                ("label", json!("ZMK")),
                ("id", json!("01")),
                ("algorithm", json!("aes-128")),
                ("components", json!(2)),
            ]);
            let timeout = Duration::from_secs(20);
            let error = hsm
                .run(
                    "hsm.load_components",
                    &params,
                    &d.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap_err();
            assert!(matches!(error, HsmError::RehearsalOnly { .. }));
            assert!(secrets.requests.is_empty(), "{:?}", secrets.requests);

            let out = hsm
                .run(
                    "hsm.load_components",
                    &params,
                    &d.environments,
                    &mut secrets,
                    true,
                    timeout,
                )
                .unwrap();
            assert_eq!(out["component_kcvs"].as_array().unwrap().len(), 2);
            assert_eq!(
                secrets.requests,
                [
                    "component ZMK 1/2",
                    "component ZMK 2/2",
                    "pin drill-primary"
                ]
            );
        },
    );
}

#[test]
fn a_component_of_the_wrong_length_is_refused_without_showing_it() {
    softhsm(
        "a_component_of_the_wrong_length_is_refused_without_showing_it",
        |drill| {
            let mut hsm = Hsm::new();
            let secret = vec![0xA5; 15];
            let mut secrets = support::secrets().with_components("ZMK", vec![vec![1; 16], secret]);
            let params = with(&[
                env("drill-primary"),
                ("label", json!("ZMK")),
                ("id", json!("01")),
                ("algorithm", json!("aes-128")),
                ("components", json!(2)),
            ]);
            let timeout = Duration::from_secs(20);
            let error = hsm
                .run(
                    "hsm.load_components",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    true,
                    timeout,
                )
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                "component 2 of 2 for `ZMK` is 15 bytes long; aes-128 needs 16"
            );
        },
    );
}

#[test]
fn the_pin_is_asked_once_and_the_session_is_kept_between_actions() {
    softhsm(
        "the_pin_is_asked_once_and_the_session_is_kept_between_actions",
        |drill| {
            let mut hsm = Hsm::new();
            let mut secrets = support::secrets();
            let params = with(&[env("drill-primary")]);
            let timeout = Duration::from_secs(20);
            for _ in 0..3 {
                hsm.run(
                    "hsm.find",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    false,
                    timeout,
                )
                .unwrap();
            }
            assert_eq!(secrets.requests, ["pin drill-primary"]);
        },
    );
}

#[test]
fn an_action_past_its_time_limit_is_reported_and_the_next_one_starts_afresh() {
    softhsm(
        "an_action_past_its_time_limit_is_reported_and_the_next_one_starts_afresh",
        |d| {
            let mut hsm = Hsm::new();
            let mut secrets = support::secrets();
            let params = with(&[env("drill-primary")]);
            let error = hsm
                .run(
                    "hsm.health",
                    &params,
                    &d.environments,
                    &mut secrets,
                    false,
                    Duration::ZERO,
                )
                .unwrap_err();
            assert!(matches!(error, HsmError::Timeout { .. }));
            assert!(error.retryable());
            assert!(error.to_string().contains("cannot be cancelled"), "{error}");

            let out = run(&mut hsm, d, "hsm.health", &[env("drill-primary")]).unwrap();
            assert_eq!(out["verdict"], json!("healthy"));
        },
    );
}

#[test]
fn an_unknown_parameter_or_action_is_refused_before_the_hsm_is_touched() {
    softhsm(
        "an_unknown_parameter_or_action_is_refused_before_the_hsm_is_touched",
        |drill| {
            let mut hsm = Hsm::new();
            let params = [env("drill-primary"), ("slot", json!(0))];
            let error = run(&mut hsm, drill, "hsm.find", &params).unwrap_err();
            assert_eq!(
                error.to_string(),
                "`hsm.find`: parameter `slot` is not a parameter of it (it takes environment, label, \
             id, class)"
            );
            let error = run(&mut hsm, drill, "hsm.format", &[env("drill-primary")]).unwrap_err();
            assert_eq!(
                error.to_string(),
                "`hsm.format` is not an HSM action custos knows"
            );
        },
    );
}

#[test]
fn every_action_returns_exactly_the_outputs_the_catalog_names() {
    softhsm(
        "every_action_returns_exactly_the_outputs_the_catalog_names",
        |drill| {
            let kek = [7u8; 32];
            support::import_key(drill, "drill-primary", "KEK-BACKUP", "aes", &kek);
            let mut hsm = Hsm::new();
            let mut secrets =
                support::secrets().with_components("ZMK-2", vec![vec![1; 16], vec![2; 16]]);
            let timeout = Duration::from_secs(20);
            let mut call = |action: &str, params: &[(&str, Value)]| {
                let params = with(params);
                let out = hsm.run(
                    action,
                    &params,
                    &drill.environments,
                    &mut secrets,
                    true,
                    timeout,
                );
                let out = out.unwrap();
                let spec = custos::catalog::action(action).unwrap();
                let mut named: Vec<&str> = spec.outputs.iter().map(|output| output.name).collect();
                let mut given: Vec<&str> = out.keys().map(String::as_str).collect();
                named.sort_unstable();
                given.sort_unstable();
                assert_eq!(given, named, "{action}");
                out
            };

            let primary = env("drill-primary");
            call("hsm.health", &[env("drill-primary")]);
            let new_key = [
                ("label", json!("ZPK-9")),
                ("id", json!("09")),
                ("algorithm", json!("aes-128")),
            ];
            let generate: Vec<_> = [primary.clone(), ("extractable", json!(true))]
                .into_iter()
                .chain(new_key.clone())
                .collect();
            call("hsm.generate", &generate);
            call("hsm.kcv", &[primary.clone(), ("label", json!("ZPK-9"))]);
            call("hsm.find", &[env("drill-primary")]);
            let wrapped = call(
                "hsm.wrap",
                &[
                    primary.clone(),
                    ("key", json!("ZPK-9")),
                    ("wrapping_key", json!("KEK-BACKUP")),
                ],
            );
            call(
                "hsm.unwrap",
                &[
                    primary.clone(),
                    ("wrapped", wrapped["wrapped"].clone()),
                    ("unwrapping_key", json!("KEK-BACKUP")),
                    ("label", json!("ZPK-9-COPY")),
                    ("id", json!("0A")),
                    ("algorithm", json!("aes-128")),
                ],
            );
            call(
                "hsm.destroy",
                &[primary.clone(), ("label", json!("ZPK-9-COPY"))],
            );
            call(
                "hsm.compare",
                &[
                    ("left", json!("drill-primary")),
                    ("right", json!("drill-secondary")),
                ],
            );
            let load: Vec<_> = [
                primary,
                ("label", json!("ZMK-2")),
                ("id", json!("0B")),
                ("algorithm", json!("aes-128")),
                ("components", json!("2")),
            ]
            .into_iter()
            .collect();
            call("hsm.load_components", &load);
        },
    );
}

/// Creates a secret key from `template` (class, token and label added) on `environment`'s
/// token, logged in with the test PIN, as a vendor tool or another application would.
fn create_secret(drill: &Drill, environment: &str, label: &str, mut template: Vec<Attribute>) {
    let env = drill.environments.get(environment).unwrap();
    let found = custos::hsm::token::find(env).unwrap();
    let session = found.context.open_rw_session(found.slot).unwrap();
    let pin = cryptoki::types::AuthPin::from(support::PIN);
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(error) => panic!("login to create `{label}`: {error}"),
    }
    template.extend([
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ]);
    session.create_object(&template).unwrap();
}

/// An HMAC key (generic secret, allowed to "encrypt") and an AES key whose allowed mechanisms
/// refuse ECB and which carries no CKA_CHECK_VALUE: neither can give an X9.24 check value.
fn plant_keys_without_a_kcv(drill: &Drill, environment: &str) {
    create_secret(
        drill,
        environment,
        "HMAC-TEST",
        vec![
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Value(vec![0x42; 32]),
            Attribute::Sign(true),
            Attribute::Encrypt(true),
        ],
    );
    create_secret(
        drill,
        environment,
        "CBC-ONLY",
        vec![
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(vec![0x24; 16]),
            Attribute::Encrypt(true),
            Attribute::AllowedMechanisms(vec![MechanismType::AES_CBC]),
            Attribute::CheckValue(Vec::new()),
        ],
    );
}

#[test]
fn keys_without_a_kcv_are_listed_with_the_reason_and_never_compare_as_in_sync() {
    softhsm(
        "keys_without_a_kcv_are_listed_with_the_reason_and_never_compare_as_in_sync",
        |drill| {
            let mut hsm = Hsm::new();
            for environment in ["drill-primary", "drill-secondary"] {
                generate(&mut hsm, drill, environment, "ZPK-1", "aes-128");
                plant_keys_without_a_kcv(drill, environment);
            }

            let found = run(&mut hsm, drill, "hsm.find", &[env("drill-primary")]).unwrap();
            assert_eq!(
                found["labels"],
                json!("CBC-ONLY,HMAC-TEST,ZPK-1"),
                "{found:?}"
            );
            let objects = found["objects"].as_array().unwrap();
            assert_eq!(objects[0]["kcv"], Value::Null);
            assert_eq!(
                objects[0]["kcv_unavailable"],
                json!(
                    "the KCV encryption failed with CKR_MECHANISM_INVALID: the module does not \
                     offer this mechanism here"
                )
            );
            assert_eq!(objects[1]["key_type"], json!("generic-secret"));
            assert_eq!(
                objects[1]["kcv"],
                Value::Null,
                "no CKA_CHECK_VALUE shown as ecb"
            );
            assert_eq!(
                objects[1]["kcv_unavailable"],
                json!(
                    "a generic-secret key has no ANSI X9.24 check value; only TDES and AES keys \
                     have one"
                )
            );
            assert_eq!(objects[2]["kcv"]["method"], json!("ecb"));
            assert_eq!(objects[2]["kcv_unavailable"], Value::Null);

            let params = [
                ("left", json!("drill-primary")),
                ("right", json!("drill-secondary")),
            ];
            let out = run(&mut hsm, drill, "hsm.compare", &params).unwrap();
            assert_eq!(out["in_sync"], json!(false), "{out:?}");
            assert_eq!(out["unverified"], json!(["CBC-ONLY", "HMAC-TEST"]));
            assert_eq!(
                out["different"],
                json!(["ZPK-1"]),
                "two generated keys differ"
            );
            assert_eq!(out["missing"], json!([]));
        },
    );
}
