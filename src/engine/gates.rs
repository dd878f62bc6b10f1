//! Approvals and notifications for the walk, as the policies define them.
//!
//! Approvals go through [`crate::approval`] against the roster in `policies/roster.yaml`:
//! distinct, authenticated people with the required roles. Without a roster no approval can
//! be granted, and the walk says so rather than letting anyone through. Notifications go
//! through [`crate::notify`]: written to the outbox first, then sent; escalations that fall
//! due are checked between moves, at most every [`TICK`] of real time, and by the
//! [`super::watch::EscalationWatch`] beside an interactive prompt.

use super::walk::{EngineError, Gates, WalkContext};
use crate::approval::{self, Attempt};
use crate::notify;
use crate::policy::roster::Roster;
use crate::runbook::{Input, Node, NodeKind};
use crate::store::Participant;
use crate::store::{EventRecord, NotificationId, NotificationState};
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often, in real time, a walk looks for escalations that fell due.
const TICK: Duration = Duration::from_secs(15);

/// The gates of this installation, read from `policies/`.
pub struct PolicyGates {
    roster: Option<Roster>,
    mail: notify::Policy,
    last_tick: Option<Instant>,
}

impl PolicyGates {
    /// Reads the roster and the notification policy from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mail = notify::Policy::load(dir)
            .map_err(|error| anyhow::anyhow!("{}", error.to_string().trim_end()))?;
        let roster = Roster::load_from(dir)
            .map_err(|report| anyhow::anyhow!("{}", report.to_string().trim_end()))?;
        Ok(Self {
            roster,
            mail,
            last_tick: None,
        })
    }
}

impl PolicyGates {
    /// The roster, when `policies/roster.yaml` exists.
    pub fn roster(&self) -> Option<&Roster> {
        self.roster.as_ref()
    }
}

impl Gates for PolicyGates {
    fn people(
        &self,
        walk: &WalkContext<'_>,
        fields: &[Input],
        values: &Map<String, Value>,
    ) -> Result<(), String> {
        let inputs = &walk.state.inputs;
        approval::check_people(
            self.roster.as_ref(),
            fields,
            values,
            inputs,
            walk.clock.now(),
        )
    }

    fn participants(&self, participants: &[Participant], at: Timestamp) -> Result<(), String> {
        approval::check_participants(self.roster.as_ref(), participants, at)
    }

    fn attempt(
        &mut self,
        walk: &mut WalkContext<'_>,
        node: &Node,
        person: &str,
        passphrase: &str,
    ) -> Result<Result<(), String>, EngineError> {
        let NodeKind::Approval { require, .. } = &node.kind else {
            return Ok(Err(format!("`{}` is not an approval node", node.id)));
        };
        let Some(roster) = &self.roster else {
            return Ok(Err(
                "no roster: approvals need `policies/roster.yaml`".into()
            ));
        };
        let initiator = walk.state.initiator.clone();
        let outcome = approval::attempt(
            walk.store,
            roster,
            &walk.incident,
            node.id.as_str(),
            require,
            &initiator,
            person,
            passphrase,
            approval::origin(),
            walk.clock.now(),
        );
        match outcome {
            Ok(Attempt::Granted { .. }) => Ok(Ok(())),
            Ok(Attempt::Refused { refusal, .. }) => Ok(Err(refusal.to_string())),
            Err(approval::ApprovalError::Store(error)) => Err(error.into()),
            Err(other) => Ok(Err(other.to_string())),
        }
    }

    fn quorum(&self, records: &[EventRecord], node: &Node) -> (Vec<String>, bool) {
        let NodeKind::Approval { require, .. } = &node.kind else {
            return (Vec::new(), false);
        };
        let quorum = approval::quorum(records, node.id.as_str(), require);
        (quorum.people(), quorum.is_met())
    }

    fn notify(
        &mut self,
        walk: &mut WalkContext<'_>,
        node: &Node,
    ) -> Result<Result<String, String>, EngineError> {
        let NodeKind::Notify {
            group, template, ..
        } = &node.kind
        else {
            return Ok(Err(format!("`{}` is not a notify node", node.id)));
        };
        let now = walk.clock.now();
        let incident = walk.incident;

        // A walk that stopped after queueing (a crash while the mail server took its time)
        // delivers the notification it queued instead of queueing the same one again.
        let earlier = walk
            .state
            .queued_here
            .as_deref()
            .and_then(|id| id.parse::<NotificationId>().ok());
        let id = match earlier {
            Some(id) => id,
            None => {
                let queued = notify::queue(
                    walk.store,
                    &self.mail,
                    &incident,
                    Some(node.id.as_str()),
                    &group.name,
                    &template.name,
                    now,
                );
                match queued {
                    Ok(id) => id,
                    Err(notify::NotifyError::Store(error)) => return Err(error.into()),
                    Err(other) => return Ok(Err(other.to_string())),
                }
            }
        };
        let delivery = notify::deliver(
            walk.store,
            &self.mail,
            notify::Clock::drill(now, [incident]),
        );
        let sent = delivery
            .as_ref()
            .is_ok_and(|report| report.sent.contains(&id))
            || walk
                .store
                .notification(id)
                .is_ok_and(|n| n.state == NotificationState::Sent);
        let state = match delivery {
            Ok(_) if sent => "sent".to_owned(),
            Ok(_) => {
                "queued; the mail server did not take it yet, `custos escalate` retries".to_owned()
            }
            Err(error) => format!("queued; sending failed ({error}), `custos escalate` retries"),
        };
        let again = if earlier.is_some() {
            ", queued before custos stopped"
        } else {
            ""
        };
        Ok(Ok(format!(
            "{} told ({}, message `{id}`{again}): {state}",
            group.name, template.name
        )))
    }

    fn tick(&mut self, walk: &mut WalkContext<'_>) -> Result<Vec<String>, EngineError> {
        if self.mail.warning().is_some() || self.last_tick.is_some_and(|last| last.elapsed() < TICK)
        {
            return Ok(Vec::new());
        }
        self.last_tick = Some(Instant::now());
        let report = match notify::escalate_incident(
            walk.store,
            &self.mail,
            walk.incident,
            walk.clock.now(),
        ) {
            Ok(report) => report,
            Err(notify::NotifyError::Store(error)) => return Err(error.into()),
            Err(other) => return Ok(vec![format!("escalations could not be checked: {other}")]),
        };
        let mine = report
            .fired
            .iter()
            .filter(|fired| fired.incident == walk.incident);
        Ok(mine
            .map(|fired| format!("escalation: {} ({})", fired.reason, fired.notification))
            .collect())
    }
}
