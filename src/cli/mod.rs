//! The command line: one file per subcommand, each a thin layer over the library.
//!
//! Exit codes: 0 success; 1 a run or check failed (an invalid runbook, a broken chain);
//! 2 usage errors and input custos cannot use. What the user must see goes to stderr with a
//! `custos:` prefix; diagnostics go through `tracing`, shown with `-v` or `CUSTOS_LOG`.

// `println!` and friends panic when their stream is closed (`custos validate 2>&1 | head -1`,
// a dropped SSH session). These write the same text and drop it instead: nobody is left to
// read it, and a command carries on to the verdict its exit code gives, which a monitoring
// pipeline with `pipefail` still sees. A terminal that has gone is noticed by the next prompt.

/// `println!` that drops its line when standard output is closed.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` the way [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that drops its line when standard error is closed.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// `eprint!` the way [`errln!`] is `eprintln!`.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), $($arg)*);
    }};
}

mod approve;
mod ceremony;
mod escalate;
mod expiry;
mod export;
mod graph;
mod hsm;
mod keys;
mod notify;
mod passphrase;
mod records;
mod roster;
mod run;
mod show;
mod terminal;
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

    /// The incident log (an SQLite file); see `custos::store::default_path` for the default.
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
    /// Open an incident from a runbook and walk it.
    Run(run::RunArgs),
    /// Run a tabletop drill: like `run --rehearsal`, on simulator environments only.
    Drill(run::DrillArgs),
    /// Continue an incident where it stopped.
    Resume(run::ResumeArgs),
    /// List incidents and drills.
    Incidents,
    /// Print the full record of an incident.
    Log(records::LogArgs),
    /// Recompute the hash chain and check the seal of one incident or all.
    Verify(records::VerifyArgs),
    /// The installation's signing key.
    #[command(subcommand)]
    Key(records::KeyCommand),
    /// The HSM environments.
    #[command(subcommand)]
    Hsm(HsmCommand),
    /// The key register: its hierarchy drawn, and compared with a live token.
    #[command(subcommand)]
    Keys(keys::Command),
    /// Approve the node an incident waits at, from any terminal sharing the incident log.
    Approve(approve::Args),
    /// Manage the roster: people, roles, passphrases.
    Roster(roster::Args),
    /// Key ceremonies: the signed record of a closed ceremony.
    Ceremony(ceremony::Args),
    /// Show the outbox of notifications, or send everything not yet sent.
    Notify(notify::Args),
    /// Queue the escalations that fell due, send what is due and retry what failed (for cron).
    Escalate(escalate::Args),
    /// Export incidents for auditors: JSON Lines (verifiable offline), CSV or HTML reports.
    Export(export::Args),
    /// Watch certificates, keys and HSMs for their end: alerts at 90, 60, 30 and 7 days.
    Expiry(expiry::Args),
}

#[derive(Debug, Subcommand)]
enum HsmCommand {
    /// Report what an environment's module and token look like: slots, flags, login, a test
    /// encryption.
    Check {
        /// The environment, as named in `policies/environments.yaml`.
        environment: String,
    },
}

/// The options every subcommand shares.
pub struct Globals {
    pub policies: PathBuf,
    store: Option<PathBuf>,
}

impl Globals {
    /// The store named by `--store` or `CUSTOS_STORE`, or the default location.
    pub fn store_path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(custos::store::default_path)
    }
}

/// Exit code for a run or check that failed.
pub const FAILED: u8 = 1;
/// Exit code for usage errors and input custos cannot use.
pub const INVALID: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let globals = Globals {
        policies: cli.policies.clone(),
        store: cli.store.clone(),
    };
    let result = match &cli.command {
        Command::Validate(args) => validate::run(args, &cli.policies),
        Command::Graph(args) => graph::run(args, &cli.policies),
        Command::Show(args) => show::run(args, &cli.policies),
        Command::Run(args) => run::run(args, &globals),
        Command::Drill(args) => run::drill(args, &globals),
        Command::Resume(args) => run::resume(args, &globals),
        Command::Incidents => records::incidents(&globals),
        Command::Log(args) => records::log(args, &globals),
        Command::Verify(args) => records::verify(args, &globals),
        Command::Key(command) => records::key(command, &globals),
        Command::Hsm(HsmCommand::Check { environment }) => hsm_check(environment, &globals),
        Command::Keys(command) => keys::run(command, &cli.policies),
        Command::Approve(args) => approve::run(args, &cli.policies, &globals.store_path()),
        Command::Roster(args) => roster::run(args, &cli.policies),
        Command::Ceremony(args) => ceremony::run(args, &cli.policies, &globals.store_path()),
        Command::Notify(args) => notify::run(args, &cli.policies, &globals.store_path()),
        Command::Escalate(args) => escalate::run(args, &cli.policies, &globals.store_path()),
        Command::Export(args) => export::run(args, &globals),
        Command::Expiry(args) => expiry::run(args, &cli.policies, &globals.store_path()),
    };
    match result {
        Ok(code) => code,
        // A reader that stopped reading (`custos log X | head`) is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        // A store this user may not write is a setup problem, not a failed run.
        Err(error) if is_unwritable_store(&error) => {
            errln!("custos: {error:#}");
            ExitCode::from(INVALID)
        }
        Err(error) => {
            errln!("custos: error: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}

fn hsm_check(name: &str, globals: &Globals) -> anyhow::Result<ExitCode> {
    let path = globals.policies.join(custos::policy::ENVIRONMENTS);
    let environments = custos::policy::environment::Environments::load(&path)?;
    let mut secrets = hsm::TerminalSecrets::new(&environments);
    let healthy = hsm::check(&environments, name, &mut secrets)?;
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    })
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn is_unwritable_store(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<custos::store::StoreError>(),
            Some(custos::store::StoreError::NotWritable { .. })
        )
    })
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
        err!("{report}");
        errln!("custos: `{argument}` is not a valid runbook; `custos validate` shows why");
        ExitCode::from(INVALID)
    })
}
