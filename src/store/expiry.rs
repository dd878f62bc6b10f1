//! What expiry monitoring asks of the log: finding the incident it opened for an object before,
//! and the state of the alerts it queued.
//!
//! Expiry monitoring keeps no table of its own: an alert is a notification queued on the
//! object's watch incident under a unique escalation key, so the outbox's
//! `UNIQUE (incident, escalation)` is what makes each alert go out once. See [`crate::expiry`].

use rusqlite::{OptionalExtension, params};

use super::error::InStore;
use super::{IncidentId, NotificationState, Store, StoreError};

impl Store {
    /// The oldest incident opened from runbook `runbook_id` with exactly `title`, in a drill or
    /// not as `rehearsal` says.
    pub fn incident_titled(
        &self,
        runbook_id: &str,
        title: &str,
        rehearsal: bool,
    ) -> Result<Option<IncidentId>, StoreError> {
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(id) FROM incidents
                 WHERE runbook_id = ?1 AND title = ?2 AND rehearsal = ?3",
                params![runbook_id, title, rehearsal],
                |row| row.get(0),
            )
            .optional()
            .in_store(&self.path)?
            .flatten();
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
