//! A parsed certificate that keeps its original DER, with the accessors the profiles, chain
//! checks and trust files need, and signature verification (RSA PKCS#1 v1.5).

use std::time::SystemTime;

use const_oid::db::rfc4519;
use const_oid::ObjectIdentifier;
use der::asn1::BitString;
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, Tagged};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, PublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::error::{PkiError, Result};
use crate::hash::RootHashes;
use crate::serial::Serial;

/// A certificate: its DER as received or issued, and the decoded structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    der: Vec<u8>,
    parsed: Certificate,
}

impl Cert {
    /// Decode a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let parsed =
            Certificate::from_der(der).map_err(|e| PkiError::malformed("certificate", e))?;
        Ok(Cert {
            der: der.to_vec(),
            parsed,
        })
    }

    /// Decode the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let der = crate::pem::certificates(pem)?
            .into_iter()
            .next()
            .ok_or_else(|| PkiError::malformed("certificate", "no CERTIFICATE block in PEM"))?;
        Self::from_der(&der)
    }

    /// Every certificate in a PEM text, in order.
    pub fn all_from_pem(pem: &str) -> Result<Vec<Self>> {
        crate::pem::certificates(pem)?
            .iter()
            .map(|d| Self::from_der(d))
            .collect()
    }

    pub(crate) fn from_parsed(parsed: Certificate) -> Result<Self> {
        let der = parsed
            .to_der()
            .map_err(|e| PkiError::malformed("certificate", e))?;
        Ok(Cert { der, parsed })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM (`-----BEGIN CERTIFICATE-----`).
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    /// The decoded structure.
    pub fn parsed(&self) -> &Certificate {
        &self.parsed
    }

    /// Serial number.
    pub fn serial(&self) -> Serial {
        Serial::from_bytes(self.parsed.tbs_certificate().serial_number().as_bytes())
    }

    /// Subject, printed the way `openssl x509 -subject -nameopt oneline` does
    /// (`CN = a, CN = b, O = c`, in encoding order).
    pub fn subject(&self) -> String {
        display_name(self.parsed.tbs_certificate().subject())
    }

    /// Issuer, printed like [`Cert::subject`].
    pub fn issuer(&self) -> String {
        display_name(self.parsed.tbs_certificate().issuer())
    }

    /// The subject name structure.
    pub fn subject_name(&self) -> &Name {
        self.parsed.tbs_certificate().subject()
    }

    /// The issuer name structure.
    pub fn issuer_name(&self) -> &Name {
        self.parsed.tbs_certificate().issuer()
    }

    /// All values of one attribute in the subject (for example every CN), in order.
    pub fn subject_values(&self, oid: ObjectIdentifier) -> Vec<String> {
        name_values(self.subject_name(), oid)
    }

    /// Common names in the subject.
    pub fn common_names(&self) -> Vec<String> {
        self.subject_values(rfc4519::CN)
    }

    /// Organizational units in the subject.
    pub fn organizational_units(&self) -> Vec<String> {
        self.subject_values(rfc4519::OU)
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        self.parsed
            .tbs_certificate()
            .validity()
            .not_before
            .to_system_time()
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        self.parsed
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time()
    }

    /// Error unless `now` lies within the validity period.
    pub fn check_valid_at(&self, now: SystemTime) -> Result<()> {
        if now < self.not_before() || now > self.not_after() {
            let v = self.parsed.tbs_certificate().validity();
            return Err(PkiError::NotValidNow {
                subject: self.subject(),
                not_before: v.not_before.to_date_time().to_string(),
                not_after: v.not_after.to_date_time().to_string(),
            });
        }
        Ok(())
    }

    /// The subject public key.
    pub fn public_key_info(&self) -> &SubjectPublicKeyInfoOwned {
        self.parsed.tbs_certificate().subject_public_key_info()
    }

    /// Extended key usage OIDs (empty when the extension is absent or unreadable).
    pub fn extended_key_usages(&self) -> Vec<ObjectIdentifier> {
        match self
            .parsed
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>()
        {
            Ok(Some((_, eku))) => eku.0,
            _ => Vec::new(),
        }
    }

    /// DNS names in the subject alternative name extension.
    pub fn dns_names(&self) -> Vec<String> {
        match self
            .parsed
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
        {
            Ok(Some((_, san))) => san
                .0
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DnsName(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// IP addresses in the subject alternative name extension (entries of another length than
    /// 4 or 16 octets are skipped).
    pub fn ip_addresses(&self) -> Vec<std::net::IpAddr> {
        let Ok(Some((_, san))) = self
            .parsed
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
        else {
            return Vec::new();
        };
        san.0
            .iter()
            .filter_map(|g| match g {
                GeneralName::IpAddress(o) => match o.as_bytes().len() {
                    4 => <[u8; 4]>::try_from(o.as_bytes())
                        .ok()
                        .map(std::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(o.as_bytes())
                        .ok()
                        .map(std::net::IpAddr::from),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// URIs in the CRL distribution points extension.
    pub fn crl_distribution_points(&self) -> Vec<String> {
        let Ok(Some((_, dps))) = self
            .parsed
            .tbs_certificate()
            .get_extension::<CrlDistributionPoints>()
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for dp in dps.0 {
            if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                for n in names {
                    if let GeneralName::UniformResourceIdentifier(u) = n {
                        out.push(u.to_string());
                    }
                }
            }
        }
        out
    }

    /// Whether basicConstraints says this is a CA.
    pub fn is_ca(&self) -> bool {
        matches!(
            self.parsed.tbs_certificate().get_extension::<BasicConstraints>(),
            Ok(Some((_, bc))) if bc.ca
        )
    }

    /// The subject key identifier, if present.
    pub fn subject_key_id(&self) -> Option<Vec<u8>> {
        match self
            .parsed
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
        {
            Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// Whether subject and issuer are the same name and the certificate verifies with its own key.
    pub fn is_self_signed(&self) -> bool {
        self.subject_name() == self.issuer_name() && self.verify_signed_by(self).is_ok()
    }

    /// Check that `issuer` signed this certificate (names and signature).
    pub fn verify_signed_by(&self, issuer: &Cert) -> Result<()> {
        if self.issuer_name() != issuer.subject_name() {
            return Err(PkiError::IncompleteChain {
                reason: format!(
                    "{} was issued by {}, not by {}",
                    self.subject(),
                    self.issuer(),
                    issuer.subject()
                ),
            });
        }
        let tbs = first_element(&self.der, "certificate")?;
        verify_signature(
            "certificate",
            tbs,
            &self.parsed.signature_algorithm().clone(),
            self.parsed.signature(),
            issuer.public_key_info(),
        )
    }

    /// SHA-1, SHA-256 and SHA-384 of the DER (the root-hash forms AMT uses).
    pub fn hashes(&self) -> RootHashes {
        RootHashes::of_der(&self.der)
    }
}

/// Print a name like openssl's `oneline` form with `sep_comma_plus_space`: `CN = a, O = b`.
pub fn display_name(name: &Name) -> String {
    let mut rdns = Vec::new();
    for rdn in name.iter_rdn() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|atv| format!("{} = {}", short_name(&atv.oid), value_string(&atv.value)))
            .collect();
        rdns.push(parts.join(" + "));
    }
    rdns.join(", ")
}

fn short_name(oid: &ObjectIdentifier) -> String {
    let known = [
        (rfc4519::CN, "CN"),
        (rfc4519::O, "O"),
        (rfc4519::OU, "OU"),
        (rfc4519::C, "C"),
        (rfc4519::L, "L"),
        (rfc4519::ST, "ST"),
        (rfc4519::DC, "DC"),
        (rfc4519::SERIAL_NUMBER, "serialNumber"),
        (const_oid::db::rfc3280::EMAIL_ADDRESS, "emailAddress"),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| oid.to_string())
}

fn value_string(v: &der::asn1::Any) -> String {
    let bytes = v.value();
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => format!("#{}", hex::encode(bytes)),
    }
}

pub(crate) fn name_values(name: &Name, oid: ObjectIdentifier) -> Vec<String> {
    name.iter()
        .filter(|atv| atv.oid == oid)
        .map(|atv| value_string(&atv.value))
        .collect()
}

/// The raw TLV of the first element inside the outer SEQUENCE (the signed part of a
/// certificate, CSR or CRL), exactly as received.
pub(crate) fn first_element<'a>(der: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    let mut r = SliceReader::new(der).map_err(|e| PkiError::malformed(what, e))?;
    let outer = Header::decode(&mut r).map_err(|e| PkiError::malformed(what, e))?;
    if outer.tag() != Tag::Sequence {
        return Err(PkiError::malformed(what, "not a SEQUENCE"));
    }
    r.tlv_bytes().map_err(|e| PkiError::malformed(what, e))
}

/// Verify an RSA PKCS#1 v1.5 signature over `signed` with the key in `spki`.
pub(crate) fn verify_signature(
    what: &'static str,
    signed: &[u8],
    alg: &AlgorithmIdentifierOwned,
    signature: &BitString,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<()> {
    let spki_der = spki
        .to_der()
        .map_err(|e| PkiError::malformed("public key", e))?;
    let key =
        PublicKey::from_public_key_der(&spki_der).map_err(|_| PkiError::UnsupportedAlgorithm {
            what,
            oid: spki.algorithm.oid.to_string(),
        })?;
    let sig = signature
        .as_bytes()
        .ok_or_else(|| PkiError::malformed(what, "signature has unused bits"))?;
    use const_oid::db::rfc5912 as a;
    let res = match alg.oid {
        a::SHA_1_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha1>(), &Sha1::digest(signed), sig)
        }
        a::SHA_256_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(signed), sig)
        }
        a::SHA_384_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(signed), sig)
        }
        a::SHA_512_WITH_RSA_ENCRYPTION => {
            key.verify(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(signed), sig)
        }
        other => {
            return Err(PkiError::UnsupportedAlgorithm {
                what,
                oid: other.to_string(),
            })
        }
    };
    res.map_err(|_| PkiError::BadSignature { what })
}
