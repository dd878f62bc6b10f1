//! A walker killed with SIGKILL while a notify node's mail is on its way (the server is silent,
//! so the send hangs): resuming delivers the notification it had queued, once, and queues no
//! second one for the same visit.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use custos::store::{IncidentId, NotificationState, Store};
use notify_common::*;

/// A step, a notify node telling the executives, and the end.
const RUNBOOK: &str = "\
id: tell-executives
title: Tell the executives
version: 1
severity: high
summary: One step, one notification, the end.
start: prepare
nodes:
  prepare:
    kind: step
    title: Prepare the message
    next: tell
  tell:
    kind: notify
    title: Tell the executives
    to: executives
    template: walk-notice
    next: done
  done:
    kind: end
    title: Told
    outcome: resolved
";

const TEMPLATE: &str = "\
subject: \"Notice for {{incident.id}}\"
body: |
  Incident {{incident.id}}: {{incident.title}}, at \"{{node.title}}\".
";

fn custos_in(project: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_custos"));
    command
        .current_dir(project)
        .env_remove("CUSTOS_STORE")
        .args(["--store", "incidents.sqlite", "--policies", "policies"]);
    command
}

#[test]
fn a_walker_killed_while_sending_a_notify_nodes_mail_sends_it_once_after_resuming() {
    // A server that accepts connections and never says a word: the send hangs.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let project = project(silent.local_addr().unwrap().port(), "");
    let dir = project.path();
    std::fs::write(dir.join("tell-executives.yaml"), RUNBOOK).unwrap();
    std::fs::write(dir.join("policies/templates/walk-notice.yaml"), TEMPLATE).unwrap();
    std::fs::write(dir.join("answers.yaml"), "nodes:\n  prepare: {}\n").unwrap();

    let mut walker = custos_in(dir)
        .args(["run", "tell-executives.yaml", "--answers", "answers.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let store = Store::open(&dir.join("incidents.sqlite")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let outbox = store.outbox().unwrap();
        if outbox.iter().any(|n| n.state == NotificationState::Sending) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the walker never started sending"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    walker.kill().unwrap(); // SIGKILL, in the middle of the SMTP exchange
    walker.wait().unwrap();
    drop(silent);

    let incident: IncidentId = "INC-1".parse().unwrap();
    assert_eq!(events_of(&store, &incident, "notification_queued").len(), 1);
    let entered: Vec<String> = store
        .events(&incident)
        .unwrap()
        .into_iter()
        .filter_map(|record| match record.event {
            custos::store::Event::NodeEntered { node } => Some(node),
            _ => None,
        })
        .collect();
    assert_eq!(entered, ["prepare", "tell"], "killed before leaving `tell`");

    // The mail server works again; the walk resumes at `tell`.
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    write_notify(&dir.join("policies"), server.port, "");
    let resumed = custos_in(dir)
        .args(["resume", "INC-1", "--answers", "answers.yaml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(resumed.status.success(), "{resumed:?}");
    assert!(
        stdout.contains(
            "executives told (walk-notice, message `INC-1.N1`, queued before custos stopped): sent"
        ),
        "{stdout}"
    );
    drop(server);

    let mails = mails(mail_dir.path());
    assert_eq!(mails.len(), 1, "one message in the mailbox: {mails:#?}");
    assert_eq!(mails[0].header("Subject"), Some("Notice for INC-1"));
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 1, "one outbox row: {outbox:#?}");
    assert_eq!(outbox[0].state, NotificationState::Sent);
    assert_eq!(
        mails[0].header("Message-ID"),
        Some(outbox[0].message_id.as_str())
    );
    assert_eq!(events_of(&store, &incident, "notification_queued").len(), 1);
    assert_eq!(events_of(&store, &incident, "notification_sent").len(), 1);
    assert_eq!(events_of(&store, &incident, "incident_closed").len(), 1);
    assert!(store.verify(&incident, None).unwrap().is_ok());
}
