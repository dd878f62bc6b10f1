//! Property tests of the hash chain: any walk verifies, and any changed byte of any body is
//! caught at the event it belongs to.

// Strategies and helpers fail their case the way `unwrap` inside a `#[test]` function does.
#![allow(clippy::unwrap_used)]

mod store_common;

use custos::store::{Event, ProblemKind, Store};
use proptest::prelude::*;
use serde_json::{Map, Value};
use store_common::{at, opening, origin};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

fn map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((text(), value()), 0..4).prop_map(|pairs| pairs.into_iter().collect())
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        text().prop_map(|node| Event::NodeEntered { node }),
        (text(), text(), text()).prop_map(|(node, option, next)| Event::AnswerGiven {
            node,
            option,
            next
        }),
        (text(), map(), text()).prop_map(|(node, fields, next)| Event::StepCompleted {
            node,
            fields,
            next
        }),
        (text(), text()).prop_map(|(node, text)| Event::NoteAdded { node, text }),
        (
            text(),
            text(),
            any::<bool>(),
            map(),
            proptest::option::of(text())
        )
            .prop_map(|(node, action, ok, outputs, error)| Event::ActionFinished {
                node,
                action,
                ok,
                outputs,
                error,
                next: "next".into(),
            }),
        (text(), text()).prop_map(|(node, person)| Event::ApprovalGranted {
            node,
            person,
            role: "custodian".into(),
            origin: origin(),
            credential: None,
        }),
    ]
}

/// Batches of events, each appended in one call by one actor.
fn batches() -> impl Strategy<Value = Vec<(String, Vec<Event>)>> {
    prop::collection::vec((text(), prop::collection::vec(event(), 1..4)), 0..6)
}

/// Writes an incident from `batches` into a fresh log and returns the log and the event count.
fn written(batches: &[(String, Vec<Event>)]) -> (tempfile::TempDir, Store, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("log.sqlite")).unwrap();
    let id = store.open_incident(&opening("prop", true), at(0)).unwrap();
    for (minute, (actor, events)) in batches.iter().enumerate() {
        store
            .append(&id, actor, at(minute as i64 + 1), events)
            .unwrap();
    }
    let count = 1 + batches
        .iter()
        .map(|(_, events)| events.len() as u64)
        .sum::<u64>();
    (dir, store, count)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_sequence_of_events_verifies_and_reads_back(batches in batches()) {
        let (_dir, store, count) = written(&batches);
        let id = "INC-1".parse().unwrap();

        let verification = store.verify(&id, None).unwrap();
        let records = store.events(&id).unwrap();

        prop_assert!(verification.is_ok(), "{:#?}", verification.problems);
        prop_assert_eq!(verification.events, count);
        let appended: Vec<Event> = batches.into_iter().flat_map(|(_, events)| events).collect();
        let read: Vec<Event> = records.into_iter().skip(1).map(|r| r.event).collect();
        prop_assert_eq!(read, appended);
    }

    #[test]
    fn flipping_any_byte_of_any_body_is_caught_at_that_event(
        batches in batches(),
        pick in any::<prop::sample::Index>(),
        byte in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let (dir, store, count) = written(&batches);
        let id = "INC-1".parse().unwrap();
        let seq = pick.index(count as usize) as i64 + 1;

        let conn = store_common::raw(&dir.path().join("log.sqlite"));
        let mut body: Vec<u8> = conn
            .query_row("SELECT CAST(body AS BLOB) FROM events WHERE seq = ?1", [seq], |r| r.get(0))
            .unwrap();
        let at = byte.index(body.len());
        body[at] ^= mask;
        conn.execute("UPDATE events SET body = CAST(?1 AS TEXT) WHERE seq = ?2", (body, seq))
            .unwrap();

        let verification = store.verify(&id, None).unwrap();

        prop_assert!(!verification.is_ok());
        let first = verification.first_problem().unwrap();
        prop_assert_eq!(first.seq, seq as u64);
        prop_assert!(matches!(first.kind, ProblemKind::BodyChanged { .. }), "{:?}", first);
    }
}
