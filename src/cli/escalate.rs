//! `custos escalate`: for cron or a systemd timer. Queues the escalations that fell due, sends
//! what is due and retries what failed; exits 1 while something is still failing.

use std::path::Path;
use std::process::ExitCode;

use custos::notify;
use custos::store::Store;
use jiff::Timestamp;

use super::notify::{load_policy, print_delivery, verdict};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The time to escalate at, in RFC 3339 (a drill's set clock); now when absent.
    #[arg(long)]
    now: Option<Timestamp>,
}

pub fn run(args: &Args, policies: &Path, store: &Path) -> anyhow::Result<ExitCode> {
    let Some(policy) = load_policy(policies) else {
        return Ok(ExitCode::from(super::INVALID));
    };
    let mut store = Store::open(store)?;
    let now = args.now.unwrap_or_else(Timestamp::now);
    let report = notify::escalate(&mut store, &policy, now)?;

    for fired in &report.fired {
        println!(
            "escalated {} ({}): {}; queued {}",
            fired.incident, fired.key, fired.reason, fired.notification
        );
    }
    for (incident, key, error) in &report.refused {
        eprintln!("custos: cannot escalate {incident} ({key}): {error}");
    }
    print_delivery(&report.delivery);
    Ok(verdict(
        report.refused.is_empty() && report.delivery.all_delivered(),
    ))
}
