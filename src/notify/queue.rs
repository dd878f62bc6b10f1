//! Queueing: rendering a template for an incident and writing it into the outbox.
//!
//! What is said and to whom is decided here, once: the rendered subject and body and the
//! recipients are stored with the notification and never re-rendered. A drill's mail goes to
//! the drill recipients or mailbox with `[DRILL]` before its subject, never to a real group.
//! A real incident's notification is stamped with the real time whatever `now` the caller
//! gives; only a drill runs on a set clock.

use jiff::Timestamp;
use serde_json::json;

use super::clock::Clock;
use super::data::{History, data};
use super::error::NotifyError;
use super::policy::{Mail, Policy, Recipient};
use crate::store::{IncidentId, NewNotification, NotificationId, Store};

/// The escalation a notification is queued for: the rule's key and why it fired.
pub(crate) struct Because {
    pub key: String,
    pub rule: String,
    pub reason: String,
}

/// Renders `template` for `incident` and queues it to `group`; `node` is the notify node that
/// sends it, if any. The notification and its `notification_queued` event are written together.
pub fn queue(
    store: &mut Store,
    policy: &Policy,
    incident: &IncidentId,
    node: Option<&str>,
    group: &str,
    template: &str,
    now: Timestamp,
) -> Result<NotificationId, NotifyError> {
    let history = History::read(store, incident)?;
    let queued = queue_for(store, policy, &history, node, group, template, None, now)?;
    // The store refuses only a second notification for one escalation, and this is none.
    queued.ok_or_else(|| NotifyError::AlreadyQueued {
        incident: incident.to_string(),
    })
}

/// Queues `template` to `group` on `incident` under the escalation key `key`, at most once per
/// incident and key: `None` when that key already queued a notification. Templates see
/// `escalation.rule` (= `rule`) and `escalation.reason`. Expiry alerts use it.
#[allow(clippy::too_many_arguments)]
pub fn queue_once(
    store: &mut Store,
    policy: &Policy,
    incident: &IncidentId,
    group: &str,
    template: &str,
    key: &str,
    (rule, reason): (&str, &str),
    now: Timestamp,
) -> Result<Option<NotificationId>, NotifyError> {
    if store.escalation_state(*incident, key)?.is_some() {
        return Ok(None);
    }

    let history = History::read(store, incident)?;
    let because = Because {
        key: key.to_owned(),
        rule: rule.to_owned(),
        reason: reason.to_owned(),
    };
    queue_for(
        store,
        policy,
        &history,
        None,
        group,
        template,
        Some(&because),
        now,
    )
}

/// Queues a notification; `None` when `because` names an escalation that already fired.
#[allow(clippy::too_many_arguments)]
pub(crate) fn queue_for(
    store: &mut Store,
    policy: &Policy,
    history: &History,
    node: Option<&str>,
    group: &str,
    template: &str,
    because: Option<&Because>,
    now: Timestamp,
) -> Result<Option<NotificationId>, NotifyError> {
    let incident = &history.incident;
    let now = Clock::rehearsals(now).at(incident.id, incident.rehearsal);
    let Some(mail) = &policy.mail else {
        return Err(NotifyError::NotConfigured {
            path: policy.notify_path(),
            group: group.to_owned(),
        });
    };
    let Some(members) = mail.groups.get(group) else {
        return Err(NotifyError::UnknownGroup {
            path: policy.notify_path(),
            group: group.to_owned(),
        });
    };
    let Some(message) = policy.templates.as_ref().and_then(|t| t.get(template)) else {
        return Err(NotifyError::UnknownTemplate {
            path: policy
                .dir
                .join("templates")
                .join(format!("{template}.yaml")),
            template: template.to_owned(),
        });
    };

    let mut values = data(history, policy, now);
    if let Some(node) = node {
        values["node"] = json!({"id": node, "title": history.title(node)});
    }
    if let Some(because) = because {
        values["escalation"] = json!({"rule": because.rule, "reason": because.reason});
    }
    let rendered = message
        .render(&values)
        .map_err(|(part, reason)| NotifyError::Render {
            template: template.to_owned(),
            part,
            incident: incident.id.to_string(),
            reason,
        })?;

    let (channel, recipients, subject) = if incident.rehearsal {
        let (channel, recipients) = drill_delivery(policy, mail, &incident.id)?;
        (channel, recipients, format!("[DRILL] {}", rendered.subject))
    } else {
        ("smtp".to_owned(), mailboxes(members), rendered.subject)
    };

    let new = NewNotification {
        incident: incident.id,
        node: node.map(str::to_owned),
        escalation: because.map(|b| (b.key.clone(), b.reason.clone())),
        group: group.to_owned(),
        template: template.to_owned(),
        channel,
        sender: mail.sender.mailbox(),
        recipients,
        subject,
        body: rendered.body,
        html: rendered.html,
        domain: domain(&mail.sender.address),
    };
    let queued = store.queue_notification(&new, now)?;
    if let Some(queued) = &queued {
        tracing::debug!(id = %queued.id, group, template, "notification queued");
    }
    Ok(queued.map(|notification| notification.id))
}

/// Where a drill's mail goes: the local mailbox when there is one, else the drill recipients.
fn drill_delivery(
    policy: &Policy,
    mail: &Mail,
    incident: &IncidentId,
) -> Result<(String, Vec<String>), NotifyError> {
    let missing = || NotifyError::NoDrillDelivery {
        path: policy.notify_path(),
        incident: incident.to_string(),
    };
    let drill = mail.drill.as_ref().ok_or_else(missing)?;
    let recipients = if drill.recipients.is_empty() {
        vec![
            Recipient {
                name: "Drill mailbox".to_owned(),
                address: "drill@custos.invalid".to_owned(),
            }
            .mailbox(),
        ]
    } else {
        mailboxes(&drill.recipients)
    };
    match &drill.mailbox {
        Some(dir) => Ok((format!("maildir:{}", dir.display()), recipients)),
        None if !drill.recipients.is_empty() => Ok(("smtp".to_owned(), recipients)),
        None => Err(missing()),
    }
}

fn mailboxes(recipients: &[Recipient]) -> Vec<String> {
    recipients.iter().map(Recipient::mailbox).collect()
}

/// The domain part of an address, for Message-IDs.
fn domain(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("custos.invalid", |(_, domain)| domain)
        .to_owned()
}
