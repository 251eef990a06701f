//! Provisioning against the firmware core in memory: the console side builds requests with
//! amt-wsman's typed builders and an in-test PKI (amt-pki), every request and response goes
//! through XML both ways, the clock is virtual and randomness is a seeded generator. No sockets.
//!
//! The remote-configuration flow (AMT-PROTOCOLS §1.3, §2.5) and host-based CCM and ACM
//! activation with the provisioning certificate chain (§2.2, §2.3). ACL realms are in
//! `provisioning_acl.rs`, malformed input and response shapes in `provisioning_inputs.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod provisioning_support;
use provisioning_support::*;

#[test]
fn remote_configuration_flow_provisions_then_unprovision_returns_to_setup() {
    let mut sim = Sim::new(false);
    let c = admin_tls();
    let p = pki();

    // 1. Realm, MEBx password, admin password.
    let realm = sim.realm();
    assert!(realm.starts_with("Digest:") && realm.len() == 39);
    let mebx: SetMebxPasswordOutput = sim.invoke(
        &SetMebxPasswordInput {
            password: Some("Mebx!Passw0rd".into()),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(mebx.return_value, Some(PtStatus::Success));
    let set: SetAdminAclEntryExOutput = sim.invoke(
        &SetAdminAclEntryExInput::new("admin", &admin_ha1(&realm)),
        &c,
    );
    assert_eq!(set.return_value, Some(PtStatus::Success));
    let setup: AmtSetupAndConfigurationService = sim.get(SelectorSet::new(), &c);
    assert_eq!(setup.provisioning_state, Some(ProvisioningState::In));

    // 2. Trusted root, device key, CSR signed by the device, certificate.
    let root: AddTrustedRootCertificateOutput =
        sim.invoke(&AddTrustedRootCertificateInput::from_der(&p.chain[2]), &c);
    assert_eq!(root.return_value, Some(PtStatus::Success));
    let kp: GenerateKeyPairOutput = sim.invoke(&GenerateKeyPairInput::rsa_2048(), &c);
    assert_eq!(kp.return_value, Some(PtStatus::Success));
    let key_id = kp
        .key_pair
        .as_ref()
        .and_then(|e| e.selectors.get("InstanceID"))
        .expect("KeyPair InstanceID")
        .to_owned();
    assert!(key_id.starts_with("Intel(r) AMT Key: Handle: "));
    let keys: Vec<AmtPublicPrivateKeyPair> = sim.enumerate(&c);
    assert_eq!(keys.len(), 1);
    let got: AmtPublicPrivateKeyPair = sim.get(SelectorSet::one("InstanceID", &key_id), &c);
    assert_eq!(got, keys[0]);
    let der_key = got.public_key_der().expect("b64").expect("DERKey");

    let fqdn = "amtdev01.amt.test";
    let csr_out: GeneratePkcs10RequestExOutput = sim.invoke(
        &GeneratePkcs10RequestExInput {
            key_pair: Some(key_pair_reference(&key_id)),
            signing_algorithm: Some(CsrSigningAlgorithm::Sha256Rsa),
            null_signed_certificate_request: Some(b64(&null_signed_csr(&der_key, fqdn))),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(csr_out.return_value, Some(PtStatus::Success));
    let csr = VerifiedCsr::from_der(&csr_out.request_der().expect("b64").expect("csr"))
        .expect("the device's signature verifies");
    let csr_key =
        rsa::PublicKey::from_public_key_der(&csr.public_key().to_der().expect("der")).expect("rsa");
    assert_eq!(
        csr_key,
        rsa::PublicKey::from_pkcs1_der(&der_key).expect("rsa")
    );
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    let device_cert =
        p.ca.issue_from_csr(
            &LeafRequest::Device { fqdn, uuid: UUID },
            &csr,
            &mut rng(5),
            now,
        )
        .expect("device certificate");
    let added: AddCertificateOutput =
        sim.invoke(&AddCertificateInput::from_der(device_cert.cert.der()), &c);
    assert_eq!(added.return_value, Some(PtStatus::Success));
    let cert_id = added
        .created_certificate
        .as_ref()
        .and_then(|e| e.selectors.get("InstanceID"))
        .expect("certificate InstanceID")
        .to_owned();
    // The intermediate, without a key: kept for the chain the device presents.
    let inter: AddCertificateOutput = sim.invoke(&AddCertificateInput::from_der(&p.chain[1]), &c);
    assert_eq!(inter.return_value, Some(PtStatus::Success));

    // 3. TLS: credential context, remote settings with mutual authentication.
    let id = sim.id();
    let created = sim.send(
        AmtTlsCredentialContext::for_certificate(&cert_id).create(id),
        &c,
    );
    let ResponseBody::Create(epr) = created.body else {
        panic!("Create: {:?}", created.body)
    };
    assert_eq!(
        epr.selectors
            .0
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["ElementInContext", "ElementProvidingContext"]
    );
    let remote = AmtTlsSettingData {
        instance_id: Some(TLS_REMOTE_INSTANCE_ID.into()),
        element_name: Some(TLS_REMOTE_INSTANCE_ID.into()),
        enabled: Some(true),
        mutual_authentication: Some(true),
        accept_non_secure_connections: Some(false),
        trusted_cn: vec!["console.amt.test".into()],
        ..Default::default()
    };
    let id = sim.id();
    let put = sim.send(
        remote.put(id, SelectorSet::one("InstanceID", TLS_REMOTE_INSTANCE_ID)),
        &c,
    );
    let ResponseBody::Put(Some(echo)) = put.body else {
        panic!("Put: {:?}", put.body)
    };
    assert_eq!(
        AmtTlsSettingData::from_instance(&echo)
            .expect("typed")
            .mutual_authentication,
        Some(true)
    );
    // Intel: no trusted root can be added while mutual authentication is on.
    let late: AddTrustedRootCertificateOutput =
        sim.invoke(&AddTrustedRootCertificateInput::from_der(&p.chain[1]), &c);
    assert_eq!(late.return_value, Some(PtStatus::NotPermitted));

    // 4. Users (Digest and Kerberos), CRL, commit.
    let digest = sim.add_user(&AddUserAclEntryExInput::digest(
        "operator",
        &amt_wsman::digest::ha1("operator", &realm, "Op3rator!pw"),
        AccessPermission::NetworkOnly,
        [Realm::HardwareAsset, Realm::RemoteControl],
    ));
    assert_eq!(digest.return_value, Some(PtStatus::Success));
    let sid = unb64("AQUAAAAAAAUVAAAAVcoTQfagZTk1F8IXVgQAAA==");
    let kerb = sim.add_user(&AddUserAclEntryExInput::kerberos(
        &sid,
        AccessPermission::LocalAndNetwork,
        [Realm::Redirection],
    ));
    assert_eq!(kerb.return_value, Some(PtStatus::Success));
    let crl: AddCrlOutput = sim.invoke(
        &AddCrlInput {
            url: Some("http://ca.amt.test/issuing.crl".into()),
            serial_numbers: vec![b64(&[0x01, 0x02, 0x03]), b64(&[0x00, 0xAB])],
            ..Default::default()
        },
        &c,
    );
    assert_eq!(crl.return_value, Some(PtStatus::Success));
    sim.fw.take_events();
    let commit: CommitChangesOutput = sim.invoke(&CommitChangesInput::default(), &c);
    assert_eq!(commit.return_value, Some(PtStatus::Success));

    // The device is provisioned in Admin Control Mode with what was pushed.
    let events = sim.fw.take_events();
    assert!(events.contains(&FirmwareEvent::Committed), "{events:?}");
    assert_eq!(sim.fw.state.phase, Phase::Provisioned);
    assert_eq!(sim.fw.state.control_mode, 2);
    let ha1 = amt_wsman::digest::ha1("admin", &realm, ADMIN_PW);
    assert_eq!(sim.fw.ha1_for("admin"), Some(ha1));
    let (chain, key_pkcs8) = sim.fw.tls_identity().expect("installed TLS identity");
    assert_eq!(chain, [device_cert.cert.der().to_vec(), p.chain[1].clone()]);
    let key = rsa::PrivateKey::from_pkcs8_der(&key_pkcs8).expect("PKCS#8");
    assert_eq!(key.to_public_key(), csr_key);
    let policy = sim.fw.tls_policy();
    assert!(policy.enabled && policy.mutual_authentication && !policy.accept_non_secure);
    assert_eq!(sim.fw.tls_trusted_cns(), ["console.amt.test"]);
    assert_eq!(sim.fw.trusted_root_certs(), [p.chain[2].clone()]);
    assert!(sim.fw.is_serial_revoked(&[0xAB]) && sim.fw.is_serial_revoked(&[1, 2, 3]));
    assert!(!sim.fw.is_serial_revoked(&[1, 2, 4]));
    let setup: AmtSetupAndConfigurationService = sim.get(SelectorSet::new(), &admin());
    assert_eq!(setup.provisioning_state, Some(ProvisioningState::Post));
    assert_eq!(
        setup.provisioning_mode,
        Some(ProvisioningMode::AdminControl)
    );
    assert_eq!(sim.hbs().current_control_mode, Some(ControlMode::Admin));
    let certs: Vec<AmtPublicKeyCertificate> = sim.enumerate(&admin());
    assert_eq!(certs.len(), 3);
    assert_eq!(certs[0].trusted_root_certificate, Some(true));
    assert!(certs[1]
        .subject
        .as_deref()
        .is_some_and(|s| s.contains(fqdn)));
    assert!(sim
        .fw
        .state
        .audit_log
        .iter()
        .any(|r| r.text.starts_with("Provisioning Completed")));

    // The TLS certificate cannot be deleted while in use.
    let id = sim.id();
    let in_use = sim.fault(
        AmtPublicKeyCertificate::delete(id, SelectorSet::one("InstanceID", &cert_id)),
        &admin(),
    );
    assert_eq!(in_use, Subcode::InternalError);

    // 5. Unprovision: back to setup mode with nothing left.
    let un: UnprovisionOutput = sim.invoke(
        &UnprovisionInput {
            provisioning_mode: Some(UnprovisionMode::Enterprise),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(un.return_value, Some(PtStatus::Success));
    assert!(sim.fw.take_events().contains(&FirmwareEvent::Unprovisioned));
    let s = &sim.fw.state;
    assert_eq!((s.phase, s.control_mode), (Phase::Setup, 0));
    assert!(s.admin_ha1_hex.is_none() && s.users.is_empty() && s.certs.is_empty());
    assert!(s.keys.is_empty() && s.crls.is_empty() && s.tls_cert_handle.is_none());
    assert!(!s.tls_remote.enabled && !s.tls_remote.mutual_authentication);
    assert!(sim.fw.tls_identity().is_none() && sim.fw.ha1_for("operator").is_none());
    let setup: AmtSetupAndConfigurationService = sim.get(SelectorSet::new(), &admin());
    assert_eq!(setup.provisioning_state, Some(ProvisioningState::Pre));
}

#[test]
fn host_based_admin_setup_checks_the_nonce_signature() {
    let mut sim = Sim::new(true);
    let p = pki();
    let realm = sim.realm();
    let admin_pw = amt_wsman::password::setup_password_hash_hex(&realm, ADMIN_PW);
    let hbs = sim.hbs();
    assert_eq!(hbs.current_control_mode, Some(ControlMode::NotProvisioned));
    assert_eq!(hbs.cert_chain_status, Some(CertChainStatus::NotStarted));
    assert_eq!(
        hbs.configuration_nonce_bytes()
            .expect("b64")
            .map(|n| n.len()),
        Some(20)
    );

    let admin_setup = |sim: &mut Sim, sig: Vec<u8>, mc: &[u8]| -> AdminSetupReturn {
        let out: AdminSetupOutput = sim.invoke(
            &AdminSetupInput {
                net_admin_pass_encryption_type: Some(AdminPassEncryptionType::HttpDigestMd5A1),
                network_admin_password: Some(admin_pw.clone()),
                mc_nonce: Some(b64(mc)),
                signing_algorithm: Some(SigningAlgorithm::RsaSha256),
                digital_signature: Some(b64(&sig)),
                ..Default::default()
            },
            &admin(),
        );
        out.return_value.expect("return value")
    };
    let mc = [0x42u8; 20];
    // Before the chain: invalid state.
    assert_eq!(
        admin_setup(&mut sim, vec![0; 256], &mc),
        AdminSetupReturn::InvalidState
    );
    sim.add_provisioning_chain();
    assert_eq!(
        sim.hbs().cert_chain_status,
        Some(CertChainStatus::ChainComplete)
    );

    // A signature over the wrong bytes is refused, and the nonce changes after any attempt.
    let nonce = sim
        .hbs()
        .configuration_nonce_bytes()
        .expect("b64")
        .expect("nonce");
    let wrong = sign_sha256(&p.key, &mc);
    assert_eq!(
        admin_setup(&mut sim, wrong, &mc),
        AdminSetupReturn::AuthFailed
    );
    let nonce2 = sim
        .hbs()
        .configuration_nonce_bytes()
        .expect("b64")
        .expect("nonce");
    assert_ne!(nonce, nonce2);
    // Replaying a signature over the old nonce fails too.
    let replay = sign_sha256(&p.key, &[nonce.as_slice(), &mc].concat());
    assert_eq!(
        admin_setup(&mut sim, replay, &mc),
        AdminSetupReturn::AuthFailed
    );
    assert_eq!(sim.fw.state.phase, Phase::Setup);

    let nonce = sim
        .hbs()
        .configuration_nonce_bytes()
        .expect("b64")
        .expect("nonce");
    let good = sign_sha256(&p.key, &[nonce.as_slice(), &mc].concat());
    sim.fw.take_events();
    assert_eq!(admin_setup(&mut sim, good, &mc), AdminSetupReturn::Success);
    let events = sim.fw.take_events();
    assert!(events.contains(&FirmwareEvent::Committed));
    // The AMT 16 persona drops the session after AdminSetup, as RPS observes.
    assert!(events.contains(&FirmwareEvent::DropSession));
    assert_eq!(sim.fw.state.phase, Phase::Provisioned);
    assert_eq!(sim.hbs().current_control_mode, Some(ControlMode::Admin));
    assert_eq!(
        sim.fw.ha1_for("admin"),
        Some(amt_wsman::digest::ha1("admin", &realm, ADMIN_PW))
    );
}

#[test]
fn host_based_client_setup_then_upgrade_to_admin() {
    let mut sim = Sim::new(true);
    sim.activate_ccm();
    assert_eq!(sim.fw.state.phase, Phase::Provisioned);
    assert_eq!(sim.hbs().current_control_mode, Some(ControlMode::Client));
    assert_eq!(sim.hbs().allowed_control_modes, [ControlMode::Admin]);
    // Setup twice is an invalid state; CCM may not set the MEBx password.
    let again: SetupOutput = sim.invoke(
        &SetupInput {
            net_admin_pass_encryption_type: Some(AdminPassEncryptionType::HttpDigestMd5A1),
            network_admin_password: Some("0".repeat(32)),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(again.return_value, Some(HostBasedSetupReturn::InvalidState));
    let mebx: SetMebxPasswordOutput = sim.invoke(
        &SetMebxPasswordInput {
            password: Some("Mebx!Passw0rd".into()),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(mebx.return_value, Some(PtStatus::NotPermitted));
    let setup: AmtSetupAndConfigurationService = sim.get(SelectorSet::new(), &admin());
    assert_eq!(
        setup.provisioning_mode,
        Some(ProvisioningMode::ClientControl)
    );

    sim.add_provisioning_chain();
    let nonce = sim
        .hbs()
        .configuration_nonce_bytes()
        .expect("b64")
        .expect("nonce");
    let mc = [7u8; 20];
    let sig = sign_sha256(&pki().key, &[nonce.as_slice(), &mc].concat());
    let up: UpgradeClientToAdminOutput = sim.invoke(
        &UpgradeClientToAdminInput {
            mc_nonce: Some(b64(&mc)),
            signing_algorithm: Some(SigningAlgorithm::RsaSha256),
            digital_signature: Some(b64(&sig)),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(up.return_value, Some(HostBasedSetupReturn::Success));
    assert_eq!(sim.fw.state.control_mode, 2);
}

#[test]
fn provisioning_chain_is_verified_link_by_link() {
    let p = pki();
    // Untrusted root: everything links, but the root hash is not in the device's list.
    let mut sim = Sim::new(false);
    assert_eq!(
        sim.add_chain_cert(&p.chain[0], true, false),
        AddNextCertInChainReturn::Success
    );
    assert_eq!(
        sim.add_chain_cert(&p.chain[1], false, false),
        AddNextCertInChainReturn::Success
    );
    assert_eq!(
        sim.add_chain_cert(&p.chain[2], false, true),
        AddNextCertInChainReturn::CertVerifyFailed
    );
    assert_eq!(
        sim.hbs().cert_chain_status,
        Some(CertChainStatus::NotStarted)
    );

    // Wrong chain: the root did not sign the leaf's issuer.
    let mut sim = Sim::new(true);
    assert_eq!(
        sim.add_chain_cert(&p.chain[0], true, false),
        AddNextCertInChainReturn::Success
    );
    assert_eq!(
        sim.hbs().cert_chain_status,
        Some(CertChainStatus::ChainInProgress)
    );
    assert_eq!(
        sim.add_chain_cert(&p.chain[2], false, true),
        AddNextCertInChainReturn::CertVerifyFailed
    );
    // A certificate that is not the next link and no leaf yet.
    assert_eq!(
        sim.add_chain_cert(&p.chain[1], false, false),
        AddNextCertInChainReturn::InvalidState
    );

    // A leaf without the setup OID (a device TLS certificate) or outside the device's domain.
    let no_oid = leaf_cert(&LeafRequest::Device {
        fqdn: "amtdev01.amt.test",
        uuid: UUID,
    });
    assert_eq!(
        sim.add_chain_cert(&no_oid, true, false),
        AddNextCertInChainReturn::CertVerifyFailed
    );
    let elsewhere = leaf_cert(&LeafRequest::Provisioning {
        fqdn: "prov.other.test",
        marker: SetupMarker::Oid,
    });
    assert_eq!(
        sim.add_chain_cert(&elsewhere, true, false),
        AddNextCertInChainReturn::CertVerifyFailed
    );
    // The OU marker is as good as the OID.
    let ou = leaf_cert(&LeafRequest::Provisioning {
        fqdn: "prov.amt.test",
        marker: SetupMarker::Ou,
    });
    assert_eq!(
        sim.add_chain_cert(&ou, true, false),
        AddNextCertInChainReturn::Success
    );
}
