//! `custos approve` driven as a real process: grants, each refusal with its exit code, usage
//! errors, and approvals from second processes while another process holds the log and writes.

// The helpers stop the test at once on a failed fixture, as `unwrap` in a test does.
#![allow(clippy::unwrap_used)]

mod approval_common;
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use approval_common::*;
use custos::approval::quorum;
use custos::store::{Event, IncidentId, Store};
use support::cli::{Run, custos};

/// A policies directory with the shipped roster, a log, and alice's ceremony waiting at
/// `approve_generation`.
struct Setup {
    dir: tempfile::TempDir,
    store: PathBuf,
    incident: IncidentId,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        repo().join("policies/roster.yaml"),
        policies.join("roster.yaml"),
    )
    .unwrap();

    let store = dir.path().join("incidents.sqlite");
    let mut log = Store::open(&store).unwrap();
    let incident = open_ceremony(&mut log);
    enter(&mut log, &incident, "approve_generation", 1);
    Setup {
        dir,
        store,
        incident,
    }
}

impl Setup {
    fn policies(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    /// `custos approve INC-1 [extra...] --as PERSON` with the passphrase in `P`.
    fn approve(&self, person: &str, passphrase: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "--store".to_owned(),
            self.store.display().to_string(),
            "--policies".to_owned(),
            self.policies().display().to_string(),
            "approve".to_owned(),
            self.incident.to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.extend(["--as", person, "--passphrase-env", "P"].map(str::to_owned));
        custos().args(args).env("P", passphrase).run()
    }
}

fn refused(run: &Run, person: &str, reason: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "custos: refused: `{person}` may not approve `approve_generation` of INC-1: \
             {reason}\n"
        )
    );
}

#[test]
fn a_custodian_approves_from_another_process_and_sees_the_quorum_so_far() {
    let setup = setup();
    let run = setup.approve("bob", &passphrase("bob"), &[]);

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "granted: `bob` approves `approve_generation` of INC-1 as custodian\n\
         1 of 2 approvals at `approve_generation`: bob (custodian); quorum not met\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn a_wrong_passphrase_exits_1_and_is_not_printed() {
    let setup = setup();
    let run = setup.approve("bob", "not-bobs-passphrase", &[]);
    refused(&run, "bob", "wrong passphrase");
    assert_eq!(
        run.stdout,
        "0 of 2 approvals at `approve_generation`: nobody yet; quorum not met\n"
    );
    assert!(!run.stderr.contains("not-bobs-passphrase"));
}

#[test]
fn an_unknown_person_exits_1() {
    let setup = setup();
    let run = setup.approve("mallory", "mallory-passphrase", &[]);
    refused(&run, "mallory", "unknown person: not in the roster");
}

#[test]
fn a_person_without_the_role_exits_1() {
    let setup = setup();
    let run = setup.approve("dave", &passphrase("dave"), &[]);
    refused(&run, "dave", "missing role: needs one of custodian");
}

#[test]
fn the_initiator_exits_1_where_excluded() {
    let setup = setup();
    let run = setup.approve("alice", &passphrase("alice"), &[]);
    refused(
        &run,
        "alice",
        "initiator excluded: the person who opened the incident may not approve here",
    );
}

#[test]
fn the_same_person_twice_exits_1() {
    let setup = setup();
    assert_eq!(setup.approve("bob", &passphrase("bob"), &[]).code, 0);
    let run = setup.approve("bob", &passphrase("bob"), &[]);
    refused(&run, "bob", "already approved this visit of the node");
}

#[test]
fn a_revoked_person_exits_1() {
    let setup = setup();
    let run = custos()
        .args(["--policies", &setup.policies().display().to_string()])
        .args(["roster", "revoke", "erin", "--on", "2026-06-01"])
        .run();
    assert_eq!(run.code, 0, "{run:?}");

    let run = setup.approve("erin", &passphrase("erin"), &[]);
    refused(&run, "erin", "revoked on 2026-06-01");
}

#[test]
fn naming_a_node_that_is_not_an_approval_exits_2() {
    let setup = setup();
    let run = setup.approve("bob", &passphrase("bob"), &["health"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: node `health` of incident `INC-1` is not an approval node\n"
    );
}

#[test]
fn naming_an_approval_node_the_incident_is_not_at_exits_2() {
    let setup = setup();
    let run = setup.approve("bob", &passphrase("bob"), &["approve_record"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: incident `INC-1` is not waiting at node `approve_record`; it is at \
         `approve_generation`\n"
    );

    // The attempt is in the log all the same.
    let last = Store::open(&setup.store)
        .unwrap()
        .events(&setup.incident)
        .unwrap()
        .pop()
        .unwrap();
    let Event::ApprovalRefused {
        node,
        person,
        reason,
        ..
    } = last.event
    else {
        panic!("expected a logged refusal, got {:?}", last.event);
    };
    assert_eq!((node.as_str(), person.as_str()), ("approve_record", "bob"));
    assert_eq!(
        reason,
        "not waiting: the incident is not at `approve_record`; it is at `approve_generation`"
    );
}

#[test]
fn an_unknown_incident_and_a_missing_passphrase_variable_exit_2() {
    let setup = setup();
    let run = custos()
        .args(["--store", &setup.store.display().to_string()])
        .args(["--policies", &setup.policies().display().to_string()])
        .args(["approve", "INC-9", "--as", "bob", "--passphrase-env", "P"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "custos: there is no incident `INC-9` in the incident log `{}`\n",
            setup.store.display()
        )
    );

    let run = custos()
        .args(["--store", &setup.store.display().to_string()])
        .args(["--policies", &setup.policies().display().to_string()])
        .args([
            "approve",
            "INC-1",
            "--as",
            "bob",
            "--passphrase-env",
            "UNSET_VAR",
        ])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "custos: the passphrase variable `UNSET_VAR` is not set or not UTF-8\n"
    );
}

/// Starts `custos approve` as a child process without waiting for it.
fn spawn_approve(setup: &Setup, person: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(["--store", &setup.store.display().to_string()])
        .args(["--policies", &setup.policies().display().to_string()])
        .args(["approve", &setup.incident.to_string(), "--as", person])
        .args(["--passphrase-env", "P"])
        .env("P", passphrase(person))
        .env_remove("CUSTOS_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Appends notes through `store` until `child` exits, as a walker writing while it waits; the
/// walker polls, so it pauses between writes as the real one does.
fn write_while_running(store: &mut Store, incident: &IncidentId, child: std::process::Child) {
    let mut child = child;
    let mut n = 0;
    while child.try_wait().unwrap().is_none() {
        n += 1;
        let note = Event::NoteAdded {
            node: "approve_generation".into(),
            text: format!("waiting for custodians ({n})"),
        };
        store.append(incident, "alice", at(2), &[note]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(n > 0, "the walker wrote while the approval ran");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn approvals_from_two_other_processes_reach_a_walker_that_holds_the_log_open_and_writes() {
    let setup = setup();
    let mut walker = Store::open(&setup.store).unwrap();

    write_while_running(&mut walker, &setup.incident, spawn_approve(&setup, "bob"));
    write_while_running(&mut walker, &setup.incident, spawn_approve(&setup, "erin"));

    let runbook = ceremony_runbook();
    let require = requirement(&runbook, "approve_generation");
    let seen = quorum(
        &walker.events(&setup.incident).unwrap(),
        "approve_generation",
        require,
    );
    assert!(seen.is_met());
    assert_eq!(seen.people(), ["bob", "erin"]);

    let completed = Event::ApprovalCompleted {
        node: "approve_generation".into(),
        people: seen.people(),
        next: "generate_key".into(),
    };
    walker
        .append(&setup.incident, "alice", at(3), &[completed])
        .unwrap();
    let verification = walker.verify(&setup.incident, None).unwrap();
    assert!(verification.problems.is_empty(), "{verification:?}");
}

#[test]
fn an_approval_over_ssh_records_the_client_address_in_its_origin() {
    let setup = setup();
    let run = custos()
        .args(["--store", &setup.store.display().to_string()])
        .args(["--policies", &setup.policies().display().to_string()])
        .args(["approve", "INC-1", "--as", "bob", "--passphrase-env", "P"])
        .env("P", passphrase("bob"))
        .env("SSH_CLIENT", "10.20.30.40 52100 22")
        .env("SSH_CONNECTION", "10.20.30.40 52100 10.0.0.1 22")
        .run();
    assert_eq!(run.code, 0, "{run:?}");

    let last = Store::open(&setup.store)
        .unwrap()
        .events(&setup.incident)
        .unwrap()
        .pop()
        .unwrap();
    let Event::ApprovalGranted { origin, .. } = last.event else {
        panic!("expected a grant, got {:?}", last.event);
    };
    assert_eq!(origin.ssh_client.as_deref(), Some("10.20.30.40"));
}
