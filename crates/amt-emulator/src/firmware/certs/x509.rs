//! Just enough X.509 for the firmware: parse a certificate, check an RSA PKCS#1 v1.5 signature,
//! read the AMT setup markers and names. The device's own code (not the server's `amt-pki`), so
//! the two sides check each other in the simulation tests.

use const_oid::db::{rfc4519, rfc5912};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, Tagged};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, PublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::Certificate;

/// The AMT "setup and configuration" EKU a provisioning certificate carries (AMT-PROTOCOLS §1.5).
pub(crate) const SETUP_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113741.1.2.3");
/// The OU Intel documents as the alternative to [`SETUP_OID`].
pub(crate) const SETUP_OU: &str = "Intel(R) Client Setup Certificate";

/// A parsed certificate with its DER as received.
#[derive(Clone, Debug)]
pub(crate) struct X509 {
    der: Vec<u8>,
    cert: Certificate,
}

impl X509 {
    /// Parses DER (no trailing bytes); `None` when it is not a certificate.
    pub(crate) fn parse(der: &[u8]) -> Option<X509> {
        let cert = Certificate::from_der(der).ok()?;
        Some(X509 {
            der: der.to_vec(),
            cert,
        })
    }

    /// The DER bytes.
    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    /// Subject as AMT prints it (`C=…,O=…,CN=…`: RFC 4514, last RDN first).
    pub(crate) fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// Issuer, printed like [`X509::subject`].
    pub(crate) fn issuer(&self) -> String {
        self.cert.tbs_certificate().issuer().to_string()
    }

    fn subject_name(&self) -> &Name {
        self.cert.tbs_certificate().subject()
    }

    /// The subject public key.
    pub(crate) fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        self.cert.tbs_certificate().subject_public_key_info()
    }

    /// SHA-256 of the DER: the form of the trusted root hashes.
    pub(crate) fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// RSA modulus size in bits, `None` for a non-RSA key.
    pub(crate) fn rsa_bits(&self) -> Option<usize> {
        rsa_key(self.spki()).map(|k| k.size() * 8)
    }

    /// Whether the signature algorithm is SHA-1 with RSA.
    pub(crate) fn sha1_signed(&self) -> bool {
        self.cert.signature_algorithm().oid == rfc5912::SHA_1_WITH_RSA_ENCRYPTION
    }

    /// Whether `issuer` signed this certificate: issuer name equals the issuer's subject and the
    /// signature verifies with the issuer's key.
    pub(crate) fn signed_by(&self, issuer: &X509) -> bool {
        if self.cert.tbs_certificate().issuer() != issuer.subject_name() {
            return false;
        }
        let Some(tbs) = first_element(&self.der) else {
            return false;
        };
        let Some(sig) = self.cert.signature().as_bytes() else {
            return false;
        };
        verify_pkcs1(
            issuer.spki(),
            &self.cert.signature_algorithm().oid,
            tbs,
            sig,
        )
    }

    /// Self-issued and verifying with its own key.
    pub(crate) fn self_signed(&self) -> bool {
        self.signed_by(self)
    }

    /// Whether the certificate carries the AMT setup EKU or the setup OU.
    pub(crate) fn has_setup_marker(&self) -> bool {
        let eku = matches!(
            self.cert.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
            Ok(Some((_, e))) if e.0.contains(&SETUP_OID)
        );
        eku || name_values(self.subject_name(), rfc4519::OU)
            .iter()
            .any(|ou| ou == SETUP_OU)
    }

    /// Subject common names and SAN DNS names, lower-cased.
    pub(crate) fn dns_names(&self) -> Vec<String> {
        let mut out: Vec<String> = name_values(self.subject_name(), rfc4519::CN)
            .into_iter()
            .map(|n| n.to_ascii_lowercase())
            .collect();
        if let Ok(Some((_, san))) = self
            .cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
        {
            for g in san.0 {
                if let GeneralName::DnsName(n) = g {
                    out.push(n.to_string().to_ascii_lowercase());
                }
            }
        }
        out
    }

    /// Whether `unix_secs` lies in the validity period.
    pub(crate) fn valid_at(&self, unix_secs: u64) -> bool {
        let v = self.cert.tbs_certificate().validity();
        let nb = v.not_before.to_unix_duration().as_secs();
        let na = v.not_after.to_unix_duration().as_secs();
        nb <= unix_secs && unix_secs <= na
    }
}

/// The RSA public key in a `SubjectPublicKeyInfo`.
pub(crate) fn rsa_key(spki: &SubjectPublicKeyInfoOwned) -> Option<PublicKey> {
    let der = spki.to_der().ok()?;
    PublicKey::from_public_key_der(&der).ok()
}

/// Verifies an RSA PKCS#1 v1.5 signature over `signed` made with the algorithm `alg`.
pub(crate) fn verify_pkcs1(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &ObjectIdentifier,
    signed: &[u8],
    sig: &[u8],
) -> bool {
    let Some(key) = rsa_key(spki) else {
        return false;
    };
    let res = match *alg {
        rfc5912::SHA_1_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(signed), sig)
        }
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(signed), sig)
        }
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(signed), sig)
        }
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(signed), sig)
        }
        _ => return false,
    };
    res.is_ok()
}

/// The raw TLV of the first element inside the outer SEQUENCE (the signed part of a
/// certificate or request), exactly as received.
pub(crate) fn first_element(der: &[u8]) -> Option<&[u8]> {
    let mut r = SliceReader::new(der).ok()?;
    let outer = Header::decode(&mut r).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    r.tlv_bytes().ok()
}

fn name_values(name: &Name, oid: ObjectIdentifier) -> Vec<String> {
    name.iter()
        .filter(|atv| atv.oid == oid)
        .filter_map(|atv| match atv.value.tag() {
            Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
                std::str::from_utf8(atv.value.value())
                    .ok()
                    .map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}
