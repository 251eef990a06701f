//! P3: pick the provisioning certificate to connect back with, or refuse with a reason.

use amt_pki::{CertHash, PkiError, ProvisioningCert};

use crate::domain::Fqdn;

/// The certificate picked for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChoice {
    /// Index in the candidates.
    pub index: usize,
    /// The leaf's subject, for logs.
    pub subject: String,
    /// The certificate's domain suffix.
    pub suffix: String,
}

/// Picks the first candidate whose root hash is among the device's trusted hashes and whose
/// domain suffix fits the device's domain (the FQDN without its first label). When none fits,
/// the error says why in plain words: with a single candidate the reason itself (for example
/// "device domain corp.example does not match provisioning certificate suffix lab.example"),
/// with several one reason per candidate.
pub fn choose_provisioning_cert(
    candidates: &[ProvisioningCert],
    trusted: &[CertHash],
    fqdn: &Fqdn,
) -> Result<CertChoice, String> {
    let domain = fqdn.domain();
    let mut reasons: Vec<String> = Vec::new();
    for (index, c) in candidates.iter().enumerate() {
        match c.check_device(trusted, domain) {
            Ok(()) => {
                return Ok(CertChoice {
                    index,
                    subject: c.leaf().subject(),
                    suffix: c.domain_suffix(),
                })
            }
            Err(e) => reasons.push(describe(&e)),
        }
    }
    Err(match reasons.len() {
        0 => "no provisioning certificate is configured".to_owned(),
        1 => reasons.swap_remove(0),
        _ => format!(
            "no provisioning certificate fits this device: {}",
            reasons.join("; ")
        ),
    })
}

fn describe(e: &PkiError) -> String {
    e.to_string()
}

/// The hello's root hashes in amt-pki's form (hashes of an unknown length are skipped).
pub fn hello_hashes(hashes: &[amt_wire::hello::RootHash]) -> Vec<CertHash> {
    hashes
        .iter()
        .filter_map(|h| {
            let alg = amt_pki::HashAlgorithm::try_from(u8::from(h.algorithm())).ok()?;
            CertHash::new(alg, h.as_bytes().to_vec()).ok()
        })
        .collect()
}
