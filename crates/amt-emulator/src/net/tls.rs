//! TLS identities and rustls server configurations of a device (ring provider only).
//!
//! - Setup mode: a self-signed RSA-2048 certificate ([`generate_setup_identity`]). RSA key
//!   generation is slow, so a device makes its identity on its first TLS connection (never at
//!   start-up) and keeps it in the state directory. The key normally comes ready-made from
//!   the fleet's [`crate::keypool::KeyPool`] ([`generate_setup_identity_with_key`]).
//! - Provisioned: the certificate the provisioning server installed
//!   (`AMT_TLSCredentialContext` → `AMT_PublicKeyCertificate`) with the key pair the firmware
//!   holds for it, plus stored intermediates (`Firmware::tls_identity`).
//! - TLS 1.2 always; TLS 1.3 when the persona speaks it. rustls offers ECDHE + AEAD suites only.

use std::sync::{Arc, OnceLock};

use amt_pki::RsaKey;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::ServerConfig;

use crate::persona::{Persona, TlsVersions};
use crate::state::DeviceConfig;

/// A certificate chain and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// Leaf first, then intermediates (DER).
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER of the leaf's private key.
    pub key_pkcs8: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("chain_len", &self.chain.len())
            .field("key_pkcs8", &"[REDACTED]")
            .finish()
    }
}

/// Why a TLS identity or configuration could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// No certificate with a key pair is bound to TLS.
    #[error("no TLS certificate (with its key pair) is installed")]
    NoCertificate,
    /// Stored material does not decode.
    #[error("stored TLS material is unreadable: {0}")]
    Unreadable(String),
    /// Key generation or certificate signing failed.
    #[error("could not make the self-signed certificate: {0}")]
    Generate(String),
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

/// The process-wide ring crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The name a device's self-signed certificate carries: its FQDN, else its host name, else
/// its UUID.
fn device_name(config: &DeviceConfig) -> String {
    match (config.hostname.as_str(), config.domain.as_str()) {
        ("", _) => config.uuid.clone(),
        (h, "") => h.to_owned(),
        (h, d) => format!("{h}.{d}"),
    }
}

/// Makes the setup-mode identity: an RSA-2048 key and a self-signed serverAuth certificate
/// naming the device. Slow (RSA key generation): call it off the async executor.
///
/// # Errors
/// [`TlsError::Generate`].
pub fn generate_setup_identity(config: &DeviceConfig) -> Result<Identity, TlsError> {
    generate_setup_identity_with_key(config, None)
}

/// [`generate_setup_identity`] with a ready-made RSA-2048 key (PKCS#8 DER, e.g. from the key
/// pool) for the certificate. A key that is absent, unreadable or not 2048 bits is replaced
/// by a freshly generated one. Still signs (fast), so call it off the async executor.
///
/// # Errors
/// [`TlsError::Generate`].
pub fn generate_setup_identity_with_key(
    config: &DeviceConfig,
    pkcs8: Option<Vec<u8>>,
) -> Result<Identity, TlsError> {
    let gen = |e: &dyn std::fmt::Display| TlsError::Generate(e.to_string());
    let ready = pkcs8.filter(|der| RsaKey::from_pkcs8_der(der).is_ok_and(|k| k.bits() == 2048));
    let pkcs8 = match ready {
        Some(der) => der,
        None => {
            let key = RsaKey::generate(&mut rand::rng(), 2048).map_err(|e| gen(&e))?;
            key.to_pkcs8_der().map_err(|e| gen(&e))?.to_vec()
        }
    };
    let kp = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.as_slice()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| gen(&e))?;
    let name = device_name(config);
    let mut params = rcgen::CertificateParams::new(vec![name.clone()]).map_err(|e| gen(&e))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, name);
    dn.push(
        rcgen::DnType::OrganizationName,
        "Intel(R) Active Management Technology",
    );
    dn.push(
        rcgen::DnType::OrganizationalUnitName,
        "Setup mode (emulated)",
    );
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let mut serial = [0u8; 16];
    crate::net::random_fill(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 1;
    params.serial_number = Some(rcgen::SerialNumber::from(serial.to_vec()));
    let cert = params.self_signed(&kp).map_err(|e| gen(&e))?;
    Ok(Identity {
        chain: vec![cert.der().to_vec()],
        key_pkcs8: pkcs8,
    })
}

/// A rustls server configuration serving `identity`, with `verifier` deciding on client
/// certificates (`None`: none asked for), speaking the persona's TLS versions.
///
/// # Errors
/// [`TlsError::Config`].
pub fn server_config(
    identity: &Identity,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    persona: &Persona,
) -> Result<Arc<ServerConfig>, TlsError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match persona.tls {
        TlsVersions::Tls12 => &[&rustls::version::TLS12],
        TlsVersions::Tls12And13 => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let cfg = |e: rustls::Error| TlsError::Config(e.to_string());
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(cfg)?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let chain: Vec<CertificateDer<'static>> = identity
        .chain
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_pkcs8.clone()));
    let mut config = builder.with_single_cert(chain, key).map_err(cfg)?;
    // One session cache entry per client is plenty for a device; keep memory small.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(32);
    Ok(Arc::new(config))
}
