//! Escalations that fall due while the responder sits at a prompt.
//!
//! The walker looks for due escalations between moves, but a person can spend hours on one
//! question at 3 a.m., and the board's four-hour message must not wait for their answer. An
//! [`EscalationWatch`] runs beside an interactive walk on a thread of its own, with its own
//! connection to the store, and every [`WATCH_INTERVAL`] fires what is due for that incident
//! through [`notify::escalate_incident`]. The outbox's unique escalation key and the claim on
//! each notification keep the walker and the watch from firing or sending anything twice.
//!
//! It leaves out the walk itself: it only escalates, and reports what it fired to a callback.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::clock::Clock;
use crate::notify;
use crate::store::{IncidentId, Store};

/// How often the watch looks for escalations that fell due.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(30);

/// A thread that escalates one incident until it is dropped.
pub struct EscalationWatch {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl EscalationWatch {
    /// Starts watching `incident` in the store at `store`, with the notification policy of
    /// `policies`, on `clock`. Each escalation it fires, and each problem it meets, is handed
    /// to `tell` as one line. `None` when the thread could not be started.
    pub fn start(
        store: &Path,
        policies: &Path,
        incident: IncidentId,
        clock: Clock,
        interval: Duration,
        tell: impl Fn(String) + Send + 'static,
    ) -> Option<EscalationWatch> {
        let (stop, stopped) = mpsc::channel::<()>();
        let store = store.to_path_buf();
        let policies = policies.to_path_buf();
        let thread = std::thread::Builder::new()
            .name(String::from("custos-escalation-watch"))
            .spawn(move || {
                let Some(mut watched) = Watched::open(&store, &policies, incident, &tell) else {
                    return;
                };
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    for line in watched.round(clock) {
                        tell(line);
                    }
                }
            })
            .ok()?;

        Some(EscalationWatch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EscalationWatch {
    fn drop(&mut self) {
        // A send error means the thread has ended already; either way it is joined.
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the watch thread holds: its own store connection and notification policy.
struct Watched {
    store: Store,
    policy: notify::Policy,
    incident: IncidentId,
}

impl Watched {
    fn open(
        store: &Path,
        policies: &Path,
        incident: IncidentId,
        tell: &impl Fn(String),
    ) -> Option<Watched> {
        let policy = match notify::Policy::load(policies) {
            Ok(policy) if policy.warning().is_none() => policy,
            // Without a notification policy there is nothing to escalate to; the walk has
            // said so already.
            Ok(_) => return None,
            Err(error) => {
                tell(format!("escalations are not watched: {error}"));
                return None;
            }
        };
        match Store::open(store) {
            Ok(store) => Some(Watched {
                store,
                policy,
                incident,
            }),
            Err(error) => {
                tell(format!("escalations are not watched: {error}"));
                None
            }
        }
    }

    /// One look: what fired, or why nothing could be checked.
    fn round(&mut self, clock: Clock) -> Vec<String> {
        let escalated =
            notify::escalate_incident(&mut self.store, &self.policy, self.incident, clock.now());
        match escalated {
            Ok(report) => report
                .fired
                .iter()
                .filter(|fired| fired.incident == self.incident)
                .map(|fired| format!("escalation: {} ({})", fired.reason, fired.notification))
                .collect(),
            Err(error) => vec![format!("escalations could not be checked: {error}")],
        }
    }
}
