//! The worker thread that owns the PKCS#11 sessions and runs each job against them.
//!
//! A `cryptoki` session may move between threads but not be shared, so one thread keeps one
//! logged-in session per environment and runs jobs one after the other. The caller waits for
//! the reply with a time limit; when it gives up, it drops its end of the channel and this
//! thread ends once the hung call returns, closing its sessions.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::request::{Job, Request};
use super::token::{self, OpenToken};
use super::{HsmError, actions, health};
use crate::policy::environment::Environment;

/// What the worker sends back: the outputs, and the environments it holds sessions for.
pub(super) type Reply = (Result<Map<String, Value>, HsmError>, HashSet<String>);

/// Work for the worker thread: the job, the PINs of environments without a session, and where
/// to answer.
pub(super) struct Task {
    pub job: Job,
    pub pins: Vec<Option<Zeroizing<String>>>,
    pub reply: mpsc::SyncSender<Reply>,
}

/// The worker loop: one logged-in session per environment, kept between tasks. A task with no
/// environments closes them all and ends the loop.
pub(super) fn work(tasks: &mpsc::Receiver<Task>) {
    let mut open: HashMap<String, OpenToken> = HashMap::new();
    while let Ok(task) = tasks.recv() {
        if task.job.environments.is_empty() {
            open.clear();
            let _ = task.reply.send((Ok(Map::new()), HashSet::new()));
            return;
        }

        let names: Vec<String> = task
            .job
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect();
        let result = execute(&mut open, task.job, &task.pins);
        if let Err(error) = &result
            && error.ends_session()
        {
            for name in &names {
                open.remove(name);
            }
        }
        let live = open.keys().cloned().collect();
        let _ = task.reply.send((result, live));
    }
}

/// The open session for `environment`, logging in with `pin` if there is none yet.
fn session<'a>(
    open: &'a mut HashMap<String, OpenToken>,
    environment: &Environment,
    pin: Option<&Zeroizing<String>>,
) -> Result<&'a OpenToken, HsmError> {
    if !open.contains_key(&environment.name) {
        let Some(pin) = pin else {
            return Err(HsmError::PinUnavailable {
                environment: environment.name.clone(),
                reason: String::from("the session custos held was lost; run the action again"),
            });
        };
        let token = token::open(environment, pin)?;
        open.insert(environment.name.clone(), token);
    }
    open.get(&environment.name)
        .ok_or_else(|| HsmError::PinUnavailable {
            environment: environment.name.clone(),
            reason: String::from("the session could not be kept"),
        })
}

fn execute(
    open: &mut HashMap<String, OpenToken>,
    job: Job,
    pins: &[Option<Zeroizing<String>>],
) -> Result<Map<String, Value>, HsmError> {
    let environment = &job.environments[0];
    let pin = pins.first().and_then(Option::as_ref);

    if let Request::Health = job.request {
        let held = open.contains_key(&environment.name);
        let report = health::probe(environment, if held { None } else { pin });
        return Ok(report.to_outputs());
    }
    if let Request::Compare = job.request {
        return compare(open, &job.environments, pins);
    }

    let token = session(open, environment, pin)?;
    let (session, name) = (&token.session, environment.name.as_str());
    match job.request {
        Request::Find { label, id, class } => {
            actions::find(session, name, label.as_deref(), id.as_deref(), class)
        }
        Request::Kcv {
            label,
            method,
            length,
        } => actions::kcv(session, name, &label, method, length),
        Request::Generate {
            new_key,
            sensitive,
            extractable,
        } => actions::generate(session, name, &new_key.as_new_key(), sensitive, extractable),
        Request::Wrap {
            key,
            wrapping_key,
            mechanism,
            kcv_method,
        } => actions::wrap(session, name, &key, &wrapping_key, mechanism, kcv_method),
        Request::Unwrap {
            wrapped,
            unwrapping_key,
            new_key,
            mechanism,
        } => {
            let new = new_key.as_new_key();
            actions::unwrap(session, name, &wrapped, &unwrapping_key, &new, mechanism)
        }
        Request::Destroy { label, class } => actions::destroy(session, name, &label, class),
        Request::LoadComponents {
            new_key,
            components,
        } => actions::load_components(session, name, &new_key.as_new_key(), &components),
        Request::Health | Request::Compare => Ok(Map::new()),
    }
}

fn compare(
    open: &mut HashMap<String, OpenToken>,
    environments: &[Environment],
    pins: &[Option<Zeroizing<String>>],
) -> Result<Map<String, Value>, HsmError> {
    let [left, right] = environments else {
        return Ok(Map::new());
    };
    let pin = |index: usize| pins.get(index).and_then(Option::as_ref);

    let left_token = session(open, left, pin(0))?;
    let left_keys = actions::inventory(&left_token.session, &left.name)?;
    let right_token = session(open, right, pin(1))?;
    let right_keys = actions::inventory(&right_token.session, &right.name)?;
    Ok(actions::compare(
        &left.name,
        &left_keys,
        &right.name,
        &right_keys,
    ))
}
