//! TLS configuration: `AMT_TLSSettingData` (remote `Intel(r) AMT 802.3 TLS Settings` and local
//! `Intel(r) AMT LMS TLS Settings`), `AMT_TLSCredentialContext` (which stored certificate the
//! TLS endpoints use), `AMT_TLSProtocolEndpointCollection`, and the pushed CRL serial lists
//! (`AddCRL`, `ResetCRLList`, `AMT_CRL`).
//!
//! Settings take effect when the network front restarts its listeners after CommitChanges.

use amt_wsman::classes::amt::{
    AddCrlInput, AddCrlOutput, AmtCrl, AmtTlsCredentialContext, AmtTlsProtocolEndpointCollection,
    AmtTlsSettingData, PtStatus, ResetCrlListOutput, TLS_ENDPOINT_COLLECTION_NAME,
    TLS_LOCAL_INSTANCE_ID, TLS_REMOTE_INSTANCE_ID,
};
use amt_wsman::classes::{KnownClass, Typed};
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::value::{Selector, SelectorValue};
use amt_wsman::{EndpointReference, Fault, Instance, ResponseBody, SelectorSet};
use base64::Engine as _;

use super::{cert_instance_id, handle_of, key_for, parse_stored, CERT_ID_PREFIX};
use crate::firmware::setup::{b64, b64_decode, output};
use crate::firmware::{Env, Firmware};
use crate::state::{CrlEntry, TlsSetting};

/// `InstanceID` prefix of `AMT_CRL`.
pub const CRL_ID_PREFIX: &str = "Intel(r) AMT CRL: Handle: ";
/// Most pushed CRL lists.
pub const MAX_CRLS: usize = 16;
/// Most serial numbers in one pushed list.
pub const MAX_CRL_SERIALS: usize = 1024;
/// Longest client certificate CN in `TrustedCN` (an RFC 1035 name).
const MAX_CN_LEN: usize = 255;

fn bad(reason: &str) -> ResponseBody {
    ResponseBody::Fault(Fault::new(
        FaultCode::Sender,
        Subcode::InvalidRepresentation,
        reason.to_owned(),
    ))
}

/// Instances of `AMT_CRL`, `AMT_TLSSettingData`, `AMT_TLSCredentialContext` and
/// `AMT_TLSProtocolEndpointCollection`.
pub(crate) fn instances(fw: &Firmware, class: KnownClass) -> Vec<Instance> {
    let s = &fw.state;
    match class {
        KnownClass::AmtCrl => s
            .crls
            .iter()
            .enumerate()
            .map(|(i, c)| crl_view(i, c).to_instance())
            .collect(),
        KnownClass::AmtTlsSettingData => vec![
            setting_view(true, &s.tls_remote).to_instance(),
            setting_view(false, &s.tls_local).to_instance(),
        ],
        KnownClass::AmtTlsCredentialContext => s
            .tls_cert_handle
            .map(|h| context_view(h).to_instance())
            .into_iter()
            .collect(),
        KnownClass::AmtTlsProtocolEndpointCollection => vec![AmtTlsProtocolEndpointCollection {
            element_name: Some(TLS_ENDPOINT_COLLECTION_NAME.to_owned()),
            ..Default::default()
        }
        .to_instance()],
        _ => Vec::new(),
    }
}

fn crl_view(index: usize, c: &CrlEntry) -> AmtCrl {
    AmtCrl {
        element_name: Some("Intel(r) AMT CRL".to_owned()),
        instance_id: Some(format!("{CRL_ID_PREFIX}{index}")),
        serial_numbers: c.serials_b64.clone(),
        url: Some(c.url.clone()),
        ..Default::default()
    }
}

/// One `AMT_TLSSettingData` instance as the recorded device shows it. The local (LMS)
/// interface accepts plain connections while its TLS is off.
pub fn setting_view(remote: bool, t: &TlsSetting) -> AmtTlsSettingData {
    let id = if remote {
        TLS_REMOTE_INSTANCE_ID
    } else {
        TLS_LOCAL_INSTANCE_ID
    };
    AmtTlsSettingData {
        accept_non_secure_connections: Some(if remote {
            t.accept_non_secure
        } else {
            !t.enabled || t.accept_non_secure
        }),
        element_name: Some(id.to_owned()),
        enabled: Some(t.enabled),
        instance_id: Some(id.to_owned()),
        mutual_authentication: Some(t.mutual_authentication),
        trusted_cn: t.trusted_cn.clone(),
        ..Default::default()
    }
}

fn collection_epr() -> EndpointReference {
    EndpointReference::to_class(
        "AMT_TLSProtocolEndpointCollection",
        SelectorSet::one("ElementName", TLS_ENDPOINT_COLLECTION_NAME),
    )
}

fn cert_ref(handle: u32) -> EndpointReference {
    EndpointReference::to_class(
        "AMT_PublicKeyCertificate",
        SelectorSet::one("InstanceID", &cert_instance_id(handle)),
    )
}

/// The `AMT_TLSCredentialContext` binding the certificate `handle` to the TLS endpoints.
pub fn context_view(handle: u32) -> AmtTlsCredentialContext {
    AmtTlsCredentialContext {
        element_in_context: Some(cert_ref(handle)),
        element_providing_context: Some(collection_epr()),
        extra: Vec::new(),
    }
}

/// The reference a Create of the context answers with (`ResourceCreated`): both keys are
/// references (fixture `amt/tls/credentialcontext/create.xml`).
fn context_epr(handle: u32) -> EndpointReference {
    EndpointReference::to_class(
        "AMT_TLSCredentialContext",
        SelectorSet(vec![
            Selector {
                name: "ElementInContext".to_owned(),
                value: SelectorValue::Epr(Box::new(cert_ref(handle))),
            },
            Selector {
                name: "ElementProvidingContext".to_owned(),
                value: SelectorValue::Epr(Box::new(collection_epr())),
            },
        ]),
    )
}

/// Create (`create`) or Put of `AMT_TLSCredentialContext`: the certificate must be in the
/// store, not a trusted root, and have its private key in the store.
pub(crate) fn bind_context(
    fw: &mut Firmware,
    ctx: &AmtTlsCredentialContext,
    create: bool,
    env: &mut Env<'_>,
) -> ResponseBody {
    if !ctx.provides_tls_endpoints() {
        return bad("ElementProvidingContext must reference the TLS protocol endpoint collection.");
    }
    let Some(handle) = ctx
        .certificate_instance_id()
        .and_then(|id| handle_of(id, CERT_ID_PREFIX))
    else {
        return bad("ElementInContext must reference an AMT_PublicKeyCertificate.");
    };
    let s = &fw.state;
    let Some(stored) = s.certs.iter().find(|c| c.handle == handle) else {
        return bad("The referenced certificate does not exist.");
    };
    let usable = !stored.trusted_root
        && parse_stored(stored).is_some_and(|c| key_for(&s.keys, &c).is_some());
    if !usable {
        return bad("The referenced certificate has no private key in the store.");
    }
    if create && s.tls_cert_handle.is_some() {
        return ResponseBody::Fault(Fault::new(
            FaultCode::Sender,
            Subcode::AlreadyExists,
            "The TLS credential context already exists; use Put to change it.",
        ));
    }
    fw.state.tls_cert_handle = Some(handle);
    let now = fw.device_time(env);
    fw.state
        .audit(now, format!("TLS server certificate set (handle {handle})"));
    fw.changed();
    if create {
        ResponseBody::Create(context_epr(handle))
    } else {
        ResponseBody::Put(Some(context_view(handle).to_instance()))
    }
}

/// Delete `AMT_TLSCredentialContext`: refused while TLS is enabled on an interface.
pub(crate) fn delete_context(fw: &mut Firmware, env: &mut Env<'_>) -> ResponseBody {
    if fw.state.tls_cert_handle.is_none() {
        return ResponseBody::Fault(Fault::invalid_selectors());
    }
    if fw.state.tls_remote.enabled || fw.state.tls_local.enabled {
        return super::in_use_fault("credential context");
    }
    fw.state.tls_cert_handle = None;
    let now = fw.device_time(env);
    fw.state.audit(now, "TLS server certificate removed");
    fw.changed();
    ResponseBody::Delete(None)
}

/// Put `AMT_TLSSettingData`: `Enabled`, `MutualAuthentication`, `AcceptNonSecureConnections`,
/// `TrustedCN`. TLS needs a credential context first; mutual TLS on the local interface is
/// refused (deprecated since AMT 6.0).
pub(crate) fn put_setting(
    fw: &mut Firmware,
    t: &AmtTlsSettingData,
    selectors: &SelectorSet,
    env: &mut Env<'_>,
) -> ResponseBody {
    let id = selectors.get("InstanceID").or(t.instance_id.as_deref());
    let remote = match id {
        Some(TLS_REMOTE_INSTANCE_ID) => true,
        Some(TLS_LOCAL_INSTANCE_ID) => false,
        _ => return ResponseBody::Fault(Fault::invalid_selectors()),
    };
    let current = if remote {
        &fw.state.tls_remote
    } else {
        &fw.state.tls_local
    };
    let next = TlsSetting {
        enabled: t.enabled.unwrap_or(current.enabled),
        mutual_authentication: t
            .mutual_authentication
            .unwrap_or(current.mutual_authentication),
        accept_non_secure: t
            .accept_non_secure_connections
            .unwrap_or(current.accept_non_secure),
        // Put replaces the representation: a body without TrustedCN clears the list.
        trusted_cn: t.trusted_cn.clone(),
    };
    if next.enabled && fw.state.tls_cert_handle.is_none() {
        return bad("TLS cannot be enabled before a TLS credential context exists.");
    }
    if !remote && next.mutual_authentication {
        return bad("Mutual authentication is not supported on the local interface.");
    }
    if next
        .trusted_cn
        .iter()
        .any(|cn| cn.is_empty() || cn.len() > MAX_CN_LEN || !cn.is_ascii())
    {
        return bad("TrustedCN entries must be non-empty ASCII names.");
    }
    let now = fw.device_time(env);
    fw.state.audit(
        now,
        format!(
            "TLS state changed ({}: enabled={}, mutual={}, non-secure={})",
            if remote { "remote" } else { "local" },
            next.enabled,
            next.mutual_authentication,
            next.accept_non_secure
        ),
    );
    if remote {
        fw.state.tls_remote = next;
    } else {
        fw.state.tls_local = next;
    }
    fw.changed();
    let view = if remote {
        setting_view(true, &fw.state.tls_remote)
    } else {
        setting_view(false, &fw.state.tls_local)
    };
    ResponseBody::Put(Some(view.to_instance()))
}

/// `AddCRL`: a list of revoked serial numbers (each base64), not a DER CRL.
pub(crate) fn add_crl(fw: &mut Firmware, input: &AddCrlInput, env: &mut Env<'_>) -> ResponseBody {
    let mut serials = Vec::with_capacity(input.serial_numbers.len());
    let mut status = PtStatus::Success;
    for s in &input.serial_numbers {
        match b64_decode(s) {
            Some(bytes) if !bytes.is_empty() && bytes.len() <= 20 => {
                serials.push(b64().encode(bytes));
            }
            _ => status = PtStatus::InvalidParameter,
        }
    }
    if status == PtStatus::Success && serials.len() > MAX_CRL_SERIALS {
        status = PtStatus::InvalidParameter;
    }
    if status == PtStatus::Success && fw.state.crls.len() >= MAX_CRLS {
        status = PtStatus::MaxLimitReached;
    }
    let mut crl = None;
    if status == PtStatus::Success {
        let index = fw.state.crls.len();
        fw.state.crls.push(CrlEntry {
            url: input.url.clone().unwrap_or_default(),
            serials_b64: serials,
        });
        let now = fw.device_time(env);
        fw.state.audit(now, format!("CRL added ({index})"));
        fw.changed();
        crl = Some(EndpointReference::to_class(
            "AMT_CRL",
            SelectorSet::one("InstanceID", &format!("{CRL_ID_PREFIX}{index}")),
        ));
    }
    output(AddCrlOutput {
        crl,
        return_value: Some(status),
        ..Default::default()
    })
}

/// `ResetCRLList`: stop using CRLs.
pub(crate) fn reset_crl_list(fw: &mut Firmware, env: &mut Env<'_>) -> ResponseBody {
    fw.state.crls.clear();
    let now = fw.device_time(env);
    fw.state.audit(now, "CRL list reset");
    fw.changed();
    output(ResetCrlListOutput {
        return_value: Some(PtStatus::Success),
        ..Default::default()
    })
}
