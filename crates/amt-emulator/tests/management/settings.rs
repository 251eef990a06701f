//! Redirection, KVM, Kerberos, network settings and alarms.
use super::*;
use amt_emulator::firmware::manage::IpConfig;
use amt_wsman::classes::CimDateTime;

#[test]
fn redirection_state_change_and_listener_put() {
    let mut d = Dev::new("amt11");
    assert!(!d.fw.sol_enabled());
    let out = d.call(&RedirectionRequestStateChangeInput {
        requested_state: Some(RedirectionRequestedState::EnableSolDisableIder),
        ..Default::default()
    });
    assert_eq!(rv(&out), 0);
    assert!(d.fw.sol_enabled() && !d.fw.ider_enabled());
    let s = AmtRedirectionService::from_instance(&d.get("AMT_RedirectionService")).unwrap();
    assert_eq!(
        s.enabled_state,
        Some(RedirectionEnabledState::SolEnabledIderDisabled)
    );
    let put = AmtRedirectionService {
        listener_enabled: Some(false),
        ..s
    };
    let ResponseBody::Put(Some(back)) = d.put(&put, SelectorSet::new()) else {
        panic!("put");
    };
    assert_eq!(back.get_text("ListenerEnabled"), Some("false"));
    assert!(!d.fw.redirection_listener_enabled());
    assert!(
        audit_records(&mut d).iter().any(|r| (r.0, r.1) == (18, 6)),
        "SoL Enabled"
    );
}

#[test]
fn kvm_is_enabled_through_the_sap_and_reports_sessions() {
    let mut d = Dev::new("amt16");
    let sap = |d: &mut Dev| {
        CimKvmRedirectionSap::from_instance(&d.get("CIM_KVMRedirectionSAP"))
            .unwrap()
            .enabled_state
    };
    assert_eq!(sap(&mut d), Some(EnabledState::Disabled));
    let out = d.call(&KvmRequestStateChangeInput {
        requested_state: Some(RequestedState::Enabled),
        ..Default::default()
    });
    assert_eq!(rv(&out), 0);
    assert_eq!(sap(&mut d), Some(EnabledState::EnabledButOffline));
    d.fw.set_kvm_session_active(true);
    assert_eq!(sap(&mut d), Some(EnabledState::Enabled));
    assert!(d.fw.kvm_enabled());
    let settings =
        IpsKvmRedirectionSettingData::from_instance(&d.get("IPS_KVMRedirectionSettingData"))
            .unwrap();
    let put = IpsKvmRedirectionSettingData {
        opt_in_policy: Some(false),
        rfb_password: Some("P@ssw0rd".into()),
        ..settings
    };
    let ResponseBody::Put(Some(back)) = d.put(&put, SelectorSet::new()) else {
        panic!("put");
    };
    assert_eq!(back.get_text("RFBPassword"), Some(""), "write-only");
    assert!(back.get("OptInPolicyTimeout").is_none());
    assert!(!d.fw.consent_required(true));
}

#[test]
fn kerberos_settings_are_stored_and_the_key_never_read_back() {
    let mut d = Dev::new("amt16");
    let before = AmtKerberosSettingData::from_instance(&d.get("AMT_KerberosSettingData")).unwrap();
    assert_eq!(before.krb_enabled, Some(false));
    assert!(before.realm_name.is_none());
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    let put = AmtKerberosSettingData {
        realm_name: Some("AMT.TEST".into()),
        service_principal_name: vec![
            "HTTP/amtdev01.amt.test:16992".into(),
            "HTTP/amtdev01.amt.test:16993".into(),
        ],
        service_principal_protocol: vec![
            ServicePrincipalProtocol::Http,
            ServicePrincipalProtocol::Https,
        ],
        key_version: Some(3),
        encryption_algorithm: Some(KerberosEncryption::Rc4Hmac),
        master_key: Some(key),
        maximum_clock_tolerance: Some(5),
        krb_enabled: Some(true),
        ..before.clone()
    };
    let ResponseBody::Put(Some(back)) = d.put(&put, SelectorSet::new()) else {
        panic!("kerberos put");
    };
    assert!(back.get("MasterKey").is_none());
    let got = AmtKerberosSettingData::from_instance(&d.get("AMT_KerberosSettingData")).unwrap();
    assert_eq!(got.realm_name.as_deref(), Some("AMT.TEST"));
    assert_eq!(got.service_principal_name.len(), 2);
    assert_eq!(got.key_version, Some(3));
    let k = d.fw.kerberos_settings();
    assert_eq!(k.master_key_bytes(), Some(vec![7u8; 16]));
    assert!(!format!("{k:?}").contains("BwcH"), "Debug hides the key");
    let bad = AmtKerberosSettingData {
        krb_enabled: Some(true),
        ..before
    };
    assert_eq!(
        fault_subcode(&d.put(&bad, SelectorSet::new())),
        Subcode::InvalidParameter
    );
    assert_eq!(
        rv(&d.call(&SetCredentialCacheStateInput {
            enable: Some(true),
            ..Default::default()
        })),
        0
    );
    let cache = GetCredentialCacheStateOutput::from_instance(
        &d.call(&GetCredentialCacheStateInput::default()),
    )
    .unwrap();
    assert_eq!(cache.enabled, Some(true));
    let audit = audit_records(&mut d);
    assert!(audit.iter().any(|r| (r.0, r.1) == (16, 14)));
}

#[test]
fn ethernet_port_reports_the_device_mac_and_lease() {
    let mut d = Dev::new("amt16");
    d.fw.set_dhcp_lease(Some(IpConfig {
        address: "192.168.6.50".into(),
        subnet_mask: "255.255.255.0".into(),
        gateway: "192.168.6.1".into(),
        primary_dns: "192.168.6.1".into(),
        secondary_dns: String::new(),
    }));
    let ports = d.all("AMT_EthernetPortSettings");
    assert_eq!(ports.len(), 2, "wired and wireless on the notebook persona");
    let wired = AmtEthernetPortSettings::from_instance(&ports[0]).unwrap();
    assert_eq!(wired.mac_address.as_deref(), Some("00-16-3e-00-00-01"));
    assert_eq!(wired.default_gateway.as_deref(), Some("192.168.6.1"));
    assert!(
        wired.ip_address.is_none(),
        "DHCP: no IPAddress, as recorded"
    );
    let put = AmtEthernetPortSettings {
        dhcp_enabled: Some(false),
        ip_address: Some("10.1.2.3".into()),
        subnet_mask: Some("255.0.0.0".into()),
        default_gateway: Some("10.0.0.1".into()),
        ..wired.clone()
    };
    let sel = SelectorSet::one("InstanceID", "Intel(r) AMT Ethernet Port Settings 0");
    let ResponseBody::Put(Some(back)) = d.put(&put, sel.clone()) else {
        panic!("static put");
    };
    assert_eq!(back.get_text("IPAddress"), Some("10.1.2.3"));
    let broken = AmtEthernetPortSettings {
        dhcp_enabled: Some(false),
        ip_address: Some("10.1.2.300".into()),
        ..wired
    };
    assert_eq!(
        fault_subcode(&d.put(&broken, sel)),
        Subcode::InvalidParameter
    );
    assert_eq!(Dev::new("amt11").all("AMT_EthernetPortSettings").len(), 1);
}

#[test]
fn alarm_wakes_a_powered_off_host_once() {
    let mut d = Dev::new("amt16");
    d.power(PowerState::OffHard);
    let occ = IpsAlarmClockOccurrence {
        element_name: Some("wake".into()),
        instance_id: Some("wake".into()),
        start_time: Some(CimDateTime::datetime("2025-06-15T15:07:20Z").into()),
        delete_on_completion: Some(true),
        ..Default::default()
    };
    let input = AddAlarmInput {
        alarm_template: Some(AlarmTemplate::from_occurrence(&occ).unwrap()),
        ..Default::default()
    };
    let out = AddAlarmOutput::from_instance(&d.call(&input)).unwrap();
    assert_eq!(out.return_value, Some(PtStatus::Success));
    assert_eq!(
        out.alarm_clock.unwrap().selectors.get("InstanceID"),
        Some("wake")
    );
    assert_eq!(
        AddAlarmOutput::from_instance(&d.call(&input))
            .unwrap()
            .return_value,
        Some(PtStatus::Duplicate)
    );
    let listed = d.all("IPS_AlarmClockOccurrence");
    assert_eq!(listed.len(), 1);
    let start = 1_750_000_040; // 2025-06-15T15:07:20Z
    let svc = AmtAlarmClockService::from_instance(&d.get("AMT_AlarmClockService")).unwrap();
    assert_eq!(
        svc.next_amt_alarm_time.unwrap().value,
        "2025-06-15T15:07:20Z"
    );
    let fire = |d: &mut Dev, now: u64| {
        let mut r = |_: &mut [u8]| {};
        d.fw.fire_due_alarms(&Env {
            now,
            random: &mut r,
        })
    };
    assert_eq!(fire(&mut d, start - 1), 0);
    assert_eq!(fire(&mut d, start + 1), 1);
    assert_eq!(d.power_state().0, 2);
    assert!(
        d.all("IPS_AlarmClockOccurrence").is_empty(),
        "deleted on completion"
    );
}
