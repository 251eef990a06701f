//! Provisioning end to end over real sockets: amtd-core's machine, driven by the runner through
//! the real transport (TLS with the provisioning certificate as client certificate), against a
//! real emulated device (setup-mode TLS admission, firmware, CommitChanges restarting the
//! listeners), with an amt-pki CA signing the device's own PKCS#10. Afterwards openssl sees the
//! issued certificate on 16993 and the stored admin password works.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use amt_emulator::fleet::{FleetFlags, FleetSpec};
use amt_emulator::net::{Fleet, NetOptions};
use amt_pki::{
    CaSettings, CertHash, EmbeddedCa, HashAlgorithm, LeafRequest, ProvisioningCert,
    RevocationReason, RsaKey, Serial, SetupMarker, VerifiedCsr,
};
use amt_wsman::classes::amt::AmtGeneralSettings;
use amt_wsman::secret::SecretString;
use amt_wsman::SelectorSet;
use amtd_core::provisioning::{random_bytes_needed, Outcome, Start, Transition};
use amtd_core::{DeviceId, DeviceRecord, Fqdn, Provisioning, ProvisioningProfile};
use amtd_infra::client::WsmanClient;
use amtd_infra::provision_runner::{run_provisioning, ProvisioningHooks, Target};
use amtd_infra::transport::{
    CertFingerprint, DeviceEndpoint, ServerVerification, TlsOptions, TransportConfig,
    WsmanConnection,
};

const UUID: &str = "4c4c4544-0033-3110-8052-b3c04f4b4d32";

struct Pki {
    ca: EmbeddedCa,
    prov: ProvisioningCert,
    root_hash: CertHash,
}

fn pki() -> Pki {
    let mut rng = rand::rng();
    let now = SystemTime::now();
    // One key serves as root, issuing and provisioning key: RSA generation is slow.
    let key = RsaKey::generate(&mut rng, 2048).expect("key");
    let (ca, _) = EmbeddedCa::create_with_keys(
        CaSettings::default(),
        key.clone(),
        key.clone(),
        &mut rng,
        now,
    )
    .expect("CA");
    let leaf = ca
        .issue(
            &LeafRequest::Provisioning {
                fqdn: "prov.amt.test",
                marker: SetupMarker::Oid,
            },
            key.public_key_info().expect("spki"),
            &mut rng,
            now,
        )
        .expect("provisioning certificate");
    let chain = vec![
        leaf.cert.clone(),
        ca.issuing().cert().clone(),
        ca.root().cert().clone(),
    ];
    let prov = ProvisioningCert::from_parts(chain, key, now).expect("provisioning cert");
    let root_hash = CertHash::of_der(HashAlgorithm::Sha256, ca.root().cert().der());
    Pki {
        ca,
        prov,
        root_hash,
    }
}

struct Hooks<'a> {
    ca: &'a EmbeddedCa,
    /// Make every persist fail once a certificate has been issued (a store outage).
    fail_after_issue: bool,
    transitions: Vec<String>,
    admin_password: Option<SecretString>,
    issued: Vec<Serial>,
    revoked: Vec<Serial>,
}

impl ProvisioningHooks for Hooks<'_> {
    fn persist(&mut self, t: &Transition) -> Result<(), String> {
        if self.fail_after_issue && !self.issued.is_empty() {
            return Err("database is locked".into());
        }
        if let Some(s) = &t.secrets {
            self.admin_password = Some(s.admin_password.clone());
        }
        self.transitions.push(format!("{} -> {}", t.from, t.to));
        Ok(())
    }

    fn sign(
        &mut self,
        csr_der: &[u8],
        fqdn: &Fqdn,
        uuid: &DeviceId,
    ) -> Result<(Vec<u8>, Serial), String> {
        let csr = VerifiedCsr::from_der(csr_der).map_err(|e| e.to_string())?;
        let uuid = uuid.to_string();
        let issued = self
            .ca
            .issue_from_csr(
                &LeafRequest::Device {
                    fqdn: fqdn.as_str(),
                    uuid: &uuid,
                },
                &csr,
                &mut rand::rng(),
                SystemTime::now(),
            )
            .map_err(|e| e.to_string())?;
        self.issued.push(issued.cert.serial());
        Ok((issued.cert.der().to_vec(), issued.cert.serial()))
    }

    fn revoke(&mut self, serial: &Serial, _reason: RevocationReason) {
        self.revoked.push(serial.clone());
    }
}

async fn start_device(root_hash_hex: &str) -> (Fleet, Ipv4Addr) {
    for attempt in 0..8u8 {
        let mut b = [0u8; 2];
        amt_emulator::net::random_fill(&mut b);
        let ip = Ipv4Addr::new(127, 100 + b[0] % 100, b[1].max(1), 10 + attempt);
        let flags = FleetFlags {
            count: 1,
            first_ip: ip,
            ..FleetFlags::default()
        };
        let toml = format!(
            "[[device]]\nuuid = \"{UUID}\"\nhostname = \"amtdev01\"\ndomain = \"amt.test\"\npersona = \"amt16\"\nextra_root_hashes = [\"{root_hash_hex}\"]\n"
        );
        let spec = FleetSpec::from_toml(&toml, &flags).expect("fleet spec");
        let mut options = NetOptions::default();
        options.hello.enabled = false;
        let fleet = Fleet::start(spec, options, |_, _| {}).await.expect("fleet");
        if fleet.failures().is_empty() {
            return (fleet, ip);
        }
        fleet.shutdown();
    }
    panic!("could not bind the emulated device");
}

fn openssl_subject(ip: Ipv4Addr) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {ip}:16993 -servername amtdev01.amt.test </dev/null 2>/dev/null | openssl x509 -noout -subject -nameopt utf8,sep_comma_plus_space,space_eq"
        ))
        .output()
        .expect("openssl (scripts/install-peers)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulated_device_is_provisioned_over_real_tls_and_answers_with_the_issued_certificate() {
    let pki = pki();
    let (fleet, ip) = start_device(&pki.root_hash.to_hex()).await;

    // Before: the device's own self-signed setup-mode certificate.
    let before = openssl_subject(ip);
    assert!(
        !before.contains("Intel® Active Management Technology"),
        "{before}"
    );

    let candidates = [pki.prov.clone()];
    let mut random = vec![0u8; random_bytes_needed()];
    amt_emulator::net::random_fill(&mut random);
    let device = DeviceRecord {
        id: UUID.parse().expect("uuid"),
        fqdn: Fqdn::new("amtdev01.amt.test").expect("fqdn"),
        address: ip.to_string(),
        root_hashes: vec![pki.root_hash.clone()],
        admin_credentials_set: false,
    };
    let (machine, actions) = Provisioning::begin(Start {
        device,
        profile: ProvisioningProfile::new("default"),
        candidates: &candidates,
        now: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        random: &random,
    });
    let mut hooks = Hooks {
        ca: &pki.ca,
        fail_after_issue: false,
        transitions: Vec::new(),
        admin_password: None,
        issued: Vec::new(),
        revoked: Vec::new(),
    };
    let target = Target {
        address: ip.to_string(),
        tls_port: 16993,
        transport: TransportConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            ..TransportConfig::default()
        },
        console_identity: None,
    };
    let outcome = run_provisioning(machine, actions, &candidates, &target, &mut hooks).await;
    let Outcome::Provisioned(done) = outcome else {
        panic!(
            "not provisioned: {outcome:?}\ntransitions:\n{}",
            hooks.transitions.join("\n")
        );
    };
    assert_eq!(done.fqdn.as_str(), "amtdev01.amt.test");
    assert_eq!(hooks.issued.len(), 1);
    assert!(hooks.revoked.is_empty());

    // After: openssl sees the CA-issued certificate with the exact subject.
    let after = openssl_subject(ip);
    assert_eq!(
        after,
        format!("subject=CN = amtdev01.amt.test, CN = Device (UUID: {UUID}), O = Intel® Active Management Technology")
    );

    // The stored admin password works over the provisioned TLS channel.
    let dev = fleet.device(0).expect("device");
    let cert_der = dev
        .with_firmware(|fw| fw.tls_identity())
        .expect("installed identity")
        .0
        .remove(0);
    let endpoint = DeviceEndpoint::https(
        ip.to_string(),
        TlsOptions::new(ServerVerification::PinnedSha256(CertFingerprint::of_der(
            &cert_der,
        ))),
    );
    let conn = WsmanConnection::new(
        endpoint,
        "admin",
        hooks
            .admin_password
            .clone()
            .expect("admin password persisted"),
        TransportConfig::default(),
    )
    .expect("connection");
    let gs: AmtGeneralSettings = WsmanClient::new(conn)
        .get(SelectorSet::new())
        .await
        .expect("admin can read general settings");
    assert_eq!(gs.host_name.as_deref(), Some("amtdev01"));
    fleet.shutdown();
}

/// A store outage after the CA signed: the run stops before its next network call, says the
/// store failed (not the device), and the issued certificate is revoked (P7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failure_after_issuance_stops_the_run_and_revokes_the_certificate() {
    let pki = pki();
    let (fleet, ip) = start_device(&pki.root_hash.to_hex()).await;
    let candidates = [pki.prov.clone()];
    let mut random = vec![0u8; random_bytes_needed()];
    amt_emulator::net::random_fill(&mut random);
    let device = DeviceRecord {
        id: UUID.parse().expect("uuid"),
        fqdn: Fqdn::new("amtdev01.amt.test").expect("fqdn"),
        address: ip.to_string(),
        root_hashes: vec![pki.root_hash.clone()],
        admin_credentials_set: false,
    };
    let (machine, actions) = Provisioning::begin(Start {
        device,
        profile: ProvisioningProfile::new("default"),
        candidates: &candidates,
        now: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        random: &random,
    });
    let mut hooks = Hooks {
        ca: &pki.ca,
        fail_after_issue: true,
        transitions: Vec::new(),
        admin_password: None,
        issued: Vec::new(),
        revoked: Vec::new(),
    };
    let outcome = run_provisioning(
        machine,
        actions,
        &candidates,
        &Target::new(ip.to_string()),
        &mut hooks,
    )
    .await;
    let Outcome::Failed(f) = outcome else {
        panic!("a store outage must fail the run: {outcome:?}");
    };
    assert_eq!(f.kind, amtd_core::provisioning::FailureKind::Store, "{f:?}");
    assert!(f.reason.contains("database is locked"), "{}", f.reason);
    assert!(f.retryable);
    assert_eq!(hooks.issued.len(), 1);
    assert_eq!(
        hooks.revoked, hooks.issued,
        "the issued certificate must be revoked"
    );
    // The device was never committed: it is still in setup mode.
    let dev = fleet.device(0).expect("device");
    assert!(
        dev.with_firmware(|fw| fw.in_setup()),
        "no commit after the failed write"
    );
    fleet.shutdown();
}
