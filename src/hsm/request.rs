//! An action invocation turned into a typed request, before any PKCS#11 call is made.
//!
//! Everything that can be checked without the HSM is checked here, on the caller's thread:
//! parameter names and types, environment names, the drill rule (a production environment is
//! replaced by its stand-in, or refused), lengths of key components. The PKCS#11 work in
//! [`super::actions`] then only meets problems the token itself reports.

use cryptoki::object::ObjectClass;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::actions::NewKey;
use super::kcv::KcvMethod;
use super::key::{self, KeyAlgorithm};
use super::params::Params;
use super::{HsmError, Secrets};
use crate::catalog;
use crate::policy::environment::{Environment, Environments};

/// A key wrapping mechanism a runbook may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapMechanism {
    /// `CKM_AES_KEY_WRAP` (RFC 3394): key lengths that are multiples of 8 bytes.
    AesKeyWrap,
    /// `CKM_AES_KEY_WRAP_PAD` (RFC 5649): any key length.
    AesKeyWrapPad,
    /// `CKM_DES3_ECB` under a TDES KEK, as older key exchanges do (SoftHSM2 refuses it).
    Des3Ecb,
}

impl WrapMechanism {
    /// The mechanism a runbook names, if it is one.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "aes-key-wrap" => Some(Self::AesKeyWrap),
            "aes-key-wrap-pad" => Some(Self::AesKeyWrapPad),
            "des3-ecb" => Some(Self::Des3Ecb),
            _ => None,
        }
    }

    /// The PKCS#11 name, for messages.
    pub fn pkcs11_name(self) -> &'static str {
        match self {
            Self::AesKeyWrap => "CKM_AES_KEY_WRAP",
            Self::AesKeyWrapPad => "CKM_AES_KEY_WRAP_PAD",
            Self::Des3Ecb => "CKM_DES3_ECB",
        }
    }
}

/// A key an action is to create: label, id, algorithm and the method of its reported KCV.
pub struct KeySpec {
    pub label: String,
    pub id: Vec<u8>,
    pub algorithm: KeyAlgorithm,
    pub kcv_method: KcvMethod,
}

impl KeySpec {
    /// The borrowed form the actions take.
    pub fn as_new_key(&self) -> NewKey<'_> {
        NewKey {
            label: &self.label,
            id: &self.id,
            algorithm: self.algorithm,
            kcv: self.kcv_method,
        }
    }
}

/// What an action asks of the HSM, with its parameters checked.
pub enum Request {
    /// `hsm.health`.
    Health,
    /// `hsm.find`: any of label, id and class narrow the search.
    Find {
        label: Option<String>,
        id: Option<Vec<u8>>,
        class: Option<ObjectClass>,
    },
    /// `hsm.kcv`.
    Kcv {
        label: String,
        method: KcvMethod,
        length: usize,
    },
    /// `hsm.generate`.
    Generate {
        new_key: KeySpec,
        sensitive: bool,
        extractable: bool,
    },
    /// `hsm.wrap`.
    Wrap {
        key: String,
        wrapping_key: String,
        mechanism: WrapMechanism,
        kcv_method: KcvMethod,
    },
    /// `hsm.unwrap`.
    Unwrap {
        wrapped: Vec<u8>,
        unwrapping_key: String,
        new_key: KeySpec,
        mechanism: WrapMechanism,
    },
    /// `hsm.destroy`.
    Destroy { label: String, class: ObjectClass },
    /// `hsm.compare`, between the job's two environments.
    Compare,
    /// `hsm.load_components`, with every component already collected.
    LoadComponents {
        new_key: KeySpec,
        components: Vec<Zeroizing<Vec<u8>>>,
    },
}

/// A request with the environments it runs in, resolved for a drill where one is running.
pub struct Job {
    pub action: &'static str,
    pub request: Request,
    /// One environment, or two for `hsm.compare` (left, then right).
    pub environments: Vec<Environment>,
}

const ALGORITHMS: &str = "`aes-128`, `aes-192`, `aes-256` or `tdes`";
const WRAPS: &str = "`aes-key-wrap`, `aes-key-wrap-pad` or `des3-ecb`";
const METHODS: &str = "`ecb` or `cmac`";
const CLASSES: &str = "`secret-key`, `public-key`, `private-key`, `certificate` or `data`";

/// Checks an invocation of `action` and builds its job; asks `secrets` for components only.
pub fn build(
    action: &str,
    params: &Map<String, Value>,
    environments: &Environments,
    secrets: &mut dyn Secrets,
    rehearsal: bool,
) -> Result<Job, HsmError> {
    let spec = catalog::action(action)
        .filter(|spec| spec.name.starts_with("hsm."))
        .ok_or_else(|| HsmError::UnknownAction {
            action: action.to_owned(),
        })?;
    if spec.rehearsal_only && !rehearsal {
        return Err(HsmError::RehearsalOnly {
            action: spec.name.to_owned(),
        });
    }
    let params = Params::new(spec, params)?;

    let names: &[&'static str] = if spec.name == "hsm.compare" {
        &["left", "right"]
    } else {
        &["environment"]
    };
    let mut resolved = Vec::new();
    for name in names {
        let wanted = params.required(name)?;
        let environment = if rehearsal {
            environments.resolve_for_drill(&wanted)?
        } else {
            environments.require(&wanted)?
        };
        resolved.push(environment.clone());
    }

    let request = request(spec.name, &params, secrets)?;
    Ok(Job {
        action: spec.name,
        request,
        environments: resolved,
    })
}

fn request(
    action: &str,
    params: &Params<'_>,
    secrets: &mut dyn Secrets,
) -> Result<Request, HsmError> {
    let algorithm = || {
        params
            .word("algorithm", KeyAlgorithm::parse, ALGORITHMS)?
            .ok_or(HsmError::MissingParameter {
                action: action.to_owned(),
                name: "algorithm",
            })
    };
    let kcv_method = || {
        Ok::<_, HsmError>(
            params
                .word("kcv_method", KcvMethod::parse, METHODS)?
                .unwrap_or(KcvMethod::Ecb),
        )
    };
    let key_spec = || {
        Ok::<_, HsmError>(KeySpec {
            label: params.required("label")?,
            id: params.hex("id")?,
            algorithm: algorithm()?,
            kcv_method: kcv_method()?,
        })
    };
    let wrap_mechanism = || {
        Ok::<_, HsmError>(
            params
                .word("mechanism", WrapMechanism::parse, WRAPS)?
                .unwrap_or(WrapMechanism::AesKeyWrapPad),
        )
    };

    let request = match action {
        "hsm.health" => Request::Health,
        "hsm.find" => Request::Find {
            label: params.text("label")?,
            id: params.text("id")?.map(|_| params.hex("id")).transpose()?,
            class: params.word("class", key::parse_class, CLASSES)?,
        },
        "hsm.kcv" => kcv_request(action, params)?,
        "hsm.generate" => Request::Generate {
            new_key: key_spec()?,
            sensitive: params.boolean("sensitive")?.unwrap_or(true),
            extractable: params.boolean("extractable")?.unwrap_or(false),
        },
        "hsm.wrap" => Request::Wrap {
            key: params.required("key")?,
            wrapping_key: params.required("wrapping_key")?,
            mechanism: wrap_mechanism()?,
            kcv_method: kcv_method()?,
        },
        "hsm.unwrap" => Request::Unwrap {
            wrapped: params.hex("wrapped")?,
            unwrapping_key: params.required("unwrapping_key")?,
            new_key: key_spec()?,
            mechanism: wrap_mechanism()?,
        },
        "hsm.destroy" => Request::Destroy {
            label: params.required("label")?,
            class: params
                .word("class", key::parse_class, CLASSES)?
                .unwrap_or(ObjectClass::SECRET_KEY),
        },
        "hsm.compare" => Request::Compare,
        "hsm.load_components" => components_request(action, params, key_spec()?, secrets)?,
        other => {
            return Err(HsmError::UnknownAction {
                action: other.to_owned(),
            });
        }
    };
    Ok(request)
}

fn kcv_request(action: &str, params: &Params<'_>) -> Result<Request, HsmError> {
    let method = params
        .word("method", KcvMethod::parse, "`ecb` or `cmac`")?
        .unwrap_or(KcvMethod::Ecb);
    let most = method.max_length();
    let length = match params.integer("length")? {
        None => most,
        Some(length) if (1..=most as u64).contains(&length) => length as usize,
        Some(length) => {
            return Err(HsmError::InvalidParameter {
                action: action.to_owned(),
                name: String::from("length"),
                reason: format!(
                    "is {length}; the {} method keeps 1 to {most} bytes (ANSI X9.24-1)",
                    method.as_str()
                ),
            });
        }
    };
    Ok(Request::Kcv {
        label: params.required("label")?,
        method,
        length,
    })
}

/// Collects every component from the custodians before any HSM call, checking their lengths.
fn components_request(
    action: &str,
    params: &Params<'_>,
    new_key: KeySpec,
    secrets: &mut dyn Secrets,
) -> Result<Request, HsmError> {
    let count = params
        .integer("components")?
        .ok_or(HsmError::MissingParameter {
            action: action.to_owned(),
            name: "components",
        })?;
    let Ok(count @ 2..=9) = usize::try_from(count) else {
        return Err(HsmError::InvalidParameter {
            action: action.to_owned(),
            name: String::from("components"),
            reason: format!("is {count}; split knowledge needs 2 to 9 components"),
        });
    };

    let (label, algorithm) = (new_key.label.as_str(), new_key.algorithm);
    let mut components: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(count);
    for index in 1..=count {
        let component = secrets.component(label, index, count)?;
        let (fits, needed) = match components.first() {
            None => (
                algorithm.lengths().contains(&component.len()),
                allowed_lengths(algorithm),
            ),
            Some(first) if algorithm.lengths().len() > 1 => (
                component.len() == first.len(),
                format!("{} (the length of component 1)", first.len()),
            ),
            Some(first) => (component.len() == first.len(), first.len().to_string()),
        };
        if !fits {
            return Err(HsmError::ComponentLength {
                label: label.to_owned(),
                index,
                count,
                algorithm: algorithm.as_str(),
                found: component.len(),
                needed,
            });
        }
        components.push(component);
    }
    Ok(Request::LoadComponents {
        new_key,
        components,
    })
}

/// The clear key lengths `algorithm` accepts, shortest first: `16`, or `16 or 24` for TDES.
fn allowed_lengths(algorithm: KeyAlgorithm) -> String {
    let mut lengths = algorithm.lengths().to_vec();
    lengths.sort_unstable();
    let words: Vec<String> = lengths.iter().map(ToString::to_string).collect();
    words.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsm::FixedSecrets;
    use serde_json::json;

    fn load(algorithm: &str, components: Vec<Vec<u8>>) -> HsmError {
        let yaml = "environments:\n  drill:\n    module: /usr/lib/softhsm/libsofthsm2.so\n    \
                    token: { label: custos-drill }\n    pin: { env: CUSTOS_DRILL_PIN }\n    \
                    production: false\n";
        let environments = Environments::parse("environments.yaml", yaml).unwrap();
        let count = components.len();
        let mut secrets = FixedSecrets::new().with_components("ZMK", components);
        let params: Map<String, Value> = [
            ("environment", json!("drill")),
            ("label", json!("ZMK")),
            ("id", json!("01")),
            ("algorithm", json!(algorithm)),
            ("components", json!(count)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let built = build(
            "hsm.load_components",
            &params,
            &environments,
            &mut secrets,
            true,
        );
        built.err().unwrap()
    }

    #[test]
    fn a_first_tdes_component_of_a_wrong_length_names_both_lengths_tdes_accepts() {
        let error = load("tdes", vec![vec![1; 20], vec![2; 16]]);
        assert_eq!(
            error.to_string(),
            "component 1 of 2 for `ZMK` is 20 bytes long; tdes needs 16 or 24"
        );

        let error = load("tdes", vec![vec![1; 16], vec![2; 24]]);
        assert_eq!(
            error.to_string(),
            "component 2 of 2 for `ZMK` is 24 bytes long; tdes needs 16 (the length of \
             component 1)"
        );

        let error = load("aes-256", vec![vec![1; 16], vec![2; 32]]);
        assert_eq!(
            error.to_string(),
            "component 1 of 2 for `ZMK` is 16 bytes long; aes-256 needs 32"
        );
    }
}
