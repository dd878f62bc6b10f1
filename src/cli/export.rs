//! `custos export`: the incident log filtered and written as JSON Lines, CSV or HTML, and the
//! offline check behind `custos verify --export FILE`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use custos::export::{self, Bound, ExportCheck, Filter, Manifest};
use custos::notify::Escalation;
use custos::store::signing;
use custos::store::{IncidentId, Store};

use super::{FAILED, Globals, INVALID};

/// The forms an export can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON Lines: a manifest line, then every event with its chain hashes (lossless).
    Jsonl,
    /// One row per event, for spreadsheets.
    Csv,
    /// A self-contained report per incident.
    Html,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The form of the export.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,

    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE", conflicts_with = "out_dir")]
    out: Option<PathBuf>,

    /// With `--format html`, write one report per incident into this directory.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Incidents opened at or after this RFC 3339 time or date.
    #[arg(long, value_name = "TIME")]
    since: Option<Bound>,

    /// Incidents opened at or before this RFC 3339 time, or during or before this date.
    #[arg(long, value_name = "TIME")]
    until: Option<Bound>,

    /// Only incidents of this runbook id.
    #[arg(long, value_name = "ID")]
    runbook: Option<String>,

    /// Only incidents of this severity.
    #[arg(long)]
    severity: Option<String>,

    /// Only this incident (repeat for more).
    #[arg(long, value_name = "INC")]
    incident: Vec<IncidentId>,

    /// Include drills; without this, only real incidents are exported.
    #[arg(long)]
    include_drills: bool,
}

pub fn run(args: &Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    if args.out_dir.is_some() && args.format != Format::Html {
        errln!("custos: `--out-dir` writes one HTML report per incident; use `-o FILE` here");
        return Ok(ExitCode::from(INVALID));
    }

    let store = Store::open(&globals.store_path())?;
    let key = signing::load_or_create(&signing::default_key_path(store.path()))?;
    let public_key = key.verifying_key();
    let filter = Filter {
        since: args.since.clone(),
        until: args.until.clone(),
        runbook: args.runbook.clone(),
        severity: args.severity.clone(),
        incidents: args.incident.clone(),
        include_drills: args.include_drills,
    };
    let manifest = Manifest::build(&store, &filter, &public_key)?;
    if manifest.incidents.is_empty() {
        let drills = if args.include_drills {
            ""
        } else {
            " (drills need `--include-drills`)"
        };
        errln!("custos: no incident matches the filters{drills}");
    }

    let escalation = match args.format {
        Format::Html => escalation(globals),
        Format::Jsonl | Format::Csv => Escalation::default(),
    };
    let report = export::ReportSettings {
        trusted: Some(&public_key),
        escalation: &escalation,
    };
    if let Some(dir) = &args.out_dir {
        return html_per_incident(&store, &manifest, &report, dir);
    }
    let (mut out, path): (Box<dyn Write>, PathBuf) = match &args.out {
        Some(path) => (Box::new(BufWriter::new(File::create(path)?)), path.clone()),
        None => (
            Box::new(BufWriter::new(std::io::stdout().lock())),
            "stdout".into(),
        ),
    };
    match args.format {
        Format::Jsonl => {
            export::write_jsonl(&store, &manifest, &key, &mut out, &path)?;
        }
        Format::Csv => {
            export::write_csv(&store, &manifest, &mut out, &path)?;
        }
        Format::Html => export::write_html(&store, &manifest, &report, &mut out, &path)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The escalation policy whose deadlines the HTML report measures; without a readable one the
/// report shows the runbook's time limits and the escalations that fired, and says so.
fn escalation(globals: &Globals) -> Escalation {
    match custos::notify::Policy::load(&globals.policies) {
        Ok(policy) => policy.escalation,
        Err(error) => {
            errln!("{error}");
            errln!(
                "custos: the policies in `{}` are invalid; the report leaves out the \
                 escalation policy's deadlines",
                globals.policies.display()
            );
            Escalation::default()
        }
    }
}

fn html_per_incident(
    store: &Store,
    manifest: &Manifest,
    report: &export::ReportSettings<'_>,
    dir: &Path,
) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir)?;
    for entry in &manifest.incidents {
        let page = export::html_report(store, manifest, entry, report)?;
        let path = dir.join(format!("{}.html", entry.id));
        std::fs::write(&path, page)
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", path.display()))?;
        errln!("custos: wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos verify --export FILE`: checks an export alone, without the store.
pub fn verify(file: &Path, trusted: Option<&str>) -> anyhow::Result<ExitCode> {
    let trusted = match trusted.map(signing::parse_public_key).transpose() {
        Ok(key) => key,
        Err(error) => {
            errln!("custos: `--trusted-key`: {error}");
            return Ok(ExitCode::from(INVALID));
        }
    };
    let opened = match File::open(file) {
        Ok(opened) => opened,
        Err(error) => {
            errln!(
                "custos: cannot read the export `{}`: {error}",
                file.display()
            );
            return Ok(ExitCode::from(INVALID));
        }
    };

    let mut input = BufReader::with_capacity(1 << 20, opened);
    let check = export::verify_jsonl(&mut input, file, trusted.as_ref())?;
    print_signer(&check);
    for problem in &check.problems {
        outln!("FAILED: {problem}");
    }
    for incident in &check.incidents {
        match &incident.problem {
            Some(problem) => outln!("FAILED: {problem}"),
            None => {
                let seal = if incident.sealed {
                    "sealed, seal verified"
                } else {
                    "open, unsealed"
                };
                outln!("{}: ok, {} events, {seal}", incident.id, incident.events);
            }
        }
    }

    if check.is_ok() {
        return Ok(ExitCode::SUCCESS);
    }
    let failed = check.all_problems().count();
    errln!(
        "custos: the export `{}` failed verification ({failed} problem(s))",
        file.display()
    );
    Ok(ExitCode::from(FAILED))
}

/// Says who signed an accepted manifest and, when the export verified without a trusted key,
/// what that does not prove.
fn print_signer(check: &ExportCheck) {
    let Some(signer) = check.signer.as_ref().filter(|_| check.manifest.is_some()) else {
        return;
    };
    if check.trusted {
        outln!("manifest: signed by the trusted key {signer}");
        return;
    }
    outln!("manifest: signed by {signer}, not checked against a trusted key");
    if !check.is_ok() {
        return;
    }
    errln!(
        "custos: warning: without `--trusted-key` this result is self-attested: it shows the \
         export agrees with itself and with the key it names, which anyone can make; compare \
         {signer} with the installation's published key (`custos key export` on the exporting \
         machine) or pass it as `--trusted-key`"
    );
}
