//! The certificate store and TLS configuration (AMT-PROTOCOLS §2.5, §6):
//! `AMT_PublicKeyManagementService` and its `AMT_PublicKeyCertificate` /
//! `AMT_PublicPrivateKeyPair` / `AMT_CRL` instances ([`store`]), `AMT_TLSSettingData`,
//! `AMT_TLSCredentialContext`, `AMT_TLSProtocolEndpointCollection` and the pushed CRL serial
//! lists ([`tls`]), plus the accessors the network front reads to serve 16993 after
//! CommitChanges ([`Firmware::tls_identity`], [`Firmware::tls_policy`], …).
//!
//! Certificates may be stored without a key (Intel: "certificates that do not have a matching
//! key are used for reporting certificate chain dependency"); only a certificate whose key is
//! in the store can become the TLS server certificate. Keys never leave the device: only the
//! public half (`DERKey`) is readable.

use amt_wsman::classes::amt::{
    AmtPublicKeyCertificate, AmtPublicKeyManagementService, AmtPublicPrivateKeyPair,
};
use amt_wsman::classes::cim::{EnabledDefault, EnabledState, RequestedState};
use amt_wsman::classes::{KnownClass, MethodCall, Typed, TypedInstance};
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::{EndpointReference, Fault, Instance, ResponseBody, SelectorSet};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{PrivateKey, PublicKey};

use super::setup::b64_decode;
use super::{Caller, Env, Firmware, Routed};
use crate::state::{StoredCert, StoredKey};

pub mod store;
pub mod tls;
pub(crate) mod x509;

use x509::X509;

/// `InstanceID` prefix of `AMT_PublicKeyCertificate` (`… Handle: N`).
pub const CERT_ID_PREFIX: &str = "Intel(r) AMT Certificate: Handle: ";
/// `InstanceID` prefix of `AMT_PublicPrivateKeyPair`.
pub const KEY_ID_PREFIX: &str = "Intel(r) AMT Key: Handle: ";
/// Most certificates the store holds (trusted roots and others together).
pub const MAX_CERTIFICATES: usize = 32;
/// Most key pairs the store holds.
pub const MAX_KEYS: usize = 32;

/// Where `GenerateKeyPair` may take a ready-made RSA-2048 private key (PKCS#8 DER) instead of
/// generating one inline.
///
/// The network front gives each device's [`Firmware`] one of these
/// ([`Firmware::set_key_source`]), normally the fleet's [`crate::keypool::KeyPool`]; the
/// firmware itself stays sans-IO — it never starts threads or waits, it only asks. A source
/// must hand every key out once and never block: `None` (nothing ready) makes the firmware
/// generate the key inline from [`Env::random`], as it does without a source. A key that does
/// not decode as a 2048-bit RSA PKCS#8 key is ignored the same way. Real firmware generates
/// keys on the ME; taking a pre-made one changes only how long the call takes, not the
/// protocol.
pub trait KeySource: Send + Sync {
    /// One fresh key, handed out to this caller only, or `None` at once when none is ready.
    fn take_key(&self) -> Option<Vec<u8>>;
}

/// The certificate `InstanceID` for a handle.
pub fn cert_instance_id(handle: u32) -> String {
    format!("{CERT_ID_PREFIX}{handle}")
}

/// The key pair `InstanceID` for a handle.
pub fn key_instance_id(handle: u32) -> String {
    format!("{KEY_ID_PREFIX}{handle}")
}

fn handle_of(instance_id: &str, prefix: &str) -> Option<u32> {
    instance_id.strip_prefix(prefix)?.trim().parse().ok()
}

/// The reference `AddCertificate`/`AddTrustedRootCertificate` return.
pub(crate) fn cert_epr(handle: u32) -> EndpointReference {
    EndpointReference::to_class(
        "AMT_PublicKeyCertificate",
        SelectorSet::one("InstanceID", &cert_instance_id(handle)),
    )
}

/// The reference `GenerateKeyPair`/`AddKey` return.
pub(crate) fn key_epr(handle: u32) -> EndpointReference {
    EndpointReference::to_class(
        "AMT_PublicPrivateKeyPair",
        SelectorSet::one("InstanceID", &key_instance_id(handle)),
    )
}

pub(crate) fn in_use_fault(what: &str) -> ResponseBody {
    ResponseBody::Fault(Fault::new(
        FaultCode::Receiver,
        Subcode::InternalError,
        format!("The {what} is in use by TLS and cannot be deleted."),
    ))
}

/// Instances of the classes this module owns.
pub(crate) fn instances(
    fw: &Firmware,
    class: KnownClass,
    _env: &mut Env<'_>,
) -> Routed<KnownClass, Vec<Instance>> {
    let s = &fw.state;
    Routed::Done(match class {
        KnownClass::AmtPublicKeyManagementService => vec![AmtPublicKeyManagementService {
            creation_class_name: Some("AMT_PublicKeyManagementService".to_owned()),
            element_name: Some("Intel(r) AMT Certificate Store Service".to_owned()),
            enabled_default: Some(EnabledDefault::NotApplicable),
            enabled_state: Some(EnabledState::NotApplicable),
            name: Some("Intel(r) AMT Public Key Management Service".to_owned()),
            requested_state: Some(RequestedState::NotApplicable),
            system_creation_class_name: Some("CIM_ComputerSystem".to_owned()),
            system_name: Some("Intel(r) AMT".to_owned()),
            ..Default::default()
        }
        .to_instance()],
        KnownClass::AmtPublicKeyCertificate => {
            s.certs.iter().map(|c| cert_view(c).to_instance()).collect()
        }
        KnownClass::AmtPublicPrivateKeyPair => {
            s.keys.iter().map(|k| key_view(k).to_instance()).collect()
        }
        KnownClass::AmtCrl
        | KnownClass::AmtTlsSettingData
        | KnownClass::AmtTlsCredentialContext
        | KnownClass::AmtTlsProtocolEndpointCollection => tls::instances(fw, class),
        other => return Routed::Pass(other),
    })
}

/// The `AMT_PublicKeyCertificate` view of a stored certificate.
pub fn cert_view(c: &StoredCert) -> AmtPublicKeyCertificate {
    let parsed = b64_decode(&c.der_b64).and_then(|d| X509::parse(&d));
    AmtPublicKeyCertificate {
        element_name: Some("Intel(r) AMT Certificate".to_owned()),
        instance_id: Some(cert_instance_id(c.handle)),
        issuer: parsed.as_ref().map(X509::issuer),
        subject: parsed.as_ref().map(X509::subject),
        trusted_root_certificate: Some(c.trusted_root),
        x509_certificate: Some(c.der_b64.clone()),
        ..Default::default()
    }
}

/// The `AMT_PublicPrivateKeyPair` view of a stored key: only the public half.
pub fn key_view(k: &StoredKey) -> AmtPublicPrivateKeyPair {
    AmtPublicPrivateKeyPair {
        der_key: Some(k.public_der_b64.clone()),
        element_name: Some("Intel(r) AMT Key".to_owned()),
        instance_id: Some(key_instance_id(k.handle)),
        ..Default::default()
    }
}

/// Put on the classes this module owns (TLS settings, credential context).
pub(crate) fn put(
    fw: &mut Firmware,
    instance: TypedInstance,
    selectors: &SelectorSet,
    _caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<TypedInstance, ResponseBody> {
    match instance {
        TypedInstance::AmtTlsSettingData(t) => {
            Routed::Done(tls::put_setting(fw, &t, selectors, env))
        }
        TypedInstance::AmtTlsCredentialContext(c) => {
            Routed::Done(tls::bind_context(fw, &c, false, env))
        }
        other => Routed::Pass(other),
    }
}

/// Create on the classes this module owns (`AMT_TLSCredentialContext`).
pub(crate) fn create(
    fw: &mut Firmware,
    instance: TypedInstance,
    _caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<TypedInstance, ResponseBody> {
    match instance {
        TypedInstance::AmtTlsCredentialContext(c) => {
            Routed::Done(tls::bind_context(fw, &c, true, env))
        }
        other => Routed::Pass(other),
    }
}

/// Delete on the classes this module owns.
pub(crate) fn delete(
    fw: &mut Firmware,
    class: KnownClass,
    selectors: &SelectorSet,
    _caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<KnownClass, ResponseBody> {
    Routed::Done(match class {
        KnownClass::AmtPublicKeyCertificate => store::delete_cert(fw, selectors, env),
        KnownClass::AmtPublicPrivateKeyPair => store::delete_key(fw, selectors, env),
        KnownClass::AmtTlsCredentialContext => tls::delete_context(fw, env),
        other => return Routed::Pass(other),
    })
}

/// Methods of `AMT_PublicKeyManagementService`.
pub(crate) fn invoke(
    fw: &mut Firmware,
    method: MethodCall,
    _selectors: &SelectorSet,
    _caller: &Caller,
    env: &mut Env<'_>,
) -> Routed<MethodCall, ResponseBody> {
    Routed::Done(match method {
        MethodCall::AddTrustedRootCertificate(i) => {
            store::add_certificate(fw, i.certificate_blob.as_deref(), true, env)
        }
        MethodCall::AddCertificate(i) => {
            store::add_certificate(fw, i.certificate_blob.as_deref(), false, env)
        }
        MethodCall::AddKey(i) => store::add_key(fw, &i, env),
        MethodCall::GenerateKeyPair(i) => store::generate_key_pair(fw, &i, env),
        MethodCall::GeneratePkcs10RequestEx(i) => store::generate_pkcs10(fw, &i),
        MethodCall::AddCrl(i) => tls::add_crl(fw, &i, env),
        MethodCall::ResetCrlList(_) => tls::reset_crl_list(fw, env),
        other => return Routed::Pass(other),
    })
}

/// The private key of a stored key pair.
pub(crate) fn private_key(k: &StoredKey) -> Option<PrivateKey> {
    let der = b64_decode(&k.pkcs8_b64)?;
    PrivateKey::from_pkcs8_der(&der).ok()
}

/// The public key of a stored key pair.
pub(crate) fn public_key(k: &StoredKey) -> Option<PublicKey> {
    let der = b64_decode(&k.public_der_b64)?;
    PublicKey::from_pkcs1_der(&der).ok()
}

/// The stored key pair whose public key is the certificate's.
pub(crate) fn key_for<'a>(keys: &'a [StoredKey], cert: &X509) -> Option<&'a StoredKey> {
    let want = x509::rsa_key(cert.spki())?;
    keys.iter()
        .find(|k| public_key(k).is_some_and(|p| p == want))
}

pub(crate) fn parse_stored(c: &StoredCert) -> Option<X509> {
    b64_decode(&c.der_b64).and_then(|d| X509::parse(&d))
}

/// The TLS settings the network front enforces for one interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsPolicy {
    /// TLS is enabled (16993 serves the installed certificate).
    pub enabled: bool,
    /// Client certificates are required (mutual TLS).
    pub mutual_authentication: bool,
    /// Plain-text connections (16992) are still accepted.
    pub accept_non_secure: bool,
    /// Allowed client certificate subject CNs; empty allows any.
    pub trusted_cn: Vec<String>,
}

impl Firmware {
    /// The TLS server identity installed with `AMT_TLSCredentialContext`: the certificate chain
    /// (DER, leaf first, then the intermediates found in the store; the self-signed root is
    /// left out) and the leaf's private key as PKCS#8 DER. `None` until a certificate with a
    /// key in the store is bound. The network front serves it on 16993 after CommitChanges.
    pub fn tls_identity(&self) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
        let s = &self.state;
        let handle = s.tls_cert_handle?;
        let leaf = s
            .certs
            .iter()
            .find(|c| c.handle == handle)
            .and_then(parse_stored)?;
        let key = key_for(&s.keys, &leaf)?;
        let key_der = b64_decode(&key.pkcs8_b64)?;
        let mut chain = vec![leaf];
        while chain.len() < 4 {
            let Some(current) = chain.last() else { break };
            let issuer = s
                .certs
                .iter()
                .filter_map(parse_stored)
                .find(|c| c.der() != current.der() && current.signed_by(c) && !c.self_signed());
            match issuer {
                Some(i) if !chain.iter().any(|c| c.der() == i.der()) => chain.push(i),
                _ => break,
            }
        }
        Some((chain.iter().map(|c| c.der().to_vec()).collect(), key_der))
    }

    /// The remote (network) TLS policy: `Intel(r) AMT 802.3 TLS Settings`.
    pub fn tls_policy(&self) -> TlsPolicy {
        let t = &self.state.tls_remote;
        TlsPolicy {
            enabled: t.enabled,
            mutual_authentication: t.mutual_authentication,
            accept_non_secure: !t.enabled || t.accept_non_secure,
            trusted_cn: t.trusted_cn.clone(),
        }
    }

    /// The local (LMS) TLS policy: `Intel(r) AMT LMS TLS Settings`.
    pub fn local_tls_policy(&self) -> TlsPolicy {
        let t = &self.state.tls_local;
        TlsPolicy {
            enabled: t.enabled,
            mutual_authentication: false,
            accept_non_secure: !t.enabled || t.accept_non_secure,
            trusted_cn: Vec::new(),
        }
    }

    /// Whether the remote interface requires client certificates.
    pub fn tls_mutual_auth(&self) -> bool {
        self.state.tls_remote.mutual_authentication
    }

    /// Allowed client certificate CNs on the remote interface (empty: any).
    pub fn tls_trusted_cns(&self) -> &[String] {
        &self.state.tls_remote.trusted_cn
    }

    /// The trusted root certificates (DER) added with `AddTrustedRootCertificate`: the anchors
    /// client certificates must chain to under mutual TLS.
    pub fn trusted_root_certs(&self) -> Vec<Vec<u8>> {
        self.state
            .certs
            .iter()
            .filter(|c| c.trusted_root)
            .filter_map(|c| b64_decode(&c.der_b64))
            .collect()
    }

    /// Every serial number pushed with `AddCRL`, decoded (big-endian, as in the certificate).
    pub fn revoked_serials(&self) -> Vec<Vec<u8>> {
        self.state
            .crls
            .iter()
            .flat_map(|c| c.serials_b64.iter())
            .filter_map(|s| b64_decode(s))
            .collect()
    }

    /// Whether a client certificate serial (the DER INTEGER's bytes) is in a pushed CRL list.
    /// Leading zero bytes are not significant.
    pub fn is_serial_revoked(&self, serial: &[u8]) -> bool {
        let want = strip_zeros(serial);
        self.revoked_serials()
            .iter()
            .any(|s| strip_zeros(s) == want)
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[start..]
}
