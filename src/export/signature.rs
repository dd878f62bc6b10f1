//! The signature of an export's manifest: line 2 of a JSON Lines export.
//!
//! The installation key signs the ASCII text `custos-export-manifest-v1:` followed by the exact
//! bytes of line 1 (the manifest line, without its newline). Signing bytes rather than a
//! re-encoded form means the verifier checks what it read, with no canonical JSON to agree
//! on; the prefix keeps a manifest signature from ever passing for a seal, and a seal for one.
//! The line names the key that signed, so that a verifier can say who vouches for the export.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::store::signing::{parse_public_key, public_key_text};

/// The prefix of the text a manifest signature covers.
const PREFIX: &[u8] = b"custos-export-manifest-v1:";

/// Line 2 of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignatureLine {
    pub manifest_signature: ManifestSignature,
}

/// Who signed the manifest line, and the signature.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestSignature {
    /// `ed25519:` and 64 lowercase hex digits.
    pub public_key: String,
    /// 64 bytes as 128 lowercase hex digits.
    pub signature: String,
}

impl ManifestSignature {
    /// Signs `manifest_line`, the exact bytes of line 1 without its newline.
    pub fn sign(manifest_line: &[u8], key: &SigningKey) -> Self {
        let signature = key.sign(&message(manifest_line));
        Self {
            public_key: public_key_text(&key.verifying_key()),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Checks the signature over `manifest_line` and returns the key that made it; the error
    /// says what is wrong in words a report can show.
    pub fn verify(&self, manifest_line: &[u8]) -> Result<VerifyingKey, String> {
        let key = parse_public_key(&self.public_key)
            .map_err(|e| format!("the manifest signature's key: {e}"))?;
        if public_key_text(&key) != self.public_key {
            return Err(format!(
                "the manifest signature's key `{}` is not written in lowercase hex",
                self.public_key
            ));
        }

        let bytes = lowercase_hex::<64>(&self.signature)
            .ok_or_else(|| "the manifest signature is not 64 bytes in lowercase hex".to_owned())?;
        key.verify_strict(&message(manifest_line), &Signature::from_bytes(&bytes))
            .map_err(|_| {
                "the manifest signature does not verify: line 1 was changed after it was signed"
                    .to_owned()
            })?;
        Ok(key)
    }
}

fn message(manifest_line: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(PREFIX.len() + manifest_line.len());
    message.extend_from_slice(PREFIX);
    message.extend_from_slice(manifest_line);
    message
}

/// The `N` bytes that `text` spells in lowercase hex, or `None` when it spells anything else,
/// upper-case digits included: an export has exactly one spelling of each value.
pub(crate) fn lowercase_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let lowercase = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lowercase {
        return None;
    }
    let mut bytes = [0; N];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_over_the_exact_line_and_nothing_else() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let signed = ManifestSignature::sign(br#"{"manifest":{}}"#, &key);

        assert_eq!(
            signed.verify(br#"{"manifest":{}}"#).unwrap(),
            key.verifying_key()
        );
        assert!(signed.verify(br#"{"manifest": {}}"#).is_err());
    }

    #[test]
    fn upper_case_hex_is_not_a_spelling_an_export_accepts() {
        assert_eq!(lowercase_hex::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(lowercase_hex::<2>("0AFF"), None);
        assert_eq!(lowercase_hex::<2>("0af"), None);

        let key = SigningKey::from_bytes(&[3; 32]);
        let mut signed = ManifestSignature::sign(b"{}", &key);
        signed.signature = signed.signature.to_uppercase();
        assert!(signed.verify(b"{}").is_err());
    }
}
