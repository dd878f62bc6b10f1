//! Finding an environment's token among a module's slots and logging in to it.
//!
//! A token is recognised by its label or serial number, never by slot id: slot ids change from
//! one process to the next, and SoftHSM2 always adds an empty slot. Login happens once per
//! session that custos keeps; a locked PIN is reported without trying, so no try is wasted.

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{HsmError, module};
use crate::policy::environment::{Environment, TokenSelector};

/// The slot holding an environment's token, what the token says about itself, and how many
/// slots the module reports.
pub struct FoundToken {
    pub context: Pkcs11,
    pub slot: Slot,
    pub info: TokenInfo,
    pub slots: usize,
}

/// A logged-in read-write session on an environment's token.
pub struct OpenToken {
    pub environment: String,
    pub label: String,
    pub session: Session,
}

/// Finds the token `environment` names in its module.
pub fn find(environment: &Environment) -> Result<FoundToken, HsmError> {
    let name = environment.name.as_str();
    let context = module::module(name, &environment.module)?;
    let slots = context
        .get_slots_with_token()
        .map_err(|error| HsmError::from_cryptoki(name, "listing slots", error))?;

    for slot in &slots {
        let Ok(info) = context.get_token_info(*slot) else {
            continue;
        };
        let matches = match &environment.token {
            TokenSelector::Label(label) => info.label().trim_end() == label,
            TokenSelector::Serial(serial) => info.serial_number().trim_end() == serial,
        };
        if matches {
            return Ok(FoundToken {
                context,
                slot: *slot,
                info,
                slots: slots.len(),
            });
        }
    }

    Err(HsmError::TokenNotFound {
        environment: name.to_owned(),
        token: environment.token.to_string(),
        module: environment.module.clone(),
        slots: slots.len(),
    })
}

/// Opens a read-write session on the found token and logs the user in with `pin`.
pub fn login(
    environment: &str,
    found: &FoundToken,
    pin: &Zeroizing<String>,
) -> Result<Session, HsmError> {
    if found.info.user_pin_locked() {
        return Err(HsmError::PinLocked {
            environment: environment.to_owned(),
        });
    }

    let session = found
        .context
        .open_rw_session(found.slot)
        .map_err(|error| HsmError::from_cryptoki(environment, "opening a session", error))?;

    let secret = AuthPin::from(pin.as_str());
    match session.login(UserType::User, Some(&secret)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(error) => Err(HsmError::from_cryptoki(environment, "login", error)),
    }
}

/// Finds the token of `environment`, opens a session and logs in.
pub fn open(environment: &Environment, pin: &Zeroizing<String>) -> Result<OpenToken, HsmError> {
    let found = find(environment)?;
    let session = login(&environment.name, &found, pin)?;
    tracing::debug!(environment = %environment.name, "logged in to the token");
    Ok(OpenToken {
        environment: environment.name.clone(),
        label: found.info.label().trim_end().to_owned(),
        session,
    })
}
