//! A throw-away SoftHSM2 for HSM tests: a token directory, its config and drill tokens.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialised, and a process initialises a
//! module once; the crate forbids `unsafe`, so a test cannot set the variable for itself. So
//! each test runs its body in a child process of the test binary, started with the variable
//! pointing at a fresh directory: [`softhsm`] is called in the parent, which prepares the
//! tokens and waits for the child, and again in the child, which runs the body.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cli;

use std::path::{Path, PathBuf};
use std::process::Command;

use custos::hsm::{FixedSecrets, Hsm};
use custos::policy::environment::Environments;
use serde_json::{Map, Value};

/// The SoftHSM2 module Debian installs.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token.
pub const PIN: &str = "123456";
const SO_PIN: &str = "12345678";
const CHILD: &str = "CUSTOS_TEST_CHILD";
const DIR: &str = "CUSTOS_TEST_DIR";
const ENVIRONMENTS: &str = "CUSTOS_TEST_ENVIRONMENTS";

/// The test's tokens, seen from the child process.
pub struct Drill {
    pub dir: PathBuf,
    pub environments: Environments,
}

/// The environments every test can name. `drill-*` tokens exist; `absent-token` names a label
/// no token has; `missing-module` names a library that does not exist.
fn environments_yaml(module: &str) -> String {
    format!(
        "\
environments:
  production-primary:
    module: /opt/hsm/lib/libpkcs11.so
    token: {{ label: bank-prod-primary }}
    pin: prompt
    production: true
    rehearsal: drill-primary
  production-orphan:
    module: /opt/hsm/lib/libpkcs11.so
    token: {{ label: bank-prod-orphan }}
    pin: prompt
    production: true
  drill-primary:
    module: {module}
    token: {{ label: custos-drill-primary }}
    pin: {{ env: CUSTOS_DRILL_PIN }}
    production: false
  drill-secondary:
    module: {module}
    token: {{ label: custos-drill-secondary }}
    pin: {{ env: CUSTOS_DRILL_PIN }}
    production: false
  absent-token:
    module: {module}
    token: {{ label: custos-nobody-made-this }}
    pin: {{ env: CUSTOS_DRILL_PIN }}
    production: false
  missing-module:
    module: /usr/lib/nowhere/libmissing-pkcs11.so
    token: {{ label: custos-drill-primary }}
    pin: {{ env: CUSTOS_DRILL_PIN }}
    production: false
"
    )
}

/// Runs `body` in a child process whose SoftHSM2 has the tokens `custos-drill-primary` and
/// `custos-drill-secondary`. `name` must be the test function's name.
pub fn softhsm(name: &str, body: impl FnOnce(&Drill)) {
    in_child(
        name,
        |dir| {
            prepare(dir);
            (dir.join("softhsm2.conf"), dir.join("environments.yaml"))
        },
        body,
    );
}

/// Runs `body` in a child process. In the parent, `setup` gets a fresh directory and returns
/// the SoftHSM2 config and the environments file the child uses.
pub fn in_child(
    name: &str,
    setup: impl FnOnce(&Path) -> (PathBuf, PathBuf),
    body: impl FnOnce(&Drill),
) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var(DIR).expect("the parent sets the directory"));
        let file = std::env::var(ENVIRONMENTS).expect("the parent sets the environments");
        let environments = Environments::load(file).unwrap();
        body(&Drill { dir, environments });
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let (config, environments) = setup(dir.path());
    let output = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env(DIR, dir.path())
        .env(ENVIRONMENTS, environments)
        .env("SOFTHSM2_CONF", config)
        .env("CUSTOS_DRILL_PIN", PIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the test body failed in its SoftHSM2 process ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// Writes the SoftHSM2 config and environments, and makes the drill tokens.
fn prepare(dir: &Path) {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let config = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        tokens.display()
    );
    std::fs::write(dir.join("softhsm2.conf"), config).unwrap();
    std::fs::write(dir.join("environments.yaml"), environments_yaml(MODULE)).unwrap();

    for label in ["custos-drill-primary", "custos-drill-secondary"] {
        let status = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                PIN,
            ])
            .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
            .output();
        match status {
            Ok(output) => assert!(
                output.status.success(),
                "softhsm2-util could not make token `{label}`: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => panic!(
                "softhsm2-util is needed for the HSM tests and could not run ({error}); \
                 install it with `apt-get install -y softhsm2 opensc`"
            ),
        }
    }
}

/// A `with:` map from pairs, values as JSON.
pub fn with(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// Secrets that answer the test PIN for the drill environments.
pub fn secrets() -> FixedSecrets {
    FixedSecrets::new()
        .with_pin("drill-primary", PIN)
        .with_pin("drill-secondary", PIN)
        .with_pin("drill-new", PIN)
        .with_pin("absent-token", PIN)
        .with_pin("missing-module", PIN)
}

/// Runs an action outside a drill with a generous time limit.
pub fn run(
    hsm: &mut Hsm,
    drill: &Drill,
    action: &str,
    params: &[(&str, Value)],
) -> Result<Map<String, Value>, custos::hsm::HsmError> {
    let timeout = std::time::Duration::from_secs(20);
    hsm.run(
        action,
        &with(params),
        &drill.environments,
        &mut secrets(),
        false,
        timeout,
    )
}

/// Imports a secret key with a known value through cryptoki, as a key ceremony would, so KCVs
/// can be checked against published vectors.
pub fn import_key(drill: &Drill, environment: &str, label: &str, key_type: &str, value: &[u8]) {
    use cryptoki::object::{Attribute, KeyType, ObjectClass};
    use cryptoki::session::UserType;

    let env = drill.environments.get(environment).unwrap();
    let found = custos::hsm::token::find(env).unwrap();
    let session = found.context.open_rw_session(found.slot).unwrap();
    let pin = cryptoki::types::AuthPin::from(PIN);
    match session.login(UserType::User, Some(&pin)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(error) => panic!("login to import `{label}`: {error}"),
    }
    let key_type = match key_type {
        "aes" => KeyType::AES,
        "des2" => KeyType::DES2,
        _ => KeyType::DES3,
    };
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(label.as_bytes().to_vec()),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(key_type == KeyType::AES),
        Attribute::Unwrap(key_type == KeyType::AES),
        Attribute::Value(value.to_vec()),
    ];
    session.create_object(&template).unwrap();
}
