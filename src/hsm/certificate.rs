//! Reading certificate objects off a token, for expiry monitoring.
//!
//! Certificates are public objects, so this opens a read-only session and does not log in: no
//! PIN is asked for or held. A certificate stored as a private object is therefore not found.
//! It reads `CKA_VALUE` (the DER) and `CKA_LABEL`, nothing else; parsing is
//! [`crate::expiry`]'s work.

use std::sync::mpsc;
use std::time::Duration;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};

use super::{HsmError, key, spawn, token};
use crate::policy::environment::Environment;

/// The DER of the one certificate object labelled `label` on `environment`'s token, waiting at
/// most `timeout` for the module.
pub fn read(
    environment: &Environment,
    label: &str,
    timeout: Duration,
) -> Result<Vec<u8>, HsmError> {
    let wanted = label.to_owned();
    let action = format!("reading certificate `{label}`");
    on_thread(environment, action, timeout, move |environment| {
        read_now(environment, &wanted)
    })
}

/// The label and DER of every certificate object on `environment`'s token, in the token's
/// order, waiting at most `timeout` for the module. An object without a label has an empty one.
pub fn read_all(
    environment: &Environment,
    timeout: Duration,
) -> Result<Vec<(String, Vec<u8>)>, HsmError> {
    let action = String::from("reading the certificates");
    on_thread(environment, action, timeout, read_all_now)
}

/// Runs `job` against `environment` on a thread of its own, waiting at most `timeout`.
fn on_thread<T: Send + 'static>(
    environment: &Environment,
    action: String,
    timeout: Duration,
    job: impl FnOnce(&Environment) -> Result<T, HsmError> + Send + 'static,
) -> Result<T, HsmError> {
    let (reply, answer) = mpsc::sync_channel(1);
    let environment = environment.clone();
    let name = environment.name.clone();
    // A module call that hangs cannot be cancelled: the thread is left behind on a timeout.
    let _gone = spawn("custos-hsm-certificate", move || {
        let _ = reply.send(job(&environment));
    })?;

    answer.recv_timeout(timeout).map_err(|error| match error {
        mpsc::RecvTimeoutError::Timeout => HsmError::Timeout {
            action: format!("{action} from {name}"),
            after: timeout,
        },
        mpsc::RecvTimeoutError::Disconnected => HsmError::WorkerStopped { action },
    })?
}

fn read_all_now(environment: &Environment) -> Result<Vec<(String, Vec<u8>)>, HsmError> {
    let name = environment.name.as_str();
    let session = token::read_only_session(environment)?;
    let handles = session
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .map_err(|error| HsmError::from_cryptoki(name, "the object search", error))?;

    let mut certificates = Vec::new();
    for handle in handles {
        let wanted = [AttributeType::Label, AttributeType::Value];
        let attributes = session
            .get_attributes(handle, &wanted)
            .map_err(|error| HsmError::from_cryptoki(name, "reading a certificate", error))?;
        let (mut label, mut der) = (String::new(), None);
        for attribute in attributes {
            match attribute {
                Attribute::Label(bytes) => label = String::from_utf8_lossy(&bytes).into_owned(),
                Attribute::Value(value) => der = Some(value),
                _ => {}
            }
        }
        if let Some(der) = der {
            certificates.push((label, der));
        }
    }
    Ok(certificates)
}

fn read_now(environment: &Environment, label: &str) -> Result<Vec<u8>, HsmError> {
    let name = environment.name.as_str();
    let session = token::read_only_session(environment)?;

    let handles = key::find_labelled(&session, name, label, ObjectClass::CERTIFICATE)?;
    let handle = match handles.as_slice() {
        [one] => *one,
        [] => {
            return Err(HsmError::ObjectNotFound {
                environment: name.to_owned(),
                label: label.to_owned(),
                class: String::from("certificate"),
            });
        }
        many => {
            return Err(HsmError::AmbiguousLabel {
                environment: name.to_owned(),
                label: label.to_owned(),
                count: many.len(),
            });
        }
    };

    let attributes = session
        .get_attributes(handle, &[AttributeType::Value])
        .map_err(|error| HsmError::from_cryptoki(name, "reading the certificate", error))?;
    attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            Attribute::Value(der) => Some(der),
            _ => None,
        })
        .ok_or_else(|| HsmError::Library {
            environment: name.to_owned(),
            operation: "reading the certificate",
            detail: String::from("the token returned no CKA_VALUE"),
        })
}
