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

/// The width the human-readable listings fit in: an 80-column terminal over SSH.
const WIDTH: usize = 80;

pub fn incidents(globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let store = Store::open(&globals.store_path())?;
    let incidents = store.incidents()?;
    if incidents.is_empty() {
        errln!("custos: no incidents in {}", store.path().display());
        return Ok(ExitCode::SUCCESS);
    }

    // ID, then the runbook in what is left of 80 columns beside state (6), kind (5) and two
    // times to the minute (16 each), with a space between columns.
    let id_width = incidents
        .iter()
        .map(|incident| incident.id.to_string().len())
        .max()
        .unwrap_or(2)
        .max(2);
    let runbook_width = WIDTH.saturating_sub(id_width + 6 + 5 + 16 + 16 + 5).max(12);
    let row = |id: &str, runbook: &str, state: &str, kind: &str, opened: &str, last: &str| {
        let runbook = abbreviate(runbook, runbook_width);
        let line = format!(
            "{id:<id_width$} {runbook:<runbook_width$} {state:<6} {kind:<5} {opened:<16} {last}"
        );
        line.trim_end().to_owned()
    };
    writeln!(
        out,
        "{}",
        row("ID", "RUNBOOK", "STATE", "KIND", "OPENED", "LAST ACTIVITY")
    )?;
    for incident in incidents {
        let state = match incident.state {
            IncidentState::Open => "open",
            IncidentState::Closed => "closed",
        };
        let kind = if incident.rehearsal { "drill" } else { "real" };
        let line = row(
            &incident.id.to_string(),
            &incident.runbook_id,
            state,
            kind,
            &minute(incident.opened_at),
            &minute(incident.last_activity),
        );
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn abbreviate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `text` broken at spaces into lines of at most `width` characters, every line after the first
/// starting with `indent`; a word longer than a line is cut across lines.
fn fit(text: &str, first: &str, indent: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_owned();
    let empty = |line: &str, prefix: &str| line.chars().count() == prefix.chars().count();
    let mut prefix = first.to_owned();

    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let space = usize::from(!empty(&line, &prefix));
            if used + space + word.len() <= width {
                if space == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if empty(&line, &prefix) {
                let room = width.saturating_sub(used).max(1);
                let rest = word.split_off(room.min(word.len()));
                line.extend(word.iter());
                word = rest;
            }
            lines.push(std::mem::replace(&mut line, indent.to_owned()));
            prefix = indent.to_owned();
            if word.is_empty() {
                break;
            }
        }
    }
    if !empty(&line, &prefix) || lines.is_empty() {
        lines.push(line);
    }
    lines
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
    let title = format!("{} · {kind} · {}", incident.id, incident.title);
    let runbook = format!(
        "runbook `{}` version {} · severity {}",
        incident.runbook_id, incident.runbook_version, incident.severity
    );
    for line in fit(&title, "", "  ", WIDTH)
        .into_iter()
        .chain(fit(&runbook, "", "  ", WIDTH))
    {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "SHA-256 {}", incident.runbook_sha256)?;
    writeln!(out)?;

    // Each event: its number, time, actor, kind and fields, wrapped to 80 columns with the
    // continuation indented (`--json` has every field on one line).
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
        let head = format!(
            "{:>4} {} ",
            record.seq,
            record.at.strftime("%Y-%m-%d %H:%M:%S")
        );
        let text = format!("{} {kind} {}", record.actor, detail.join(" "));
        for line in fit(&text, &head, "       ", WIDTH) {
            writeln!(out, "{line}")?;
        }
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
            outln!("FAILED: {gap}");
            bad += 1;
        }
    }
    for id in ids {
        let verification = store.verify(&id, trusted.as_ref())?;
        if verification.is_ok() {
            outln!(
                "{id}: ok, {} events, seal: {}",
                verification.events,
                verification.seal
            );
            continue;
        }
        bad += 1;
        match verification.first_problem() {
            Some(problem) => outln!("{id}: FAILED at event {}: {problem}", problem.seq),
            None => outln!("{id}: FAILED: seal: {}", verification.seal),
        }
    }
    if bad > 0 {
        errln!("custos: {bad} incident(s) failed verification");
        return Ok(ExitCode::from(FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key(command: &KeyCommand, globals: &Globals) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Export => {
            let path = signing::default_key_path(&globals.store_path());
            let key = signing::load_or_create(&path)?;
            outln!("{}", signing::public_key_text(&key.verifying_key()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{abbreviate, fit};

    #[test]
    fn long_text_and_long_words_fit_the_width_with_the_indent() {
        let text = format!("short words {} more words after", "x".repeat(150));
        let lines = fit(&text, "    ", "    ", 40);
        assert!(
            lines.iter().all(|line| line.chars().count() <= 40),
            "{lines:?}"
        );
        assert!(
            lines.iter().all(|line| line.starts_with("    ")),
            "{lines:?}"
        );
        let joined: String = lines.concat().split_whitespace().collect();
        assert_eq!(joined, text.split_whitespace().collect::<String>());
    }

    #[test]
    fn text_that_fits_is_one_line() {
        assert_eq!(fit("a b c", "", "  ", 80), ["a b c"]);
        assert_eq!(fit("", "    ", "    ", 80), ["    "]);
    }

    #[test]
    fn names_longer_than_their_column_end_in_an_ellipsis() {
        assert_eq!(abbreviate("secondary-hsm-unreachable", 12), "secondary-h…");
        assert_eq!(abbreviate("card-triage", 12), "card-triage");
    }
}
