//! The outbox: notifications written into the log before anything is sent, and their delivery.
//!
//! Queueing writes the outbox row and the `notification_queued` event in one transaction, so a
//! notification the log mentions always exists and one that exists is always in the log. What
//! the notification says (sender, recipients, subject, body, Message-ID) is fixed at that moment
//! and a trigger refuses any later edit of it; only the delivery columns change.
//!
//! Delivery is at least once. A sender first *claims* a row (state `sending`, with its name and
//! a deadline), then talks to the mail server, then records the outcome. A crash between claim
//! and outcome leaves the row `sending`: nobody knows whether the server took the message, so
//! the row is sent again, with the same Message-ID, once the claim is void, and the unknown
//! attempt is recorded as such. Which claims are void is for the caller to decide
//! ([`Claim::is_void`] is the usual rule). This module does not know about SMTP or templates.
//!
//! An incident that is closed refuses events, so outcomes for its notifications are kept in the
//! `deliveries` table only; while it is open they go to both.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::error::InStore;
use super::event::Event;
use super::incident::parse_time;
use super::write::{read_tail, write_events};
use super::{IncidentId, Store, StoreError};

/// The actor of the events the outbox writes.
const ACTOR: &str = "custos";

/// A notification's id: the incident and a number counting from 1 within it, shown `INC-42.N3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotificationId {
    pub incident: IncidentId,
    pub number: u64,
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.N{}", self.incident, self.number)
    }
}

impl FromStr for NotificationId {
    type Err = StoreError;

    /// Parses `INC-42.N3`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || StoreError::InvalidNotificationId {
            text: text.to_owned(),
        };
        let (incident, number) = text.rsplit_once(".N").ok_or_else(invalid)?;
        let incident = incident.parse().map_err(|_| invalid())?;
        let number = number
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(invalid)?;
        Ok(Self { incident, number })
    }
}

/// What a notification says and where it goes, as the notifier rendered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub incident: IncidentId,
    /// The `notify` node that sent it, if a node did.
    pub node: Option<String>,
    /// The escalation rule that queued it, if one did; a rule is queued once per incident.
    pub escalation: Option<(String, String)>,
    pub group: String,
    pub template: String,
    /// `smtp` or `maildir:DIR`.
    pub channel: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    /// The domain of the Message-ID, usually the sender's.
    pub domain: String,
}

/// Where a notification is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a sender; the outcome is not known yet.
    Sending,
    /// The mail server accepted it.
    Sent,
}

impl NotificationState {
    /// The word stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// Who is sending a notification, and until when the claim holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `host:pid` of the sending process.
    pub by: String,
    /// Wall-clock time after which the claim is void.
    pub until: Timestamp,
}

impl Claim {
    /// A claim by this process, holding for `lease`.
    pub fn mine(lease: std::time::Duration) -> Self {
        let lease = jiff::SignedDuration::try_from(lease).unwrap_or(jiff::SignedDuration::MAX);
        Self {
            by: format!("{}:{}", host_name(), std::process::id()),
            until: Timestamp::now()
                .saturating_add(lease)
                .unwrap_or(Timestamp::MAX),
        }
    }

    /// Whether the claim no longer holds: it expired, or it was made by a process of this host
    /// that has ended (a killed sender need not be waited for).
    pub fn is_void(&self, wall: Timestamp) -> bool {
        if self.until <= wall {
            return true;
        }
        let Some((host, pid)) = self.by.rsplit_once(':') else {
            return true;
        };
        // Without `/proc` (not Linux) a process cannot be looked up, so only the lease counts.
        let proc = Path::new("/proc");
        let mine = format!("{}:{}", host_name(), std::process::id());
        host == host_name()
            && self.by != mine
            && proc.join("self").exists()
            && !proc.join(pid).exists()
    }
}

/// This machine's name, for naming claims.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// One row of the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub id: NotificationId,
    pub node: Option<String>,
    pub escalation: Option<String>,
    pub group: String,
    pub template: String,
    pub channel: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    /// With angle brackets: `<custos.INC-42.N3.0123456789abcdef@bank.example>`.
    pub message_id: String,
    pub queued_at: Timestamp,
    pub state: NotificationState,
    pub attempts: u64,
    pub next_attempt: Timestamp,
    pub claim: Option<Claim>,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub response: Option<String>,
}

/// One ended delivery attempt, as the `deliveries` table keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub attempt: u64,
    /// `sent`, `failed` or `unknown`.
    pub outcome: String,
    pub at: Timestamp,
    /// The server's response, the error, or why the outcome is unknown.
    pub detail: String,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The server accepted the message with this response.
    Sent { response: String },
    /// The attempt failed; try again at `retry_at`.
    Failed { error: String, retry_at: Timestamp },
}

const COLUMNS: &str = "incident, number, node, escalation, recipient_group, template, channel,
    sender, recipients, subject, body, html, message_id, queued_at, state, attempts,
    next_attempt, claimed_by, claimed_until, last_error, sent_at, response";

impl Store {
    /// Writes a notification into the outbox and `notification_queued` (with
    /// `escalation_fired` for an escalation) into the incident's log, in one transaction.
    ///
    /// Returns `None` when the escalation rule has already fired for this incident.
    pub fn queue_notification(
        &mut self,
        new: &NewNotification,
        at: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(&path)?;
        let mut tail = read_tail(&tx, &path, new.incident)?;

        if let Some((rule, _)) = &new.escalation
            && fired(&tx, &path, new.incident, rule)?
        {
            return Ok(None);
        }

        let number: i64 = tx
            .query_row(
                "SELECT coalesce(max(number), 0) + 1 FROM outbox WHERE incident = ?1",
                [new.incident.sql()],
                |row| row.get(0),
            )
            .in_store(&path)?;
        let id = NotificationId {
            incident: new.incident,
            number: u64::try_from(number).unwrap_or(1),
        };
        let message_id = message_id(&tx, &path, id, &new.domain)?;
        let recipients = serde_json::to_string(&new.recipients).unwrap_or_default();

        tx.execute(
            &format!(
                "INSERT INTO outbox ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                 ?11, ?12, ?13, ?14, 'pending', 0, ?14, NULL, NULL, NULL, NULL, NULL)"
            ),
            params![
                new.incident.sql(),
                number,
                new.node,
                new.escalation.as_ref().map(|(rule, _)| rule),
                new.group,
                new.template,
                new.channel,
                new.sender,
                recipients,
                new.subject,
                new.body,
                new.html,
                message_id,
                at.to_string(),
            ],
        )
        .in_store(&path)?;

        let mut events = vec![Event::NotificationQueued {
            node: new.node.clone(),
            notification: id.to_string(),
            group: new.group.clone(),
            template: new.template.clone(),
        }];
        if let Some((rule, reason)) = &new.escalation {
            events.push(Event::EscalationFired {
                rule: rule.clone(),
                reason: reason.clone(),
                notification: id.to_string(),
            });
        }
        write_events(&tx, &path, &mut tail, ACTOR, at, events)?;

        tx.commit().in_store(&path)?;
        self.notification(id).map(Some)
    }

    /// The escalation rules that have already fired for `incident`.
    pub fn fired_escalations(&self, incident: IncidentId) -> Result<Vec<String>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT escalation FROM outbox WHERE incident = ?1 AND escalation IS NOT NULL")
            .in_store(&self.path)?;
        let rows = statement
            .query_map([incident.sql()], |row| row.get(0))
            .in_store(&self.path)?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .in_store(&self.path)
    }

    /// One notification.
    pub fn notification(&self, id: NotificationId) -> Result<Notification, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE incident = ?1 AND number = ?2");
        let raw = self
            .conn
            .query_row(
                &sql,
                params![id.incident.sql(), number_sql(id.number)],
                read,
            )
            .optional()
            .in_store(&self.path)?;
        match raw {
            Some(raw) => raw.map_err(|detail| self.bad_row(id, &detail)),
            None => Err(StoreError::UnknownNotification {
                path: self.path.clone(),
                id: id.to_string(),
            }),
        }
    }

    /// Every notification, oldest first.
    pub fn outbox(&self) -> Result<Vec<Notification>, StoreError> {
        self.select("1 ORDER BY queued_at, incident, number", [])
    }

    /// Notifications not yet sent: pending ones and those claimed by a sender, oldest first.
    pub fn unsent_notifications(&self) -> Result<Vec<Notification>, StoreError> {
        self.select(
            "state != 'sent' ORDER BY next_attempt, incident, number",
            [],
        )
    }

    fn select<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> Result<Vec<Notification>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE {filter}");
        let mut statement = self.conn.prepare(&sql).in_store(&self.path)?;
        let rows = statement.query_map(params, read).in_store(&self.path)?;

        let mut notifications = Vec::new();
        for raw in rows {
            let raw = raw.in_store(&self.path)?;
            notifications.push(raw.map_err(|detail| StoreError::NotACustosStore {
                path: self.path.clone(),
                reason: format!("its outbox holds a damaged row: {detail}"),
            })?);
        }
        Ok(notifications)
    }

    /// Claims `id` for sending, unless it was sent or another sender holds a valid claim.
    ///
    /// `void` says whether an existing claim may be taken over; taking one over records the
    /// attempt it covered as `unknown`, since its outcome is. Returns the claimed row.
    pub fn claim_notification(
        &mut self,
        id: NotificationId,
        claim: &Claim,
        at: Timestamp,
        void: impl Fn(&Claim) -> bool,
    ) -> Result<Option<Notification>, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(&path)?;
        let current = read_in(&tx, &path, id)?;

        match (current.state, &current.claim) {
            (NotificationState::Sent, _) => return Ok(None),
            (NotificationState::Sending, Some(old)) if !void(old) => return Ok(None),
            (NotificationState::Sending, old) => {
                let by = old.as_ref().map_or("an unknown process", |c| c.by.as_str());
                let detail = format!(
                    "the outcome of attempt {} is unknown: `{by}` stopped while sending; it is \
                     sent again with the same Message-ID",
                    current.attempts
                );
                record(&tx, &path, id, current.attempts, "unknown", at, &detail)?;
                log_if_open(&tx, &path, id, at, failed_event(id, &detail))?;
            }
            (NotificationState::Pending, _) => {}
        }

        tx.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_by = ?3,
                    claimed_until = ?4
             WHERE incident = ?1 AND number = ?2",
            params![
                id.incident.sql(),
                number_sql(id.number),
                claim.by,
                claim.until.to_string()
            ],
        )
        .in_store(&path)?;
        let claimed = read_in(&tx, &path, id)?;
        tx.commit().in_store(&path)?;
        Ok(Some(claimed))
    }

    /// Records how the attempt of a claimed notification ended, in the outbox, the deliveries
    /// table and, while the incident is open, its log.
    pub fn finish_attempt(
        &mut self,
        id: NotificationId,
        at: Timestamp,
        attempt: &Attempt,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(&path)?;
        let current = read_in(&tx, &path, id)?;
        let key = params![id.incident.sql(), number_sql(id.number)];

        let event = match attempt {
            Attempt::Sent { response } => {
                tx.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = ?3, response = ?4,
                            claimed_by = NULL, claimed_until = NULL
                     WHERE incident = ?1 AND number = ?2",
                    params![key[0], key[1], at.to_string(), response],
                )
                .in_store(&path)?;
                record(&tx, &path, id, current.attempts, "sent", at, response)?;
                Event::NotificationSent {
                    notification: id.to_string(),
                    message_id: current.message_id.clone(),
                    response: response.clone(),
                }
            }
            Attempt::Failed { error, retry_at } => {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', last_error = ?3, next_attempt = ?4,
                            claimed_by = NULL, claimed_until = NULL
                     WHERE incident = ?1 AND number = ?2",
                    params![key[0], key[1], error, retry_at.to_string()],
                )
                .in_store(&path)?;
                record(&tx, &path, id, current.attempts, "failed", at, error)?;
                failed_event(id, error)
            }
        };
        log_if_open(&tx, &path, id, at, event)?;

        tx.commit().in_store(&path)
    }

    /// Every ended delivery attempt of `id`, in order; kept also after the incident closed.
    pub fn deliveries(&self, id: NotificationId) -> Result<Vec<Delivery>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT attempt, outcome, at, detail FROM deliveries
                 WHERE incident = ?1 AND number = ?2 ORDER BY attempt",
            )
            .in_store(&self.path)?;
        let rows = statement
            .query_map(params![id.incident.sql(), number_sql(id.number)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .in_store(&self.path)?;

        let mut deliveries = Vec::new();
        for row in rows {
            let (attempt, outcome, at, detail): (i64, String, String, String) =
                row.in_store(&self.path)?;
            deliveries.push(Delivery {
                attempt: u64::try_from(attempt).unwrap_or(0),
                outcome,
                at: parse_time(&at).map_err(|detail| self.bad_row(id, &detail))?,
                detail,
            });
        }
        Ok(deliveries)
    }

    fn bad_row(&self, id: NotificationId, detail: &str) -> StoreError {
        StoreError::NotACustosStore {
            path: self.path.clone(),
            reason: format!("its outbox row `{id}` is damaged: {detail}"),
        }
    }
}

/// Whether escalation `rule` already queued a notification for `incident`.
fn fired(
    conn: &Connection,
    path: &Path,
    incident: IncidentId,
    rule: &str,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE incident = ?1 AND escalation = ?2)",
        params![incident.sql(), rule],
        |row| row.get(0),
    )
    .in_store(path)
}

/// The Message-ID of notification `id`: stable for its lifetime, and unique across logs
/// because it hashes the hash of the incident's first event, which includes the wall-clock
/// time it was written.
fn message_id(
    conn: &Connection,
    path: &Path,
    id: NotificationId,
    domain: &str,
) -> Result<String, StoreError> {
    let genesis: String = conn
        .query_row(
            "SELECT hash FROM events WHERE incident = ?1 AND seq = 1",
            [id.incident.sql()],
            |row| row.get(0),
        )
        .in_store(path)?;
    let digest = Sha256::digest(format!("custos-message-v1:{genesis}:{id}").as_bytes());
    let hash = hex::encode(&digest[..8]);
    Ok(format!("<custos.{id}.{hash}@{domain}>"))
}

fn failed_event(id: NotificationId, error: &str) -> Event {
    Event::NotificationFailed {
        notification: id.to_string(),
        error: error.to_owned(),
    }
}

/// Appends `event` to the incident's log unless the incident is closed; the deliveries table
/// keeps the outcome either way.
fn log_if_open(
    tx: &Transaction<'_>,
    path: &Path,
    id: NotificationId,
    at: Timestamp,
    event: Event,
) -> Result<(), StoreError> {
    match read_tail(tx, path, id.incident) {
        Ok(mut tail) => write_events(tx, path, &mut tail, ACTOR, at, [event]).map(|_| ()),
        Err(StoreError::IncidentClosed { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

fn record(
    conn: &Connection,
    path: &Path,
    id: NotificationId,
    attempt: u64,
    outcome: &str,
    at: Timestamp,
    detail: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO deliveries (incident, number, attempt, outcome, at, written_at, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id.incident.sql(),
            number_sql(id.number),
            number_sql(attempt),
            outcome,
            at.to_string(),
            Timestamp::now().to_string(),
            detail
        ],
    )
    .in_store(path)
    .map(|_| ())
}

fn read_in(conn: &Connection, path: &Path, id: NotificationId) -> Result<Notification, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE incident = ?1 AND number = ?2");
    let raw = conn
        .query_row(
            &sql,
            params![id.incident.sql(), number_sql(id.number)],
            read,
        )
        .optional()
        .in_store(path)?;
    let Some(raw) = raw else {
        return Err(StoreError::UnknownNotification {
            path: path.to_path_buf(),
            id: id.to_string(),
        });
    };
    raw.map_err(|detail| StoreError::NotACustosStore {
        path: path.to_path_buf(),
        reason: format!("its outbox row `{id}` is damaged: {detail}"),
    })
}

/// Reads a row of [`COLUMNS`]; the inner error describes a column that does not parse.
fn read(row: &Row<'_>) -> rusqlite::Result<Result<Notification, String>> {
    let time = |index: usize| -> rusqlite::Result<Result<Timestamp, String>> {
        Ok(parse_time(&row.get::<_, String>(index)?))
    };
    let optional_time = |index: usize| -> rusqlite::Result<Result<Option<Timestamp>, String>> {
        Ok(match row.get::<_, Option<String>>(index)? {
            Some(text) => parse_time(&text).map(Some),
            None => Ok(None),
        })
    };

    let incident: i64 = row.get(0)?;
    let number: i64 = row.get(1)?;
    let recipients: String = row.get(8)?;
    let state: String = row.get(14)?;
    let attempts: i64 = row.get(15)?;
    let claimed_by: Option<String> = row.get(17)?;
    let claimed_until = optional_time(18)?;
    let queued_at = time(13)?;
    let next_attempt = time(16)?;
    let sent_at = optional_time(20)?;

    let build = || -> Result<Notification, String> {
        let incident =
            IncidentId::from_sql(incident).ok_or(format!("incident number {incident}"))?;
        let number = u64::try_from(number).map_err(|_| format!("number {number}"))?;
        let claim = match (claimed_by, claimed_until?) {
            (Some(by), Some(until)) => Some(Claim { by, until }),
            _ => None,
        };
        Ok(Notification {
            id: NotificationId { incident, number },
            node: row.get(2).map_err(|e| e.to_string())?,
            escalation: row.get(3).map_err(|e| e.to_string())?,
            group: row.get(4).map_err(|e| e.to_string())?,
            template: row.get(5).map_err(|e| e.to_string())?,
            channel: row.get(6).map_err(|e| e.to_string())?,
            sender: row.get(7).map_err(|e| e.to_string())?,
            recipients: serde_json::from_str(&recipients)
                .map_err(|e| format!("recipients: {e}"))?,
            subject: row.get(9).map_err(|e| e.to_string())?,
            body: row.get(10).map_err(|e| e.to_string())?,
            html: row.get(11).map_err(|e| e.to_string())?,
            message_id: row.get(12).map_err(|e| e.to_string())?,
            queued_at: queued_at?,
            state: NotificationState::parse(&state).ok_or(format!("state `{state}`"))?,
            attempts: u64::try_from(attempts).map_err(|_| format!("attempts {attempts}"))?,
            next_attempt: next_attempt?,
            claim,
            last_error: row.get(19).map_err(|e| e.to_string())?,
            sent_at: sent_at?,
            response: row.get(21).map_err(|e| e.to_string())?,
        })
    };
    Ok(build())
}

/// A count as SQLite stores it.
fn number_sql(number: u64) -> i64 {
    // Notification numbers and attempts count rows and never come near 2^63.
    i64::try_from(number).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_ids_read_back_as_they_are_shown() {
        let id: NotificationId = "INC-42.N3".parse().unwrap();
        assert_eq!(id.incident.number(), 42);
        assert_eq!(id.number, 3);
        assert_eq!(id.to_string(), "INC-42.N3");
    }

    #[test]
    fn texts_that_are_not_notification_ids_are_rejected() {
        for text in ["", "INC-42", "INC-42.N0", "INC-42.Nx", "N3", "INC-0.N1"] {
            assert!(text.parse::<NotificationId>().is_err(), "{text}");
        }
    }

    #[test]
    fn a_claim_past_its_deadline_is_void() {
        let claim = Claim {
            by: "elsewhere:1".to_owned(),
            until: Timestamp::UNIX_EPOCH,
        };
        assert!(claim.is_void(Timestamp::now()));
    }

    #[test]
    fn a_live_claim_of_this_process_holds() {
        let claim = Claim::mine(std::time::Duration::from_secs(60));
        assert!(!claim.is_void(Timestamp::now()));
    }
}
