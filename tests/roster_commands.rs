//! `custos roster add|passwd|revoke|list` driven as a real process. Hashes are made with the
//! test-only tiny Argon2 parameters (`CUSTOS_ARGON2_TEST_PARAMS=1`) to keep the suite fast.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use custos::policy::roster::{self, Roster};
use support::cli::{Run, custos};

fn roster_cmd(policies: &Path, args: &[&str], passphrase: Option<&str>) -> Run {
    let mut command = custos()
        .env("CUSTOS_ARGON2_TEST_PARAMS", "1")
        .args(["--policies", &policies.display().to_string(), "roster"])
        .args(args);
    if let Some(passphrase) = passphrase {
        command = command.env("P", passphrase);
    }
    command.run()
}

/// `custos roster ARGS` with the variables `env` set.
fn roster_with(policies: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = custos()
        .env("CUSTOS_ARGON2_TEST_PARAMS", "1")
        .args(["--policies", &policies.display().to_string(), "roster"])
        .args(args);
    for (name, value) in env {
        command = command.env(name, value);
    }
    command.run()
}

/// `custos roster passwd bob` giving bob's current passphrase and a new one.
fn bob_changes_passphrase(policies: &Path) -> Run {
    roster_with(
        policies,
        &[
            "passwd",
            "bob",
            "--old-passphrase-env",
            "OLD",
            "--passphrase-env",
            "P",
        ],
        &[("OLD", "bob-long-passphrase"), ("P", "bob-new-passphrase")],
    )
}

fn today() -> String {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
        .to_string()
}

fn policies() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    (dir, policies)
}

fn load(policies: &Path) -> Roster {
    Roster::load(&policies.join("roster.yaml")).unwrap()
}

fn add_bob(policies: &Path) -> Run {
    roster_cmd(
        policies,
        &[
            "add",
            "bob",
            "--name",
            "Bob Benavides",
            "--role",
            "custodian",
            "--role",
            "on-call",
            "--active-from",
            "2026-01-05",
            "--passphrase-env",
            "P",
        ],
        Some("bob-long-passphrase"),
    )
}

#[test]
fn add_creates_the_roster_with_a_hash_and_never_the_passphrase() {
    let (_dir, policies) = policies();
    let run = add_bob(&policies);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "custos: added `bob` to `{}`\n",
            policies.join("roster.yaml").display()
        )
    );
    assert!(!run.stdout.contains("bob-long-passphrase"));

    let text = std::fs::read_to_string(policies.join("roster.yaml")).unwrap();
    assert!(!text.contains("bob-long-passphrase"));
    let roster = load(&policies);
    let bob = roster.person("bob").unwrap();
    assert_eq!(bob.name, "Bob Benavides");
    assert_eq!(bob.roles, ["custodian", "on-call"]);
    assert_eq!(bob.active_from.to_string(), "2026-01-05");
    assert!(bob.credential.starts_with("$argon2id$"));
    assert!(roster::verify_passphrase(
        &bob.credential,
        "bob-long-passphrase"
    ));

    // This process does not set the test knob, so it sees the tiny test parameters as weak.
    let problems: Vec<String> = roster.check().into_iter().map(|d| d.message).collect();
    assert_eq!(
        problems,
        [
            "the credential of `bob` is too weak (m=64, t=1); custos needs at least m=7168 KiB and \
          m*t=35840"
        ]
    );
}

#[test]
fn a_passphrase_shorter_than_twelve_characters_is_refused_and_nothing_is_written() {
    let (_dir, policies) = policies();
    let run = roster_cmd(
        &policies,
        &[
            "add",
            "bob",
            "--name",
            "Bob",
            "--role",
            "custodian",
            "--passphrase-env",
            "P",
        ],
        Some("short-11chr"),
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: the passphrase is shorter than 12 characters; refused\n"
    );
    assert!(!policies.join("roster.yaml").exists());
}

#[test]
fn add_refuses_an_existing_id_an_undeclared_role_and_an_id_with_capitals() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);

    let run = add_bob(&policies);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: `bob` is already in the roster; use `custos roster passwd bob` to \
         change it\n"
    );

    let run = roster_cmd(
        &policies,
        &[
            "add",
            "zoe",
            "--name",
            "Zoe",
            "--role",
            "janitor",
            "--passphrase-env",
            "P",
        ],
        Some("zoe-long-passphrase"),
    );
    assert_eq!(
        run.stderr,
        "custos: error: the roster declares no role `janitor`; the roles are ciso, custodian, \
         on-call, operations-manager, security-officer\n"
    );

    let run = roster_cmd(
        &policies,
        &[
            "add",
            "Zoe",
            "--name",
            "Zoe",
            "--role",
            "ciso",
            "--passphrase-env",
            "P",
        ],
        Some("zoe-long-passphrase"),
    );
    assert_eq!(
        run.stderr,
        "custos: error: `Zoe` is not a person id; use lowercase letters, digits, `-`, `_` and \
         `.`\n"
    );
}

#[test]
fn passwd_replaces_the_hash_so_only_the_new_passphrase_verifies() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let run = bob_changes_passphrase(&policies);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "custos: the passphrase of `bob` is changed\n");

    let bob = load(&policies).person("bob").cloned().unwrap();
    assert!(roster::verify_passphrase(
        &bob.credential,
        "bob-new-passphrase"
    ));
    assert!(!roster::verify_passphrase(
        &bob.credential,
        "bob-long-passphrase"
    ));
    assert_eq!(bob.changed.unwrap().to_string(), today());
    assert_eq!(bob.reset_by, None);
}

#[test]
fn passwd_without_the_right_current_passphrase_changes_nothing() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let before = std::fs::read_to_string(policies.join("roster.yaml")).unwrap();
    let run = roster_with(
        &policies,
        &[
            "passwd",
            "bob",
            "--old-passphrase-env",
            "OLD",
            "--passphrase-env",
            "P",
        ],
        &[("OLD", "not-bobs-passphrase"), ("P", "bob-new-passphrase")],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: the current passphrase of `bob` is wrong; nothing was changed (a \
         security officer can reset it with `--reset-by OFFICER`)\n"
    );
    assert!(!run.stderr.contains("not-bobs-passphrase"));
    let after = std::fs::read_to_string(policies.join("roster.yaml")).unwrap();
    assert_eq!(before, after);
}

#[test]
fn a_security_officer_resets_a_passphrase_and_the_roster_says_who_and_when() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let add_carol = roster_with(
        &policies,
        &[
            "add",
            "carol",
            "--name",
            "Carol Castillo",
            "--role",
            "security-officer",
            "--active-from",
            "2026-01-05",
            "--passphrase-env",
            "P",
        ],
        &[("P", "carol-long-passphrase")],
    );
    assert_eq!(add_carol.code, 0, "{add_carol:?}");

    let reset = |officer: &str, officer_passphrase: &str| {
        roster_with(
            &policies,
            &[
                "passwd",
                "bob",
                "--reset-by",
                officer,
                "--officer-passphrase-env",
                "O",
                "--passphrase-env",
                "P",
            ],
            &[("O", officer_passphrase), ("P", "bob-reset-passphrase")],
        )
    };
    let run = reset("carol", "carol-wrong-passphrase");
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: `carol` may not reset the passphrase of `bob`: wrong passphrase\n"
    );
    let run = reset("bob", "bob-long-passphrase");
    assert_eq!(
        run.stderr,
        "custos: error: `bob` may not reset the passphrase of `bob`: a person changes their own \
         passphrase with the current one, not by a reset\n"
    );

    let run = reset("carol", "carol-long-passphrase");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr,
        "custos: the passphrase of `bob` is reset by `carol`\n"
    );
    let bob = load(&policies).person("bob").cloned().unwrap();
    assert!(roster::verify_passphrase(
        &bob.credential,
        "bob-reset-passphrase"
    ));
    assert_eq!(bob.changed.unwrap().to_string(), today());
    assert_eq!(bob.reset_by.as_deref(), Some("carol"));
    let text = std::fs::read_to_string(policies.join("roster.yaml")).unwrap();
    assert!(text.contains(&format!("    changed: {}\n    reset_by: carol\n", today())));
}

#[test]
fn only_a_security_officer_may_reset_a_passphrase() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let run = roster_with(
        &policies,
        &[
            "add",
            "erin",
            "--name",
            "Erin Espinoza",
            "--role",
            "custodian",
            "--passphrase-env",
            "P",
        ],
        &[("P", "erin-long-passphrase")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let run = roster_with(
        &policies,
        &[
            "passwd",
            "bob",
            "--reset-by",
            "erin",
            "--officer-passphrase-env",
            "O",
            "--passphrase-env",
            "P",
        ],
        &[("O", "erin-long-passphrase"), ("P", "bob-reset-passphrase")],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: `erin` may not reset the passphrase of `bob`: only a security officer \
         may reset a passphrase\n"
    );
}

#[test]
fn passwd_and_revoke_of_an_unknown_person_fail() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let run = roster_cmd(&policies, &["revoke", "zoe"], None);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!(
            "custos: error: there is no `zoe` in the roster `{}`\n",
            policies.join("roster.yaml").display()
        )
    );
}

#[test]
fn revoke_keeps_the_person_with_the_date_and_list_shows_the_state() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let run = roster_cmd(&policies, &["revoke", "bob", "--on", "2026-02-01"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "custos: `bob` is revoked from 2026-02-01\n");

    let bob = load(&policies).person("bob").cloned().unwrap();
    assert_eq!(bob.revoked_on.unwrap().to_string(), "2026-02-01");

    let run = roster_cmd(&policies, &["list"], None);
    assert_eq!(run.code, 0);
    let line = run.stdout.lines().nth(1).unwrap();
    assert!(
        line.starts_with("bob          Bob Benavides            revoked"),
        "{line}"
    );
    assert!(line.contains("custodian, on-call"), "{line}");
}

#[test]
fn rewriting_keeps_component_history_and_leaves_no_temporary_file() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let path = policies.join("roster.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "    active_from: 2026-01-05\n",
        "    active_from: 2026-01-05\n    components:\n      - key: ZMK-ACME-2026\n        \
         component: A\n        returned_on: 2026-03-01\n",
    );
    std::fs::write(&path, text).unwrap();

    let run = bob_changes_passphrase(&policies);
    assert_eq!(run.code, 0, "{run:?}");

    let bob = load(&policies).person("bob").cloned().unwrap();
    assert_eq!(bob.components.len(), 1);
    assert_eq!(bob.components[0].key, "ZMK-ACME-2026");
    assert_eq!(
        bob.components[0].returned_on.unwrap().to_string(),
        "2026-03-01"
    );
    let names: Vec<String> = std::fs::read_dir(&policies)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["roster.yaml"]);
}

#[test]
fn validate_reports_a_roster_that_breaks_the_component_rule() {
    let (dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let path = policies.join("roster.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "    active_from: 2026-01-05\n",
        "    active_from: 2026-01-05\n    components:\n      - key: K\n        component: A\n      \
         - key: K\n        component: B\n",
    );
    std::fs::write(&path, text).unwrap();
    std::fs::create_dir_all(dir.path().join("runbooks")).unwrap();

    let run = custos()
        .env("CUSTOS_ARGON2_TEST_PARAMS", "1")
        .current_dir(dir.path())
        .args(["validate"])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "policies/roster.yaml:23:9: `bob` holds component A of `K` and is given component B \
             of the same key\n"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn assign_refuses_a_second_component_of_one_key_even_after_the_first_was_returned() {
    let (_dir, policies) = policies();
    assert_eq!(add_bob(&policies).code, 0);
    let assign = |component: &str| {
        roster_cmd(
            &policies,
            &[
                "assign",
                "bob",
                "--key",
                "ZMK-ACME-2026",
                "--component",
                component,
            ],
            None,
        )
    };

    let run = assign("A");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr,
        "custos: `bob` holds component A of `ZMK-ACME-2026`\n"
    );

    let run = assign("B");
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: `bob` holds component A of `ZMK-ACME-2026` and may never hold component \
         B of the same key (PCI PIN 21-2.4); give it to another custodian\n"
    );

    let run = roster_cmd(
        &policies,
        &[
            "return",
            "bob",
            "--key",
            "ZMK-ACME-2026",
            "--component",
            "A",
            "--on",
            "2026-03-01",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    let run = assign("B");
    assert_eq!(
        run.stderr,
        "custos: error: `bob` has held component A of `ZMK-ACME-2026` and may never hold \
         component B of the same key (PCI PIN 21-2.4); give it to another custodian\n"
    );

    let bob = load(&policies).person("bob").cloned().unwrap();
    assert_eq!(bob.components.len(), 1);
    assert_eq!(
        bob.components[0].returned_on.unwrap().to_string(),
        "2026-03-01"
    );
}

#[test]
fn only_custodians_are_assigned_components() {
    let (_dir, policies) = policies();
    let run = roster_cmd(
        &policies,
        &[
            "add",
            "carol",
            "--name",
            "Carol",
            "--role",
            "ciso",
            "--passphrase-env",
            "P",
        ],
        Some("carol-long-passphrase"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let run = roster_cmd(
        &policies,
        &["assign", "carol", "--key", "K", "--component", "A"],
        None,
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "custos: error: `carol` is not a custodian; only custodians hold key components\n"
    );
}
