//! Expiry monitoring: everything with an end date (certificates in files or on tokens, keys at
//! the end of their cryptoperiod, HSMs at the vendor's end of support), the band each is in
//! at a settable `now`, and each band's alert raised exactly once.
//!
//! [`check`] reads every object of the [`Inventory`] on its own (an unreadable file, a
//! malformed certificate or an unreachable token is that object's error, and the others go
//! on), queues the alert of the band each object is in through the notification outbox (see
//! [`alert`] for how "once" is kept durable), opens an incident from the object's runbook when
//! it reaches the chosen band, then delivers. It does not walk runbooks, renew anything, or
//! read CRLs. Keys come from the inventory for now; the key register will feed the same
//! [`inventory::Source::Cryptoperiod`] once it exists.
//!
//! Only the current band is alerted: an object first seen 20 days from its end gets the
//! 30-day alert, not the 90- and 60-day ones it slept through.

pub mod alert;
pub mod certificate;
pub mod inventory;
pub mod position;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::notify::{self, DeliveryReport, NotifyError, Policy};
use crate::policy::environment::Environments;
use crate::runbook::Loaded;
use crate::store::{NotificationState, Store};
use alert::{Due, alert_of};
pub use inventory::{INVENTORY, Inventory, Kind, Object, Severity, Source};
pub use position::Position;

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
    /// Queued, not yet handed to the mail server (a failed delivery is retried by `custos
    /// escalate`).
    Queued,
    /// Handed to the mail server.
    Sent,
}

/// One line of the check.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The object's name in the inventory.
    pub object: String,
    pub kind: Kind,
    /// Where the end date comes from: a file, a token and label, or the stated dates.
    pub source: String,
    /// The effective end; `None` when the object could not be read.
    pub end: Option<Timestamp>,
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
    /// What the delivery after queueing sent, and what failed.
    pub delivery: DeliveryReport,
}

impl Report {
    /// Whether anything is expired, in its last band or in error.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|row| row.fails)
    }
}

/// Checks every object of `inventory` at `settings.now`, raising what is due, then delivers.
pub fn check(
    store: &mut Store,
    policy: &Policy,
    inventory: &Inventory,
    settings: &Settings,
) -> Result<Report, NotifyError> {
    let mut checker = Checker {
        settings,
        environments: None,
        runbooks: BTreeMap::new(),
    };

    let mut rows = Vec::new();
    for object in &inventory.objects {
        rows.push(checker.object(store, policy, inventory, object));
    }

    let delivery = notify::deliver(store, policy, settings.now)?;
    for (row, object) in rows.iter_mut().zip(&inventory.objects) {
        refresh_alert(store, row, object, settings.rehearsal)?;
    }

    rows.sort_by(|a, b| {
        let key = |row: &Row| (row.error.is_none(), row.days_left.unwrap_or(i64::MIN));
        key(a).cmp(&key(b)).then_with(|| a.object.cmp(&b.object))
    });
    Ok(Report { rows, delivery })
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
    runbooks: BTreeMap<String, Result<Loaded, String>>,
}

impl Checker<'_> {
    fn object(
        &mut self,
        store: &mut Store,
        policy: &Policy,
        inventory: &Inventory,
        object: &Object,
    ) -> Row {
        let mut row = Row {
            object: object.name.clone(),
            kind: object.kind,
            source: object.source.to_string(),
            end: None,
            days_left: None,
            band: None,
            severity: None,
            alert: AlertStatus::None,
            alerted_now: false,
            incident: None,
            incident_opened_now: false,
            error: None,
            fails: true,
            key: None,
        };
        let end = match self.end(object) {
            Ok(end) => end,
            Err(error) => {
                tracing::debug!(object = %object.name, %error, "object could not be read");
                row.error = Some(error);
                return row;
            }
        };

        let now = self.settings.now;
        let position = Position::at(&object.bands, end, now);
        let days_left = position::days_left(end, now);
        row.end = Some(end);
        row.days_left = Some(days_left);
        row.band = position.name();
        row.fails = position.fails(object);
        let due = Due {
            object,
            source: row.source.clone(),
            end,
            position,
            days_left,
        };

        if let Some(alert) = alert_of(object, position, &inventory.expired) {
            row.key = Some(due.key());
            row.severity = Some(alert.severity.as_str());
            match alert::raise(store, policy, &due, alert, self.settings.rehearsal, now) {
                Ok(queued) => row.alerted_now = queued,
                Err(error) => row.error = Some(format!("the alert was not queued: {error}")),
            }
        }
        self.incident(store, &due, &mut row);
        if row.error.is_some() {
            row.fails = true;
        }
        row
    }

    /// Opens the object's incident when it has reached the band its rule names.
    fn incident(&mut self, store: &mut Store, due: &Due<'_>, row: &mut Row) {
        let Some(rule) = &due.object.incident else {
            return;
        };
        if !due.position.reached(rule.at) {
            return;
        }

        let settings = self.settings;
        let loaded = match self.runbook(&rule.runbook) {
            Ok(loaded) => loaded,
            Err(error) => {
                row.error.get_or_insert(error);
                return;
            }
        };
        match alert::open_incident(store, loaded, due, settings.rehearsal, settings.now) {
            Ok((incident, now)) => {
                row.incident = Some(incident.to_string());
                row.incident_opened_now = now;
            }
            Err(error) => {
                let message = format!("no incident opened from `{}`: {error}", rule.runbook);
                row.error.get_or_insert(message);
            }
        }
    }

    fn runbook(&mut self, name: &str) -> Result<&Loaded, String> {
        let policies = &self.settings.policies;
        self.runbooks
            .entry(name.to_owned())
            .or_insert_with(|| {
                let dir = policies.parent().unwrap_or(Path::new(".")).join("runbooks");
                let path = dir.join(format!("{name}.yaml"));
                let context = crate::policy::context(policies);
                crate::runbook::load(&path, &context).map_err(|_| {
                    format!(
                        "runbook `{}` is missing or invalid; `custos validate` shows why",
                        path.display()
                    )
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The object's end: read from its file or token, or stated in the inventory.
    fn end(&mut self, object: &Object) -> Result<Timestamp, String> {
        let bytes = match &object.source {
            Source::File(file) => {
                let path = self.settings.policies.join(file);
                std::fs::read(&path)
                    .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?
            }
            Source::Token { environment, label } => self.token(environment, label)?,
            Source::Cryptoperiod { .. } | Source::EndOfSupport(_) => {
                return position::stated_end(object)
                    .ok_or_else(|| String::from("its end date is beyond what custos handles"));
            }
        };

        let chain = certificate::read(&bytes).map_err(|error| match &object.source {
            Source::File(file) => format!("`{}` {error}", file.display()),
            _ => format!("the certificate on the token {error}"),
        })?;
        chain
            .end()
            .map(|member| member.not_after)
            .ok_or_else(|| String::from("holds no certificate"))
    }

    fn token(&mut self, environment: &str, label: &str) -> Result<Vec<u8>, String> {
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
        let resolved = resolved.map_err(|error| error.to_string())?;

        crate::hsm::certificate::read(resolved, label, self.settings.token_timeout)
            .map_err(|error| error.to_string())
    }
}
