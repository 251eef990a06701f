//! Boot options and the audit and event logs.
use super::*;

pub fn armed_boot(d: &mut Dev, settings: Option<AmtBootSettingData>, source: Option<&str>) {
    if let Some(s) = settings {
        assert!(matches!(
            d.put(&s, SelectorSet::new()),
            ResponseBody::Put(Some(_))
        ));
    }
    let order = ChangeBootOrderInput {
        source: source.map(boot_source_reference).into_iter().collect(),
        ..Default::default()
    };
    let sel = SelectorSet::one("InstanceID", BOOT_CONFIG_SETTING_ID);
    assert_eq!(rv(&d.call_on(&order, sel)), 0);
    let sel = SelectorSet::new()
        .with("CreationClassName", "CIM_BootService")
        .with("Name", "Intel(r) AMT Boot Service");
    assert_eq!(rv(&d.call_on(&SetBootConfigRoleInput::next_boot(), sel)), 0);
}

#[test]
fn boot_option_applies_once_and_the_event_log_records_what_booted() {
    let mut d = Dev::new("amt16");
    armed_boot(&mut d, None, Some(BOOT_SOURCE_PXE));
    assert_eq!(d.power(PowerState::PowerCycleOffHard), 0);
    assert_eq!(d.fw.last_host_boot(), Some(HostBoot::Pxe));
    let events = event_records(&mut d);
    let newest = events[0];
    assert_eq!(
        (newest.event_sensor_type, newest.event_offset),
        (0x1F, 2),
        "PXE boot completed"
    );
    assert!(
        events
            .iter()
            .any(|e| (e.event_sensor_type, e.event_offset) == (0x1D, 3)),
        "user-requested PXE boot"
    );
    let s = AmtBootSettingData::from_instance(&d.get("AMT_BootSettingData")).unwrap();
    assert_eq!(s.options_cleared, Some(true));
    assert_eq!(d.power(PowerState::MasterBusReset), 0);
    assert_eq!(
        d.fw.last_host_boot(),
        Some(HostBoot::HardDrive),
        "applied once"
    );
    let newest = event_records(&mut d)[0];
    assert_eq!(
        (newest.event_sensor_type, newest.event_offset),
        (0x1F, 1),
        "C: boot"
    );
    let audit = audit_records(&mut d);
    assert!(
        audit.iter().any(|r| (r.0, r.1) == (17, 4)),
        "Set Boot Options audited"
    );
}

#[test]
fn bios_setup_and_ider_boots_follow_the_settings() {
    let mut d = Dev::new("amt11");
    let base = AmtBootSettingData::from_instance(&d.get("AMT_BootSettingData")).unwrap();
    armed_boot(
        &mut d,
        Some(AmtBootSettingData {
            bios_setup: Some(true),
            ..base.clone()
        }),
        None,
    );
    let s = AmtBootSettingData::from_instance(&d.get("AMT_BootSettingData")).unwrap();
    assert_eq!((s.bios_setup, s.options_cleared), (Some(true), Some(false)));
    assert_eq!(d.power(PowerState::MasterBusReset), 0);
    assert_eq!(d.fw.last_host_boot(), Some(HostBoot::BiosSetup));
    let ider = AmtBootSettingData {
        use_ider: Some(true),
        ider_boot_device: Some(IderBootDevice::Cd),
        ..base
    };
    armed_boot(&mut d, Some(ider.clone()), None);
    assert_eq!(d.power(PowerState::MasterBusReset), 0);
    assert_eq!(
        d.fw.last_host_boot(),
        Some(HostBoot::HardDrive),
        "IDE-R redirection is off"
    );
    assert!(
        event_records(&mut d)
            .iter()
            .any(|e| e.event_sensor_type == 0x1E),
        "boot error logged"
    );
    let on = RedirectionRequestStateChangeInput {
        requested_state: Some(RedirectionRequestedState::EnableIderAndSol),
        ..Default::default()
    };
    assert_eq!(rv(&d.call(&on)), 0);
    armed_boot(&mut d, Some(ider), None);
    assert_eq!(d.power(PowerState::MasterBusReset), 0);
    assert_eq!(d.fw.last_host_boot(), Some(HostBoot::IderCd));
}

#[test]
fn boot_methods_reject_unknown_references() {
    let mut d = Dev::new("amt16");
    let bogus = ChangeBootOrderInput {
        source: vec![boot_source_reference("Intel(r) AMT: Force Floppy Boot")],
        ..Default::default()
    };
    assert_eq!(rv(&d.call(&bogus)), 4);
    let role = SetBootConfigRoleInput {
        boot_config_setting: Some(boot_config_setting_reference("nope")),
        role: Some(BootConfigRole::IsNext),
        ..Default::default()
    };
    assert_eq!(rv(&d.call(&role)), 4);
    let role = SetBootConfigRoleInput {
        role: Some(BootConfigRole::IsDefault),
        ..SetBootConfigRoleInput::next_boot()
    };
    assert_eq!(rv(&d.call(&role)), 5);
}

#[test]
fn audit_log_records_power_actions_with_the_initiator() {
    let mut d = Dev::new("amt16");
    for s in [
        PowerState::OffHard,
        PowerState::On,
        PowerState::MasterBusReset,
    ] {
        assert_eq!(d.power(s), 0);
    }
    for _ in 0..5 {
        d.power(PowerState::OffHard);
        d.power(PowerState::On);
    }
    let audit = audit_records(&mut d);
    assert_eq!(audit.len(), 13, "paged ten at a time: {audit:?}");
    assert_eq!(audit[0], (17, 1, "admin".into()));
    assert_eq!(audit[1], (17, 0, "admin".into()));
    assert_eq!(audit[2], (17, 3, "admin".into()));
    let log = AmtAuditLog::from_instance(&d.get("AMT_AuditLog")).unwrap();
    assert_eq!(log.current_number_of_records, Some(13));
    assert!(log.time_of_last_record.is_some());
    let past = ReadRecordsOutput::from_instance(&d.call(&ReadRecordsInput {
        start_index: Some(14),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(past.return_value, Some(PtStatus::InvalidIndex));
    let first = ReadRecordsOutput::from_instance(&d.call(&ReadRecordsInput {
        start_index: Some(1),
        ..Default::default()
    }))
    .unwrap();
    let r = unb64(&first.event_records[0]);
    let t = u32::from_be_bytes([r[11], r[12], r[13], r[14]]);
    assert_eq!(u64::from(t), NOW, "time stamp after the 5-byte user name");
}

#[test]
fn message_log_pages_newest_first() {
    let mut d = Dev::new("amt16");
    assert_eq!(
        PositionToFirstRecordOutput::from_instance(&d.call(&PositionToFirstRecordInput::default()))
            .unwrap()
            .return_value,
        Some(PositionToFirstRecordReturn::NoRecordExists)
    );
    d.power(PowerState::MasterBusReset);
    d.now += 60;
    d.power(PowerState::MasterBusReset);
    let page = GetRecordsOutput::from_instance(&d.call(&GetRecordsInput {
        iteration_identifier: Some("1".into()),
        max_read_records: Some(3),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(page.record_array.len(), 3);
    assert_eq!(page.no_more_records, Some(false));
    assert_eq!(page.iteration_identifier.as_deref(), Some("4"));
    let all = event_records(&mut d);
    assert_eq!(all.len(), 8, "four BIOS records per boot");
    assert!(all.windows(2).all(|w| w[0].time_stamp >= w[1].time_stamp));
    assert_eq!(u64::from(all[0].time_stamp), NOW + 60);
    let log = AmtMessageLog::from_instance(&d.get("AMT_MessageLog")).unwrap();
    assert_eq!(log.current_number_of_records, Some(8));
    let entries = d.all("AMT_EventLogEntry");
    assert_eq!(entries.len(), 8);
    let e = AmtEventLogEntry::from_instance(&entries[0]).unwrap();
    assert_eq!(e.event_sensor_type, Some(0x1F));
    assert_eq!(e.record_id.as_deref(), Some("1"));
}
