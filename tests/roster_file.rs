//! The roster file through the library: the shipped roster is clean, and each problem is
//! reported with its position: duplicate ids, undeclared roles, malformed credentials, unknown
//! fields, and the PCI PIN 21-2.4 rule on key components.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod approval_common;

use std::path::Path;

use approval_common::*;
use custos::policy::roster::{self, Roster, Standing};
use custos::runbook::Report;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$sRzg0t2/V2wS+0yoPAiGCQ$\
                    bYVj5pRnp9/vOpAvHR9GObEkHlSnmDlB53e6hgxVQ5s";

/// A roster with one person per `people` entry, each written as YAML lines after `- `.
fn roster_text(people: &[&str]) -> String {
    let mut text =
        String::from("roles:\n  custodian: holds a component\n  ciso: decides\npeople:\n");
    for person in people {
        text.push_str(person);
    }
    text
}

fn person(id: &str, extra: &str) -> String {
    format!(
        "  - id: {id}\n    name: Someone\n    roles: [custodian]\n    credential: \"{HASH}\"\n    \
         active_from: 2026-01-05\n{extra}"
    )
}

/// The report of `text`'s problems as `custos validate` prints it.
fn problems(text: &str) -> String {
    let parsed = roster::parse(text).unwrap();
    Report::new(Path::new("roster.yaml"), text.to_owned(), parsed.check()).to_string()
}

#[test]
fn the_shipped_roster_has_no_problems_and_declares_the_roles_runbooks_use() {
    let shipped = roster();
    assert!(shipped.check().is_empty(), "{:?}", shipped.check());
    let roles: Vec<String> = shipped.roles().into_iter().collect();
    assert_eq!(
        roles,
        [
            "ciso",
            "custodian",
            "on-call",
            "operations-manager",
            "security-officer"
        ]
    );
    for id in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        let entry = shipped.person(id).unwrap();
        assert!(
            roster::verify_passphrase(&entry.credential, &passphrase(id)),
            "{id}"
        );
        assert_eq!(entry.standing(at(0)), Standing::Active);
    }
}

#[test]
fn the_shipped_roster_holds_hashes_and_no_drill_passphrase() {
    let text = std::fs::read_to_string(repo().join("policies/roster.yaml")).unwrap();
    assert!(!text.contains("drill-passphrase"));
    assert_eq!(text.matches("$argon2id$v=19$m=19456,t=2,p=1$").count(), 6);
}

#[test]
fn a_duplicate_id_is_reported_at_the_second_entry() {
    let text = roster_text(&[&person("bob", ""), &person("bob", "")]);
    assert!(
        problems(&text).starts_with(
            "roster.yaml:10:5: person `bob` appears twice; the first entry is at line 5\n"
        ),
        "{}",
        problems(&text)
    );
}

#[test]
fn an_undeclared_role_is_reported_with_a_suggestion() {
    let text = roster_text(&[&person("bob", "").replace("[custodian]", "[custodain]")]);
    assert_eq!(
        problems(&text),
        "roster.yaml:5:5: person `bob` has the role `custodain`, which `roles` does not \
         declare (did you mean `custodian`?)\n  |\n5 |   - id: bob\n  |     ^\n  = hint: the \
         roles are ciso, custodian\n"
    );
}

#[test]
fn a_malformed_or_weak_credential_is_reported() {
    let text = roster_text(&[&person("bob", "").replace(HASH, "hunter2")]);
    assert!(
        problems(&text)
            .starts_with("roster.yaml:5:5: the credential of `bob` is not a PHC hash string"),
        "{}",
        problems(&text)
    );

    let weak = HASH.replace("m=19456,t=2", "m=1024,t=1");
    let text = roster_text(&[&person("bob", "").replace(HASH, &weak)]);
    assert!(
        problems(&text).starts_with(
            "roster.yaml:5:5: the credential of `bob` is too weak (m=1024, t=1); custos needs \
             at least m=7168 KiB and m*t=35840\n"
        ),
        "{}",
        problems(&text)
    );
}

#[test]
fn holding_two_components_of_one_key_breaks_pci_pin_21_2_4() {
    let components = "    components:\n      - key: ZMK-ACME-2026\n        component: A\n      \
                      - key: ZMK-ACME-2026\n        component: B\n";
    let text = roster_text(&[&person("bob", components)]);
    assert_eq!(
        problems(&text),
        "roster.yaml:13:9: `bob` holds component A of `ZMK-ACME-2026` and is given component B \
         of the same key\n   |\n13 |       - key: ZMK-ACME-2026\n   |         ^\n   = hint: PCI \
         PIN 21-2.4: a custodian who held one component may never hold another of the same \
         key; give it to another custodian\n"
    );
}

#[test]
fn a_custodian_who_returned_one_component_may_not_later_take_another_of_the_same_key() {
    let components = "    components:\n      - key: ZMK-ACME-2026\n        component: A\n        \
                      returned_on: 2026-03-01\n      - key: ZMK-ACME-2026\n        component: B\n";
    let text = roster_text(&[&person("bob", components)]);
    assert!(
        problems(&text).starts_with(
            "roster.yaml:14:9: `bob` has held component A of `ZMK-ACME-2026` and is given \
             component B of the same key\n"
        ),
        "{}",
        problems(&text)
    );
}

#[test]
fn components_of_different_keys_or_the_same_component_again_are_allowed() {
    let components = "    components:\n      - key: ZMK-ACME-2026\n        component: A\n      \
                      - key: ZMK-OTHER-2026\n        component: B\n      - key: ZMK-ACME-2026\n   \
                      \x20    component: A\n";
    let text = roster_text(&[&person("bob", components)]);
    assert_eq!(problems(&text), "");
}

#[test]
fn an_unknown_field_is_an_error_with_line_and_column() {
    let text = roster_text(&[&person("bob", "    pin: 1234\n")]);
    let diagnostics = roster::parse(&text).unwrap_err();
    let report = Report::new(Path::new("roster.yaml"), text, diagnostics).to_string();
    assert!(
        report.starts_with("roster.yaml:10:5: unknown field `pin`"),
        "{report}"
    );
}

#[test]
fn a_yaml_boolean_where_a_date_belongs_is_an_error() {
    let text = roster_text(&[&person("bob", "    revoked_on: yes\n")]);
    assert!(roster::parse(&text).is_err());
}

#[test]
fn a_revoked_person_stands_revoked_from_the_day_of_revocation() {
    let mut roster: Roster = roster();
    let bob = roster.person_mut("bob").unwrap();
    bob.revoked_on = Some("2026-12-03".parse().unwrap());
    assert_eq!(bob.standing(at(0)), Standing::Revoked);
    bob.revoked_on = Some("2026-12-04".parse().unwrap());
    assert_eq!(bob.standing(at(0)), Standing::Active);
    bob.active_from = "2027-01-01".parse().unwrap();
    assert_eq!(bob.standing(at(0)), Standing::NotYetActive);
}

#[test]
fn a_declared_role_that_is_not_a_role_word_is_reported() {
    let text = roster_text(&[&person("bob", "")])
        .replace("  ciso: decides\n", "  Chief Officer: decides\n");
    assert_eq!(
        problems(&text),
        "roster.yaml: `Chief Officer` in `roles` is not a role word\n = hint: role words are \
         lowercase letters, digits and `-`\n"
    );
}

#[test]
fn saving_and_loading_keeps_every_field_even_of_awkward_names() {
    let mut original = roster();
    let bob = original.person_mut("bob").unwrap();
    bob.name = "Bob \"B: 2\" Benavides # not a comment, 'yes'".into();
    bob.revoked_on = Some("2026-09-30".parse().unwrap());
    bob.components[0].returned_on = Some("2026-06-01".parse().unwrap());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.yaml");
    roster::save(&original, &path).unwrap();
    let reloaded = Roster::load(&path).unwrap();

    let strip = |r: &Roster| {
        let mut r = r.clone();
        for person in &mut r.people {
            person.at = Default::default();
            for component in &mut person.components {
                component.at = Default::default();
            }
        }
        r
    };
    assert_eq!(strip(&reloaded), strip(&original));
}
