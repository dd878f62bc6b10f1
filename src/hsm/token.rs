//! Finding an environment's token among a module's slots and logging in to it.
//!
//! A token is recognised by its label or serial number, never by slot id: slot ids change from
//! one process to the next, and SoftHSM2 always adds an empty slot. Login happens once per
//! session that custos keeps.
//!
//! A token counts wrong PINs and locks after a few, so custos spends none of those tries on its
//! own: a token that says its PIN is locked, or that one more wrong PIN locks it, is not logged
//! in to; and once a token has rejected a PIN, that same PIN is never offered to it again in
//! this process, whoever asks. Only a different PIN (typed again at a prompt) is tried.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};
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

/// A read-only session on the token `environment` names, without logging in: enough for
/// public objects such as certificates.
pub fn read_only_session(environment: &Environment) -> Result<Session, HsmError> {
    let found = find(environment)?;
    found
        .context
        .open_ro_session(found.slot)
        .map_err(|error| HsmError::from_cryptoki(&environment.name, "opening a session", error))
}

/// Opens a read-write session on the found token and logs the user in with `pin`.
///
/// Refuses, without calling `C_Login`, when the token says its PIN is locked or on its final
/// try, or when this same PIN was rejected for `environment` earlier in this process.
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
    if found.info.user_pin_final_try() {
        return Err(HsmError::PinFinalTry {
            environment: environment.to_owned(),
        });
    }
    let fingerprint = fingerprint(environment, pin);
    if refused_before(environment, fingerprint.as_ref()) {
        return Err(HsmError::PinRejectedEarlier {
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
        Err(error) => {
            let error = HsmError::from_cryptoki(environment, "login", error);
            if error.rejects_pin() {
                remember_rejection(environment, fingerprint);
            }
            Err(error)
        }
    }
}

/// What this process remembers of a PIN a token rejected: a salted SHA-256 of it, never the
/// PIN; `None` when no salt could be drawn, which makes every later PIN count as the same one.
type Fingerprint = Option<[u8; 32]>;

fn rejections() -> MutexGuard<'static, HashMap<String, Fingerprint>> {
    static REJECTED: OnceLock<Mutex<HashMap<String, Fingerprint>>> = OnceLock::new();
    let rejected = REJECTED.get_or_init(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock leaves the map itself consistent (inserts are atomic).
    rejected
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A salted hash of `pin` for `environment`; the salt is drawn once per process and never
/// leaves it, so the fingerprint says nothing outside this process.
fn fingerprint(environment: &str, pin: &Zeroizing<String>) -> Fingerprint {
    static SALT: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    let salt = SALT.get_or_init(|| {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).ok().map(|()| salt)
    });
    let salt = salt.as_ref()?;

    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(environment.as_bytes());
    hasher.update([0]);
    hasher.update(pin.as_bytes());
    Some(hasher.finalize().into())
}

fn remember_rejection(environment: &str, fingerprint: Fingerprint) {
    rejections().insert(environment.to_owned(), fingerprint);
    tracing::debug!(environment, "remembering that the token rejected this PIN");
}

/// Whether a PIN with this fingerprint was rejected for `environment` earlier in this process.
fn refused_before(environment: &str, fingerprint: Option<&[u8; 32]>) -> bool {
    match rejections().get(environment) {
        None => false,
        // Without a salt no two PINs can be told apart, so none is offered again.
        Some(None) => true,
        Some(Some(rejected)) => fingerprint.is_none_or(|pin| pin == rejected),
    }
}

/// Whether a token rejected a PIN for `environment` earlier in this process: a prompt says so,
/// so the person knows the PIN they type next must be a different one.
pub fn rejected_earlier(environment: &str) -> bool {
    rejections().contains_key(environment)
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
