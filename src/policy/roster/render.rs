//! The roster as YAML text, in one fixed layout, for `custos roster` to write back.
//!
//! Free text is written as a double-quoted scalar (JSON's string syntax is valid YAML), so a
//! name with a colon or a quote cannot change the structure. Comments of a hand-written file
//! are not kept; the header says so.

use std::fmt::Write;

use super::Roster;

const HEADER: &str = "\
# The custos roster: who may approve, with which roles.
# Rewritten by `custos roster add|passwd|revoke`; comments added by hand are not kept.
# `credential` is an Argon2id hash made by `custos roster passwd`; never a passphrase.
# `components` is the history of key components each custodian holds or has held:
# nobody may hold two components of one key, ever (PCI PIN 21-2.4).
";

/// The roster as the text of `roster.yaml`.
pub(super) fn render(roster: &Roster) -> String {
    let mut out = String::from(HEADER);

    out.push_str("\nroles:\n");
    for (role, meaning) in &roster.roles {
        let _ = writeln!(out, "  {role}: {}", quoted(meaning));
    }

    if roster.people.is_empty() {
        out.push_str("\npeople: []\n");
        return out;
    }
    out.push_str("\npeople:\n");
    for person in &roster.people {
        let _ = writeln!(out, "  - id: {}", word(&person.id, super::is_id));
        let _ = writeln!(out, "    name: {}", quoted(&person.name));
        let roles: Vec<String> = (person.roles.iter())
            .map(|role| word(role, super::is_role_word))
            .collect();
        let _ = writeln!(out, "    roles: [{}]", roles.join(", "));
        let _ = writeln!(out, "    credential: {}", quoted(&person.credential));
        if let Some(changed) = person.changed {
            let _ = writeln!(out, "    changed: {changed}");
        }
        if let Some(by) = &person.reset_by {
            let _ = writeln!(out, "    reset_by: {}", word(by, super::is_id));
        }
        let _ = writeln!(out, "    active_from: {}", person.active_from);
        if let Some(revoked) = person.revoked_on {
            let _ = writeln!(out, "    revoked_on: {revoked}");
        }
        if person.components.is_empty() {
            out.push('\n');
            continue;
        }
        out.push_str("    components:\n");
        for component in &person.components {
            let _ = writeln!(out, "      - key: {}", quoted(&component.key));
            let _ = writeln!(out, "        component: {}", quoted(&component.component));
            if let Some(returned) = component.returned_on {
                let _ = writeln!(out, "        returned_on: {returned}");
            }
        }
        out.push('\n');
    }
    out
}

/// A checked word as it is, anything else quoted.
fn word(text: &str, valid: fn(&str) -> bool) -> String {
    if valid(text)
        && !matches!(
            text,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off"
        )
    {
        text.to_owned()
    } else {
        quoted(text)
    }
}

/// `text` as a YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
