//! `custos hsm check` through the real binary, against real SoftHSM2 drill tokens.

#![allow(clippy::unwrap_used)]

mod support;

use support::cli::{custos, rehearsal_tokens, repo};

#[test]
fn checking_a_drill_environment_reports_a_healthy_token() {
    let home = tempfile::tempdir().unwrap();
    let conf = rehearsal_tokens(home.path());
    let run = custos()
        .current_dir(repo())
        .env("SOFTHSM2_CONF", &conf)
        .env("CUSTOS_DRILL_PIN", "123456")
        .args(["hsm", "check", "drill-primary"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("custos hsm check drill-primary\n"));
    assert!(
        run.stdout
            .contains("  token         found: `custos-drill-primary`, serial ")
    );
    assert!(
        run.stdout
            .contains("  login         ok, logged in as user\n")
    );
    assert!(run.stdout.contains("  verdict       healthy\n"));
    assert!(run.stdout.lines().all(|line| line.chars().count() <= 80));
}

#[test]
fn a_wrong_pin_is_reported_without_the_pin_and_fails_the_check() {
    let home = tempfile::tempdir().unwrap();
    let conf = rehearsal_tokens(home.path());
    let run = custos()
        .current_dir(repo())
        .env("SOFTHSM2_CONF", &conf)
        .env("CUSTOS_DRILL_PIN", "999999")
        .args(["hsm", "check", "drill-secondary"])
        .run();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("999999") && !run.stderr.contains("999999"));
    assert!(
        run.stdout.contains("verdict       failed") || run.stderr.contains("PIN"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_environment_the_policies_do_not_define_is_named_with_the_ones_they_do() {
    let run = custos()
        .current_dir(repo())
        .args(["hsm", "check", "nowhere"])
        .run();
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: environment `nowhere` is not defined in policies/environments.yaml \
         (defined: `drill-new`, `drill-primary`, `drill-secondary`, `production-new`, \
         `production-primary`, `production-secondary`)\n"
    );
}
