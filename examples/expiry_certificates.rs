//! Writes the example certificates that `policies/inventory.yaml` watches into a directory
//! (`policies/certs` when none is given): an OCSP signer with its issuing CA as a PEM chain,
//! and a root CA as DER. Their validity runs to 2099, so the shipped example stays quiet.
//!
//! `cargo run --example expiry_certificates -- policies/certs`

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "policies/certs".into()),
    );
    std::fs::create_dir_all(&dir)?;

    let root_key = KeyPair::generate()?;
    let root_params = params("Example Bank Root CA", true, 2099)?;
    let root = root_params.self_signed(&root_key)?;
    std::fs::write(dir.join("root-ca.der"), root.der())?;

    let issuer = Issuer::new(root_params, root_key);
    let ca_key = KeyPair::generate()?;
    let ca_params = params("Example Bank Issuing CA 1", true, 2098)?;
    let ca = ca_params.signed_by(&ca_key, &issuer)?;

    let ca_issuer = Issuer::new(ca_params, ca_key);
    let signer_key = KeyPair::generate()?;
    let signer =
        params("Example Bank OCSP Signer 1", false, 2097)?.signed_by(&signer_key, &ca_issuer)?;
    std::fs::write(dir.join("ocsp-signer-chain.pem"), signer.pem() + &ca.pem())?;

    println!(
        "wrote root-ca.der and ocsp-signer-chain.pem into {}",
        dir.display()
    );
    Ok(())
}

/// A certificate valid from 2026-01-01 to the last day of `until`.
fn params(name: &str, ca: bool, until: i32) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = date_time_ymd(2026, 1, 1);
    params.not_after = date_time_ymd(until, 12, 31);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    Ok(params)
}
