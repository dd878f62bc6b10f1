//! Automated HSM steps through PKCS#11 (`cryptoki`): environments, sessions, actions, KCVs.
//!
//! [`Hsm::run`] is the one entry the engine calls: it checks an action's parameters against the
//! catalog, resolves environments (a drill replaces production by its stand-in), asks
//! [`Secrets`] for what it needs, and hands the PKCS#11 work to a worker thread that keeps one
//! logged-in session per environment. It waits for the answer no longer than the time limit;
//! a module call that hangs cannot be cancelled, so the worker is abandoned and the next action
//! starts a fresh one. Modules are initialised once per process and finalised by
//! [`Hsm::close`], or by dropping the [`HsmGuard`] a command holds, so that no way out of a
//! command skips it. Prompting, formatting and retry policy belong to the caller.

pub mod actions;
pub mod certificate;
pub mod error;
pub mod health;
pub mod kcv;
pub mod key;
pub mod module;
pub mod params;
pub mod request;
pub mod secrets;
pub mod token;
mod worker;

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

pub use error::HsmError;
pub use health::{HealthReport, Verdict};
pub use kcv::{Kcv, KcvMethod};
pub use secrets::{EnvSecrets, FixedSecrets, Secrets};

use crate::policy::environment::{Environment, Environments};
use request::{Job, Request};

/// The front door to every HSM the environments name.
pub struct Hsm {
    worker: Option<Worker>,
    /// Threads given up on after a time limit, perhaps still inside a module call. They are
    /// waited for (within a limit) before sessions close and modules are finalised.
    abandoned: Vec<mpsc::Receiver<()>>,
    /// Environments the current worker holds a logged-in session for.
    logged_in: HashSet<String>,
}

/// The worker thread's inbox, and a channel that disconnects when the thread has ended.
struct Worker {
    tasks: mpsc::Sender<worker::Task>,
    gone: mpsc::Receiver<()>,
}

/// Starts a named thread; the returned receiver disconnects once the thread has ended.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<mpsc::Receiver<()>, HsmError> {
    let (alive, gone) = mpsc::channel::<()>();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _alive = alive;
            body();
        })
        .map_err(|_| HsmError::WorkerStopped {
            action: format!("starting {name}"),
        })?;
    Ok(gone)
}

/// Waits until the thread behind `gone` has ended or `deadline` passes; true if it ended.
fn ended_by(gone: &mpsc::Receiver<()>, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    matches!(
        gone.recv_timeout(left),
        Err(mpsc::RecvTimeoutError::Disconnected)
    )
}

impl Default for Hsm {
    fn default() -> Self {
        Self::new()
    }
}

impl Hsm {
    /// No worker yet: the first action starts one, and loads modules as needed.
    pub fn new() -> Self {
        Self {
            worker: None,
            abandoned: Vec::new(),
            logged_in: HashSet::new(),
        }
    }

    /// Runs the catalog action `action` with `params` and returns its outputs.
    ///
    /// In `rehearsal`, a production environment is replaced by its stand-in (or refused);
    /// outside it, `hsm.load_components` is refused. Waits at most `timeout` for the HSM.
    pub fn run(
        &mut self,
        action: &str,
        params: &Map<String, Value>,
        environments: &Environments,
        secrets: &mut dyn Secrets,
        rehearsal: bool,
        timeout: Duration,
    ) -> Result<Map<String, Value>, HsmError> {
        let job = request::build(action, params, environments, secrets, rehearsal)?;
        let mut pins = Vec::with_capacity(job.environments.len());
        for (index, environment) in job.environments.iter().enumerate() {
            let asked = job.environments[..index]
                .iter()
                .any(|e| e.name == environment.name);
            let pin = if asked || self.logged_in.contains(&environment.name) {
                None
            } else {
                Some(secrets.pin(&environment.name)?)
            };
            pins.push(pin);
        }
        tracing::debug!(action = job.action, rehearsal, "running HSM action");
        self.dispatch(job, pins, timeout)
    }

    /// Probes `environment` as `custos hsm check` does, for the command line to format.
    pub fn check(
        &mut self,
        environment: &Environment,
        secrets: &mut dyn Secrets,
        timeout: Duration,
    ) -> Result<HealthReport, HsmError> {
        let pin = if self.logged_in.contains(&environment.name) {
            None
        } else {
            Some(secrets.pin(&environment.name)?)
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let environment = environment.clone();
        let name = environment.name.clone();
        let gone = spawn("custos-hsm-check", move || {
            let report = health::probe(&environment, pin.as_ref());
            let _ = reply.send(report);
        })?;
        answer.recv_timeout(timeout).map_err(|error| match error {
            mpsc::RecvTimeoutError::Timeout => {
                self.abandoned.push(gone);
                HsmError::Timeout {
                    action: format!("hsm check {name}"),
                    after: timeout,
                }
            }
            mpsc::RecvTimeoutError::Disconnected => HsmError::WorkerStopped {
                action: String::from("hsm check"),
            },
        })
    }

    fn dispatch(
        &mut self,
        job: Job,
        pins: Vec<Option<Zeroizing<String>>>,
        timeout: Duration,
    ) -> Result<Map<String, Value>, HsmError> {
        let action = job.action;
        let (reply, answer) = mpsc::sync_channel(1);
        let worker = self.worker()?;
        if worker
            .tasks
            .send(worker::Task { job, pins, reply })
            .is_err()
        {
            self.abandon_worker();
            return Err(HsmError::WorkerStopped {
                action: action.to_owned(),
            });
        }

        match answer.recv_timeout(timeout) {
            Ok((result, live)) => {
                self.logged_in = live;
                result
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    action,
                    ?timeout,
                    "HSM action timed out; abandoning the worker"
                );
                self.abandon_worker();
                Err(HsmError::Timeout {
                    action: action.to_owned(),
                    after: timeout,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.abandon_worker();
                Err(HsmError::WorkerStopped {
                    action: action.to_owned(),
                })
            }
        }
    }

    fn worker(&mut self) -> Result<&Worker, HsmError> {
        if self.worker.is_none() {
            let (tasks, inbox) = mpsc::channel::<worker::Task>();
            let gone = spawn("custos-hsm", move || worker::work(&inbox))?;
            self.logged_in.clear();
            self.worker = Some(Worker { tasks, gone });
        }
        self.worker.as_ref().ok_or_else(|| HsmError::WorkerStopped {
            action: String::from("starting"),
        })
    }

    /// Gives up on the worker: its sessions close when (if ever) its current call returns.
    fn abandon_worker(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.abandoned.push(worker.gone);
        }
        self.logged_in.clear();
    }

    /// Closes every session, then finalises every module this process loaded.
    ///
    /// Waits up to `timeout` for the worker, and for any thread abandoned after a time limit, to
    /// end. If one is still inside a module call, the modules are not finalised (that call could
    /// crash) and an error says so. Drop every other `Hsm` first: modules are process-wide.
    pub fn close(mut self, timeout: Duration) -> Result<(), HsmError> {
        self.finish(timeout)
    }

    /// [`Hsm::close`] without giving up the value, for [`HsmGuard`]'s drop. Once finished, a
    /// second call has nothing left to close and finalises nothing.
    fn finish(&mut self, timeout: Duration) -> Result<(), HsmError> {
        self.shut_down(timeout);
        if !self.abandoned.is_empty() {
            return Err(HsmError::CloseIncomplete {
                reason: format!(
                    "{} HSM call(s) still running after {timeout:?}; the modules were left \
                     initialised",
                    self.abandoned.len()
                ),
            });
        }

        let failures = module::finalize_modules();
        match failures.into_iter().next() {
            None => Ok(()),
            Some((path, detail)) => Err(HsmError::CloseIncomplete {
                reason: format!("C_Finalize of `{}` failed: {detail}", path.display()),
            }),
        }
    }

    /// Asks the worker to close its sessions, and waits up to `timeout` in all for it and for
    /// any abandoned thread to end.
    fn shut_down(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        if let Some(worker) = self.worker.take() {
            let (reply, answer) = mpsc::sync_channel(1);
            let job = Job {
                action: "close",
                request: Request::Health,
                environments: Vec::new(),
            };
            let task = worker::Task {
                job,
                pins: Vec::new(),
                reply,
            };
            if worker.tasks.send(task).is_ok() {
                let _ = answer.recv_timeout(deadline.saturating_duration_since(Instant::now()));
            }
            drop(worker.tasks);
            ended_by(&worker.gone, deadline);
        }
        self.logged_in.clear();

        self.abandoned.retain(|gone| !ended_by(gone, deadline));
        if !self.abandoned.is_empty() {
            let stuck = self.abandoned.len();
            tracing::warn!(stuck, "HSM threads are still inside a module call");
        }
    }
}

impl Drop for Hsm {
    /// Closes the sessions (not the modules: see [`Hsm::close`]), waiting a moment for them.
    fn drop(&mut self) {
        self.shut_down(Duration::from_secs(2));
    }
}

/// How long [`HsmGuard`] waits for sessions and hung calls before finalising.
const GUARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The [`Hsm`] of a command, which closes the sessions and finalises the modules when dropped.
///
/// Invariant: a command that talks to HSMs makes exactly one guard and keeps it for as long as
/// it uses them, holding no other `Hsm` by then. Whatever way the command ends (success, an
/// error returned with `?`, a panic that unwinds), the guard's drop runs `C_Finalize` once for
/// every module the process initialised. [`HsmGuard::close`] does the same and reports what
/// went wrong; after it, the drop has nothing left to do.
pub struct HsmGuard {
    hsm: Hsm,
    /// Set by [`HsmGuard::close`], so the drop neither waits nor warns a second time.
    closed: bool,
}

impl Default for HsmGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl HsmGuard {
    /// A fresh [`Hsm`] under the guard.
    pub fn new() -> Self {
        Self {
            hsm: Hsm::new(),
            closed: false,
        }
    }

    /// Closes the sessions and finalises the modules now, saying what could not be done.
    pub fn close(mut self) -> Result<(), HsmError> {
        self.closed = true;
        self.hsm.finish(GUARD_TIMEOUT)
    }
}

impl Deref for HsmGuard {
    type Target = Hsm;

    fn deref(&self) -> &Hsm {
        &self.hsm
    }
}

impl DerefMut for HsmGuard {
    fn deref_mut(&mut self) -> &mut Hsm {
        &mut self.hsm
    }
}

impl Drop for HsmGuard {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if let Err(error) = self.hsm.finish(GUARD_TIMEOUT) {
            tracing::warn!("closing the HSM sessions: {error}");
        }
    }
}
