//! Key check values against published vectors, computed inside a real SoftHSM2 token.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

mod support;

use custos::hsm::{Hsm, HsmError};
use serde_json::json;
use support::{Drill, import_key, run, softhsm};

const TDES: &str = "0123456789ABCDEFFEDCBA9876543210";
const AES: &str = "2B7E151628AED2A6ABF7158809CF4F3C";

fn kcv(hsm: &mut Hsm, drill: &Drill, label: &str, method: &str, length: Option<u64>) -> String {
    let mut params = vec![
        ("environment", json!("drill-primary")),
        ("label", json!(label)),
        ("method", json!(method)),
    ];
    if let Some(length) = length {
        params.push(("length", json!(length)));
    }
    let out = run(hsm, drill, "hsm.kcv", &params).unwrap();
    assert_eq!(out["method"], json!(method));
    assert_eq!(
        out["length"].as_u64().unwrap() * 2,
        out["kcv"].as_str().unwrap().len() as u64
    );
    out["kcv"].as_str().unwrap().to_owned()
}

fn import_vectors(drill: &Drill) {
    let tdes = hex::decode(TDES).unwrap();
    let triple = [&tdes[..], &tdes[..8]].concat();
    import_key(drill, "drill-primary", "TDES-DOUBLE", "des2", &tdes);
    import_key(drill, "drill-primary", "TDES-TRIPLE", "des3", &triple);
    import_key(
        drill,
        "drill-primary",
        "AES-VECTOR",
        "aes",
        &hex::decode(AES).unwrap(),
    );
}

#[test]
fn tdes_and_aes_kcvs_match_the_published_vectors_by_both_methods() {
    softhsm(
        "tdes_and_aes_kcvs_match_the_published_vectors_by_both_methods",
        |drill| {
            import_vectors(drill);
            let mut hsm = Hsm::new();

            for label in ["TDES-DOUBLE", "TDES-TRIPLE"] {
                assert_eq!(kcv(&mut hsm, drill, label, "ecb", None), "08D7B4");
                assert_eq!(kcv(&mut hsm, drill, label, "cmac", None), "0A82458664");
            }
            assert_eq!(kcv(&mut hsm, drill, "AES-VECTOR", "ecb", None), "7DF76B");
            assert_eq!(
                kcv(&mut hsm, drill, "AES-VECTOR", "cmac", None),
                "7AD386C376"
            );
        },
    );
}

#[test]
fn a_shorter_kcv_keeps_the_leading_bytes_and_a_longer_one_is_refused() {
    softhsm(
        "a_shorter_kcv_keeps_the_leading_bytes_and_a_longer_one_is_refused",
        |drill| {
            import_vectors(drill);
            let mut hsm = Hsm::new();

            assert_eq!(kcv(&mut hsm, drill, "TDES-DOUBLE", "ecb", Some(2)), "08D7");
            assert_eq!(
                kcv(&mut hsm, drill, "AES-VECTOR", "cmac", Some(3)),
                "7AD386"
            );

            let params = [
                ("environment", json!("drill-primary")),
                ("label", json!("AES-VECTOR")),
                ("method", json!("ecb")),
                ("length", json!(4)),
            ];
            let error = run(&mut hsm, drill, "hsm.kcv", &params).unwrap_err();
            assert_eq!(
                error.to_string(),
                "`hsm.kcv`: parameter `length` is 4; the ecb method keeps 1 to 3 bytes (ANSI X9.24-1)"
            );
        },
    );
}

#[test]
fn the_kcv_of_an_unknown_label_names_the_label_and_environment() {
    softhsm(
        "the_kcv_of_an_unknown_label_names_the_label_and_environment",
        |drill| {
            let mut hsm = Hsm::new();
            let params = [
                ("environment", json!("drill-primary")),
                ("label", json!("ZMK-NONE")),
            ];
            let error = run(&mut hsm, drill, "hsm.kcv", &params).unwrap_err();
            assert!(matches!(error, HsmError::ObjectNotFound { .. }));
            assert_eq!(
                error.to_string(),
                "environment `drill-primary`: no secret key labelled `ZMK-NONE` on the token"
            );
        },
    );
}

#[test]
fn components_of_the_tdes_vector_combine_to_its_kcv_in_a_drill() {
    softhsm(
        "components_of_the_tdes_vector_combine_to_its_kcv_in_a_drill",
        |drill| {
            let key = hex::decode(TDES).unwrap();
            let first = hex::decode("1111111111111111F0F0F0F0F0F0F0F0").unwrap();
            let second: Vec<u8> = key.iter().zip(&first).map(|(k, c)| k ^ c).collect();
            let mut secrets =
                support::secrets().with_components("ZMK-VECTOR", vec![first, second.clone()]);

            let params = support::with(&[
                ("environment", json!("drill-primary")),
                ("label", json!("ZMK-VECTOR")),
                ("id", json!("5A4D4B")),
                ("algorithm", json!("tdes")),
                ("components", json!(2)),
            ]);
            let timeout = std::time::Duration::from_secs(20);
            let mut hsm = Hsm::new();
            let out = hsm
                .run(
                    "hsm.load_components",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    true,
                    timeout,
                )
                .unwrap();

            assert_eq!(out["kcv"], json!("08D7B4"));
            assert_eq!(out["method"], json!("ecb"));
            assert_eq!(out["component_kcvs"].as_array().unwrap().len(), 2);
            assert_eq!(
                kcv(&mut hsm, drill, "ZMK-VECTOR", "cmac", None),
                "0A82458664"
            );

            // The components were loaded as session objects and are gone; only the key remains.
            let find = [("environment", json!("drill-primary"))];
            let out = run(&mut hsm, drill, "hsm.find", &find).unwrap();
            assert_eq!(out["labels"], json!("ZMK-VECTOR"));
            assert!(
                !serde_json::to_string(&out)
                    .unwrap()
                    .contains(&hex::encode_upper(&second))
            );
        },
    );
}

#[test]
fn aes_components_report_cmac_kcvs_when_the_runbook_asks() {
    softhsm(
        "aes_components_report_cmac_kcvs_when_the_runbook_asks",
        |drill| {
            let key = hex::decode(AES).unwrap();
            let first = vec![0x5A; 16];
            let second: Vec<u8> = key.iter().zip(&first).map(|(k, c)| k ^ c).collect();
            let mut secrets = support::secrets().with_components("ZMK-AES", vec![first, second]);
            let params = support::with(&[
                ("environment", json!("drill-primary")),
                ("label", json!("ZMK-AES")),
                ("id", json!("01")),
                ("algorithm", json!("aes-128")),
                ("components", json!(2)),
                ("kcv_method", json!("cmac")),
            ]);
            let timeout = std::time::Duration::from_secs(20);
            let mut hsm = Hsm::new();
            let out = hsm
                .run(
                    "hsm.load_components",
                    &params,
                    &drill.environments,
                    &mut secrets,
                    true,
                    timeout,
                )
                .unwrap();
            assert_eq!(out["kcv"], json!("7AD386C376"));
            assert_eq!(out["method"], json!("cmac"));
            assert_eq!(out["length"], json!(5));
            for kcv in out["component_kcvs"].as_array().unwrap() {
                assert_eq!(
                    kcv.as_str().unwrap().len(),
                    10,
                    "component KCVs use the same method"
                );
            }

            let generate = [
                ("environment", json!("drill-primary")),
                ("label", json!("ZPK-CMAC")),
                ("id", json!("02")),
                ("algorithm", json!("aes-256")),
                ("kcv_method", json!("cmac")),
            ];
            let out = run(&mut hsm, drill, "hsm.generate", &generate).unwrap();
            assert_eq!(out["method"], json!("cmac"));
            assert_eq!(
                out["kcv"].as_str().unwrap(),
                kcv(&mut hsm, drill, "ZPK-CMAC", "cmac", None)
            );
        },
    );
}
