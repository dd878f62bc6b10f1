//! What expiry monitoring asks of the log: finding the incident it opened for an object before,
//! and the state of the alerts it queued.
//!
//! Expiry monitoring keeps no table of its own: an alert is a notification queued on the
//! object's watch incident under a unique escalation key, so the outbox's
//! `UNIQUE (incident, escalation)` is what makes each alert go out once. See [`crate::expiry`].

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::error::InStore;
use super::event::Event;
use super::write::insert_incident;
use super::{IncidentId, NotificationState, Opening, Store, StoreError};

impl Store {
    /// Opens an incident as [`Store::open_incident`] does, with `then` written after
    /// `incident_opened`, unless one from the same runbook with the same title and rehearsal
    /// flag exists. The look-up and the opening are one transaction, so two processes racing
    /// open one incident. Returns the incident and whether it was opened now.
    pub fn open_incident_once(
        &mut self,
        opening: &Opening,
        at: Timestamp,
        then: Vec<Event>,
    ) -> Result<(IncidentId, bool), StoreError> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .in_store(path)?;

        let found = titled(&tx, opening)
            .in_store(path)?
            .and_then(IncidentId::from_sql);
        if let Some(found) = found {
            return Ok((found, false));
        }

        let id = insert_incident(&tx, path, opening, at, None, then)?;
        tx.commit().in_store(path)?;
        Ok((id, true))
    }

    /// The oldest incident opened from runbook `runbook_id` with exactly `title`, in a drill or
    /// not as `rehearsal` says.
    pub fn incident_titled(
        &self,
        runbook_id: &str,
        title: &str,
        rehearsal: bool,
    ) -> Result<Option<IncidentId>, StoreError> {
        let found = query_titled(&self.conn, runbook_id, title, rehearsal).in_store(&self.path)?;
        Ok(found.and_then(IncidentId::from_sql))
    }

    /// The delivery state of the notification escalation `key` queued on `incident`, if any.
    pub fn escalation_state(
        &self,
        incident: IncidentId,
        key: &str,
    ) -> Result<Option<NotificationState>, StoreError> {
        let state: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM outbox WHERE incident = ?1 AND escalation = ?2",
                params![incident.sql(), key],
                |row| row.get(0),
            )
            .optional()
            .in_store(&self.path)?;
        Ok(state.and_then(|state| NotificationState::parse(&state)))
    }
}

fn titled(conn: &Connection, opening: &Opening) -> rusqlite::Result<Option<i64>> {
    query_titled(conn, &opening.runbook_id, &opening.title, opening.rehearsal)
}

fn query_titled(
    conn: &Connection,
    runbook_id: &str,
    title: &str,
    rehearsal: bool,
) -> rusqlite::Result<Option<i64>> {
    let found: Option<Option<i64>> = conn
        .query_row(
            "SELECT min(id) FROM incidents WHERE runbook_id = ?1 AND title = ?2 AND rehearsal = ?3",
            params![runbook_id, title, rehearsal],
            |row| row.get(0),
        )
        .optional()?;
    Ok(found.flatten())
}
