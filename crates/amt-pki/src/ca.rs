//! The embedded CA: a root and an issuing (intermediate) CA, RSA with SHA-256, and issuance of
//! every AMT certificate profile. Sans-IO: the caller passes `now` and an RNG, and stores what
//! comes back.

use std::time::{Duration, SystemTime};

use rand_core::CryptoRng;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::time::{Time, Validity};

use crate::cert::Cert;
use crate::csr::VerifiedCsr;
use crate::error::{PkiError, Result};
use crate::key::{RsaKey, MIN_RSA_BITS};
use crate::profile::{self, AmtProfile, Purpose, SetupMarker, Shape};
use crate::serial::Serial;

/// Which of the two embedded CAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaRole {
    /// The self-signed root.
    Root,
    /// The intermediate that issues device, console and provisioning certificates.
    Issuing,
}

impl CaRole {
    /// File-name stem of this CA's CRL (`root`, `issuing`): the distribution point is
    /// `<crl_base_url>/<stem>.crl`.
    pub fn stem(self) -> &'static str {
        match self {
            CaRole::Root => "root",
            CaRole::Issuing => "issuing",
        }
    }
}

impl std::fmt::Display for CaRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.stem())
    }
}

impl std::str::FromStr for CaRole {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "root" => Ok(CaRole::Root),
            "issuing" => Ok(CaRole::Issuing),
            _ => Err(PkiError::InvalidInput {
                field: "CA",
                value: s.to_string(),
                reason: "must be root or issuing",
            }),
        }
    }
}

/// How the embedded CA is set up. Stored beside the keys so issuance stays consistent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSettings {
    /// O attribute of the CA, console and provisioning certificates.
    pub organization: String,
    /// CN of the root CA.
    pub root_common_name: String,
    /// CN of the issuing CA.
    pub issuing_common_name: String,
    /// RSA modulus size of the CA keys and server-made keys (2048 or more).
    pub key_bits: usize,
    /// Lifetime of the root CA, seconds.
    pub root_validity_secs: u64,
    /// Lifetime of the issuing CA, seconds.
    pub issuing_validity_secs: u64,
    /// Lifetime of end-entity certificates, seconds.
    pub leaf_validity_secs: u64,
    /// How far `notBefore` is set back from `now`, seconds (device clocks drift).
    pub backdate_secs: u64,
    /// How long a CRL is valid (`nextUpdate - thisUpdate`), seconds.
    pub crl_validity_secs: u64,
    /// Base URL the CRLs are served from (`http://host:port/crl`); certificates then carry
    /// `<base>/issuing.crl` (leaves) or `<base>/root.crl` (the issuing CA) as distribution
    /// point. `None` writes no distribution point.
    pub crl_base_url: Option<String>,
}

const DAY: u64 = 86_400;

impl Default for CaSettings {
    fn default() -> Self {
        CaSettings {
            organization: "amtd".into(),
            root_common_name: "amtd Root CA".into(),
            issuing_common_name: "amtd Issuing CA".into(),
            key_bits: 2048,
            root_validity_secs: 20 * 365 * DAY,
            issuing_validity_secs: 10 * 365 * DAY,
            leaf_validity_secs: 365 * DAY,
            backdate_secs: 3600,
            crl_validity_secs: 7 * DAY,
            crl_base_url: None,
        }
    }
}

impl CaSettings {
    /// Check the settings, listing the first problem.
    pub fn validate(&self) -> Result<()> {
        if self.key_bits < MIN_RSA_BITS {
            return Err(PkiError::KeyTooSmall {
                bits: self.key_bits,
                min: MIN_RSA_BITS,
            });
        }
        profile::ca_subject(&self.root_common_name, &self.organization)?;
        profile::ca_subject(&self.issuing_common_name, &self.organization)?;
        if let Some(u) = &self.crl_base_url {
            profile::validate_crl_url(u)?;
        }
        if self.leaf_validity_secs == 0 || self.crl_validity_secs == 0 {
            return Err(PkiError::InvalidInput {
                field: "validity",
                value: "0".into(),
                reason: "lifetimes must be positive",
            });
        }
        Ok(())
    }

    /// The distribution point URL of a CA's CRL, if a base URL is configured.
    pub fn crl_url(&self, role: CaRole) -> Option<String> {
        self.crl_base_url
            .as_ref()
            .map(|b| format!("{}/{}.crl", b.trim_end_matches('/'), role.stem()))
    }
}

/// A CA certificate with its private key.
#[derive(Clone, Debug)]
pub struct Authority {
    cert: Cert,
    key: RsaKey,
}

impl Authority {
    /// Pair a CA certificate with its key; fails if they do not match or the certificate is not
    /// a CA.
    pub fn new(cert: Cert, key: RsaKey) -> Result<Self> {
        if !key.matches(cert.public_key_info()) {
            return Err(PkiError::KeyMismatch {
                subject: cert.subject(),
            });
        }
        if !cert.is_ca() {
            return Err(PkiError::InvalidInput {
                field: "CA certificate",
                value: cert.subject(),
                reason: "basicConstraints does not say CA",
            });
        }
        Ok(Authority { cert, key })
    }

    /// The CA certificate.
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// The CA key (for the key store to encrypt at rest).
    pub fn key(&self) -> &RsaKey {
        &self.key
    }
}

/// A certificate the CA has just issued, with what the ledger needs to record it.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate.
    pub cert: Cert,
    /// What it is for.
    pub purpose: Purpose,
    /// Which CA signed it.
    pub issuer: CaRole,
    /// The device UUID for device certificates.
    pub device: Option<String>,
}

/// What to issue.
#[derive(Debug, Clone)]
pub enum LeafRequest<'a> {
    /// A device TLS server certificate (P4).
    Device {
        /// The FQDN, identical to the DHCP option 81 value.
        fqdn: &'a str,
        /// The device UUID.
        uuid: &'a str,
    },
    /// A console mutual-TLS client certificate (M9).
    Console {
        /// Common name of the console or operator.
        common_name: &'a str,
    },
    /// A provisioning certificate (for labs).
    Provisioning {
        /// FQDN in the provisioning domain (`*.domain` allowed).
        fqdn: &'a str,
        /// OID, OU, or both.
        marker: SetupMarker,
    },
    /// A TLS server certificate for amtd's own API listener (serverAuth).
    ApiServer {
        /// DNS names (the first is also the common name); at least one.
        names: &'a [String],
        /// IP addresses the listener is reached at.
        ips: &'a [std::net::IpAddr],
    },
}

/// The embedded two-level CA.
#[derive(Debug, Clone)]
pub struct EmbeddedCa {
    root: Authority,
    issuing: Authority,
    settings: CaSettings,
}

/// Convert a time for a certificate field (UTCTime before 2050, GeneralizedTime after).
pub(crate) fn x509_time(t: SystemTime) -> Result<Time> {
    Time::try_from(t).map_err(|e| PkiError::malformed("time", e))
}

fn sign<R: CryptoRng + ?Sized>(
    profile: AmtProfile,
    signer_key: &RsaKey,
    serial: &Serial,
    not_before: SystemTime,
    not_after: SystemTime,
    spki: SubjectPublicKeyInfoOwned,
    rng: &mut R,
) -> Result<Cert> {
    let validity = Validity::new(x509_time(not_before)?, x509_time(not_after)?);
    let builder = CertificateBuilder::new(profile, serial.to_x509()?, validity, spki)
        .map_err(|e| PkiError::malformed("certificate", e))?;
    let signer = signer_key.signer();
    let cert = builder
        .build_with_rng::<_, rsa::pkcs1v15::Signature, _>(&signer, rng)
        .map_err(|e| PkiError::Rsa(e.to_string()))?;
    Cert::from_parsed(cert)
}

impl EmbeddedCa {
    /// Create a new root and issuing CA with fresh keys. Returns the CA and the two CA
    /// certificates as ledger records (root first).
    pub fn create<R: CryptoRng + ?Sized>(
        settings: CaSettings,
        rng: &mut R,
        now: SystemTime,
    ) -> Result<(Self, [IssuedCert; 2])> {
        settings.validate()?;
        let root_key = RsaKey::generate(rng, settings.key_bits)?;
        let issuing_key = RsaKey::generate(rng, settings.key_bits)?;
        Self::create_with_keys(settings, root_key, issuing_key, rng, now)
    }

    /// Like [`EmbeddedCa::create`], with keys made elsewhere (an HSM export, or a test).
    pub fn create_with_keys<R: CryptoRng + ?Sized>(
        settings: CaSettings,
        root_key: RsaKey,
        issuing_key: RsaKey,
        rng: &mut R,
        now: SystemTime,
    ) -> Result<(Self, [IssuedCert; 2])> {
        settings.validate()?;
        let not_before = now - Duration::from_secs(settings.backdate_secs);
        let root_name = profile::ca_subject(&settings.root_common_name, &settings.organization)?;
        let root_cert = sign(
            AmtProfile {
                subject: root_name.clone(),
                issuer: None,
                shape: Shape::Root,
                crl_urls: Vec::new(),
            },
            &root_key,
            &Serial::random(rng),
            not_before,
            now + Duration::from_secs(settings.root_validity_secs),
            root_key.public_key_info()?,
            rng,
        )?;
        let issuing_cert = sign(
            AmtProfile {
                subject: profile::ca_subject(
                    &settings.issuing_common_name,
                    &settings.organization,
                )?,
                issuer: Some(root_name),
                shape: Shape::Intermediate,
                crl_urls: settings.crl_url(CaRole::Root).into_iter().collect(),
            },
            &root_key,
            &Serial::random(rng),
            not_before,
            (now + Duration::from_secs(settings.issuing_validity_secs)).min(root_cert.not_after()),
            issuing_key.public_key_info()?,
            rng,
        )?;
        let ca = EmbeddedCa {
            root: Authority::new(root_cert, root_key)?,
            issuing: Authority::new(issuing_cert, issuing_key)?,
            settings,
        };
        let records = [
            IssuedCert {
                cert: ca.root.cert.clone(),
                purpose: Purpose::RootCa,
                issuer: CaRole::Root,
                device: None,
            },
            IssuedCert {
                cert: ca.issuing.cert.clone(),
                purpose: Purpose::IssuingCa,
                issuer: CaRole::Root,
                device: None,
            },
        ];
        Ok((ca, records))
    }

    /// Reassemble a CA from stored parts; checks that the keys match, that the root is
    /// self-signed and that it signed the issuing CA.
    pub fn from_parts(root: Authority, issuing: Authority, settings: CaSettings) -> Result<Self> {
        settings.validate()?;
        if !root.cert.is_self_signed() {
            return Err(PkiError::IncompleteChain {
                reason: format!("the root {} is not self-signed", root.cert.subject()),
            });
        }
        issuing.cert.verify_signed_by(&root.cert)?;
        Ok(EmbeddedCa {
            root,
            issuing,
            settings,
        })
    }

    /// The root CA.
    pub fn root(&self) -> &Authority {
        &self.root
    }

    /// The issuing CA.
    pub fn issuing(&self) -> &Authority {
        &self.issuing
    }

    /// One of the two CAs.
    pub fn authority(&self, role: CaRole) -> &Authority {
        match role {
            CaRole::Root => &self.root,
            CaRole::Issuing => &self.issuing,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CaSettings {
        &self.settings
    }

    /// Issue an end-entity certificate for `public_key` from the issuing CA.
    pub fn issue<R: CryptoRng + ?Sized>(
        &self,
        request: &LeafRequest<'_>,
        public_key: SubjectPublicKeyInfoOwned,
        rng: &mut R,
        now: SystemTime,
    ) -> Result<IssuedCert> {
        let o = &self.settings.organization;
        let mut ips = Vec::new();
        let (subject, purpose, dns, marker, device) = match request {
            LeafRequest::Device { fqdn, uuid } => (
                profile::device_subject(fqdn, uuid)?,
                Purpose::DeviceTls,
                vec![fqdn.to_string()],
                SetupMarker::Oid,
                Some(uuid.to_string()),
            ),
            LeafRequest::ApiServer { names, ips: addrs } => {
                ips = addrs.to_vec();
                (
                    profile::api_server_subject(names, o)?,
                    Purpose::ApiServer,
                    names.to_vec(),
                    SetupMarker::Oid,
                    None,
                )
            }
            LeafRequest::Console { common_name } => (
                profile::console_subject(common_name, o)?,
                Purpose::ConsoleClient,
                Vec::new(),
                SetupMarker::Oid,
                None,
            ),
            LeafRequest::Provisioning { fqdn, marker } => (
                profile::provisioning_subject(fqdn, o, *marker)?,
                Purpose::Provisioning,
                vec![fqdn.to_string()],
                *marker,
                None,
            ),
        };
        let not_before = now - Duration::from_secs(self.settings.backdate_secs);
        let not_after = (now + Duration::from_secs(self.settings.leaf_validity_secs))
            .min(self.issuing.cert.not_after());
        let cert = sign(
            AmtProfile {
                subject,
                issuer: Some(self.issuing.cert.subject_name().clone()),
                shape: AmtProfile::leaf_shape(purpose, dns, ips, marker),
                crl_urls: self.settings.crl_url(CaRole::Issuing).into_iter().collect(),
            },
            &self.issuing.key,
            &Serial::random(rng),
            not_before,
            not_after,
            public_key,
            rng,
        )?;
        Ok(IssuedCert {
            cert,
            purpose,
            issuer: CaRole::Issuing,
            device,
        })
    }

    /// Issue a certificate for a key the server makes now (for old firmware without
    /// GenerateKeyPair, for consoles, for lab provisioning certificates). The key is returned
    /// to the caller; the CA keeps nothing.
    pub fn issue_with_new_key<R: CryptoRng + ?Sized>(
        &self,
        request: &LeafRequest<'_>,
        rng: &mut R,
        now: SystemTime,
    ) -> Result<(IssuedCert, RsaKey)> {
        let key = RsaKey::generate(rng, self.settings.key_bits)?;
        let issued = self.issue(request, key.public_key_info()?, rng, now)?;
        Ok((issued, key))
    }

    /// Issue a certificate for the key in a verified PKCS#10 request. The request's own subject
    /// and extensions are ignored: the profile decides.
    pub fn issue_from_csr<R: CryptoRng + ?Sized>(
        &self,
        request: &LeafRequest<'_>,
        csr: &VerifiedCsr,
        rng: &mut R,
        now: SystemTime,
    ) -> Result<IssuedCert> {
        self.issue(request, csr.public_key().clone(), rng, now)
    }

    /// The chain a relying party needs, from the issuing CA up: issuing CA, then root.
    pub fn chain(&self) -> Vec<Cert> {
        vec![self.issuing.cert.clone(), self.root.cert.clone()]
    }
}
