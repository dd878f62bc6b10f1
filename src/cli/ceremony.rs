//! `custos ceremony record INCIDENT`: the signed record of a closed key ceremony, to print.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use custos::ceremony::{self, CeremonyError};
use custos::policy::roster::Roster;
use custos::store::{IncidentId, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the record of a closed ceremony: participants, steps, KCVs, deviations, seal.
    Record {
        /// The incident, as `INC-42` or `42`.
        incident: String,
        #[arg(long, value_enum, default_value_t = Format::Markdown)]
        format: Format,
        /// Write the record to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The installation's published key (`ed25519:...`); the seal must be made by it.
        #[arg(long, value_name = "KEY")]
        trusted_key: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Markdown,
    Html,
}

pub fn run(args: &Args, policies: &Path, store_path: &Path) -> anyhow::Result<ExitCode> {
    let Command::Record {
        incident,
        format,
        output,
        trusted_key,
    } = &args.command;

    let incident: IncidentId = match incident.parse() {
        Ok(id) => id,
        Err(error) => {
            errln!("custos: {error}");
            return Ok(ExitCode::from(super::INVALID));
        }
    };
    let trusted = match trusted_key
        .as_deref()
        .map(custos::store::signing::parse_public_key)
    {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(error)) => {
            errln!("custos: {error}");
            return Ok(ExitCode::from(super::INVALID));
        }
    };
    let roster = Roster::load_from(policies).ok().flatten();
    let store = Store::open(store_path)?;

    let record = match ceremony::record(&store, &incident, roster.as_ref(), trusted.as_ref()) {
        Ok(record) => record,
        Err(CeremonyError::Store(error)) => return Err(error.into()),
        Err(error) => {
            errln!("custos: {error}");
            return Ok(ExitCode::from(super::INVALID));
        }
    };
    let text = match format {
        Format::Markdown => record.markdown(),
        Format::Html => record.html(),
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?,
        None => out!("{text}"),
    }

    if record.verified() {
        return Ok(ExitCode::SUCCESS);
    }
    errln!("custos: the log of {incident} does not verify; the record says why");
    Ok(ExitCode::from(super::FAILED))
}
