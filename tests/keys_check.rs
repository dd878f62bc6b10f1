//! `custos keys check` against real SoftHSM2 drill tokens made by `scripts/rehearsal-tokens`:
//! the shipped register matches a fresh token, and each kind of drift is found and reported.

#![allow(clippy::unwrap_used)]

mod keys_common;
mod support;

use keys_common::Project;
use support::cli::Run;

const HEADER: &str = "\
custos keys check drill-primary
  register      policies/keys.yaml: 6 keys in drill-primary, production-primary
";

const ZMK: &str = "  ok            ZMK-ACME-2026    ZMK aes-256, KCV 6D40DEB1DF cmac\n";
const ZPK_1: &str = "  ok            ZPK-ACME-01      ZPK aes-128, KCV 32301E ecb\n";
const ZPK_2: &str = "  ok            ZPK-ACME-02      ZPK aes-128, KCV B5AB65 ecb\n";
const KEK: &str = "  ok            KEK-BACKUP       KEK aes-256, KCV 96B0C1 ecb\n";
const PVK: &str = "  ok            PVK-01           PVK tdes, KCV 47CA7F ecb\n";
const MAC: &str = "  ok            MAC-01           MAC aes-128, KCV D93F24 ecb\n";

/// Where a wrapped detail continues: under the detail column.
const CONT: &str = "                                 ";

fn token_line(count: usize) -> String {
    format!("  token         drill-primary (label `custos-drill-primary`): {count} secret keys\n\n")
}

fn assert_run(run: &Run, code: i32, stdout: &str) {
    assert_eq!(run.stdout, stdout, "stderr: {}", run.stderr);
    assert_eq!(run.code, code, "stderr: {}", run.stderr);
}

#[test]
fn the_shipped_register_matches_a_fresh_drill_token() {
    let project = Project::with_tokens();
    let run = project.custos(&["keys", "check", "drill-primary"]);
    let expected = format!(
        "{HEADER}{}{ZMK}{ZPK_1}{ZPK_2}{KEK}{PVK}{MAC}\n\
         clean: the token matches the register (6 keys)\n",
        token_line(6)
    );
    assert_run(&run, 0, &expected);
    assert_eq!(run.stderr, "");
}

#[test]
fn a_production_environment_checked_in_rehearsal_reads_its_stand_in() {
    let project = Project::with_tokens();
    let run = project.custos(&["keys", "check", "production-new", "--rehearsal"]);
    assert_run(
        &run,
        0,
        "custos keys check production-new\n  \
         register      policies/keys.yaml: 1 key in drill-new, production-new\n  \
         token         drill-new (label `custos-drill-new`): 1 secret key\n\n\
         {KEK}\n\
         clean: the token matches the register (1 key)\n"
            .replace("{KEK}", KEK)
            .as_str(),
    );

    let secondary = project.custos(&["keys", "check", "drill-secondary", "--json"]);
    assert_eq!(secondary.code, 0, "{}", secondary.stdout);
    let report: serde_json::Value = serde_json::from_str(&secondary.stdout).unwrap();
    assert_eq!(report["clean"], true);
    assert_eq!(report["token_keys"], 6);
    assert_eq!(
        report["register_environments"],
        serde_json::json!(["drill-secondary", "production-secondary"])
    );
}

#[test]
fn a_key_deleted_from_the_token_is_reported_missing() {
    let project = Project::with_tokens();
    project.p11(
        "custos-drill-primary",
        &[
            "--delete-object",
            "--type",
            "secrkey",
            "--label",
            "ZPK-ACME-02",
        ],
    );

    let run = project.custos(&["keys", "check", "drill-primary"]);
    let expected = format!(
        "{HEADER}{}{ZMK}{ZPK_1}{KEK}{PVK}{MAC}  \
         MISSING       ZPK-ACME-02      label `ZPK-ACME-02` is not on the token\n\n\
         drift: 1 finding: 1 missing\n",
        token_line(5)
    );
    assert_run(&run, 1, &expected);
}

#[test]
fn a_test_key_on_the_token_that_the_register_does_not_know_is_reported() {
    let project = Project::with_tokens();
    // The AES-128 key of FIPS 197 and SP 800-38B: its ECB check value is 7DF76B.
    let value = "2b7e151628aed2a6abf7158809cf4f3c";
    project.write_key("custos-drill-primary", "DEV-TEST-KEY", "AES:16", value, &[]);

    let run = project.custos(&["keys", "check", "production-primary", "--rehearsal"]);
    let expected = format!(
        "{}{}{ZMK}{ZPK_1}{ZPK_2}{KEK}{PVK}{MAC}  \
         UNKNOWN       DEV-TEST-KEY     on the token but not in the register (aes-128,\n{CONT}\
         KCV 7DF76B)\n\n\
         drift: 1 finding: 1 unknown\n",
        HEADER.replace("check drill-primary", "check production-primary"),
        token_line(7)
    );
    assert_run(&run, 1, &expected);

    let json = project.custos(&["keys", "check", "drill-primary", "--json"]);
    assert_eq!(json.code, 1);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        report["findings"],
        serde_json::json!([{
            "kind": "unknown",
            "key": "DEV-TEST-KEY",
            "detail": "on the token but not in the register (aes-128, KCV 7DF76B)"
        }])
    );
    assert_eq!(report["clean"], false);
}

#[test]
fn a_register_kcv_that_differs_is_reported_and_only_against_the_same_method() {
    let project = Project::with_tokens();
    project.edit_register("value: 32301E, method: ecb", "value: 32301F, method: ecb");
    project.edit_register(
        "value: 6D40DEB1DF, method: cmac",
        "value: 6D40DE, method: cmac",
    );

    let run = project.custos(&["keys", "check", "drill-primary"]);
    let expected = format!(
        "{HEADER}{}{ZMK}{ZPK_2}{KEK}{PVK}{MAC}  \
         KCV           ZPK-ACME-01      KCV 32301E on the token, 32301F in the register\n{CONT}\
         (ecb)\n\n\
         drift: 1 finding: 1 kcv\n",
        token_line(6)
    )
    .replace("KCV 6D40DEB1DF cmac", "KCV 6D40DE cmac");
    assert_run(&run, 1, &expected);

    // The ECB value of the ZMK (CE05DA) written as CMAC is a mismatch, not a match.
    project.edit_register("value: 6D40DE, method: cmac", "value: CE05DA, method: cmac");
    let run = project.custos(&["keys", "check", "drill-primary"]);
    assert!(
        run.stdout.contains(&format!(
            "  KCV           ZMK-ACME-2026    KCV 6D40DE on the token, CE05DA in the register\n\
             {CONT}(cmac)\n"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("\ndrift: 2 findings: 2 kcv\n"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 1);
}

#[test]
fn an_extractable_or_readable_key_breaks_the_register_policy() {
    let project = Project::with_tokens();
    let token = "custos-drill-primary";
    project.p11(
        token,
        &["--delete-object", "--type", "secrkey", "--label", "PVK-01"],
    );
    let value = Project::drill_value("PVK-01", 24);
    project.write_key(token, "PVK-01", "DES3:24", &value, &["--extractable"]);

    let run = project.custos(&["keys", "check", "drill-primary"]);
    let expected = format!(
        "{HEADER}{}{ZMK}{ZPK_1}{ZPK_2}{KEK}{MAC}  \
         ATTRIBUTE     PVK-01           not sensitive on the token; the register\n{CONT}\
         expects sensitive\n  \
         ATTRIBUTE     PVK-01           extractable on the token; the register expects\n{CONT}\
         not extractable\n\n\
         drift: 2 findings: 2 attribute\n",
        token_line(6)
    );
    assert_run(&run, 1, &expected);
}

#[test]
fn a_key_the_register_calls_destroyed_must_be_gone_from_the_token() {
    let project = Project::with_tokens();
    let entry = "value: B5AB65, method: ecb }\n    parent: ZMK-ACME-2026\n    counterparty: \
                 ACME Bank\n    activation: 2026-02-01\n    cryptoperiod: P1Y\n    state: active";
    project.edit_register(entry, &entry.replace("state: active", "state: destroyed"));

    let run = project.custos(&["keys", "check", "drill-primary"]);
    let expected = format!(
        "{HEADER}{}{ZMK}{ZPK_1}{KEK}{PVK}{MAC}  \
         NOT-DESTROYED ZPK-ACME-02      destroyed in the register, but `ZPK-ACME-02` is\n{CONT}\
         still on the token\n\n\
         drift: 1 finding: 1 not-destroyed\n",
        token_line(6)
    );
    assert_run(&run, 1, &expected);

    project.p11(
        "custos-drill-primary",
        &[
            "--delete-object",
            "--type",
            "secrkey",
            "--label",
            "ZPK-ACME-02",
        ],
    );
    let run = project.custos(&["keys", "check", "drill-primary"]);
    assert!(
        run.stdout
            .contains("  ok            ZPK-ACME-02      destroyed, and absent\n"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let project = Project::new();
    let run = project.custos(&["keys", "check", "drill-primay"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "custos: environment `drill-primay` is not defined in policies/environments.yaml \
         (defined: `drill-new`, `drill-primary`, `drill-secondary`, `production-new`, \
         `production-primary`, `production-secondary`)\n"
    );

    let missing = project.custos(&["keys", "check"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("the following required arguments were not provided"),
        "{}",
        missing.stderr
    );
}

#[test]
fn an_hmac_key_a_key_pair_and_a_data_object_are_unknown_and_the_check_goes_on() {
    let project = Project::with_tokens();
    let token = "custos-drill-primary";
    project.p11(
        token,
        &[
            "--keygen",
            "--key-type",
            "GENERIC:32",
            "--label",
            "HMAC-TEST",
            "--id",
            "77",
        ],
    );
    project.p11(
        token,
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "DEV-SIGN",
            "--id",
            "78",
        ],
    );
    let notes = project.path().join("notes.txt");
    std::fs::write(&notes, "left here by a developer").unwrap();
    project.p11(
        token,
        &[
            "--write-object",
            notes.to_str().unwrap(),
            "--type",
            "data",
            "--label",
            "NOTES",
        ],
    );

    let run = project.custos(&["keys", "check", "drill-primary"]);
    let expected = format!(
        "{HEADER}  token         drill-primary (label `custos-drill-primary`): 7 secret keys, 3\n\
         {:16}other objects\n\n\
         {ZMK}{ZPK_1}{ZPK_2}{KEK}{PVK}{MAC}  \
         UNKNOWN       DEV-SIGN         a private key on the token but not in the\n{CONT}\
         register\n  \
         UNKNOWN       DEV-SIGN         a public key on the token but not in the\n{CONT}\
         register\n  \
         UNKNOWN       HMAC-TEST        on the token but not in the register\n{CONT}\
         (generic-secret, no KCV: a generic-secret key\n{CONT}\
         has no ANSI X9.24 check value; only TDES and\n{CONT}\
         AES keys have one)\n  \
         UNKNOWN       NOTES            a data object on the token but not in the\n{CONT}\
         register\n\n\
         drift: 4 findings: 4 unknown\n",
        ""
    );
    assert_run(&run, 1, &expected);

    let json = project.custos(&["keys", "check", "drill-primary", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["token_keys"], 7);
    assert_eq!(report["token_objects"], 10);
    assert_eq!(report["findings"][2]["key"], "HMAC-TEST");
}
