//! CRLs: building them for the embedded CAs, parsing and verifying anyone's, and reducing them
//! to the serial list a device takes with `AddCRL` (M10). AMT has no room for CRL files, so
//! the console pushes only serials relevant to the device's trust chain.

use std::collections::BTreeSet;
use std::time::SystemTime;

use der::asn1::{BitString, OctetString, Uint};
use der::referenced::OwnedToRef;
use der::{Decode, Encode};
use rand_core::CryptoRng;
use rsa::signature::RandomizedSigner;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber};
use x509_cert::ext::Extension;
use x509_cert::Version;

use crate::ca::{x509_time, Authority};
use crate::cert::{display_name, first_element, verify_signature, Cert};
use crate::error::{PkiError, Result};
use crate::ledger::RevocationReason;
use crate::profile::key_id;
use crate::serial::Serial;

/// One revoked certificate to list on a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSerial {
    /// Its serial.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why (`None` writes no reason code).
    pub reason: Option<RevocationReason>,
}

fn reason_ext(code: u32) -> Result<Option<Extension>> {
    let reason = match code {
        0 => return Ok(None),
        1 => CrlReason::KeyCompromise,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        _ => CrlReason::Unspecified,
    };
    let value = reason
        .to_der()
        .and_then(OctetString::new)
        .map_err(|e| PkiError::malformed("CRL", e))?;
    Ok(Some(Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_CRL_REASONS,
        critical: false,
        extn_value: value,
    }))
}

/// Build and sign a CRL for `ca` (DER). `number` must grow with each CRL the CA publishes.
pub fn build_crl<R: CryptoRng + ?Sized>(
    ca: &Authority,
    number: u64,
    this_update: SystemTime,
    next_update: SystemTime,
    revoked: &[RevokedSerial],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let m = |e: der::Error| PkiError::malformed("CRL", e);
    let signer = ca.key().signer();
    let alg: AlgorithmIdentifierOwned = signer
        .signature_algorithm_identifier()
        .map_err(|e| PkiError::malformed("CRL", e))?;
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let ext = match r.reason {
            Some(reason) => reason_ext(reason.crl_code())?,
            None => None,
        };
        entries.push(RevokedCert {
            serial_number: r.serial.to_x509()?,
            revocation_date: x509_time(r.revoked_at)?,
            crl_entry_extensions: ext.map(|e| vec![e]),
        });
    }
    let number_bytes = number.to_be_bytes();
    let crl_number = CrlNumber(Uint::new(&number_bytes).map_err(m)?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(
            OctetString::new(key_id(ca.cert().public_key_info().owned_to_ref())).map_err(m)?,
        ),
        ..Default::default()
    };
    let ext = |oid, v: Vec<u8>| -> Result<Extension> {
        Ok(Extension {
            extn_id: oid,
            critical: false,
            extn_value: OctetString::new(v).map_err(m)?,
        })
    };
    let tbs: TbsCertList = TbsCertList {
        version: Version::V2,
        signature: alg.clone(),
        issuer: ca.cert().subject_name().clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: Some(vec![
            ext(
                const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                aki.to_der().map_err(m)?,
            )?,
            ext(
                const_oid::db::rfc5280::ID_CE_CRL_NUMBER,
                crl_number.to_der().map_err(m)?,
            )?,
        ]),
    };
    let tbs_der = tbs.to_der().map_err(m)?;
    let sig: rsa::pkcs1v15::Signature = signer
        .try_sign_with_rng(rng, &tbs_der)
        .map_err(|e| PkiError::Rsa(e.to_string()))?;
    let sig_bytes: Box<[u8]> = sig.into();
    let list = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&sig_bytes).map_err(m)?,
    };
    list.to_der().map_err(m)
}

/// A parsed, not yet verified CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    parsed: CertificateList,
}

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlEntry {
    /// Serial of the revoked certificate.
    pub serial: Serial,
    /// Revocation time.
    pub revoked_at: SystemTime,
    /// RFC 5280 reason code, if given.
    pub reason_code: Option<u32>,
}

impl Crl {
    /// Parse DER.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let parsed = CertificateList::from_der(der).map_err(|e| PkiError::malformed("CRL", e))?;
        Ok(Crl {
            der: der.to_vec(),
            parsed,
        })
    }

    /// Parse DER, or PEM (`X509 CRL`) as some CAs publish it.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self> {
        if let Ok(text) = std::str::from_utf8(bytes) {
            if text.contains("-----BEGIN X509 CRL-----") {
                let block = crate::pem::blocks(text)?
                    .into_iter()
                    .find(|b| b.label == "X509 CRL")
                    .ok_or_else(|| PkiError::malformed("CRL", "no X509 CRL block"))?;
                return Self::from_der(&block.der);
            }
        }
        Self::from_der(bytes)
    }

    /// The DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM (`-----BEGIN X509 CRL-----`).
    pub fn to_pem(&self) -> String {
        crate::pem::encode("X509 CRL", &self.der)
    }

    /// Issuer as openssl prints it.
    pub fn issuer(&self) -> String {
        display_name(&self.parsed.tbs_cert_list.issuer)
    }

    /// `thisUpdate`.
    pub fn this_update(&self) -> SystemTime {
        self.parsed.tbs_cert_list.this_update.to_system_time()
    }

    /// `nextUpdate`, if present.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.parsed
            .tbs_cert_list
            .next_update
            .map(|t| t.to_system_time())
    }

    /// The CRL number extension, if present and at most 64 bits.
    pub fn number(&self) -> Option<u64> {
        let exts = self.parsed.tbs_cert_list.crl_extensions.as_ref()?;
        let e = exts
            .iter()
            .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_NUMBER)?;
        let n = CrlNumber::from_der(e.extn_value.as_bytes()).ok()?;
        let b = n.0.as_bytes();
        if b.len() > 8 {
            return None;
        }
        Some(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }

    /// The revoked entries.
    pub fn entries(&self) -> Vec<CrlEntry> {
        let Some(list) = &self.parsed.tbs_cert_list.revoked_certificates else {
            return Vec::new();
        };
        list.iter()
            .map(|r| CrlEntry {
                serial: Serial::from_bytes(r.serial_number.as_bytes()),
                revoked_at: r.revocation_date.to_system_time(),
                reason_code: r.crl_entry_extensions.as_ref().and_then(|exts| {
                    exts.iter()
                        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_REASONS)
                        .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok())
                        .map(|r| r as u32)
                }),
            })
            .collect()
    }

    /// Check that `ca` issued and signed this CRL.
    pub fn verify(self, ca: &Cert) -> Result<VerifiedCrl> {
        if &self.parsed.tbs_cert_list.issuer != ca.subject_name() {
            return Err(PkiError::CrlIssuerMismatch {
                crl_issuer: self.issuer(),
                ca: ca.subject(),
            });
        }
        let tbs = first_element(&self.der, "CRL")?;
        verify_signature(
            "CRL",
            tbs,
            &self.parsed.signature_algorithm,
            &self.parsed.signature,
            ca.public_key_info(),
        )?;
        Ok(VerifiedCrl {
            crl: self,
            ca: ca.clone(),
        })
    }
}

/// A CRL whose signature verified against the CA certificate it came with.
#[derive(Debug, Clone)]
pub struct VerifiedCrl {
    crl: Crl,
    ca: Cert,
}

impl VerifiedCrl {
    /// The CRL.
    pub fn crl(&self) -> &Crl {
        &self.crl
    }

    /// The CA that signed it.
    pub fn ca(&self) -> &Cert {
        &self.ca
    }

    /// Whether `now` is before `nextUpdate` (a CRL without one is always current).
    pub fn is_current(&self, now: SystemTime) -> bool {
        self.crl.next_update().is_none_or(|n| now <= n)
    }
}

/// The CA certificates a device's trust reaches: its trusted roots, plus every intermediate in
/// `intermediates` that chains up to one of them (signature-checked).
pub fn cas_trusted_by_device(trusted_roots: &[Cert], intermediates: &[Cert]) -> Vec<Cert> {
    let mut trusted: Vec<Cert> = trusted_roots.to_vec();
    let mut pending: Vec<&Cert> = intermediates.iter().filter(|c| c.is_ca()).collect();
    loop {
        let before = pending.len();
        pending.retain(|c| {
            let linked = trusted.iter().any(|t| c.verify_signed_by(t).is_ok());
            if linked && !trusted.iter().any(|t| t.der() == c.der()) {
                trusted.push((*c).clone());
            }
            !linked
        });
        if pending.len() == before {
            break;
        }
    }
    trusted
}

/// The serials a device should receive with `AddCRL`: entries of the verified CRLs whose
/// signing CA is one of `device_cas` (see [`cas_trusted_by_device`]). Sorted and without
/// duplicates. CRLs from other CAs are irrelevant to the device and dropped.
pub fn serials_for_device(crls: &[VerifiedCrl], device_cas: &[Cert]) -> Vec<Serial> {
    let mut out = BTreeSet::new();
    for v in crls {
        if device_cas.iter().any(|c| c.der() == v.ca.der()) {
            out.extend(v.crl.entries().into_iter().map(|e| e.serial));
        }
    }
    out.into_iter().collect()
}

/// The `SerialNumbers[]` argument of `AMT_PublicKeyManagementService.AddCRL`: each serial's
/// big-endian magnitude, base64-encoded.
pub fn addcrl_serials(serials: &[Serial]) -> Vec<String> {
    serials.iter().map(Serial::to_base64).collect()
}
