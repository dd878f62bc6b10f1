//! Automated HSM steps through PKCS#11 (`cryptoki`): environments, sessions, actions, KCVs.
//!
//! [`Hsm::run`] is the one entry the engine calls: it checks an action's parameters against the
//! catalog, resolves environments (a drill replaces production by its stand-in), asks
//! [`Secrets`] for what it needs, and hands the PKCS#11 work to a worker thread that keeps one
//! logged-in session per environment. It waits for the answer no longer than the time limit;
//! a module call that hangs cannot be cancelled, so the worker is abandoned and the next action
//! starts a fresh one. Modules are initialised once per process and finalised by
//! [`Hsm::close`]. Prompting, formatting and retry policy belong to the caller.

pub mod actions;
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
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

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
    worker: Option<mpsc::Sender<worker::Task>>,
    /// Environments the current worker holds a logged-in session for.
    logged_in: HashSet<String>,
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
        let started = thread::Builder::new()
            .name(String::from("custos-hsm-check"))
            .spawn(move || {
                let report = health::probe(&environment, pin.as_ref());
                let _ = reply.send(report);
            });
        if started.is_err() {
            return Err(HsmError::WorkerStopped {
                action: String::from("hsm check"),
            });
        }
        answer.recv_timeout(timeout).map_err(|error| match error {
            mpsc::RecvTimeoutError::Timeout => HsmError::Timeout {
                action: format!("hsm check {name}"),
                after: timeout,
            },
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
        if worker.send(worker::Task { job, pins, reply }).is_err() {
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

    fn worker(&mut self) -> Result<&mpsc::Sender<worker::Task>, HsmError> {
        if self.worker.is_none() {
            let (sender, tasks) = mpsc::channel::<worker::Task>();
            thread::Builder::new()
                .name(String::from("custos-hsm"))
                .spawn(move || worker::work(&tasks))
                .map_err(|_| HsmError::WorkerStopped {
                    action: String::from("starting"),
                })?;
            self.logged_in.clear();
            self.worker = Some(sender);
        }
        self.worker.as_ref().ok_or_else(|| HsmError::WorkerStopped {
            action: String::from("starting"),
        })
    }

    /// Forgets the worker: its sessions close when (if ever) its current call returns.
    fn abandon_worker(&mut self) {
        self.worker = None;
        self.logged_in.clear();
    }

    /// Closes every session, then finalises every module this process loaded.
    ///
    /// Waits up to `timeout` for the worker to close its sessions; a worker stuck in a module
    /// call is left behind, and finalising then is the module's risk to bear. Drop every other
    /// `Hsm` first: modules are shared by the whole process.
    pub fn close(mut self, timeout: Duration) -> Result<(), HsmError> {
        self.shut_down(timeout);
        let failures = module::finalize_modules();
        match failures.into_iter().next() {
            None => Ok(()),
            Some((path, detail)) => Err(HsmError::Library {
                environment: path.display().to_string(),
                operation: "C_Finalize",
                detail,
            }),
        }
    }

    /// Asks the worker to close its sessions and waits up to `timeout` for it to do so.
    fn shut_down(&mut self, timeout: Duration) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            action: "close",
            request: Request::Health,
            environments: Vec::new(),
        };
        if worker
            .send(worker::Task {
                job,
                pins: Vec::new(),
                reply,
            })
            .is_ok()
        {
            let _ = answer.recv_timeout(timeout);
        }
        self.logged_in.clear();
    }
}

impl Drop for Hsm {
    /// Closes the sessions (not the modules: see [`Hsm::close`]), waiting a moment for them.
    fn drop(&mut self) {
        self.shut_down(Duration::from_secs(2));
    }
}
