//! A custos killed with SIGKILL after queueing, before the server took anything: the next run
//! delivers every notification exactly once, with the Message-ID it was queued with. The
//! incident is a drill, so that its escalations fall due on the set clock.

// A failed fixture or run should stop the test at once.
#![allow(clippy::unwrap_used)]

mod notify_common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use custos::store::{Event, NotificationState, Store};
use notify_common::*;

#[test]
fn a_custos_killed_between_queueing_and_sending_delivers_exactly_once_when_run_again() {
    // A server that accepts connections and never says a word: the send hangs.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let project = project(silent_port, "");
    let store_path = project.path().join("incidents.sqlite");
    let mut store = Store::open(&store_path).unwrap();
    let incident = open(&mut store, "zmk-compromise", true, &zmk_inputs());
    enter(&mut store, &incident, "intake", 0);

    let mut child = Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite", "escalate", "--now"])
        .arg(at(61).to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let outbox = store.outbox().unwrap();
        if outbox.iter().any(|n| n.state == NotificationState::Sending) {
            break;
        }
        assert!(Instant::now() < deadline, "custos never started sending");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(silent);

    // Killed mid-send: one notification claimed with an unknown outcome, one only queued.
    let outbox = store.outbox().unwrap();
    let states: Vec<(NotificationState, u64)> =
        outbox.iter().map(|n| (n.state, n.attempts)).collect();
    assert_eq!(
        states,
        [
            (NotificationState::Sending, 1),
            (NotificationState::Pending, 0)
        ]
    );
    let queued_ids: Vec<String> = outbox.iter().map(|n| n.message_id.clone()).collect();

    // The mail server is fixed; the next run takes over the dead process's claim.
    let mail_dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(mail_dir.path());
    write_notify(&project.path().join("policies"), server.port, "");
    let output = Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite", "escalate", "--now"])
        .arg(at(62).to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let again = Command::new(env!("CARGO_BIN_EXE_custos"))
        .current_dir(project.path())
        .args(["--store", "incidents.sqlite", "notify", "flush"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    drop(server);

    let mails = mails(mail_dir.path());
    let mut delivered: Vec<&str> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    delivered.sort_unstable();
    let mut expected: Vec<&str> = queued_ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(
        delivered, expected,
        "each notification once, with its queued Message-ID"
    );

    let outbox = store.outbox().unwrap();
    assert!(outbox.iter().all(|n| n.state == NotificationState::Sent));
    assert_eq!(events_of(&store, &incident, "notification_sent").len(), 2);
    let failed = events_of(&store, &incident, "notification_failed");
    let [
        Event::NotificationFailed {
            notification,
            error,
        },
    ] = &failed[..]
    else {
        panic!("expected one unknown outcome, got {failed:?}");
    };
    assert_eq!(notification, "INC-1.N1");
    assert!(
        error.starts_with("the outcome of attempt 1 is unknown: `")
            && error
                .ends_with("` stopped while sending; it is sent again with the same Message-ID"),
        "{error}"
    );
    assert!(store.verify(&incident, None).unwrap().is_ok());
}
