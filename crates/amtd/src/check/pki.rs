//! PKI checks (SPEC D5, P3): for each `[[provisioning_certificate]]`, what a device in setup
//! mode will make of it — the domain suffix against the device's domain (DHCP option 15 and the
//! expected domain side by side), a chain complete up to a self-signed root, the root's hash
//! among the devices' trusted roots (firmware factory defaults plus `[check]
//! device_root_hashes`), the setup OID or OU on the leaf, and the validity period of every
//! certificate in the file.
//!
//! Every problem of a certificate is reported at once: a certificate that fails to load as a
//! whole (wrong password, no key) stops only its own checks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amt_pki::profile::SETUP_OU;
use amt_pki::{oid, Cert, CertHash, ProvisioningCert, RsaKey};

use super::report::{Check, Team};
use crate::config::{ProvisioningCertificate, ProvisioningCertificateSource};

/// Certificates expiring sooner than this are a warning.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

/// What the PKI checks compare the certificates with.
#[derive(Debug, Clone)]
pub struct PkiInputs<'a> {
    /// The configured certificates.
    pub certificates: &'a [ProvisioningCertificate],
    /// Certificates the caller already holds in memory (the lab's, kept in its CA store), by
    /// name.
    pub held: &'a [(String, ProvisioningCert)],
    /// The domain the DHCP probe got (option 15), when a probe ran and the option was there.
    pub dhcp_domain: Option<&'a str>,
    /// The expected domain (`--domain`, `[check] domain`).
    pub expected_domain: Option<&'a str>,
    /// Root hashes devices trust: the factory defaults and the configured extras.
    pub trusted_roots: &'a [CertHash],
    /// How many of `trusted_roots` are configured extras (for the report's words).
    pub extra_roots: usize,
    /// The time validity is judged at.
    pub now: SystemTime,
}

/// Runs the PKI checks.
pub fn checks(inputs: &PkiInputs<'_>) -> Vec<Check> {
    let count = inputs.certificates.len() + inputs.held.len();
    if count == 0 {
        return vec![Check::fail(
            Team::Pki,
            "pki.certificates",
            "provisioning certificate",
            "no [[provisioning_certificate]] is configured: devices cannot be provisioned in \
             admin control mode (remote configuration needs a provisioning certificate whose \
             root the devices trust)",
            "PKI team: obtain a provisioning certificate for the devices' domain (from a vendor \
             whose root is in AMT firmware, or `amtd ca issue-provisioning` with its root hash \
             added in MEBx) and list it under [[provisioning_certificate]]",
        )];
    }
    let mut out = vec![Check::pass(
        Team::Pki,
        "pki.certificates",
        "provisioning certificate",
        format!("{count} configured"),
    )];
    for c in inputs.certificates {
        out.extend(certificate_checks(&c.name, load(&c.source), inputs));
    }
    for (name, p) in inputs.held {
        let loaded = Loaded {
            certs: p.chain().to_vec(),
            leaf: p.leaf().clone(),
            key: p.key().clone(),
        };
        out.extend(certificate_checks(name, Ok(loaded), inputs));
    }
    out
}

/// A certificate file read from disk: every certificate in it, the leaf (the one the key
/// belongs to) and the key.
struct Loaded {
    certs: Vec<Cert>,
    leaf: Cert,
    key: RsaKey,
}

fn load(source: &ProvisioningCertificateSource) -> Result<Loaded, String> {
    let (certs, keys) = match source {
        ProvisioningCertificateSource::Pkcs12 { path, password_env } => {
            let data =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let password = password_env.read().map_err(|e| e.to_string())?;
            let contents = amt_pki::pfx::read_pfx(&data, password.expose())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            (contents.certs, contents.keys)
        }
        ProvisioningCertificateSource::Pem { chain, key } => {
            let text = std::fs::read_to_string(chain)
                .map_err(|e| format!("cannot read {}: {e}", chain.display()))?;
            let certs =
                Cert::all_from_pem(&text).map_err(|e| format!("{}: {e}", chain.display()))?;
            let key_text = std::fs::read_to_string(key)
                .map_err(|e| format!("cannot read {}: {e}", key.display()))?;
            let key = RsaKey::from_pem(&key_text).map_err(|e| format!("{}: {e}", key.display()))?;
            (certs, vec![key])
        }
    };
    if certs.is_empty() {
        return Err("the file holds no certificate".into());
    }
    for key in keys {
        if let Some(leaf) = certs.iter().find(|c| key.matches(c.public_key_info())) {
            return Ok(Loaded {
                leaf: leaf.clone(),
                certs,
                key,
            });
        }
    }
    Err(format!(
        "the private key belongs to none of the certificates (first: {})",
        certs[0].subject()
    ))
}

fn certificate_checks(
    name: &str,
    loaded: Result<Loaded, String>,
    inputs: &PkiInputs<'_>,
) -> Vec<Check> {
    let id = |what: &str| format!("pki.{what}.{name}");
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            return vec![Check::fail(
                Team::Pki,
                &id("load"),
                &format!("certificate {name:?} loads"),
                e,
                format!(
                    "PKI team: provide provisioning certificate {name:?} as configured (the file, \
                     its password variable, and the private key matching the leaf)"
                ),
            )]
        }
    };
    let mut out = vec![Check::pass(
        Team::Pki,
        &id("load"),
        &format!("certificate {name:?} loads"),
        format!(
            "{} certificate(s); leaf {}",
            loaded.certs.len(),
            loaded.leaf.subject()
        ),
    )];
    out.push(suffix_check(&id("suffix"), name, &loaded, inputs));
    let path = amt_pki::trust::path_to_root(&loaded.leaf, &loaded.certs);
    match &path {
        Ok(path) => {
            let names: Vec<String> = std::iter::once(&loaded.leaf)
                .chain(path.iter())
                .map(short_name)
                .collect();
            out.push(Check::pass(
                Team::Pki,
                &id("chain"),
                "chain up to a self-signed root",
                names.join(" → "),
            ));
        }
        Err(e) => out.push(Check::fail(
            Team::Pki,
            &id("chain"),
            "chain up to a self-signed root",
            e.to_string(),
            format!(
                "PKI team: put the whole chain into provisioning certificate {name:?} (leaf, \
                 intermediate CAs and the root): devices check the root's hash"
            ),
        )),
    }
    match &path {
        Ok(path) => {
            let root = path.last().unwrap_or(&loaded.leaf);
            out.push(root_check(&id("root"), root, inputs));
        }
        Err(_) => out.push(Check::skipped(
            Team::Pki,
            &id("root"),
            "root trusted by the devices",
            "the chain does not reach a root",
        )),
    }
    out.push(marker_check(&id("setup_oid"), &loaded.leaf));
    out.push(expiry_check(&id("expiry"), name, &loaded, inputs.now));
    out
}

/// The suffix devices compare with their domain, through [`ProvisioningCert::domain_suffix`]
/// and [`ProvisioningCert::fits_domain`] when the certificate validates (at `now`, or at a time
/// inside every certificate's validity when it has expired: expiry is its own check).
fn suffix_check(id: &str, name: &str, loaded: &Loaded, inputs: &PkiInputs<'_>) -> Check {
    let title = "suffix fits the device domain";
    let cn = loaded
        .leaf
        .common_names()
        .into_iter()
        .next()
        .or_else(|| loaded.leaf.dns_names().into_iter().next())
        .unwrap_or_else(|| "(none)".into());
    let prov = validated(loaded, inputs.now);
    let suffix = match &prov {
        Some(p) => p.domain_suffix(),
        None => fallback_suffix(&cn),
    };
    let dhcp = inputs.dhcp_domain.map(normalise);
    let expected = inputs.expected_domain.map(normalise);
    let side_by_side = format!(
        "DHCP domain {} | expected domain {} | certificate CN {cn} (suffix {suffix})",
        dhcp.as_deref().unwrap_or("unknown"),
        expected.as_deref().unwrap_or("not set"),
    );
    let Some(device_domain) = dhcp.clone().or_else(|| expected.clone()) else {
        return Check::warn(
            Team::Pki,
            id,
            title,
            format!("{side_by_side}: no device domain known, so the fit cannot be judged"),
            "operator: give --domain (or [check] domain), or --interface for a DHCP probe",
        );
    };
    let fits = match &prov {
        Some(p) => p.fits_domain(&device_domain).is_ok(),
        None => fallback_fits(&suffix, &device_domain),
    };
    let judged = if dhcp.is_some() {
        "devices get this domain from DHCP"
    } else {
        "DHCP domain unknown: judged against the expected domain"
    };
    if fits {
        return Check::pass(Team::Pki, id, title, format!("{side_by_side}; {judged}"));
    }
    let cert_fits_expected = expected
        .as_deref()
        .is_some_and(|e| e != device_domain && fallback_fits(&suffix, e));
    let fix = if cert_fits_expected {
        format!(
            "DHCP team: set option 15 (domain-name) to {} so devices are in the certificate's \
             domain (see dhcp.option15)",
            expected.as_deref().unwrap_or_default()
        )
    } else {
        format!(
            "PKI team: use a provisioning certificate whose CN is in {device_domain} (for \
             example CN=provisioning.{device_domain}); {name:?} is for {suffix}"
        )
    };
    Check::fail(
        Team::Pki,
        id,
        title,
        format!(
            "{side_by_side}: a device in {device_domain} rejects a certificate for {suffix} \
             ({judged})"
        ),
        fix,
    )
}

/// The certificate validated by amt-pki, at `now` or else at a moment inside the validity of
/// every certificate in the file; `None` when it does not validate at all (incomplete chain,
/// no setup marker: those are reported by their own checks).
fn validated(loaded: &Loaded, now: SystemTime) -> Option<ProvisioningCert> {
    let attempt = |t| ProvisioningCert::from_parts(loaded.certs.clone(), loaded.key.clone(), t);
    attempt(now).ok().or_else(|| {
        let latest_start = loaded.certs.iter().map(Cert::not_before).max()?;
        attempt(latest_start).ok()
    })
}

fn normalise(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

/// The same rule as [`ProvisioningCert::domain_suffix`], for certificates amt-pki does not
/// validate (so that their suffix is still shown next to the other problems).
fn fallback_suffix(cn: &str) -> String {
    let name = normalise(cn);
    match name.split_once('.') {
        Some((_, rest)) if !rest.is_empty() => rest.to_owned(),
        _ => name,
    }
}

/// The same rule as [`ProvisioningCert::fits_domain`].
fn fallback_fits(suffix: &str, device_domain: &str) -> bool {
    let dev = normalise(device_domain);
    !dev.is_empty() && (dev == suffix || dev.ends_with(&format!(".{suffix}")))
}

fn root_check(id: &str, root: &Cert, inputs: &PkiInputs<'_>) -> Check {
    let title = "root trusted by the devices";
    let hashes = root.hashes();
    let hex = hashes.sha256.to_hex();
    let extra = if inputs.extra_roots > 0 {
        format!(
            " or the {} configured in [check] device_root_hashes",
            inputs.extra_roots
        )
    } else {
        String::new()
    };
    match hashes.find_in(inputs.trusted_roots) {
        Some(_) => Check::pass(
            Team::Pki,
            id,
            title,
            format!("{} (SHA-256 {hex}) is a trusted root", short_name(root)),
        ),
        None => Check::fail(
            Team::Pki,
            id,
            title,
            format!(
                "{} (SHA-256 {hex}) is not among the firmware's factory root hashes{extra}",
                short_name(root)
            ),
            format!(
                "PKI team: add the root hash {hex} to the devices' trusted roots in MEBx, or use \
                 a vendor provisioning certificate"
            ),
        ),
    }
}

fn marker_check(id: &str, leaf: &Cert) -> Check {
    let title = "leaf marked for AMT setup";
    let oid = leaf.extended_key_usages().contains(&oid::AMT_SETUP_USAGE);
    let ou = leaf.organizational_units().iter().any(|o| o == SETUP_OU);
    match (oid, ou) {
        (false, false) => Check::fail(
            Team::Pki,
            id,
            title,
            format!(
                "{} has neither the extended key usage 2.16.840.1.113741.1.2.3 nor \
                 OU={SETUP_OU}",
                leaf.subject()
            ),
            "PKI team: reissue the provisioning certificate with the AMT setup extended key \
             usage 2.16.840.1.113741.1.2.3 (or OU=Intel(R) Client Setup Certificate)",
        ),
        (true, true) => Check::pass(Team::Pki, id, title, "setup OID and OU"),
        (true, false) => Check::pass(Team::Pki, id, title, "setup OID 2.16.840.1.113741.1.2.3"),
        (false, true) => Check::pass(Team::Pki, id, title, format!("OU={SETUP_OU}")),
    }
}

fn expiry_check(id: &str, name: &str, loaded: &Loaded, now: SystemTime) -> Check {
    let title = "validity period";
    let renew = format!(
        "PKI team: renew provisioning certificate {name:?} and replace the file amtd is \
         configured with"
    );
    for c in &loaded.certs {
        if c.not_after() < now {
            return Check::fail(
                Team::Pki,
                id,
                title,
                format!("{} expired on {}", short_name(c), date(c.not_after())),
                renew,
            );
        }
        if c.not_before() > now {
            return Check::fail(
                Team::Pki,
                id,
                title,
                format!(
                    "{} is not valid before {} (is this machine's clock right?)",
                    short_name(c),
                    date(c.not_before())
                ),
                format!(
                    "PKI team: check the validity dates of {name:?}; operator: check the clock"
                ),
            );
        }
    }
    let Some(first) = loaded.certs.iter().min_by_key(|c| c.not_after()) else {
        return Check::skipped(Team::Pki, id, title, "no certificate");
    };
    let left = first.not_after().duration_since(now).unwrap_or_default();
    let days = left.as_secs() / 86_400;
    let detail = format!(
        "{} expires on {} (in {days} days)",
        short_name(first),
        date(first.not_after())
    );
    if left < EXPIRY_WARNING {
        Check::warn(Team::Pki, id, title, detail, renew)
    } else {
        Check::pass(Team::Pki, id, title, detail)
    }
}

/// `CN=…` of a certificate (its whole subject when it has no CN).
fn short_name(c: &Cert) -> String {
    c.common_names()
        .into_iter()
        .next()
        .map_or_else(|| c.subject(), |cn| format!("CN={cn}"))
}

fn date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let text = amt_wire::logs::utc_text(secs);
    format!("{} UTC", &text[..text.len().min(16)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_suffix_follows_the_amt_pki_rule() {
        assert_eq!(fallback_suffix("provisioning.AMT.test."), "amt.test");
        assert_eq!(fallback_suffix("*.corp.example"), "corp.example");
        assert_eq!(fallback_suffix("single"), "single");
        assert!(fallback_fits("amt.test", "sub.amt.test"));
        assert!(fallback_fits("amt.test", "AMT.test."));
        assert!(!fallback_fits("amt.test", "xamt.test"));
        assert!(!fallback_fits("amt.test", ""));
    }

    #[test]
    fn no_certificate_fails_in_words_for_admin_control_mode() {
        let checks = checks(&PkiInputs {
            certificates: &[],
            held: &[],
            dhcp_domain: None,
            expected_domain: Some("amt.test"),
            trusted_roots: &[],
            extra_roots: 0,
            now: SystemTime::now(),
        });
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].id, "pki.certificates");
        assert_eq!(checks[0].status, super::super::report::Status::Fail);
        assert!(checks[0].detail.contains("admin control mode"));
    }
}
