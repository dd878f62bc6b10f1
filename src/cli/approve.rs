//! `custos approve INCIDENT [NODE] --as PERSON`: approve from another terminal or machine that
//! shares the incident log, while the walker waits at the approval node.
//!
//! Exit codes: 0 the approval was granted; 1 it was refused (the refusal is in the log); 2 the
//! request could not be judged (no such incident, not an approval node, no roster), or came
//! when the incident was not waiting at the node or its quorum was met (both logged as
//! refusals).

use std::path::Path;
use std::process::ExitCode;

use custos::approval::{self, ApprovalError, Attempt};
use custos::engine::Clock;
use custos::policy::roster::Roster;
use custos::runbook::{NodeId, NodeKind};
use custos::store::{Event, IncidentId, IncidentState, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The incident, as `INC-42` or `42`.
    incident: String,
    /// The approval node; by default the node the incident is waiting at.
    node: Option<String>,
    /// Who is approving: an id from the roster.
    #[arg(long = "as", value_name = "PERSON")]
    person: String,
    /// Read the passphrase from this variable instead of a prompt (scripts and tests).
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

/// Prints `message` as a usage problem and returns exit code 2.
fn invalid(message: impl std::fmt::Display) -> ExitCode {
    errln!("custos: {message}");
    ExitCode::from(super::INVALID)
}

pub fn run(args: &Args, policies: &Path, store_path: &Path) -> anyhow::Result<ExitCode> {
    let incident: IncidentId = match args.incident.parse() {
        Ok(id) => id,
        Err(error) => return Ok(invalid(error)),
    };
    let roster = match Roster::load_from(policies) {
        Ok(Some(roster)) => roster,
        Ok(None) => {
            return Ok(invalid(format_args!(
                "there is no roster in `{}`; approvals need `roster.yaml`",
                policies.display()
            )));
        }
        Err(report) => {
            err!("{report}");
            return Ok(invalid("the roster cannot be read"));
        }
    };

    let mut store = Store::open(store_path)?;
    let summary = match store.incident(&incident) {
        Ok(summary) => summary,
        Err(error) => return Ok(invalid(error)),
    };
    if summary.state == IncidentState::Closed {
        return Ok(invalid(format_args!(
            "incident `{incident}` is closed; nothing is waiting for approval"
        )));
    }
    let Ok(runbook) = custos::runbook::parse_pinned(&summary.runbook_source) else {
        return Ok(invalid(format_args!(
            "the runbook pinned in incident `{incident}` cannot be read back"
        )));
    };

    let records = store.events(&incident)?;
    let current = records.iter().rev().find_map(|record| match &record.event {
        Event::NodeEntered { node } => Some(node.clone()),
        _ => None,
    });
    let Some(node_id) = args.node.clone().or(current) else {
        return Ok(invalid(format_args!(
            "incident `{incident}` has not reached any node yet"
        )));
    };
    let node = runbook.node(&NodeId(node_id.clone()));
    let Some(NodeKind::Approval { require, .. }) = node.map(|node| &node.kind) else {
        return Ok(invalid(format_args!(
            "node `{node_id}` of incident `{incident}` is not an approval node"
        )));
    };

    let prompt = format!("Passphrase for {}:", args.person);
    let passphrase = match super::passphrase::read(args.passphrase_env.as_deref(), &prompt, false) {
        Ok(passphrase) => passphrase,
        Err(error) => return Ok(invalid(format_args!("{error:#}"))),
    };
    let result = approval::attempt(
        &mut store,
        &roster,
        &incident,
        &node_id,
        require,
        &summary.initiator,
        &args.person,
        &passphrase,
        approval::origin(),
        // A drill's approvals are stamped on the drill's clock, as its walk is.
        Clock::of_incident(&records).now(),
    );
    drop(passphrase);

    match result {
        Ok(Attempt::Granted { role, quorum }) => {
            outln!(
                "granted: `{}` approves `{node_id}` of {incident} as {role}",
                args.person
            );
            outln!("{quorum}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Attempt::Refused { refusal, quorum }) => {
            errln!(
                "custos: refused: `{}` may not approve `{node_id}` of {incident}: {refusal}",
                args.person
            );
            outln!("{quorum}");
            Ok(ExitCode::from(super::FAILED))
        }
        Err(ApprovalError::Store(error)) => Err(error.into()),
        Err(error) => Ok(invalid(error)),
    }
}
