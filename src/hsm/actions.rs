//! The PKCS#11 work of each `hsm.*` action, run on the worker thread against open sessions.
//!
//! Each function takes a logged-in session and a checked request and returns the outputs the
//! catalog names. Key material never leaves the HSM here, with one exception that only a drill
//! reaches: `hsm.load_components` combines clear components in host memory (SoftHSM2 has no
//! XOR-combine mechanism), in buffers wiped on drop.

use std::collections::BTreeMap;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use serde_json::{Map, Value, json};
use zeroize::{Zeroize, Zeroizing};

use super::HsmError;
use super::kcv::{self, Kcv, KcvMethod};
use super::key::{self, KeyAlgorithm};
use super::request::WrapMechanism;

/// The outputs of an action, as a JSON object.
pub type Outputs = Map<String, Value>;

fn outputs(value: Value) -> Outputs {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn kcv_outputs(kcv: &Kcv) -> [(String, Value); 3] {
    [
        (String::from("kcv"), json!(kcv.value)),
        (String::from("method"), json!(kcv.method.as_str())),
        (String::from("length"), json!(kcv.length)),
    ]
}

/// The check value of a key by `method`, at its full length (3 bytes for ECB, 5 for CMAC).
fn reported_kcv(
    session: &Session,
    environment: &str,
    label: &str,
    handle: ObjectHandle,
    key_type: KeyType,
    method: KcvMethod,
) -> Result<Kcv, HsmError> {
    let length = method.max_length();
    kcv_of(
        session,
        environment,
        label,
        handle,
        key_type,
        method,
        length,
    )
}

fn kcv_of(
    session: &Session,
    environment: &str,
    label: &str,
    handle: ObjectHandle,
    key_type: KeyType,
    method: KcvMethod,
    length: usize,
) -> Result<Kcv, HsmError> {
    let computed = kcv::compute(session, handle, key_type, method, length)
        .map_err(|error| HsmError::from_cryptoki(environment, "the KCV encryption", error))?;
    computed.ok_or_else(|| HsmError::WrongKeyType {
        environment: environment.to_owned(),
        label: label.to_owned(),
        found: key::key_type_name(key_type),
        needed: "an AES or TDES key",
        operation: "a KCV",
    })
}

/// `hsm.kcv`.
pub fn kcv(
    session: &Session,
    environment: &str,
    label: &str,
    method: KcvMethod,
    length: usize,
) -> Result<Outputs, HsmError> {
    let (handle, key_type) = key::find_secret_key(session, environment, label)?;
    let kcv = kcv_of(
        session,
        environment,
        label,
        handle,
        key_type,
        method,
        length,
    )?;
    Ok(kcv_outputs(&kcv).into_iter().collect())
}

fn refuse_existing(session: &Session, environment: &str, label: &str) -> Result<(), HsmError> {
    let template = [Attribute::Label(label.as_bytes().to_vec())];
    let existing = session
        .find_objects(&template)
        .map_err(|error| HsmError::from_cryptoki(environment, "the object search", error))?;
    if existing.is_empty() {
        Ok(())
    } else {
        Err(HsmError::LabelInUse {
            environment: environment.to_owned(),
            label: label.to_owned(),
        })
    }
}

/// Destroys whatever a failed creation left labelled `label` (SoftHSM2 leaves an orphan object
/// when `C_GenerateKey` fails). The label was free before, so nothing else carries it.
fn remove_orphans(session: &Session, label: &str) {
    let template = [Attribute::Label(label.as_bytes().to_vec())];
    for handle in session.find_objects(&template).unwrap_or_default() {
        if session.destroy_object(handle).is_ok() {
            tracing::debug!(label, "destroyed an object left by a failed creation");
        }
    }
}

/// `hsm.generate`.
pub fn generate(
    session: &Session,
    environment: &str,
    new: &NewKey<'_>,
    sensitive: bool,
    extractable: bool,
) -> Result<Outputs, HsmError> {
    let NewKey {
        label,
        id,
        algorithm,
        kcv,
    } = *new;
    refuse_existing(session, environment, label)?;

    let mut template = key::secret_key_template(algorithm, label, id, true, sensitive, extractable);
    let mechanism = if algorithm == KeyAlgorithm::Tdes {
        // No CKA_VALUE_LEN for DES3: SoftHSM2 rejects it and leaves an orphan object.
        template.push(Attribute::KeyType(KeyType::DES3));
        Mechanism::Des3KeyGen
    } else {
        template.push(Attribute::KeyType(KeyType::AES));
        template.push(Attribute::ValueLen((algorithm.lengths()[0] as u64).into()));
        Mechanism::AesKeyGen
    };

    let handle = match session.generate_key(&mechanism, &template) {
        Ok(handle) => handle,
        Err(error) => {
            remove_orphans(session, label);
            return Err(HsmError::from_cryptoki(
                environment,
                "key generation",
                error,
            ));
        }
    };
    let key_type = algorithm.key_type(algorithm.lengths()[0]);
    let kcv = reported_kcv(session, environment, label, handle, key_type, kcv)?;

    let mut out = Outputs::new();
    out.insert(String::from("label"), json!(label));
    out.extend(kcv_outputs(&kcv));
    Ok(out)
}

fn mechanism_error(
    environment: &str,
    mechanism: WrapMechanism,
    operation: &'static str,
    error: CkError,
) -> HsmError {
    match error {
        CkError::Pkcs11(RvError::MechanismInvalid, _) => HsmError::UnsupportedMechanism {
            environment: environment.to_owned(),
            mechanism: mechanism.pkcs11_name().to_owned(),
            operation,
            code: String::from("CKR_MECHANISM_INVALID"),
            hint: if mechanism == WrapMechanism::Des3Ecb {
                "; SoftHSM2 lists DES3 yet refuses to wrap with it: use an AES key-encryption key"
            } else {
                ""
            },
        },
        other => HsmError::from_cryptoki(environment, operation, other),
    }
}

fn check_kek(
    environment: &str,
    label: &str,
    key_type: KeyType,
    mechanism: WrapMechanism,
    operation: &'static str,
) -> Result<(), HsmError> {
    let (fits, needed) = match mechanism {
        WrapMechanism::Des3Ecb => (
            key_type == KeyType::DES3 || key_type == KeyType::DES2,
            "a TDES key-encryption key",
        ),
        _ => (key_type == KeyType::AES, "an AES key-encryption key"),
    };
    if fits {
        return Ok(());
    }
    Err(HsmError::WrongKeyType {
        environment: environment.to_owned(),
        label: label.to_owned(),
        found: key::key_type_name(key_type),
        needed,
        operation,
    })
}

fn wrap_mechanism(mechanism: WrapMechanism) -> Mechanism<'static> {
    match mechanism {
        WrapMechanism::AesKeyWrap => Mechanism::AesKeyWrap,
        WrapMechanism::AesKeyWrapPad => Mechanism::AesKeyWrapPad,
        WrapMechanism::Des3Ecb => Mechanism::Des3Ecb,
    }
}

/// `hsm.wrap`: the wrapped key, with the check value of the key by `method`.
pub fn wrap(
    session: &Session,
    environment: &str,
    key_label: &str,
    wrapping_label: &str,
    mechanism: WrapMechanism,
    method: KcvMethod,
) -> Result<Outputs, HsmError> {
    let (key, key_type) = key::find_secret_key(session, environment, key_label)?;
    let (kek, kek_type) = key::find_secret_key(session, environment, wrapping_label)?;
    check_kek(environment, wrapping_label, kek_type, mechanism, "wrapping")?;

    let wrapped = session
        .wrap_key(&wrap_mechanism(mechanism), kek, key)
        .map_err(|error| mechanism_error(environment, mechanism, "wrapping", error))?;
    let kcv = reported_kcv(session, environment, key_label, key, key_type, method)?;

    let mut out = Outputs::new();
    out.insert(String::from("wrapped"), json!(hex::encode_upper(&wrapped)));
    out.extend(kcv_outputs(&kcv));
    Ok(out)
}

/// A key about to be created: its label, id, algorithm, and how its KCV is reported.
#[derive(Clone, Copy)]
pub struct NewKey<'a> {
    pub label: &'a str,
    pub id: &'a [u8],
    pub algorithm: KeyAlgorithm,
    pub kcv: KcvMethod,
}

/// `hsm.unwrap`.
pub fn unwrap(
    session: &Session,
    environment: &str,
    wrapped: &[u8],
    unwrapping_label: &str,
    new: &NewKey<'_>,
    mechanism: WrapMechanism,
) -> Result<Outputs, HsmError> {
    let NewKey {
        label,
        id,
        algorithm,
        kcv,
    } = *new;
    let (kek, kek_type) = key::find_secret_key(session, environment, unwrapping_label)?;
    check_kek(
        environment,
        unwrapping_label,
        kek_type,
        mechanism,
        "unwrapping",
    )?;
    refuse_existing(session, environment, label)?;

    let key_type = algorithm.key_type(algorithm.lengths()[0]);
    let mut template = key::secret_key_template(algorithm, label, id, true, true, false);
    template.push(Attribute::KeyType(key_type));
    let handle = match session.unwrap_key(&wrap_mechanism(mechanism), kek, wrapped, &template) {
        Ok(handle) => handle,
        Err(error) => {
            remove_orphans(session, label);
            return Err(mechanism_error(environment, mechanism, "unwrapping", error));
        }
    };
    let kcv = reported_kcv(session, environment, label, handle, key_type, kcv)?;

    let mut out = Outputs::new();
    out.insert(String::from("label"), json!(label));
    out.extend(kcv_outputs(&kcv));
    Ok(out)
}

/// `hsm.destroy`: destroys every object of `class` labelled `label`, then searches again.
pub fn destroy(
    session: &Session,
    environment: &str,
    label: &str,
    class: ObjectClass,
) -> Result<Outputs, HsmError> {
    let handles = key::find_labelled(session, environment, label, class)?;
    for handle in &handles {
        session.destroy_object(*handle).map_err(|error| {
            HsmError::from_cryptoki(environment, "destroying the object", error)
        })?;
    }

    let left = key::find_labelled(session, environment, label, class)?;
    if !left.is_empty() {
        return Err(HsmError::StillPresent {
            environment: environment.to_owned(),
            label: label.to_owned(),
        });
    }
    tracing::debug!(
        environment,
        label,
        destroyed = handles.len(),
        "destroyed and verified"
    );
    Ok(outputs(
        json!({ "destroyed": handles.len(), "verified_absent": true }),
    ))
}

/// One object as `hsm.find` reports it.
struct Described {
    label: String,
    json: Value,
    /// The ECB check value of a secret key, or why it has none.
    kcv: Result<Kcv, String>,
}

const FLAGS: [(AttributeType, &str); 8] = [
    (AttributeType::Token, "token"),
    (AttributeType::Private, "private"),
    (AttributeType::Sensitive, "sensitive"),
    (AttributeType::Extractable, "extractable"),
    (AttributeType::Encrypt, "encrypt"),
    (AttributeType::Decrypt, "decrypt"),
    (AttributeType::Wrap, "wrap"),
    (AttributeType::Unwrap, "unwrap"),
];

fn read_attributes(
    session: &Session,
    environment: &str,
    handle: ObjectHandle,
    types: &[AttributeType],
) -> Result<Vec<Attribute>, HsmError> {
    session
        .get_attributes(handle, types)
        .map_err(|error| HsmError::from_cryptoki(environment, "reading attributes", error))
}

/// The label, id (in hex) and class of an object.
fn identity(
    session: &Session,
    environment: &str,
    handle: ObjectHandle,
) -> Result<(String, String, ObjectClass), HsmError> {
    let types = [
        AttributeType::Class,
        AttributeType::Label,
        AttributeType::Id,
    ];
    let (mut label, mut id, mut class) = (String::new(), String::new(), ObjectClass::DATA);
    for attribute in read_attributes(session, environment, handle, &types)? {
        match attribute {
            Attribute::Class(value) => class = value,
            Attribute::Label(bytes) => label = String::from_utf8_lossy(&bytes).into_owned(),
            Attribute::Id(bytes) => id = hex::encode_upper(bytes),
            _ => {}
        }
    }
    Ok((label, id, class))
}

/// What a secret key's attributes say about it.
#[derive(Default)]
struct KeyFacts {
    key_type: Option<KeyType>,
    bytes: Option<u64>,
    check_value: Option<Vec<u8>>,
    encrypt: bool,
    flags: Map<String, Value>,
}

fn key_facts(
    session: &Session,
    environment: &str,
    handle: ObjectHandle,
) -> Result<KeyFacts, HsmError> {
    let mut types = vec![
        AttributeType::KeyType,
        AttributeType::ValueLen,
        AttributeType::CheckValue,
    ];
    types.extend(FLAGS.iter().map(|(kind, _)| *kind));

    let mut facts = KeyFacts::default();
    for attribute in read_attributes(session, environment, handle, &types)? {
        let kind = attribute.attribute_type();
        if let Some((_, name)) = FLAGS.iter().find(|(known, _)| *known == kind) {
            let value = is_set(&attribute);
            facts.encrypt |= kind == AttributeType::Encrypt && value;
            facts.flags.insert((*name).to_owned(), json!(value));
            continue;
        }
        match attribute {
            Attribute::KeyType(value) => facts.key_type = Some(value),
            Attribute::ValueLen(value) => facts.bytes = Some(u64::from(value)),
            Attribute::CheckValue(value) => facts.check_value = Some(value),
            _ => {}
        }
    }

    // DES keys have no CKA_VALUE_LEN: their length follows from the type.
    facts.bytes = facts.bytes.or_else(|| match facts.key_type {
        Some(kind) if kind == KeyType::DES3 => Some(24),
        Some(kind) if kind == KeyType::DES2 => Some(16),
        _ => None,
    });
    Ok(facts)
}

fn describe(
    session: &Session,
    environment: &str,
    handle: ObjectHandle,
) -> Result<Described, HsmError> {
    let (label, id, class) = identity(session, environment, handle)?;
    let mut json = json!({ "label": label, "id": id, "class": key::class_name(class) });
    if class != ObjectClass::SECRET_KEY {
        return Ok(Described {
            label,
            json,
            kcv: Err(String::from("only secret keys have a check value")),
        });
    }

    let facts = key_facts(session, environment, handle)?;
    let kcv = listed_kcv(session, environment, handle, &facts)?;
    json["key_type"] = json!(facts.key_type.map(key::key_type_name));
    json["bits"] = json!(facts.bytes.map(|bytes| bytes * 8));
    json["attributes"] = Value::Object(facts.flags);
    json["kcv"] = kcv.as_ref().map_or(Value::Null, Kcv::to_json);
    json["kcv_unavailable"] = kcv.as_ref().err().map_or(Value::Null, |why| json!(why));
    Ok(Described { label, json, kcv })
}

/// The ECB (method 1) check value of a secret key as a listing shows it, or why it has none.
///
/// One key that cannot give a KCV (a generic or HMAC secret, or a key whose
/// `CKA_ALLOWED_MECHANISMS` refuse ECB) must not stop the listing of the others: its KCV is
/// absent with the reason. Only an error that ends the session fails the action.
fn listed_kcv(
    session: &Session,
    environment: &str,
    handle: ObjectHandle,
    facts: &KeyFacts,
) -> Result<Result<Kcv, String>, HsmError> {
    let Some(key_type) = facts.key_type else {
        return Ok(Err(String::from("the token does not say the key's type")));
    };
    if kcv::block_cipher(key_type).is_none() {
        // A module's CKA_CHECK_VALUE on such a key is not an X9.24 value (PKCS#11 derives it
        // from a hash for generic secrets), so it is not shown as one.
        return Ok(Err(format!(
            "a {} key has no ANSI X9.24 check value; only TDES and AES keys have one",
            key::key_type_name(key_type)
        )));
    }

    // For TDES and AES keys the module's own CKA_CHECK_VALUE is the ECB method too.
    let module_value = facts
        .check_value
        .as_ref()
        .filter(|value| value.len() >= 3)
        .map(|value| Kcv::from_block(value, KcvMethod::Ecb, 3));
    if !facts.encrypt {
        return Ok(module_value.ok_or_else(|| {
            String::from("the key may not encrypt (CKA_ENCRYPT is false) and the token gives no CKA_CHECK_VALUE")
        }));
    }

    match kcv::compute(session, handle, key_type, KcvMethod::Ecb, 3) {
        Ok(Some(kcv)) => Ok(Ok(kcv)),
        Ok(None) => Ok(Err(String::from("the key type has no block cipher"))),
        Err(error) => {
            let error = HsmError::from_cryptoki(environment, "the KCV encryption", error);
            if error.ends_session() {
                return Err(error);
            }
            Ok(module_value.ok_or_else(|| refusal(&error)))
        }
    }
}

/// Why the token refused an operation, in words, without the environment's name.
fn refusal(error: &HsmError) -> String {
    match error {
        HsmError::Pkcs11 {
            operation,
            code,
            rv,
            ..
        } => format!(
            "{operation} failed with {code}: {}",
            super::error::explain(rv).meaning
        ),
        other => other.to_string(),
    }
}

fn is_set(attribute: &Attribute) -> bool {
    matches!(
        attribute,
        Attribute::Token(true)
            | Attribute::Private(true)
            | Attribute::Sensitive(true)
            | Attribute::Extractable(true)
            | Attribute::Encrypt(true)
            | Attribute::Decrypt(true)
            | Attribute::Wrap(true)
            | Attribute::Unwrap(true)
    )
}

/// `hsm.find`.
pub fn find(
    session: &Session,
    environment: &str,
    label: Option<&str>,
    id: Option<&[u8]>,
    class: Option<ObjectClass>,
) -> Result<Outputs, HsmError> {
    let mut template = Vec::new();
    if let Some(label) = label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = id {
        template.push(Attribute::Id(id.to_vec()));
    }
    if let Some(class) = class {
        template.push(Attribute::Class(class));
    }
    let handles = session
        .find_objects(&template)
        .map_err(|error| HsmError::from_cryptoki(environment, "the object search", error))?;

    let mut described = handles
        .into_iter()
        .map(|handle| describe(session, environment, handle))
        .collect::<Result<Vec<_>, _>>()?;
    described.sort_by(|a, b| a.label.cmp(&b.label));

    let labels: Vec<&str> = described
        .iter()
        .map(|object| object.label.as_str())
        .collect();
    Ok(outputs(json!({
        "count": described.len(),
        "objects": described.iter().map(|object| object.json.clone()).collect::<Vec<_>>(),
        "labels": labels.join(","),
    })))
}

/// A token's secret keys by label: the ECB check value of each key carrying the label, `None`
/// for a key that has none (see [`listed_kcv`]).
pub type Inventory = BTreeMap<String, Vec<Option<String>>>;

/// Every secret token key by label, with its ECB check value where it has one.
pub fn inventory(session: &Session, environment: &str) -> Result<Inventory, HsmError> {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(true),
    ];
    let handles = session
        .find_objects(&template)
        .map_err(|error| HsmError::from_cryptoki(environment, "the object search", error))?;

    let mut keys = Inventory::new();
    for handle in handles {
        let object = describe(session, environment, handle)?;
        let kcv = object.kcv.ok().map(|kcv| kcv.value);
        keys.entry(object.label).or_default().push(kcv);
    }
    for kcvs in keys.values_mut() {
        kcvs.sort();
    }
    Ok(keys)
}

/// `hsm.compare`, from the two inventories.
///
/// A label whose key has no check value on either side cannot be shown to match: it is
/// `unverified`, never in sync.
pub fn compare(left_name: &str, left: &Inventory, right_name: &str, right: &Inventory) -> Outputs {
    let comparable = |kcvs: &[Option<String>]| kcvs.iter().all(Option::is_some);
    let missing: Vec<&str> = left
        .keys()
        .filter(|label| !right.contains_key(*label))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = right
        .keys()
        .filter(|label| !left.contains_key(*label))
        .map(String::as_str)
        .collect();
    type Kcvs = [Option<String>];
    let both: Vec<(&str, &Kcvs, &Kcvs)> = left
        .iter()
        .filter_map(|(label, kcvs)| Some((label.as_str(), &kcvs[..], &right.get(label)?[..])))
        .collect();
    let unverified: Vec<&str> = both
        .iter()
        .filter(|(_, mine, theirs)| !comparable(mine) || !comparable(theirs))
        .map(|(label, _, _)| *label)
        .collect();
    let different: Vec<&str> = both
        .iter()
        .filter(|(label, mine, theirs)| !unverified.contains(label) && mine != theirs)
        .map(|(label, _, _)| *label)
        .collect();
    let in_sync =
        missing.is_empty() && extra.is_empty() && different.is_empty() && unverified.is_empty();

    let summary = if in_sync {
        format!(
            "`{left_name}` and `{right_name}` hold the same {} secret keys with the same KCVs",
            left.len()
        )
    } else {
        let mut parts = Vec::new();
        for (words, list) in [
            (format!("missing from `{right_name}`"), &missing),
            (format!("only on `{right_name}`"), &extra),
            (String::from("with different KCVs"), &different),
            (
                String::from("that cannot be compared, for want of a KCV"),
                &unverified,
            ),
        ] {
            if !list.is_empty() {
                parts.push(format!("{} {words} ({})", list.len(), list.join(", ")));
            }
        }
        format!(
            "`{left_name}` and `{right_name}` differ: {}",
            parts.join("; ")
        )
    };

    outputs(json!({
        "in_sync": in_sync,
        "missing": missing,
        "extra": extra,
        "different": different,
        "unverified": unverified,
        "summary": summary,
    }))
}

/// `hsm.load_components` (drills only): each component's KCV through a session object destroyed
/// afterwards, then the XOR of the components created as a token key; all KCVs by `new.kcv`.
pub fn load_components(
    session: &Session,
    environment: &str,
    new: &NewKey<'_>,
    components: &[Zeroizing<Vec<u8>>],
) -> Result<Outputs, HsmError> {
    let NewKey {
        label,
        id,
        algorithm,
        kcv,
    } = *new;
    refuse_existing(session, environment, label)?;
    let length = components.first().map_or(0, |first| first.len());
    let key_type = algorithm.key_type(length);

    let mut component_kcvs = Vec::with_capacity(components.len());
    let mut combined = Zeroizing::new(vec![0u8; length]);
    for (index, component) in components.iter().enumerate() {
        let part = NewKey {
            label: &format!("{label} component {}", index + 1),
            ..*new
        };
        let check = transient_kcv(session, environment, &part, key_type, component)?;
        component_kcvs.push(check.value);
        for (out, byte) in combined.iter_mut().zip(component.iter()) {
            *out ^= byte;
        }
    }
    if algorithm == KeyAlgorithm::Tdes {
        set_odd_parity(&mut combined);
    }

    let mut template = key::secret_key_template(algorithm, label, id, true, true, false);
    template.push(Attribute::KeyType(key_type));
    template.push(Attribute::Value(combined.to_vec()));
    let created = session.create_object(&template);
    wipe(&mut template);
    let handle = created.map_err(|error| {
        HsmError::from_cryptoki(environment, "creating the combined key", error)
    })?;
    let kcv = reported_kcv(session, environment, label, handle, key_type, kcv)?;

    let mut out = Outputs::new();
    out.insert(String::from("component_kcvs"), json!(component_kcvs));
    out.extend(kcv_outputs(&kcv));
    Ok(out)
}

/// The ECB KCV of a clear component, through a session object that is destroyed afterwards.
fn transient_kcv(
    session: &Session,
    environment: &str,
    part: &NewKey<'_>,
    key_type: KeyType,
    component: &[u8],
) -> Result<Kcv, HsmError> {
    let mut template =
        key::secret_key_template(part.algorithm, part.label, &[], false, true, false);
    template.push(Attribute::KeyType(key_type));
    template.push(Attribute::Value(component.to_vec()));
    let created = session.create_object(&template);
    wipe(&mut template);
    let handle = created
        .map_err(|error| HsmError::from_cryptoki(environment, "loading a component", error))?;

    let kcv = reported_kcv(session, environment, part.label, handle, key_type, part.kcv);
    let destroyed = session
        .destroy_object(handle)
        .map_err(|error| HsmError::from_cryptoki(environment, "destroying a component", error));
    let kcv = kcv?;
    destroyed?;
    Ok(kcv)
}

/// Overwrites the clear key values a template carried, once the HSM has its copy.
fn wipe(template: &mut [Attribute]) {
    for attribute in template {
        if let Attribute::Value(value) = attribute {
            value.zeroize();
        }
    }
}

/// Sets each byte's low bit so the byte has odd parity, as DES keys conventionally carry.
fn set_odd_parity(key: &mut [u8]) {
    for byte in key {
        let high = *byte & 0xfe;
        *byte = high | u8::from(high.count_ones() % 2 == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_parity_is_set_without_changing_the_key_bits() {
        let mut key = [0x00, 0x01, 0xfe, 0x13];
        set_odd_parity(&mut key);
        assert_eq!(key, [0x01, 0x01, 0xfe, 0x13]);
    }

    fn listing(pairs: &[(&str, Option<&str>)]) -> Inventory {
        pairs
            .iter()
            .map(|(label, kcv)| ((*label).to_owned(), vec![kcv.map(str::to_owned)]))
            .collect()
    }

    #[test]
    fn comparing_inventories_names_missing_extra_and_different_keys() {
        let left = listing(&[
            ("A", Some("111111")),
            ("B", Some("222222")),
            ("C", Some("333333")),
        ]);
        let mut right = left.clone();
        right.remove("A");
        right.insert("B".into(), vec![Some("999999".into())]);
        right.insert("D".into(), vec![Some("444444".into())]);

        let out = compare("drill-primary", &left, "drill-secondary", &right);
        assert_eq!(out["in_sync"], json!(false));
        assert_eq!(out["missing"], json!(["A"]));
        assert_eq!(out["extra"], json!(["D"]));
        assert_eq!(out["different"], json!(["B"]));
        assert_eq!(out["unverified"], json!([]));
        assert_eq!(
            out["summary"],
            json!(
                "`drill-primary` and `drill-secondary` differ: 1 missing from `drill-secondary` \
                 (A); 1 only on `drill-secondary` (D); 1 with different KCVs (B)"
            )
        );
    }

    #[test]
    fn two_keys_without_a_kcv_cannot_be_compared_and_are_never_in_sync() {
        let left = listing(&[
            ("HMAC-1", None),
            ("ZPK", Some("111111")),
            ("ONE-SIDED", None),
        ]);
        let right = listing(&[
            ("HMAC-1", None),
            ("ZPK", Some("111111")),
            ("ONE-SIDED", Some("222222")),
        ]);

        let out = compare("drill-primary", &left, "drill-secondary", &right);
        assert_eq!(out["in_sync"], json!(false));
        assert_eq!(out["different"], json!([]));
        assert_eq!(out["unverified"], json!(["HMAC-1", "ONE-SIDED"]));
        assert_eq!(
            out["summary"],
            json!(
                "`drill-primary` and `drill-secondary` differ: 2 that cannot be compared, for \
                 want of a KCV (HMAC-1, ONE-SIDED)"
            )
        );
    }
}
