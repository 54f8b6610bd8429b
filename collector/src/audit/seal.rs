//! Seals: a record, appended every `audit.seal_interval`, that signs the newest record's
//! `seq` and hash with the collector's TLS key (the key of its server certificate). Someone
//! who can write the database but does not hold a collector's key can change or delete
//! records, and recompute every hash after them, but cannot make the seals that cover them
//! again: `audit verify` checks each seal's signature and that its certificate was issued by
//! the deployment's CA. The seal carries the signer's certificate, so that the seals of
//! several collectors (each with its own key) and of replaced certificates verify alike.
//!
//! What a seal cannot show is the records after the newest seal being deleted, together with
//! the seals that came later: for that the seal's `seq` and head hash also go out of the
//! database (syslog, `super::syslog`), and `audit verify --anchor SEQ:HASH` compares.

use std::path::Path;
use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use super::chain::Record;

pub use super::chain::SEAL_EVENT;

/// The signature schemes a seal is made with, best first (the collector's key decides).
const SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
];

/// The details of a seal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealDetails {
    /// The newest record when the seal was made.
    pub through_seq: u64,
    /// Its hash.
    pub head: String,
    /// The signature scheme (rustls' name, e.g. `ECDSA_NISTP256_SHA256`).
    pub scheme: String,
    /// The signing collector's certificate, DER in hex.
    pub signer: String,
    /// The signature of [`message`], hex.
    pub signature: String,
}

/// The bytes a seal signs.
pub fn message(through_seq: u64, head: &str) -> Vec<u8> {
    format!("zerofault-audit-seal-v1\n{through_seq}\n{head}\n").into_bytes()
}

/// Why a seal cannot be made: the key or certificate is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A file cannot be read or parsed.
    #[error(transparent)]
    Pem(#[from] zerofault_common::pem::PemError),
    /// The key is of a kind that cannot sign seals.
    #[error("{path}: the key cannot sign audit seals ({reason})")]
    Key {
        /// The key file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Signs seals with a collector's key: a fixed pair, or the server certificate in use (so
/// that a certificate replaced because its key leaked stops sealing at once).
#[derive(Debug, Clone)]
pub enum Sealer {
    /// A key and certificate loaded once.
    Fixed {
        /// The key.
        key: Arc<dyn rustls::sign::SigningKey>,
        /// Its certificate, DER in hex.
        signer_hex: String,
    },
    /// The ingest listener's certificate, as reloaded.
    Server(Arc<crate::tls::ServerCert>),
}

impl Sealer {
    /// The sealer of the certificate and key in these files (the collector's `tls.cert` and
    /// `tls.key`).
    pub fn load(cert: &Path, key: &Path) -> Result<Sealer, SealError> {
        let chain = zerofault_common::pem::load_certs("tls.cert", cert)?;
        let leaf = chain
            .into_iter()
            .next()
            .expect("load_certs returns at least one");
        let der = zerofault_common::pem::load_key("tls.key", key)?;
        Self::new(&leaf, &der).map_err(|reason| SealError::Key {
            path: key.display().to_string(),
            reason,
        })
    }

    /// The sealer of a certificate and its key.
    pub fn new(cert: &CertificateDer<'_>, key: &PrivateKeyDer<'_>) -> Result<Sealer, String> {
        let key = rustls::crypto::ring::sign::any_supported_type(key).map_err(|e| e.to_string())?;
        if key.choose_scheme(SCHEMES).is_none() {
            return Err(format!(
                "none of {SCHEMES:?} fits a {:?} key",
                key.algorithm()
            ));
        }
        Ok(Sealer::Fixed {
            key,
            signer_hex: hex::encode(cert.as_ref()),
        })
    }

    /// The details of a seal over record `through_seq` whose hash is `head`.
    pub fn seal(&self, through_seq: u64, head: &str) -> Result<SealDetails, String> {
        let (key, signer_hex) = match self {
            Sealer::Fixed { key, signer_hex } => (key.clone(), signer_hex.clone()),
            Sealer::Server(cert) => {
                let current = cert.current();
                let leaf = current
                    .cert
                    .first()
                    .ok_or("the server certificate chain is empty")?;
                (current.key.clone(), hex::encode(leaf.as_ref()))
            }
        };
        let signer = key
            .choose_scheme(SCHEMES)
            .ok_or("the key offers none of the seal's signature schemes")?;
        let signature = signer
            .sign(&message(through_seq, head))
            .map_err(|e| e.to_string())?;
        Ok(SealDetails {
            through_seq,
            head: head.to_owned(),
            scheme: format!("{:?}", signer.scheme()),
            signer: signer_hex,
            signature: hex::encode(signature),
        })
    }
}

/// Checks seal record `r`, given the hash of the record it names when verification still
/// knows it (`known`), against the CA certificates `cas`. Returns the `seq` it covers.
pub fn check(r: &Record, known: Option<&str>, cas: &[CertificateDer<'_>]) -> Result<u64, String> {
    let d: SealDetails = serde_json::from_str(&r.entry.details)
        .map_err(|e| format!("its details do not parse: {e}"))?;
    if d.through_seq >= r.seq {
        return Err(format!(
            "it names record {}, which is not before it",
            d.through_seq
        ));
    }
    match known {
        Some(h) if h == d.head => {}
        Some(h) => {
            return Err(format!(
                "record {} has hash {h}, the seal signed {}: records up to it were changed",
                d.through_seq, d.head
            ));
        }
        None => {
            return Err(format!(
                "record {} is not among the {} records before the seal",
                d.through_seq,
                super::chain::SEAL_REACH
            ));
        }
    }
    let signer =
        hex::decode(&d.signer).map_err(|_| "its signer certificate is not hex".to_owned())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&signer)
        .map_err(|e| format!("its signer certificate does not parse: {e}"))?;
    let issued = cas.iter().any(|ca| {
        x509_parser::parse_x509_certificate(ca)
            .is_ok_and(|(_, ca)| cert.verify_signature(Some(ca.public_key())).is_ok())
    });
    if !issued {
        return Err(format!(
            "its signer ({}) was not issued by the configured CA",
            cert.subject()
        ));
    }
    // Only a collector seals: its certificate is for server authentication. An agent's
    // (client authentication only, from the same CA) must not be able to.
    let server = matches!(cert.extended_key_usage(), Ok(Some(eku)) if eku.value.server_auth);
    if !server {
        return Err(format!(
            "its signer ({}) is not a collector's certificate (no serverAuth usage)",
            cert.subject()
        ));
    }
    let at = r.entry.at_ms.div_euclid(1000);
    let validity = cert.validity();
    if at < validity.not_before.timestamp() || at > validity.not_after.timestamp() {
        return Err(format!(
            "its signer ({}) was not valid when the seal was made",
            cert.subject()
        ));
    }
    let alg: &dyn ring::signature::VerificationAlgorithm = match d.scheme.as_str() {
        "ECDSA_NISTP256_SHA256" => &ring::signature::ECDSA_P256_SHA256_ASN1,
        "ECDSA_NISTP384_SHA384" => &ring::signature::ECDSA_P384_SHA384_ASN1,
        "ED25519" => &ring::signature::ED25519,
        "RSA_PSS_SHA256" => &ring::signature::RSA_PSS_2048_8192_SHA256,
        other => return Err(format!("unknown signature scheme {other}")),
    };
    let signature = hex::decode(&d.signature).map_err(|_| "its signature is not hex".to_owned())?;
    let key = ring::signature::UnparsedPublicKey::new(
        alg,
        cert.public_key().subject_public_key.data.as_ref(),
    );
    key.verify(&message(d.through_seq, &d.head), &signature)
        .map_err(|_| format!("its signature does not verify with {}", cert.subject()))?;
    Ok(d.through_seq)
}

#[cfg(test)]
mod tests;
