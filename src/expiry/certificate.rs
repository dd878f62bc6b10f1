//! The effective end of a certificate chain: the earliest `notAfter` of the certificates in a
//! PEM or DER buffer.
//!
//! A file may hold a whole chain (the signer, then its issuers): the chain stops working when
//! its first member expires, so that is its end. A certificate on a token has its issuers
//! elsewhere (other objects on the token, files the inventory names): [`issuers`] finds them by
//! matching each certificate's issuer name with the others' subject names.
// Known limit: the effective end should also weigh the `nextUpdate` of the CRL the chain
// depends on; CRLs are not in the inventory yet (the certificate-expiry runbook covers them).

use jiff::Timestamp;
use thiserror::Error;
use x509_parser::error::X509Error;
use x509_parser::nom;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a buffer gave no end date.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CertificateError {
    /// The buffer holds no certificate at all.
    #[error("holds no certificate (expected PEM `CERTIFICATE` blocks or DER)")]
    Empty,

    /// A PEM block could not be decoded.
    #[error("PEM block {index} is not valid base64 PEM: {reason}")]
    BadPem { index: usize, reason: String },

    /// A certificate's DER could not be parsed.
    #[error("certificate {index} is malformed: {reason}")]
    Malformed { index: usize, reason: String },

    /// A `notAfter` lies outside the times custos can represent.
    #[error("certificate {index} has a notAfter custos cannot represent")]
    OutOfRange { index: usize },
}

/// One certificate's subject and end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub subject: String,
    pub not_after: Timestamp,
    /// The DER of the subject and issuer names, compared byte for byte.
    subject_der: Vec<u8>,
    issuer_der: Vec<u8>,
}

impl Member {
    /// Whether the certificate names itself as its issuer (a root).
    pub fn self_issued(&self) -> bool {
        self.subject_der == self.issuer_der
    }

    /// Whether `other` could have issued this certificate: its subject is this one's issuer.
    pub fn issued_by(&self, other: &Member) -> bool {
        self.issuer_der == other.subject_der
    }
}

/// `leaf` and its issuers found among `candidates`, leaf first: at each step the candidate whose
/// subject is the current certificate's issuer, the one that ends last when several are (a
/// renewed issuer certificate replaces the old one), until a self-issued certificate or one
/// whose issuer is not among the candidates.
pub fn issuers<'a>(leaf: &'a Member, candidates: &'a [Member]) -> Vec<&'a Member> {
    let mut chain = vec![leaf];
    let mut current = leaf;
    while !current.self_issued() {
        let next = candidates
            .iter()
            .filter(|candidate| current.issued_by(candidate))
            .filter(|candidate| {
                !chain
                    .iter()
                    .any(|member| member.subject_der == candidate.subject_der)
            })
            .max_by_key(|candidate| candidate.not_after);
        let Some(next) = next else {
            break;
        };
        chain.push(next);
        current = next;
    }
    chain
}

/// The members of a chain and its effective end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// In the order of the buffer.
    pub members: Vec<Member>,
}

impl Chain {
    /// The earliest `notAfter` of the chain: when the chain stops working.
    pub fn end(&self) -> Option<&Member> {
        self.members.iter().min_by_key(|member| member.not_after)
    }
}

/// Reads every certificate in `bytes`: PEM `CERTIFICATE` blocks when the buffer is PEM (other
/// blocks, such as keys, are skipped), otherwise one or more concatenated DER certificates.
pub fn read(bytes: &[u8]) -> Result<Chain, CertificateError> {
    let is_pem = bytes.windows(11).any(|window| window == b"-----BEGIN ");
    let members = if is_pem { pem(bytes)? } else { der(bytes)? };

    if members.is_empty() {
        return Err(CertificateError::Empty);
    }
    Ok(Chain { members })
}

fn pem(bytes: &[u8]) -> Result<Vec<Member>, CertificateError> {
    let mut members = Vec::new();
    for (index, block) in Pem::iter_from_buffer(bytes).enumerate() {
        let index = index + 1;
        let block = block.map_err(|error| CertificateError::BadPem {
            index,
            reason: error.to_string(),
        })?;
        if block.label != "CERTIFICATE" {
            continue;
        }

        let certificate = block
            .parse_x509()
            .map_err(|error| malformed(index, &error))?;
        members.push(member(index, &certificate)?);
    }
    Ok(members)
}

fn der(bytes: &[u8]) -> Result<Vec<Member>, CertificateError> {
    let mut members = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let index = members.len() + 1;
        let (after, certificate) =
            X509Certificate::from_der(rest).map_err(|error| malformed(index, &error))?;
        members.push(member(index, &certificate)?);
        rest = after;
    }
    Ok(members)
}

fn member(index: usize, certificate: &X509Certificate<'_>) -> Result<Member, CertificateError> {
    let seconds = certificate.validity().not_after.timestamp();
    let not_after =
        Timestamp::from_second(seconds).map_err(|_| CertificateError::OutOfRange { index })?;
    Ok(Member {
        subject: certificate.subject().to_string(),
        not_after,
        subject_der: certificate.subject().as_raw().to_vec(),
        issuer_der: certificate.issuer().as_raw().to_vec(),
    })
}

/// Says what the parser found in words: its own texts for structural errors, and "not DER"
/// where it only reports the low-level parser's kind of failure.
fn malformed(index: usize, error: &nom::Err<X509Error>) -> CertificateError {
    let reason = match error {
        nom::Err::Incomplete(_) => String::from("it is cut short"),
        nom::Err::Error(X509Error::NomError(_) | X509Error::Der(_))
        | nom::Err::Failure(X509Error::NomError(_) | X509Error::Der(_)) => {
            String::from("it is not a complete DER-encoded X.509 certificate")
        }
        nom::Err::Error(error) | nom::Err::Failure(error) => error.to_string(),
    };
    CertificateError::Malformed { index, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_no_certificate_is_reported_as_malformed() {
        let error = read(b"hello").unwrap_err();

        assert!(
            matches!(error, CertificateError::Malformed { index: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_chain_ends_with_its_earliest_not_after_whatever_the_order() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut early = rcgen::CertificateParams::new(Vec::new()).unwrap();
        early.not_after = rcgen::date_time_ymd(2030, 3, 1);
        let mut late = early.clone();
        late.not_after = rcgen::date_time_ymd(2031, 1, 1);
        let pem = late.self_signed(&key).unwrap().pem() + &early.self_signed(&key).unwrap().pem();

        let chain = read(pem.as_bytes()).unwrap();

        assert_eq!(chain.members.len(), 2);
        let end: Timestamp = "2030-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(chain.end().unwrap().not_after, end);
    }

    #[test]
    fn a_pem_file_without_certificates_holds_none() {
        let text = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

        assert_eq!(read(text).unwrap_err(), CertificateError::Empty);
    }

    fn certificate(
        name: &str,
        until: (i32, u8, u8),
        issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
    ) -> (Member, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
        let certificate = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        let member = read(certificate.der()).unwrap().members.remove(0);
        (member, rcgen::Issuer::new(params, key))
    }

    #[test]
    fn a_leafs_issuers_are_found_by_name_up_to_the_root_and_strangers_are_left_out() {
        let (root, root_issuer) = certificate("Root", (2040, 1, 1), None);
        let (old_ca, _) = certificate("Issuing CA", (2029, 1, 1), Some(&root_issuer));
        let (ca, ca_issuer) = certificate("Issuing CA", (2031, 1, 1), Some(&root_issuer));
        let (leaf, _) = certificate("Signer", (2035, 1, 1), Some(&ca_issuer));
        let (stranger, _) = certificate("Other Root", (2027, 1, 1), None);

        let candidates = [stranger, old_ca, root.clone(), ca.clone()];
        let chain = issuers(&leaf, &candidates);

        let subjects: Vec<&str> = chain.iter().map(|member| member.subject.as_str()).collect();
        assert_eq!(subjects, ["CN=Signer", "CN=Issuing CA", "CN=Root"]);
        assert_eq!(chain[1], &ca, "the renewed issuer, not the old one");
        assert!(chain[2].self_issued());
    }
}
