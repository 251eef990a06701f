//! How the console reaches a provisioned device (M9): TLS on 16993 checked against the
//! embedded CA's root (or pinned to one certificate), the console's own client certificate
//! presented when the device asks for one (mutual TLS), and Digest `admin` with the password
//! in force.
//!
//! Every console call to a provisioned device should be made with what this module builds, so
//! that mutual-TLS devices work everywhere and a password rotation in progress is honoured:
//!
//! ```no_run
//! # async fn demo(store: &amtd_infra::store::Store, pki: &amtd_infra::pki_store::PkiStore)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use amtd_infra::device_tls::{device_access, ConsoleTls};
//! use amtd_infra::transport::TransportConfig;
//! let tls = ConsoleTls::from_pki(pki)?; // once per operation, not per device
//! let access = device_access(store, &tls, "8086e000-0000-4000-8000-000000000001").await?;
//! let client = access.client(TransportConfig::default())?;
//! # Ok(()) }
//! ```
//!
//! The client certificate is offered only when the device sends a TLS CertificateRequest, so
//! presenting it to a device in server-authentication mode changes nothing; which mode a device
//! is in therefore does not need to be known (a profile may have been edited since).

use std::time::SystemTime;

use amt_pki::Cert;
use amt_wsman::secret::SecretString;
use amtd_core::maintenance::rotation::{in_force, RotationPhase};
use amtd_core::maintenance::Task;

use crate::client::WsmanClient;
use crate::pki_store::{ConsoleIdentity, PkiStore, PkiStoreError};
use crate::store::{MaintenanceFilter, SecretKind, Store, StoreError};
use crate::transport::{
    CertFingerprint, CertificateDer, ClientIdentity, DeviceEndpoint, PrivateKeyDer,
    ServerVerification, TlsOptions, TransportConfig, TransportError, WsmanConnection,
};

/// Why a device's access could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceTlsError {
    /// The store failed (ours; see [`StoreError`] for whether a retry helps).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The CA store failed (ours).
    #[error(transparent)]
    Pki(#[from] PkiStoreError),
    /// The device is not in the store.
    #[error("device {uuid} is not known")]
    UnknownDevice {
        /// The device.
        uuid: String,
    },
    /// The device is known but not provisioned (no TLS certificate of ours, no admin password).
    #[error("device {uuid} is not provisioned (state {state})")]
    NotProvisioned {
        /// The device.
        uuid: String,
        /// Its state.
        state: String,
    },
    /// The store lacks something a provisioned device must have.
    #[error("device {uuid}: {what} is missing from the store")]
    Missing {
        /// The device.
        uuid: String,
        /// What is missing (address, FQDN, admin password).
        what: &'static str,
    },
    /// The console identity does not convert to a TLS client certificate.
    #[error("the console certificate cannot be used for TLS: {0}")]
    Identity(String),
}

/// What the console trusts and presents toward provisioned devices: the CA root device
/// certificates chain to, and the console's client certificate (when one was issued). Cheap to
/// clone; build it once per operation, not per device.
#[derive(Debug, Clone)]
pub struct ConsoleTls {
    root: CertificateDer<'static>,
    identity: Option<ClientIdentity>,
}

/// The TLS client certificate (chain: client certificate, issuing CA) and key of a console
/// identity.
pub fn client_identity(id: &ConsoleIdentity) -> Result<ClientIdentity, DeviceTlsError> {
    let chain = id
        .chain()
        .iter()
        .map(|c: &&Cert| CertificateDer::from(c.der().to_vec()))
        .collect();
    let key = id
        .key()
        .to_pkcs8_der()
        .map_err(|e| DeviceTlsError::Identity(e.to_string()))?;
    Ok(ClientIdentity::new(
        chain,
        PrivateKeyDer::Pkcs8(key.to_vec().into()),
    ))
}

impl ConsoleTls {
    /// Trust `ca_root_der` and present `identity` when asked.
    pub fn new(ca_root_der: &[u8], identity: Option<ClientIdentity>) -> Self {
        ConsoleTls {
            root: CertificateDer::from(ca_root_der.to_vec()),
            identity,
        }
    }

    /// The embedded CA's root and the stored console identity (none is issued here: see
    /// [`PkiStore::console_identity`]).
    pub fn from_pki(pki: &PkiStore) -> Result<Self, DeviceTlsError> {
        let identity = pki
            .load_console_identity()?
            .map(|id| client_identity(&id))
            .transpose()?;
        Ok(Self::new(pki.ca().root().cert().der(), identity))
    }

    /// The client certificate presented to devices, if any.
    pub fn identity(&self) -> Option<&ClientIdentity> {
        self.identity.as_ref()
    }

    fn with_identity(&self, tls: TlsOptions) -> TlsOptions {
        match &self.identity {
            Some(id) => tls.with_client_identity(id.clone()),
            None => tls,
        }
    }

    /// TLS options for the device named `fqdn`: its certificate must chain to the CA root, be
    /// valid now, carry serverAuth and name `fqdn` (sent as SNI, so connecting by IP address
    /// works); the console certificate is presented when the device asks. Survives certificate
    /// renewal (any certificate the CA issued for the name is accepted).
    pub fn options(&self, fqdn: &str) -> TlsOptions {
        self.with_identity(
            TlsOptions::new(ServerVerification::RootCerts(vec![self.root.clone()]))
                .with_server_name(fqdn),
        )
    }

    /// TLS options accepting exactly the certificate `cert_der` (a certificate just installed,
    /// before it is trusted by name), with the console certificate presented when asked.
    pub fn pinned(&self, cert_der: &[u8]) -> TlsOptions {
        self.with_identity(TlsOptions::new(ServerVerification::PinnedSha256(
            CertFingerprint::of_der(cert_der),
        )))
    }
}

/// Everything needed to open a WS-Man session to one provisioned device. `Debug` redacts the
/// passwords.
#[derive(Debug, Clone)]
pub struct DeviceAccess {
    /// The device.
    pub uuid: String,
    /// Where to connect (its last known address).
    pub address: String,
    /// The TLS port ([`DeviceEndpoint::HTTPS_PORT`]).
    pub port: u16,
    /// Its FQDN (the name its certificate carries).
    pub fqdn: String,
    /// TLS options ([`ConsoleTls::options`] for the FQDN).
    pub tls: TlsOptions,
    /// The Digest user (`admin`).
    pub username: String,
    /// The admin password in force.
    pub password: SecretString,
    /// While an admin password rotation is unsettled: the other stored password, to try when
    /// the device refuses [`DeviceAccess::password`] (HTTP 401). `None` otherwise.
    pub fallback_password: Option<SecretString>,
}

impl DeviceAccess {
    /// The HTTPS endpoint.
    pub fn endpoint(&self) -> DeviceEndpoint {
        DeviceEndpoint::https(self.address.clone(), self.tls.clone()).with_port(self.port)
    }

    /// A connection with the password in force.
    pub fn connect(&self, config: TransportConfig) -> Result<WsmanConnection, TransportError> {
        WsmanConnection::new(
            self.endpoint(),
            self.username.clone(),
            self.password.clone(),
            config,
        )
    }

    /// A typed client with the password in force.
    pub fn client(&self, config: TransportConfig) -> Result<WsmanClient, TransportError> {
        self.connect(config).map(WsmanClient::new)
    }

    /// The same access with other TLS options (for example [`ConsoleTls::pinned`]).
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// The same access with another password (a candidate being tried).
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.password = password;
        self.fallback_password = None;
        self
    }
}

/// Which stored admin password versions are in force for `uuid`: the newest version, unless an
/// admin password rotation is unfinished, in which case the version its step says is most
/// likely in force, then the other one (see amtd-core's `maintenance::rotation::in_force`).
pub async fn admin_password_versions(
    store: &Store,
    uuid: &str,
) -> Result<Option<(u32, Option<u32>)>, StoreError> {
    let open = store
        .maintenance_ops(&MaintenanceFilter {
            device_uuid: Some(uuid.to_owned()),
            task: Some(Task::RotateAdminPassword.name().to_owned()),
            limit: 1,
            ..Default::default()
        })
        .await?
        .into_iter()
        .find(|op| op.finished_at.is_none());
    if let Some(op) = open {
        let version = |k: &str| {
            op.payload
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
        };
        if let (Some(phase), Some(old)) =
            (RotationPhase::from_name(&op.phase), version("old_version"))
        {
            return Ok(Some(in_force(phase, old, version("new_version"))));
        }
    }
    Ok(store
        .secret_versions(uuid, SecretKind::Admin)
        .await?
        .last()
        .map(|v| (v.version, None)))
}

/// How to reach the provisioned device `uuid`: its address and FQDN from the store, TLS from
/// `tls`, and the admin password in force ([`admin_password_versions`]).
pub async fn device_access(
    store: &Store,
    tls: &ConsoleTls,
    uuid: &str,
) -> Result<DeviceAccess, DeviceTlsError> {
    let device = store
        .get_device(uuid)
        .await?
        .ok_or_else(|| DeviceTlsError::UnknownDevice {
            uuid: uuid.to_owned(),
        })?;
    if device.state != "provisioned" {
        return Err(DeviceTlsError::NotProvisioned {
            uuid: uuid.to_owned(),
            state: device.state,
        });
    }
    let missing = |what| DeviceTlsError::Missing {
        uuid: uuid.to_owned(),
        what,
    };
    let address = device.address.ok_or_else(|| missing("its address"))?;
    let fqdn = device.fqdn.ok_or_else(|| missing("its FQDN"))?;
    let (first, then) = admin_password_versions(store, uuid)
        .await?
        .ok_or_else(|| missing("its admin password"))?;
    let open = |v| store.get_secret_version(uuid, SecretKind::Admin, v);
    let password = open(first)
        .await?
        .ok_or_else(|| missing("its admin password"))?;
    let fallback_password = match then {
        Some(v) => open(v).await?,
        None => None,
    };
    Ok(DeviceAccess {
        uuid: uuid.to_owned(),
        address,
        port: DeviceEndpoint::HTTPS_PORT,
        tls: tls.options(&fqdn),
        fqdn,
        username: amt_wsman::password::ADMIN_USERNAME.to_owned(),
        password,
        fallback_password,
    })
}

/// The time of the newest stored admin password: when it was set (the rotation schedule's
/// starting point).
pub async fn admin_password_set_at(
    store: &Store,
    uuid: &str,
) -> Result<Option<SystemTime>, StoreError> {
    Ok(store
        .secret_versions(uuid, SecretKind::Admin)
        .await?
        .last()
        .map(|v| v.created_at))
}
