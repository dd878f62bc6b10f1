//! The escalation policy, `policies/escalation.yaml`: deadlines as data, and per severity the
//! rules that tell a group when an incident runs long, a node overruns its `within`, or a
//! deadline comes near or passes.
//!
//! ```yaml
//! deadlines:
//!   dora-initial-report:
//!     title: DORA initial report to the regulator
//!     from: [{entered: notify_executives}]      # the earliest anchor that happened
//!     after: PT4H                               # an ISO 8601 span; P1M is a calendar month
//!     warn_before: PT1H
//!     met_by: [{notified: major-incident-initial-report}]
//!     only_if: [{entered: notify_executives}]   # optional: applies once one happened
//! rules:
//!   critical:
//!     - {id: board-after-4-hours, open_for: PT4H, notify: board, template: incident-open-4-hours}
//!     - {id: node-overdue, node_overdue: true, notify: on-call, template: node-overdue}
//!     - {id: dora-initial-near, deadline: dora-initial-report, at: warning, notify: ciso,
//!        template: deadline-approaching}
//! ```
//!
//! Anchors are `opened`, `{entered: NODE}`, `{answered: {node: NODE, option: OPTION}}` and
//! `{notified: TEMPLATE}` (a notification with that template was sent). Each rule fires once
//! per incident; `node_overdue` once per node. This module decides what is due; queueing it
//! is [`super::escalate`]'s work. [`Escalation::check_references`] makes sure every anchor can
//! happen: its node or decision option is in a runbook, its template exists and a runbook's
//! notify node or an escalation rule sends it. A deadline whose anchor cannot happen would
//! never start, or never be met and warn on every incident.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::data::{History, clock};
use super::yaml::{self, pos};
use crate::runbook::{Diagnostic, EdgeLabel, NodeKind, Pos, Report, Runbook, parse_duration};

/// The severities rules may be given for.
const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

/// Everything `escalation.yaml` says; empty when it does not exist.
#[derive(Debug, Default)]
pub struct Escalation {
    pub deadlines: Vec<Deadline>,
    /// The rules of each severity, by its word (`critical`).
    pub rules: BTreeMap<String, Vec<Rule>>,
    /// The file's text, for reports that point into it.
    source: Option<(std::path::PathBuf, String)>,
}

/// A time by which something must have happened, counted from an anchor.
#[derive(Clone, Debug)]
pub struct Deadline {
    pub name: String,
    pub title: String,
    pub from: Vec<Anchor>,
    pub after: Span,
    pub warn_before: Option<SignedDuration>,
    pub met_by: Vec<Anchor>,
    /// The deadline applies only once one of these happened (such as the classification as
    /// major); empty when it always applies.
    pub only_if: Vec<Anchor>,
    /// Every anchor with where it is written, for pointing at one that cannot happen.
    anchors_at: Vec<(Anchor, Pos)>,
}

/// Something that happens in an incident at a known time.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Anchor {
    /// The incident was opened.
    Opened,
    /// The walk entered this node (the first time).
    Entered(String),
    /// This decision was answered with this option.
    Answered { node: String, option: String },
    /// A notification with this template was sent.
    Notified(String),
}

/// Notify `group` with `template` when `when` holds.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub when: When,
    pub group: String,
    pub template: String,
    group_at: Pos,
    template_at: Pos,
}

/// The condition of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// The incident has been open this long.
    OpenFor(SignedDuration),
    /// The node the walk is at was entered longer ago than its `within` and not left.
    NodeOverdue,
    /// A deadline is within its `warn_before` (`warning`) or past (`due`), and not met.
    Deadline { name: String, passed: bool },
}

/// Where a deadline stands for one incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineState {
    pub name: String,
    pub title: String,
    pub due: Timestamp,
    pub warn_at: Option<Timestamp>,
    /// When a `met_by` anchor happened.
    pub met_at: Option<Timestamp>,
}

impl DeadlineState {
    /// `met`, `missed` or `open` at `now`.
    pub fn status(&self, now: Timestamp) -> &'static str {
        match self.met_at {
            Some(_) => "met",
            None if now >= self.due => "missed",
            None => "open",
        }
    }
}

/// An escalation that is due: the rule, the key that makes it fire once, and why.
#[derive(Clone, Debug)]
pub struct Due<'a> {
    pub rule: &'a Rule,
    pub key: String,
    pub reason: String,
}

impl Escalation {
    /// Reads `path`; an absent file gives no rules.
    pub(crate) fn load(path: &Path) -> Result<Escalation, Report> {
        let Some(parsed) = yaml::read::<RawEscalation>(path)? else {
            return Ok(Escalation::default());
        };
        let mut problems = Vec::new();
        let mut escalation = build(parsed.value, &mut problems);
        if !problems.is_empty() {
            return Err(Report::new(path, parsed.source, problems));
        }
        escalation.source = Some((path.to_owned(), parsed.source));
        Ok(escalation)
    }

    /// Rules whose group or template is not defined, when the groups and templates are known,
    /// and deadline anchors that cannot happen. Nodes, options and the templates runbooks send
    /// are checked against `runbooks`, unless it is empty (no runbooks are known).
    pub(crate) fn check_references(
        &self,
        groups: Option<&BTreeSet<String>>,
        templates: Option<&BTreeSet<String>>,
        runbooks: &[Runbook],
    ) -> Option<Report> {
        let (path, source) = self.source.as_ref()?;
        let mut problems = self.anchor_problems(templates, runbooks);
        for rule in self.rules.values().flatten() {
            if groups.is_some_and(|groups| !groups.contains(&rule.group)) {
                problems.push(Diagnostic::at(
                    rule.group_at,
                    format!(
                        "rule `{}` notifies group `{}`, which `notify.yaml` does not define",
                        rule.id, rule.group
                    ),
                ));
            }
            if templates.is_some_and(|templates| !templates.contains(&rule.template)) {
                problems.push(Diagnostic::at(
                    rule.template_at,
                    format!(
                        "rule `{}` uses template `{}`, which `templates/` does not hold",
                        rule.id, rule.template
                    ),
                ));
            }
        }
        (!problems.is_empty()).then(|| Report::new(path, source.clone(), problems))
    }

    /// Every deadline anchor that cannot happen, given the templates and runbooks.
    fn anchor_problems(
        &self,
        templates: Option<&BTreeSet<String>>,
        runbooks: &[Runbook],
    ) -> Vec<Diagnostic> {
        let mut sent = self.templates();
        for runbook in runbooks {
            for node in &runbook.nodes {
                if let NodeKind::Notify { template, .. } = &node.kind {
                    sent.insert(&template.name);
                }
            }
        }

        let mut problems = Vec::new();
        for deadline in &self.deadlines {
            for (anchor, at) in &deadline.anchors_at {
                let never = never_happens(anchor, templates, &sent, runbooks);
                if let Some(reason) = never {
                    let message = format!("deadline `{}`: {reason}", deadline.name);
                    problems.push(Diagnostic::at(*at, message));
                }
            }
        }
        problems
    }

    /// The templates the rules send.
    pub fn templates(&self) -> BTreeSet<&str> {
        self.rules
            .values()
            .flatten()
            .map(|rule| rule.template.as_str())
            .collect()
    }

    /// Every deadline that has started for the incident of `history`.
    pub(crate) fn deadlines(&self, history: &History) -> Vec<DeadlineState> {
        self.deadlines
            .iter()
            .filter_map(|deadline| deadline.state(history))
            .collect()
    }

    /// The escalations due at `now` for the incident of `history`, fired ones included; the
    /// caller skips those already fired.
    pub(crate) fn due(&self, history: &History, now: Timestamp) -> Vec<Due<'_>> {
        let Some(rules) = self.rules.get(&history.incident.severity) else {
            return Vec::new();
        };
        let deadlines = self.deadlines(history);
        rules
            .iter()
            .filter_map(|rule| rule_due(rule, history, &deadlines, now))
            .collect()
    }
}

impl Deadline {
    fn state(&self, history: &History) -> Option<DeadlineState> {
        if !self.only_if.is_empty() && self.only_if.iter().all(|a| history.anchor(a).is_none()) {
            return None;
        }
        let start = self.from.iter().filter_map(|a| history.anchor(a)).min()?;
        let due = start
            .to_zoned_datetime(TimeZone::UTC)
            .checked_add(self.after)
            .map_or(Timestamp::MAX, |zoned| zoned.timestamp());
        let warn_at = self
            .warn_before
            .map(|lead| due.saturating_sub(lead).unwrap_or(due));
        let met_at = self.met_by.iter().filter_map(|a| history.anchor(a)).min();
        Some(DeadlineState {
            name: self.name.clone(),
            title: self.title.clone(),
            due,
            warn_at,
            met_at,
        })
    }
}

fn rule_due<'a>(
    rule: &'a Rule,
    history: &History,
    deadlines: &[DeadlineState],
    now: Timestamp,
) -> Option<Due<'a>> {
    match &rule.when {
        When::OpenFor(limit) => {
            let open = now.duration_since(history.incident.opened_at);
            (open >= *limit).then(|| Due {
                rule,
                key: rule.id.clone(),
                reason: format!(
                    "the incident has been open for {} (the limit for a {} incident is {})",
                    clock(open),
                    history.incident.severity,
                    clock(*limit)
                ),
            })
        }
        When::NodeOverdue => {
            let (node, entered) = history.current_unfinished()?;
            let within = history.within(node)?;
            (now.duration_since(entered) >= within).then(|| Due {
                rule,
                key: format!("{}:{node}", rule.id),
                reason: format!(
                    "step `{node}` ({}) was started {} ago and should have been done within {}",
                    history.title(node),
                    clock(now.duration_since(entered)),
                    clock(within)
                ),
            })
        }
        When::Deadline { name, passed } => {
            let state = deadlines.iter().find(|state| &state.name == name)?;
            if state.met_at.is_some() {
                return None;
            }
            let at = if *passed { state.due } else { state.warn_at? };
            let due = super::data::when(state.due);
            (now >= at).then(|| Due {
                rule,
                key: rule.id.clone(),
                reason: if *passed {
                    format!(
                        "the deadline \"{}\" passed at {due} and is not met",
                        state.title
                    )
                } else {
                    format!(
                        "the deadline \"{}\" falls due at {due} and is not met yet",
                        state.title
                    )
                },
            })
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    #[serde(default)]
    deadlines: BTreeMap<String, RawDeadline>,
    #[serde(default)]
    rules: BTreeMap<String, Vec<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadline {
    title: String,
    from: Vec<Spanned<Anchor>>,
    after: Spanned<String>,
    warn_before: Option<Spanned<String>>,
    #[serde(default)]
    met_by: Vec<Spanned<Anchor>>,
    #[serde(default)]
    only_if: Vec<Spanned<Anchor>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    open_for: Option<Spanned<String>>,
    #[serde(default)]
    node_overdue: bool,
    deadline: Option<Spanned<String>>,
    at: Option<Spanned<String>>,
    notify: Spanned<String>,
    template: Spanned<String>,
}

fn build(raw: RawEscalation, problems: &mut Vec<Diagnostic>) -> Escalation {
    let deadlines: Vec<Deadline> = raw
        .deadlines
        .into_iter()
        .map(|(name, raw)| build_deadline(name, raw, problems))
        .collect();
    let names: BTreeSet<&str> = deadlines.iter().map(|d| d.name.as_str()).collect();

    let mut rules = BTreeMap::new();
    for (severity, raw_rules) in raw.rules {
        if !SEVERITIES.contains(&severity.as_str()) {
            problems.push(Diagnostic::new(
                None,
                format!(
                    "`rules.{severity}`: `{severity}` is not a severity; write low, medium, high \
                     or critical"
                ),
            ));
        }
        let mut ids = BTreeSet::new();
        let built: Vec<Rule> = raw_rules
            .into_iter()
            .filter_map(|raw| {
                if !ids.insert(raw.id.value.clone()) {
                    problems.push(Diagnostic::at(
                        pos(&raw.id),
                        format!("rule `{}` appears twice under `{severity}`", raw.id.value),
                    ));
                }
                build_rule(raw, &names, problems)
            })
            .collect();
        rules.insert(severity, built);
    }

    Escalation {
        deadlines,
        rules,
        source: None,
    }
}

fn build_deadline(name: String, raw: RawDeadline, problems: &mut Vec<Diagnostic>) -> Deadline {
    let after = match raw.after.value.parse::<Span>() {
        Ok(span) if span.is_positive() => span,
        _ => {
            problems.push(Diagnostic::at(
                pos(&raw.after),
                format!(
                    "deadline `{name}`: `after: {}` is not a positive ISO 8601 span such as PT4H \
                     or P1M",
                    raw.after.value
                ),
            ));
            Span::new()
        }
    };
    let warn_before = raw
        .warn_before
        .and_then(|text| duration(&text, "warn_before", problems));
    if raw.from.is_empty() {
        problems.push(Diagnostic::at(
            pos(&raw.after),
            format!("deadline `{name}` has no anchor in `from`, so it would never start"),
        ));
    }
    let anchors_at = [&raw.from, &raw.met_by, &raw.only_if]
        .into_iter()
        .flatten()
        .map(|anchor| (anchor.value.clone(), pos(anchor)))
        .collect();
    let values = |anchors: Vec<Spanned<Anchor>>| anchors.into_iter().map(|a| a.value).collect();
    Deadline {
        name,
        title: raw.title,
        from: values(raw.from),
        after,
        warn_before,
        met_by: values(raw.met_by),
        only_if: values(raw.only_if),
        anchors_at,
    }
}

/// Why `anchor` can never happen, if it cannot: `sent` holds every template a runbook's notify
/// node or an escalation rule sends.
fn never_happens(
    anchor: &Anchor,
    templates: Option<&BTreeSet<String>>,
    sent: &BTreeSet<&str>,
    runbooks: &[Runbook],
) -> Option<String> {
    let nodes = || runbooks.iter().flat_map(|runbook| &runbook.nodes);
    match anchor {
        Anchor::Opened => None,
        Anchor::Notified(template) => {
            if templates.is_some_and(|known| !known.contains(template)) {
                return Some(format!(
                    "`notified: {template}` never happens: `templates/` holds no template \
                     `{template}`"
                ));
            }
            (!runbooks.is_empty() && !sent.contains(template.as_str())).then(|| {
                format!(
                    "`notified: {template}` never happens: no runbook's notify node and no \
                     escalation rule sends template `{template}`"
                )
            })
        }
        Anchor::Entered(node) => {
            let found = runbooks.is_empty() || nodes().any(|n| n.id.as_str() == node);
            (!found)
                .then(|| format!("`entered: {node}` never happens: no runbook has a node `{node}`"))
        }
        Anchor::Answered { node, option } => {
            let found = runbooks.is_empty()
                || nodes().any(|n| {
                    n.id.as_str() == node
                        && matches!(&n.kind, NodeKind::Decision { options }
                            if options.iter().any(|edge| edge.label == EdgeLabel::Option(option.clone())))
                });
            (!found).then(|| {
                format!(
                    "`answered: {{node: {node}, option: {option}}}` never happens: no runbook \
                     has a decision `{node}` with the option `{option}`"
                )
            })
        }
    }
}

fn build_rule(
    raw: RawRule,
    deadlines: &BTreeSet<&str>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let id = raw.id.value.clone();
    let conditions = usize::from(raw.open_for.is_some())
        + usize::from(raw.node_overdue)
        + usize::from(raw.deadline.is_some());
    if conditions != 1 {
        problems.push(Diagnostic::at(
            pos(&raw.id),
            format!(
                "rule `{id}` needs exactly one of `open_for`, `node_overdue: true` and `deadline`"
            ),
        ));
        return None;
    }

    let when = if let Some(text) = &raw.open_for {
        When::OpenFor(duration(text, "open_for", problems)?)
    } else if let Some(name) = &raw.deadline {
        if !deadlines.contains(name.value.as_str()) {
            problems.push(Diagnostic::at(
                pos(name),
                format!(
                    "rule `{id}` names deadline `{}`, which `deadlines` does not define",
                    name.value
                ),
            ));
        }
        let passed = match raw.at.as_ref().map(|at| at.value.as_str()) {
            Some("warning") => false,
            Some("due") => true,
            _ => {
                problems.push(Diagnostic::at(
                    raw.at.as_ref().map_or(pos(name), pos),
                    format!("rule `{id}` needs `at: warning` or `at: due` with its deadline"),
                ));
                return None;
            }
        };
        When::Deadline {
            name: name.value.clone(),
            passed,
        }
    } else {
        When::NodeOverdue
    };

    Some(Rule {
        id,
        when,
        group_at: pos(&raw.notify),
        template_at: pos(&raw.template),
        group: raw.notify.value,
        template: raw.template.value,
    })
}

fn duration(
    text: &Spanned<String>,
    field: &str,
    problems: &mut Vec<Diagnostic>,
) -> Option<SignedDuration> {
    parse_duration(&text.value)
        .map_err(|reason| {
            problems.push(Diagnostic::at(
                pos(text),
                format!("`{field}: {}` is not usable: {reason}", text.value),
            ));
        })
        .ok()
}
