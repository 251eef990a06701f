//! `IPS_HostBasedSetupService` (AMT-PROTOCOLS §2.2–§2.3): Client Control Mode `Setup`, the
//! provisioning certificate chain (`AddNextCertInChain`, leaf first, root last), Admin Control
//! Mode `AdminSetup` and `UpgradeClientToAdmin`, both checked with an RSA PKCS#1 v1.5 SHA-256
//! signature over `ConfigurationNonce || McNonce` made with the provisioning leaf's key.
//!
//! The nonce is 20 random bytes from [`Env`], replaced after every signature check so a
//! signature can never be replayed.

use amt_wsman::classes::ips::{
    AddNextCertInChainInput, AddNextCertInChainOutput, AddNextCertInChainReturn,
    AdminPassEncryptionType, AdminSetupInput, AdminSetupOutput, AdminSetupReturn, CertChainStatus,
    ControlMode, HostBasedSetupReturn, IpsHostBasedSetupService, SetupInput, SetupOutput,
    SigningAlgorithm, UpgradeClientToAdminInput, UpgradeClientToAdminOutput,
};
use amt_wsman::ResponseBody;
use base64::Engine as _;
use const_oid::db::rfc5912;

use super::{b64, b64_decode, output};
use crate::firmware::certs::x509::{verify_pkcs1, X509};
use crate::firmware::{Env, Firmware, FirmwareEvent};
use crate::state::Phase;

/// Bytes of `ConfigurationNonce` and of the console's `McNonce`.
pub const NONCE_LEN: usize = 20;
/// Most certificates `AddNextCertInChain` accepts (leaf, intermediates, root).
pub const MAX_CHAIN_LEN: usize = 4;
const SERVICE_NAME: &str = "Intel(r) AMT Host Based Setup Service";

/// A fresh base64 `ConfigurationNonce`.
pub(crate) fn new_nonce(env: &mut Env<'_>) -> String {
    b64().encode(env.bytes::<NONCE_LEN>())
}

/// The `IPS_HostBasedSetupService` instance (fixture `ips/hostbasedsetup/get.xml`).
pub fn service(fw: &Firmware) -> IpsHostBasedSetupService {
    let s = &fw.state;
    let current = match s.control_mode {
        1 => ControlMode::Client,
        2 => ControlMode::Admin,
        _ => ControlMode::NotProvisioned,
    };
    let allowed = if current == ControlMode::Client {
        // A CCM device can only be upgraded.
        vec![ControlMode::Admin]
    } else {
        vec![ControlMode::Admin, ControlMode::Client]
    };
    let chain = if s.hbs_chain.is_empty() {
        CertChainStatus::NotStarted
    } else if s.hbs_chain_complete {
        CertChainStatus::ChainComplete
    } else {
        CertChainStatus::ChainInProgress
    };
    IpsHostBasedSetupService {
        allowed_control_modes: allowed,
        cert_chain_status: Some(chain),
        configuration_nonce: Some(s.configuration_nonce_b64.clone()),
        creation_class_name: Some("IPS_HostBasedSetupService".to_owned()),
        current_control_mode: Some(current),
        element_name: Some(SERVICE_NAME.to_owned()),
        name: Some(SERVICE_NAME.to_owned()),
        system_creation_class_name: Some("CIM_ComputerSystem".to_owned()),
        system_name: Some("Intel(r) AMT".to_owned()),
        ..Default::default()
    }
}

/// `NetworkAdminPassword`: 32 hex digits of MD5(`admin:realm:password`), stored lower-case.
fn admin_ha1(hex_pw: Option<&str>) -> Option<String> {
    let h = hex_pw?.trim();
    (h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

fn unprovisioned(fw: &Firmware) -> bool {
    fw.state.phase == Phase::Setup && fw.state.control_mode == 0
}

/// `Setup`: activation into Client Control Mode with the admin password hash.
pub(crate) fn setup(fw: &mut Firmware, input: &SetupInput, env: &mut Env<'_>) -> ResponseBody {
    let ret = |r| {
        output(SetupOutput {
            return_value: Some(r),
            ..Default::default()
        })
    };
    if !unprovisioned(fw) {
        return ret(HostBasedSetupReturn::InvalidState);
    }
    if input.net_admin_pass_encryption_type != Some(AdminPassEncryptionType::HttpDigestMd5A1) {
        return ret(HostBasedSetupReturn::InvalidParam);
    }
    let Some(ha1) = admin_ha1(input.network_admin_password.as_deref()) else {
        return ret(HostBasedSetupReturn::InvalidParam);
    };
    let now = fw.device_time(env);
    let s = &mut fw.state;
    s.admin_ha1_hex = Some(ha1);
    s.control_mode = 1;
    s.phase = Phase::Provisioned;
    s.audit(
        now,
        "Provisioning Completed (Client Control Mode, host-based setup)",
    );
    fw.emit(FirmwareEvent::Committed);
    fw.changed();
    ret(HostBasedSetupReturn::Success)
}

/// `AddNextCertInChain`: one certificate of the provisioning chain, leaf first, root last.
/// Each certificate must have signed the previous one; the leaf must carry the setup OID or
/// OU and a name in the device's domain; the root must be self-signed with its SHA-256 among
/// the trusted provisioning hashes. A failed check discards the chain.
pub(crate) fn add_next_cert_in_chain(
    fw: &mut Firmware,
    input: &AddNextCertInChainInput,
    env: &mut Env<'_>,
) -> ResponseBody {
    let r = add_next_cert(fw, input, env);
    if matches!(
        r,
        AddNextCertInChainReturn::CertVerifyFailed
            | AddNextCertInChainReturn::CertChainLengthExceeded
    ) {
        fw.state.hbs_chain.clear();
        fw.state.hbs_chain_complete = false;
        fw.changed();
    }
    output(AddNextCertInChainOutput {
        return_value: Some(r),
        ..Default::default()
    })
}

fn add_next_cert(
    fw: &mut Firmware,
    input: &AddNextCertInChainInput,
    env: &mut Env<'_>,
) -> AddNextCertInChainReturn {
    use AddNextCertInChainReturn as R;
    let upgrading = fw.state.phase == Phase::Provisioned && fw.state.control_mode == 1;
    if !unprovisioned(fw) && !upgrading {
        return R::InvalidState;
    }
    let Some(der) = input.next_certificate.as_deref().and_then(b64_decode) else {
        return R::InvalidParam;
    };
    let Some(cert) = X509::parse(&der) else {
        return R::InvalidParam;
    };
    let is_leaf = input.is_leaf_certificate.unwrap_or(false);
    let is_root = input.is_root_certificate.unwrap_or(false);
    let now = fw.device_time(env);
    if is_leaf {
        fw.state.hbs_chain.clear();
        fw.state.hbs_chain_complete = false;
        if !cert.has_setup_marker() || !fits_domain(&cert, &fw.state.config.domain) {
            return R::CertVerifyFailed;
        }
    } else {
        if fw.state.hbs_chain.is_empty() || fw.state.hbs_chain_complete {
            return R::InvalidState;
        }
        let previous = fw
            .state
            .hbs_chain
            .last()
            .and_then(|p| b64_decode(p))
            .and_then(|d| X509::parse(&d));
        match previous {
            Some(p) if p.signed_by(&cert) => {}
            _ => return R::CertVerifyFailed,
        }
    }
    if fw.state.hbs_chain.len() >= MAX_CHAIN_LEN {
        return R::CertChainLengthExceeded;
    }
    let weak = fw.persona.quirks.rejects_sha1
        && (cert.sha1_signed() || cert.rsa_bits().is_some_and(|b| b < 2048));
    if !cert.valid_at(now) || weak {
        return R::CertVerifyFailed;
    }
    if is_root {
        if !cert.self_signed() || !fw.trusts_provisioning_root(&cert.sha256()) {
            return R::CertVerifyFailed;
        }
        fw.state.hbs_chain_complete = true;
    }
    fw.state.hbs_chain.push(b64().encode(cert.der()));
    fw.changed();
    R::Success
}

/// Whether one of the leaf's names (CN or SAN DNS name) lies in the device's domain. A device
/// without a configured domain does not check (it would use the DHCP option 15 suffix, which
/// the network front owns).
fn fits_domain(cert: &X509, domain: &str) -> bool {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return true;
    }
    cert.dns_names().iter().any(|n| {
        let n = n.trim_start_matches("*.");
        n == domain || n.ends_with(&format!(".{domain}"))
    })
}

/// Checks `McNonce`/`SigningAlgorithm`/`DigitalSignature` against the completed chain and
/// consumes the configuration nonce. `Err(true)` for bad parameters, `Err(false)` for a
/// signature that does not verify.
fn check_signature(
    fw: &mut Firmware,
    mc_nonce: Option<&str>,
    algorithm: Option<SigningAlgorithm>,
    signature: Option<&str>,
    env: &mut Env<'_>,
) -> Result<(), bool> {
    let mc = mc_nonce.and_then(b64_decode).ok_or(true)?;
    let sig = signature.and_then(b64_decode).ok_or(true)?;
    if mc.len() != NONCE_LEN || algorithm != Some(SigningAlgorithm::RsaSha256) {
        return Err(true);
    }
    let nonce = b64_decode(&fw.state.configuration_nonce_b64).unwrap_or_default();
    // The nonce is single-use: replaced whether or not the signature verifies.
    fw.state.configuration_nonce_b64 = new_nonce(env);
    fw.changed();
    let leaf = fw
        .state
        .hbs_chain
        .first()
        .and_then(|c| b64_decode(c))
        .and_then(|d| X509::parse(&d))
        .ok_or(false)?;
    let mut signed = nonce;
    signed.extend_from_slice(&mc);
    if verify_pkcs1(
        leaf.spki(),
        &rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
        &signed,
        &sig,
    ) {
        Ok(())
    } else {
        Err(false)
    }
}

/// `AdminSetup`: activation into Admin Control Mode.
pub(crate) fn admin_setup(
    fw: &mut Firmware,
    input: &AdminSetupInput,
    env: &mut Env<'_>,
) -> ResponseBody {
    let ret = |r| {
        output(AdminSetupOutput {
            return_value: Some(r),
            ..Default::default()
        })
    };
    if !unprovisioned(fw) || !fw.state.hbs_chain_complete {
        return ret(AdminSetupReturn::InvalidState);
    }
    if input.net_admin_pass_encryption_type != Some(AdminPassEncryptionType::HttpDigestMd5A1) {
        return ret(AdminSetupReturn::InvalidParam);
    }
    let Some(ha1) = admin_ha1(input.network_admin_password.as_deref()) else {
        return ret(AdminSetupReturn::InvalidParam);
    };
    match check_signature(
        fw,
        input.mc_nonce.as_deref(),
        input.signing_algorithm,
        input.digital_signature.as_deref(),
        env,
    ) {
        Err(true) => return ret(AdminSetupReturn::InvalidParam),
        Err(false) => {
            let now = fw.device_time(env);
            fw.state
                .audit(now, "Provisioning failed: AdminSetup signature rejected");
            return ret(AdminSetupReturn::AuthFailed);
        }
        Ok(()) => {}
    }
    let now = fw.device_time(env);
    let s = &mut fw.state;
    s.admin_ha1_hex = Some(ha1);
    s.control_mode = 2;
    s.phase = Phase::Provisioned;
    s.hbs_chain.clear();
    s.hbs_chain_complete = false;
    s.audit(
        now,
        "Provisioning Completed (Admin Control Mode, host-based setup)",
    );
    fw.emit(FirmwareEvent::Committed);
    fw.changed();
    if fw.persona.quirks.drop_after_admin_setup {
        fw.emit(FirmwareEvent::DropSession);
    }
    ret(AdminSetupReturn::Success)
}

/// `UpgradeClientToAdmin`: Client Control Mode to Admin Control Mode.
pub(crate) fn upgrade_client_to_admin(
    fw: &mut Firmware,
    input: &UpgradeClientToAdminInput,
    env: &mut Env<'_>,
) -> ResponseBody {
    let ret = |r| {
        output(UpgradeClientToAdminOutput {
            return_value: Some(r),
            ..Default::default()
        })
    };
    if fw.state.phase != Phase::Provisioned
        || fw.state.control_mode != 1
        || !fw.state.hbs_chain_complete
    {
        return ret(HostBasedSetupReturn::InvalidState);
    }
    match check_signature(
        fw,
        input.mc_nonce.as_deref(),
        input.signing_algorithm,
        input.digital_signature.as_deref(),
        env,
    ) {
        Err(true) => return ret(HostBasedSetupReturn::InvalidParam),
        Err(false) => return ret(HostBasedSetupReturn::AuthFailed),
        Ok(()) => {}
    }
    let now = fw.device_time(env);
    let s = &mut fw.state;
    s.control_mode = 2;
    s.hbs_chain.clear();
    s.hbs_chain_complete = false;
    s.audit(now, "Upgrade Client to Admin Control Mode");
    fw.emit(FirmwareEvent::Committed);
    fw.changed();
    ret(HostBasedSetupReturn::Success)
}
