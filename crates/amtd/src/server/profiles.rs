//! Management profiles (P5): the document stored under a name, how it is written (validated,
//! its secrets sealed in the store) and how a provisioning run turns it into amtd-core's
//! [`ProvisioningProfile`] with what the server knows at that moment.
//!
//! **The document** ([`ProfileDoc`], JSON, `"version": 1`) is what an operator sets: TLS mode,
//! plain port, trusted CNs, digest users (name, realms, access), user consent, redirection,
//! clock sync, the MEBx password policy, the admin password length and the run deadline. It is
//! stored in the `profiles` table and is what the API shows and accepts.
//!
//! **Secrets** never sit in the document. A digest user's password (and a fixed MEBx password)
//! arrives write-only (`password`), is sealed with the store's envelope encryption
//! (`put_secret`, owner `profile/<name>/digest-user/<user>` or `profile/<name>/mebx`) and the
//! document keeps only its version number (`password_version`). A later write that leaves the
//! password out keeps the stored one, so GET → edit → PUT works without re-typing it. Old
//! versions stay in the store (escrow), as for device passwords.
//!
//! **At run time** ([`load_for_run`]) the document is read for every run (edits apply to the
//! next device), the secrets are opened, and the server adds: the CA root as trusted root
//! (consoles' mutual-TLS certificates chain to it too), the issuing CA as intermediate, the
//! issuing CA's currently revoked serials (at most [`MAX_CRL_SERIALS`], newest) and its CRL
//! distribution point. A missing or unreadable profile fails the run with the reason.
//!
//! **Where profiles come from**: `amtd serve` writes each config `[[profile]]` at start-up, and
//! `amtd lab` its built-in one, unless the stored profile of that name was last written
//! through the API (`"source": "api"`): an operator's edit wins over the file until the
//! profile is deleted through the API, after which the next start-up writes the file's again.

use std::time::SystemTime;

use amt_pki::CaRole;
use amt_wsman::classes::amt::{AccessPermission, Realm};
use amt_wsman::classes::ips::OptInRequired;
use amt_wsman::secret::SecretString;
use amtd_core::provisioning::{Failure, FailureKind, Outcome};
use amtd_core::{
    DigestUserSpec, MebxPasswordPolicy, Phase, ProvisioningProfile, RedirectionPolicy, TlsMode,
};
use amtd_infra::pki_store::PkiStore;
use amtd_infra::store::{RunId, SecretKind, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::ServerCore;
use crate::config::{self, DigestAccess, MebxPassword, UserConsent};

/// The document format version this build writes and reads.
pub const DOC_VERSION: u32 = 1;

/// Largest profile document the API accepts, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Most revoked serials pushed with AddCRL (AMT firmware keeps about a thousand per list).
pub const MAX_CRL_SERIALS: usize = 1024;

/// Most digest users one profile may create.
const MAX_DIGEST_USERS: usize = 32;

/// Most trusted CNs one profile may list.
const MAX_TRUSTED_CNS: usize = 16;

/// Longest run deadline, in seconds.
const MAX_DEADLINE_SECS: u64 = 86_400;

/// Who last wrote a stored profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `amtd serve`'s config file (rewritten at every start-up).
    Config,
    /// `amtd lab`'s built-in profile (rewritten at every start-up).
    Lab,
    /// An operator, through the API or the CLI (never overwritten by a start-up).
    Api,
}

/// TLS mode on 16993 after provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsDoc {
    /// Server authentication only.
    #[default]
    ServerAuth,
    /// Consoles must present a certificate under the CA's root.
    Mutual,
}

/// When the device asks its local user for consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentDoc {
    /// Never.
    None,
    /// Before KVM sessions (AMT's default).
    #[default]
    Kvm,
    /// Before every redirection and remote-control operation.
    All,
}

/// Redirection features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectionDoc {
    /// Serial over LAN.
    pub sol: bool,
    /// IDE/storage redirection.
    pub ider: bool,
    /// KVM (stored; the provisioning run does not push KVM settings yet).
    pub kvm: bool,
}

impl Default for RedirectionDoc {
    fn default() -> Self {
        Self {
            sol: true,
            ider: true,
            kvm: true,
        }
    }
}

/// A password that can be written but is never serialised back out (its `Debug` redacts).
#[derive(Clone)]
pub struct WriteOnly(SecretString);

impl WriteOnly {
    /// The password.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for WriteOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteOnly(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for WriteOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| WriteOnly(SecretString::from(s)))
    }
}

/// A digest account the profile creates on the device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestUserDoc {
    /// User name (1-16 characters; not `admin`).
    pub name: String,
    /// Realm names (`redirection`, `remote-control`, … as in the config).
    pub realms: Vec<String>,
    /// `network` (default), `local` or `local-and-network`.
    #[serde(default = "default_access")]
    pub access: String,
    /// The password, on write only (AMT password rules).
    #[serde(default, skip_serializing)]
    pub password: Option<WriteOnly>,
    /// Version of the sealed password in the store (set by the server; ignored on input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_version: Option<u32>,
}

fn default_access() -> String {
    DigestAccess::Network.name().to_owned()
}

/// How the MEBx password is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MebxPolicyDoc {
    /// A random password per device, escrowed like the admin password.
    #[default]
    Random,
    /// Leave the MEBx password alone.
    Keep,
    /// One fixed password (write-only, sealed in the store).
    Fixed,
}

/// The MEBx password policy and, for `fixed`, the password.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MebxDoc {
    /// The policy.
    pub policy: MebxPolicyDoc,
    /// With `fixed`: the password, on write only.
    #[serde(default, skip_serializing)]
    pub password: Option<WriteOnly>,
    /// With `fixed`: version of the sealed password (set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_version: Option<u32>,
}

/// A stored management profile (version 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileDoc {
    /// Document format version ([`DOC_VERSION`]).
    pub version: u32,
    /// The profile's name (the API path's; may be left out on input).
    pub name: String,
    /// Who last wrote it (set by the server).
    pub source: Source,
    /// TLS mode.
    pub tls: TlsDoc,
    /// Keep plain HTTP 16992 open too.
    pub accept_non_secure: bool,
    /// Client certificate CNs accepted with mutual TLS (empty: any under the root).
    pub trusted_cns: Vec<String>,
    /// Digest accounts to create.
    pub digest_users: Vec<DigestUserDoc>,
    /// User consent policy.
    pub user_consent: ConsentDoc,
    /// Redirection features.
    pub redirection: RedirectionDoc,
    /// Set the device clock at provisioning.
    pub clock_sync: bool,
    /// MEBx password policy.
    pub mebx_password: MebxDoc,
    /// Length of the generated per-device admin password (8..=32).
    pub admin_password_length: usize,
    /// Whole-run deadline in seconds.
    pub deadline_secs: u64,
}

impl Default for ProfileDoc {
    /// The built-in profile's values (the same as a config `[[profile]]` with only a name),
    /// without a name (a document may leave it out: the API path names it).
    fn default() -> Self {
        ProfileDoc::from_config_values(&config::Profile::builtin(""))
    }
}

impl ProfileDoc {
    /// The document for a config `[[profile]]` (or a profile file), without secrets.
    fn from_config_values(p: &config::Profile) -> Self {
        ProfileDoc {
            version: DOC_VERSION,
            name: p.name.clone(),
            source: Source::Api,
            tls: match p.tls {
                config::TlsMode::ServerAuth => TlsDoc::ServerAuth,
                config::TlsMode::Mutual => TlsDoc::Mutual,
            },
            accept_non_secure: p.accept_non_secure,
            trusted_cns: p.trusted_cns.clone(),
            digest_users: p
                .digest_users
                .iter()
                .map(|u| DigestUserDoc {
                    name: u.name.clone(),
                    realms: u
                        .realms
                        .iter()
                        .filter_map(|r| config::realm_name(*r))
                        .map(str::to_owned)
                        .collect(),
                    access: u.access.name().to_owned(),
                    password: None,
                    password_version: None,
                })
                .collect(),
            user_consent: match p.user_consent {
                UserConsent::None => ConsentDoc::None,
                UserConsent::Kvm => ConsentDoc::Kvm,
                UserConsent::All => ConsentDoc::All,
            },
            redirection: RedirectionDoc {
                sol: p.redirection.sol,
                ider: p.redirection.ider,
                kvm: p.redirection.kvm,
            },
            clock_sync: p.clock_sync,
            mebx_password: MebxDoc {
                policy: match p.mebx_password {
                    MebxPassword::Random => MebxPolicyDoc::Random,
                    MebxPassword::Keep => MebxPolicyDoc::Keep,
                    MebxPassword::Fixed { .. } => MebxPolicyDoc::Fixed,
                },
                password: None,
                password_version: None,
            },
            admin_password_length: p.admin_password_length,
            deadline_secs: p.deadline.as_secs(),
        }
    }

    /// The document for a config `[[profile]]` or a profile file, with the passwords read from
    /// the environment variables it names (by whoever reads the file: the server for its
    /// config, the CLI for `amtd profile NAME set --file`).
    pub fn from_config(p: &config::Profile, source: Source) -> Result<Self, String> {
        let mut doc = Self::from_config_values(p);
        doc.source = source;
        for (u, d) in p.digest_users.iter().zip(doc.digest_users.iter_mut()) {
            let pw = u
                .password_env
                .read()
                .map_err(|e| format!("profile {:?}, digest user {:?}: {e}", p.name, u.name))?;
            d.password = Some(WriteOnly(pw));
        }
        if let MebxPassword::Fixed { password_env } = &p.mebx_password {
            let pw = password_env
                .read()
                .map_err(|e| format!("profile {:?}, MEBx password: {e}", p.name))?;
            doc.mebx_password.password = Some(WriteOnly(pw));
        }
        Ok(doc)
    }

    /// The JSON an API client sends: the document with its write-only passwords.
    pub fn request_body(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(users) = v["digest_users"].as_array_mut() {
            for (j, u) in users.iter_mut().enumerate() {
                if let Some(pw) = self.digest_users.get(j).and_then(|d| d.password.as_ref()) {
                    u["password"] = pw.expose().into();
                }
            }
        }
        if let Some(pw) = &self.mebx_password.password {
            v["mebx_password"]["password"] = pw.expose().into();
        }
        v
    }

    /// Every problem of the document itself (not counting stored passwords), listed.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.version != DOC_VERSION {
            out.push(format!(
                "document version {} is not supported (this server reads version {DOC_VERSION})",
                self.version
            ));
        }
        if let Err(e) = config::profile_name(&self.name) {
            out.push(format!("name: {e}"));
        }
        if self.trusted_cns.len() > MAX_TRUSTED_CNS {
            out.push(format!("trusted_cns: at most {MAX_TRUSTED_CNS} names"));
        }
        for cn in &self.trusted_cns {
            if cn.is_empty() || cn.len() > 64 || cn.chars().any(char::is_control) {
                out.push(format!(
                    "trusted_cns: {:?} is not a certificate CN (1-64 characters)",
                    clip(cn)
                ));
            }
        }
        if self.digest_users.len() > MAX_DIGEST_USERS {
            out.push(format!(
                "digest_users: at most {MAX_DIGEST_USERS} users per profile"
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for u in &self.digest_users {
            let who = format!("digest user {:?}", clip(&u.name));
            if let Err(e) = amt_wsman::password::validate_digest_username(&u.name) {
                out.push(format!("{who}: {e}"));
            }
            if u.name
                .eq_ignore_ascii_case(amt_wsman::password::ADMIN_USERNAME)
            {
                out.push(format!(
                    "{who}: \"admin\" is the device's admin account, which amtd manages itself"
                ));
            }
            if !seen.insert(u.name.to_ascii_lowercase()) {
                out.push(format!("{who}: appears twice"));
            }
            if u.realms.is_empty() {
                out.push(format!("{who}: must list at least one realm"));
            }
            let mut realms = Vec::new();
            for r in &u.realms {
                match config::realm_by_name(r) {
                    Some(realm) if realms.contains(&realm) => {
                        out.push(format!("{who}: realm {r:?} is listed twice"));
                    }
                    Some(realm) => realms.push(realm),
                    None => out.push(format!(
                        "{who}: unknown realm {:?} (one of: {})",
                        clip(r),
                        config::realm_names()
                    )),
                }
            }
            if DigestAccess::from_name(&u.access).is_none() {
                out.push(format!(
                    "{who}: unknown access {:?} (network, local or local-and-network)",
                    clip(&u.access)
                ));
            }
            if let Some(pw) = &u.password {
                if let Err(e) = amt_wsman::password::validate_admin_password(pw.expose()) {
                    out.push(format!("{who}: the password breaks AMT's rules: {e}"));
                }
            }
        }
        match (self.mebx_password.policy, &self.mebx_password.password) {
            (MebxPolicyDoc::Fixed, Some(pw)) => {
                if let Err(e) = amt_wsman::password::validate_admin_password(pw.expose()) {
                    out.push(format!(
                        "mebx_password: the password breaks AMT's rules: {e}"
                    ));
                }
            }
            (MebxPolicyDoc::Random | MebxPolicyDoc::Keep, Some(_)) => {
                out.push("mebx_password: a password is only given with policy \"fixed\"".into());
            }
            _ => {}
        }
        if !(8..=32).contains(&self.admin_password_length) {
            out.push(format!(
                "admin_password_length: {} is outside 8..=32 (AMT's password rules)",
                self.admin_password_length
            ));
        }
        if self.deadline_secs == 0 || self.deadline_secs > MAX_DEADLINE_SECS {
            out.push(format!(
                "deadline_secs: {} is outside 1..={MAX_DEADLINE_SECS}",
                self.deadline_secs
            ));
        }
        out
    }

    /// amtd-core's profile: this document, its opened secrets and what the server knows.
    fn to_core(&self, trust: &ServerTrust, secrets: &Opened) -> ProvisioningProfile {
        let mut p = ProvisioningProfile::new(&self.name);
        p.tls_mode = match self.tls {
            TlsDoc::ServerAuth => TlsMode::ServerAuth,
            TlsDoc::Mutual => TlsMode::Mutual,
        };
        p.accept_non_secure = self.accept_non_secure;
        p.trusted_cns = self.trusted_cns.clone();
        p.trusted_roots = vec![trust.root.clone()];
        p.intermediates = vec![trust.issuing.clone()];
        p.crl_serials = trust.revoked.clone();
        p.crl_url = trust.crl_url.clone();
        p.digest_users = self
            .digest_users
            .iter()
            .zip(&secrets.digest)
            .map(|(u, pw)| DigestUserSpec {
                name: u.name.clone(),
                password: pw.clone(),
                access: match DigestAccess::from_name(&u.access) {
                    Some(DigestAccess::Local) => AccessPermission::LocalOnly,
                    Some(DigestAccess::LocalAndNetwork) => AccessPermission::LocalAndNetwork,
                    _ => AccessPermission::NetworkOnly,
                },
                realms: u
                    .realms
                    .iter()
                    .filter_map(|r| config::realm_by_name(r))
                    .collect::<Vec<Realm>>(),
            })
            .collect();
        p.user_consent = Some(match self.user_consent {
            ConsentDoc::None => OptInRequired::None,
            ConsentDoc::Kvm => OptInRequired::Kvm,
            ConsentDoc::All => OptInRequired::All,
        });
        p.redirection = Some(RedirectionPolicy {
            sol: self.redirection.sol,
            ider: self.redirection.ider,
        });
        p.clock_sync = self.clock_sync;
        p.mebx_password = match (self.mebx_password.policy, &secrets.mebx) {
            (MebxPolicyDoc::Random, _) => MebxPasswordPolicy::RandomPerDevice,
            (MebxPolicyDoc::Keep, _) => MebxPasswordPolicy::Keep,
            (MebxPolicyDoc::Fixed, Some(pw)) => MebxPasswordPolicy::Fixed(pw.clone()),
            // Not reached: a fixed policy without its password is refused before.
            (MebxPolicyDoc::Fixed, None) => MebxPasswordPolicy::Keep,
        };
        p.admin_password_len = self.admin_password_length;
        p.deadline_secs = self.deadline_secs;
        p
    }

    /// The stored document of this profile's previous write, for passwords kept across edits.
    fn kept_version(previous: Option<&ProfileDoc>, user: &str) -> Option<u32> {
        previous?
            .digest_users
            .iter()
            .find(|u| u.name == user)
            .and_then(|u| u.password_version)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// What the server adds to every profile at run time, read from the CA store.
#[derive(Debug, Clone)]
pub struct ServerTrust {
    /// The CA's root (DER): AddTrustedRootCertificate.
    root: Vec<u8>,
    /// The issuing CA (DER): AddCertificate, so the device presents a full chain.
    issuing: Vec<u8>,
    /// Serials the issuing CA has revoked (big-endian bytes), newest last.
    revoked: Vec<Vec<u8>>,
    /// The issuing CA's CRL distribution point.
    crl_url: Option<String>,
}

impl ServerTrust {
    /// Reads it from the CA store.
    pub fn of(pki: &PkiStore) -> Self {
        let ca = pki.ca();
        let mut revoked: Vec<Vec<u8>> = pki
            .ledger()
            .revoked_by(CaRole::Issuing)
            .iter()
            .map(|r| r.serial.as_bytes().to_vec())
            .collect();
        if revoked.len() > MAX_CRL_SERIALS {
            tracing::warn!(
                revoked = revoked.len(),
                pushed = MAX_CRL_SERIALS,
                "more revoked serials than a device's CRL holds: only the newest are pushed"
            );
            revoked.drain(..revoked.len() - MAX_CRL_SERIALS);
        }
        ServerTrust {
            root: ca.root().cert().der().to_vec(),
            issuing: ca.issuing().cert().der().to_vec(),
            revoked,
            crl_url: ca.settings().crl_url(CaRole::Issuing),
        }
    }
}

/// Opened secrets of one document, in its digest users' order.
struct Opened {
    digest: Vec<SecretString>,
    mebx: Option<SecretString>,
}

/// The store owner id of a digest user's password.
fn digest_owner(profile: &str, user: &str) -> String {
    format!("profile/{profile}/digest-user/{user}")
}

/// The store owner id of a profile's fixed MEBx password.
fn mebx_owner(profile: &str) -> String {
    format!("profile/{profile}/mebx")
}

/// Why a profile write was refused or failed.
#[derive(Debug)]
pub enum WriteError {
    /// The document is invalid (the caller's fault): every problem, in words.
    Invalid(String),
    /// The store failed (ours).
    Store(StoreError),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Invalid(m) => f.write_str(m),
            WriteError::Store(e) => write!(f, "the store failed: {e}"),
        }
    }
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// A checked document, ready to be written.
#[derive(Debug)]
pub struct Prepared {
    doc: ProfileDoc,
    created: bool,
}

impl Prepared {
    /// Whether no profile of this name existed.
    pub fn created(&self) -> bool {
        self.created
    }
}

/// The stored document called `name`: `Ok(None)` when there is none, `Err` when what is stored
/// is not a document this server reads.
pub async fn get(store: &Store, name: &str) -> Result<Option<ProfileDoc>, String> {
    let raw: Option<serde_json::Value> = store
        .get_profile(name)
        .await
        .map_err(|e| format!("reading profile {name:?}: {e}"))?;
    let Some(raw) = raw else { return Ok(None) };
    serde_json::from_value::<ProfileDoc>(raw)
        .map(Some)
        .map_err(|e| {
            format!(
                "the stored profile {name:?} is not a version-{DOC_VERSION} profile document \
                 ({e}); write it again (PUT /api/v1/profiles/{name} or `amtd profile {name} set`)"
            )
        })
}

/// Checks `doc` for writing under `name` by `source`: every problem is listed, passwords left
/// out are taken from the stored version of the same profile, and amtd-core's own checks run on
/// the result.
pub async fn prepare(
    store: &Store,
    trust: &ServerTrust,
    name: &str,
    mut doc: ProfileDoc,
    source: Source,
) -> Result<Prepared, WriteError> {
    if doc.name.is_empty() {
        doc.name = name.to_owned();
    }
    let mut problems = Vec::new();
    if doc.name != name {
        problems.push(format!(
            "name: the document says {:?} but is written as {name:?}",
            clip(&doc.name)
        ));
    }
    doc.source = source;
    problems.extend(doc.problems());
    // Only a document of the same name may lend its stored passwords.
    let previous = match get(store, name).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(profile = %name, error = %e, "replacing an unreadable stored profile");
            None
        }
    };
    let created = store
        .list_profiles()
        .await?
        .iter()
        .all(|n| n.as_str() != name);
    for u in &mut doc.digest_users {
        u.password_version = match &u.password {
            Some(_) => None,
            None => {
                let kept = ProfileDoc::kept_version(previous.as_ref(), &u.name);
                if kept.is_none() {
                    problems.push(format!(
                        "digest user {:?}: a password is required (none is stored for this user \
                         in profile {name:?})",
                        clip(&u.name)
                    ));
                }
                kept
            }
        };
    }
    let m = &mut doc.mebx_password;
    m.password_version = None;
    if m.policy == MebxPolicyDoc::Fixed && m.password.is_none() {
        m.password_version = previous
            .as_ref()
            .filter(|p| p.mebx_password.policy == MebxPolicyDoc::Fixed)
            .and_then(|p| p.mebx_password.password_version);
        if m.password_version.is_none() {
            problems.push(
                "mebx_password: policy \"fixed\" needs a password (none is stored for this \
                 profile)"
                    .into(),
            );
        }
    }
    if problems.is_empty() {
        // amtd-core's own checks, on what a run would get (kept passwords stand in as valid).
        let placeholder = SecretString::from("Placeholder-0");
        let opened = Opened {
            digest: doc
                .digest_users
                .iter()
                .map(|u| {
                    u.password
                        .as_ref()
                        .map_or_else(|| placeholder.clone(), |p| p.0.clone())
                })
                .collect(),
            mebx: Some(
                doc.mebx_password
                    .password
                    .as_ref()
                    .map_or_else(|| placeholder.clone(), |p| p.0.clone()),
            ),
        };
        if let Err(e) = doc.to_core(trust, &opened).validate() {
            problems.push(e.to_string());
        }
    }
    if !problems.is_empty() {
        return Err(WriteError::Invalid(format!(
            "profile {name:?} is invalid: {}",
            problems.join("; ")
        )));
    }
    Ok(Prepared { doc, created })
}

/// Seals the new passwords and stores the document. Returns it as stored (no passwords).
pub async fn commit(store: &Store, prepared: Prepared) -> Result<ProfileDoc, WriteError> {
    let mut doc = prepared.doc;
    let name = doc.name.clone();
    for u in &mut doc.digest_users {
        if let Some(pw) = u.password.take() {
            let owner = digest_owner(&name, &u.name);
            u.password_version = Some(seal(store, &owner, SecretKind::Admin, pw.0).await?);
        }
    }
    if let Some(pw) = doc.mebx_password.password.take() {
        let owner = mebx_owner(&name);
        doc.mebx_password.password_version =
            Some(seal(store, &owner, SecretKind::Mebx, pw.0).await?);
    }
    store.put_profile(&name, &doc).await?;
    Ok(doc)
}

/// Stores `value` under `owner` unless the newest stored version already holds it.
async fn seal(
    store: &Store,
    owner: &str,
    kind: SecretKind,
    value: SecretString,
) -> Result<u32, StoreError> {
    if let (Some(current), Some(v)) = (
        store.get_secret(owner, kind).await?,
        store.secret_versions(owner, kind).await?.last(),
    ) {
        if current.ct_eq(&value) {
            return Ok(v.version);
        }
    }
    store.put_secret(owner, kind, &value).await
}

/// Writes a start-up profile (the config's, or the lab's built-in one) unless the stored
/// profile of that name was last written through the API, which wins over the file.
pub async fn install_at_startup(
    store: &Store,
    trust: &ServerTrust,
    doc: ProfileDoc,
) -> anyhow::Result<()> {
    let name = doc.name.clone();
    let source = doc.source;
    let stored: Option<serde_json::Value> = store.get_profile(&name).await?;
    if stored
        .as_ref()
        .and_then(|v| v.get("source"))
        .and_then(|s| s.as_str())
        == Some("api")
    {
        tracing::info!(profile = %name, "profile edited through the API: the start-up copy is not applied");
        eprintln!(
            "amtd: profile {name:?} was edited through the API; that version stays in force \
             (delete it through the API to return to this start-up's)"
        );
        return Ok(());
    }
    let prepared = prepare(store, trust, &name, doc, source)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    commit(store, prepared)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Writes the start-up profiles (`amtd serve`'s config `[[profile]]`s, `amtd lab`'s built-in
/// one) by [`install_at_startup`]'s rule, reading their passwords from the environment.
pub async fn install_from_config(
    store: &Store,
    pki: &PkiStore,
    profiles: &[config::Profile],
    source: Source,
) -> anyhow::Result<()> {
    let trust = ServerTrust::of(pki);
    for p in profiles {
        let doc = ProfileDoc::from_config(p, source).map_err(anyhow::Error::msg)?;
        install_at_startup(store, &trust, doc).await?;
    }
    Ok(())
}

/// Deletes the stored profile `name` (its sealed passwords stay in the store as escrow).
pub async fn delete(store: &Store, name: &str) -> Result<bool, StoreError> {
    store.delete_profile(name).await
}

/// The profile `name` as a run gets it: loaded from the store now, its secrets opened and what
/// the server knows added. Every run (a resumed one too) should start from this, so that an
/// edit applies to the next device and the pushed settings are the stored ones.
pub(crate) async fn load(core: &ServerCore, name: &str) -> Result<ProvisioningProfile, String> {
    let Some(doc) = get(&core.store, name).await? else {
        return Err(format!(
            "no management profile named {name:?} is stored (define it in the config or write \
             it with `amtd profile {name} set --file …`)"
        ));
    };
    if doc.tls == TlsDoc::Mutual {
        // After CommitChanges the device demands a console certificate: make sure this server
        // has one the device will accept before the device is changed.
        core.mutual_tls_ready(&doc.trusted_cns)?;
    }
    let trust = core
        .with_pki(|pki| ServerTrust::of(pki))
        .ok_or("the CA store is unavailable")?;
    let mut digest = Vec::new();
    for u in &doc.digest_users {
        let owner = digest_owner(name, &u.name);
        digest.push(open(&core.store, &owner, SecretKind::Admin, u.password_version).await?);
    }
    let mebx = match doc.mebx_password.policy {
        MebxPolicyDoc::Fixed => Some(
            open(
                &core.store,
                &mebx_owner(name),
                SecretKind::Mebx,
                doc.mebx_password.password_version,
            )
            .await?,
        ),
        _ => None,
    };
    let profile = doc.to_core(&trust, &Opened { digest, mebx });
    profile.validate().map_err(|e| e.to_string())?;
    Ok(profile)
}

async fn open(
    store: &Store,
    owner: &str,
    kind: SecretKind,
    version: Option<u32>,
) -> Result<SecretString, String> {
    let missing = || format!("the stored password {owner} is missing");
    let version = version.ok_or_else(missing)?;
    store
        .get_secret_version(owner, kind, version)
        .await
        .map_err(|e| format!("opening the stored password {owner}: {e}"))?
        .ok_or_else(missing)
}

/// The run's profile, or the run finished as failed (recorded with the reason) when it cannot
/// be loaded.
pub(super) async fn load_for_run(
    core: &ServerCore,
    run_id: RunId,
) -> Result<ProvisioningProfile, anyhow::Result<Outcome>> {
    let name = core.profile.as_str();
    match load(core, name).await {
        Ok(p) => Ok(p),
        Err(reason) => {
            tracing::error!(profile = %name, %reason, "no usable management profile");
            let reason = format!("management profile {name:?}: {reason}");
            if let Err(e) = core
                .store
                .finish_run(&run_id, "failed", Some(&reason), SystemTime::now())
                .await
            {
                return Err(Err(e.into()));
            }
            Err(Ok(Outcome::Failed(Failure {
                reason,
                step: Phase::Discovered,
                retryable: true,
                kind: FailureKind::Refused,
            })))
        }
    }
}

impl ServerCore {
    /// The name of the profile this server provisions with.
    pub fn active_profile(&self) -> &str {
        &self.profile
    }

    /// What the server adds to profiles at run time, from the CA store now.
    pub fn server_trust(&self) -> Option<ServerTrust> {
        self.with_pki(|pki| ServerTrust::of(pki))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_serialise_and_debug_redacts() {
        let doc: ProfileDoc = serde_json::from_value(serde_json::json!({
            "digest_users": [{"name": "ops", "realms": ["redirection"],
                              "password": "Sup3r-Secret!"}],
            "mebx_password": {"policy": "fixed", "password": "Mebx-Secret-1"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let out = serde_json::to_string(&doc).unwrap_or_default();
        assert!(
            !out.contains("Sup3r-Secret!") && !out.contains("Mebx-Secret-1"),
            "{out}"
        );
        let debug = format!("{doc:?}");
        assert!(!debug.contains("Sup3r-Secret!") && !debug.contains("Mebx-Secret-1"));
        // The request body (CLI → API) carries them.
        let body = doc.request_body().to_string();
        assert!(body.contains("Sup3r-Secret!") && body.contains("Mebx-Secret-1"));
    }

    #[test]
    fn defaults_match_the_builtin_config_profile() {
        let doc: ProfileDoc = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc.version, DOC_VERSION);
        assert_eq!(doc.tls, TlsDoc::ServerAuth);
        assert_eq!(doc.user_consent, ConsentDoc::Kvm);
        assert!(doc.clock_sync && doc.redirection.sol);
        assert_eq!((doc.admin_password_length, doc.deadline_secs), (16, 600));
    }

    #[test]
    fn problems_are_all_listed() {
        let doc: ProfileDoc = serde_json::from_value(serde_json::json!({
            "version": 2, "name": "bad name",
            "digest_users": [{"name": "admin", "realms": ["teleport"], "access": "anywhere",
                              "password": "short"}],
            "admin_password_length": 4, "deadline_secs": 0,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let all = doc.problems().join("\n");
        for needle in [
            "version 2",
            "not a profile name",
            "\"admin\" is the device's admin account",
            "unknown realm \"teleport\"",
            "unknown access \"anywhere\"",
            "breaks AMT's rules",
            "outside 8..=32",
            "deadline_secs",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r = serde_json::from_str::<ProfileDoc>(r#"{"tlss": "mutual"}"#);
        assert!(r.is_err());
    }
}
