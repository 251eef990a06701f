//! `AMT_PublicKeyManagementService` store methods: add trusted roots, certificates and keys,
//! generate RSA key pairs, sign PKCS#10 requests, delete certificates and keys.
//!
//! Key generation draws its randomness from [`Env`] only (a ChaCha20 generator seeded with 32
//! bytes from `Env::random`), so the firmware stays sans-IO and tests are reproducible —
//! unless the network front gave the firmware a [`super::KeySource`] (the emulator's key
//! pool): then `GenerateKeyPair` takes a ready-made RSA-2048 key from it and generates inline
//! only when it has none ready.

use amt_wsman::classes::amt::{
    AddCertificateOutput, AddKeyInput, AddKeyOutput, AddTrustedRootCertificateOutput,
    CsrSigningAlgorithm, GenerateKeyPairInput, GenerateKeyPairOutput, GeneratePkcs10RequestExInput,
    GeneratePkcs10RequestExOutput, KeyAlgorithm, PtStatus,
};
use amt_wsman::{ResponseBody, SelectorSet};
use base64::Engine as _;
use chacha20::ChaCha20Rng;
use const_oid::db::rfc5912;
use der::asn1::{Any, BitString};
use der::{Decode, Encode};
use rand_core::SeedableRng;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, PrivateKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};
use spki::AlgorithmIdentifierOwned;
use x509_cert::request::CertReq;

use super::x509::{rsa_key, X509};
use super::{
    cert_epr, handle_of, in_use_fault, key_epr, key_for, parse_stored, private_key, public_key,
    CERT_ID_PREFIX, KEY_ID_PREFIX, MAX_CERTIFICATES, MAX_KEYS,
};
use crate::firmware::setup::{b64, b64_decode, output};
use crate::firmware::{Env, Firmware};
use crate::state::{StoredCert, StoredKey};

/// The only key size `GenerateKeyPair` makes.
pub const KEY_BITS: usize = 2048;
/// Smallest RSA key firmware that rejects weak crypto accepts.
const MIN_BITS: usize = 2048;

/// `AddTrustedRootCertificate` (`trusted_root`) and `AddCertificate`.
pub(crate) fn add_certificate(
    fw: &mut Firmware,
    blob: Option<&str>,
    trusted_root: bool,
    env: &mut Env<'_>,
) -> ResponseBody {
    let (status, handle) = match check_certificate(fw, blob, trusted_root) {
        Err(status) => (status, None),
        Ok(cert) => {
            let handle = fw.state.alloc_handle();
            fw.state.certs.push(StoredCert {
                handle,
                der_b64: b64().encode(cert.der()),
                trusted_root,
            });
            let now = fw.device_time(env);
            let what = if trusted_root {
                "TLS trusted root certificate added"
            } else {
                "Certificate added"
            };
            fw.state.audit(now, format!("{what}: {}", cert.subject()));
            fw.changed();
            (PtStatus::Success, Some(handle))
        }
    };
    if trusted_root {
        output(AddTrustedRootCertificateOutput {
            created_certificate: handle.map(cert_epr),
            return_value: Some(status),
            ..Default::default()
        })
    } else {
        output(AddCertificateOutput {
            created_certificate: handle.map(cert_epr),
            return_value: Some(status),
            ..Default::default()
        })
    }
}

fn check_certificate(
    fw: &Firmware,
    blob: Option<&str>,
    trusted_root: bool,
) -> Result<X509, PtStatus> {
    let s = &fw.state;
    // Intel: a trusted root cannot be added while an interface requires mutual TLS.
    if trusted_root && (s.tls_remote.mutual_authentication || s.tls_local.mutual_authentication) {
        return Err(PtStatus::NotPermitted);
    }
    let der =
        b64_decode(blob.ok_or(PtStatus::InvalidParameter)?).ok_or(PtStatus::InvalidParameter)?;
    let cert = X509::parse(&der).ok_or(PtStatus::InvalidCert)?;
    let weak = cert.sha1_signed() || cert.rsa_bits().is_some_and(|b| b < MIN_BITS);
    if fw.persona.quirks.rejects_sha1 && weak {
        return Err(PtStatus::InvalidCert);
    }
    // The store holds certificates "as long as they are binary different".
    if s.certs
        .iter()
        .any(|c| b64_decode(&c.der_b64).as_deref() == Some(cert.der()))
    {
        return Err(PtStatus::Duplicate);
    }
    if s.certs.len() >= MAX_CERTIFICATES {
        return Err(PtStatus::MaxLimitReached);
    }
    Ok(cert)
}

fn store_key(fw: &mut Firmware, key: &PrivateKey) -> Result<u32, PtStatus> {
    let pkcs8 = key.to_pkcs8_der().map_err(|_| PtStatus::InternalError)?;
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|_| PtStatus::InternalError)?;
    let handle = fw.state.alloc_handle();
    fw.state.keys.push(StoredKey {
        handle,
        pkcs8_b64: b64().encode(pkcs8.as_bytes()),
        public_der_b64: b64().encode(public.as_bytes()),
    });
    fw.changed();
    Ok(handle)
}

/// `AddKey`: a PKCS#1 `RSAPrivateKey` pushed by the server (old firmware without
/// GenerateKeyPair).
pub(crate) fn add_key(fw: &mut Firmware, input: &AddKeyInput, env: &mut Env<'_>) -> ResponseBody {
    let result = (|| {
        let der = b64_decode(
            input
                .key_blob
                .as_deref()
                .ok_or(PtStatus::InvalidParameter)?,
        )
        .ok_or(PtStatus::InvalidParameter)?;
        let key = PrivateKey::from_pkcs1_der(&der).map_err(|_| PtStatus::InvalidKey)?;
        if key.size() * 8 < MIN_BITS && fw.persona.quirks.rejects_sha1 {
            return Err(PtStatus::InvalidKey);
        }
        let public = key.to_public_key();
        if fw
            .state
            .keys
            .iter()
            .any(|k| public_key(k).is_some_and(|p| p == public))
        {
            return Err(PtStatus::Duplicate);
        }
        if fw.state.keys.len() >= MAX_KEYS {
            return Err(PtStatus::MaxLimitReached);
        }
        store_key(fw, &key)
    })();
    let (status, handle) = match result {
        Ok(h) => {
            let now = fw.device_time(env);
            fw.state.audit(now, format!("Key added (handle {h})"));
            (PtStatus::Success, Some(h))
        }
        Err(e) => (e, None),
    };
    output(AddKeyOutput {
        created_key: handle.map(key_epr),
        return_value: Some(status),
        ..Default::default()
    })
}

/// `GenerateKeyPair`: RSA 2048 is the only valid combination.
pub(crate) fn generate_key_pair(
    fw: &mut Firmware,
    input: &GenerateKeyPairInput,
    env: &mut Env<'_>,
) -> ResponseBody {
    let result = if input.key_algorithm != Some(KeyAlgorithm::Rsa)
        || input.key_length != Some(KEY_BITS as u32)
    {
        Err(PtStatus::InvalidParameter)
    } else if fw.state.keys.len() >= MAX_KEYS {
        Err(PtStatus::MaxLimitReached)
    } else {
        pooled_key(fw)
            .map_or_else(
                || {
                    let mut rng = ChaCha20Rng::from_seed(env.bytes::<32>());
                    PrivateKey::new(&mut rng, KEY_BITS)
                },
                Ok,
            )
            .map_err(|_| PtStatus::InternalError)
            .and_then(|key| store_key(fw, &key))
    };
    let (status, handle) = match result {
        Ok(h) => {
            let now = fw.device_time(env);
            fw.state
                .audit(now, format!("Key pair generated (handle {h})"));
            (PtStatus::Success, Some(h))
        }
        Err(e) => (e, None),
    };
    output(GenerateKeyPairOutput {
        key_pair: handle.map(key_epr),
        return_value: Some(status),
        ..Default::default()
    })
}

/// A ready-made key from the firmware's key source: a 2048-bit RSA PKCS#8 key, else `None`
/// (no source, nothing ready, or unusable material — the caller then generates inline).
fn pooled_key(fw: &Firmware) -> Option<PrivateKey> {
    let der = fw.key_source()?.take_key()?;
    PrivateKey::from_pkcs8_der(&der)
        .ok()
        .filter(|k| k.size() * 8 == KEY_BITS)
}

/// `GeneratePKCS10RequestEx`: signs the console's null-signed request with a stored key. The
/// request must already carry that key's public key (consoles build it from `DERKey`); the
/// firmware only signs, with SHA-1, SHA-256 or SHA-384.
pub(crate) fn generate_pkcs10(fw: &Firmware, input: &GeneratePkcs10RequestExInput) -> ResponseBody {
    let (status, csr) = match sign_request(fw, input) {
        Ok(der) => (PtStatus::Success, Some(b64().encode(der))),
        Err(e) => (e, None),
    };
    output(GeneratePkcs10RequestExOutput {
        signed_certificate_request: csr,
        return_value: Some(status),
        ..Default::default()
    })
}

fn sign_request(fw: &Firmware, input: &GeneratePkcs10RequestExInput) -> Result<Vec<u8>, PtStatus> {
    let epr = input.key_pair.as_ref().ok_or(PtStatus::InvalidParameter)?;
    if epr
        .resource_uri
        .as_deref()
        .is_some_and(|u| amt_wsman::ns::class_of(u) != "AMT_PublicPrivateKeyPair")
    {
        return Err(PtStatus::InvalidParameter);
    }
    let handle = epr
        .selectors
        .get("InstanceID")
        .and_then(|id| handle_of(id, KEY_ID_PREFIX))
        .ok_or(PtStatus::InvalidHandle)?;
    let stored = fw
        .state
        .keys
        .iter()
        .find(|k| k.handle == handle)
        .ok_or(PtStatus::InvalidHandle)?;
    let key = private_key(stored).ok_or(PtStatus::InternalError)?;
    let algorithm = input.signing_algorithm.ok_or(PtStatus::InvalidParameter)?;
    let der = input
        .null_signed_certificate_request
        .as_deref()
        .and_then(b64_decode)
        .ok_or(PtStatus::InvalidParameter)?;
    let req = CertReq::from_der(&der).map_err(|_| PtStatus::InvalidParameter)?;
    if rsa_key(&req.info.public_key).as_ref() != Some(&key.to_public_key()) {
        return Err(PtStatus::InvalidParameter);
    }
    let info = req.info.to_der().map_err(|_| PtStatus::InvalidParameter)?;
    let (oid, signature) = match algorithm {
        CsrSigningAlgorithm::Sha1Rsa => (
            rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
            key.sign(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(&info)),
        ),
        CsrSigningAlgorithm::Sha256Rsa => (
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&info)),
        ),
        CsrSigningAlgorithm::Sha384Rsa => (
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            key.sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(&info)),
        ),
    };
    let signature = signature.map_err(|_| PtStatus::InternalError)?;
    CertReq {
        info: req.info,
        algorithm: AlgorithmIdentifierOwned {
            oid,
            parameters: Some(Any::null()),
        },
        signature: BitString::from_bytes(&signature).map_err(|_| PtStatus::InternalError)?,
    }
    .to_der()
    .map_err(|_| PtStatus::InternalError)
}

/// Delete `AMT_PublicKeyCertificate`: refused while the certificate is the TLS certificate.
pub(crate) fn delete_cert(
    fw: &mut Firmware,
    selectors: &SelectorSet,
    env: &mut Env<'_>,
) -> ResponseBody {
    let Some(handle) = selectors
        .get("InstanceID")
        .and_then(|id| handle_of(id, CERT_ID_PREFIX))
        .filter(|h| fw.state.certs.iter().any(|c| c.handle == *h))
    else {
        return ResponseBody::Fault(amt_wsman::Fault::invalid_selectors());
    };
    if fw.state.tls_cert_handle == Some(handle) {
        return in_use_fault("certificate");
    }
    fw.state.certs.retain(|c| c.handle != handle);
    let now = fw.device_time(env);
    fw.state
        .audit(now, format!("Certificate removed (handle {handle})"));
    fw.changed();
    ResponseBody::Delete(None)
}

/// Delete `AMT_PublicPrivateKeyPair`: refused while the TLS certificate uses the key.
pub(crate) fn delete_key(
    fw: &mut Firmware,
    selectors: &SelectorSet,
    env: &mut Env<'_>,
) -> ResponseBody {
    let Some(handle) = selectors
        .get("InstanceID")
        .and_then(|id| handle_of(id, KEY_ID_PREFIX))
        .filter(|h| fw.state.keys.iter().any(|k| k.handle == *h))
    else {
        return ResponseBody::Fault(amt_wsman::Fault::invalid_selectors());
    };
    let tls_key = fw
        .state
        .tls_cert_handle
        .and_then(|h| fw.state.certs.iter().find(|c| c.handle == h))
        .and_then(parse_stored)
        .and_then(|c| key_for(&fw.state.keys, &c).map(|k| k.handle));
    if tls_key == Some(handle) {
        return in_use_fault("key");
    }
    fw.state.keys.retain(|k| k.handle != handle);
    let now = fw.device_time(env);
    fw.state
        .audit(now, format!("Key removed (handle {handle})"));
    fw.changed();
    ResponseBody::Delete(None)
}
