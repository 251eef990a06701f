//! TLS options for port 16993 and the rustls client configuration built from them.
//!
//! Only the `ring` provider is used, and only TLS 1.2 and 1.3 (rustls implements no older
//! version and no static-RSA or CBC suites, so AMT firmware that offers nothing else cannot be
//! reached over TLS from here).

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::transport::error::TransportError;

/// How a device's TLS server certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerVerification {
    /// Full WebPKI verification: the chain must lead to one of these roots, be valid now, carry
    /// serverAuth and name the device. The name checked is [`TlsOptions::server_name`], or the
    /// endpoint's host when that is unset, so set it to the device's FQDN when connecting by
    /// IP address. This is the mode for provisioned devices whose certificate we issued.
    RootCerts(Vec<CertificateDer<'static>>),

    /// Accept exactly the certificate whose DER encoding has this SHA-256 digest, whatever
    /// its issuer, dates or names. The handshake signature is still verified, so the peer must
    /// hold the certificate's private key. For devices whose self-signed certificate was
    /// recorded earlier (trust on first use).
    PinnedSha256(CertFingerprint),

    /// Accept **any** certificate: no chain, name, date or pin check (the handshake signature
    /// is still verified against the presented certificate, which proves nothing about who
    /// the device is). **Only** for the first contact with a device in setup mode, whose
    /// certificate is self-signed and unknown; record its fingerprint then and switch to
    /// [`ServerVerification::PinnedSha256`] or [`ServerVerification::RootCerts`]. Anyone on the
    /// path can impersonate the device in this mode.
    InsecureAcceptAny,
}

/// A SHA-256 digest of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint([u8; 32]);

impl CertFingerprint {
    /// Wraps a digest computed elsewhere.
    pub const fn from_bytes(digest: [u8; 32]) -> Self {
        CertFingerprint(digest)
    }

    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(certificate_der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, certificate_der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        CertFingerprint(bytes)
    }

    /// Parses 64 hex digits, optionally separated by `:` (as `openssl x509 -fingerprint`
    /// prints them), in either case. `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let digits: String = text.chars().filter(|&c| c != ':').collect();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits.trim(), &mut bytes).ok()?;
        Some(CertFingerprint(bytes))
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CertFingerprint {
    /// 64 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

/// A client certificate chain and its private key, presented when the device asks for one
/// (mutual TLS, or the provisioning certificate used as TLS client certificate).
///
/// `Debug` never prints the key.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl ClientIdentity {
    /// `chain` starts with the end-entity certificate; `key` is its PKCS#8, PKCS#1 or SEC1 key.
    /// Whether they fit together is checked when the connection is created.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        ClientIdentity { chain, key }
    }

    /// The certificate chain, end-entity first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain_len", &self.chain.len())
            .field(
                "leaf_sha256",
                &self.chain.first().map(|c| CertFingerprint::of_der(c)),
            )
            .field("key", &"<redacted>")
            .finish()
    }
}

/// TLS settings for an HTTPS (16993) endpoint.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// How the device's certificate is checked.
    pub verification: ServerVerification,
    /// The name sent as SNI and checked by [`ServerVerification::RootCerts`]; the endpoint's
    /// host when `None`. A DNS name or an IP address.
    pub server_name: Option<String>,
    /// The client certificate to present when the device requests one.
    pub client_identity: Option<ClientIdentity>,
}

impl TlsOptions {
    /// Options with this verification, no server-name override and no client certificate.
    pub fn new(verification: ServerVerification) -> Self {
        TlsOptions {
            verification,
            server_name: None,
            client_identity: None,
        }
    }

    /// Sets the name to verify (and send as SNI), typically the device's FQDN.
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Sets the client certificate chain and key.
    pub fn with_client_identity(mut self, identity: ClientIdentity) -> Self {
        self.client_identity = Some(identity);
        self
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls client configuration and the server name for a connection to `host`.
pub(crate) fn client_config(
    options: &TlsOptions,
    host: &str,
) -> Result<(Arc<ClientConfig>, ServerName<'static>), TransportError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| TransportError::TlsConfig { source })?;

    let builder = match &options.verification {
        ServerVerification::RootCerts(roots) => {
            let mut store = RootCertStore::empty();
            for root in roots {
                store
                    .add(root.clone())
                    .map_err(|source| TransportError::TlsConfig { source })?;
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                .build()
                .map_err(|e| TransportError::TlsConfig {
                    source: rustls::Error::General(e.to_string()),
                })?;
            builder.with_webpki_verifier(verifier)
        }
        ServerVerification::PinnedSha256(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoChainVerifier {
                pin: Some(*pin),
                algorithms: provider.signature_verification_algorithms,
            })),
        ServerVerification::InsecureAcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoChainVerifier {
                pin: None,
                algorithms: provider.signature_verification_algorithms,
            })),
    };

    let config = match &options.client_identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|source| TransportError::TlsConfig { source })?,
        None => builder.with_no_client_auth(),
    };

    let name = options.server_name.as_deref().unwrap_or(host);
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|_| TransportError::TlsConfig {
            source: rustls::Error::General(format!("{name:?} is not a DNS name or IP address")),
        })?;
    Ok((Arc::new(config), server_name))
}

/// Verifies no chain: either accepts any certificate or only the pinned one. Handshake
/// signatures are still checked with the provider's algorithms.
#[derive(Debug)]
struct NoChainVerifier {
    pin: Option<CertFingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = CertFingerprint::of_der(end_entity);
        match self.pin {
            None => {
                tracing::debug!(presented = %presented, "accepting device certificate without verification");
                Ok(ServerCertVerified::assertion())
            }
            Some(pin) if pin == presented => Ok(ServerCertVerified::assertion()),
            Some(pin) => {
                tracing::warn!(expected = %pin, presented = %presented, "device certificate does not match the pinned fingerprint");
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_hex_round_trips_with_or_without_colons() {
        let fp = CertFingerprint::of_der(b"not really a certificate");
        let plain = fp.to_string();
        assert_eq!(plain.len(), 64);
        assert_eq!(CertFingerprint::from_hex(&plain), Some(fp));
        let colons = fp
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(CertFingerprint::from_hex(&colons), Some(fp));
        assert_eq!(CertFingerprint::from_hex("abcd"), None);
    }

    #[test]
    fn client_identity_debug_hides_the_key() {
        let key = PrivateKeyDer::Pkcs8(vec![0x53, 0x45, 0x43, 0x52, 0x45, 0x54].into());
        let identity = ClientIdentity::new(vec![CertificateDer::from(vec![1, 2, 3])], key);
        let text = format!(
            "{identity:?} {:?}",
            TlsOptions::new(ServerVerification::InsecureAcceptAny)
                .with_client_identity(identity.clone())
        );
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("83, 69, 67"), "key bytes leaked: {text}");
        assert!(!text.contains("SECRET"));
    }
}
