//! `custos expiry check`: the expiry table, each due alert sent once, incidents opened at
//! their band. Exits 1 when anything is expired, in its last band or unreadable, so a
//! monitoring system can run it; 2 when the inventory, the key register or the notification
//! policies are invalid, or the inventory names something they do not define.
//!
//! `--now` replays another day. With `--drill` the drill's watches and incidents run on that
//! day; without it the check is a preview that sends and opens nothing, since a real alert must
//! not be sent, nor its band used up, for a day that has not come.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use custos::expiry::references::{self, Names};
use custos::expiry::{self, AlertStatus, Report, Row, Settings};
use custos::hsm::HsmGuard;
use custos::store::Store;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::json;

use super::notify::load_policy;

/// How long the modules may take to finalise once the check is done.
const FINALISE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a token may take to answer before it counts as unreachable.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Check everything in `policies/inventory.yaml` and the key register, send the alerts
    /// that are due (once each) and open the incidents whose band was reached.
    Check {
        /// The time to check at: a date (`2027-03-01`, midnight UTC) or an RFC 3339 time; now
        /// when absent. With `--drill` the drill replays that day; without, the check is a
        /// preview that sends and opens nothing.
        #[arg(long, value_parser = parse_now)]
        now: Option<Timestamp>,

        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,

        /// A drill: alerts go to the drill mailbox, incidents are rehearsals, and a production
        /// token is read through its stand-in.
        #[arg(long)]
        drill: bool,
    },
}

pub fn run(args: &Args, policies: &Path, store: &Path) -> anyhow::Result<ExitCode> {
    let Action::Check { now, json, drill } = &args.command;

    let invalid = |error: &dyn std::fmt::Display| {
        errln!("{error}");
        errln!("custos: the expiry inventory is invalid; nothing was checked");
        Ok(ExitCode::from(super::INVALID))
    };
    let inventory = match expiry::load(policies) {
        Ok(inventory) => inventory,
        Err(error) => return invalid(&error),
    };
    let Some(policy) = load_policy(policies) else {
        return Ok(ExitCode::from(super::INVALID));
    };
    if let Err(error) = references::check(&inventory, policies, &Names::of(policies)) {
        return invalid(&error);
    }

    let settings = Settings {
        policies: policies.to_path_buf(),
        now: now.unwrap_or_else(Timestamp::now),
        rehearsal: *drill,
        token_timeout: TOKEN_TIMEOUT,
    };
    let preview = now.is_some() && !*drill;
    // Certificates on tokens load their modules; the guard finalises them on every way out.
    let modules = HsmGuard::new();
    let report = if preview {
        let store = store.exists().then(|| Store::open(store)).transpose()?;
        expiry::preview(store.as_ref(), &inventory, &settings)
    } else {
        let mut store = Store::open(store)?;
        expiry::check(&mut store, &policy, &inventory, &settings)?
    };

    finalise(modules);

    if *json {
        print_json(&report, settings.now)?;
    } else {
        print_table(&report);
    }
    for (id, error) in &report.delivery.failed {
        errln!("custos: alert {id} not delivered yet, `custos escalate` retries it: {error}");
    }
    if preview {
        errln!("custos: --now without --drill is a preview: nothing was sent or opened");
    }

    let failed = report.failed() || !report.delivery.all_delivered();
    Ok(if failed {
        ExitCode::from(super::FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// A date at midnight UTC, or an RFC 3339 time.
fn parse_now(text: &str) -> Result<Timestamp, String> {
    if let Ok(date) = text.parse::<Date>() {
        return TimeZone::UTC
            .to_timestamp(date.at(0, 0, 0, 0))
            .map_err(|error| format!("`{text}` is out of range: {error}"));
    }
    text.parse::<Timestamp>().map_err(|_| {
        format!("`{text}` is neither a date like 2027-03-01 nor a time like 2027-03-01T09:00:00Z")
    })
}

/// Finalises the modules the check loaded. A certificate read that timed out may have left a
/// module call hanging, and `C_Finalize` could then wait for it, so the wait is bounded: a
/// monitoring job must end even when an HSM does not answer.
fn finalise(modules: HsmGuard) {
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    let closing = std::thread::Builder::new()
        .name(String::from("custos-hsm-finalise"))
        .spawn(move || {
            let _ = reply.send(modules.close());
        });
    if closing.is_err() {
        errln!("custos: could not start the thread that finalises the PKCS#11 modules");
        return;
    }

    match answer.recv_timeout(FINALISE_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => errln!("custos: {error}"),
        Err(_) => errln!(
            "custos: the PKCS#11 modules did not finalise within {FINALISE_TIMEOUT:?}; exiting \
             without them"
        ),
    }
}

fn print_json(report: &Report, now: Timestamp) -> anyhow::Result<()> {
    let value = json!({
        "now": now,
        "failed": report.failed(),
        "objects": report.rows,
    });
    outln!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

const HEADERS: [&str; 7] = ["OBJECT", "KIND", "SOURCE", "END", "DAYS", "BAND", "ALERT"];

fn print_table(report: &Report) {
    let cells: Vec<[String; 7]> = report.rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    print_line(&HEADERS.map(str::to_owned), &widths);
    for (row, line) in report.rows.iter().zip(&cells) {
        match &row.error {
            Some(error) if row.end.is_none() => {
                let head = [line[0].clone(), line[1].clone(), line[2].clone()];
                let padded: Vec<String> = head
                    .iter()
                    .zip(widths)
                    .map(|(cell, width)| format!("{cell:<width$}"))
                    .collect();
                outln!("{}  error: {error}", padded.join("  "));
            }
            Some(error) => {
                print_line(line, &widths);
                outln!("  error for `{}`: {error}", row.object);
            }
            None => print_line(line, &widths),
        }
    }

    for row in &report.rows {
        if let (Some(incident), true) = (&row.incident, row.incident_opened_now) {
            outln!("opened {incident} for `{}`", row.object);
        }
        if let Some(runbook) = &row.incident_due {
            outln!(
                "would open an incident from `{runbook}` for `{}`",
                row.object
            );
        }
    }
}

fn print_line(cells: &[String; 7], widths: &[usize; 7]) {
    let line: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect();
    outln!("{}", line.join("  ").trim_end());
}

fn cells(row: &Row) -> [String; 7] {
    let dash = || String::from("-");
    let alert = match (row.alert, row.alerted_now) {
        (AlertStatus::None, _) => dash(),
        (AlertStatus::Due, _) => String::from("due"),
        (AlertStatus::Queued, _) => String::from("queued"),
        (AlertStatus::Sent, true) => String::from("sent now"),
        (AlertStatus::Sent, false) => String::from("sent"),
    };
    let band = match (&row.band, row.severity) {
        (Some(band), Some(severity)) => format!("{band} ({severity})"),
        (Some(band), None) => band.clone(),
        (None, _) => dash(),
    };
    [
        row.object.clone(),
        row.kind.to_string(),
        row.source.clone(),
        row.end
            .map_or_else(dash, |end| end.strftime("%Y-%m-%d %H:%M").to_string()),
        row.days_left.map_or_else(dash, |days| days.to_string()),
        band,
        alert,
    ]
}
