//! Escalating: checking every open incident against the escalation rules, queueing each due
//! escalation once, then delivering.
//!
//! "Once" is kept by the store: the outbox holds at most one notification per incident and
//! escalation key, and the check and the insert happen in one transaction, so two processes
//! escalating at the same moment queue one notification between them.
//!
//! A set clock decides the escalations of rehearsal incidents only: a real incident is always
//! escalated on the real clock, so a drill replayed at another date never fires, stamps or
//! delays a real escalation.

use jiff::Timestamp;

use super::clock::Clock;
use super::data::History;
use super::deliver::{DeliveryReport, deliver};
use super::error::NotifyError;
use super::policy::Policy;
use super::queue::{Because, queue_for};
use crate::store::{IncidentId, IncidentState, NotificationId, Store};

/// An escalation that fired in this round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub incident: IncidentId,
    /// The rule's id, with `:NODE` for a node that overran.
    pub key: String,
    pub reason: String,
    pub notification: NotificationId,
}

/// What one round of escalation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EscalationReport {
    pub fired: Vec<Fired>,
    /// Escalations that were due but could not be queued, with the reason.
    pub refused: Vec<(IncidentId, String, String)>,
    pub delivery: DeliveryReport,
}

/// Queues every escalation due on `clock` for every open incident, each once, then delivers
/// everything due. A bare time is the clock of rehearsal incidents only (see [`Clock`]).
pub fn escalate(
    store: &mut Store,
    policy: &Policy,
    clock: impl Into<Clock>,
) -> Result<EscalationReport, NotifyError> {
    let clock = clock.into();
    let mut report = EscalationReport::default();
    for incident in store.incidents()? {
        if incident.state == IncidentState::Open {
            let now = clock.at(incident.id, incident.rehearsal);
            queue_due(store, policy, incident.id, now, &mut report)?;
        }
    }
    report.delivery = deliver(store, policy, clock)?;
    Ok(report)
}

/// [`escalate`] for one incident only: what a walk checks between moves. A drill's walk runs
/// on its own clock, `now`, which never decides or stamps anything of another incident; a real
/// incident is on the real clock.
pub fn escalate_incident(
    store: &mut Store,
    policy: &Policy,
    incident: IncidentId,
    now: Timestamp,
) -> Result<EscalationReport, NotifyError> {
    let clock = Clock::drill(now, [incident]);
    let mut report = EscalationReport::default();
    let found = store.incident(&incident)?;
    if found.state == IncidentState::Open {
        let now = clock.at(incident, found.rehearsal);
        queue_due(store, policy, incident, now, &mut report)?;
    }
    report.delivery = deliver(store, policy, clock)?;
    Ok(report)
}

/// Queues the escalations of `incident` due at `now` that have not fired yet.
fn queue_due(
    store: &mut Store,
    policy: &Policy,
    incident: IncidentId,
    now: Timestamp,
    report: &mut EscalationReport,
) -> Result<(), NotifyError> {
    let history = History::read(store, &incident)?;
    let fired = store.fired_escalations(incident)?;

    for due in policy.escalation.due(&history, now) {
        if fired.contains(&due.key) {
            continue;
        }
        let because = Because {
            key: due.key.clone(),
            rule: due.rule.id.clone(),
            reason: due.reason.clone(),
        };
        let rule = due.rule;
        let queued = queue_for(
            store,
            policy,
            &history,
            None,
            &rule.group,
            &rule.template,
            Some(&because),
            now,
        );
        match queued {
            Ok(Some(notification)) => report.fired.push(Fired {
                incident,
                key: due.key,
                reason: due.reason,
                notification,
            }),
            Ok(None) => {}
            Err(NotifyError::Store(error)) => return Err(error.into()),
            Err(error) => report.refused.push((incident, due.key, error.to_string())),
        }
    }
    Ok(())
}
