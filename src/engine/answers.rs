//! Scripted walks: a file of answers, per node and per visit, for drills and tests.
//!
//! ```yaml
//! inputs: { member: hsm-b }
//! nodes:
//!   lost_or_damaged: lost                 # a decision's option
//!   intake:                               # a step's fields and notes
//!     fields: { card_serial: "0042" }
//!     notes: [Card reported by the night guard]
//!   kcv_matches: ["no", "yes"]            # one answer per visit of a looping node
//!   approve_restore:
//!     approvals:
//!       - { person: alice, passphrase_env: ALICE_PASSPHRASE }
//!       - { wait: true }                  # wait for `custos approve` from another terminal
//! participants:                           # a ceremony's participants and their roles
//!   - { person: alice, role: custodian }
//! components:                             # hsm.load_components, in a drill only:
//!   ZMK-DRILL-2027: [ZMK_COMPONENT_A, ZMK_COMPONENT_B]   # the variables holding each, in hex
//! initiator: { passphrase_env: DAVE_PASS }  # the `--as` person's passphrase, when asked;
//!                                           # `CUSTOS_PASSPHRASE_DAVE` if not given
//! ```
//!
//! Visits are counted from the log, so a resumed walk picks up the answer for the visit it is
//! at. A node without an answer stops the walk, which stays open to resume. Approvals naming
//! people are for drills only: in a real incident two passphrases in one process would defeat
//! dual control, so each custodian approves with `custos approve` from their own terminal.
//!
//! Like passphrases, key components never sit in the file: it names, per key label, the
//! environment variables that hold each component in hex, in order. They are read only in a
//! drill (`hsm.load_components` runs nowhere else), and only the components' KCVs reach the log.

use super::fields::check_value;
use super::responder::{ApprovalMove, Approver, Choice, Done, Responder, Stop, View};
use crate::hsm::EnvSecrets;
use crate::policy::environment::Environments;
use crate::runbook::{Diagnostic, Edge, Input, Pos, Report, Requirement};
use crate::store::event::Participant;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use zeroize::Zeroizing;

/// A parsed answers file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    #[serde(default)]
    pub inputs: Map<String, Value>,
    #[serde(default)]
    pub nodes: HashMap<String, Visits>,
    /// For a ceremony: who takes part, and as what.
    #[serde(default)]
    pub participants: Vec<Participant>,
    /// For `hsm.load_components` in a drill: per key label, the environment variables that hold
    /// its components in hex, in order. Never the components themselves.
    #[serde(default)]
    pub components: BTreeMap<String, Vec<String>>,
    /// Where the passphrase of the person opening the incident is, when they must authenticate.
    pub initiator: Option<ScriptedInitiator>,
}

/// The person opening the incident (`--as`): the environment variable with their passphrase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedInitiator {
    pub passphrase_env: String,
}

/// The answers to one node: one for every visit, or a list, one per visit in order.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Visits {
    Each(Vec<Answer>),
    Always(Answer),
}

/// The answer to one visit of a node.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// Just the option of a decision.
    Option(String),
    Full(FullAnswer),
}

/// The answer to one visit, with everything it may carry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullAnswer {
    pub choose: Option<String>,
    #[serde(default)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub approvals: Vec<ScriptedApproval>,
}

/// One approval in a script: a person whose passphrase is in an environment variable, or a
/// wait for approvals from elsewhere.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedApproval {
    pub person: Option<String>,
    pub passphrase_env: Option<String>,
    #[serde(default)]
    pub wait: bool,
}

impl Answers {
    /// Reads an answers file, with errors that say where.
    pub fn load(path: &Path) -> Result<Self, Report> {
        let report = |message: String, at: Option<Pos>, source: String| {
            Report::new(path, source, vec![Diagnostic::new(at, message)])
        };
        let source = std::fs::read_to_string(path).map_err(|error| {
            report(
                format!("cannot read the answers file: {error}"),
                None,
                String::new(),
            )
        })?;
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        let answers: Self =
            serde_saphyr::from_str_with_options(&source, options).map_err(|error| {
                let diagnostic = Diagnostic::from_yaml(&error);
                let message = format!("not a valid answers file: {}", diagnostic.message);
                report(message, diagnostic.at, source.clone())
            })?;
        match answers.component_problem() {
            Some(message) => Err(report(message, None, source)),
            None => Ok(answers),
        }
    }

    /// What is wrong with the `components` section: a name that is not a variable name, or
    /// one that looks like a component value written into the file.
    fn component_problem(&self) -> Option<String> {
        for (label, variables) in &self.components {
            for variable in variables {
                let hex = variable.len() >= 16 && variable.chars().all(|c| c.is_ascii_hexdigit());
                if hex {
                    return Some(format!(
                        "`components` for `{label}`: an entry looks like a key component, not \
                         the name of a variable; components never go in the answers file"
                    ));
                }
                let mut chars = variable.chars();
                let name = chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !name {
                    return Some(format!(
                        "`components` for `{label}`: `{variable}` is not the name of an \
                         environment variable"
                    ));
                }
            }
        }
        None
    }

    /// The secrets of a walk answered from this file: PINs from the variables the environments
    /// name, and, in a drill only, key components from the variables this file names.
    pub fn secrets(&self, environments: &Environments, rehearsal: bool) -> EnvSecrets {
        let secrets = EnvSecrets::new(environments);
        if rehearsal {
            secrets.with_components(self.components.clone())
        } else {
            secrets
        }
    }

    /// The nodes where the file gives approvals by named people, sorted.
    pub fn approving_nodes(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = self
            .nodes
            .iter()
            .filter(|(_, visits)| {
                let answers: Vec<&Answer> = match visits {
                    Visits::Each(list) => list.iter().collect(),
                    Visits::Always(answer) => vec![answer],
                };
                answers.iter().any(|answer| match answer {
                    Answer::Full(full) => full.approvals.iter().any(|a| a.person.is_some()),
                    Answer::Option(_) => false,
                })
            })
            .map(|(node, _)| node.as_str())
            .collect();
        nodes.sort_unstable();
        nodes
    }

    fn answer(&self, node: &str, visit: u32) -> Option<FullAnswer> {
        let visits = self.nodes.get(node)?;
        let answer = match visits {
            Visits::Always(answer) => answer,
            Visits::Each(list) => list.get(usize::try_from(visit).ok()?.checked_sub(1)?)?,
        };
        Some(match answer {
            Answer::Option(option) => FullAnswer {
                choose: Some(option.clone()),
                ..FullAnswer::default()
            },
            Answer::Full(full) => FullAnswer {
                choose: full.choose.clone(),
                fields: full.fields.clone(),
                notes: full.notes.clone(),
                approvals: full
                    .approvals
                    .iter()
                    .map(|approval| ScriptedApproval {
                        person: approval.person.clone(),
                        passphrase_env: approval.passphrase_env.clone(),
                        wait: approval.wait,
                    })
                    .collect(),
            },
        })
    }
}

/// A responder that answers from a file and prints what happens.
pub struct Script {
    answers: Answers,
    /// Approvals of the current approval visit already handed out: (node, visit, index).
    approvals_used: HashMap<(String, u32), usize>,
    quiet: bool,
}

impl Script {
    pub fn new(answers: Answers, quiet: bool) -> Self {
        Self {
            answers,
            approvals_used: HashMap::new(),
            quiet,
        }
    }

    fn required(&self, view: &View<'_>) -> Result<FullAnswer, Stop> {
        let node = view.node.id.to_string();
        self.answers
            .answer(&node, view.visit)
            .ok_or(Stop::Unanswered {
                node,
                visit: view.visit,
            })
    }
}

/// Why an answers file may not approve in a real incident, for the incident `incident`.
pub fn scripted_approval_refused(incident: &str, node: &str) -> String {
    format!(
        "approvals from an answers file are for drills only; in a real incident each custodian \
         approves from their own terminal: `custos approve {incident} {node} --as PERSON`"
    )
}

impl Responder for Script {
    fn authenticate(&mut self, person: &str) -> Result<Zeroizing<String>, Stop> {
        let variable = match &self.answers.initiator {
            Some(initiator) => initiator.passphrase_env.clone(),
            None => crate::approval::passphrase_variable(person),
        };
        std::env::var(&variable).map(Zeroizing::new).map_err(|_| {
            Stop::Invalid(format!(
                "`{person}` must authenticate to open this incident, and the environment \
                 variable `{variable}` for their passphrase is not set (the answers file may \
                 name another: `initiator: {{ passphrase_env: VAR }}`)"
            ))
        })
    }

    fn inputs(&mut self, inputs: &[Input]) -> Result<Map<String, Value>, Stop> {
        let mut values = Map::new();
        for input in inputs {
            match self.answers.inputs.get(&input.name) {
                Some(value) => {
                    let value = check_value(input, value).map_err(|reason| {
                        Stop::Invalid(format!("input `{}`: {reason}", input.name))
                    })?;
                    values.insert(input.name.clone(), value);
                }
                None if input.required => {
                    return Err(Stop::Invalid(format!(
                        "the answers file gives no value for the input `{}` ({})",
                        input.name, input.prompt
                    )));
                }
                None => {}
            }
        }
        if let Some(extra) = self
            .answers
            .inputs
            .keys()
            .find(|name| !inputs.iter().any(|i| &i.name == *name))
        {
            return Err(Stop::Invalid(format!(
                "the answers file gives `{extra}`, which the runbook does not ask for"
            )));
        }
        Ok(values)
    }

    fn participants(&mut self) -> Result<Vec<Participant>, Stop> {
        if self.answers.participants.is_empty() {
            return Err(Stop::Invalid(
                "a ceremony needs its `participants` in the answers file".into(),
            ));
        }
        Ok(self.answers.participants.clone())
    }

    fn arrive(&mut self, view: &View<'_>) {
        if !self.quiet {
            // A reader that went away (`| head`) does not stop a scripted walk: the log is
            // its record, and the walk ends where the answers file says.
            let _ = writeln!(
                std::io::stdout().lock(),
                "[{}] {} ({})",
                view.step,
                view.node.title,
                view.node.id
            );
        }
    }

    fn decide(&mut self, view: &View<'_>, options: &[Edge]) -> Result<Choice, Stop> {
        let answer = self.required(view)?;
        let Some(option) = answer.choose else {
            return Err(Stop::Invalid(format!(
                "the answer for decision `{}` has no `choose`",
                view.node.id
            )));
        };
        if !options
            .iter()
            .any(|edge| matches!(&edge.label, crate::runbook::EdgeLabel::Option(o) if *o == option))
        {
            let known: Vec<String> = options
                .iter()
                .map(|edge| format!("`{}`", edge.label))
                .collect();
            return Err(Stop::Invalid(format!(
                "`{option}` is not an option of decision `{}`; it offers {}",
                view.node.id,
                known.join(", ")
            )));
        }
        Ok(Choice {
            option,
            notes: answer.notes,
        })
    }

    fn complete(&mut self, view: &View<'_>, fields: &[Input]) -> Result<Done, Stop> {
        let answer = match self.required(view) {
            Ok(answer) => answer,
            Err(stop) if fields.iter().all(|field| !field.required) => {
                let _ = stop;
                FullAnswer::default()
            }
            Err(stop) => return Err(stop),
        };
        let mut values = Map::new();
        for field in fields {
            match answer.fields.get(&field.name) {
                Some(value) => {
                    let value = check_value(field, value).map_err(|reason| {
                        Stop::Invalid(format!(
                            "node `{}`, field `{}`: {reason}",
                            view.node.id, field.name
                        ))
                    })?;
                    values.insert(field.name.clone(), value);
                }
                None if field.required => {
                    return Err(Stop::Invalid(format!(
                        "the answer for step `{}` has no value for the field `{}` ({})",
                        view.node.id, field.name, field.prompt
                    )));
                }
                None => {}
            }
        }
        Ok(Done {
            fields: values,
            notes: answer.notes,
        })
    }

    fn notes(&mut self, view: &View<'_>) -> Vec<String> {
        self.answers
            .answer(view.node.id.as_str(), view.visit)
            .map(|answer| answer.notes)
            .unwrap_or_default()
    }

    fn approve(
        &mut self,
        view: &View<'_>,
        _: &Requirement,
        _: &[String],
    ) -> Result<ApprovalMove, Stop> {
        let answer = self.required(view)?;
        let key = (view.node.id.to_string(), view.visit);
        let used = self.approvals_used.entry(key).or_default();
        let Some(next) = answer.approvals.get(*used) else {
            return Err(Stop::Invalid(format!(
                "the approvals the answers file gives for `{}` are used up and the quorum is not \
                 met; add approvers, or `{{ wait: true }}` to wait for `custos approve`",
                view.node.id
            )));
        };
        if next.wait {
            // A wait stays where it is: the walk keeps waiting until others approve.
            return Ok(ApprovalMove::Wait);
        }
        if !view.rehearsal {
            let incident = view.incident.to_string();
            return Err(Stop::Invalid(scripted_approval_refused(
                &incident,
                view.node.id.as_str(),
            )));
        }
        *used += 1;
        let person = next.person.clone().ok_or_else(|| {
            Stop::Invalid(format!(
                "an approval for `{}` names no `person`",
                view.node.id
            ))
        })?;
        let variable = next.passphrase_env.clone().ok_or_else(|| {
            Stop::Invalid(format!(
                "the approval of `{person}` names no `passphrase_env`"
            ))
        })?;
        let passphrase = std::env::var(&variable).map_err(|_| {
            Stop::Invalid(format!(
                "the environment variable `{variable}` for `{person}`'s passphrase is not set"
            ))
        })?;
        Ok(ApprovalMove::Approve(Approver {
            person,
            passphrase: Zeroizing::new(passphrase),
        }))
    }

    fn tell(&mut self, message: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stdout().lock(), "    {message}");
        }
    }
}
