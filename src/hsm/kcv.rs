//! Key check values by ANSI X9.24-1 method 1 (ECB of a zero block) and method 2 (CMAC).
//!
//! Both are computed with the key inside the HSM. cryptoki does not expose the DES3 CMAC
//! mechanism, so the CMAC of one zero block is built from two ECB encryptions, as NIST SP
//! 800-38B defines it: `L = E(0)`, `K1 = dbl(L)`, and since the message is one complete zero
//! block, `T = E(0 XOR K1) = E(K1)`. A KCV never travels without its method and length: KCVs
//! made by different methods are never compared.

use std::fmt;

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{KeyType, ObjectHandle};
use cryptoki::session::Session;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The way a check value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KcvMethod {
    /// X9.24-1 method 1: encrypt a zero block, keep at most 3 bytes.
    Ecb,
    /// X9.24-1 method 2: CMAC of a zero block, keep at most 5 bytes.
    Cmac,
}

impl KcvMethod {
    /// The word a runbook writes for the method.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecb => "ecb",
            Self::Cmac => "cmac",
        }
    }

    /// The method a runbook names, if it is one.
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "ecb" => Some(Self::Ecb),
            "cmac" => Some(Self::Cmac),
            _ => None,
        }
    }

    /// The most bytes the standard lets a check value keep, which is also the default.
    pub fn max_length(self) -> usize {
        match self {
            Self::Ecb => 3,
            Self::Cmac => 5,
        }
    }
}

/// A check value: upper-case hex, with the method and byte length that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kcv {
    pub value: String,
    pub method: KcvMethod,
    pub length: usize,
}

impl Kcv {
    /// Keeps the first `length` bytes of `block` as the check value.
    pub fn from_block(block: &[u8], method: KcvMethod, length: usize) -> Self {
        let kept = &block[..length.min(block.len())];
        Self {
            value: hex::encode_upper(kept),
            method,
            length: kept.len(),
        }
    }

    /// The KCV as a JSON object: `{"value", "method", "length"}`.
    pub fn to_json(&self) -> Value {
        json!({ "value": self.value, "method": self.method.as_str(), "length": self.length })
    }
}

impl fmt::Display for Kcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {} bytes)",
            self.value,
            self.method.as_str(),
            self.length
        )
    }
}

/// The cipher block size and ECB mechanism for a key type, if it is a block cipher key.
pub fn block_cipher(key_type: KeyType) -> Option<(usize, Mechanism<'static>)> {
    if key_type == KeyType::AES {
        Some((16, Mechanism::AesEcb))
    } else if key_type == KeyType::DES3 || key_type == KeyType::DES2 {
        Some((8, Mechanism::Des3Ecb))
    } else {
        None
    }
}

/// Computes the check value of `key` (of type `key_type`) inside the HSM.
///
/// Returns `Ok(None)` when the key type is not an AES or TDES key.
pub fn compute(
    session: &Session,
    key: ObjectHandle,
    key_type: KeyType,
    method: KcvMethod,
    length: usize,
) -> Result<Option<Kcv>, CkError> {
    let Some((block, mechanism)) = block_cipher(key_type) else {
        return Ok(None);
    };
    let zero = vec![0u8; block];

    let l = Zeroizing::new(session.encrypt(&mechanism, key, &zero)?);
    if method == KcvMethod::Ecb {
        return Ok(Some(Kcv::from_block(&l, method, length)));
    }

    let k1 = cmac_subkey(&l);
    let tag = session.encrypt(&mechanism, key, &k1)?;
    Ok(Some(Kcv::from_block(&tag, method, length)))
}

/// The first CMAC subkey: `L` shifted left by one bit, XOR-ed with `Rb` if the top bit was set.
pub fn cmac_subkey(l: &[u8]) -> Zeroizing<Vec<u8>> {
    let rb: u8 = if l.len() == 16 { 0x87 } else { 0x1b };
    let mut k1 = Zeroizing::new(vec![0u8; l.len()]);
    let mut carry = 0u8;
    for (out, byte) in k1.iter_mut().zip(l).rev() {
        *out = (byte << 1) | carry;
        carry = byte >> 7;
    }
    if carry == 1
        && let Some(last) = k1.last_mut()
    {
        *last ^= rb;
    }
    k1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cmac_subkey_matches_nist_sp_800_38b_for_aes_128() {
        // SP 800-38B, appendix D.1: L = AES-128(K, 0) and K1 for K = 2B7E1516...
        let l = hex::decode("7df76b0c1ab899b33e42f047b91b546f").unwrap();
        assert_eq!(
            hex::encode(cmac_subkey(&l).as_slice()),
            "fbeed618357133667c85e08f7236a8de"
        );
    }

    #[test]
    fn the_first_cmac_subkey_matches_nist_sp_800_38b_for_tdes() {
        // SP 800-38B, appendix D.2 (three-key TDEA): L = 0xC8CC74E98A7329A2, K1 = 0x9198E9D3...
        let l = hex::decode("c8cc74e98a7329a2").unwrap();
        assert_eq!(hex::encode(cmac_subkey(&l).as_slice()), "9198e9d314e6535f");
    }

    #[test]
    fn a_check_value_keeps_only_the_bytes_asked_for() {
        let kcv = Kcv::from_block(&[0x08, 0xd7, 0xb4, 0xfb, 0x62], KcvMethod::Ecb, 3);
        assert_eq!(kcv.value, "08D7B4");
        assert_eq!(kcv.to_string(), "08D7B4 (ecb, 3 bytes)");
    }
}
