//! The health probe of one environment: module, slots, token flags, session, login, canary.
//!
//! A probe reports what it found rather than failing: a runbook branches on the verdict
//! (`healthy`, `degraded`, `failed`) and the responder reads the details. The canary encrypts a
//! zero block under an AES key made for the purpose in the session and destroyed after, so it
//! proves the token computes without touching any stored key.

use std::path::PathBuf;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::Session;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::{HsmError, module, token};
use crate::policy::environment::Environment;

/// The overall state of an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Works, but a warning sign is up (a wrong PIN was tried, one try is left).
    Degraded,
    /// Cannot be used for key operations now.
    Failed,
}

impl Verdict {
    /// The word a runbook branches on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Failed => "failed",
        }
    }
}

/// The outcome of one step of the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Passed(String),
    Failed(String),
    Skipped(String),
}

/// What the token says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    pub label: String,
    pub serial: String,
    pub model: String,
    pub manufacturer: String,
    pub initialized: bool,
    pub user_pin_initialized: bool,
    pub pin_locked: bool,
    pub pin_count_low: bool,
    pub pin_final_try: bool,
    /// Free private memory in bytes, where the token reports it.
    pub free_memory: Option<usize>,
}

/// Everything a health probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub environment: String,
    pub module: PathBuf,
    /// The library's manufacturer, description and version, once it loaded.
    pub library: Option<String>,
    pub slots: Option<usize>,
    pub token: Option<TokenState>,
    pub session: Step,
    pub login: Step,
    pub canary: Step,
    pub verdict: Verdict,
    pub details: Vec<String>,
}

impl HealthReport {
    /// The outputs of `hsm.health`, as the catalog names them.
    pub fn to_outputs(&self) -> Map<String, Value> {
        let token = self.token.as_ref();
        let canary = if matches!(self.canary, Step::Passed(_)) {
            "ok"
        } else {
            "failed"
        };
        let outputs = json!({
            "verdict": self.verdict.as_str(),
            "token_label": token.map(|t| t.label.clone()),
            "slots": self.slots,
            "pin_locked": token.is_some_and(|t| t.pin_locked),
            "pin_count_low": token.is_some_and(|t| t.pin_count_low),
            "pin_final_try": token.is_some_and(|t| t.pin_final_try),
            "free_memory": token.and_then(|t| t.free_memory),
            "canary": canary,
            "details": self.details.join("; "),
        });
        match outputs {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// Probes `environment`. `pin` is `None` when custos already holds a logged-in session on the
/// token, in which case the login step reports that instead of logging in again.
pub fn probe(environment: &Environment, pin: Option<&Zeroizing<String>>) -> HealthReport {
    let mut report = HealthReport {
        environment: environment.name.clone(),
        module: environment.module.clone(),
        library: None,
        slots: None,
        token: None,
        session: Step::Skipped(String::from("no token")),
        login: Step::Skipped(String::from("no token")),
        canary: Step::Skipped(String::from("no session")),
        verdict: Verdict::Failed,
        details: Vec::new(),
    };

    let context = match module::module(&environment.name, &environment.module) {
        Ok(context) => context,
        Err(error) => {
            report.details.push(error.to_string());
            return report;
        }
    };
    report.library = context.get_library_info().ok().map(|info| {
        let version = info.library_version();
        let maker = info.manufacturer_id().trim_end();
        let description = info.library_description().trim_end();
        format!(
            "{maker} {description} {}.{}",
            version.major(),
            version.minor()
        )
    });
    report.slots = context.get_all_slots().ok().map(|slots| slots.len());

    let found = match token::find(environment) {
        Ok(found) => found,
        Err(error) => {
            report.details.push(error.to_string());
            return report;
        }
    };
    report.token = Some(token_state(&found.info));

    let session = open_and_login(environment, &found, pin, &mut report);
    if let Some(session) = session {
        report.canary = canary(&session);
    }

    judge(&mut report);
    report
}

fn token_state(info: &cryptoki::slot::TokenInfo) -> TokenState {
    TokenState {
        label: info.label().trim_end().to_owned(),
        serial: info.serial_number().trim_end().to_owned(),
        model: info.model().trim_end().to_owned(),
        manufacturer: info.manufacturer_id().trim_end().to_owned(),
        initialized: info.token_initialized(),
        user_pin_initialized: info.user_pin_initialized(),
        pin_locked: info.user_pin_locked(),
        pin_count_low: info.user_pin_count_low(),
        pin_final_try: info.user_pin_final_try(),
        free_memory: info.free_private_memory(),
    }
}

fn open_and_login(
    environment: &Environment,
    found: &token::FoundToken,
    pin: Option<&Zeroizing<String>>,
    report: &mut HealthReport,
) -> Option<Session> {
    let name = environment.name.as_str();
    let Some(pin) = pin else {
        let session = found.context.open_rw_session(found.slot);
        return match session {
            Ok(session) => {
                report.session = Step::Passed(String::from("opened"));
                report.login = Step::Passed(String::from("already logged in by custos"));
                Some(session)
            }
            Err(error) => {
                let error = HsmError::from_cryptoki(name, "opening a session", error);
                report.session = Step::Failed(error.to_string());
                None
            }
        };
    };

    match token::login(name, found, pin) {
        Ok(session) => {
            report.session = Step::Passed(String::from("opened"));
            report.login = Step::Passed(String::from("logged in as user"));
            Some(session)
        }
        Err(error @ HsmError::PinRejected { .. }) => {
            report.session = Step::Passed(String::from("opened"));
            report.login = Step::Failed(error.to_string());
            None
        }
        Err(error @ HsmError::PinLocked { .. }) => {
            report.session = Step::Skipped(String::from("not opened: the PIN is locked"));
            report.login = Step::Failed(error.to_string());
            None
        }
        Err(error @ (HsmError::PinFinalTry { .. } | HsmError::PinRejectedEarlier { .. })) => {
            report.session = Step::Skipped(String::from("not opened: no login was tried"));
            report.login = Step::Failed(error.to_string());
            None
        }
        Err(error) => {
            report.session = Step::Failed(error.to_string());
            report.login = Step::Skipped(String::from("no session"));
            None
        }
    }
}

/// Encrypts and decrypts a zero block under a fresh session AES key, then destroys the key.
fn canary(session: &Session) -> Step {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::ValueLen(16.into()),
    ];
    let key = match session.generate_key(&Mechanism::AesKeyGen, &template) {
        Ok(key) => key,
        Err(error) => return Step::Failed(format!("generating the canary key: {error}")),
    };

    let block = [0u8; 16];
    let round_trip = session
        .encrypt(&Mechanism::AesEcb, key, &block)
        .and_then(|cipher| session.decrypt(&Mechanism::AesEcb, key, &cipher));
    let destroyed = session.destroy_object(key);

    match (round_trip, destroyed) {
        (Ok(plain), Ok(())) if plain == block => Step::Passed(String::from("AES round trip")),
        (Ok(_), _) => Step::Failed(String::from("decryption did not return the zero block")),
        (Err(error), _) => Step::Failed(format!("encrypting the canary block: {error}")),
    }
}

fn judge(report: &mut HealthReport) {
    fn warn(verdict: &mut Verdict, level: Verdict) {
        if level == Verdict::Failed || *verdict == Verdict::Healthy {
            *verdict = level;
        }
    }

    let mut verdict = Verdict::Healthy;

    if let Some(token) = &report.token {
        if !token.initialized || !token.user_pin_initialized {
            report
                .details
                .push(String::from("the token or its user PIN is not initialised"));
            warn(&mut verdict, Verdict::Failed);
        }
        if token.pin_locked {
            report.details.push(String::from("the user PIN is locked"));
            warn(&mut verdict, Verdict::Failed);
        } else if token.pin_final_try {
            report
                .details
                .push(String::from("one more wrong PIN locks the token"));
            warn(&mut verdict, Verdict::Degraded);
        } else if token.pin_count_low {
            report
                .details
                .push(String::from("a wrong PIN was tried since the last login"));
            warn(&mut verdict, Verdict::Degraded);
        }
    }

    for (what, step) in [
        ("session", &report.session),
        ("login", &report.login),
        ("canary", &report.canary),
    ] {
        match step {
            Step::Failed(reason) | Step::Skipped(reason) => {
                report.details.push(format!("{what}: {reason}"));
                warn(&mut verdict, Verdict::Failed);
            }
            Step::Passed(_) => {}
        }
    }

    if verdict == Verdict::Healthy {
        let label = report
            .token
            .as_ref()
            .map_or("", |token| token.label.as_str());
        report.details.push(format!(
            "token `{label}` answered and the canary encryption worked"
        ));
    }
    report.verdict = verdict;
}
