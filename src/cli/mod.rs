//! The command line: one file per subcommand, each a thin layer over the library.
//!
//! Exit codes: 0 success; 1 a run or check failed (an invalid runbook, a broken chain);
//! 2 usage errors and input custos cannot use. What the user must see goes to stderr with a
//! `custos:` prefix; diagnostics go through `tracing`, shown with `-v` or `CUSTOS_LOG`.

mod escalate;
mod graph;
mod notify;
mod show;
mod validate;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runbook-as-code incident response for teams that run HSMs.
#[derive(Debug, Parser)]
#[command(name = "custos", version, about, max_term_width = 100)]
struct Cli {
    /// Where policies live (environments, roster, recipients).
    #[arg(
        long,
        global = true,
        env = "CUSTOS_POLICIES",
        default_value = "policies"
    )]
    policies: PathBuf,

    /// The incident log; `$XDG_DATA_HOME/custos/incidents.sqlite` when absent.
    #[arg(long, global = true, env = "CUSTOS_STORE")]
    store: Option<PathBuf>,

    /// Show what custos decides and why (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check runbooks and policies; with no path, `runbooks/` and `policies/`.
    Validate(validate::Args),
    /// Draw a runbook's decision graph as DOT or Mermaid.
    Graph(graph::Args),
    /// Print a runbook as a Markdown checklist, the script to follow on paper.
    Show(show::Args),
    /// Show the outbox of notifications, or send everything not yet sent.
    Notify(notify::Args),
    /// Queue the escalations that fell due, send what is due and retry what failed (for cron).
    Escalate(escalate::Args),
}

/// Exit code for a run or check that failed.
pub const FAILED: u8 = 1;
/// Exit code for usage errors and input custos cannot use.
pub const INVALID: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match &cli.command {
        Command::Validate(args) => validate::run(args, &cli.policies),
        Command::Graph(args) => graph::run(args, &cli.policies),
        Command::Show(args) => show::run(args, &cli.policies),
        Command::Notify(args) => notify::run(args, &cli.policies, &store_path(&cli)),
        Command::Escalate(args) => escalate::run(args, &cli.policies, &store_path(&cli)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("custos: error: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "custos=debug",
        _ => "custos=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The incident log: `--store`, `CUSTOS_STORE`, or the default location.
fn store_path(cli: &Cli) -> PathBuf {
    cli.store
        .clone()
        .unwrap_or_else(custos::store::default_path)
}

/// The file a runbook argument names: a path, or an id looked up in `runbooks/`.
fn runbook_path(argument: &str) -> PathBuf {
    let path = Path::new(argument);
    if path.exists() || argument.contains('/') || argument.ends_with(".yaml") {
        return path.to_owned();
    }
    Path::new("runbooks").join(format!("{argument}.yaml"))
}

/// Loads a runbook for a command that needs a valid one, printing its problems otherwise.
fn load_runbook(argument: &str, policies: &Path) -> Result<custos::runbook::Loaded, ExitCode> {
    let context = custos::policy::context(policies);
    custos::runbook::load(&runbook_path(argument), &context).map_err(|report| {
        eprint!("{report}");
        eprintln!("custos: `{argument}` is not a valid runbook; `custos validate` shows why");
        ExitCode::from(INVALID)
    })
}
