//! TLS on 16993: the setup-mode self-signed certificate and provisioning-certificate
//! admission (D5), then the installed certificate, closed plain port and mutual TLS with CRL
//! serials after provisioning (D7). `openssl s_client` is the independent observer;
//! certificates are made in the test with rcgen (ECDSA, fast) and amt-pki (RSA device key).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_support;

use std::sync::Arc;

use amt_emulator::firmware::FirmwareEvent;
use amt_emulator::fleet::FleetFlags;
use amt_emulator::net::client::WsmanSession;
use amt_emulator::net::Fleet;
use amt_emulator::state::{CrlEntry, Phase, StoredCert, StoredKey};
use base64::Engine as _;
use net_support::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

const SETUP_OID: &[u64] = &[2, 16, 840, 1, 113741, 1, 2, 3];
const CONSOLE_OID: &[u64] = &[2, 16, 840, 1, 113741, 1, 2, 1];

struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        issuer: Issuer::new(p, key),
    }
}

struct Leaf {
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
}

fn leaf(
    ca: &Ca,
    cn: &str,
    ou: Option<&str>,
    ekus: Vec<ExtendedKeyUsagePurpose>,
    serial: u64,
) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![cn.to_owned()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    if let Some(ou) = ou {
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, ou);
    }
    p.extended_key_usages = ekus;
    p.serial_number = Some(serial.into());
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        chain: vec![cert.der().to_vec(), ca.der.clone()],
        key: key.serialize_der(),
    }
}

fn sha256_hex(der: &[u8]) -> String {
    amt_pki::CertHash::of_der(amt_pki::HashAlgorithm::Sha256, der).to_hex()
}

#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects over TLS (optionally with a client certificate) and posts a Get as admin.
/// Returns the HTTP status, or the error that ended the session.
async fn tls_get(
    addr: std::net::SocketAddr,
    client: Option<&Leaf>,
    password: &str,
) -> Result<u16, String> {
    let provider = amt_emulator::net::tls::provider();
    let b = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)));
    let config = match client {
        Some(l) => b
            .with_client_auth_cert(
                l.chain
                    .iter()
                    .map(|c| CertificateDer::from(c.clone()))
                    .collect(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(l.key.clone())),
            )
            .unwrap(),
        None => b.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::from(addr.ip());
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut s = WsmanSession::new(tls, addr.to_string(), "admin", password);
    s.post(&get_xml("AMT_GeneralSettings"))
        .await
        .map(|r| r.status)
        .map_err(|e| e.to_string())
}

async fn openssl_subject(addr: std::net::SocketAddr) -> String {
    let Some(openssl) = on_path("openssl") else {
        return String::new();
    };
    let mut cmd = std::process::Command::new(openssl);
    cmd.args(["s_client", "-connect"])
        .arg(addr.to_string())
        .stdin(std::process::Stdio::null());
    let (_, stdout, stderr) = run(cmd).await;
    stdout
        .lines()
        .chain(stderr.lines())
        .find(|l| l.starts_with("subject="))
        .unwrap_or_default()
        .to_owned()
}

fn server_auth() -> Vec<ExtendedKeyUsagePurpose> {
    vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ]
}

fn with_setup_oid() -> Vec<ExtendedKeyUsagePurpose> {
    let mut v = server_auth();
    v.push(ExtendedKeyUsagePurpose::Other(SETUP_OID.to_vec()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_admission_follows_root_hash_usage_and_domain_rules() {
    let fleet = start(1, FleetFlags::default(), options()).await;
    let dev = dev(&fleet, 0);
    let trusted = ca("Trusted Provisioning Root");
    let other = ca("Some Other Root");
    dev.with_firmware(|fw| {
        fw.state
            .config
            .extra_root_hashes
            .push(sha256_hex(&trusted.der))
    });
    let addr = dev.addr(16993);

    let admitted_oid = leaf(&trusted, "prov.amt.test", None, with_setup_oid(), 1);
    let admitted_ou = leaf(
        &trusted,
        "*.amt.test",
        Some("Intel(R) Client Setup Certificate"),
        server_auth(),
        2,
    );
    let wrong_root = leaf(&other, "prov.amt.test", None, with_setup_oid(), 3);
    let no_usage = leaf(&trusted, "prov.amt.test", None, server_auth(), 4);
    let wrong_domain = leaf(&trusted, "prov.other.test", None, with_setup_oid(), 5);

    // Admitted provisioning servers authenticate as admin with an empty password.
    assert_eq!(tls_get(addr, Some(&admitted_oid), "").await, Ok(200));
    assert_eq!(tls_get(addr, Some(&admitted_ou), "").await, Ok(200));
    // Refused certificates end the session with a TLS alert.
    for (what, l) in [
        ("wrong root", &wrong_root),
        ("no setup usage", &no_usage),
        ("wrong domain", &wrong_domain),
    ] {
        let r = tls_get(addr, Some(l), "").await;
        assert!(r.is_err(), "{what} was admitted: {r:?}");
    }
    // Without a certificate the session is unprivileged: admin/"" is refused.
    assert_eq!(tls_get(addr, None, "").await, Ok(401));
    // Over plain HTTP admin/"" is refused as well.
    let mut s = plain_session(&fleet, 0, "").await;
    assert_eq!(
        s.post(&get_xml("AMT_GeneralSettings"))
            .await
            .unwrap()
            .status,
        401
    );
    let summary = fleet.summary();
    assert_eq!(summary.tls_admitted, 2, "{summary}");
    assert_eq!(summary.tls_refused, 3, "{summary}");
}

/// Installs a device TLS certificate (RSA key held by the firmware, issued by `root`) and
/// commits, as a provisioning server would.
fn provision_with_tls(fleet: &Fleet, root: &Ca) -> String {
    let dev = dev(fleet, 0);
    let key = amt_pki::RsaKey::generate(&mut rand::rng(), 2048).unwrap();
    let pkcs8 = key.to_pkcs8_der().unwrap().to_vec();
    let public = key
        .public_key_info()
        .unwrap()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let kp = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.clone()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let fqdn = "amtdev00001.amt.test";
    let mut p = CertificateParams::new(vec![fqdn.to_owned()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, fqdn);
    p.distinguished_name
        .push(DnType::OrganizationName, "Installed By Test");
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&kp, &root.issuer).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    dev.with_firmware(|fw| {
        let realm = fw.state.digest_realm.clone();
        let s = &mut fw.state;
        s.certs.push(StoredCert {
            handle: 10,
            der_b64: b64.encode(cert.der()),
            trusted_root: false,
        });
        s.certs.push(StoredCert {
            handle: 11,
            der_b64: b64.encode(&root.der),
            trusted_root: true,
        });
        s.keys.push(StoredKey {
            handle: 12,
            pkcs8_b64: b64.encode(&pkcs8),
            public_der_b64: b64.encode(&public),
        });
        s.tls_cert_handle = Some(10);
        s.tls_remote.enabled = true;
        s.tls_remote.accept_non_secure = false;
        s.phase = Phase::Provisioned;
        s.control_mode = 2;
        s.admin_ha1_hex = Some(amt_wsman::digest::ha1_hex("admin", &realm, PASSWORD));
    });
    dev.apply_events(&[FirmwareEvent::StateChanged, FirmwareEvent::Committed]);
    fqdn.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_sees_the_self_signed_then_the_installed_certificate_and_mutual_tls_is_enforced() {
    let fleet = start(1, FleetFlags::default(), options()).await;
    let dev = dev(&fleet, 0);
    let addr = dev.addr(16993);
    let subject = openssl_subject(addr).await;
    if !subject.is_empty() {
        assert!(
            subject.contains("amtdev00001.amt.test") && subject.contains("Setup mode"),
            "{subject}"
        );
    }

    let root = ca("Device Root");
    provision_with_tls(&fleet, &root);
    assert_eq!(dev.phase(), Phase::Provisioned);
    let subject = openssl_subject(addr).await;
    if !subject.is_empty() {
        assert!(subject.contains("Installed By Test"), "{subject}");
    }
    // Plain 16992 is closed (AcceptNonSecureConnections false).
    assert!(TcpStream::connect(dev.addr(16992)).await.is_err());
    // Server-auth TLS with digest.
    assert_eq!(tls_get(addr, None, PASSWORD).await, Ok(200));

    // Mutual TLS with a CRL list: console certificates need clientAuth + the console OID.
    let console_ekus = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::Other(CONSOLE_OID.to_vec()),
    ];
    let good = leaf(
        &root,
        "console.amt.test",
        None,
        console_ekus.clone(),
        0x1001,
    );
    let revoked = leaf(
        &root,
        "console.amt.test",
        None,
        console_ekus.clone(),
        0x1002,
    );
    let no_oid = leaf(&root, "console.amt.test", None, server_auth(), 0x1003);
    let foreign = leaf(
        &ca("Foreign"),
        "console.amt.test",
        None,
        console_ekus,
        0x1004,
    );
    dev.with_firmware(|fw| {
        fw.state.tls_remote.mutual_authentication = true;
        fw.state.crls.push(CrlEntry {
            url: "http://ca.amt.test/crl".into(),
            serials_b64: vec![base64::engine::general_purpose::STANDARD.encode([0x10, 0x02])],
        });
    });
    dev.apply_events(&[FirmwareEvent::StateChanged]);
    assert_eq!(tls_get(addr, Some(&good), PASSWORD).await, Ok(200));
    for (what, l) in [
        ("revoked", Some(&revoked)),
        ("no console OID", Some(&no_oid)),
        ("foreign root", Some(&foreign)),
        ("no certificate", None),
    ] {
        let r = tls_get(addr, l, PASSWORD).await;
        assert!(r.is_err(), "{what} was admitted: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_swap_fault_serves_a_different_certificate() {
    let flags = FleetFlags {
        faults: vec![(None, amt_emulator::net::faults::Fault::CertSwap)],
        ..FleetFlags::default()
    };
    let fleet = start(1, flags, options()).await;
    let root = ca("Device Root");
    provision_with_tls(&fleet, &root);
    let subject = openssl_subject(dev(&fleet, 0).addr(16993)).await;
    if !subject.is_empty() {
        assert!(!subject.contains("Installed By Test"), "{subject}");
        assert!(subject.contains("Setup mode"), "{subject}");
    }
}
