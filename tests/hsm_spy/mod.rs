//! OpenSC's `pkcs11-spy` between custos and SoftHSM2: it logs every PKCS#11 call to the file
//! `PKCS11SPY_OUTPUT` names and passes it on to the module `PKCS11SPY` names, so a test can
//! count the logins, initialisations and finalisations a run really made.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

/// Where Debian's `opensc` package installs the spy, in the order tried.
const SPIES: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
    "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
];

/// The spy module.
pub fn spy() -> &'static str {
    SPIES
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or_else(|| {
            panic!(
                "pkcs11-spy is needed for this test; install it with `apt-get install -y opensc`"
            )
        })
}

/// How many times the spy's log shows the PKCS#11 function `name` being called.
pub fn calls(log: &Path, name: &str) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|line| line.split_once(": ").is_some_and(|(_, f)| f.trim() == name))
        .count()
}

/// Environments `drill-primary` and `drill-secondary` whose tokens are reached through the spy.
pub fn drill_environments() -> String {
    let mut yaml = String::from("environments:\n");
    for name in ["primary", "secondary"] {
        yaml.push_str(&format!(
            "  drill-{name}:\n    module: {}\n    token: {{ label: custos-drill-{name} }}\n    \
             pin: {{ env: CUSTOS_DRILL_PIN }}\n    production: false\n",
            spy()
        ));
    }
    yaml
}

/// The shipped `policies/environments.yaml`, with its drill environments behind the spy.
pub fn shipped_environments() -> String {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/environments.yaml");
    let text = std::fs::read_to_string(shipped).unwrap();
    assert!(text.contains(super::support::MODULE));
    text.replace(super::support::MODULE, spy())
}
