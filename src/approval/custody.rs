//! Who may be recorded as whom during a walk: the people named by a step's `person` fields and a
//! ceremony's participants, checked against the roster.
//!
//! The validator and `custos roster assign` keep the roster itself right; this is the run-time
//! half of PCI PIN 21-2.4: a step that records the holders of a key's components may not name
//! one person for two components, nor someone who holds or has held another component of that
//! key. Nothing here writes to the log; the engine refuses the step or the opening.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::policy::roster::{Person, Roster, Standing};
use crate::runbook::{Input, InputKind};
use crate::store::Participant;

/// Checks the `person` fields of a step: each names an active person of the roster, and the
/// fields that hold components of one key name different people, none of whom holds or has
/// held another component of it. `inputs` are the incident's inputs, where key labels are.
pub fn check_people(
    roster: Option<&Roster>,
    fields: &[Input],
    values: &Map<String, Value>,
    inputs: &Map<String, Value>,
    at: Timestamp,
) -> Result<(), String> {
    let named: Vec<(&Input, &str)> = fields
        .iter()
        .filter(|field| field.kind == InputKind::Person)
        .filter_map(|field| Some((field, values.get(&field.name)?.as_str()?)))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let Some(roster) = roster else {
        return Err(
            "`person` fields name people of `policies/roster.yaml`, and there is no roster".into(),
        );
    };

    let mut holders: BTreeMap<&str, Vec<(&Input, &str)>> = BTreeMap::new();
    for &(field, id) in &named {
        let person = active(roster, id, at).map_err(|why| format!("`{}`: {why}", field.name))?;
        let Some(holds) = &field.holds else { continue };
        let label = inputs.get(&holds.key).and_then(Value::as_str);
        if let Some(held) =
            label.and_then(|key| person.conflicting_component(key, &holds.component))
        {
            let when = if held.returned_on.is_some() {
                "has held"
            } else {
                "holds"
            };
            return Err(format!(
                "`{}`: `{id}` {when} component {} of `{}` and may not be recorded as the holder of \
                 component {} (PCI PIN 21-2.4)",
                field.name, held.component, held.key, holds.component
            ));
        }
        holders
            .entry(holds.key.as_str())
            .or_default()
            .push((field, id));
    }

    for same_key in holders.values() {
        for (index, (field, id)) in same_key.iter().enumerate() {
            let Some((other, _)) = same_key[..index].iter().find(|(_, other)| other == id) else {
                continue;
            };
            return Err(format!(
                "`{id}` is named in both `{}` and `{}`: one person may not hold two components of \
                 one key (PCI PIN 21-2.4)",
                other.name, field.name
            ));
        }
    }
    Ok(())
}

/// Checks a ceremony's participants: each person once; someone taking a role the roster
/// declares must be an active person of the roster with that role; a roster person taking
/// another role (a witness) must be active. People outside the roster may only take roles it
/// does not declare (an external auditor as witness).
pub fn check_participants(
    roster: Option<&Roster>,
    participants: &[Participant],
    at: Timestamp,
) -> Result<(), String> {
    for (index, participant) in participants.iter().enumerate() {
        if participants[..index]
            .iter()
            .any(|p| p.person == participant.person)
        {
            return Err(format!(
                "`{}` is listed twice; each participant takes one role",
                participant.person
            ));
        }
    }
    let Some(roster) = roster else {
        return Err(
            "a ceremony's participants are checked against the roster, and there is none \
             in `policies/roster.yaml`"
                .into(),
        );
    };

    for participant in participants {
        let (id, role) = (participant.person.as_str(), participant.role.as_str());
        let declared = roster.roles.contains_key(role);
        match roster.person(id) {
            None if declared => {
                return Err(format!(
                    "`{id}` is not in the roster, so they cannot take part as {role}"
                ));
            }
            None => {}
            Some(_) => {
                let person = active(roster, id, at)?;
                if declared && !person.has_role(role) {
                    return Err(format!(
                        "`{id}` does not hold the role {role} in the roster (they hold {})",
                        person.roles.join(", ")
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The roster entry of `id`, if they may act at `at`.
fn active<'r>(roster: &'r Roster, id: &str, at: Timestamp) -> Result<&'r Person, String> {
    let Some(person) = roster.person(id) else {
        return Err(format!("`{id}` is not in the roster"));
    };
    match person.standing(at) {
        Standing::Active => Ok(person),
        Standing::Revoked => Err(format!(
            "`{id}` is revoked in the roster from {}",
            person.revoked_on.unwrap_or(person.active_from)
        )),
        Standing::NotYetActive => Err(format!(
            "`{id}` is not active in the roster until {}",
            person.active_from
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::roster::Component;
    use crate::runbook::Holding;
    use serde_json::json;

    fn roster() -> Roster {
        let person = |id: &str, roles: &[&str], components: &[(&str, &str)]| Person {
            id: id.into(),
            name: id.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            credential: String::new(),
            changed: None,
            reset_by: None,
            active_from: "2026-01-01".parse().unwrap(),
            revoked_on: (id == "zed").then(|| "2026-02-01".parse().unwrap()),
            components: components
                .iter()
                .map(|(key, component)| Component {
                    key: (*key).into(),
                    component: (*component).into(),
                    returned_on: None,
                    at: crate::runbook::Pos::default(),
                })
                .collect(),
            at: crate::runbook::Pos::default(),
        };
        let mut roster = Roster::with_standard_roles();
        roster.people = vec![
            person("alice", &["custodian"], &[("ZMK-2", "A")]),
            person("bob", &["custodian"], &[]),
            person("zed", &["custodian"], &[]),
        ];
        roster
    }

    fn holder(name: &str, component: &str) -> Input {
        Input {
            name: name.into(),
            prompt: name.into(),
            kind: InputKind::Person,
            required: true,
            holds: Some(Holding {
                key: "label".into(),
                component: component.into(),
            }),
        }
    }

    fn check(a: &str, b: &str) -> Result<(), String> {
        let fields = [holder("custodian_a", "A"), holder("custodian_b", "B")];
        let values = json!({"custodian_a": a, "custodian_b": b});
        let inputs = json!({"label": "ZMK-2"});
        let at = "2026-06-01T00:00:00Z".parse().unwrap();
        let (Value::Object(values), Value::Object(inputs)) = (values, inputs) else {
            unreachable!()
        };
        check_people(Some(&roster()), &fields, &values, &inputs, at)
    }

    #[test]
    fn distinct_custodians_without_conflicting_components_are_accepted() {
        assert_eq!(check("alice", "bob"), Ok(()));
    }

    #[test]
    fn one_person_for_two_components_of_one_key_is_refused() {
        assert_eq!(
            check("bob", "bob").unwrap_err(),
            "`bob` is named in both `custodian_a` and `custodian_b`: one person may not hold two \
             components of one key (PCI PIN 21-2.4)"
        );
    }

    #[test]
    fn a_holder_of_another_component_of_the_key_is_refused() {
        assert_eq!(
            check("bob", "alice").unwrap_err(),
            "`custodian_b`: `alice` holds component A of `ZMK-2` and may not be recorded as the \
             holder of component B (PCI PIN 21-2.4)"
        );
    }

    #[test]
    fn unknown_and_revoked_people_are_refused() {
        assert_eq!(
            check("nobody", "bob").unwrap_err(),
            "`custodian_a`: `nobody` is not in the roster"
        );
        assert_eq!(
            check("alice", "zed").unwrap_err(),
            "`custodian_b`: `zed` is revoked in the roster from 2026-02-01"
        );
    }

    #[test]
    fn participants_are_distinct_roster_people_in_roles_they_hold() {
        let at = "2026-06-01T00:00:00Z".parse().unwrap();
        let list = |pairs: &[(&str, &str)]| -> Vec<Participant> {
            pairs
                .iter()
                .map(|(person, role)| Participant {
                    person: (*person).into(),
                    role: (*role).into(),
                })
                .collect()
        };
        let roster = roster();
        let ok = list(&[
            ("alice", "custodian"),
            ("bob", "custodian"),
            ("Ines Auditor", "witness"),
        ]);
        assert_eq!(check_participants(Some(&roster), &ok, at), Ok(()));

        let twice = list(&[("alice", "custodian"), ("alice", "witness")]);
        assert_eq!(
            check_participants(Some(&roster), &twice, at).unwrap_err(),
            "`alice` is listed twice; each participant takes one role"
        );
        let outsider = list(&[("mallory", "custodian")]);
        assert_eq!(
            check_participants(Some(&roster), &outsider, at).unwrap_err(),
            "`mallory` is not in the roster, so they cannot take part as custodian"
        );
        let wrong_role = list(&[("alice", "security-officer")]);
        assert_eq!(
            check_participants(Some(&roster), &wrong_role, at).unwrap_err(),
            "`alice` does not hold the role security-officer in the roster (they hold custodian)"
        );
        let revoked = list(&[("zed", "witness")]);
        assert_eq!(
            check_participants(Some(&roster), &revoked, at).unwrap_err(),
            "`zed` is revoked in the roster from 2026-02-01"
        );
    }
}
