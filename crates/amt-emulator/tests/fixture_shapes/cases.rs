//! Which question the emulator is asked for each recording, and how the device is prepared.

use super::*;

/// What the emulator is asked for one recording.
pub enum Ask {
    /// Get the class (no selectors).
    Get(&'static str),
    /// Enumerate the class.
    Enumerate(&'static str),
    /// Enumerate and pull the class.
    Pull(&'static str),
    /// Anything else (a method, a Put, a Delete): returns the response XML.
    Other(fn(&mut Dev) -> String),
}

/// One recording and how to reproduce its question.
pub struct Case {
    /// The recording, relative to `wsman-responses`.
    pub file: &'static str,
    /// The persona asked.
    pub persona: &'static str,
    /// Prepares the device (log records, a lease, a filter…).
    pub prepare: fn(&mut Dev),
    /// The question.
    pub ask: Ask,
    /// How strictly the answer is compared.
    pub mode: Mode,
}

fn nothing(_: &mut Dev) {}

/// Get, Enumerate and Pull cases for one recorded class folder.
fn class_cases(
    dir: &'static str,
    class: &'static str,
    persona: &'static str,
    prepare: fn(&mut Dev),
    mode: Mode,
) -> Vec<Case> {
    let leak = |f: &str| -> &'static str { Box::leak(format!("{dir}/{f}").into_boxed_str()) };
    vec![
        Case {
            file: leak("get.xml"),
            persona,
            prepare,
            ask: Ask::Get(class),
            mode,
        },
        Case {
            file: leak("enumerate.xml"),
            persona,
            prepare,
            ask: Ask::Enumerate(class),
            mode,
        },
        Case {
            file: leak("pull.xml"),
            persona,
            prepare,
            ask: Ask::Pull(class),
            mode,
        },
    ]
}

fn with_logs(d: &mut Dev) {
    d.power(PowerState::MasterBusReset);
    d.power(PowerState::OffHard);
}

fn with_lease(d: &mut Dev) {
    d.fw.set_dhcp_lease(Some(IpConfig {
        address: "192.168.6.50".into(),
        subnet_mask: "255.255.255.0".into(),
        gateway: "192.168.6.1".into(),
        primary_dns: "192.168.6.1".into(),
        secondary_dns: "192.168.6.2".into(),
    }));
}

/// A lease with one DNS server (the recorded `amt/ethernetport/pull.xml` has no secondary).
fn with_one_dns(d: &mut Dev) {
    with_lease(d);
    let mut lease = d.fw.state.manage.network.lease.clone().unwrap();
    lease.secondary_dns.clear();
    d.fw.set_dhcp_lease(Some(lease));
}

fn with_filter(d: &mut Dev) {
    let f = AmtHdr8021Filter {
        element_name: Some("HDR 802.1 Filter".into()),
        name: Some("vlan10".into()),
        filter_direction: Some(FilterDirection::Undocumented2),
        filter_enabled: Some(true),
        vlan_id: Some(10),
        vlan_priority: Some(1),
        ..Default::default()
    };
    let id = d.id();
    assert!(matches!(d.body(f.create(id)), ResponseBody::Create(_)));
}

fn with_alarm(d: &mut Dev) {
    let occ = IpsAlarmClockOccurrence {
        element_name: Some("testalarm".into()),
        instance_id: Some("testalarm".into()),
        start_time: Some(CimDateTime::datetime("2025-07-01T00:00:00Z").into()),
        delete_on_completion: Some(true),
        ..Default::default()
    };
    d.call(&AddAlarmInput {
        alarm_template: Some(AlarmTemplate::from_occurrence(&occ).unwrap()),
        ..Default::default()
    });
}

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(class_cases(
        "cim/associatedpower/managementservice",
        "CIM_AssociatedPowerManagementService",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/power/managementservice",
        "CIM_PowerManagementService",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "ips/power/managementservice",
        "IPS_PowerManagementService",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/computer/systempackage",
        "CIM_ComputerSystemPackage",
        "amt11",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/software/identity",
        "CIM_SoftwareIdentity",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/timesynchronization",
        "AMT_TimeSynchronizationService",
        "amt11",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/auditlog",
        "AMT_AuditLog",
        "amt16",
        with_logs,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/messagelog",
        "AMT_MessageLog",
        "amt16",
        with_logs,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/eventlogentry",
        "AMT_EventLogEntry",
        "amt16",
        with_logs,
        Mode::FirstItem,
    ));
    v.extend(class_cases(
        "amt/boot/capabilities",
        "AMT_BootCapabilities",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/boot/settingdata",
        "AMT_BootSettingData",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/boot/configsetting",
        "CIM_BootConfigSetting",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/boot/service",
        "CIM_BootService",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/boot/sourcesetting",
        "CIM_BootSourceSetting",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/redirectionservice",
        "AMT_RedirectionService",
        "amt11",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "cim/kvm",
        "CIM_KVMRedirectionSAP",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "ips/kvmredirection/settings",
        "IPS_KVMRedirectionSettingData",
        "amt11",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "ips/optin",
        "IPS_OptInService",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.extend(class_cases(
        "amt/hdr8021filter",
        "AMT_Hdr8021Filter",
        "amt16",
        with_filter,
        Mode::Subset,
    ));
    v.extend(class_cases(
        "amt/kerberos",
        "AMT_KerberosSettingData",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    let mut ethernet = class_cases(
        "amt/ethernetport",
        "AMT_EthernetPortSettings",
        "amt16",
        with_lease,
        Mode::Exact,
    );
    ethernet[2].prepare = with_one_dns;
    v.extend(ethernet);
    v.extend(class_cases(
        "amt/alarmclock",
        "AMT_AlarmClockService",
        "amt16",
        nothing,
        Mode::Exact,
    ));
    v.push(Case {
        file: "ips/alarmclock/enumerate.xml",
        persona: "amt16",
        prepare: with_alarm,
        ask: Ask::Enumerate("IPS_AlarmClockOccurrence"),
        mode: Mode::Exact,
    });

    let method = |file: &'static str,
                  persona: &'static str,
                  prepare: fn(&mut Dev),
                  f: fn(&mut Dev) -> String| Case {
        file,
        persona,
        prepare,
        ask: Ask::Other(f),
        mode: Mode::Exact,
    };
    v.push(method(
        "cim/power/managementservice/requestpowerstatechange.xml",
        "amt16",
        nothing,
        |d| {
            d.call(&RequestPowerStateChangeInput {
                power_state: Some(PowerState::MasterBusReset),
                managed_element: Some(managed_system()),
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "ips/power/managementservice/requestospowersavingstatechange.xml",
        "amt16",
        nothing,
        |d| {
            d.call(&RequestOsPowerSavingStateChangeInput {
                os_power_saving_state: Some(OsPowerSavingState::FullPower),
                managed_element: Some(managed_system()),
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "amt/timesynchronization/getlowaccuracytimesynch.xml",
        "amt11",
        nothing,
        |d| d.call(&GetLowAccuracyTimeSynchInput::default()),
    ));
    v.push(method(
        "amt/timesynchronization/sethighaccuracytimesynch.xml",
        "amt11",
        nothing,
        |d| {
            d.call(&GetLowAccuracyTimeSynchInput::default());
            let ta0 = NOW as u32;
            d.call(&SetHighAccuracyTimeSynchInput::new(
                ta0,
                ta0 + 100,
                ta0 + 101,
            ))
        },
    ));
    v.push(method(
        "amt/auditlog/readrecords.xml",
        "amt16",
        with_logs,
        |d| {
            d.call(&ReadRecordsInput {
                start_index: Some(1),
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "amt/messagelog/positiontofirstrecord.xml",
        "amt16",
        with_logs,
        |d| d.call(&PositionToFirstRecordInput::default()),
    ));
    v.push(method(
        "amt/messagelog/getrecords.xml",
        "amt16",
        with_logs,
        |d| {
            d.call(&GetRecordsInput {
                iteration_identifier: Some("1".into()),
                max_read_records: Some(390),
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "cim/boot/configsetting/changebootorder.xml",
        "amt16",
        nothing,
        |d| {
            d.call(&ChangeBootOrderInput {
                source: vec![boot_source_reference(BOOT_SOURCE_PXE)],
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "cim/boot/service/setbootconfigrole.xml",
        "amt16",
        nothing,
        |d| d.call(&SetBootConfigRoleInput::next_boot()),
    ));
    v.push(method(
        "cim/boot/service/requeststatechange.xml",
        "amt16",
        nothing,
        |d| {
            d.call(&BootServiceRequestStateChangeInput {
                requested_state: Some(BootServiceRequestedState::OcrEnabledRpeDisabled),
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "amt/redirectionservice/requeststatechange.xml",
        "amt11",
        nothing,
        |d| {
            d.call(&RedirectionRequestStateChangeInput {
                requested_state: Some(RedirectionRequestedState::EnableIderAndSol),
                ..Default::default()
            })
        },
    ));
    v.push(method(
        "amt/redirectionservice/put.xml",
        "amt11",
        nothing,
        |d| {
            let s = AmtRedirectionService {
                listener_enabled: Some(true),
                ..Default::default()
            };
            let id = d.id();
            d.xml(s.put(id, SelectorSet::new()))
        },
    ));
    v.push(method(
        "ips/kvmredirection/settings/put.xml",
        "amt16",
        nothing,
        |d| {
            let s = IpsKvmRedirectionSettingData {
                opt_in_policy: Some(false),
                default_screen: Some(1),
                ..Default::default()
            };
            let id = d.id();
            d.xml(s.put(id, SelectorSet::new()))
        },
    ));
    v.push(method(
        "amt/ethernetport/put.xml",
        "amt16",
        with_lease,
        |d| {
            let s = AmtEthernetPortSettings {
                dhcp_enabled: Some(true),
                shared_static_ip: Some(true),
                ip_address: Some("192.168.0.24".into()),
                subnet_mask: Some("255.255.255.0".into()),
                ..Default::default()
            };
            let id = d.id();
            d.xml(s.put(
                id,
                SelectorSet::one("InstanceID", "Intel(r) AMT Ethernet Port Settings 0"),
            ))
        },
    ));
    v.push(method("ips/optin/startoptin.xml", "amt16", nothing, |d| {
        d.call(&StartOptInInput::default())
    }));
    v.push(method(
        "ips/optin/sendoptincode.xml",
        "amt16",
        nothing,
        |d| {
            d.call(&SendOptInCodeInput {
                opt_in_code: Some(1),
                ..Default::default()
            })
        },
    ));
    v.push(method("ips/optin/canceloptin.xml", "amt16", nothing, |d| {
        d.call(&CancelOptInInput::default())
    }));
    v.push(method(
        "amt/kerberos/getcredentialcachestate.xml",
        "amt16",
        nothing,
        |d| d.call(&GetCredentialCacheStateInput::default()),
    ));
    v.push(method(
        "ips/alarmclock/delete.xml",
        "amt16",
        with_alarm,
        |d| {
            let id = d.id();
            d.xml(IpsAlarmClockOccurrence::delete(
                id,
                SelectorSet::one("InstanceID", "testalarm"),
            ))
        },
    ));
    v
}
