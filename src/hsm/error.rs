//! What can go wrong talking to an HSM, in words a responder understands, and whether to retry.
//!
//! Every PKCS#11 return code is translated by [`explain`]; the variants of [`HsmError`] that a
//! runbook author is likely to branch on (a wrong PIN, a locked PIN, an absent token, a refused
//! mechanism) get their own variant. No message ever carries a PIN or key material: the values
//! that reach a message are environment names, labels, paths and return-code names.

use std::path::PathBuf;
use std::time::Duration;

use cryptoki::error::{Error as CkError, RvError};
use thiserror::Error;

use crate::policy::environment::PolicyError;

/// A failure of an HSM action.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The action is not an `hsm.*` action of the catalog.
    #[error("`{action}` is not an HSM action custos knows")]
    UnknownAction { action: String },

    /// A drill-only action was asked for outside a drill.
    #[error("`{action}` runs only in a drill: clear components are never loaded into a live HSM")]
    RehearsalOnly { action: String },

    /// A required parameter is absent.
    #[error("`{action}` needs the parameter `{name}`")]
    MissingParameter { action: String, name: &'static str },

    /// A parameter is unknown, of the wrong type or out of range.
    #[error("`{action}`: parameter `{name}` {reason}")]
    InvalidParameter {
        action: String,
        name: String,
        reason: String,
    },

    /// An environment is unknown, or a drill has no stand-in for it.
    #[error(transparent)]
    Policy(#[from] PolicyError),

    /// [`crate::hsm::Secrets`] could not give a PIN.
    #[error("no PIN for environment `{environment}`: {reason}")]
    PinUnavailable { environment: String, reason: String },

    /// [`crate::hsm::Secrets`] could not give a key component.
    #[error("component {index} of {count} for `{label}` is not available: {reason}")]
    ComponentUnavailable {
        label: String,
        index: usize,
        count: usize,
        reason: String,
    },

    /// A key component has a length the algorithm does not allow.
    #[error(
        "component {index} of {count} for `{label}` is {found} bytes long; {algorithm} needs \
         {needed}"
    )]
    ComponentLength {
        label: String,
        index: usize,
        count: usize,
        algorithm: &'static str,
        found: usize,
        /// The lengths allowed, in words: `16`, `16 or 24`, `24 (the length of component 1)`.
        needed: String,
    },

    /// The module library is absent or cannot be loaded.
    #[error(
        "cannot load the PKCS#11 module `{module}` for environment `{environment}`: {reason}",
        module = module.display()
    )]
    ModuleMissing {
        environment: String,
        module: PathBuf,
        reason: String,
    },

    /// No slot holds a token with the label or serial the environment names.
    #[error(
        "environment `{environment}`: no token with {token} among the {slots} slot(s) of \
         `{module}`",
        module = module.display()
    )]
    TokenNotFound {
        environment: String,
        token: String,
        module: PathBuf,
        slots: usize,
    },

    /// `CKR_PIN_INCORRECT`: never retried, the token counts wrong tries.
    #[error(
        "environment `{environment}`: the token rejected the PIN; custos does not retry, \
         because the token counts wrong tries and locks the PIN after a few"
    )]
    PinRejected { environment: String },

    /// The token rejected this same PIN earlier in this process; it is not offered again.
    #[error(
        "the PIN for `{environment}` was rejected earlier in this run; custos does not try it \
         again because the token counts tries"
    )]
    PinRejectedEarlier { environment: String },

    /// The token flags `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks it.
    #[error(
        "environment `{environment}`: the token says one more wrong PIN locks it, so custos \
         does not log in on its own; a person logs in once with the vendor's tool (a good PIN \
         clears the warning), or a security officer resets the PIN"
    )]
    PinFinalTry { environment: String },

    /// `CKR_PIN_LOCKED`, or the token flags the PIN as locked.
    #[error(
        "environment `{environment}`: the user PIN is locked; a security officer must unlock \
         or reset it before anyone can log in"
    )]
    PinLocked { environment: String },

    /// No object of the class carries the label.
    #[error("environment `{environment}`: no {class} labelled `{label}` on the token")]
    ObjectNotFound {
        environment: String,
        label: String,
        class: String,
    },

    /// Several objects carry a label the action needs to be unique.
    #[error(
        "environment `{environment}`: {count} objects are labelled `{label}`; the action needs \
         exactly one"
    )]
    AmbiguousLabel {
        environment: String,
        label: String,
        count: usize,
    },

    /// A new key would share its label with an existing object.
    #[error(
        "environment `{environment}`: an object labelled `{label}` already exists; custos does \
         not create a second one"
    )]
    LabelInUse { environment: String, label: String },

    /// The key is of a type the operation cannot use.
    #[error("environment `{environment}`: key `{label}` is {found}; {operation} needs {needed}")]
    WrongKeyType {
        environment: String,
        label: String,
        found: String,
        needed: &'static str,
        operation: &'static str,
    },

    /// The module refused the mechanism (`CKR_MECHANISM_INVALID`).
    #[error(
        "environment `{environment}`: the module refuses mechanism {mechanism} for {operation} \
         ({code}){hint}"
    )]
    UnsupportedMechanism {
        environment: String,
        mechanism: String,
        operation: &'static str,
        code: String,
        hint: &'static str,
    },

    /// A destroyed object was still found by the second search.
    #[error("environment `{environment}`: `{label}` is still on the token after it was destroyed")]
    StillPresent { environment: String, label: String },

    /// Any other PKCS#11 return code, explained by [`explain`].
    #[error(
        "environment `{environment}`: {operation} failed with {code}: {meaning}",
        meaning = explain(rv).meaning
    )]
    Pkcs11 {
        environment: String,
        operation: &'static str,
        code: String,
        rv: RvError,
    },

    /// A failure inside cryptoki that is not a return code (a conversion, a null pointer).
    #[error("environment `{environment}`: {operation} failed in the PKCS#11 layer: {detail}")]
    Library {
        environment: String,
        operation: &'static str,
        detail: String,
    },

    /// The time limit passed; the module call may still be running.
    #[error(
        "`{action}` did not finish within {after:?}; the module call may still be running and \
         cannot be cancelled, so custos stopped waiting and will use a fresh worker"
    )]
    Timeout { action: String, after: Duration },

    /// Sessions or modules could not be closed cleanly at the end of a run.
    #[error("custos could not close the HSM modules cleanly: {reason}")]
    CloseIncomplete { reason: String },

    /// The worker thread ended without answering.
    #[error("the HSM worker thread stopped unexpectedly while running `{action}`")]
    WorkerStopped { action: String },
}

/// How a return code should be treated by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Trying again later may succeed (a busy or briefly absent device).
    Later,
    /// Trying again with the same input will fail the same way, or do harm.
    Never,
}

/// A return code's meaning in words, and whether trying again can help.
#[derive(Debug, Clone, Copy)]
pub struct Explanation {
    pub meaning: &'static str,
    pub retry: Retry,
}

impl HsmError {
    /// Whether the engine may run the action again unchanged. A PIN is never retried: the
    /// token counts wrong tries.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Pkcs11 { rv, .. } => explain(rv).retry == Retry::Later,
            Self::Timeout { .. } | Self::WorkerStopped { .. } => true,
            _ => false,
        }
    }

    /// Translates a cryptoki error met while doing `operation` in `environment`.
    pub fn from_cryptoki(environment: &str, operation: &'static str, error: CkError) -> Self {
        let environment = environment.to_owned();
        match error {
            CkError::Pkcs11(RvError::PinIncorrect, _) => Self::PinRejected { environment },
            CkError::Pkcs11(RvError::PinLocked, _) => Self::PinLocked { environment },
            CkError::Pkcs11(rv, _) => Self::Pkcs11 {
                environment,
                operation,
                code: code_name(&rv),
                rv,
            },
            other => Self::Library {
                environment,
                operation,
                detail: other.to_string(),
            },
        }
    }

    /// Whether the token refused the PIN itself (wrong, locked, expired or malformed): the same
    /// PIN must not be offered to it again.
    pub(crate) fn rejects_pin(&self) -> bool {
        match self {
            Self::PinRejected { .. } | Self::PinLocked { .. } => true,
            Self::Pkcs11 { rv, .. } => matches!(
                rv,
                RvError::PinInvalid
                    | RvError::PinLenRange
                    | RvError::PinExpired
                    | RvError::PinTooWeak
            ),
            _ => false,
        }
    }

    /// Whether the session that met this error can no longer be used.
    pub(crate) fn ends_session(&self) -> bool {
        let Self::Pkcs11 { rv, .. } = self else {
            return matches!(self, Self::PinRejected { .. } | Self::PinLocked { .. });
        };
        matches!(
            rv,
            RvError::SessionClosed
                | RvError::SessionHandleInvalid
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::UserNotLoggedIn
                | RvError::CryptokiNotInitialized
        )
    }
}

/// The `CKR_*` name of a return code, as a module's manual spells it.
pub fn code_name(rv: &RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED({code:#x})"),
        RvError::UnknownErrorCode(code) => format!("unknown return code {code:#x}"),
        named => {
            let mut name = String::from("CKR");
            for c in format!("{named:?}").chars() {
                if c.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

/// What a PKCS#11 return code means for the person running the runbook.
pub fn explain(rv: &RvError) -> Explanation {
    use Retry::{Later, Never};
    let (meaning, retry) = match rv {
        RvError::Cancel | RvError::FunctionCanceled => ("the call was cancelled", Later),
        RvError::HostMemory => ("the host running custos ran out of memory", Later),
        RvError::SlotIdInvalid => (
            "the slot disappeared; the token may have been removed",
            Later,
        ),
        RvError::GeneralError => ("the module reported an unrecoverable internal error", Later),
        RvError::FunctionFailed => ("the module could not complete the call", Later),
        RvError::ArgumentsBad => ("custos passed an argument the module rejects", Never),
        RvError::NoEvent => ("no slot event was pending", Later),
        RvError::NeedToCreateThreads | RvError::CantLock => (
            "the module cannot run with the threading custos asked for",
            Never,
        ),
        RvError::AttributeReadOnly => ("an attribute cannot be changed on this object", Never),
        RvError::AttributeSensitive => ("the attribute is sensitive and cannot be read", Never),
        RvError::AttributeTypeInvalid => ("the module does not know an attribute asked", Never),
        RvError::AttributeValueInvalid => ("an attribute value is not allowed here", Never),
        RvError::ActionProhibited => ("the token's policy prohibits this action", Never),
        RvError::DataInvalid => ("the data given is not valid for this operation", Never),
        RvError::DataLenRange => ("the data has a length this operation refuses", Never),
        RvError::DeviceError => ("the device reported an error; it may recover", Later),
        RvError::DeviceMemory => ("the token has no memory left for this", Never),
        RvError::DeviceRemoved => ("the token was removed during the call", Later),
        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange => {
            ("the encrypted data is not valid for this key", Never)
        }
        RvError::FunctionNotParallel => ("the module cannot run this call in parallel", Later),
        RvError::FunctionNotSupported => ("the module does not implement this function", Never),
        RvError::CurveNotSupported => ("the module does not support this curve", Never),
        RvError::KeyHandleInvalid => ("the key handle is no longer valid", Later),
        RvError::KeySizeRange => ("the key has a size this mechanism refuses", Never),
        RvError::KeyTypeInconsistent => ("the key's type does not fit the mechanism", Never),
        RvError::KeyNotNeeded | RvError::KeyNeeded | RvError::KeyChanged => {
            ("the module's key state does not match the call", Never)
        }
        RvError::KeyIndigestible => ("the key cannot be digested", Never),
        RvError::KeyFunctionNotPermitted => (
            "the key's attributes do not permit this use (for example CKA_ENCRYPT)",
            Never,
        ),
        RvError::KeyNotWrappable => ("the key cannot be wrapped", Never),
        RvError::KeyUnextractable => ("the key is not extractable, so it cannot leave", Never),
        RvError::MechanismInvalid => ("the module does not offer this mechanism here", Never),
        RvError::MechanismParamInvalid => ("the mechanism's parameters are not valid", Never),
        RvError::ObjectHandleInvalid => ("the object no longer exists", Never),
        RvError::OperationActive => ("another operation is still active in the session", Later),
        RvError::OperationNotInitialized => ("no operation was started in the session", Never),
        RvError::PinIncorrect => ("the PIN was rejected", Never),
        RvError::PinInvalid | RvError::PinLenRange | RvError::PinTooWeak => {
            ("the PIN does not meet the token's rules", Never)
        }
        RvError::PinExpired => ("the PIN has expired and must be changed", Never),
        RvError::PinLocked => ("the PIN is locked", Never),
        RvError::SessionClosed | RvError::SessionHandleInvalid => (
            "the session was closed; a new one is opened on the next try",
            Later,
        ),
        RvError::SessionCount => ("the token has no free session; try again shortly", Later),
        RvError::SessionParallelNotSupported => ("the token refuses parallel sessions", Never),
        RvError::SessionReadOnly | RvError::SessionReadOnlyExists => {
            ("the session is read-only", Never)
        }
        RvError::SessionExists | RvError::SessionReadWriteSoExists => (
            "another session is in the way (a security officer may be logged in)",
            Later,
        ),
        RvError::SignatureInvalid | RvError::SignatureLenRange => {
            ("the signature does not verify", Never)
        }
        RvError::TemplateIncomplete | RvError::TemplateInconsistent => {
            ("the module refused the attributes custos asked for", Never)
        }
        RvError::TokenNotPresent => ("no token is in the slot", Later),
        RvError::TokenNotRecognized => ("the module does not recognise the token", Never),
        RvError::TokenWriteProtected => ("the token is write-protected", Never),
        RvError::UnwrappingKeyHandleInvalid
        | RvError::UnwrappingKeySizeRange
        | RvError::UnwrappingKeyTypeInconsistent => {
            ("the unwrapping key cannot unwrap this key", Never)
        }
        RvError::UserAlreadyLoggedIn => ("the user is already logged in", Never),
        RvError::UserNotLoggedIn => ("the session is not logged in", Later),
        RvError::UserPinNotInitialized => ("the token has no user PIN set yet", Never),
        RvError::UserTypeInvalid
        | RvError::UserAnotherAlreadyLoggedIn
        | RvError::UserTooManyTypes => ("another user type is logged in to the token", Never),
        RvError::WrappedKeyInvalid | RvError::WrappedKeyLenRange => (
            "the wrapped key is damaged or was wrapped under another key",
            Never,
        ),
        RvError::WrappingKeyHandleInvalid
        | RvError::WrappingKeySizeRange
        | RvError::WrappingKeyTypeInconsistent => ("the wrapping key cannot wrap this key", Never),
        RvError::RandomSeedNotSupported | RvError::RandomNoRng => {
            ("the token has no usable random number generator", Never)
        }
        RvError::DomainParamsInvalid => ("the domain parameters are not valid", Never),
        RvError::BufferTooSmall => ("a result did not fit its buffer", Never),
        RvError::SavedStateInvalid | RvError::StateUnsaveable => {
            ("the session state cannot be saved or restored", Never)
        }
        RvError::InformationSensitive => ("the information asked for is sensitive", Never),
        RvError::CryptokiNotInitialized => ("the module was not initialised", Later),
        RvError::CryptokiAlreadyInitialized => ("the module was already initialised", Never),
        RvError::MutexBad | RvError::MutexNotLocked => ("the module's locking failed", Later),
        RvError::NewPinMode | RvError::NextOtp => ("the token asks for a new PIN or OTP", Never),
        RvError::ExceededMaxIterations => ("the module gave up after too many tries", Never),
        RvError::FipsSelfTestFailed => (
            "the module failed its FIPS self-test; take it out of service",
            Never,
        ),
        RvError::LibraryLoadFailed => ("the module could not load a library it needs", Never),
        RvError::PublicKeyInvalid => ("the public key is not valid", Never),
        RvError::FunctionRejected => ("the token's policy rejected the call", Never),
        RvError::VendorDefined(_) => ("a vendor-specific error; see the module's manual", Never),
        RvError::UnknownErrorCode(_) => ("a return code PKCS#11 does not define", Never),
    };
    Explanation { meaning, retry }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_or_locked_pin_is_never_retried() {
        let wrong = HsmError::from_cryptoki(
            "drill-primary",
            "login",
            CkError::Pkcs11(RvError::PinIncorrect, cryptoki::context::Function::Login),
        );
        let locked = HsmError::PinLocked {
            environment: "drill-primary".into(),
        };
        assert!(matches!(wrong, HsmError::PinRejected { .. }));
        assert!(!wrong.retryable());
        assert!(!locked.retryable());
    }

    #[test]
    fn return_codes_are_named_as_in_the_pkcs11_specification() {
        assert_eq!(
            code_name(&RvError::MechanismInvalid),
            "CKR_MECHANISM_INVALID"
        );
        assert_eq!(
            code_name(&RvError::SessionReadWriteSoExists),
            "CKR_SESSION_READ_WRITE_SO_EXISTS"
        );
        assert_eq!(
            code_name(&RvError::VendorDefined(0x8000_0001)),
            "CKR_VENDOR_DEFINED(0x80000001)"
        );
    }

    #[test]
    fn a_device_error_may_be_retried_and_names_its_code() {
        let error = HsmError::from_cryptoki(
            "drill-primary",
            "encryption",
            CkError::Pkcs11(RvError::DeviceError, cryptoki::context::Function::Encrypt),
        );
        assert!(error.retryable());
        assert_eq!(
            error.to_string(),
            "environment `drill-primary`: encryption failed with CKR_DEVICE_ERROR: the device \
             reported an error; it may recover"
        );
    }
}
