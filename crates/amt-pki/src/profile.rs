//! The certificate profiles AMT needs: subjects, key usages, extended key usages, SANs and CRL
//! distribution points, as an x509-cert `BuilderProfile`.

use const_oid::db::rfc4519;
use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{Any, Ia5String, OctetString};
use der::{Decode, Encode, Tag};
use sha1::{Digest, Sha1};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RelativeDistinguishedName};

use crate::error::{PkiError, Result};
use crate::oid;

/// The organisation AMT device certificates carry (with the ® sign, UTF-8).
pub const AMT_DEVICE_ORGANIZATION: &str = "Intel® Active Management Technology";

/// The OU that marks a provisioning certificate when the setup OID is not used.
pub const SETUP_OU: &str = "Intel(R) Client Setup Certificate";

/// What a certificate is for. Recorded in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// The embedded root CA.
    RootCa,
    /// The embedded issuing (intermediate) CA.
    IssuingCa,
    /// A device's TLS server certificate (P4).
    DeviceTls,
    /// A console's mutual-TLS client certificate (M9).
    ConsoleClient,
    /// A provisioning (remote configuration) certificate.
    Provisioning,
    /// The TLS server certificate of amtd's API listener.
    ApiServer,
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Purpose::RootCa => "root-ca",
            Purpose::IssuingCa => "issuing-ca",
            Purpose::DeviceTls => "device-tls",
            Purpose::ConsoleClient => "console-client",
            Purpose::Provisioning => "provisioning",
            Purpose::ApiServer => "api-server",
        })
    }
}

/// How a provisioning certificate marks itself as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetupMarker {
    /// The extended key usage 2.16.840.1.113741.1.2.3 (with serverAuth).
    #[default]
    Oid,
    /// `OU = Intel(R) Client Setup Certificate` in the subject (with serverAuth).
    Ou,
    /// Both.
    Both,
}

/// Check a DNS name: ASCII labels of 1–63 letters, digits or hyphens, not starting or ending
/// with a hyphen, 253 characters at most. With `wildcard`, a leading `*.` label is allowed.
pub fn validate_fqdn(name: &str, wildcard: bool) -> Result<()> {
    let bad = |reason| {
        Err(PkiError::InvalidInput {
            field: "FQDN",
            value: name.to_string(),
            reason,
        })
    };
    let body = match name.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        Some(_) => return bad("wildcards are not allowed here"),
        None => name,
    };
    let body = body.strip_suffix('.').unwrap_or(body);
    if body.is_empty() || body.len() > 253 {
        return bad("must be 1 to 253 characters");
    }
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("every label must be 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label cannot start or end with a hyphen");
        }
    }
    Ok(())
}

/// Check a UUID in 8-4-4-4-12 hex form.
pub fn validate_uuid(uuid: &str) -> Result<()> {
    let groups: Vec<&str> = uuid.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidInput {
            field: "UUID",
            value: uuid.to_string(),
            reason: "must be 8-4-4-4-12 hexadecimal digits",
        })
    }
}

fn check_text(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > 64 || value.chars().any(char::is_control) {
        return Err(PkiError::InvalidInput {
            field,
            value: value.to_string(),
            reason: "must be 1 to 64 printable characters",
        });
    }
    Ok(())
}

/// Build a name from (attribute, value) pairs, one RDN each, in order, values as UTF8String.
pub fn build_name(attrs: &[(ObjectIdentifier, &str)]) -> Result<Name> {
    let mut rdns = Vec::with_capacity(attrs.len());
    for (oid, value) in attrs {
        let any = Any::new(Tag::Utf8String, value.as_bytes())
            .map_err(|e| PkiError::malformed("name", e))?;
        let atv = AttributeTypeAndValue {
            oid: *oid,
            value: any,
        };
        let rdn = RelativeDistinguishedName::try_from(vec![atv])
            .map_err(|e| PkiError::malformed("name", e))?;
        rdns.push(rdn);
    }
    let der = rdns.to_der().map_err(|e| PkiError::malformed("name", e))?;
    Name::from_der(&der).map_err(|e| PkiError::malformed("name", e))
}

/// Subject of a device TLS certificate:
/// `CN = <fqdn>, CN = Device (UUID: <uuid>), O = Intel® Active Management Technology`.
pub fn device_subject(fqdn: &str, uuid: &str) -> Result<Name> {
    validate_fqdn(fqdn, false)?;
    validate_uuid(uuid)?;
    let device_cn = format!("Device (UUID: {uuid})");
    build_name(&[
        (rfc4519::CN, fqdn),
        (rfc4519::CN, &device_cn),
        (rfc4519::O, AMT_DEVICE_ORGANIZATION),
    ])
}

/// Subject of a console client certificate: `CN = <name>, O = <organization>`.
pub fn console_subject(common_name: &str, organization: &str) -> Result<Name> {
    check_text("common name", common_name)?;
    check_text("organization", organization)?;
    build_name(&[(rfc4519::CN, common_name), (rfc4519::O, organization)])
}

/// Subject of a provisioning certificate: `CN = <fqdn>[, OU = Intel(R) Client Setup
/// Certificate], O = <organization>`.
pub fn provisioning_subject(fqdn: &str, organization: &str, marker: SetupMarker) -> Result<Name> {
    validate_fqdn(fqdn, true)?;
    check_text("organization", organization)?;
    let mut attrs = vec![(rfc4519::CN, fqdn)];
    if matches!(marker, SetupMarker::Ou | SetupMarker::Both) {
        attrs.push((rfc4519::OU, SETUP_OU));
    }
    attrs.push((rfc4519::O, organization));
    build_name(&attrs)
}

/// Subject of an API server certificate: `CN = <first name>, O = <organization>`; every name
/// must be a DNS name (no wildcards).
pub fn api_server_subject(names: &[String], organization: &str) -> Result<Name> {
    let Some(first) = names.first() else {
        return Err(PkiError::InvalidInput {
            field: "API server names",
            value: String::new(),
            reason: "at least one DNS name is needed",
        });
    };
    for n in names {
        validate_fqdn(n, false)?;
    }
    check_text("organization", organization)?;
    build_name(&[(rfc4519::CN, first), (rfc4519::O, organization)])
}

/// Subject of a CA: `CN = <name>, O = <organization>`.
pub fn ca_subject(common_name: &str, organization: &str) -> Result<Name> {
    check_text("common name", common_name)?;
    check_text("organization", organization)?;
    build_name(&[(rfc4519::CN, common_name), (rfc4519::O, organization)])
}

/// Check a CRL distribution point URL (http only: devices and consoles fetch them in plain
/// HTTP, and a CRL is signed anyway).
pub fn validate_crl_url(url: &str) -> Result<()> {
    let ok = url.starts_with("http://") && url.len() > 7 && url.is_ascii() && !url.contains(' ');
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidInput {
            field: "CRL URL",
            value: url.to_string(),
            reason: "must be an http:// URL",
        })
    }
}

/// What kind of certificate a [`AmtProfile`] builds.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// Self-signed root CA.
    Root,
    /// Intermediate CA that may issue only end-entity certificates.
    Intermediate,
    /// End-entity certificate.
    Leaf {
        ekus: Vec<ObjectIdentifier>,
        dns: Vec<String>,
        ips: Vec<std::net::IpAddr>,
    },
}

/// An x509-cert builder profile for every AMT certificate kind.
pub(crate) struct AmtProfile {
    pub subject: Name,
    /// `None` for self-signed.
    pub issuer: Option<Name>,
    pub shape: Shape,
    pub crl_urls: Vec<String>,
}

impl AmtProfile {
    /// The leaf shape for a purpose.
    pub fn leaf_shape(
        purpose: Purpose,
        dns: Vec<String>,
        ips: Vec<std::net::IpAddr>,
        marker: SetupMarker,
    ) -> Shape {
        let ekus = match purpose {
            Purpose::DeviceTls | Purpose::ApiServer => vec![oid::SERVER_AUTH],
            Purpose::ConsoleClient => vec![oid::CLIENT_AUTH, oid::AMT_CONSOLE_USAGE],
            Purpose::Provisioning => match marker {
                SetupMarker::Ou => vec![oid::SERVER_AUTH],
                SetupMarker::Oid | SetupMarker::Both => {
                    vec![oid::SERVER_AUTH, oid::AMT_SETUP_USAGE]
                }
            },
            Purpose::RootCa | Purpose::IssuingCa => Vec::new(),
        };
        Shape::Leaf { ekus, dns, ips }
    }
}

fn ext<T: AssociatedOid + Encode>(
    critical: bool,
    value: &T,
) -> x509_cert::builder::Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits.
pub(crate) fn key_id(spk: SubjectPublicKeyInfoRef<'_>) -> Vec<u8> {
    Sha1::digest(spk.subject_public_key.raw_bytes()).to_vec()
}

impl BuilderProfile for AmtProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut out = Vec::new();
        let (bc, ku) = match &self.shape {
            Shape::Root => (
                BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
                KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            ),
            Shape::Intermediate => (
                BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                },
                KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            ),
            Shape::Leaf { .. } => (
                BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
                KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            ),
        };
        out.push(ext(true, &bc)?);
        out.push(ext(true, &ku)?);
        if let Shape::Leaf { ekus, dns, ips } = &self.shape {
            if !ekus.is_empty() {
                out.push(ext(false, &ExtendedKeyUsage(ekus.clone()))?);
            }
            if !dns.is_empty() || !ips.is_empty() {
                let mut names = dns
                    .iter()
                    .map(|d| Ok(GeneralName::DnsName(Ia5String::new(d)?)))
                    .collect::<der::Result<Vec<_>>>()?;
                for ip in ips {
                    let octets = match ip {
                        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
                    };
                    names.push(GeneralName::IpAddress(OctetString::new(octets)?));
                }
                out.push(ext(false, &SubjectAltName(names))?);
            }
        }
        out.push(ext(
            false,
            &SubjectKeyIdentifier(OctetString::new(key_id(spk))?),
        )?);
        if self.issuer.is_some() {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(key_id(issuer_spk))?),
                ..Default::default()
            };
            out.push(ext(false, &aki)?);
            if !self.crl_urls.is_empty() {
                let names = self
                    .crl_urls
                    .iter()
                    .map(|u| Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(u)?)))
                    .collect::<der::Result<Vec<_>>>()?;
                let dp = DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(names)),
                    reasons: None,
                    crl_issuer: None,
                };
                out.push(ext(false, &CrlDistributionPoints(vec![dp]))?);
            }
        }
        Ok(out)
    }
}
