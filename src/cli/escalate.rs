//! `custos escalate`: for cron or a systemd timer. Queues the escalations that fell due, sends
//! what is due and retries what failed; exits 1 while something is still failing. `--now`
//! sets the clock of drill incidents only: real incidents are always escalated, sent and
//! retried on the real clock.

use std::path::Path;
use std::process::ExitCode;

use custos::notify::{self, Clock};
use custos::store::Store;
use jiff::Timestamp;

use super::notify::{load_policy, print_delivery, verdict};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The time drill incidents are escalated at, in RFC 3339 (a drill's set clock); real
    /// incidents are always escalated on the real clock.
    #[arg(long)]
    now: Option<Timestamp>,
}

pub fn run(args: &Args, policies: &Path, store: &Path) -> anyhow::Result<ExitCode> {
    let Some(policy) = load_policy(policies) else {
        return Ok(ExitCode::from(super::INVALID));
    };
    let mut store = Store::open(store)?;
    let clock = args.now.map_or_else(Clock::real, Clock::rehearsals);
    let report = notify::escalate(&mut store, &policy, clock)?;

    for fired in &report.fired {
        outln!(
            "escalated {} ({}): {}; queued {}",
            fired.incident,
            fired.key,
            fired.reason,
            fired.notification
        );
    }
    for (incident, key, error) in &report.refused {
        errln!("custos: cannot escalate {incident} ({key}): {error}");
    }
    print_delivery(&report.delivery);
    Ok(verdict(
        report.refused.is_empty() && report.delivery.all_delivered(),
    ))
}
