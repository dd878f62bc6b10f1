//! `custos show`: the runbook as a printable Markdown checklist on stdout.

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook: a path, or an id from `runbooks/`.
    runbook: String,
}

pub fn run(args: &Args, policies: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match super::load_runbook(&args.runbook, policies) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    out!(
        "{}",
        custos::runbook::checklist::checklist(&loaded.runbook, &loaded.sha256)
    );
    Ok(ExitCode::SUCCESS)
}
