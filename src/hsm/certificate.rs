//! Reading a certificate object off a token, for expiry monitoring.
//!
//! Certificates are public objects, so this opens a read-only session and does not log in: no
//! PIN is asked for or held. A certificate stored as a private object is therefore not found.
//! It reads `CKA_VALUE` (the DER) and nothing else; parsing is [`crate::expiry`]'s work.

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
    let (reply, answer) = mpsc::sync_channel(1);
    let environment = environment.clone();
    let name = environment.name.clone();
    let wanted = label.to_owned();
    // A module call that hangs cannot be cancelled: the thread is left behind on a timeout.
    let _gone = spawn("custos-hsm-certificate", move || {
        let _ = reply.send(read_now(&environment, &wanted));
    })?;

    answer.recv_timeout(timeout).map_err(|error| match error {
        mpsc::RecvTimeoutError::Timeout => HsmError::Timeout {
            action: format!("reading certificate `{label}` from {name}"),
            after: timeout,
        },
        mpsc::RecvTimeoutError::Disconnected => HsmError::WorkerStopped {
            action: format!("reading certificate `{label}`"),
        },
    })?
}

fn read_now(environment: &Environment, label: &str) -> Result<Vec<u8>, HsmError> {
    let name = environment.name.as_str();
    let found = token::find(environment)?;
    let session = found
        .context
        .open_ro_session(found.slot)
        .map_err(|error| HsmError::from_cryptoki(name, "opening a session", error))?;

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
