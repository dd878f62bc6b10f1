//! Delivering the outbox: every notification that is due is claimed, handed to the mail server
//! (or the drill mailbox), and its outcome recorded; failures are retried with backoff.
//!
//! The claim is written before the server is contacted and the outcome after, each in its own
//! transaction, so a crash in between leaves a claim whose outcome is unknown. Such a claim is
//! taken over once it is void (its process is gone, or its lease ran out) and the message is
//! sent again with the same Message-ID: at least once, duplicates recognisable.
//!
//! Each notification is claimed, stamped and rescheduled on its own incident's time
//! ([`Clock::at`]): a drill's set clock never reaches a real incident's notification, which is
//! always sent and retried on the real clock.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::clock::Clock;
use super::error::NotifyError;
use super::mail;
use super::policy::Policy;
use crate::store::{
    Attempt, Claim, IncidentId, Notification, NotificationId, NotificationState, Store, StoreError,
};

/// The wait before the first retry; it doubles with each failure.
pub const FIRST_RETRY: SignedDuration = SignedDuration::from_mins(1);

/// The longest wait between retries.
pub const LONGEST_RETRY: SignedDuration = SignedDuration::from_hours(1);

/// What one round of delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Handed over in this round.
    pub sent: Vec<NotificationId>,
    /// Failed in this round, with the error; each will be retried.
    pub failed: Vec<(NotificationId, String)>,
    /// Failed before and waiting for their next attempt.
    pub retrying: Vec<NotificationId>,
    /// Being sent by another process right now.
    pub in_flight: Vec<NotificationId>,
}

impl DeliveryReport {
    /// Whether every notification queued so far has been handed over (or is being handed over
    /// by another process).
    pub fn all_delivered(&self) -> bool {
        self.failed.is_empty() && self.retrying.is_empty()
    }
}

/// Sends every notification that is due on `clock`; failed ones wait for their retry time. A
/// bare time is the clock of rehearsal incidents only (see [`Clock`]).
pub fn deliver(
    store: &mut Store,
    policy: &Policy,
    clock: impl Into<Clock>,
) -> Result<DeliveryReport, NotifyError> {
    run(store, policy, &clock.into(), false)
}

/// Sends every notification not yet sent, without waiting for retry times.
pub fn flush(
    store: &mut Store,
    policy: &Policy,
    clock: impl Into<Clock>,
) -> Result<DeliveryReport, NotifyError> {
    run(store, policy, &clock.into(), true)
}

fn run(
    store: &mut Store,
    policy: &Policy,
    clock: &Clock,
    all: bool,
) -> Result<DeliveryReport, NotifyError> {
    let mut report = DeliveryReport::default();
    let lease = lease(policy);
    let mut rehearsals = Rehearsals::default();

    for waiting in store.unsent_notifications()? {
        let id = waiting.id;
        let now = clock.at(id.incident, rehearsals.is(store, id.incident)?);
        let live_claim = waiting.state == NotificationState::Sending
            && waiting
                .claim
                .as_ref()
                .is_some_and(|c| !c.is_void(Timestamp::now()));
        if live_claim {
            report.in_flight.push(id);
            continue;
        }
        if waiting.state == NotificationState::Pending && waiting.next_attempt > now && !all {
            report.retrying.push(id);
            continue;
        }

        let claim = Claim::mine(lease);
        let void = |old: &Claim| old.is_void(Timestamp::now());
        let Some(claimed) = store.claim_notification(id, &claim, now, void)? else {
            report.in_flight.push(id);
            continue;
        };

        let outcome = hand_over(policy, &claimed);
        let now = clock.at(id.incident, rehearsals.is(store, id.incident)?);
        match outcome {
            Ok(response) => {
                tracing::debug!(%id, response, "notification sent");
                store.finish_attempt(id, now, &Attempt::Sent { response })?;
                report.sent.push(id);
            }
            Err(error) => {
                let retry_at = now.saturating_add(backoff(claimed.attempts)).unwrap_or(now);
                tracing::debug!(%id, error, %retry_at, "notification failed");
                let attempt = Attempt::Failed {
                    error: error.clone(),
                    retry_at,
                };
                store.finish_attempt(id, now, &attempt)?;
                report.failed.push((id, error));
            }
        }
    }
    Ok(report)
}

/// Which incidents are rehearsals, read once each.
#[derive(Default)]
struct Rehearsals(BTreeMap<IncidentId, bool>);

impl Rehearsals {
    fn is(&mut self, store: &Store, incident: IncidentId) -> Result<bool, StoreError> {
        if let Some(known) = self.0.get(&incident) {
            return Ok(*known);
        }
        let rehearsal = store.incident(&incident)?.rehearsal;
        self.0.insert(incident, rehearsal);
        Ok(rehearsal)
    }
}

/// Sends one claimed notification through its channel.
fn hand_over(policy: &Policy, notification: &Notification) -> Result<String, String> {
    let message = mail::message(notification)?;
    if let Some(dir) = notification.channel.strip_prefix("maildir:") {
        return mail::store_maildir(Path::new(dir), notification, &message);
    }
    let Some(settings) = &policy.mail else {
        return Err(format!(
            "there is no `{}`, so there is no mail server to send through",
            policy.notify_path().display()
        ));
    };
    mail::send_smtp(&settings.smtp, &message)
}

/// The wait after the `attempts`-th failure: 1 min, 2 min, 4 min... up to 1 h.
pub fn backoff(attempts: u64) -> SignedDuration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(16);
    let wait = FIRST_RETRY.saturating_mul(2_i32.saturating_pow(doublings));
    wait.min(LONGEST_RETRY)
}

/// How long a claim holds: long enough for every SMTP command of one message to time out.
fn lease(policy: &Policy) -> Duration {
    let timeout = policy
        .mail
        .as_ref()
        .map_or(Duration::from_secs(30), |mail| {
            Duration::try_from(mail.smtp.timeout).unwrap_or(Duration::from_secs(30))
        });
    timeout.saturating_mul(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_one_minute_then_double_up_to_an_hour() {
        let minutes: Vec<i64> = (1..=9).map(|n| backoff(n).as_mins()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
