//! Who may connect over TLS with a client certificate, and the rustls verifiers enforcing it.
//!
//! - **Setup mode (D5)**: a provisioning server is admitted only when its chain ends in a root
//!   whose SHA-1/256/384 hash is in the device's trusted list (persona factory hashes plus
//!   configured extra hashes), the chain's signatures hold, the leaf carries the AMT setup OID
//!   2.16.840.1.113741.1.2.3 or the OU `Intel(R) Client Setup Certificate`, and a CN or SAN
//!   DNS name of the leaf belongs to the device's domain ([`domain_fits`]). A client without a
//!   certificate is let in unprivileged (no digest user exists yet, so it only ever sees 401).
//! - **Provisioned (D7)** with mutual TLS: the client chain must reach a root added with
//!   `AddTrustedRootCertificate`, the leaf must carry clientAuth 1.3.6.1.5.5.7.3.2 and the AMT
//!   console OID 2.16.840.1.113741.1.2.1, its serial must not be in a pushed CRL list, and its
//!   CN must be in `TrustedCN` when that list is set. A certificate is mandatory.
//!
//! Every refusal names its reason ([`Refusal`]); the verifiers log it with `tracing` and count
//! it, and the client sees a TLS alert.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use amt_pki::{oid, Cert, CertHash, Serial};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The OU that marks a provisioning certificate (alternative to the setup OID).
pub const SETUP_OU: &str = "Intel(R) Client Setup Certificate";

/// Why a client certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A certificate could not be parsed.
    #[error("certificate does not parse: {0}")]
    Unparsable(String),
    /// No certificate in the chain is a root whose hash the device trusts.
    #[error(
        "no certificate in the chain is a trusted root (last presented: SHA-256 {last_sha256})"
    )]
    UntrustedRoot {
        /// SHA-256 (hex) of the last presented certificate.
        last_sha256: String,
    },
    /// The chain does not verify up to the trusted root (signature, validity, constraints).
    #[error("chain does not verify: {0}")]
    BadChain(String),
    /// The provisioning leaf has neither the setup OID nor the setup OU.
    #[error("leaf has neither the AMT setup OID 2.16.840.1.113741.1.2.3 nor OU \"Intel(R) Client Setup Certificate\"")]
    NoSetupUsage,
    /// The device has no domain to compare against.
    #[error("device has no domain configured (or from DHCP option 15)")]
    NoDeviceDomain,
    /// No leaf name belongs to the device's domain.
    #[error("leaf names {names:?} do not match the device domain `{domain}`")]
    DomainMismatch {
        /// The leaf's CNs and SAN DNS names.
        names: Vec<String>,
        /// The device's domain.
        domain: String,
    },
    /// A console leaf lacks clientAuth or the AMT console OID.
    #[error("leaf lacks {0}")]
    MissingConsoleUsage(&'static str),
    /// The console leaf's serial is in a pushed CRL list.
    #[error("leaf serial {0} is revoked (pushed CRL)")]
    Revoked(String),
    /// The console leaf's CN is not in `TrustedCN`.
    #[error("leaf CN {0:?} is not in TrustedCN")]
    CnNotTrusted(Vec<String>),
}

/// Setup-mode admission rules of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningPolicy {
    /// Trusted root hashes.
    pub trusted: Vec<CertHash>,
    /// The device domain (configured or DHCP option 15); empty when unknown.
    pub domain: String,
}

/// Mutual-TLS rules of a provisioned device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolePolicy {
    /// Trusted roots (DER), from `AddTrustedRootCertificate`.
    pub roots: Vec<Vec<u8>>,
    /// Revoked serials from the pushed CRL lists.
    pub revoked: Vec<Serial>,
    /// `TrustedCN` (empty: any CN).
    pub trusted_cn: Vec<String>,
}

/// Counters of admission decisions, shared by a fleet.
#[derive(Debug, Default)]
pub struct AdmissionCounters {
    /// Clients admitted.
    pub admitted: AtomicU64,
    /// Clients refused.
    pub refused: AtomicU64,
}

/// True when `name` (a certificate CN or SAN, `*.` allowed) belongs to `domain`: the name's
/// domain part (the name without its first label), or the name itself, equals `domain` or is
/// a parent domain of it. `prov.amt.test` and `*.amt.test` fit devices in `amt.test` and
/// `eng.amt.test`; they do not fit `other.test` or `xamt.test`.
pub fn domain_fits(name: &str, domain: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (name, domain) = (norm(name), norm(domain));
    if name.is_empty() || domain.is_empty() {
        return false;
    }
    let suffix_of = |parent: &str| domain == parent || domain.ends_with(&format!(".{parent}"));
    let parent = name.split_once('.').map(|(_, rest)| rest).unwrap_or("");
    (!parent.is_empty() && parent.contains('.') && suffix_of(parent))
        || (!name.starts_with("*.") && suffix_of(&name))
}

fn parse_chain(end_entity: &[u8], intermediates: &[&[u8]]) -> Result<Vec<Cert>, Refusal> {
    std::iter::once(end_entity)
        .chain(intermediates.iter().copied())
        .map(|der| Cert::from_der(der).map_err(|e| Refusal::Unparsable(e.to_string())))
        .collect()
}

/// Accepts any EKU: the AMT usage rules are checked separately (with better reasons).
struct AnyEku;

impl webpki::ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Verifies that the chain links `end_entity` to one of `anchors` (signatures, validity,
/// CA constraints).
fn verify_path(
    provider: &CryptoProvider,
    end_entity: &[u8],
    intermediates: &[&[u8]],
    anchors: &[CertificateDer<'static>],
    now: UnixTime,
) -> Result<(), Refusal> {
    let bad = |e: webpki::Error| Refusal::BadChain(format!("{e:?}"));
    let ee_der = CertificateDer::from(end_entity);
    let ee = webpki::EndEntityCert::try_from(&ee_der).map_err(bad)?;
    let anchors: Vec<_> = anchors
        .iter()
        .filter_map(|a| webpki::anchor_from_trusted_cert(a).ok())
        .collect();
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|d| CertificateDer::from(*d))
        .collect();
    ee.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &anchors,
        &inter,
        now,
        AnyEku,
        None,
        None,
    )
    .map(|_| ())
    .map_err(bad)
}

/// Applies the setup-mode rules; returns the leaf's first CN (or DNS name) on admission.
///
/// # Errors
/// The first rule the chain breaks.
pub fn admit_provisioning(
    policy: &ProvisioningPolicy,
    provider: &CryptoProvider,
    end_entity: &[u8],
    intermediates: &[&[u8]],
    now: UnixTime,
) -> Result<String, Refusal> {
    let chain = parse_chain(end_entity, intermediates)?;
    let mut anchors = Vec::new();
    for c in &chain {
        // A root (subject = issuer) whose hash the device trusts. Its own signature needs no
        // check: the hash is the trust; webpki verifies every signature below it.
        if c.subject_name() == c.issuer_name() && c.hashes().find_in(&policy.trusted).is_some() {
            anchors.push(CertificateDer::from(c.der().to_vec()));
        }
    }
    if anchors.is_empty() {
        let last = chain
            .last()
            .map(|c| c.hashes().sha256.to_hex())
            .unwrap_or_default();
        return Err(Refusal::UntrustedRoot { last_sha256: last });
    }
    verify_path(provider, end_entity, intermediates, &anchors, now)?;
    let leaf = chain
        .first()
        .ok_or(Refusal::BadChain("empty chain".into()))?;
    let has_oid = leaf.extended_key_usages().contains(&oid::AMT_SETUP_USAGE);
    let has_ou = leaf.organizational_units().iter().any(|ou| ou == SETUP_OU);
    if !has_oid && !has_ou {
        return Err(Refusal::NoSetupUsage);
    }
    if policy.domain.is_empty() {
        return Err(Refusal::NoDeviceDomain);
    }
    let names: Vec<String> = leaf
        .common_names()
        .into_iter()
        .chain(leaf.dns_names())
        .collect();
    if !names.iter().any(|n| domain_fits(n, &policy.domain)) {
        return Err(Refusal::DomainMismatch {
            names,
            domain: policy.domain.clone(),
        });
    }
    Ok(names.into_iter().next().unwrap_or_default())
}

/// Applies the mutual-TLS console rules; returns the leaf's first CN on admission.
///
/// # Errors
/// The first rule the chain breaks.
pub fn admit_console(
    policy: &ConsolePolicy,
    provider: &CryptoProvider,
    end_entity: &[u8],
    intermediates: &[&[u8]],
    now: UnixTime,
) -> Result<String, Refusal> {
    let chain = parse_chain(end_entity, intermediates)?;
    let anchors: Vec<_> = policy
        .roots
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    if anchors.is_empty() {
        let last = chain
            .last()
            .map(|c| c.hashes().sha256.to_hex())
            .unwrap_or_default();
        return Err(Refusal::UntrustedRoot { last_sha256: last });
    }
    verify_path(provider, end_entity, intermediates, &anchors, now)?;
    let leaf = chain
        .first()
        .ok_or(Refusal::BadChain("empty chain".into()))?;
    let ekus = leaf.extended_key_usages();
    if !ekus.contains(&oid::CLIENT_AUTH) {
        return Err(Refusal::MissingConsoleUsage(
            "clientAuth (1.3.6.1.5.5.7.3.2)",
        ));
    }
    if !ekus.contains(&oid::AMT_CONSOLE_USAGE) {
        return Err(Refusal::MissingConsoleUsage(
            "the AMT console OID (2.16.840.1.113741.1.2.1)",
        ));
    }
    let serial = leaf.serial();
    if policy.revoked.contains(&serial) {
        return Err(Refusal::Revoked(serial.to_string()));
    }
    let cns = leaf.common_names();
    if !policy.trusted_cn.is_empty()
        && !cns
            .iter()
            .any(|cn| policy.trusted_cn.iter().any(|t| t.eq_ignore_ascii_case(cn)))
    {
        return Err(Refusal::CnNotTrusted(cns));
    }
    Ok(cns.into_iter().next().unwrap_or_default())
}

/// Which rules a [`DeviceClientVerifier`] applies.
#[derive(Debug, Clone)]
pub enum VerifierRules {
    /// Setup mode: optional certificate, provisioning rules.
    Provisioning(ProvisioningPolicy),
    /// Provisioned with mutual TLS: mandatory certificate, console rules.
    Console(ConsolePolicy),
}

/// The rustls client-certificate verifier of one device.
#[derive(Debug)]
pub struct DeviceClientVerifier {
    rules: VerifierRules,
    provider: Arc<CryptoProvider>,
    counters: Arc<AdmissionCounters>,
    device: String,
}

impl DeviceClientVerifier {
    /// A verifier applying `rules` for the device named `device` (used in logs).
    pub fn new(
        rules: VerifierRules,
        provider: Arc<CryptoProvider>,
        counters: Arc<AdmissionCounters>,
        device: String,
    ) -> Self {
        DeviceClientVerifier {
            rules,
            provider,
            counters,
            device,
        }
    }

    /// Applies the rules (also used after the handshake to learn the admitted CN).
    ///
    /// # Errors
    /// The [`Refusal`].
    pub fn check(
        &self,
        end_entity: &[u8],
        intermediates: &[&[u8]],
        now: UnixTime,
    ) -> Result<String, Refusal> {
        match &self.rules {
            VerifierRules::Provisioning(p) => {
                admit_provisioning(p, &self.provider, end_entity, intermediates, now)
            }
            VerifierRules::Console(p) => {
                admit_console(p, &self.provider, end_entity, intermediates, now)
            }
        }
    }
}

impl ClientCertVerifier for DeviceClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        matches!(self.rules, VerifierRules::Console(_))
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let inter: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
        match self.check(end_entity.as_ref(), &inter, now) {
            Ok(cn) => {
                self.counters.admitted.fetch_add(1, Ordering::Relaxed);
                tracing::info!(device = %self.device, client_cn = %cn, "TLS client certificate admitted");
                Ok(ClientCertVerified::assertion())
            }
            Err(reason) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(device = %self.device, %reason, "TLS client certificate refused");
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_suffix_rules() {
        assert!(domain_fits("prov.amt.test", "amt.test"));
        assert!(domain_fits("*.amt.test", "amt.test"));
        assert!(domain_fits("prov.amt.test", "eng.amt.test"));
        assert!(domain_fits("PROV.AMT.TEST.", "amt.test"));
        assert!(domain_fits("amt.test", "amt.test"));
        assert!(!domain_fits("prov.other.test", "amt.test"));
        assert!(!domain_fits("prov.xamt.test", "amt.test"));
        assert!(!domain_fits("prov.eng.amt.test", "amt.test"));
        assert!(!domain_fits("prov", "amt.test"));
        assert!(!domain_fits("prov.test", "amt.test"));
        assert!(!domain_fits("prov.amt.test", ""));
    }
}
