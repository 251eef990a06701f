//! Chains and trust files in the order the device and redirection clients expect (M8).

use rand_core::CryptoRng;

use crate::cert::Cert;
use crate::error::{PkiError, Result};
use crate::key::RsaKey;

/// Follow issuers from `start` up through `pool` to a self-signed root. Returns the path
/// without `start`, nearest issuer first. Fails if the path stops before a root.
pub fn path_to_root(start: &Cert, pool: &[Cert]) -> Result<Vec<Cert>> {
    let mut path: Vec<Cert> = Vec::new();
    let mut current = start.clone();
    while !current.is_self_signed() {
        let issuer = pool
            .iter()
            .find(|c| current.verify_signed_by(c).is_ok())
            .ok_or_else(|| PkiError::IncompleteChain {
                reason: format!(
                    "no certificate given for {}, the issuer of {}",
                    current.issuer(),
                    current.subject()
                ),
            })?;
        if path.iter().any(|p| p.der() == issuer.der()) || path.len() > 16 {
            return Err(PkiError::IncompleteChain {
                reason: "the certificates form a loop".into(),
            });
        }
        path.push(issuer.clone());
        current = issuer.clone();
    }
    Ok(path)
}

/// Order a set of CA certificates from the lowest (the one that signed none of the others) up
/// to the root. Every certificate must be on that one path and the path must end in a
/// self-signed root.
pub fn order_to_root(cas: &[Cert]) -> Result<Vec<Cert>> {
    let bottoms: Vec<&Cert> = cas
        .iter()
        .filter(|c| {
            !cas.iter()
                .any(|o| o.der() != c.der() && !o.is_self_signed() && o.verify_signed_by(c).is_ok())
        })
        .collect();
    let bottom = match bottoms.as_slice() {
        [one] => *one,
        [] => {
            return Err(PkiError::IncompleteChain {
                reason: "no certificates given".into(),
            })
        }
        many => {
            return Err(PkiError::IncompleteChain {
                reason: format!(
                    "the certificates form {} separate chains ({})",
                    many.len(),
                    many.iter()
                        .map(|c| c.subject())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            })
        }
    };
    let mut ordered = vec![bottom.clone()];
    ordered.extend(path_to_root(bottom, cas)?);
    if let Some(extra) = cas
        .iter()
        .find(|c| !ordered.iter().any(|o| o.der() == c.der()))
    {
        return Err(PkiError::IncompleteChain {
            reason: format!("{} is not on the chain", extra.subject()),
        });
    }
    Ok(ordered)
}

/// The redirection (SOL/IDE-R) trust PEM: the issuing CA first, then its signing CA, ending
/// with the root.
pub fn redirection_trust_pem(cas: &[Cert]) -> Result<String> {
    Ok(order_to_root(cas)?.iter().map(Cert::to_pem).collect())
}

/// The mutual-TLS client bundle, in the order the device's trust chain expects: the client
/// certificate with its key as PKCS#12, then the issuing CA, then (any further intermediates
/// and) the root.
#[derive(Debug)]
pub struct MtlsBundle {
    /// PKCS#12 holding the client certificate and key.
    pub pfx: Vec<u8>,
    /// CA certificates, issuing CA first, root last.
    pub cas: Vec<Cert>,
}

impl MtlsBundle {
    /// Build the bundle; `cas` may be in any order but must form the client's chain.
    pub fn new<R: CryptoRng + ?Sized>(
        client: &Cert,
        key: &RsaKey,
        cas: &[Cert],
        password: &str,
        rng: &mut R,
    ) -> Result<Self> {
        let path = path_to_root(client, cas)?;
        let pfx = crate::pfx::write_pfx(client, key, &[], &client.subject(), password, rng)?;
        Ok(MtlsBundle { pfx, cas: path })
    }

    /// The bundle as named files in order: `1-client.pfx`, `2-issuing-ca.pem`, …,
    /// `N-root-ca.pem`.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![("1-client.pfx".to_string(), self.pfx.clone())];
        let n = self.cas.len();
        for (i, c) in self.cas.iter().enumerate() {
            let name = if i + 1 == n {
                "root-ca"
            } else if i == 0 {
                "issuing-ca"
            } else {
                "intermediate-ca"
            };
            out.push((format!("{}-{name}.pem", i + 2), c.to_pem().into_bytes()));
        }
        out
    }
}
