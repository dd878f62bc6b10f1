//! `custos run`, `custos drill` and `custos resume`: the guided walk.
//!
//! Exit codes: 0 when the incident closed or the responder paused it on purpose; 1 when the
//! walk stopped on a problem (an answers file without an answer, a value that does not fit,
//! the store failing); 2 when the runbook or an argument cannot be used, including an initiator
//! who does not authenticate and an answers file that approves in a real incident.
//!
//! A runbook whose approvals exclude the initiator starts only with `--as PERSON`, a person of
//! the roster who proves it with their passphrase (a hidden prompt, or the variable the answers
//! file names); `initiator_authenticated` records it. Otherwise `--as` is the name recorded as
//! the actor, unchecked.

use super::terminal::Terminal;
use super::{FAILED, Globals, INVALID};
use anyhow::{Context as _, bail};
use custos::approval;
use custos::engine::answers::{Answers, Script, scripted_approval_refused};
use custos::engine::gates::PolicyGates;
use custos::engine::hsm_actions::HsmActions;
use custos::engine::report::Debrief;
use custos::engine::watch::{EscalationWatch, WATCH_INTERVAL};
use custos::engine::{
    Clock, Ending, InitiatorProof, Responder, Start, Stop, WalkContext, WalkState, Walker,
};
use custos::hsm::Secrets;
use custos::policy::environment::Environments;
use custos::runbook::{NodeKind, Runbook, parse_pinned};
use custos::store::{IncidentId, Store, signing};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The runbook: a path, or an id from `runbooks/`.
    runbook: String,

    #[command(flatten)]
    walk: WalkArgs,

    /// A drill: simulator environments only, mail to the drill recipients only.
    #[arg(long)]
    rehearsal: bool,
}

#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// The runbook: a path, or an id from `runbooks/`.
    runbook: String,

    #[command(flatten)]
    walk: WalkArgs,
}

#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The incident, like `INC-7` or `7`.
    incident: IncidentId,

    #[command(flatten)]
    walk: WalkArgs,
}

/// What every walk takes.
#[derive(Debug, Clone, clap::Args)]
pub struct WalkArgs {
    /// Who is walking; recorded as the actor of every event. Defaults to the login name.
    #[arg(long = "as", value_name = "PERSON")]
    person: Option<String>,

    /// Answer from a file instead of asking (for scripted drills and tests).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,

    /// Run the clock from this moment (RFC 3339), so time-based escalations replay (drills).
    /// A drill keeps its clock when resumed and when approved from other terminals.
    #[arg(long, value_name = "TIMESTAMP")]
    now: Option<jiff::Timestamp>,

    /// How long to wait at an approval node for approvals from other terminals.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    wait: u64,

    /// Print only the outcome, not every node (with `--answers`).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: &RunArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    start(&args.runbook, &args.walk, args.rehearsal, globals)
}

pub fn drill(args: &DrillArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    start(&args.runbook, &args.walk, true, globals)
}

fn start(
    runbook: &str,
    walk: &WalkArgs,
    rehearsal: bool,
    globals: &Globals,
) -> anyhow::Result<ExitCode> {
    let loaded = match super::load_runbook(runbook, &globals.policies) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if walk.now.is_some() && !rehearsal {
        errln!("custos: `--now` sets the clock of a drill; a real incident runs on the real clock");
        return Ok(ExitCode::from(INVALID));
    }
    let environments = environments(globals)?;
    let safety = if rehearsal {
        drill_is_safe(&loaded.runbook, environments.as_ref())
    } else {
        Ok(())
    };
    if let Err(why) = safety {
        errln!("custos: this drill would touch production, so it does not start: {why}");
        return Ok(ExitCode::from(INVALID));
    }

    let mut gates = PolicyGates::load(&globals.policies)?;
    let mut responder = match responder(walk, rehearsal, "INC-N")? {
        Ok(responder) => responder,
        Err(code) => return Ok(code),
    };
    let clock = walk.now.map_or_else(Clock::real, Clock::starting_at);
    let actor = actor(walk);
    let initiator = if excludes_initiator(&loaded.runbook) {
        match authenticate(walk, &loaded.runbook, &gates, responder.as_mut(), clock) {
            Ok(proof) => Some(proof),
            Err(code) => return Ok(code),
        }
    } else {
        None
    };
    let mut store = Store::open(&globals.store_path())?;
    let start = Start {
        loaded: &loaded,
        actor: &actor,
        rehearsal,
        clock,
        initiator,
    };
    let incident = match custos::engine::open(&mut store, &start, responder.as_mut(), &gates)? {
        Ok(incident) => incident,
        Err(stop) => return Ok(stopped_before_opening(&stop)),
    };
    let kind = if rehearsal { "drill" } else { "incident" };
    errln!(
        "custos: opened {kind} {incident} from `{}` version {}",
        loaded.runbook.id,
        loaded.runbook.version
    );
    continue_walk(
        &mut store,
        &loaded.runbook,
        incident,
        walk,
        clock,
        responder.as_mut(),
        environments,
        &mut gates,
        globals,
    )
}

/// Whether an approval of `runbook` excludes the person who opened the incident.
fn excludes_initiator(runbook: &Runbook) -> bool {
    runbook.nodes.iter().any(|node| {
        matches!(&node.kind, NodeKind::Approval { require, .. } if require.exclude_initiator)
    })
}

/// The `--as` person, authenticated against the roster; the exit code when they cannot be.
fn authenticate(
    walk: &WalkArgs,
    runbook: &Runbook,
    gates: &PolicyGates,
    responder: &mut dyn Responder,
    clock: Clock,
) -> Result<InitiatorProof, ExitCode> {
    let refuse = |message: String| {
        errln!("custos: {message}");
        ExitCode::from(INVALID)
    };
    let Some(person) = &walk.person else {
        return Err(refuse(format!(
            "`{}` has approvals that exclude the person who opens the incident, so it starts \
             only with `--as PERSON`: a person of the roster, who authenticates with their \
             passphrase",
            runbook.id
        )));
    };
    let Some(roster) = gates.roster() else {
        return Err(refuse(format!(
            "`{}` has approvals that exclude the person who opens the incident, and there is no \
             roster to authenticate `{person}` against",
            runbook.id
        )));
    };

    let passphrase = responder
        .authenticate(person)
        .map_err(|stop| stopped_before_opening(&stop))?;
    match approval::authenticate_initiator(roster, person, &passphrase, clock.now()) {
        Ok(credential) => Ok(InitiatorProof {
            person: person.clone(),
            origin: approval::origin(),
            credential,
        }),
        Err(refusal) => Err(refuse(format!(
            "`{person}` did not authenticate, so the incident was not opened: {refusal}"
        ))),
    }
}

pub fn resume(args: &ResumeArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&globals.store_path())?;
    let incident = store.incident(&args.incident)?;
    let runbook = parse_pinned(&incident.runbook_source).map_err(|problems| {
        anyhow::anyhow!(
            "the runbook pinned in {} no longer loads: {}",
            args.incident,
            problems
                .first()
                .map_or("no reason given", |problem| problem.message.as_str())
        )
    })?;
    if args.walk.now.is_some() && !incident.rehearsal {
        errln!(
            "custos: `--now` sets the clock of a drill; {} is a real incident",
            args.incident
        );
        return Ok(ExitCode::from(INVALID));
    }

    let environments = environments(globals)?;
    let mut gates = PolicyGates::load(&globals.policies)?;
    let id = args.incident.to_string();
    let mut responder = match responder(&args.walk, incident.rehearsal, &id)? {
        Ok(responder) => responder,
        Err(code) => return Ok(code),
    };
    let records = store.events(&args.incident)?;
    // A drill resumes on the clock it was opened with, unless `--now` sets it again.
    let clock = args
        .walk
        .now
        .map_or_else(|| Clock::of_incident(&records), Clock::starting_at);
    let state = WalkState::replay(&records);
    if state.closed.is_some() {
        errln!(
            "custos: {} is closed; `custos log {}` shows its record",
            args.incident,
            args.incident
        );
        return Ok(ExitCode::from(INVALID));
    }
    if let Some(node) = &state.current {
        let resumed = custos::store::Event::WalkResumed {
            node: node.to_string(),
        };
        store.append(&args.incident, &actor(&args.walk), clock.now(), &[resumed])?;
    }
    errln!(
        "custos: resuming {} at `{}`",
        args.incident,
        state.current.map(|n| n.to_string()).unwrap_or_default()
    );
    continue_walk(
        &mut store,
        &runbook,
        args.incident,
        &args.walk,
        clock,
        responder.as_mut(),
        environments,
        &mut gates,
        globals,
    )
}

#[allow(clippy::too_many_arguments)]
fn continue_walk(
    store: &mut Store,
    runbook: &Runbook,
    incident: IncidentId,
    walk: &WalkArgs,
    clock: Clock,
    responder: &mut dyn Responder,
    environments: Option<Environments>,
    gates: &mut PolicyGates,
    globals: &Globals,
) -> anyhow::Result<ExitCode> {
    let key_path = signing::default_key_path(store.path());
    let key = signing::load_or_create(&key_path)?;
    let rehearsal = store.incident(&incident)?.rehearsal;
    let secrets: Box<dyn Secrets> = match (&environments, &walk.answers) {
        // A scripted drill reads key components from the variables its answers file names.
        (Some(environments), Some(path)) => match Answers::load(path) {
            Ok(answers) => Box::new(answers.secrets(environments, rehearsal)),
            Err(report) => bail!("{}", report.to_string().trim_end()),
        },
        (Some(environments), None) => Box::new(super::hsm::TerminalSecrets::new(environments)),
        (None, _) => Box::new(custos::hsm::FixedSecrets::new()),
    };
    let mut actions = HsmActions::new(environments, secrets, globals.policies.clone());

    if rehearsal {
        actions.recall_drill_moves(&store.events(&incident)?);
    }
    let mut walker = Walker {
        context: WalkContext {
            store,
            runbook,
            incident,
            actor: actor(walk),
            clock,
            state: WalkState::default(),
        },
        responder,
        actions: &mut actions,
        gates,
        key: &key,
        poll: Duration::from_millis(250),
        patience: Duration::from_secs(walk.wait),
    };
    // A person can sit at one prompt for hours; escalations must not wait for their answer.
    // A script moves on at once, and the walker's own look between moves serves it.
    let watch = walk.answers.is_none().then(|| {
        EscalationWatch::start(
            walker.context.store.path(),
            &globals.policies,
            incident,
            clock,
            watch_interval(),
            |line| errln!("\ncustos: {line}"),
        )
    });
    let ending = walker.walk();
    drop(watch);
    // Dropping `actions` finalises the modules too; closing here logs what could not be closed.
    actions.close();
    let ending = ending?;

    match ending {
        Ending::Closed { node, outcome } => {
            errln!("custos: {incident} closed at `{node}`: {outcome}; the log is sealed");
            if rehearsal {
                // Streamed: a long drill's log is never held whole for its debrief.
                let mut debrief = Debrief::default();
                store.for_each_event(Some(&incident), |record| {
                    debrief.add(&record);
                    Ok(())
                })?;
                outln!("\n{}", debrief.finish(runbook));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ending::Paused { node, reason, stop } => {
            errln!("custos: {incident} stopped at `{node}`: {reason}");
            errln!("custos: it stays open; `custos resume {incident}` continues where it stopped");
            Ok(if stop == Stop::Paused {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(FAILED)
            })
        }
    }
}

/// How often an interactive walk looks for escalations beside the prompt:
/// `CUSTOS_WATCH_SECONDS` when set (tests shorten it), else [`WATCH_INTERVAL`].
fn watch_interval() -> Duration {
    std::env::var("CUSTOS_WATCH_SECONDS")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .map_or(WATCH_INTERVAL, Duration::from_secs)
}

/// The terminal, or the answers file; an answers file that approves is refused outside a drill
/// (`incident` names the incident in the message).
fn responder(
    walk: &WalkArgs,
    rehearsal: bool,
    incident: &str,
) -> anyhow::Result<Result<Box<dyn Responder>, ExitCode>> {
    let Some(path) = &walk.answers else {
        return Ok(Ok(Box::new(Terminal::new())));
    };
    let answers = match Answers::load(path) {
        Ok(answers) => answers,
        Err(report) => bail!("{}", report.to_string().trim_end()),
    };
    if let Some(node) = answers.approving_nodes().first().filter(|_| !rehearsal) {
        errln!(
            "custos: `{}` approves at `{node}`, and this is a real incident: {}",
            path.display(),
            scripted_approval_refused(incident, node)
        );
        return Ok(Err(ExitCode::from(INVALID)));
    }
    Ok(Ok(Box::new(Script::new(answers, walk.quiet))))
}

fn stopped_before_opening(stop: &Stop) -> ExitCode {
    match stop {
        Stop::Paused => {
            errln!("custos: stopped before the incident was opened; nothing was recorded");
            ExitCode::SUCCESS
        }
        Stop::Invalid(reason) => {
            errln!("custos: the incident was not opened: {reason}");
            ExitCode::from(INVALID)
        }
        Stop::Unanswered { node, .. } => {
            errln!("custos: the incident was not opened: no answer for `{node}`");
            ExitCode::from(INVALID)
        }
    }
}

/// The login name, unless `--as` says who.
fn actor(walk: &WalkArgs) -> String {
    walk.person.clone().unwrap_or_else(custos::approval::user)
}

fn environments(globals: &Globals) -> anyhow::Result<Option<Environments>> {
    let path = globals.policies.join(custos::policy::ENVIRONMENTS);
    if !path.exists() {
        return Ok(None);
    }
    Environments::load(&path)
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

/// Every environment the runbook's actions name must be safe for a drill: not production, or
/// production with a simulator stand-in.
fn drill_is_safe(runbook: &Runbook, environments: Option<&Environments>) -> Result<(), String> {
    for node in &runbook.nodes {
        let NodeKind::Action(action) = &node.kind else {
            continue;
        };
        for param in &action.params {
            let Some(spec) =
                custos::catalog::action(&action.run.name).and_then(|spec| spec.param(&param.name))
            else {
                continue;
            };
            if spec.kind != custos::catalog::ParamKind::Environment {
                continue;
            }
            let Some(name) = param.value.as_str() else {
                continue;
            };
            let Some(environments) = environments else {
                return Err(format!(
                    "node `{}` names environment `{name}`, and no environments are defined",
                    node.id
                ));
            };
            environments
                .resolve_for_drill(name)
                .map_err(|error| format!("node `{}`: {error}", node.id))?;
        }
    }
    Ok(())
}
