//! Telling people about incidents: mail through SMTP, handlebars templates, a durable outbox in
//! the incident log, and timed escalation.
//!
//! The engine calls [`queue`] at a `notify` node and [`deliver`] right after; cron or a systemd
//! timer calls [`escalate`] (through `custos escalate`), which queues the escalations that fell
//! due and sends or retries everything waiting. Every call takes a [`Clock`], so a drill on a
//! set clock replays the same way; a real incident is always on the real clock, whatever time
//! the caller was given. The policies are read by [`Policy::load`]; [`check`] reports
//! what is wrong with them for `custos validate`.
//!
//! Nothing is sent before it is in the store (see [`crate::store::outbox`]): a notification is
//! queued with its rendered text and a stable Message-ID, then claimed, sent and its outcome
//! recorded. A resend after a crash carries the same Message-ID. Outcomes for an incident that
//! was closed meanwhile go to the store's `deliveries` table only, since a sealed log takes no
//! more events. This module does not walk runbooks and does not decide when a `notify` node
//! is reached.
//!
//! # Template data
//!
//! | name | what |
//! |---|---|
//! | `incident` | `id`, `title`, `runbook`, `severity`, `rehearsal`, `opened`, `initiator`, |
//! | | `elapsed` (time open), `state` (`open` or `closed`) |
//! | `inputs` | the runbook's inputs by name (null when not given) |
//! | `path` | the nodes visited so far, in order: `node`, `title`, `at` |
//! | `outputs` | per action node, its outputs: `outputs.NODE.NAME` |
//! | `fields` | per step, the recorded fields: `fields.NODE.FIELD` |
//! | `answers` | per decision, the option chosen: `answers.NODE` |
//! | `approvals` | `node`, `who`, `role`, `when` |
//! | `deadlines` | `name`, `title`, `due`, `status` (`open`, `met`, `missed`), `met`, `missed` |
//! | `node` | `id` and `title` of the notify node, or of the node the walk is at |
//! | `escalation` | only in escalations: `rule`, `reason` |
//!
//! Times are written `2026-12-03 19:00 UTC`; `elapsed` as `4 h 05 min`.

mod clock;
mod data;
mod deliver;
mod error;
mod escalate;
mod escalation;
mod mail;
mod policy;
mod queue;
mod template;
mod yaml;

use std::path::Path;

pub use clock::Clock;
pub(crate) use data::History;
pub use data::template_data;
pub use deliver::{DeliveryReport, FIRST_RETRY, LONGEST_RETRY, backoff, deliver, flush};
pub use error::{NotifyError, PolicyError};
pub use escalate::{EscalationReport, Fired, escalate, escalate_incident};
pub use escalation::{Anchor, Deadline, DeadlineState, Escalation, Rule, When};
pub use policy::{Drill, Mail, Policy, Recipient, Security, Smtp};
pub use queue::{queue, queue_once};
pub use template::{MessageTemplate, Rendered, check_templates, sample_data};

pub use crate::store::{Notification, NotificationId, NotificationState};

use crate::runbook::{Context, Report, Runbook};

/// Every problem of the notification policies in `dir`: each file on its own, the names the
/// escalation rules use, deadline anchors that cannot happen, and every template rendered
/// against sample data. Templates sent by
/// runbooks are rendered with the values of the runbooks in `runbooks/` beside `dir`.
pub fn check(dir: &Path) -> Vec<Report> {
    match Policy::load(dir) {
        Ok(policy) => check_loaded(&policy, dir),
        Err(error) => error.reports,
    }
}

/// [`check`] of the policy already loaded from `dir`, past what loading itself reports.
pub fn check_loaded(policy: &Policy, dir: &Path) -> Vec<Report> {
    let runbooks = dir
        .parent()
        .map(|parent| sibling_runbooks(&parent.join("runbooks")))
        .unwrap_or_default();

    let mut reports = Vec::new();
    let groups = policy.groups();
    let templates = policy.template_names();
    reports.extend(policy.escalation.check_references(
        groups.as_ref(),
        templates.as_ref(),
        &runbooks,
    ));
    if let Some(templates) = &policy.templates {
        reports.extend(check_templates(
            &dir.join("templates"),
            templates,
            &runbooks,
        ));
    }
    reports
}

/// The runbooks in `dir` that load, without checking their names against any policy.
fn sibling_runbooks(dir: &Path) -> Vec<Runbook> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| crate::runbook::load(path, &Context::default()).ok())
        .map(|loaded| loaded.runbook)
        .collect()
}
