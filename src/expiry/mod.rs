//! Expiry monitoring: everything with an end date (certificates in files or on tokens, keys at
//! the end of their cryptoperiod, HSMs at the vendor's end of support), the band each is in
//! at a settable `now`, and each band's alert raised exactly once.
//!
//! [`load`] reads the inventory and adds the keys of the key register, which holds their
//! activation dates and cryptoperiods; [`references::check`] holds what both name against the
//! other policies. [`check`] reads every object on its own (an unreadable file, a malformed
//! certificate or an unreachable token is that object's error, and the others go on), queues
//! the alert of the band each object is in through the notification outbox (see [`alert`] for
//! how "once" is kept durable), opens an incident from the object's runbook when it reaches the
//! chosen band, then delivers. [`preview`] computes the same table and changes nothing. It does
//! not walk runbooks, renew anything, or read CRLs.
//!
//! Only the current band is alerted: an object first seen 20 days from its end gets the
//! 30-day alert, not the 90- and 60-day ones it slept through. A set clock is for drills: the
//! alerts and incidents of a drill check carry it, and any real notification delivered in the
//! same run is stamped with the real time.

pub mod alert;
pub mod certificate;
pub mod inventory;
pub mod position;
pub mod references;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::notify::{self, Clock, DeliveryReport, NotifyError, Policy};
use crate::policy::environment::{Environment, Environments, PolicyError};
use crate::policy::keys::{self, Register};
use crate::store::{IncidentId, NotificationState, Store};
use alert::{Due, alert_of};
use certificate::Member;
pub use inventory::{ChainLink, INVENTORY, Inventory, Kind, Object, Severity, Source};
pub use position::Position;
use references::Runbooks;

/// Reads `inventory.yaml` in `policies` and adds the keys of the key register (`keys.yaml`),
/// when there is one. The register is read without checking its names against the other
/// policies: `custos validate` does that.
pub fn load(policies: &Path) -> Result<Inventory, PolicyError> {
    let mut inventory = Inventory::load(&policies.join(INVENTORY))?;
    let register = policies.join(keys::KEYS);
    if register.exists() {
        let register = Register::load(&register, &keys::Known::default())?;
        inventory.add_register(&register)?;
    }
    Ok(inventory)
}

/// How a check runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The policies directory: certificate files are relative to it, `runbooks/` is beside it.
    pub policies: PathBuf,
    /// The time the check is made at.
    pub now: Timestamp,
    /// A drill: watches and incidents are rehearsals, mail goes to the drill mailbox, tokens
    /// of production environments are replaced by their stand-ins.
    pub rehearsal: bool,
    /// How long to wait for a token before reporting it unreachable.
    pub token_timeout: Duration,
}

/// Whether the alert for an object's current band has gone out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The object is in no band, or could not be read.
    None,
    /// Due and never queued: what a preview shows for an alert a check would send.
    Due,
    /// Queued, not yet handed to the mail server (a failed delivery is retried by `custos
    /// escalate`).
    Queued,
    /// Handed to the mail server.
    Sent,
}

/// One line of the check.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The object's name in the inventory or the key register.
    pub object: String,
    pub kind: Kind,
    /// Where the end date comes from: a file, a token and label, or the stated dates.
    pub source: String,
    /// The effective end; `None` when the object could not be read.
    pub end: Option<Timestamp>,
    /// The subject of the certificate that ends first, for a chain of several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<String>,
    /// Whole days left, rounded down, negative once past.
    pub days_left: Option<i64>,
    /// The band's name (`90`, ..., `expired`), `None` outside every band.
    pub band: Option<String>,
    /// The severity of the band's alert.
    pub severity: Option<&'static str>,
    pub alert: AlertStatus,
    /// Whether this check queued the alert (an earlier one did otherwise).
    pub alerted_now: bool,
    /// The incident opened from the object's runbook, if it was.
    pub incident: Option<String>,
    /// Whether this check opened that incident.
    pub incident_opened_now: bool,
    /// In a preview: the runbook a check would open an incident from now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_due: Option<String>,
    /// What went wrong with this object.
    pub error: Option<String>,
    /// Expired, in its last band, or in error: the check fails.
    pub fails: bool,
    /// The escalation key of the alert of the current band.
    #[serde(skip)]
    key: Option<String>,
}

/// Everything a check found, sorted by days left (objects in error first).
#[derive(Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    /// What the delivery after queueing sent, and what failed; empty in a preview.
    pub delivery: DeliveryReport,
}

impl Report {
    /// Whether anything is expired, in its last band or in error.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|row| row.fails)
    }
}

/// Checks every object of `inventory` at `settings.now`, raising what is due, then delivers.
/// The set clock applies to the drill's own watches and incidents only.
pub fn check(
    store: &mut Store,
    policy: &Policy,
    inventory: &Inventory,
    settings: &Settings,
) -> Result<Report, NotifyError> {
    let mut checker = Checker::new(settings);
    let mut rows = Vec::new();
    for object in &inventory.objects {
        let mut row = checker.position(object, &inventory.expired);
        if let Some(due) = checker.due(object, &row) {
            checker.act(store, policy, &due, &inventory.expired, &mut row);
        }
        rows.push(row);
    }

    let clock = if settings.rehearsal {
        Clock::drill(settings.now, checker.touched.iter().copied())
    } else {
        Clock::real()
    };
    let delivery = notify::deliver(store, policy, clock)?;
    for (row, object) in rows.iter_mut().zip(&inventory.objects) {
        refresh_alert(store, row, object, settings.rehearsal)?;
    }

    Ok(Report {
        rows: sorted(rows),
        delivery,
    })
}

/// The table a check at `settings.now` would print, without queueing, opening or sending
/// anything: alerts never queued show as due, incidents not yet opened as the runbook a check
/// would open them from. `store` is read for what went out before, when there is one.
pub fn preview(store: Option<&Store>, inventory: &Inventory, settings: &Settings) -> Report {
    let mut checker = Checker::new(settings);
    let mut rows = Vec::new();
    for object in &inventory.objects {
        let mut row = checker.position(object, &inventory.expired);
        if let Some(due) = checker.due(object, &row) {
            checker.look(store, &due, &inventory.expired, &mut row);
        }
        rows.push(row);
    }

    Report {
        rows: sorted(rows),
        delivery: DeliveryReport::default(),
    }
}

/// Objects in error first, then by days left, then by name.
fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| {
        let key = |row: &Row| (row.error.is_none(), row.days_left.unwrap_or(i64::MIN));
        key(a).cmp(&key(b)).then_with(|| a.object.cmp(&b.object))
    });
    rows
}

/// Reads the state of the row's alert again, after delivery.
fn refresh_alert(
    store: &Store,
    row: &mut Row,
    object: &Object,
    rehearsal: bool,
) -> Result<(), NotifyError> {
    let Some(key) = &row.key else {
        return Ok(());
    };
    let Some(watch) = alert::find_watch(store, object, rehearsal)? else {
        return Ok(());
    };

    row.alert = match store.escalation_state(watch, key)? {
        Some(NotificationState::Sent) => AlertStatus::Sent,
        Some(_) => AlertStatus::Queued,
        None => AlertStatus::None,
    };
    Ok(())
}

struct Checker<'a> {
    settings: &'a Settings,
    environments: Option<Result<Environments, String>>,
    runbooks: Runbooks,
    /// The watches and incidents this check wrote to.
    touched: BTreeSet<IncidentId>,
}

impl<'a> Checker<'a> {
    fn new(settings: &'a Settings) -> Self {
        Checker {
            settings,
            environments: None,
            runbooks: Runbooks::new(&settings.policies),
            touched: BTreeSet::new(),
        }
    }

    /// The object's row: its end, days left and band, before anything is raised.
    fn position(&mut self, object: &Object, expired: &inventory::Alert) -> Row {
        let mut row = Row {
            object: object.name.clone(),
            kind: object.kind,
            source: object.source.to_string(),
            end: None,
            ends_with: None,
            days_left: None,
            band: None,
            severity: None,
            alert: AlertStatus::None,
            alerted_now: false,
            incident: None,
            incident_opened_now: false,
            incident_due: None,
            error: None,
            fails: true,
            key: None,
        };
        let (end, ends_with) = match self.end(object) {
            Ok(end) => end,
            Err(error) => {
                tracing::debug!(object = %object.name, %error, "object could not be read");
                row.error = Some(error);
                return row;
            }
        };

        let now = self.settings.now;
        let position = Position::at(&object.bands, end, now);
        row.end = Some(end);
        row.ends_with = ends_with;
        row.days_left = Some(position::days_left(end, now));
        row.band = position.name();
        row.fails = position.fails(object);
        if let Some(alert) = alert_of(object, position, expired) {
            row.severity = Some(alert.severity.as_str());
        }
        row
    }

    /// What the row's object has to say, once it could be read.
    fn due<'o>(&self, object: &'o Object, row: &Row) -> Option<Due<'o>> {
        let (end, days_left) = (row.end?, row.days_left?);
        Some(Due {
            object,
            source: row.source.clone(),
            end,
            position: Position::at(&object.bands, end, self.settings.now),
            days_left,
        })
    }

    /// Queues the band's alert and opens the incident whose band was reached.
    fn act(
        &mut self,
        store: &mut Store,
        policy: &Policy,
        due: &Due<'_>,
        expired: &inventory::Alert,
        row: &mut Row,
    ) {
        let settings = self.settings;
        if let Some(alert) = alert_of(due.object, due.position, expired) {
            row.key = Some(due.key());
            match alert::raise(store, policy, due, alert, settings.rehearsal, settings.now) {
                Ok((watch, queued)) => {
                    self.touched.insert(watch);
                    row.alerted_now = queued;
                }
                Err(error) => row.error = Some(format!("the alert was not queued: {error}")),
            }
        }

        if let Some(loaded) = self.reached(due, row) {
            let opened = alert::open_incident(store, loaded, due, settings.rehearsal, settings.now);
            match opened {
                Ok((incident, now)) => {
                    self.touched.insert(incident);
                    row.incident = Some(incident.to_string());
                    row.incident_opened_now = now;
                }
                Err(error) => {
                    let runbook = &loaded.runbook.id;
                    let message = format!("no incident opened from `{runbook}`: {error}");
                    row.error.get_or_insert(message);
                }
            }
        }
        if row.error.is_some() {
            row.fails = true;
        }
    }

    /// What a check would do for `due`, read from `store` without writing to it.
    fn look(
        &mut self,
        store: Option<&Store>,
        due: &Due<'_>,
        expired: &inventory::Alert,
        row: &mut Row,
    ) {
        let rehearsal = self.settings.rehearsal;
        if alert_of(due.object, due.position, expired).is_some() {
            let watch = store.and_then(|store| {
                let watch = alert::find_watch(store, due.object, rehearsal).ok()??;
                store.escalation_state(watch, &due.key()).ok()?
            });
            row.alert = match watch {
                Some(NotificationState::Sent) => AlertStatus::Sent,
                Some(_) => AlertStatus::Queued,
                None => AlertStatus::Due,
            };
        }

        let Some(loaded) = self.reached(due, row) else {
            return;
        };
        let found =
            store.and_then(|store| alert::find_incident(store, loaded, due, rehearsal).ok()?);
        match found {
            Some(incident) => row.incident = Some(incident.to_string()),
            None => row.incident_due = Some(loaded.runbook.id.clone()),
        }
        if row.error.is_some() {
            row.fails = true;
        }
    }

    /// The object's runbook, once it has reached the band its rule names.
    fn reached(&mut self, due: &Due<'_>, row: &mut Row) -> Option<&crate::runbook::Loaded> {
        let rule = due.object.incident.as_ref()?;
        if !due.position.reached(rule.at) {
            return None;
        }
        match self.runbooks.get(&rule.runbook) {
            Ok(loaded) => Some(loaded),
            Err(error) => {
                row.error.get_or_insert_with(|| error.clone());
                row.fails = true;
                None
            }
        }
    }

    /// The object's end, read from its file or token, or stated in the inventory or the
    /// register; with the subject of the certificate that ends first, for a chain of several.
    fn end(&mut self, object: &Object) -> Result<(Timestamp, Option<String>), String> {
        let members = match &object.source {
            Source::File(file) => {
                let path = self.settings.policies.join(file);
                let bytes = std::fs::read(&path)
                    .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
                certificate::read(&bytes)
                    .map_err(|error| format!("`{}` {error}", file.display()))?
                    .members
            }
            Source::Token {
                environment,
                label,
                chain,
            } => self.token_chain(environment, label, chain)?,
            Source::Cryptoperiod { .. } | Source::Register { .. } | Source::EndOfSupport(_) => {
                let end = position::stated_end(object)
                    .ok_or_else(|| String::from("its end date is beyond what custos handles"))?;
                return Ok((end, None));
            }
        };

        let first = members
            .iter()
            .min_by_key(|member| member.not_after)
            .ok_or_else(|| String::from("holds no certificate"))?;
        let ends_with = (members.len() > 1).then(|| first.subject.clone());
        Ok((first.not_after, ends_with))
    }

    /// The certificate labelled `label` on the token and its issuers: those found by name among
    /// the token's certificates and the files `chain` names. Every label and file `chain` names
    /// must be part of that chain.
    fn token_chain(
        &mut self,
        environment: &str,
        label: &str,
        chain: &[ChainLink],
    ) -> Result<Vec<Member>, String> {
        let resolved = self.environment(environment)?;
        let on_token = crate::hsm::certificate::read_all(&resolved, self.settings.token_timeout)
            .map_err(|error| error.to_string())?;
        let leaf = leaf(&resolved.name, &on_token, label)?;

        let mut candidates = Vec::new();
        let mut named = Vec::new();
        for (other, der) in &on_token {
            // A certificate on the token that does not parse is no issuer of this one, unless
            // the entry names it, which is checked below.
            if let Ok(read) = certificate::read(der) {
                if chain.contains(&ChainLink::Label(other.clone())) {
                    named.extend(
                        read.members
                            .iter()
                            .map(|m| (format!("`{other}`"), m.clone())),
                    );
                }
                candidates.extend(read.members);
            }
        }
        for link in chain {
            match link {
                ChainLink::Label(wanted) if !on_token.iter().any(|(other, _)| other == wanted) => {
                    return Err(format!(
                        "`chain` names `{wanted}`, which is no certificate on the token"
                    ));
                }
                ChainLink::Label(_) => {}
                ChainLink::File(file) => {
                    let members = self.chain_file(file)?;
                    let what = format!("`{}`", file.display());
                    named.extend(members.iter().map(|m| (what.clone(), m.clone())));
                    candidates.extend(members);
                }
            }
        }

        let found: Vec<Member> = certificate::issuers(&leaf, &candidates)
            .into_iter()
            .cloned()
            .collect();
        if let Some((what, stranger)) = named.iter().find(|(_, m)| !found.contains(m)) {
            return Err(format!(
                "`chain` names {what}, but its certificate `{}` issues neither `{}` nor any of \
                 its issuers",
                stranger.subject, leaf.subject
            ));
        }
        Ok(found)
    }

    fn chain_file(&self, file: &Path) -> Result<Vec<Member>, String> {
        let path = self.settings.policies.join(file);
        let bytes = std::fs::read(&path)
            .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
        certificate::read(&bytes)
            .map(|chain| chain.members)
            .map_err(|error| format!("`{}` {error}", file.display()))
    }

    /// The environment named, or its stand-in in a drill.
    fn environment(&mut self, environment: &str) -> Result<Environment, String> {
        let policies = &self.settings.policies;
        let environments = self
            .environments
            .get_or_insert_with(|| {
                Environments::load(policies.join(crate::policy::ENVIRONMENTS))
                    .map_err(|error| error.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let resolved = if self.settings.rehearsal {
            environments.resolve_for_drill(environment)
        } else {
            environments.require(environment)
        };
        resolved.cloned().map_err(|error| error.to_string())
    }
}

/// The one certificate labelled `label` among the token's, read.
fn leaf(environment: &str, on_token: &[(String, Vec<u8>)], label: &str) -> Result<Member, String> {
    let labelled: Vec<&Vec<u8>> = on_token
        .iter()
        .filter(|(other, _)| other == label)
        .map(|(_, der)| der)
        .collect();
    let der = match labelled.as_slice() {
        [one] => *one,
        [] => {
            let error = crate::hsm::HsmError::ObjectNotFound {
                environment: environment.to_owned(),
                label: label.to_owned(),
                class: String::from("certificate"),
            };
            return Err(error.to_string());
        }
        many => {
            let error = crate::hsm::HsmError::AmbiguousLabel {
                environment: environment.to_owned(),
                label: label.to_owned(),
                count: many.len(),
            };
            return Err(error.to_string());
        }
    };

    let chain =
        certificate::read(der).map_err(|error| format!("the certificate on the token {error}"))?;
    chain
        .members
        .into_iter()
        .next()
        .ok_or_else(|| String::from("holds no certificate"))
}
