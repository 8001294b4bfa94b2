//! Checks a device's certificate signing request before it goes to fleet provisioning: the
//! request must be well-formed, its signature must verify with the public key it carries
//! (the device holds the private key), and the key and signature must be ones AWS IoT accepts
//! for CreateCertificateFromCsr (RSA of at least 2048 bits, or ECC on NIST P-256, P-384 or
//! P-521; RSA or ECDSA with SHA-256, SHA-384 or SHA-512) *and* this app can verify: the
//! verification runs on ring, which has no P-521 and no ECDSA with SHA-512, so those two are
//! refused with that reason rather than sent unchecked. A refused request is never sent, so no
//! certificate is issued for a key the device cannot prove or that AWS would turn down.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
    OID_SIG_ECDSA_WITH_SHA512, Oid,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

/// The smallest RSA key AWS IoT accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// The key of an accepted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrKey {
    /// RSA with this many bits.
    Rsa(usize),
    /// ECC on NIST P-256.
    P256,
    /// ECC on NIST P-384.
    P384,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    /// Not a PKCS#10 request.
    #[error("it is not a certificate signing request ({0})")]
    Malformed(String),
    /// The key is too weak or of a kind AWS IoT does not accept.
    #[error(
        "its key is {0}; AWS IoT accepts RSA of at least 2048 bits or ECC on NIST P-256, P-384 or P-521"
    )]
    WeakKey(String),
    /// The signature algorithm is not one AWS IoT accepts.
    #[error("it is signed with {0}; AWS IoT accepts RSA or ECDSA with SHA-256, SHA-384 or SHA-512")]
    WeakSignature(String),
    /// The signature does not verify with the request's own key.
    #[error("its signature does not verify with the key it carries ({0})")]
    BadSignature(String),
    /// AWS IoT would take it, but this app cannot verify it.
    #[error(
        "its {0} cannot be verified by this app (it checks RSA, and ECDSA on P-256 or P-384 with SHA-256 or SHA-384): make the device use one of those"
    )]
    Unverifiable(String),
}

/// Checks the DER request `der`; returns its key when AWS IoT would accept it.
pub fn check(der: &[u8]) -> Result<CsrKey, CsrError> {
    let (rest, request) =
        X509CertificationRequest::from_der(der).map_err(|e| CsrError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::Malformed(format!(
            "{} bytes follow the request",
            rest.len()
        )));
    }
    let spki = &request.certification_request_info.subject_pki;
    let key = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) if spki.algorithm.algorithm == OID_PKCS1_RSAENCRYPTION => {
            let bits = rsa.key_size();
            if bits < MIN_RSA_BITS {
                return Err(CsrError::WeakKey(format!("RSA of {bits} bits")));
            }
            CsrKey::Rsa(bits)
        }
        Ok(PublicKey::EC(_)) if spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(oid) if oid == OID_EC_P256 => CsrKey::P256,
                Some(oid) if oid == OID_NIST_EC_P384 => CsrKey::P384,
                Some(oid) if oid == OID_NIST_EC_P521 => {
                    return Err(CsrError::Unverifiable("ECC key on NIST P-521".into()));
                }
                Some(oid) => return Err(CsrError::WeakKey(format!("ECC on the curve {oid}"))),
                None => return Err(CsrError::WeakKey("ECC without a named curve".into())),
            }
        }
        _ => {
            return Err(CsrError::WeakKey(format!(
                "of the type {}",
                spki.algorithm.algorithm
            )));
        }
    };
    let signature = &request.signature_algorithm.algorithm;
    let accepted: [&Oid<'_>; 5] = [
        &OID_PKCS1_SHA256WITHRSA,
        &OID_PKCS1_SHA384WITHRSA,
        &OID_PKCS1_SHA512WITHRSA,
        &OID_SIG_ECDSA_WITH_SHA256,
        &OID_SIG_ECDSA_WITH_SHA384,
    ];
    if *signature == OID_SIG_ECDSA_WITH_SHA512 {
        return Err(CsrError::Unverifiable(
            "ECDSA signature with SHA-512".into(),
        ));
    }
    if !accepted.contains(&signature) {
        return Err(CsrError::WeakSignature(format!(
            "the algorithm {signature}"
        )));
    }
    request.verify_signature().map_err(|e| match e {
        x509_parser::error::X509Error::SignatureUnsupportedAlgorithm => {
            CsrError::Unverifiable(format!("signature algorithm {signature}"))
        }
        other => CsrError::BadSignature(other.to_string()),
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcgen_csr(algorithm: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(algorithm).expect("a key");
        let params = rcgen::CertificateParams::new(vec!["device".to_owned()]).expect("params");
        params
            .serialize_request(&key)
            .expect("a request")
            .der()
            .to_vec()
    }

    #[test]
    fn ecc_requests_on_aws_curves_are_accepted() {
        assert_eq!(
            check(&rcgen_csr(&rcgen::PKCS_ECDSA_P256_SHA256)),
            Ok(CsrKey::P256)
        );
        assert_eq!(
            check(&rcgen_csr(&rcgen::PKCS_ECDSA_P384_SHA384)),
            Ok(CsrKey::P384)
        );
    }

    #[test]
    fn an_rsa_2048_request_from_openssl_is_accepted() {
        let der = include_bytes!("../../tests/fixtures/csr/rsa-2048.csr.der");
        assert_eq!(check(der), Ok(CsrKey::Rsa(2048)));
    }

    #[test]
    fn weak_keys_and_sha1_are_refused_with_the_reason() {
        let rsa_1024 = include_bytes!("../../tests/fixtures/csr/rsa-1024.csr.der");
        assert_eq!(
            check(rsa_1024),
            Err(CsrError::WeakKey("RSA of 1024 bits".into()))
        );
        let k1 = include_bytes!("../../tests/fixtures/csr/secp256k1.csr.der");
        assert!(
            matches!(check(k1), Err(CsrError::WeakKey(m)) if m.contains("1.3.132.0.10")),
            "secp256k1 is not a NIST curve"
        );
        let ed25519 = rcgen_csr(&rcgen::PKCS_ED25519);
        assert!(matches!(check(&ed25519), Err(CsrError::WeakKey(_))));
        let sha1 = include_bytes!("../../tests/fixtures/csr/rsa-2048-sha1.csr.der");
        assert!(matches!(check(sha1), Err(CsrError::WeakSignature(_))));
    }

    #[test]
    fn a_request_whose_signature_does_not_verify_is_refused() {
        let mut der = rcgen_csr(&rcgen::PKCS_ECDSA_P256_SHA256);
        // The subject's common name "device" → "devicf": the signature no longer covers it.
        let at = der
            .windows(6)
            .position(|w| w == b"device")
            .expect("the name is in the request");
        der[at + 5] = b'f';
        assert!(
            matches!(check(&der), Err(CsrError::BadSignature(_))),
            "{:?}",
            check(&der)
        );
    }

    #[test]
    fn what_ring_cannot_verify_is_refused_as_unverifiable_not_as_forged() {
        let p521 = include_bytes!("../../tests/fixtures/csr/p521.csr.der");
        assert!(
            matches!(check(p521), Err(CsrError::Unverifiable(m)) if m.contains("P-521")),
            "{:?}",
            check(p521)
        );
        let sha512 = include_bytes!("../../tests/fixtures/csr/p256-sha512.csr.der");
        assert!(
            matches!(check(sha512), Err(CsrError::Unverifiable(m)) if m.contains("SHA-512")),
            "{:?}",
            check(sha512)
        );
        let rsa_sha512 = include_bytes!("../../tests/fixtures/csr/rsa-2048-sha512.csr.der");
        assert_eq!(
            check(rsa_sha512),
            Ok(CsrKey::Rsa(2048)),
            "ring verifies RSA with SHA-512"
        );
    }

    #[test]
    fn garbage_and_trailing_bytes_are_malformed() {
        assert!(matches!(check(b"not a csr"), Err(CsrError::Malformed(_))));
        let mut der = rcgen_csr(&rcgen::PKCS_ECDSA_P256_SHA256);
        der.push(0);
        assert!(matches!(check(&der), Err(CsrError::Malformed(m)) if m.contains("follow")));
        assert!(matches!(
            check(&der[..der.len() / 2]),
            Err(CsrError::Malformed(_))
        ));
    }
}
