//! `custos notify list|flush`: show the outbox, and send everything not yet sent now.

use std::path::Path;
use std::process::ExitCode;

use custos::notify::{self, Clock, DeliveryReport, Notification, Policy};
use custos::store::Store;
use jiff::Timestamp;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show every notification: id, incident, group, subject, state, attempts, next try and
    /// Message-ID.
    List,
    /// Send every notification not yet sent, without waiting for retry times.
    Flush {
        /// The time to record for drill notifications, in RFC 3339 (a drill's clock); real
        /// notifications are always recorded on the real clock.
        #[arg(long)]
        now: Option<Timestamp>,
    },
}

pub fn run(args: &Args, policies: &Path, store: &Path) -> anyhow::Result<ExitCode> {
    match &args.command {
        Action::List => list(store),
        Action::Flush { now } => {
            let Some(policy) = load_policy(policies) else {
                return Ok(ExitCode::from(super::INVALID));
            };
            let mut store = Store::open(store)?;
            let clock = now.map_or_else(Clock::real, Clock::rehearsals);
            let report = notify::flush(&mut store, &policy, clock)?;
            print_delivery(&report);
            Ok(verdict(report.all_delivered()))
        }
    }
}

fn list(store: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(store)?;
    let outbox = store.outbox()?;
    if outbox.is_empty() {
        errln!("custos: the outbox is empty");
        return Ok(ExitCode::SUCCESS);
    }
    outln!("ID\tINCIDENT\tGROUP\tSUBJECT\tSTATE\tATTEMPTS\tNEXT TRY\tMESSAGE-ID");
    for notification in &outbox {
        outln!("{}", row(notification));
    }
    Ok(ExitCode::SUCCESS)
}

fn row(n: &Notification) -> String {
    let next = match n.state {
        notify::NotificationState::Sent => "-".to_owned(),
        _ => n.next_attempt.to_string(),
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{next}\t{}",
        n.id,
        n.id.incident,
        n.group,
        n.subject,
        n.state.as_str(),
        n.attempts,
        n.message_id
    )
}

/// Loads the policies, printing their problems when they do not load.
pub(super) fn load_policy(policies: &Path) -> Option<Policy> {
    match Policy::load(policies) {
        Ok(policy) => {
            if let Some(warning) = policy.warning() {
                errln!("custos: {warning}");
            }
            Some(policy)
        }
        Err(error) => {
            errln!("{error}");
            errln!(
                "custos: the policies in `{}` are invalid",
                policies.display()
            );
            None
        }
    }
}

pub(super) fn print_delivery(report: &DeliveryReport) {
    for id in &report.sent {
        outln!("sent {id}");
    }
    for (id, error) in &report.failed {
        outln!("failed {id}: {error}");
    }
    for id in &report.retrying {
        outln!("waiting {id}: failed before, retried later");
    }
    for id in &report.in_flight {
        outln!("in flight {id}: another custos is sending it");
    }
}

/// 0 when everything was delivered, 1 when something is still failing.
pub(super) fn verdict(delivered: bool) -> ExitCode {
    if delivered {
        ExitCode::SUCCESS
    } else {
        errln!("custos: some notifications are not delivered yet; they will be retried");
        ExitCode::from(super::FAILED)
    }
}
