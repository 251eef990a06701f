//! The WS-Man transport over TLS against an in-test server with rcgen certificates, on
//! 127.0.0.1 only.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use amtd_infra::transport::{
    CertFingerprint, ClientIdentity, DeviceEndpoint, PrivateKeyDer, ServerVerification, TlsOptions,
    TransportConfig, TransportError, WsmanConnection,
};
use common::pki::{self, Ca};
use common::{echo_body, Action, Options, Server, PASSWORD, USER};
use rcgen::ExtendedKeyUsagePurpose;

const ENVELOPE: &[u8] = b"<Envelope/>";

fn config() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        ..TransportConfig::default()
    }
}

async fn tls_server(server_config: std::sync::Arc<rustls::ServerConfig>) -> Server {
    let options = Options {
        tls: Some(server_config),
        ..Options::default()
    };
    Server::start(options, |seen| Action::ok(echo_body(&seen.body))).await
}

fn connect(server: &Server, tls: TlsOptions) -> WsmanConnection {
    let endpoint = DeviceEndpoint::https("127.0.0.1", tls).with_port(server.port());
    WsmanConnection::new(endpoint, USER, PASSWORD.into(), config()).unwrap()
}

fn is_certificate_error(error: &TransportError) -> bool {
    matches!(error, TransportError::Tls { .. })
        && matches!(
            error.rustls_error(),
            Some(rustls::Error::InvalidCertificate(_))
        )
}

#[tokio::test]
async fn self_signed_device_is_reachable_with_insecure_accept_any() {
    let device = pki::self_signed(&["iamt-setup"]);
    let server = tls_server(pki::server_config(&device, None)).await;
    let conn = connect(
        &server,
        TlsOptions::new(ServerVerification::InsecureAcceptAny),
    );

    let first = conn.post(ENVELOPE).await.unwrap();
    let second = conn.post(b"again").await.unwrap();

    assert_eq!(first.body, echo_body(ENVELOPE));
    assert_eq!(second.body, echo_body(b"again"));
    assert_eq!(
        server.request_count(),
        3,
        "digest works over TLS, preemptively too"
    );
    assert_eq!(
        server.connection_count(),
        1,
        "the TLS connection is kept alive"
    );
}

#[tokio::test]
async fn pinned_fingerprint_accepts_exactly_that_certificate() {
    let device = pki::self_signed(&["iamt-setup"]);
    let server = tls_server(pki::server_config(&device, None)).await;
    let pin = CertFingerprint::of_der(&device.cert);
    let conn = connect(
        &server,
        TlsOptions::new(ServerVerification::PinnedSha256(pin)),
    );

    let response = conn.post(ENVELOPE).await.unwrap();

    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn wrong_pin_is_rejected_before_anything_is_sent() {
    let device = pki::self_signed(&["iamt-setup"]);
    let other = pki::self_signed(&["iamt-setup"]);
    let server = tls_server(pki::server_config(&device, None)).await;
    let wrong_pin = CertFingerprint::of_der(&other.cert);
    let conn = connect(
        &server,
        TlsOptions::new(ServerVerification::PinnedSha256(wrong_pin)),
    );

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(is_certificate_error(&error), "{error:?}");
    assert!(!error.is_retryable());
    assert!(!error.request_may_have_been_processed());
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn root_certs_verify_the_chain_and_the_device_name() {
    let ca = Ca::new("amtd test CA");
    let device = ca.issue(&["amt-device.test"], ExtendedKeyUsagePurpose::ServerAuth);
    let server = tls_server(pki::server_config(&device, None)).await;
    let roots = ServerVerification::RootCerts(vec![ca.cert()]);

    // Connected by IP address, verified against the FQDN.
    let good = connect(
        &server,
        TlsOptions::new(roots.clone()).with_server_name("amt-device.test"),
    );
    assert_eq!(good.post(ENVELOPE).await.unwrap().status, 200);

    let wrong_name = connect(
        &server,
        TlsOptions::new(roots).with_server_name("other-device.test"),
    );
    let error = wrong_name.post(ENVELOPE).await.unwrap_err();
    assert!(is_certificate_error(&error), "{error:?}");
}

#[tokio::test]
async fn root_certs_reject_a_self_signed_device() {
    let ca = Ca::new("amtd test CA");
    let device = pki::self_signed(&["amt-device.test"]);
    let server = tls_server(pki::server_config(&device, None)).await;
    let tls = TlsOptions::new(ServerVerification::RootCerts(vec![ca.cert()]))
        .with_server_name("amt-device.test");
    let conn = connect(&server, tls);

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(is_certificate_error(&error), "{error:?}");
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate_succeeds() {
    let device = pki::self_signed(&["amt-device.test"]);
    let console_ca = Ca::new("console CA");
    let console = console_ca.issue(&["console.amtd.test"], ExtendedKeyUsagePurpose::ClientAuth);
    let server = tls_server(pki::server_config(&device, Some(&console_ca))).await;
    let tls = TlsOptions::new(ServerVerification::PinnedSha256(CertFingerprint::of_der(
        &device.cert,
    )))
    .with_client_identity(console.identity());
    let conn = connect(&server, tls);

    let response = conn.post(ENVELOPE).await.unwrap();

    assert_eq!(response.body, echo_body(ENVELOPE));
    assert_eq!(server.tls_failures(), 0);
}

#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    let device = pki::self_signed(&["amt-device.test"]);
    let console_ca = Ca::new("console CA");
    let server = tls_server(pki::server_config(&device, Some(&console_ca))).await;
    let conn = connect(
        &server,
        TlsOptions::new(ServerVerification::InsecureAcceptAny),
    );

    let error = conn.post(ENVELOPE).await.unwrap_err();

    // With TLS 1.3 the client's side of the handshake ends before the server checks the
    // certificate, so the refusal arrives as an alert on the first read. Either way it is a
    // TLS failure and the device never saw the request.
    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    assert!(!error.request_may_have_been_processed());
    assert_eq!(server.request_count(), 0);
    assert_eq!(server.tls_failures(), 1);
}

#[tokio::test]
async fn mutual_tls_with_a_certificate_from_another_ca_is_refused() {
    let device = pki::self_signed(&["amt-device.test"]);
    let console_ca = Ca::new("console CA");
    let rogue_ca = Ca::new("rogue CA");
    let rogue = rogue_ca.issue(&["console.amtd.test"], ExtendedKeyUsagePurpose::ClientAuth);
    let server = tls_server(pki::server_config(&device, Some(&console_ca))).await;
    let tls = TlsOptions::new(ServerVerification::InsecureAcceptAny)
        .with_client_identity(rogue.identity());
    let conn = connect(&server, tls);

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(matches!(error, TransportError::Tls { .. }), "{error:?}");
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn unusable_client_key_is_a_configuration_error() {
    let console = pki::self_signed(&["console"]);
    let garbage = PrivateKeyDer::Pkcs8(vec![0x30, 0x03, 0x02, 0x01, 0x00].into());
    let tls = TlsOptions::new(ServerVerification::InsecureAcceptAny)
        .with_client_identity(ClientIdentity::new(vec![console.cert.clone()], garbage));
    let endpoint = DeviceEndpoint::https("127.0.0.1", tls).with_port(16993);

    let error = WsmanConnection::new(endpoint, USER, PASSWORD.into(), config()).unwrap_err();

    assert!(
        matches!(error, TransportError::TlsConfig { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn device_that_never_finishes_the_handshake_hits_the_connect_timeout() {
    // Accepts TCP but never speaks TLS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let endpoint = DeviceEndpoint::https(
        "127.0.0.1",
        TlsOptions::new(ServerVerification::InsecureAcceptAny),
    )
    .with_port(port);
    let config = TransportConfig {
        connect_timeout: Duration::from_millis(300),
        ..config()
    };
    let conn = WsmanConnection::new(endpoint, USER, PASSWORD.into(), config).unwrap();

    let error = conn.post(ENVELOPE).await.unwrap_err();

    assert!(
        matches!(error, TransportError::ConnectTimeout { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    holder.abort();
}

#[tokio::test]
async fn soap_fault_over_tls_is_returned() {
    let device = pki::self_signed(&["iamt-setup"]);
    let options = Options {
        tls: Some(pki::server_config(&device, None)),
        ..Options::default()
    };
    let server = Server::start(options, |_| Action::Reply {
        status: 400,
        body: b"<Fault/>".to_vec(),
        close: true,
    })
    .await;
    let conn = connect(
        &server,
        TlsOptions::new(ServerVerification::InsecureAcceptAny),
    );

    for _ in 0..2 {
        let response = conn.post(ENVELOPE).await.unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (400, &b"<Fault/>"[..])
        );
    }
    assert_eq!(
        server.connection_count(),
        2,
        "reconnected after Connection: close"
    );
}
