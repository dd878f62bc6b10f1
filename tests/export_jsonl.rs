//! `custos export --format jsonl` and `custos verify --export`: filters, the lossless round
//! trip, offline verification, and tampered exports rejected with the incident and event named.

#![allow(clippy::unwrap_used)]

mod export_common;
mod support;

use export_common::{Mixed, ids, manifest, verify_alone};

#[test]
fn only_real_incidents_are_exported_unless_drills_are_included() {
    let mixed = Mixed::new();
    assert_eq!(ids(&mixed.export("real.jsonl", &[])), ["INC-2", "INC-3"]);

    let all = mixed.export("all.jsonl", &["--include-drills"]);
    assert_eq!(ids(&all), ["INC-1", "INC-2", "INC-3", "INC-4"]);
    assert_eq!(manifest(&all)["filters"]["include_drills"], true);
}

#[test]
fn filters_select_by_runbook_severity_time_and_id_and_are_recorded_in_the_manifest() {
    let mixed = Mixed::new();
    let by_runbook = mixed.export("a.jsonl", &["--runbook", "card-escalated"]);
    assert_eq!(ids(&by_runbook), ["INC-3"]);
    assert_eq!(
        manifest(&by_runbook)["filters"]["runbook"],
        "card-escalated"
    );

    let by_severity = mixed.export("b.jsonl", &["--severity", "medium", "--include-drills"]);
    assert_eq!(ids(&by_severity), ["INC-1", "INC-2", "INC-4"]);

    let window = [
        "--include-drills",
        "--since",
        "2026-01-01",
        "--until",
        "2026-06-01",
    ];
    assert_eq!(ids(&mixed.export("c.jsonl", &window)), ["INC-1", "INC-4"]);
    let before = ["--include-drills", "--until", "2026-05-31T23:59:59Z"];
    assert_eq!(ids(&mixed.export("d.jsonl", &before)), ["INC-1"]);

    let listed = ["--include-drills", "--incident", "INC-4", "--incident", "2"];
    let listed = mixed.export("e.jsonl", &listed);
    assert_eq!(ids(&listed), ["INC-2", "INC-4"]);
    assert_eq!(
        manifest(&listed)["filters"]["incidents"],
        serde_json::json!(["INC-4", "INC-2"])
    );
}

#[test]
fn a_time_that_is_neither_rfc_3339_nor_a_date_is_a_usage_error() {
    let mixed = Mixed::new();
    let run = mixed.custos(&["export", "--since", "last week"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("`last week` is not a time; write an RFC 3339 time"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_export_holds_the_stored_bodies_and_hashes_byte_for_byte() {
    let mixed = Mixed::new();
    let text = mixed.export("all.jsonl", &["--include-drills"]);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 4 * 14);

    let connection = rusqlite::Connection::open(mixed.store()).unwrap();
    let mut statement = connection
        .prepare("SELECT body, prev_hash, hash FROM events ORDER BY incident, seq")
        .unwrap();
    let stored: Vec<(String, String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (line, (body, prev_hash, hash)) in lines.iter().zip(&stored) {
        let expected = format!(r#"{{"prev_hash":"{prev_hash}","hash":"{hash}","body":{body}}}"#);
        assert_eq!(*line, expected);
    }

    let entry = &manifest(&text)["incidents"][1];
    assert_eq!(entry["events"], 14);
    assert_eq!(entry["head"]["hash"], stored[27].2.as_str());
    assert_eq!(entry["seal"]["head_seq"], 14);
    let key = mixed.custos(&["key", "export"]).stdout;
    assert_eq!(manifest(&text)["installation_key"], key.trim());
    assert_eq!(entry["seal"]["public_key"], key.trim());
}

#[test]
fn an_untouched_export_verifies_on_another_machine_without_the_store() {
    let mixed = Mixed::new();
    mixed.export("all.jsonl", &["--include-drills"]);
    let key = mixed.custos(&["key", "export"]).stdout;

    let run = verify_alone(&mixed.path("all.jsonl"), &["--trusted-key", key.trim()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "INC-1: ok, 14 events, sealed, seal verified\n\
         INC-2: ok, 14 events, sealed, seal verified\n\
         INC-3: ok, 14 events, sealed, seal verified\n\
         INC-4: ok, 14 events, sealed, seal verified\n"
    );
}

/// Exports everything, applies `change` to the lines, and verifies the result alone.
fn tampered(change: impl FnOnce(&mut Vec<String>)) -> support::cli::Run {
    let mixed = Mixed::new();
    let text = mixed.export("all.jsonl", &["--include-drills"]);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    change(&mut lines);
    let file = mixed.write("tampered.jsonl", &(lines.join("\n") + "\n"));
    let run = verify_alone(&file, &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    run
}

#[test]
fn changing_one_byte_of_a_body_names_the_incident_and_the_event() {
    // Line 1 is the manifest, lines 2 to 15 are INC-1: event 4 of INC-2 is line 19.
    let run = tampered(|lines| lines[18] = lines[18].replacen("night guard", "night guarb", 1));
    assert!(
        run.stdout.contains(
            "FAILED: INC-2: event 4: line 19: the body does not hash to the recorded `hash`: \
             the event was changed\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("INC-1: ok, 14 events"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("INC-3: ok, 14 events"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_changed_body_with_rehashed_lines_still_fails_at_the_seal_or_head() {
    // Recompute every hash of INC-1 after the change, as a careful forger would.
    let run = tampered(|lines| {
        use sha2::{Digest, Sha256};
        lines[4] = lines[4].replacen("night guard", "day guard", 1);
        let mut prev: [u8; 32] = Sha256::digest(b"custos-genesis-v1:INC-1").into();
        for line in lines.iter_mut().skip(1).take(14) {
            let body = &line[line.find(r#""body":"#).unwrap() + 7..line.len() - 1];
            let mut hasher = Sha256::new();
            hasher.update(prev);
            hasher.update(body.as_bytes());
            let hash: [u8; 32] = hasher.finalize().into();
            *line = format!(
                r#"{{"prev_hash":"{}","hash":"{}","body":{body}}}"#,
                hex::encode(prev),
                hex::encode(hash)
            );
            prev = hash;
        }
    });
    assert!(
        run.stdout
            .contains("FAILED: INC-1: event 14: the chain ends in a head other than"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_dropped_line_is_detected_where_the_gap_is() {
    let run = tampered(|lines| {
        lines.remove(20);
    });
    assert!(
        run.stdout.contains(
            "FAILED: INC-2: event 7: line 21: found where event 6 should be: events were \
             removed, reordered or inserted\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_dropped_last_event_is_detected_against_the_manifest() {
    let run = tampered(|lines| {
        lines.pop();
    });
    assert!(
        run.stdout
            .contains("FAILED: INC-4: event 13: the export holds 13 events but the manifest"),
        "{}",
        run.stdout
    );
}

#[test]
fn reordered_lines_are_detected() {
    let run = tampered(|lines| lines.swap(5, 6));
    assert!(
        run.stdout
            .contains("FAILED: INC-1: event 6: line 6: found where event 5 should be"),
        "{}",
        run.stdout
    );

    let run = tampered(|lines| {
        let second: Vec<String> = lines.drain(15..29).collect();
        lines.splice(1..1, second);
    });
    assert!(
        run.stdout
            .contains("FAILED: line 2: an event of INC-2 where the events of INC-1 were expected"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_altered_manifest_head_is_detected() {
    let run = tampered(|lines| {
        let mut line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        line["manifest"]["incidents"][2]["head"]["hash"] = "00".repeat(32).into();
        lines[0] = line.to_string();
    });
    assert!(
        run.stdout
            .contains("FAILED: INC-3: event 14: the chain ends in a head other than"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_export_without_its_manifest_is_rejected() {
    let run = tampered(|lines| {
        lines.remove(0);
    });
    assert!(
        run.stdout
            .starts_with("FAILED: line 1: line 1 is not the manifest of a custos export"),
        "{}",
        run.stdout
    );
}

#[test]
fn seals_made_with_another_key_than_the_trusted_one_are_rejected() {
    let mixed = Mixed::new();
    mixed.export("all.jsonl", &["--include-drills"]);
    let other = format!(
        "ed25519:{}",
        hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[9; 32])
                .verifying_key()
                .as_bytes(),
        )
    );

    let run = verify_alone(&mixed.path("all.jsonl"), &["--trusted-key", &other]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("FAILED: INC-1: event 14: the seal was made with `"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("not the trusted key `{other}`")),
        "{}",
        run.stdout
    );

    let run = verify_alone(&mixed.path("all.jsonl"), &["--trusted-key", "ed25519:zz"]);
    assert_eq!(run.code, 2);
}

#[test]
fn a_swapped_manifest_key_with_a_resigned_seal_is_caught_by_the_trusted_key() {
    let mixed = Mixed::new();
    let text = mixed.export("all.jsonl", &["--include-drills", "--incident", "INC-2"]);
    let real_key = mixed.custos(&["key", "export"]).stdout;

    // A forger re-signs INC-2's head with a key of their own and names it everywhere.
    let forger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let forger_key = format!("ed25519:{}", hex::encode(forger.verifying_key().as_bytes()));
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let seal = &mut first["manifest"]["incidents"][0]["seal"];
    let message = format!(
        "custos-seal-v1:INC-2:14:{}",
        seal["head_hash"].as_str().unwrap()
    );
    use ed25519_dalek::Signer;
    seal["signature"] = hex::encode(forger.sign(message.as_bytes()).to_bytes()).into();
    seal["public_key"] = forger_key.clone().into();
    first["manifest"]["installation_key"] = forger_key.into();
    lines[0] = first.to_string();
    let file = mixed.write("forged.jsonl", &(lines.join("\n") + "\n"));

    assert_eq!(
        verify_alone(&file, &[]).code,
        0,
        "without a trusted key the forgery holds"
    );
    let run = verify_alone(&file, &["--trusted-key", real_key.trim()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("FAILED: INC-2: event 14: the seal was made with"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_csv_export_has_a_manifest_row_and_one_row_per_event() {
    let mixed = Mixed::new();
    let text = mixed.export("real.csv", &["--format", "csv"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "record,incident,seq,at,written_at,actor,rehearsal,kind,node,detail,prev_hash,hash"
    );
    assert!(lines[1].starts_with("manifest,,,,,,,,,\"{\"\"format\"\":\"\"custos-export-v1\"\""));
    assert_eq!(lines.len(), 2 + 2 * 14);
    assert!(lines[2].starts_with("event,INC-2,1,"), "{}", lines[2]);
    assert!(
        lines[3].contains(",bob,false,node_entered,intake,{},"),
        "{}",
        lines[3]
    );
}
