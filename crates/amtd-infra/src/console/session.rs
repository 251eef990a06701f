//! How the console reaches one device: where it listens, how its TLS certificate is checked,
//! and whose digest credentials to use.
//!
//! Devices the server provisioned are reached over TLS on 16993 with their certificate verified
//! against the embedded CA's root and their FQDN as the name (the certificate the server issued
//! names it: P4), as the `admin` digest user with the password stored for them. Devices adopted
//! already provisioned can be reached with their certificate pinned, and lab devices started
//! provisioned by the emulator over plain 16992. `Debug` never prints the password.

use std::fmt;

use amt_wsman::secret::SecretString;

use super::ConsoleError;
use crate::client::WsmanClient;
use crate::transport::{
    CertFingerprint, CertificateDer, ClientIdentity, DeviceEndpoint, Scheme, ServerVerification,
    TlsOptions, TransportConfig, WsmanConnection,
};

/// The digest user AMT creates at provisioning.
pub const ADMIN_USER: &str = "admin";

/// Everything needed to talk to one device.
#[derive(Clone)]
pub struct DeviceSession {
    /// The device's UUID (what results are reported by).
    pub uuid: String,
    /// Its FQDN, when known.
    pub fqdn: Option<String>,
    /// Where and how to connect.
    pub endpoint: DeviceEndpoint,
    /// The digest user.
    pub username: String,
    password: SecretString,
    /// While an admin password rotation is unsettled: the other stored password, tried once
    /// when the device refuses `password` (`crate::device_tls::DeviceAccess`).
    fallback_password: Option<SecretString>,
    /// Timeouts and limits of the connection.
    pub transport: TransportConfig,
}

impl fmt::Debug for DeviceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSession")
            .field("uuid", &self.uuid)
            .field("fqdn", &self.fqdn)
            .field("endpoint", &self.endpoint.to_string())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl DeviceSession {
    /// TLS on 16993, the certificate verified against `roots` with `fqdn` as the name (sent as
    /// SNI too); `address` is what to connect to (the device's IP, or its FQDN).
    pub fn tls_verified(
        uuid: impl Into<String>,
        address: impl Into<String>,
        fqdn: impl Into<String>,
        roots: Vec<CertificateDer<'static>>,
        password: SecretString,
    ) -> Self {
        let fqdn = fqdn.into();
        let tls = TlsOptions::new(ServerVerification::RootCerts(roots)).with_server_name(&fqdn);
        Self::with_endpoint(
            uuid,
            Some(fqdn),
            DeviceEndpoint::https(address, tls),
            password,
        )
    }

    /// TLS on 16993, accepting exactly the certificate with this SHA-256.
    pub fn tls_pinned(
        uuid: impl Into<String>,
        address: impl Into<String>,
        pin: CertFingerprint,
        password: SecretString,
    ) -> Self {
        let tls = TlsOptions::new(ServerVerification::PinnedSha256(pin));
        Self::with_endpoint(uuid, None, DeviceEndpoint::https(address, tls), password)
    }

    /// Plain HTTP on 16992 (digest protects the password, not the content): lab devices only.
    pub fn plain(
        uuid: impl Into<String>,
        address: impl Into<String>,
        password: SecretString,
    ) -> Self {
        Self::with_endpoint(uuid, None, DeviceEndpoint::http(address), password)
    }

    fn with_endpoint(
        uuid: impl Into<String>,
        fqdn: Option<String>,
        endpoint: DeviceEndpoint,
        password: SecretString,
    ) -> Self {
        Self::from_parts(uuid, fqdn, endpoint, ADMIN_USER, password)
    }

    /// A session from its parts (for example a provisioned device's
    /// [`crate::device_tls::DeviceAccess`]: its endpoint with the console's TLS options).
    pub fn from_parts(
        uuid: impl Into<String>,
        fqdn: Option<String>,
        endpoint: DeviceEndpoint,
        username: impl Into<String>,
        password: SecretString,
    ) -> Self {
        DeviceSession {
            uuid: uuid.into(),
            fqdn,
            endpoint,
            username: username.into(),
            password,
            fallback_password: None,
            transport: TransportConfig::default(),
        }
    }

    /// The same session with a second password to try when the device refuses the first (an
    /// admin password rotation not yet settled).
    #[must_use]
    pub fn with_fallback_password(mut self, password: Option<SecretString>) -> Self {
        self.fallback_password = password;
        self
    }

    /// The same session on another port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.endpoint = self.endpoint.with_port(port);
        self
    }

    /// The same session with another FQDN recorded (and, over CA-verified TLS, checked).
    #[must_use]
    pub fn with_fqdn(mut self, fqdn: impl Into<String>) -> Self {
        let fqdn = fqdn.into();
        if let Scheme::Https(tls) = &mut self.endpoint.scheme {
            if matches!(tls.verification, ServerVerification::RootCerts(_)) {
                tls.server_name = Some(fqdn.clone());
            }
        }
        self.fqdn = Some(fqdn);
        self
    }

    /// The same session presenting a client certificate (devices that require mutual TLS).
    #[must_use]
    pub fn with_client_identity(mut self, identity: ClientIdentity) -> Self {
        if let Scheme::Https(tls) = &mut self.endpoint.scheme {
            tls.client_identity = Some(identity);
        }
        self
    }

    /// The same session with other timeouts.
    #[must_use]
    pub fn with_transport(mut self, transport: TransportConfig) -> Self {
        self.transport = transport;
        self
    }

    /// Whether the session uses TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.endpoint.scheme, Scheme::Https(_))
    }

    /// Runs `f` with a client for this device and closes the connection afterwards, whatever
    /// `f` returned (AMT has few session slots: a finished operation gives its slot back at
    /// once rather than when the idle timeout closes it). When the device refuses the password
    /// and a fallback password is set, `f` runs once more with it (a refused request was not
    /// processed).
    ///
    /// # Errors
    /// An unusable endpoint or TLS configuration, or `f`'s error.
    pub async fn run<T>(
        &self,
        f: impl AsyncFn(&WsmanClient) -> Result<T, ConsoleError>,
    ) -> Result<T, ConsoleError> {
        let result = self.run_with(&self.password, &f).await;
        let refused = result
            .as_ref()
            .err()
            .is_some_and(ConsoleError::is_auth_failure);
        match &self.fallback_password {
            Some(fallback) if refused => self.run_with(fallback, &f).await,
            _ => result,
        }
    }

    async fn run_with<T>(
        &self,
        password: &SecretString,
        f: &impl AsyncFn(&WsmanClient) -> Result<T, ConsoleError>,
    ) -> Result<T, ConsoleError> {
        let conn = WsmanConnection::new(
            self.endpoint.clone(),
            self.username.clone(),
            password.clone(),
            self.transport,
        )?;
        let client = WsmanClient::new(conn);
        let result = f(&client).await;
        client.connection().close().await;
        result
    }

    /// A client for this device. Opens no connection yet; the first request does, and every
    /// request of the client goes over that one connection, one at a time.
    ///
    /// # Errors
    /// An unusable endpoint or TLS configuration.
    pub fn connect(&self) -> Result<WsmanClient, ConsoleError> {
        let conn = WsmanConnection::new(
            self.endpoint.clone(),
            self.username.clone(),
            self.password.clone(),
            self.transport,
        )?;
        Ok(WsmanClient::new(conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_password() {
        let s = DeviceSession::plain("u", "127.0.0.1", SecretString::new("S3cret!pass".into()));
        let shown = format!("{s:?}");
        assert!(!shown.contains("S3cret"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:16992"), "{shown}");
    }

    #[test]
    fn verified_sessions_check_the_fqdn() {
        let s = DeviceSession::tls_verified(
            "u",
            "127.0.0.9",
            "dev.amt.test",
            Vec::new(),
            SecretString::new(String::new()),
        )
        .with_port(20000);
        assert!(s.is_tls());
        let Scheme::Https(tls) = &s.endpoint.scheme else {
            panic!("not TLS")
        };
        assert_eq!(tls.server_name.as_deref(), Some("dev.amt.test"));
        assert_eq!(s.endpoint.port, 20000);
    }
}
