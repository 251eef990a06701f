//! PKCS#12 (PFX): writing a certificate with its key for consoles (M8 mutual-TLS bundle), and
//! reading purchased provisioning certificates.
//!
//! Written files use what OpenSSL 3 writes by default: the key in a PBES2 shrouded key bag
//! (PBKDF2-HMAC-SHA256, AES-256-CBC), certificates in a plain data safe, and an HMAC-SHA256
//! MAC with the PKCS#12 key derivation. Salts and IVs come from the caller's RNG.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BmpString, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence, Tag};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

use crate::cert::Cert;
use crate::error::{PkiError, Result};
use crate::key::RsaKey;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Iterations for the key encryption and the MAC (OpenSSL's default is 2048).
pub const PFX_ITERATIONS: u32 = 10_000;

#[derive(Sequence)]
struct ContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: Any,
}

#[derive(Sequence)]
struct SafeBag {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    bag_attributes: Option<SetOfVec<Attribute>>,
}

#[derive(Sequence)]
struct CertBag {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

#[derive(Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

#[derive(Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    iterations: u32,
}

#[derive(Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    mac_data: MacData,
}

fn m(e: impl std::fmt::Display) -> PkiError {
    PkiError::malformed("PKCS#12", e)
}

fn data_content(inner: &[u8]) -> Result<ContentInfo> {
    let octets = OctetString::new(inner).map_err(m)?;
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&octets).map_err(m)?,
    })
}

fn attributes(friendly_name: Option<&str>, key_id: Option<&[u8]>) -> Result<SetOfVec<Attribute>> {
    let mut set = SetOfVec::new();
    if let Some(name) = friendly_name {
        let bmp = BmpString::from_utf8(name).map_err(m)?;
        let mut values = SetOfVec::new();
        values
            .insert(Any::encode_from(&bmp).map_err(m)?)
            .map_err(m)?;
        set.insert(Attribute {
            oid: FRIENDLY_NAME,
            values,
        })
        .map_err(m)?;
    }
    if let Some(id) = key_id {
        let mut values = SetOfVec::new();
        values
            .insert(Any::new(Tag::OctetString, id).map_err(m)?)
            .map_err(m)?;
        set.insert(Attribute {
            oid: LOCAL_KEY_ID,
            values,
        })
        .map_err(m)?;
    }
    Ok(set)
}

/// Write a PKCS#12 file holding `key`, its certificate `cert` and any `chain` certificates
/// (in the given order after the leaf), protected by `password`.
pub fn write_pfx<R: CryptoRng + ?Sized>(
    cert: &Cert,
    key: &RsaKey,
    chain: &[Cert],
    friendly_name: &str,
    password: &str,
    rng: &mut R,
) -> Result<Vec<u8>> {
    if !key.matches(cert.public_key_info()) {
        return Err(PkiError::KeyMismatch {
            subject: cert.subject(),
        });
    }
    // localKeyId: SHA-1 of the certificate, as OpenSSL does.
    let key_id = crate::hash::HashAlgorithm::Sha1.digest(cert.der());

    // Certificates, in a plain data safe.
    let mut cert_bags = Vec::new();
    for (i, c) in std::iter::once(cert).chain(chain.iter()).enumerate() {
        let bag = CertBag {
            cert_id: X509_CERTIFICATE,
            cert_value: OctetString::new(c.der()).map_err(m)?,
        };
        let attrs = if i == 0 {
            Some(attributes(Some(friendly_name), Some(&key_id))?)
        } else {
            None
        };
        cert_bags.push(SafeBag {
            bag_id: CERT_BAG,
            bag_value: Any::encode_from(&bag).map_err(m)?,
            bag_attributes: attrs,
        });
    }
    let certs_safe = data_content(&cert_bags.to_der().map_err(m)?)?;

    // The key, PBES2-encrypted.
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut iv);
    let params =
        pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PFX_ITERATIONS, &salt, iv)
            .map_err(m)?;
    let pkcs8 = key.to_pkcs8_der()?;
    let encrypted = pkcs8::PrivateKeyInfoRef::from_der(&pkcs8)
        .map_err(m)?
        .encrypt_with_params(params, password)
        .map_err(m)?;
    let key_bag = SafeBag {
        bag_id: SHROUDED_KEY_BAG,
        bag_value: Any::from_der(encrypted.as_bytes()).map_err(m)?,
        bag_attributes: Some(attributes(Some(friendly_name), Some(&key_id))?),
    };
    let key_safe = data_content(&vec![key_bag].to_der().map_err(m)?)?;

    let auth_safe_der = vec![certs_safe, key_safe].to_der().map_err(m)?;

    // MAC over the AuthenticatedSafe encoding.
    let mut mac_salt = [0u8; 16];
    rng.fill_bytes(&mut mac_salt);
    let mac_key = Zeroizing::new(
        pkcs12::kdf::derive_key_utf8::<Sha256>(
            password,
            &mac_salt,
            pkcs12::kdf::Pkcs12KeyType::Mac,
            PFX_ITERATIONS as i32,
            32,
        )
        .map_err(m)?,
    );
    let mut hmac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).map_err(m)?;
    hmac.update(&auth_safe_der);
    let digest = hmac.finalize().into_bytes();

    let pfx = Pfx {
        version: 3,
        auth_safe: data_content(&auth_safe_der)?,
        mac_data: MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: SHA256,
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(digest.as_slice()).map_err(m)?,
            },
            mac_salt: OctetString::new(mac_salt.as_slice()).map_err(m)?,
            iterations: PFX_ITERATIONS,
        },
    };
    pfx.to_der().map_err(m)
}

/// The contents of a PKCS#12 file: its private keys and certificates (in file order).
#[derive(Debug)]
pub struct PfxContents {
    /// Private keys (RSA only).
    pub keys: Vec<RsaKey>,
    /// Certificates.
    pub certs: Vec<Cert>,
}

/// Open a PKCS#12 file (PBES2 or the legacy 3DES/RC2 PBEs), verifying its MAC.
pub fn read_pfx(data: &[u8], password: &str) -> Result<PfxContents> {
    let archive =
        p12_keystore::Pkcs12Archive::from_pkcs12(data, password).map_err(|e| PkiError::Pkcs12 {
            detail: e.to_string(),
        })?;
    let keys = archive
        .keys
        .iter()
        .map(|k| RsaKey::from_pkcs8_der(k.key.as_der()))
        .collect::<Result<Vec<_>>>()?;
    let certs = archive
        .certs
        .iter()
        .map(|c| Cert::from_der(c.cert.as_der()))
        .collect::<Result<Vec<_>>>()?;
    Ok(PfxContents { keys, certs })
}
