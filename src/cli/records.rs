//! `custos incidents`, `custos log`, `custos verify` and `custos key`: reading the record.

use super::{FAILED, Globals};
use custos::store::signing;
use custos::store::{IncidentId, IncidentState, Store};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The incident, like `INC-7` or `7`.
    incident: IncidentId,

    /// Every event as one JSON object per line, with its chain hashes.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The incident to check; every incident when left out.
    #[arg(conflicts_with = "export")]
    incident: Option<IncidentId>,

    /// Check an export made by `custos export --format jsonl` alone, without the store.
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,

    /// With `--export`: accept only an export whose manifest and seals are signed with this key
    /// (`ed25519:<hex>`, as `custos key export` prints it on the exporting machine).
    #[arg(long, value_name = "KEY", requires = "export")]
    trusted_key: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Print the installation's public key, for auditors to check seals against.
    Export,
}

pub fn incidents(globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let store = Store::open(&globals.store_path())?;
    let incidents = store.incidents()?;
    if incidents.is_empty() {
        eprintln!("custos: no incidents in {}", store.path().display());
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<8} {:<28} {:<7} {:<6} {:<17} {:<17}",
        "ID", "RUNBOOK", "STATE", "KIND", "OPENED", "LAST ACTIVITY"
    )?;
    for incident in incidents {
        let state = match incident.state {
            IncidentState::Open => "open",
            IncidentState::Closed => "closed",
        };
        let kind = if incident.rehearsal { "drill" } else { "real" };
        let runbook: String = incident.runbook_id.chars().take(28).collect();
        writeln!(
            out,
            "{:<8} {runbook:<28} {state:<7} {kind:<6} {:<17} {:<17}",
            incident.id.to_string(),
            minute(incident.opened_at),
            minute(incident.last_activity)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A timestamp to the minute, in UTC: `2026-12-03 19:04`.
fn minute(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M").to_string()
}

pub fn log(args: &LogArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let store = Store::open(&globals.store_path())?;
    let incident = store.incident(&args.incident)?;
    let records = store.events(&args.incident)?;
    if args.json {
        for record in &records {
            let line = serde_json::json!({
                "incident": record.incident.to_string(),
                "seq": record.seq,
                "at": record.at.to_string(),
                "written_at": record.written_at.to_string(),
                "actor": record.actor,
                "rehearsal": record.rehearsal,
                "event": record.event,
                "prev_hash": record.prev_hash.to_string(),
                "hash": record.hash.to_string(),
            });
            writeln!(out, "{line}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let kind = if incident.rehearsal {
        "DRILL"
    } else {
        "REAL INCIDENT"
    };
    writeln!(out, "{} · {kind} · {}", incident.id, incident.title)?;
    writeln!(
        out,
        "runbook `{}` version {} · SHA-256 {} · severity {}",
        incident.runbook_id, incident.runbook_version, incident.runbook_sha256, incident.severity
    )?;
    writeln!(out,)?;
    for record in &records {
        let event = serde_json::to_value(&record.event).unwrap_or_default();
        let mut fields = event.as_object().cloned().unwrap_or_default();
        let kind = fields
            .shift_remove("type")
            .and_then(|kind| kind.as_str().map(str::to_owned))
            .unwrap_or_default();
        let detail: Vec<String> = fields
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}={text}"),
                other => format!("{key}={other}"),
            })
            .collect();
        writeln!(
            out,
            "{:>4} {} {:<10} {kind} {}",
            record.seq,
            record.at.strftime("%Y-%m-%d %H:%M:%S"),
            record.actor,
            detail.join(" ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: &VerifyArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.export {
        return super::export::verify(file, args.trusted_key.as_deref());
    }

    let store = Store::open(&globals.store_path())?;
    let key_path = signing::default_key_path(store.path());
    let trusted = if key_path.exists() {
        Some(signing::load(&key_path)?.verifying_key())
    } else {
        None
    };
    let ids: Vec<IncidentId> = match args.incident {
        Some(id) => vec![id],
        None => store
            .incidents()?
            .into_iter()
            .map(|incident| incident.id)
            .collect(),
    };

    let mut bad = 0;
    if args.incident.is_none() {
        for gap in store.missing_incidents()? {
            println!("FAILED: {gap}");
            bad += 1;
        }
    }
    for id in ids {
        let verification = store.verify(&id, trusted.as_ref())?;
        if verification.is_ok() {
            println!(
                "{id}: ok, {} events, seal: {}",
                verification.events, verification.seal
            );
            continue;
        }
        bad += 1;
        match verification.first_problem() {
            Some(problem) => println!("{id}: FAILED at event {}: {problem}", problem.seq),
            None => println!("{id}: FAILED: seal: {}", verification.seal),
        }
    }
    if bad > 0 {
        eprintln!("custos: {bad} incident(s) failed verification");
        return Ok(ExitCode::from(FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key(command: &KeyCommand, globals: &Globals) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Export => {
            let path = signing::default_key_path(&globals.store_path());
            let key = signing::load_or_create(&path)?;
            println!("{}", signing::public_key_text(&key.verifying_key()));
            Ok(ExitCode::SUCCESS)
        }
    }
}
