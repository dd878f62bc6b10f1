//! Drift: how a live token differs from what the key register says it holds.
//!
//! The comparison is pure: it takes the register, the register environments the token stands
//! for, and every object `hsm.find` listed (plus CMAC check values where the register records
//! that method), and returns findings. Fetching those from the HSM and printing the findings are
//! the caller's work. KCVs are compared only when both were made by the same method.
//! The register holds secret keys only, so a private or public key, a certificate or a data
//! object on the token is always an unknown object (known limit: the key pair of a CA or a
//! signing key cannot be registered yet, so it is reported on every check).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Key, Register};
use crate::hsm::KcvMethod;

/// An object on the token, as `hsm.find` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The token label.
    pub label: String,
    /// `secret-key`, `private-key`, `public-key`, `certificate`, `data`, or the PKCS#11 name.
    pub class: String,
    /// `aes-128`, `aes-256`, `tdes`, or the PKCS#11 type of anything else.
    pub algorithm: String,
    /// `CKA_SENSITIVE`, when the token reports it.
    pub sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`, when the token reports it.
    pub extractable: Option<bool>,
    /// The ECB (method 1) check value, when the key has one.
    pub kcv: Option<String>,
    /// Why a secret key has no ECB check value (a generic or HMAC key, a refused mechanism).
    pub kcv_unavailable: Option<String>,
}

impl Object {
    /// Reads one entry of `hsm.find`'s `objects`.
    pub fn from_find(object: &Value) -> Self {
        let text = |field: &str| object[field].as_str().unwrap_or_default().to_owned();
        let flag = |name: &str| object["attributes"][name].as_bool();
        let key_type = text("key_type");
        let algorithm = match (key_type.as_str(), object["bits"].as_u64()) {
            ("aes", Some(bits)) => format!("aes-{bits}"),
            ("", _) => String::from("unknown"),
            _ => key_type,
        };
        let kcv = (object["kcv"]["method"] == "ecb")
            .then(|| object["kcv"]["value"].as_str().map(str::to_owned))
            .flatten();
        Self {
            label: text("label"),
            class: text("class"),
            algorithm,
            sensitive: flag("sensitive"),
            extractable: flag("extractable"),
            kcv,
            kcv_unavailable: object["kcv_unavailable"].as_str().map(str::to_owned),
        }
    }

    /// Whether the object is a secret key, the only kind the register holds.
    pub fn is_secret_key(&self) -> bool {
        self.class == "secret-key"
    }
}

/// One difference between the register and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The register places the key on this token and it is not there.
    Missing { name: String, label: String },
    /// The token holds a key the register does not place there (a test key on production).
    Unknown { object: Object },
    /// Several objects carry one label, so it is unclear which is the registered key.
    Ambiguous { label: String, count: usize },
    /// Same method, different value.
    KcvMismatch {
        name: String,
        register: String,
        token: String,
        method: KcvMethod,
    },
    /// The token could not give a check value by the register's method, perhaps saying why.
    KcvUnavailable {
        name: String,
        method: KcvMethod,
        reason: Option<String>,
    },
    /// The key on the token is of another type or size.
    Algorithm {
        name: String,
        register: String,
        token: String,
    },
    /// An attribute differs from the register's policy.
    Attribute {
        name: String,
        attribute: &'static str,
        expected: bool,
        found: bool,
    },
    /// The register says destroyed; the key is still on the token.
    NotDestroyed { name: String, label: String },
}

impl Finding {
    /// A short word for the kind, shown in the first column and in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing",
            Self::Unknown { .. } => "unknown",
            Self::Ambiguous { .. } => "ambiguous",
            Self::KcvMismatch { .. } | Self::KcvUnavailable { .. } => "kcv",
            Self::Algorithm { .. } => "algorithm",
            Self::Attribute { .. } => "attribute",
            Self::NotDestroyed { .. } => "not-destroyed",
        }
    }

    /// The key name, or the token label when the register does not know it.
    pub fn subject(&self) -> &str {
        match self {
            Self::Missing { name, .. }
            | Self::KcvMismatch { name, .. }
            | Self::KcvUnavailable { name, .. }
            | Self::Algorithm { name, .. }
            | Self::Attribute { name, .. }
            | Self::NotDestroyed { name, .. } => name,
            Self::Unknown { object } if object.label.is_empty() => "(no label)",
            Self::Unknown { object } => &object.label,
            Self::Ambiguous { label, .. } => label,
        }
    }

    /// What is wrong, in words, without the subject.
    pub fn detail(&self) -> String {
        let word = |set: bool, what: &str| {
            if set {
                what.to_owned()
            } else {
                format!("not {what}")
            }
        };
        match self {
            Self::Missing { label, .. } => format!("label `{label}` is not on the token"),
            Self::Unknown { object } if !object.is_secret_key() => format!(
                "{} on the token but not in the register",
                class_phrase(&object.class)
            ),
            Self::Unknown { object } => match (&object.kcv, &object.kcv_unavailable) {
                (Some(kcv), _) => format!(
                    "on the token but not in the register ({}, KCV {kcv})",
                    object.algorithm
                ),
                (None, Some(why)) => format!(
                    "on the token but not in the register ({}, no KCV: {why})",
                    object.algorithm
                ),
                (None, None) => format!(
                    "on the token but not in the register ({}, KCV none)",
                    object.algorithm
                ),
            },
            Self::Ambiguous { count, .. } => format!("{count} objects carry this label"),
            Self::KcvMismatch {
                register,
                token,
                method,
                ..
            } => format!(
                "KCV {token} on the token, {register} in the register ({})",
                method.as_str()
            ),
            Self::KcvUnavailable { method, reason, .. } => {
                let why = reason
                    .as_ref()
                    .map_or_else(String::new, |why| format!(": {why}"));
                format!("the token gave no {} KCV to compare{why}", method.as_str())
            }
            Self::Algorithm {
                register, token, ..
            } => format!("{token} on the token, {register} in the register"),
            Self::Attribute {
                attribute,
                expected,
                found,
                ..
            } => format!(
                "{} on the token; the register expects {}",
                word(*found, attribute),
                word(*expected, attribute)
            ),
            Self::NotDestroyed { label, .. } => {
                format!("destroyed in the register, but `{label}` is still on the token")
            }
        }
    }

    /// The finding as JSON, for `--json`.
    pub fn to_json(&self) -> Value {
        json!({ "kind": self.kind(), "key": self.subject(), "detail": self.detail() })
    }
}

/// An object class in words, with its article: `a private key`, `a data object`.
fn class_phrase(class: &str) -> String {
    match class {
        "private-key" => String::from("a private key"),
        "public-key" => String::from("a public key"),
        "certificate" => String::from("a certificate"),
        "data" => String::from("a data object"),
        other => format!("an object of class {other}"),
    }
}

/// The keys the register places on a token that stands for `environments`.
pub fn expected<'a>(register: &'a Register, environments: &[String]) -> Vec<&'a Key> {
    register
        .keys()
        .iter()
        .filter(|key| key.environments.iter().any(|e| environments.contains(e)))
        .collect()
}

/// Compares the register's keys for `environments` with the token's `objects`.
///
/// `cmac` holds the CMAC check value of each label whose register KCV uses that method, at the
/// register's length; the token's ECB values come with `objects`. Returns the findings in
/// register order, then the unknown objects in label order (secret keys before other objects
/// of the same label). Only secret keys can be the register's keys; every other object is
/// unknown.
pub fn compare(
    register: &Register,
    environments: &[String],
    objects: &[Object],
    cmac: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let expected = expected(register, environments);
    let mut by_label: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for object in objects.iter().filter(|object| object.is_secret_key()) {
        by_label
            .entry(object.label.as_str())
            .or_default()
            .push(object);
    }

    let mut findings = Vec::new();
    for key in &expected {
        let found = by_label
            .get(key.label.as_str())
            .map_or(&[][..], Vec::as_slice);
        match (key.state.on_token(), found) {
            (true, []) => findings.push(Finding::Missing {
                name: key.name.clone(),
                label: key.label.clone(),
            }),
            (false, []) => {}
            (false, _) => findings.push(Finding::NotDestroyed {
                name: key.name.clone(),
                label: key.label.clone(),
            }),
            (true, [object]) => findings.extend(differences(key, object, cmac)),
            (true, several) => findings.push(Finding::Ambiguous {
                label: key.label.clone(),
                count: several.len(),
            }),
        }
    }

    let mut unknown: Vec<&Object> = by_label
        .iter()
        .filter(|(label, _)| !expected.iter().any(|key| key.label == **label))
        .flat_map(|(_, found)| found.iter().copied())
        .chain(objects.iter().filter(|object| !object.is_secret_key()))
        .collect();
    unknown.sort_by(|a, b| {
        (&a.label, !a.is_secret_key(), &a.class).cmp(&(&b.label, !b.is_secret_key(), &b.class))
    });
    findings.extend(unknown.into_iter().map(|object| Finding::Unknown {
        object: object.clone(),
    }));
    findings
}

/// What differs between a registered key and the one object carrying its label.
fn differences(key: &Key, object: &Object, cmac: &BTreeMap<String, String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let name = || key.name.clone();
    if object.algorithm != key.algorithm.as_str() {
        findings.push(Finding::Algorithm {
            name: name(),
            register: key.algorithm.as_str().to_owned(),
            token: object.algorithm.clone(),
        });
    }

    if let Some(kcv) = &key.kcv {
        let token = match kcv.method {
            KcvMethod::Ecb => object.kcv.as_ref(),
            KcvMethod::Cmac => cmac.get(&key.label),
        };
        // The register may keep fewer bytes than the token reports: compare that many.
        let token = token.map(|value| value.chars().take(kcv.value.len()).collect::<String>());
        match token {
            None => findings.push(Finding::KcvUnavailable {
                name: name(),
                method: kcv.method,
                reason: match kcv.method {
                    KcvMethod::Ecb => object.kcv_unavailable.clone(),
                    KcvMethod::Cmac => None,
                },
            }),
            Some(token) if token != kcv.value => findings.push(Finding::KcvMismatch {
                name: name(),
                register: kcv.value.clone(),
                token,
                method: kcv.method,
            }),
            Some(_) => {}
        }
    }

    for (attribute, expected, found) in [
        ("sensitive", key.attributes.sensitive, object.sensitive),
        (
            "extractable",
            key.attributes.extractable,
            object.extractable,
        ),
    ] {
        if let Some(found) = found.filter(|found| *found != expected) {
            findings.push(Finding::Attribute {
                name: name(),
                attribute,
                expected,
                found,
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "\
keys:
  - name: ZMK-A
    purpose: ZMK
    algorithm: aes-256
    environment: [prod-a, prod-b]
    kcv: { value: 111111, method: ecb }
    state: active
    attributes: { sensitive: true, extractable: true }
  - name: ZPK-A
    purpose: ZPK
    algorithm: aes-128
    environment: prod-a
    parent: ZMK-A
    kcv: { value: 2222222222, method: cmac }
    state: active
    attributes: { sensitive: true, extractable: false }
  - name: OLD
    purpose: ZPK
    algorithm: tdes
    environment: prod-a
    parent: ZMK-A
    state: destroyed
    attributes: { sensitive: true, extractable: false }
";

    fn object(label: &str, algorithm: &str, extractable: bool, kcv: &str) -> Object {
        Object {
            label: label.to_owned(),
            class: String::from("secret-key"),
            algorithm: algorithm.to_owned(),
            sensitive: Some(true),
            extractable: Some(extractable),
            kcv: Some(kcv.to_owned()),
            kcv_unavailable: None,
        }
    }

    fn findings(objects: &[Object], cmac: &[(&str, &str)]) -> Vec<String> {
        let register =
            Register::parse("keys.yaml", REGISTER, &super::super::Known::default()).unwrap();
        let cmac = cmac
            .iter()
            .map(|(label, value)| ((*label).to_owned(), (*value).to_owned()))
            .collect();
        compare(&register, &["prod-a".to_owned()], objects, &cmac)
            .iter()
            .map(|finding| {
                format!(
                    "{} {}: {}",
                    finding.kind(),
                    finding.subject(),
                    finding.detail()
                )
            })
            .collect()
    }

    #[test]
    fn a_token_that_matches_the_register_has_no_findings() {
        let objects = [
            object("ZMK-A", "aes-256", true, "111111"),
            object("ZPK-A", "aes-128", false, "ABCDEF"),
        ];
        assert_eq!(
            findings(&objects, &[("ZPK-A", "2222222222")]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_kind_of_difference_is_found() {
        let objects = [
            object("ZMK-A", "tdes", false, "111112"),
            object("ZPK-A", "aes-128", false, "ABCDEF"),
            object("OLD", "tdes", false, "333333"),
            object("TEST", "aes-128", true, "444444"),
        ];
        assert_eq!(
            findings(&objects, &[("ZPK-A", "2222222223")]),
            [
                "algorithm ZMK-A: tdes on the token, aes-256 in the register",
                "kcv ZMK-A: KCV 111112 on the token, 111111 in the register (ecb)",
                "attribute ZMK-A: not extractable on the token; the register expects extractable",
                "kcv ZPK-A: KCV 2222222223 on the token, 2222222222 in the register (cmac)",
                "not-destroyed OLD: destroyed in the register, but `OLD` is still on the token",
                "unknown TEST: on the token but not in the register (aes-128, KCV 444444)",
            ]
        );
    }

    #[test]
    fn a_missing_key_and_an_ecb_value_never_stand_in_for_a_cmac_one() {
        let objects = [object("ZPK-A", "aes-128", false, "2222222222")];
        assert_eq!(
            findings(&objects, &[]),
            [
                "missing ZMK-A: label `ZMK-A` is not on the token",
                "kcv ZPK-A: the token gave no cmac KCV to compare",
            ]
        );
    }

    #[test]
    fn keys_without_a_kcv_and_objects_of_other_classes_are_reported_as_unknown() {
        let hmac = Object {
            kcv: None,
            kcv_unavailable: Some(String::from("a generic-secret key has no check value")),
            ..object("HMAC-TEST", "generic-secret", true, "")
        };
        let certificate = Object {
            class: String::from("certificate"),
            algorithm: String::from("unknown"),
            sensitive: None,
            extractable: None,
            kcv: None,
            ..object("ZMK-A", "", false, "")
        };
        let data = Object {
            label: String::new(),
            class: String::from("data"),
            ..certificate.clone()
        };
        let objects = [
            object("ZMK-A", "aes-256", true, "111111"),
            object("ZPK-A", "aes-128", false, "ABCDEF"),
            hmac,
            certificate,
            data,
        ];
        assert_eq!(
            findings(&objects, &[("ZPK-A", "2222222222")]),
            [
                "unknown (no label): a data object on the token but not in the register",
                "unknown HMAC-TEST: on the token but not in the register (generic-secret, no \
                 KCV: a generic-secret key has no check value)",
                "unknown ZMK-A: a certificate on the token but not in the register",
            ]
        );
    }
}
