//! The person at the other end of a walk, whoever or whatever answers for them.
//!
//! The walk asks; a [`Responder`] answers. The terminal (in `cli`) asks a human through
//! prompts; [`super::answers::Script`] answers from a file for drills and tests. Either may
//! stop the walk instead of answering, and the incident stays open to resume.

use crate::runbook::{Edge, Input, Node, Requirement};
use crate::store::IncidentId;
use crate::store::event::Participant;
use serde_json::{Map, Value};
use std::time::Duration;
use zeroize::Zeroizing;

/// Why a responder did not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The answers file has nothing for this visit of this node.
    Unanswered { node: String, visit: u32 },
    /// The person chose to stop for now.
    Paused,
    /// A value could not be used; the message says why.
    Invalid(String),
}

/// How many of the nodes entered last a [`View`] carries.
pub const RECENT: usize = 5;

/// What the walk shows about the node it is at.
pub struct View<'a> {
    pub incident: IncidentId,
    pub node: &'a Node,
    /// The guidance rendered with what is known so far.
    pub guidance: Option<String>,
    /// Which visit of this node this is, from 1.
    pub visit: u32,
    /// The number of nodes entered so far, this one included.
    pub step: usize,
    /// The ids of the last few nodes entered, this one included (at most [`RECENT`]).
    pub recent: Vec<String>,
    pub rehearsal: bool,
}

/// A decision taken, with any notes.
#[derive(Debug)]
pub struct Choice {
    pub option: String,
    pub notes: Vec<String>,
}

/// A manual step done, with its fields and any notes.
#[derive(Debug)]
pub struct Done {
    pub fields: Map<String, Value>,
    pub notes: Vec<String>,
}

/// Someone offering to approve, with their passphrase.
pub struct Approver {
    pub person: String,
    pub passphrase: Zeroizing<String>,
}

/// What a responder does at an approval node.
pub enum ApprovalMove {
    /// Someone here approves now.
    Approve(Approver),
    /// Wait for approvals from other terminals (`custos approve`).
    Wait,
}

/// What the person did while the walk waited for approvals from other terminals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Nothing: keep waiting.
    Still,
    /// They asked to go back to the approval menu.
    Back,
}

/// The answers a walk needs.
pub trait Responder {
    /// The values of the runbook's inputs, when an incident opens.
    fn inputs(&mut self, inputs: &[Input]) -> Result<Map<String, Value>, Stop>;

    /// The passphrase of `person`, who opens an incident whose approvals exclude the initiator,
    /// to prove who they are.
    fn authenticate(&mut self, person: &str) -> Result<Zeroizing<String>, Stop>;

    /// Whether a person answers at a prompt, so that a refused value can be asked again; a
    /// script would give the same value again, so its walk stops instead.
    fn interactive(&self) -> bool {
        false
    }

    /// Who takes part in a key ceremony, with their roles; asked when a ceremony opens.
    fn participants(&mut self) -> Result<Vec<Participant>, Stop> {
        Ok(Vec::new())
    }

    /// Shows the node the walk has arrived at.
    fn arrive(&mut self, view: &View<'_>);

    /// Picks one of a decision's options.
    fn decide(&mut self, view: &View<'_>, options: &[Edge]) -> Result<Choice, Stop>;

    /// Does a manual step, filling in its fields.
    fn complete(&mut self, view: &View<'_>, fields: &[Input]) -> Result<Done, Stop>;

    /// Notes to record at a node that asks nothing (an action, a notification).
    fn notes(&mut self, view: &View<'_>) -> Vec<String>;

    /// The next approval to try at an approval node, `already` being who has approved so far.
    fn approve(
        &mut self,
        view: &View<'_>,
        require: &Requirement,
        already: &[String],
    ) -> Result<ApprovalMove, Stop>;

    /// Waits up to `pause` for approvals from other terminals, `already` having approved; the
    /// walk calls it again and again until the quorum is met or the person goes back.
    fn waiting(
        &mut self,
        view: &View<'_>,
        already: &[String],
        pause: Duration,
    ) -> Result<Waiting, Stop> {
        let _ = (view, already);
        std::thread::sleep(pause);
        Ok(Waiting::Still)
    }

    /// Says something to the person: an action's result, a refusal, a notification sent.
    fn tell(&mut self, message: &str);

    /// An automated step is running; the terminal shows a spinner until `finished`.
    fn working(&mut self, _what: &str) {}

    /// The automated step, or the wait for approvals, has finished.
    fn finished(&mut self) {}
}
