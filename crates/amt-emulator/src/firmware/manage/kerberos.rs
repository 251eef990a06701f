//! `AMT_KerberosSettingData` (Get/Put, `GetCredentialCacheState`, `SetCredentialCacheState`):
//! the AD realm, SPNs and key the network front's Negotiate acceptor uses (AMT-PROTOCOLS.md §7).
//!
//! Get answers the recorded `amt/kerberos/get.xml` shape before configuration (element name,
//! instance ID, `KrbEnabled`, the three supported encryption types) and adds the realm, SPNs,
//! key version, algorithms and clock tolerance once set. `MasterKey` and `Passphrase` are
//! write-only and never read back. Put with `KrbEnabled` true needs a realm, at least one SPN
//! (with as many protocols as names) and a key (a base64 `MasterKey` of 16 or 32 bytes, a
//! `Passphrase`, or one set before); otherwise it is refused with `wsman:InvalidParameter`.
//! A Put is audited as 1613, a new key as 1614.

use amt_wsman::classes::amt::{
    AmtKerberosSettingData, GetCredentialCacheStateOutput, KerberosEncryption, PtStatus,
    ServicePrincipalProtocol, SetCredentialCacheStateInput, SetCredentialCacheStateOutput,
};
use amt_wsman::classes::Typed;
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::{Fault, Instance, ResponseBody};
use base64::Engine as _;

use super::logs::{self, audit_events};
use super::reply;
use super::store::{KerberosStore, Secret};
use crate::firmware::{Caller, Env, Firmware};

/// The one `AMT_KerberosSettingData` instance.
pub(super) fn instances(fw: &Firmware) -> Vec<Instance> {
    let k = &fw.state.manage.kerberos;
    let configured = !k.realm.is_empty();
    let alg = |v: &u16| KerberosEncryption::try_from(*v).ok();
    let s = AmtKerberosSettingData {
        configured_encryption_algorithms: k.configured_algorithms.iter().filter_map(alg).collect(),
        element_name: Some("Intel(r) AMT: Kerberos Settings".into()),
        encryption_algorithm: configured.then(|| alg(&k.encryption_algorithm)).flatten(),
        instance_id: Some("Intel (r) AMT: Kerberos Settings".into()),
        iteration_count: k.iteration_count.filter(|_| configured),
        key_version: configured.then_some(k.key_version),
        krb_enabled: Some(k.enabled),
        master_key: None,
        maximum_clock_tolerance: configured.then_some(k.max_clock_tolerance),
        passphrase: None,
        realm_name: configured.then(|| k.realm.clone()),
        salt: (!k.salt.is_empty()).then(|| k.salt.clone()),
        service_principal_name: k.spns.iter().map(|(n, _)| n.clone()).collect(),
        service_principal_protocol: k
            .spns
            .iter()
            .filter_map(|(_, p)| ServicePrincipalProtocol::try_from(*p).ok())
            .collect(),
        supported_encryption_algorithms: vec![
            KerberosEncryption::Rc4Hmac,
            KerberosEncryption::Aes128CtsHmacSha196,
            KerberosEncryption::Aes256CtsHmacSha196,
        ],
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

fn invalid(reason: impl Into<String>) -> ResponseBody {
    ResponseBody::Fault(Fault::new(
        FaultCode::Sender,
        Subcode::InvalidParameter,
        reason,
    ))
}

/// Put `AMT_KerberosSettingData`.
pub(super) fn put(
    fw: &mut Firmware,
    s: &AmtKerberosSettingData,
    caller: &Caller,
    env: &Env<'_>,
) -> ResponseBody {
    let Some(spns) = s.service_principals() else {
        return invalid("ServicePrincipalName and ServicePrincipalProtocol differ in length");
    };
    let key = match s
        .master_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(k) => match base64::engine::general_purpose::STANDARD.decode(k) {
            Ok(b) if b.len() == 16 || b.len() == 32 => Some(k.to_owned()),
            _ => return invalid("MasterKey must be base64 of a 16- or 32-byte key"),
        },
        None => None,
    };
    let old = fw.state.manage.kerberos.clone();
    let enabled = s.krb_enabled.unwrap_or(old.enabled);
    let realm = s.realm_name.clone().unwrap_or_default();
    let passphrase = s.passphrase.clone().filter(|p| !p.is_empty());
    let has_key = key.is_some() || passphrase.is_some() || !old.master_key.0.is_empty();
    if enabled && (realm.is_empty() || spns.is_empty() || !has_key) {
        return invalid("enabling Kerberos needs RealmName, a ServicePrincipalName and a key");
    }
    let new_key = key.is_some() || passphrase.is_some();
    let k = KerberosStore {
        enabled,
        realm,
        spns: spns
            .iter()
            .map(|(n, p)| ((*n).to_owned(), p.value()))
            .collect(),
        key_version: s.key_version.unwrap_or(old.key_version),
        encryption_algorithm: s.encryption_algorithm.map_or(0, |a| a.value()),
        master_key: key.map(Secret).unwrap_or(old.master_key),
        passphrase: passphrase.map(Secret).unwrap_or(old.passphrase),
        salt: s.salt.clone().unwrap_or(old.salt),
        iteration_count: s.iteration_count.or(old.iteration_count),
        max_clock_tolerance: s.maximum_clock_tolerance.unwrap_or(5),
        configured_algorithms: s
            .configured_encryption_algorithms
            .iter()
            .map(|a| a.value())
            .collect(),
        credential_cache: old.credential_cache,
    };
    fw.state.manage.kerberos = k;
    logs::audit(
        fw,
        Some(caller),
        env,
        audit_events::KERBEROS_SETTINGS_MODIFIED,
        &[],
    );
    if new_key {
        logs::audit(
            fw,
            Some(caller),
            env,
            audit_events::KERBEROS_MASTER_KEY_MODIFIED,
            &[],
        );
    }
    fw.changed();
    ResponseBody::Put(instances(fw).into_iter().next())
}

/// `GetCredentialCacheState`.
pub(super) fn get_cache_state(fw: &Firmware) -> ResponseBody {
    reply(GetCredentialCacheStateOutput {
        enabled: Some(fw.state.manage.kerberos.credential_cache),
        return_value: Some(PtStatus::Success),
        extra: Vec::new(),
    })
}

/// `SetCredentialCacheState(Enable)`.
pub(super) fn set_cache_state(
    fw: &mut Firmware,
    input: &SetCredentialCacheStateInput,
) -> ResponseBody {
    let rv = match input.enable {
        Some(e) => {
            fw.state.manage.kerberos.credential_cache = e;
            fw.changed();
            PtStatus::Success
        }
        None => PtStatus::InvalidParameter,
    };
    reply(SetCredentialCacheStateOutput {
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

impl KerberosStore {
    /// The master key bytes, when one was pushed.
    pub fn master_key_bytes(&self) -> Option<Vec<u8>> {
        if self.master_key.0.is_empty() {
            return None;
        }
        base64::engine::general_purpose::STANDARD
            .decode(&self.master_key.0)
            .ok()
    }
}
