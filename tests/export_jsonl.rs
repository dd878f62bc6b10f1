//! `custos export --format jsonl` and `custos verify --export`: filters, the lossless round
//! trip, offline verification, and tampered exports rejected with the incident and event named.

#![allow(clippy::unwrap_used)]

mod export_common;
mod support;

use export_common::{Mixed, edit_manifest, ids, manifest, sign_manifest, verify_alone};

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
    let lines: Vec<&str> = text.lines().skip(2).collect();
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
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        format!("manifest: signed by the trusted key {}\n", key.trim())
            + "INC-1: ok, 14 events, sealed, seal verified\n\
         INC-2: ok, 14 events, sealed, seal verified\n\
         INC-3: ok, 14 events, sealed, seal verified\n\
         INC-4: ok, 14 events, sealed, seal verified\n"
    );
}

#[test]
fn without_a_trusted_key_the_result_names_the_signer_and_warns_it_is_self_attested() {
    let mixed = Mixed::new();
    mixed.export("all.jsonl", &["--include-drills"]);
    let key = mixed.public_key();

    let run = verify_alone(&mixed.path("all.jsonl"), &[]);

    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!(
            "manifest: signed by {key}, not checked against a trusted key\nINC-1: ok, 14 events"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        format!(
            "custos: warning: without `--trusted-key` this result is self-attested: it shows \
             the export agrees with itself and with the key it names, which anyone can make; \
             compare {key} with the installation's published key (`custos key export` on the \
             exporting machine) or pass it as `--trusted-key`\n"
        )
    );
}

/// Exports everything, applies `change` to the lines, and verifies the result alone.
fn tampered(change: impl FnOnce(&mut Vec<String>)) -> support::cli::Run {
    let mixed = Mixed::new();
    let text = mixed.export("all.jsonl", &["--include-drills"]);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    change(&mut lines);
    rejected(&mixed, "tampered.jsonl", &lines, &[])
}

/// Writes `lines` as `name` and verifies it alone with `extra` arguments, expecting exit 1.
fn rejected(mixed: &Mixed, name: &str, lines: &[String], extra: &[&str]) -> support::cli::Run {
    let file = mixed.write(name, &(lines.join("\n") + "\n"));
    let run = verify_alone(&file, extra);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    run
}

/// The lines of an export of every incident, and the store it came from.
fn exported() -> (Mixed, Vec<String>) {
    let mixed = Mixed::new();
    let text = mixed.export("all.jsonl", &["--include-drills"]);
    (mixed, text.lines().map(str::to_owned).collect())
}

const SIGNATURE_BROKEN: &str = "FAILED: line 2: the manifest signature does not verify: line 1 \
                                was changed after it was signed\n";

#[test]
fn changing_one_byte_of_a_body_names_the_incident_and_the_event() {
    // Line 1 is the manifest, line 2 its signature, lines 3 to 16 are INC-1: event 4 of INC-2
    // is line 20.
    let run = tampered(|lines| lines[19] = lines[19].replacen("night guard", "night guarb", 1));
    assert!(
        run.stdout.contains(
            "FAILED: INC-2: event 4: line 20: `hash` is not what the body hashes to: the event \
             was changed\n"
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
        lines[5] = lines[5].replacen("night guard", "day guard", 1);
        let mut prev: [u8; 32] = Sha256::digest(b"custos-genesis-v1:INC-1").into();
        for line in lines.iter_mut().skip(2).take(14) {
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
        lines.remove(21);
    });
    assert!(
        run.stdout.contains(
            "FAILED: INC-2: event 7: line 22: found where event 6 should be: events were \
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
    let run = tampered(|lines| lines.swap(6, 7));
    assert!(
        run.stdout
            .contains("FAILED: INC-1: event 6: line 7: found where event 5 should be"),
        "{}",
        run.stdout
    );

    let run = tampered(|lines| {
        let second: Vec<String> = lines.drain(16..30).collect();
        lines.splice(2..2, second);
    });
    assert!(
        run.stdout
            .contains("FAILED: line 3: an event of INC-2 where the events of INC-1 were expected"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("an event of INC-2").count(),
        1,
        "a run of stray lines is reported once: {}",
        run.stdout
    );
}

#[test]
fn an_altered_manifest_head_breaks_the_signature_and_re_signed_still_fails() {
    let (mixed, mut lines) = exported();
    edit_manifest(&mut lines, |manifest| {
        manifest["incidents"][2]["head"]["hash"] = "00".repeat(32).into();
        manifest["incidents"][2]["seal"]["head_hash"] = "00".repeat(32).into();
    });
    let run = rejected(&mixed, "head.jsonl", &lines, &[]);
    assert_eq!(run.stdout, SIGNATURE_BROKEN);

    sign_manifest(&mut lines, &mixed.signing_key());
    let run = rejected(&mixed, "head-signed.jsonl", &lines, &[]);
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
fn an_export_signed_by_another_key_than_the_trusted_one_is_rejected() {
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
    assert_eq!(
        run.stdout,
        format!(
            "FAILED: line 2: the manifest was signed with `{}`, not the trusted key `{other}`\n",
            mixed.public_key()
        )
    );

    let run = verify_alone(&mixed.path("all.jsonl"), &["--trusted-key", "ed25519:zz"]);
    assert_eq!(run.code, 2);
}

/// A forger's key, and its text.
fn forger() -> (ed25519_dalek::SigningKey, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let text = format!("ed25519:{}", hex::encode(key.verifying_key().as_bytes()));
    (key, text)
}

#[test]
fn an_export_rebuilt_and_re_signed_with_another_key_fails_against_the_trusted_key() {
    let mixed = Mixed::new();
    let text = mixed.export("all.jsonl", &["--include-drills", "--incident", "INC-2"]);
    let real_key = mixed.public_key();

    // A forger re-signs INC-2's head and the manifest with a key of their own, named everywhere.
    let (forger, forger_key) = forger();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit_manifest(&mut lines, |manifest| {
        let seal = &mut manifest["incidents"][0]["seal"];
        let message = format!(
            "custos-seal-v1:INC-2:14:{}",
            seal["head_hash"].as_str().unwrap()
        );
        use ed25519_dalek::Signer;
        seal["signature"] = hex::encode(forger.sign(message.as_bytes()).to_bytes()).into();
        seal["public_key"] = forger_key.clone().into();
        manifest["installation_key"] = forger_key.clone().into();
    });
    sign_manifest(&mut lines, &forger);
    let file = mixed.write("forged.jsonl", &(lines.join("\n") + "\n"));

    let alone = verify_alone(&file, &[]);
    assert_eq!(alone.code, 0, "without a trusted key the forgery holds");
    assert!(
        alone.stdout.starts_with(&format!(
            "manifest: signed by {forger_key}, not checked against a trusted key\n"
        )),
        "{}",
        alone.stdout
    );
    assert!(alone.stderr.contains("this result is self-attested"));

    let run = rejected(
        &mixed,
        "forged.jsonl",
        &lines,
        &["--trusted-key", &real_key],
    );
    assert_eq!(
        run.stdout,
        format!(
            "FAILED: line 2: the manifest was signed with `{forger_key}`, not the trusted key \
             `{real_key}`\n"
        )
    );
}

#[test]
fn a_sealed_incident_cut_short_with_its_manifest_rewritten_is_rejected() {
    let (mixed, lines) = exported();
    let real_key = mixed.public_key();

    // INC-2 (lines 17 to 30) loses its last four events and the manifest says it is open.
    let mut cut = lines.clone();
    cut.drain(26..30);
    let head: serde_json::Value = serde_json::from_str(&cut[25]).unwrap();
    edit_manifest(&mut cut, |manifest| {
        let entry = &mut manifest["incidents"][1];
        entry["events"] = 10.into();
        entry["head"] = serde_json::json!({"seq": 10, "hash": head["hash"]});
        entry["seal"] = serde_json::Value::Null;
        entry["closed_at"] = serde_json::Value::Null;
        entry["outcome"] = serde_json::Value::Null;
    });
    let run = rejected(&mixed, "cut.jsonl", &cut, &["--trusted-key", &real_key]);
    assert_eq!(run.stdout, SIGNATURE_BROKEN);

    // Re-signed with another key, it fails against the trusted key.
    let (forger, forger_key) = forger();
    edit_manifest(&mut cut, |manifest| {
        manifest["installation_key"] = forger_key.clone().into();
    });
    sign_manifest(&mut cut, &forger);
    let run = rejected(
        &mixed,
        "cut-forged.jsonl",
        &cut,
        &["--trusted-key", &real_key],
    );
    assert_eq!(
        run.stdout,
        format!(
            "FAILED: line 2: the manifest was signed with `{forger_key}`, not the trusted key \
             `{real_key}`\n"
        )
    );

    // Signed with the real key but still claiming to be closed, the cut shows at the head.
    let mut cut = lines;
    cut.drain(26..30);
    edit_manifest(&mut cut, |manifest| {
        let entry = &mut manifest["incidents"][1];
        entry["events"] = 10.into();
        entry["head"] = serde_json::json!({"seq": 10, "hash": head["hash"]});
        entry["seal"] = serde_json::Value::Null;
    });
    sign_manifest(&mut cut, &mixed.signing_key());
    let run = rejected(
        &mixed,
        "cut-closed.jsonl",
        &cut,
        &["--trusted-key", &real_key],
    );
    assert!(
        run.stdout
            .contains("FAILED: INC-2: event 10: the manifest's `closed_at` is `"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("but event 10, the last, is not `incident_closed`\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_whole_incident_dropped_from_the_manifest_and_the_lines_is_rejected() {
    let (mixed, mut lines) = exported();
    lines.drain(16..30);
    edit_manifest(&mut lines, |manifest| {
        manifest["incidents"].as_array_mut().unwrap().remove(1);
    });

    let run = rejected(&mixed, "dropped.jsonl", &lines, &[]);

    assert_eq!(run.stdout, SIGNATURE_BROKEN);
}

#[test]
fn changing_any_manifest_field_breaks_its_signature() {
    let (mixed, lines) = exported();
    let changes: [(&str, serde_json::Value); 6] = [
        ("/incidents/0/title", "Another title".into()),
        ("/incidents/3/outcome", "false alarm".into()),
        ("/incidents/1/opened_at", "2026-01-15T03:00:01Z".into()),
        ("/filters/include_drills", false.into()),
        ("/custos_version", "9.9.9".into()),
        ("/exported_at", "2030-01-01T00:00:00Z".into()),
    ];
    for (pointer, value) in changes {
        let mut changed = lines.clone();
        edit_manifest(&mut changed, |manifest| {
            *manifest.pointer_mut(pointer).unwrap() = value;
        });
        let run = rejected(&mixed, "changed.jsonl", &changed, &[]);
        assert_eq!(run.stdout, SIGNATURE_BROKEN, "{pointer}");
    }
}

#[test]
fn every_manifest_field_is_held_to_the_events_even_when_the_manifest_is_signed() {
    // As if the store had been edited before an honest export: the real key signs.
    let (mixed, lines) = exported();
    let key = mixed.signing_key();
    let drill = &lines[2][lines[2].find(r#""at":""#).unwrap() + 6..];
    let opened = &drill[..drill.find('"').unwrap()];
    let changes: Vec<(&str, serde_json::Value, String)> = vec![
        (
            "/incidents/0/title",
            "Another title".into(),
            "INC-1: event 1: line 3: the manifest's `title` is `Another title`, but event 1 \
             records `Triage a reported smart card problem`"
                .into(),
        ),
        (
            "/incidents/0/runbook_id",
            "card-escalated".into(),
            "INC-1: event 1: line 3: the manifest's `runbook_id` is `card-escalated`".into(),
        ),
        (
            "/incidents/0/runbook_version",
            7.into(),
            "INC-1: event 1: line 3: the manifest's `runbook_version` is `7`, but event 1 \
             records `1`"
                .into(),
        ),
        (
            "/incidents/0/runbook_sha256",
            "ab".repeat(32).into(),
            "INC-1: event 1: line 3: the manifest's `runbook_sha256` is `abab".into(),
        ),
        (
            "/incidents/0/severity",
            "critical".into(),
            "INC-1: event 1: line 3: the manifest's `severity` is `critical`, but event 1 \
             records `medium`"
                .into(),
        ),
        (
            "/incidents/1/rehearsal",
            true.into(),
            "INC-2: event 1: line 17: the manifest's `rehearsal` is `true`, but event 1 \
             records `false`"
                .into(),
        ),
        (
            "/incidents/0/opened_at",
            "2026-01-15T02:59:59Z".into(),
            format!(
                "INC-1: event 1: line 3: the manifest's `opened_at` is `2026-01-15T02:59:59Z`, \
                 but event 1 records `{opened}`"
            ),
        ),
        (
            "/incidents/0/closed_at",
            "2026-01-15T04:00:00Z".into(),
            "INC-1: event 14: the manifest's `closed_at` is `2026-01-15T04:00:00Z`, but event \
             14 records `"
                .into(),
        ),
        (
            "/incidents/0/outcome",
            "false alarm".into(),
            "INC-1: event 14: the manifest's `outcome` is `false alarm`, but event 14 records `"
                .into(),
        ),
        (
            "/incidents/0/closed_at",
            serde_json::Value::Null,
            "INC-1: event 14: the manifest's `closed_at` is `null`, but event 14 records `".into(),
        ),
        (
            "/incidents/0/seal",
            serde_json::Value::Null,
            "INC-1: event 14: event 14 closes the incident, but the manifest carries no seal: \
             the seal was removed"
                .into(),
        ),
        (
            "/incidents/0/seal/sealed_at",
            "2000-01-01T00:00:00Z".into(),
            "INC-1: event 14: the manifest's `sealed_at` `2000-01-01T00:00:00Z` is before \
             event 14, the closing event, was written at `"
                .into(),
        ),
        (
            "/incidents/0/events",
            13.into(),
            "INC-1: line 1: the manifest's `head` is event 14, but it lists 13 events".into(),
        ),
        (
            "/incidents/0/seal/head_seq",
            13.into(),
            "INC-1: line 1: the manifest's seal covers event 13, not the manifest's `head`".into(),
        ),
        (
            "/incidents/0/id",
            "INC-01".into(),
            "line 1: the manifest lists `INC-01`, which is not an incident id".into(),
        ),
        (
            "/custos_version",
            "latest".into(),
            "line 1: the manifest's `custos_version` `latest` is not a version number".into(),
        ),
        (
            "/exported_at",
            "yesterday".into(),
            "line 1: the manifest's `exported_at` `yesterday` is not a time".into(),
        ),
        (
            "/filters/include_drills",
            false.into(),
            "INC-1: line 1: the manifest's filters leave this incident out (it is a drill and \
             `include_drills` is false), yet it is listed"
                .into(),
        ),
        (
            "/filters/runbook",
            "card-escalated".into(),
            "INC-1: line 1: the manifest's filters leave this incident out (its runbook is not \
             the `runbook` filter's), yet it is listed"
                .into(),
        ),
        (
            "/filters/since",
            "2026-02-01".into(),
            "INC-1: line 1: the manifest's filters leave this incident out (it was opened \
             before `since`), yet it is listed"
                .into(),
        ),
        (
            "/filters/until",
            "soon".into(),
            "line 1: the manifest's `until` filter: `soon` is not a time".into(),
        ),
        (
            "/installation_key",
            forger().1.into(),
            "line 1: the manifest's `installation_key` is `ed25519:".into(),
        ),
        (
            "/incidents/0/seal/public_key",
            forger().1.into(),
            "INC-1: event 14: the seal was made with `ed25519:".into(),
        ),
    ];

    for (pointer, value, expected) in changes {
        let mut changed = lines.clone();
        edit_manifest(&mut changed, |manifest| {
            *manifest.pointer_mut(pointer).unwrap() = value;
        });
        sign_manifest(&mut changed, &key);
        let run = rejected(&mixed, "changed.jsonl", &changed, &[]);
        assert!(
            run.stdout.contains(&format!("FAILED: {expected}")),
            "{pointer}: {}",
            run.stdout
        );
    }
}

#[test]
fn a_manifest_of_another_format_is_refused_by_name() {
    let (mixed, mut lines) = exported();
    edit_manifest(&mut lines, |manifest| {
        manifest["format"] = "custos-export-v1".into();
    });
    let run = rejected(&mixed, "v1.jsonl", &lines, &[]);
    assert_eq!(
        run.stdout,
        "FAILED: line 1: the manifest names the format \"custos-export-v1\"; this custos reads \
         `custos-export-v2`\n"
    );
}

#[test]
fn an_unknown_key_in_the_manifest_or_its_signature_is_rejected() {
    let (mixed, lines) = exported();
    let key = mixed.signing_key();
    for pointer in ["", "/incidents/1", "/incidents/1/seal", "/filters"] {
        let mut changed = lines.clone();
        edit_manifest(&mut changed, |manifest| {
            let object = manifest.pointer_mut(pointer).unwrap();
            object["approved_by_auditor"] = true.into();
        });
        let run = rejected(&mixed, "unknown.jsonl", &changed, &[]);
        assert_eq!(run.stdout, SIGNATURE_BROKEN, "{pointer}");

        sign_manifest(&mut changed, &key);
        let run = rejected(&mixed, "unknown-signed.jsonl", &changed, &[]);
        assert!(
            run.stdout.starts_with(
                "FAILED: line 1: the manifest does not have the form custos writes: unknown \
                 field `approved_by_auditor`"
            ),
            "{pointer}: {}",
            run.stdout
        );
    }

    let mut changed = lines;
    changed[1] = changed[1].replacen('{', r#"{"note":"x","#, 1);
    let run = rejected(&mixed, "unknown-line-2.jsonl", &changed, &[]);
    assert!(
        run.stdout.starts_with(
            "FAILED: line 2: line 2 is not the signature of the manifest: unknown field `note`"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn hex_written_in_upper_case_is_a_changed_byte() {
    let (mixed, lines) = exported();
    let key = mixed.signing_key();
    let upper = |line: &str, field: &str| {
        let start = line.find(&format!(r#""{field}":""#)).unwrap() + field.len() + 4;
        let mut line = line.to_owned();
        let digits = line[start..start + 64].to_uppercase();
        line.replace_range(start..start + 64, &digits);
        line
    };

    let mut changed = lines.clone();
    changed[19] = upper(&changed[19], "hash");
    let run = rejected(&mixed, "upper.jsonl", &changed, &[]);
    assert!(
        run.stdout.contains(
            "FAILED: INC-2: event 4: line 20: `hash` is written in upper case; an export holds \
             lowercase hex only\n"
        ),
        "{}",
        run.stdout
    );

    let mut changed = lines.clone();
    changed[19] = upper(&changed[19], "prev_hash");
    let run = rejected(&mixed, "upper-prev.jsonl", &changed, &[]);
    assert!(
        run.stdout.contains(
            "FAILED: INC-2: event 4: line 20: `prev_hash` is written in upper case; an export \
             holds lowercase hex only\n"
        ),
        "{}",
        run.stdout
    );

    let mut changed = lines.clone();
    changed[1] = changed[1].replace(
        &manifest(&lines.join("\n"))["installation_key"]
            .as_str()
            .unwrap()[8..],
        &mixed.public_key()[8..].to_uppercase(),
    );
    let run = rejected(&mixed, "upper-signer.jsonl", &changed, &[]);
    assert!(
        run.stdout.contains("is not written in lowercase hex"),
        "{}",
        run.stdout
    );

    let mut changed = lines.clone();
    let signature = serde_json::from_str::<serde_json::Value>(&changed[1]).unwrap()
        ["manifest_signature"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    changed[1] = changed[1].replace(&signature, &signature.to_uppercase());
    let run = rejected(&mixed, "upper-signature.jsonl", &changed, &[]);
    assert_eq!(
        run.stdout,
        "FAILED: line 2: the manifest signature is not 64 bytes in lowercase hex\n"
    );

    for (pointer, expected) in [
        (
            "/incidents/0/seal/signature",
            "INC-1: event 14: the seal's signature is not 64 bytes in lowercase hex",
        ),
        (
            "/incidents/0/head/hash",
            "INC-1: line 1: the manifest's seal covers event 14, not the manifest's `head`",
        ),
        (
            "/incidents/0/runbook_sha256",
            "INC-1: event 1: line 3: the manifest's `runbook_sha256` is `",
        ),
    ] {
        let mut changed = lines.clone();
        edit_manifest(&mut changed, |manifest| {
            let value = manifest.pointer_mut(pointer).unwrap();
            *value = value.as_str().unwrap().to_uppercase().into();
        });
        sign_manifest(&mut changed, &key);
        let run = rejected(&mixed, "upper-manifest.jsonl", &changed, &[]);
        assert!(
            run.stdout.contains(&format!("FAILED: {expected}")),
            "{pointer}: {}",
            run.stdout
        );
    }
}

#[test]
fn the_committed_drill_export_verifies_and_its_report_shows_the_same_head_and_seal() {
    let export = support::cli::repo().join("examples/drill-export.jsonl");
    let text = std::fs::read_to_string(&export).unwrap();
    let entry = &manifest(&text)["incidents"][0];
    let key = manifest(&text)["installation_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let run = verify_alone(&export, &["--trusted-key", &key]);

    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "manifest: signed by the trusted key {key}\nINC-1: ok, {} events, sealed, seal \
             verified\n",
            entry["events"]
        )
    );
    assert_eq!(entry["runbook_id"], "secondary-hsm-unreachable");
    assert_eq!(entry["rehearsal"], true);

    let report =
        std::fs::read_to_string(support::cli::repo().join("examples/drill-report.html")).unwrap();
    for value in [
        entry["head"]["hash"].as_str().unwrap(),
        entry["seal"]["signature"].as_str().unwrap(),
        entry["seal"]["public_key"].as_str().unwrap(),
        entry["opened_at"].as_str().unwrap(),
    ] {
        assert!(report.contains(value), "the report lacks {value}");
    }
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
    assert!(lines[1].starts_with("manifest,,,,,,,,,\"{\"\"format\"\":\"\"custos-export-v2\"\""));
    assert_eq!(lines.len(), 2 + 2 * 14);
    assert!(lines[2].starts_with("event,INC-2,1,"), "{}", lines[2]);
    assert!(
        lines[3].contains(",bob,false,node_entered,intake,{},"),
        "{}",
        lines[3]
    );
}
