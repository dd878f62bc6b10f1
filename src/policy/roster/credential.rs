//! Passphrases: hashing with Argon2id into PHC strings, checking a passphrase against one, and
//! judging whether a stored hash is strong enough.
//!
//! New hashes use the OWASP parameters (19 MiB of memory, 2 passes, 1 lane). Tests set
//! [`TEST_PARAMS_VARIABLE`] to `1` to hash with tiny parameters and to accept such hashes, so
//! that a test suite making dozens of hashes stays fast; never set it on a real installation.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

/// The shortest passphrase custos accepts, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// Set to `1` in tests only: hash with tiny Argon2 parameters and accept them in checks.
pub const TEST_PARAMS_VARIABLE: &str = "CUSTOS_ARGON2_TEST_PARAMS";

/// The memory cost of new hashes in KiB (OWASP: 19 MiB).
const MEMORY_KIB: u32 = 19 * 1024;
/// The passes of new hashes (OWASP: 2).
const PASSES: u32 = 2;
/// The least memory accepted in a stored hash, in KiB (OWASP's lowest option: 7 MiB).
const MIN_MEMORY_KIB: u32 = 7 * 1024;
/// The least memory times passes accepted; OWASP's options all come to about 36,000 KiB.
const MIN_WORK: u64 = 35_840;

/// Whether the test-only knob is on.
fn test_params() -> bool {
    std::env::var(TEST_PARAMS_VARIABLE).is_ok_and(|value| value == "1")
}

fn hasher() -> Argon2<'static> {
    let (memory, passes) = if test_params() {
        (Params::MIN_M_COST.max(64), 1)
    } else {
        (MEMORY_KIB, PASSES)
    };
    // Both parameter sets are within Argon2's limits, which `Params::new` checks.
    let params = Params::new(memory, passes, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The Argon2id PHC string of `passphrase`, with a fresh random salt.
pub fn hash_passphrase(passphrase: &str) -> Result<String, String> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(format!(
            "the passphrase is shorter than {MIN_PASSPHRASE_CHARS} characters"
        ));
    }
    hasher()
        .hash_password(passphrase.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| format!("cannot hash the passphrase: {error}"))
}

/// Whether `passphrase` matches the PHC string `hash`; a malformed or non-Argon2id hash never
/// matches. Strength is not judged here: `custos validate` reports weak hashes, and whoever can
/// write the roster could replace a hash anyway.
pub fn verify_passphrase(hash: &str, passphrase: &str) -> bool {
    let Ok(parsed) = parse(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(passphrase.as_bytes(), &parsed)
        .is_ok()
}

/// Why a passphrase did not prove who someone is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The stored credential is not one custos accepts at approval time; the text follows
    /// "the credential" (`uses `argon2i`; ...`).
    Unusable(String),
    /// The passphrase does not match the credential.
    Wrong,
}

/// Checks `passphrase` against the stored credential `hash`, as approvals and the initiator's
/// authentication do. Stricter than [`verify_passphrase`]: only an Argon2id hash of version
/// 0x13 made with at least the parameters `custos roster add` uses is accepted, so that a hash
/// planted with weak parameters (or argon2i/argon2d) cannot be used to approve.
pub fn authenticate(hash: &str, passphrase: &str) -> Result<(), Mismatch> {
    let parsed = parse(hash).map_err(Mismatch::Unusable)?;
    let params = Params::try_from(&parsed).map_err(|error| {
        Mismatch::Unusable(format!("has unreadable Argon2 parameters ({error})"))
    })?;
    let version = parsed.version.unwrap_or(0x10);
    if version != u32::from(Version::V0x13) {
        return Err(Mismatch::Unusable(format!(
            "uses Argon2 version {version:#x}; only version 0x13 is accepted"
        )));
    }
    if !test_params() && (params.m_cost() < MEMORY_KIB || params.t_cost() < PASSES) {
        return Err(Mismatch::Unusable(format!(
            "is weaker (m={}, t={}) than the m={MEMORY_KIB} KiB, t={PASSES} that \
             `custos roster add` uses",
            params.m_cost(),
            params.t_cost()
        )));
    }

    Argon2::default()
        .verify_password(passphrase.as_bytes(), &parsed)
        .map_err(|_| Mismatch::Wrong)
}

/// Why `hash` is not an acceptable credential, phrased to follow "the credential of `x`".
pub(super) fn check_hash(hash: &str) -> Result<(), String> {
    let parsed =
        PasswordHash::new(hash).map_err(|error| format!("is not a PHC hash string ({error})"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "uses `{}`; only `argon2id` is accepted",
            parsed.algorithm
        ));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("has no salt or no hash".to_owned());
    }

    let params = Params::try_from(&parsed)
        .map_err(|error| format!("has unreadable Argon2 parameters ({error})"))?;
    let work = u64::from(params.m_cost()) * u64::from(params.t_cost());
    if !test_params() && (params.m_cost() < MIN_MEMORY_KIB || work < MIN_WORK) {
        return Err(format!(
            "is too weak (m={}, t={}); custos needs at least m={MIN_MEMORY_KIB} KiB and \
             m*t={MIN_WORK}",
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(())
}

/// The PHC string `hash`, if it is a complete Argon2id hash.
fn parse(hash: &str) -> Result<PasswordHash, String> {
    let parsed =
        PasswordHash::new(hash).map_err(|error| format!("is not a PHC hash string ({error})"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "uses `{}`; only `argon2id` is accepted",
            parsed.algorithm
        ));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("has no salt or no hash".to_owned());
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_own_passphrase_and_no_other() {
        let hash = hash_passphrase("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_passphrase(&hash, "correct horse battery"));
        assert!(!verify_passphrase(&hash, "correct horse battery!"));
    }

    #[test]
    fn authentication_refuses_argon2i_and_weak_hashes_even_with_the_right_passphrase() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        );
        let hash = weak.hash_password(b"right passphrase").unwrap().to_string();
        assert!(verify_passphrase(&hash, "right passphrase"));
        let Err(Mismatch::Unusable(reason)) = authenticate(&hash, "right passphrase") else {
            panic!("a weak hash was accepted");
        };
        assert_eq!(
            reason,
            "is weaker (m=64, t=1) than the m=19456 KiB, t=2 that `custos roster add` uses"
        );

        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::DEFAULT);
        let hash = argon2i
            .hash_password(b"right passphrase")
            .unwrap()
            .to_string();
        assert_eq!(
            authenticate(&hash, "right passphrase"),
            Err(Mismatch::Unusable(
                "uses `argon2i`; only `argon2id` is accepted".into()
            ))
        );

        let strong = hash_passphrase("right passphrase").unwrap();
        assert_eq!(authenticate(&strong, "right passphrase"), Ok(()));
        assert_eq!(
            authenticate(&strong, "wrong passphrase"),
            Err(Mismatch::Wrong)
        );
    }

    #[test]
    fn short_passphrases_are_refused() {
        let error = hash_passphrase("elevenchars").unwrap_err();
        assert_eq!(error, "the passphrase is shorter than 12 characters");
    }

    #[test]
    fn weak_or_foreign_hashes_are_not_credentials() {
        let weak = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQxMjM$\
                    QTO6JrMmg6jGaIzOPxUd3JmQjvB/JfZ8mgJRHFzCWQs";
        assert!(
            check_hash(weak)
                .unwrap_err()
                .starts_with("is too weak (m=64, t=1)")
        );
        let argon2i = "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQxMjM$\
                       QTO6JrMmg6jGaIzOPxUd3JmQjvB/JfZ8mgJRHFzCWQs";
        assert_eq!(
            check_hash(argon2i).unwrap_err(),
            "uses `argon2i`; only `argon2id` is accepted"
        );
        assert!(
            check_hash("hunter2")
                .unwrap_err()
                .starts_with("is not a PHC hash string")
        );
    }
}
