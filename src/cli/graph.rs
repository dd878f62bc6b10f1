//! `custos graph`: the decision graph as DOT or Mermaid on stdout.

use clap::ValueEnum;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook: a path, or an id from `runbooks/`.
    runbook: String,

    /// The picture's language.
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    format: Format,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Graphviz: `custos graph X | dot -Tsvg > x.svg`.
    Dot,
    /// Mermaid flowchart, for Markdown pages that render it.
    Mermaid,
}

pub fn run(args: &Args, policies: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match super::load_runbook(&args.runbook, policies) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let picture = match args.format {
        Format::Dot => custos::runbook::picture::dot(&loaded.runbook),
        Format::Mermaid => custos::runbook::picture::mermaid(&loaded.runbook),
    };
    out!("{picture}");
    Ok(ExitCode::SUCCESS)
}
