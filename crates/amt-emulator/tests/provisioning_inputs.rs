//! Malformed arguments to the provisioning classes (typed status codes or SOAP faults, never a
//! panic), general settings, the platform UUID, and response shapes checked against the
//! recorded device responses in ../shared/fixtures/wsman-responses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod provisioning_support;
use provisioning_support::*;

#[test]
fn malformed_arguments_get_status_codes_or_faults_never_panics() {
    let mut sim = Sim::new(false);
    let c = admin_tls();
    let root = |sim: &mut Sim, blob: &str| -> PtStatus {
        let o: AddTrustedRootCertificateOutput = sim.invoke(
            &AddTrustedRootCertificateInput {
                certificate_blob: Some(blob.into()),
                ..Default::default()
            },
            &c,
        );
        assert!(o.created_certificate.is_none() || o.return_value == Some(PtStatus::Success));
        o.return_value.expect("return value")
    };
    assert_eq!(root(&mut sim, "!!not base64!!"), PtStatus::InvalidParameter);
    assert_eq!(
        root(&mut sim, &b64(b"\x30\x03\x02\x01\x01")),
        PtStatus::InvalidCert
    );
    assert_eq!(root(&mut sim, &b64(&pki().chain[2])), PtStatus::Success);
    assert_eq!(root(&mut sim, &b64(&pki().chain[2])), PtStatus::Duplicate);
    let cert: AddCertificateOutput = sim.invoke(
        &AddCertificateInput {
            certificate_blob: Some(b64(&[0xFF; 40])),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(cert.return_value, Some(PtStatus::InvalidCert));
    let key: AddKeyOutput = sim.invoke(
        &AddKeyInput {
            key_blob: Some(b64(b"not a key")),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(key.return_value, Some(PtStatus::InvalidKey));
    let short: GenerateKeyPairOutput = sim.invoke(
        &GenerateKeyPairInput {
            key_length: Some(1024),
            ..GenerateKeyPairInput::rsa_2048()
        },
        &c,
    );
    assert_eq!(short.return_value, Some(PtStatus::InvalidParameter));
    // A pushed key (AddKey, PKCS#1) serves for the CSR checks without generating one.
    let pkcs1 = pki().key.to_pkcs1_der().expect("pkcs1");
    let added: AddKeyOutput = sim.invoke(
        &AddKeyInput {
            key_blob: Some(b64(&pkcs1)),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(added.return_value, Some(PtStatus::Success));
    let key_id = added
        .created_key
        .and_then(|e| e.selectors.get("InstanceID").map(str::to_owned))
        .expect("key id");
    let csr = |sim: &mut Sim, id: &str, blob: &str| -> PtStatus {
        let o: GeneratePkcs10RequestExOutput = sim.invoke(
            &GeneratePkcs10RequestExInput {
                key_pair: Some(key_pair_reference(id)),
                signing_algorithm: Some(CsrSigningAlgorithm::Sha256Rsa),
                null_signed_certificate_request: Some(blob.into()),
                ..Default::default()
            },
            &c,
        );
        o.return_value.expect("return value")
    };
    assert_eq!(
        csr(&mut sim, "Intel(r) AMT Key: Handle: 77", "AAAA"),
        PtStatus::InvalidHandle
    );
    assert_eq!(csr(&mut sim, "garbage", "AAAA"), PtStatus::InvalidHandle);
    assert_eq!(csr(&mut sim, &key_id, "%%%"), PtStatus::InvalidParameter);
    assert_eq!(
        csr(&mut sim, &key_id, &b64(b"\x30\x00")),
        PtStatus::InvalidParameter
    );
    // The request must carry the referenced key's public key; then the device signs it.
    assert_eq!(
        csr(
            &mut sim,
            &key_id,
            &b64(&null_signed_csr(&unb64(FOREIGN_KEY), "x"))
        ),
        PtStatus::InvalidParameter
    );
    let own = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(
        &rsa::PrivateKey::from_pkcs8_der(&pki().key.to_pkcs8_der().expect("pkcs8"))
            .expect("key")
            .to_public_key(),
    )
    .expect("pkcs1");
    assert_eq!(
        csr(
            &mut sim,
            &key_id,
            &b64(&null_signed_csr(own.as_bytes(), "x"))
        ),
        PtStatus::Success
    );

    // Admin password digests must be 16 bytes of base64.
    for bad in ["***", "AAAA"] {
        let o: SetAdminAclEntryExOutput = sim.invoke(
            &SetAdminAclEntryExInput {
                username: Some("admin".into()),
                digest_password: Some(bad.into()),
                ..Default::default()
            },
            &c,
        );
        assert_eq!(o.return_value, Some(PtStatus::InvalidPassword));
    }
    let weak: SetMebxPasswordOutput = sim.invoke(
        &SetMebxPasswordInput {
            password: Some("password".into()),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(weak.return_value, Some(PtStatus::InvalidPassword));
    // Commit without an admin password is refused.
    let commit: CommitChangesOutput = sim.invoke(&CommitChangesInput::default(), &c);
    assert_eq!(commit.return_value, Some(PtStatus::DataMissing));
    assert_eq!(sim.fw.state.phase, Phase::Setup);
    // Chain garbage, CRL garbage.
    let chain: AddNextCertInChainOutput = sim.invoke(
        &AddNextCertInChainInput {
            next_certificate: Some("@@".into()),
            is_leaf_certificate: Some(true),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(
        chain.return_value,
        Some(AddNextCertInChainReturn::InvalidParam)
    );
    let crl: AddCrlOutput = sim.invoke(
        &AddCrlInput {
            serial_numbers: vec!["?".into()],
            ..Default::default()
        },
        &c,
    );
    assert_eq!(crl.return_value, Some(PtStatus::InvalidParameter));

    // TLS: no enabling without a certificate; no context for a missing or key-less certificate.
    let on = AmtTlsSettingData {
        instance_id: Some(TLS_REMOTE_INSTANCE_ID.into()),
        enabled: Some(true),
        ..Default::default()
    };
    let id = sim.id();
    assert_eq!(
        sim.fault(on.put(id, SelectorSet::new()), &c),
        Subcode::InvalidRepresentation
    );
    let id = sim.id();
    let unknown = AmtTlsSettingData {
        instance_id: Some("nope".into()),
        ..Default::default()
    };
    assert_eq!(
        sim.fault(unknown.put(id, SelectorSet::new()), &c),
        Subcode::InvalidSelectors
    );
    for cert in [
        "Intel(r) AMT Certificate: Handle: 99",
        "Intel(r) AMT Certificate: Handle: 0",
    ] {
        let id = sim.id();
        assert_eq!(
            sim.fault(
                AmtTlsCredentialContext::for_certificate(cert).create(id),
                &c
            ),
            Subcode::InvalidRepresentation
        );
    }
    let id = sim.id();
    assert_eq!(
        sim.fault(
            AmtPublicKeyCertificate::delete(id, SelectorSet::one("InstanceID", "x")),
            &c
        ),
        Subcode::InvalidSelectors
    );

    // A request whose XML carries an undefined realm is a SOAP fault.
    let req = AddUserAclEntryExInput::digest(
        "u",
        &[1; 16],
        AccessPermission::NetworkOnly,
        [Realm::Storage],
    )
    .request(5, SelectorSet::new());
    let xml = req.to_xml().replace(">6</h:Realms>", ">99</h:Realms>");
    let req = Request::parse(xml.as_bytes()).expect("still XML");
    let rng = &mut sim.rng;
    let mut fill = |b: &mut [u8]| rng.fill_bytes(b);
    let mut env = Env {
        now: NOW,
        random: &mut fill,
    };
    let resp = sim.fw.handle(&req, &c, &mut env);
    assert!(matches!(resp.body, ResponseBody::Fault(_)));
}

#[test]
fn get_uuid_returns_the_smbios_bytes() {
    let mut sim = Sim::new(false);
    let out: GetUuidOutput = sim.invoke(&GetUuidInput::default(), &admin());
    let wire = amt_wire::hello::Uuid16::from_str(UUID).expect("uuid");
    assert_eq!(out.uuid_bytes().expect("uuid"), *wire.as_wire_bytes());
    assert_eq!(out.return_value, Some(PtStatus::Success));
}

#[test]
fn general_settings_put_changes_host_and_domain_only_when_valid() {
    let mut sim = Sim::new(false);
    let mut g: AmtGeneralSettings = sim.get(SelectorSet::new(), &admin());
    g.host_name = Some("newhost".into());
    g.domain_name = Some("corp.example".into());
    g.ping_response_enabled = Some(false);
    g.digest_realm = Some("Digest:00000000000000000000000000000000".into());
    let id = sim.id();
    let ResponseBody::Put(Some(echo)) = sim.send(g.put(id, SelectorSet::new()), &admin()).body
    else {
        panic!("Put failed")
    };
    let echo = AmtGeneralSettings::from_instance(&echo).expect("typed");
    assert_eq!(echo.host_name.as_deref(), Some("newhost"));
    assert_eq!(echo.ping_response_enabled, Some(false));
    // The realm is read-only.
    assert_eq!(
        echo.digest_realm.as_deref(),
        Some(sim.fw.state.digest_realm.as_str())
    );
    assert_eq!(sim.fw.state.fqdn().as_deref(), Some("newhost.corp.example"));
    g.host_name = Some("bad_host!".into());
    let id = sim.id();
    assert_eq!(
        sim.fault(g.put(id, SelectorSet::new()), &admin()),
        Subcode::InvalidRepresentation
    );
}

#[test]
fn responses_have_the_recorded_shapes() {
    let mut sim = Sim::new(true);
    let c = admin();
    let get = |sim: &mut Sim, class: &str| -> Vec<String> {
        let id = sim.id();
        let req = Request::new(class, id, amt_wsman::Operation::Get);
        match sim.send(req, &c).body {
            ResponseBody::Get(i) => names(&i),
            other => panic!("{class}: {other:?}"),
        }
    };
    for (class, fixture) in [
        ("AMT_GeneralSettings", "amt/general/get.xml"),
        (
            "AMT_SetupAndConfigurationService",
            "amt/setupandconfiguration/get.xml",
        ),
        ("AMT_AuthorizationService", "amt/authorization/get.xml"),
        (
            "AMT_PublicKeyManagementService",
            "amt/publickey/management/get.xml",
        ),
        ("IPS_HostBasedSetupService", "ips/hostbasedsetup/get.xml"),
        ("AMT_TLSSettingData", "amt/tls/settingdata/get.xml"),
        (
            "AMT_TLSProtocolEndpointCollection",
            "amt/tls/protocolendpointcollection/get.xml",
        ),
    ] {
        let ours = get(&mut sim, class);
        if let Some(recorded) = fixture_names(fixture) {
            assert_eq!(ours, recorded, "{class}");
        }
    }
    let tls: Vec<AmtTlsSettingData> = sim.enumerate(&c);
    assert_eq!(tls[1].instance_id.as_deref(), Some(TLS_LOCAL_INSTANCE_ID));
    assert_eq!(tls[1].accept_non_secure_connections, Some(true));

    let mut outputs = vec![];
    let o: SetMebxPasswordOutput = sim.invoke(
        &SetMebxPasswordInput {
            password: Some("Mebx!Passw0rd".into()),
            ..Default::default()
        },
        &c,
    );
    outputs.push((
        o.to_instance(),
        "amt/setupandconfiguration/setmebxpassword.xml",
    ));
    let realm = sim.realm();
    let o: SetAdminAclEntryExOutput = sim.invoke(
        &SetAdminAclEntryExInput::new("admin", &admin_ha1(&realm)),
        &c,
    );
    outputs.push((o.to_instance(), "amt/authorization/setadminaclentryex.xml"));
    let o: AddTrustedRootCertificateOutput = sim.invoke(
        &AddTrustedRootCertificateInput::from_der(&pki().chain[2]),
        &c,
    );
    outputs.push((
        o.to_instance(),
        "amt/publickey/management/addtrustedrootcertificate.xml",
    ));
    let o: AddCertificateOutput = sim.invoke(&AddCertificateInput::from_der(&pki().chain[1]), &c);
    outputs.push((
        o.to_instance(),
        "amt/publickey/management/addcertificate.xml",
    ));
    let o = sim.add_user(&AddUserAclEntryExInput::digest(
        "u1",
        &[1; 16],
        AccessPermission::NetworkOnly,
        [Realm::Storage],
    ));
    assert_eq!(names(&o.to_instance()), ["Handle", "ReturnValue"]);
    let o: EnumerateUserAclEntriesOutput = sim.invoke(
        &EnumerateUserAclEntriesInput {
            start_index: Some(1),
            ..Default::default()
        },
        &c,
    );
    assert_eq!(
        names(&o.to_instance()),
        ["TotalCount", "HandlesCount", "Handles", "ReturnValue"]
    );
    let o: GetUserAclEntryExOutput = sim.invoke(
        &GetUserAclEntryExInput {
            handle: Some(1),
            ..Default::default()
        },
        &c,
    );
    outputs.push((o.to_instance(), "amt/authorization/getuseraclentryex.xml"));
    let o: CommitChangesOutput = sim.invoke(&CommitChangesInput::default(), &c);
    outputs.push((
        o.to_instance(),
        "amt/setupandconfiguration/commitchanges.xml",
    ));
    for (ours, fixture) in outputs {
        if let Some(recorded) = fixture_names(fixture) {
            assert_eq!(names(&ours), recorded, "{fixture}");
        }
    }
    let certs: Vec<AmtPublicKeyCertificate> = sim.enumerate(&c);
    if let Some(recorded) = fixture_names("amt/publickey/certificate/pull.xml") {
        assert_eq!(names(&certs[0].to_instance()), recorded);
    }
}
