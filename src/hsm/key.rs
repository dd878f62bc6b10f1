//! Keys on a token: the algorithms custos creates, templates, and finding objects by label.
//!
//! Keys are named by label, as runbooks and key ceremonies name them. A label that matches no
//! object or several objects is an error for an action that needs exactly one key.

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::HsmError;

/// A secret key algorithm a runbook may ask for (`aes-128`, `aes-192`, `aes-256`, `tdes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Aes128,
    Aes192,
    Aes256,
    /// Triple DES: three-key when generated, double- or triple-length when loaded.
    Tdes,
}

impl KeyAlgorithm {
    /// The algorithm a runbook names, if it is one.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "aes-128" => Some(Self::Aes128),
            "aes-192" => Some(Self::Aes192),
            "aes-256" => Some(Self::Aes256),
            "tdes" => Some(Self::Tdes),
            _ => None,
        }
    }

    /// The word a runbook uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes128 => "aes-128",
            Self::Aes192 => "aes-192",
            Self::Aes256 => "aes-256",
            Self::Tdes => "tdes",
        }
    }

    /// The clear key lengths in bytes the algorithm accepts (the first is generated).
    pub fn lengths(self) -> &'static [usize] {
        match self {
            Self::Aes128 => &[16],
            Self::Aes192 => &[24],
            Self::Aes256 => &[32],
            Self::Tdes => &[24, 16],
        }
    }

    /// The PKCS#11 key type of a key of this algorithm and `length` bytes.
    pub fn key_type(self, length: usize) -> KeyType {
        match (self, length) {
            (Self::Tdes, 16) => KeyType::DES2,
            (Self::Tdes, _) => KeyType::DES3,
            _ => KeyType::AES,
        }
    }

    /// Whether a key of this algorithm may wrap others (AES key wrap needs an AES KEK).
    pub fn wraps(self) -> bool {
        self != Self::Tdes
    }
}

/// The attributes every custos-made secret key carries.
///
/// Sensitive and not extractable unless asked; `CKA_ENCRYPT` so its KCV can be computed; AES
/// keys may wrap and unwrap, since a ZMK or KEK is one.
pub fn secret_key_template(
    algorithm: KeyAlgorithm,
    label: &str,
    id: &[u8],
    token: bool,
    sensitive: bool,
    extractable: bool,
) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(token),
        Attribute::Private(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
        Attribute::Sensitive(sensitive),
        Attribute::Extractable(extractable),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(algorithm.wraps()),
        Attribute::Unwrap(algorithm.wraps()),
    ]
}

/// The object class a runbook names (`secret-key`, `public-key`, ...), if it is one.
pub fn parse_class(word: &str) -> Option<ObjectClass> {
    match word {
        "secret-key" => Some(ObjectClass::SECRET_KEY),
        "public-key" => Some(ObjectClass::PUBLIC_KEY),
        "private-key" => Some(ObjectClass::PRIVATE_KEY),
        "certificate" => Some(ObjectClass::CERTIFICATE),
        "data" => Some(ObjectClass::DATA),
        _ => None,
    }
}

/// The word a runbook uses for an object class.
pub fn class_name(class: ObjectClass) -> String {
    [
        (ObjectClass::SECRET_KEY, "secret-key"),
        (ObjectClass::PUBLIC_KEY, "public-key"),
        (ObjectClass::PRIVATE_KEY, "private-key"),
        (ObjectClass::CERTIFICATE, "certificate"),
        (ObjectClass::DATA, "data"),
    ]
    .iter()
    .find(|(known, _)| *known == class)
    .map_or_else(|| class.to_string(), |(_, name)| (*name).to_owned())
}

/// The word for a key type: `aes`, `tdes` (double or triple length), `generic-secret` (HMAC
/// keys among them) or the PKCS#11 name.
pub fn key_type_name(key_type: KeyType) -> String {
    if key_type == KeyType::AES {
        String::from("aes")
    } else if key_type == KeyType::DES3 || key_type == KeyType::DES2 {
        String::from("tdes")
    } else if key_type == KeyType::GENERIC_SECRET {
        String::from("generic-secret")
    } else {
        key_type.to_string()
    }
}

/// The objects of `class` labelled `label` on the token.
pub fn find_labelled(
    session: &Session,
    environment: &str,
    label: &str,
    class: ObjectClass,
) -> Result<Vec<ObjectHandle>, HsmError> {
    let template = [
        Attribute::Class(class),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    session
        .find_objects(&template)
        .map_err(|error| HsmError::from_cryptoki(environment, "the object search", error))
}

/// The one secret key labelled `label`, with its key type.
pub fn find_secret_key(
    session: &Session,
    environment: &str,
    label: &str,
) -> Result<(ObjectHandle, KeyType), HsmError> {
    let handles = find_labelled(session, environment, label, ObjectClass::SECRET_KEY)?;
    let handle = match handles.as_slice() {
        [one] => *one,
        [] => {
            return Err(HsmError::ObjectNotFound {
                environment: environment.to_owned(),
                label: label.to_owned(),
                class: String::from("secret key"),
            });
        }
        many => {
            return Err(HsmError::AmbiguousLabel {
                environment: environment.to_owned(),
                label: label.to_owned(),
                count: many.len(),
            });
        }
    };

    let attributes = session
        .get_attributes(handle, &[AttributeType::KeyType])
        .map_err(|error| HsmError::from_cryptoki(environment, "reading the key type", error))?;
    let key_type = attributes.iter().find_map(|attribute| match attribute {
        Attribute::KeyType(key_type) => Some(*key_type),
        _ => None,
    });
    let key_type = key_type.unwrap_or(KeyType::GENERIC_SECRET);
    Ok((handle, key_type))
}
