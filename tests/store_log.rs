//! The incident log's API: writing, reading back, listing, and opening files that are not logs.

mod store_common;

use custos::store::{
    Event, IncidentState, SealStatus, Store, StoreError, signing::public_key_text,
};
use store_common::{at, closing, key, opening, temp_store, walk, walked_incident};

#[test]
fn appended_events_read_back_in_order_with_their_actor_time_and_chain() {
    let (_dir, _path, mut store) = temp_store();
    let id = walked_incident(&mut store);

    let records = store.events(&id).unwrap();

    assert_eq!(records.len(), 5);
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        &records[1..]
            .iter()
            .map(|r| r.event.clone())
            .collect::<Vec<_>>(),
        &walk()
    );
    assert_eq!(records[0].actor, "alice");
    assert_eq!(records[0].at, at(0));
    assert_eq!(records[3].at, at(1));
    assert!(records.iter().all(|r| r.rehearsal && r.incident == id));
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

#[test]
fn the_records_append_returns_are_the_records_the_log_reads_back() {
    let (_dir, _path, mut store) = temp_store();
    let id = store
        .open_incident(&opening("card lost", false), at(0))
        .unwrap();

    let written = store.append(&id, "bob", at(2), &walk()).unwrap();

    assert_eq!(written, store.events(&id).unwrap()[1..]);
}

#[test]
fn opening_an_incident_pins_the_runbook_source_by_its_sha256_in_event_1() {
    let (_dir, _path, mut store) = temp_store();
    let opening = opening("card lost", false);
    let id = store.open_incident(&opening, at(0)).unwrap();

    let incident = store.incident(&id).unwrap();
    let first = &store.events(&id).unwrap()[0];

    let expected = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        &opening.runbook_source,
    ));
    assert_eq!(incident.runbook_sha256, expected);
    assert_eq!(incident.runbook_source, opening.runbook_source);
    let Event::IncidentOpened {
        runbook_sha256,
        inputs,
        rehearsal,
        ..
    } = &first.event
    else {
        panic!("event 1 is {:?}", first.event);
    };
    assert_eq!(runbook_sha256, &expected);
    assert_eq!(inputs, &opening.inputs);
    assert!(!rehearsal);
}

#[test]
fn events_of_interleaved_incidents_stay_with_their_incident() {
    let (_dir, _path, mut store) = temp_store();
    let first = store.open_incident(&opening("first", true), at(0)).unwrap();
    let second = store
        .open_incident(&opening("second", false), at(1))
        .unwrap();

    for (minute, event) in walk().into_iter().enumerate() {
        let incident = if minute % 2 == 0 { &first } else { &second };
        store
            .append(incident, "alice", at(2 + minute as i64), &[event])
            .unwrap();
    }

    let kinds = |id| {
        store
            .events(id)
            .unwrap()
            .iter()
            .map(|r| r.event.kind())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&first),
        ["incident_opened", "node_entered", "note_added"]
    );
    assert_eq!(
        kinds(&second),
        ["incident_opened", "answer_given", "approval_granted"]
    );
    assert!(store.verify(&first, None).unwrap().is_ok());
    assert!(store.verify(&second, None).unwrap().is_ok());

    let mut streamed = Vec::new();
    store
        .for_each_event(None, |r| {
            streamed.push((r.incident, r.seq));
            Ok(())
        })
        .unwrap();
    let expected = [
        (first, 1),
        (first, 2),
        (first, 3),
        (second, 1),
        (second, 2),
        (second, 3),
    ];
    assert_eq!(streamed, expected);
}

#[test]
fn the_incident_list_shows_state_last_activity_outcome_and_event_count() {
    let (_dir, _path, mut store) = temp_store();
    let open = walked_incident(&mut store);
    let closed = store
        .open_incident(&opening("HSM-2 unreachable", false), at(10))
        .unwrap();
    store
        .append(&closed, "carol", at(12), &walk()[..1])
        .unwrap();
    store
        .close(&closed, "carol", at(30), closing(), &key(1))
        .unwrap();

    let list = store.incidents().unwrap();

    assert_eq!(
        list.iter().map(|i| i.id).collect::<Vec<_>>(),
        [open, closed]
    );
    let (open, closed) = (&list[0], &list[1]);
    assert_eq!(open.state, IncidentState::Open);
    assert_eq!(open.opened_at, at(0));
    assert_eq!(open.last_activity, at(1));
    assert_eq!((open.closed_at, open.outcome.as_deref()), (None, None));
    assert_eq!(open.event_count, 5);
    assert!(open.rehearsal);
    assert_eq!(open.title, "ZMK exposed in a ticket");

    assert_eq!(closed.state, IncidentState::Closed);
    assert_eq!(closed.last_activity, at(30));
    assert_eq!(closed.closed_at, Some(at(30)));
    assert_eq!(closed.outcome.as_deref(), Some("rotated"));
    assert_eq!(closed.event_count, 3);
    assert_eq!(closed.initiator, "alice");
    assert_eq!(store.incident(&closed.id).unwrap(), *closed);
}

#[test]
fn incident_numbers_count_from_1_and_display_as_inc_n() {
    let (_dir, _path, mut store) = temp_store();
    let first = store.open_incident(&opening("a", true), at(0)).unwrap();
    let second = store.open_incident(&opening("b", true), at(0)).unwrap();

    assert_eq!(
        (first.to_string(), second.to_string()),
        ("INC-1".into(), "INC-2".into())
    );
    assert_eq!(
        "inc-2".parse::<custos::store::IncidentId>().unwrap(),
        second
    );
}

#[test]
fn closing_seals_the_head_with_the_installation_key() {
    let (_dir, _path, mut store) = temp_store();
    let id = walked_incident(&mut store);

    let seal = store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();

    let records = store.events(&id).unwrap();
    assert_eq!(seal.head_seq, 6);
    assert_eq!(seal.head_hash, records[5].hash);
    assert_eq!(seal.public_key, key(1).verifying_key());
    assert_eq!(store.seal(&id).unwrap(), Some(seal));
    let verification = store.verify(&id, Some(&key(1).verifying_key())).unwrap();
    assert!(verification.is_ok(), "{verification:?}");
    let public_key = public_key_text(&key(1).verifying_key());
    assert_eq!(
        verification.seal,
        SealStatus::Valid {
            public_key,
            trusted: true
        }
    );
}

#[test]
fn a_closed_incident_refuses_more_events_and_a_second_close() {
    let (_dir, _path, mut store) = temp_store();
    let id = walked_incident(&mut store);
    store
        .close(&id, "alice", at(9), closing(), &key(1))
        .unwrap();

    let append = store.append(&id, "bob", at(10), &walk()).unwrap_err();
    let close = store
        .close(&id, "bob", at(10), closing(), &key(1))
        .unwrap_err();

    let message = "incident `INC-1` is closed and sealed; it takes no more events";
    assert_eq!(append.to_string(), message);
    assert_eq!(close.to_string(), message);
    assert_eq!(store.events(&id).unwrap().len(), 6);
}

#[test]
fn append_refuses_opening_and_closing_events_and_writes_nothing() {
    let (_dir, _path, mut store) = temp_store();
    let id = walked_incident(&mut store);

    let mut events = walk();
    events.push(closing());
    let error = store.append(&id, "alice", at(5), &events).unwrap_err();

    assert_eq!(
        error.to_string(),
        "`incident_closed` events cannot be appended to incident `INC-1`; only `close` writes \
         them"
    );
    assert_eq!(store.events(&id).unwrap().len(), 5);
}

#[test]
fn close_refuses_an_event_that_is_not_incident_closed() {
    let (_dir, _path, mut store) = temp_store();
    let id = walked_incident(&mut store);

    let error = store
        .close(&id, "alice", at(5), walk().remove(0), &key(1))
        .unwrap_err();

    assert_eq!(
        error.to_string(),
        "incident `INC-1` can only be closed with an `incident_closed` event, not `node_entered`"
    );
}

#[test]
fn an_unknown_incident_is_an_error_naming_it_and_the_log() {
    let (_dir, path, mut store) = temp_store();
    let id = "INC-7".parse().unwrap();

    let expected = format!(
        "there is no incident `INC-7` in the incident log `{}`",
        path.display()
    );
    assert_eq!(store.incident(&id).unwrap_err().to_string(), expected);
    assert_eq!(store.events(&id).unwrap_err().to_string(), expected);
    assert_eq!(store.verify(&id, None).unwrap_err().to_string(), expected);
    assert_eq!(
        store
            .append(&id, "a", at(0), &walk())
            .unwrap_err()
            .to_string(),
        expected
    );
}

#[test]
fn an_opened_store_is_in_wal_mode_with_full_synchronous_writes() {
    let (_dir, _path, store) = temp_store();

    let durability = store.durability().unwrap();

    assert_eq!(durability.journal_mode, "wal");
    assert_eq!(durability.synchronous, 2, "2 is FULL");
    assert_eq!(durability.busy_timeout_ms, 10_000);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_as_not_a_custos_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "x".repeat(4096)).unwrap();

    let error = Store::open(&path).err().unwrap();

    assert!(matches!(error, StoreError::NotACustosStore { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is not a custos incident log (it is not an SQLite database); point \
             `CUSTOS_STORE` at another file or move this one away",
            path.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "x".repeat(4096));
}

#[test]
fn another_programs_sqlite_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(other);

    let error = Store::open(&path).err().unwrap();

    assert_eq!(
        error.to_string(),
        format!(
            "`{}` is not a custos incident log (it is an SQLite database of another program); \
             point `CUSTOS_STORE` at another file or move this one away",
            path.display()
        )
    );
    let other = rusqlite::Connection::open(&path).unwrap();
    let mode: String = other
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

#[test]
fn a_database_with_another_application_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let other = rusqlite::Connection::open(&path).unwrap();
    other.pragma_update(None, "application_id", 7).unwrap();
    drop(other);

    let error = Store::open(&path).err().unwrap();

    assert!(
        error
            .to_string()
            .contains("its SQLite application id is 0x7, not custos's")
    );
}

#[test]
fn a_log_from_a_newer_schema_is_refused_with_both_versions() {
    let (_dir, path, store) = temp_store();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 9).unwrap();
    drop(conn);

    let error = Store::open(&path).err().unwrap();

    assert_eq!(
        error.to_string(),
        format!(
            "the incident log `{}` has schema version 9, but this custos reads up to version 1; \
             upgrade custos before opening it",
            path.display()
        )
    );
}

#[test]
fn reopening_a_log_keeps_its_incidents() {
    let (_dir, path, mut store) = temp_store();
    let id = walked_incident(&mut store);
    drop(store);

    let store = Store::open(&path).unwrap();

    assert_eq!(store.events(&id).unwrap().len(), 5);
    assert!(store.verify(&id, None).unwrap().is_ok());
}

#[test]
fn the_guard_triggers_refuse_editing_and_deleting_events() {
    let (_dir, path, mut store) = temp_store();
    walked_incident(&mut store);
    let conn = rusqlite::Connection::open(&path).unwrap();

    let update = conn
        .execute("UPDATE events SET actor = 'mallory'", [])
        .unwrap_err();
    let delete = conn.execute("DELETE FROM events", []).unwrap_err();

    assert!(update.to_string().contains("custos events are append-only"));
    assert!(delete.to_string().contains("custos events are append-only"));
}
