//! What `custos hsm check ENV` prints, for a real SoftHSM2 token and for a broken environment.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

#[path = "../src/cli/hsm.rs"]
mod cli_hsm;
mod support;

use std::time::Duration;

use custos::hsm::Hsm;
use support::softhsm;

fn report(drill: &support::Drill, name: &str) -> String {
    let environment = drill.environments.get(name).unwrap();
    let mut hsm = Hsm::new();
    let report = hsm.check(
        environment,
        &mut support::secrets(),
        Duration::from_secs(20),
    );
    cli_hsm::render(&report.unwrap())
}

fn assert_fits_80_columns(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
}

#[test]
fn a_check_of_a_healthy_token_shows_every_step_within_80_columns() {
    softhsm(
        "a_check_of_a_healthy_token_shows_every_step_within_80_columns",
        |drill| {
            let text = report(drill, "drill-primary");
            println!("{text}");
            assert_fits_80_columns(&text);

            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "custos hsm check drill-primary");
            assert_eq!(lines[1], "  module        /usr/lib/softhsm/libsofthsm2.so");
            assert!(lines[2].starts_with("  library       SoftHSM"), "{text}");
            assert_eq!(lines[3], "  slots         3");
            assert!(lines[4].starts_with("  token         found: `custos-drill-primary`, serial "));
            assert_eq!(
                lines[6],
                "  flags         initialised, user PIN set, no wrong PIN tries"
            );
            assert_eq!(lines[8], "  session       ok, opened");
            assert_eq!(lines[9], "  login         ok, logged in as user");
            assert_eq!(lines[10], "  canary        ok, AES round trip");
            assert_eq!(lines[11], "  verdict       healthy");

            // A PIN from an environment variable is read without any prompt.
            let mut secrets = cli_hsm::TerminalSecrets::new(&drill.environments);
            let healthy = cli_hsm::check(&drill.environments, "drill-primary", &mut secrets);
            assert!(healthy.unwrap());
        },
    );
}

#[test]
fn a_check_of_an_absent_token_says_so_and_fails() {
    softhsm("a_check_of_an_absent_token_says_so_and_fails", |drill| {
        let text = report(drill, "absent-token");
        println!("{text}");
        assert_fits_80_columns(&text);
        assert!(text.contains("\n  token         not found\n"), "{text}");
        assert!(text.contains("\n  verdict       failed\n"), "{text}");
        assert!(text.contains("`custos-nobody-made-this`"), "{text}");

        let mut secrets = support::secrets();
        let healthy = cli_hsm::check(&drill.environments, "missing-module", &mut secrets);
        assert!(!healthy.unwrap());
    });
}
