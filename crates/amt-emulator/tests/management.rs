//! Management of a provisioned device against the firmware core in memory: power, inventory,
//! clock sync, user consent, System Defense, boot options, logs, redirection, Kerberos, network
//! settings, alarms and realms. Requests are built with amt-wsman's typed builders, every request
//! and response goes through XML both ways, the clock is virtual and randomness is seeded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use amt_emulator::firmware::manage::HostBoot;
use amt_emulator::firmware::{Caller, Channel, Env, Firmware, FirmwareEvent};
use amt_emulator::persona;
use amt_emulator::state::{AclUser, DeviceConfig, DeviceState, Phase};
use amt_wsman::classes::amt::*;
use amt_wsman::classes::cim::*;
use amt_wsman::classes::ips::*;
use amt_wsman::classes::{MethodInput, Typed, WsmanClass};
use amt_wsman::envelope::Operation;
use amt_wsman::fault::Subcode;
use amt_wsman::{EndpointReference, Instance, Item, Request, Response, ResponseBody, SelectorSet};
use base64::Engine as _;

#[path = "management/boot_logs.rs"]
mod boot_logs;
#[path = "management/consent_time.rs"]
mod consent_time;
#[path = "management/defense.rs"]
mod defense;
#[path = "management/settings.rs"]
mod settings;

use boot_logs::armed_boot;
use defense::ssh_drop_filter;

const NOW: u64 = 1_750_000_000;

/// One emulated device, the virtual clock and who is calling.
struct Dev {
    fw: Firmware,
    now: u64,
    seed: u64,
    msg: u64,
    caller: Caller,
}

fn caller(user: &str) -> Caller {
    Caller {
        user: user.into(),
        channel: Channel::Tls,
    }
}

impl Dev {
    /// A provisioned device in admin control mode.
    fn new(persona_name: &str) -> Self {
        let config = DeviceConfig {
            uuid: "4c4c4544-0033-3110-8052-b3c04f4b4d32".into(),
            hostname: "amtdev01".into(),
            domain: "amt.test".into(),
            mac: "00:16:3e:00:00:01".into(),
            persona: persona_name.into(),
            provisioning_server: None,
            extra_root_hashes: vec![],
        };
        let mut s = DeviceState::new(config, [0xAB; 16]);
        s.phase = Phase::Provisioned;
        s.control_mode = 2;
        s.admin_ha1_hex = Some("00".repeat(16));
        let p = persona::by_name(persona_name).expect("persona");
        Dev {
            fw: Firmware::new(s, p),
            now: NOW,
            seed: 0x9E37_79B9_7F4A_7C15,
            msg: 0,
            caller: caller("admin"),
        }
    }

    fn env_call(&mut self, req: &Request, who: &Caller) -> Response {
        let mut seed = self.seed;
        let mut random = |b: &mut [u8]| {
            for x in b.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *x = seed as u8;
            }
        };
        let mut env = Env {
            now: self.now,
            random: &mut random,
        };
        let resp = self.fw.handle(req, who, &mut env);
        self.seed = seed;
        resp
    }

    /// Sends a request through XML both ways as `who`.
    fn send_as(&mut self, req: Request, who: &Caller) -> ResponseBody {
        let parsed = Request::parse(req.to_xml().as_bytes()).expect("request XML parses");
        let resp = self.env_call(&parsed, who);
        Response::parse(resp.to_xml().as_bytes())
            .expect("response XML parses")
            .body
    }

    fn send(&mut self, req: Request) -> ResponseBody {
        let who = self.caller.clone();
        self.send_as(req, &who)
    }

    fn id(&mut self) -> u64 {
        self.msg += 1;
        self.msg
    }

    fn get(&mut self, class: &str) -> Instance {
        let id = self.id();
        match self.send(Request::new(class, id, Operation::Get)) {
            ResponseBody::Get(i) => i,
            other => panic!("Get {class}: {other:?}"),
        }
    }

    fn all(&mut self, class: &str) -> Vec<Instance> {
        let id = self.id();
        let ctx = match self.send(Request::new(
            class,
            id,
            Operation::Enumerate(Default::default()),
        )) {
            ResponseBody::Enumerate {
                context: Some(c), ..
            } => c,
            other => panic!("Enumerate {class}: {other:?}"),
        };
        let id = self.id();
        let pull = Operation::Pull(amt_wsman::envelope::Pull {
            context: ctx,
            max_elements: Some(999),
            max_characters: Some(99999),
        });
        match self.send(Request::new(class, id, pull)) {
            ResponseBody::Pull { items, .. } => items
                .into_iter()
                .filter_map(|i| match i {
                    Item::Instance(i) => Some(i),
                    _ => None,
                })
                .collect(),
            other => panic!("Pull {class}: {other:?}"),
        }
    }

    fn call<I: MethodInput>(&mut self, input: &I) -> Instance {
        self.call_on(input, SelectorSet::new())
    }

    fn call_on<I: MethodInput>(&mut self, input: &I, sel: SelectorSet) -> Instance {
        let id = self.id();
        match self.send(input.request(id, sel)) {
            ResponseBody::Invoke { output, .. } => output,
            other => panic!("{}: {other:?}", I::METHOD),
        }
    }

    fn power(&mut self, state: PowerState) -> u32 {
        let out = self.call(&RequestPowerStateChangeInput {
            power_state: Some(state),
            managed_element: Some(managed_system()),
            ..Default::default()
        });
        rv(&out)
    }

    fn power_state(&mut self) -> (u16, Vec<u16>) {
        let a = CimAssociatedPowerManagementService::from_instance(
            &self.get("CIM_AssociatedPowerManagementService"),
        )
        .unwrap();
        (
            a.power_state.unwrap().value(),
            a.available_requested_power_states
                .iter()
                .map(|s| s.value())
                .collect(),
        )
    }

    fn put<T: WsmanClass>(&mut self, x: &T, sel: SelectorSet) -> ResponseBody {
        let id = self.id();
        self.send(x.put(id, sel))
    }

    fn create<T: WsmanClass>(&mut self, x: &T) -> EndpointReference {
        let id = self.id();
        match self.send(x.create(id)) {
            ResponseBody::Create(e) => e,
            other => panic!("Create {}: {other:?}", T::CLASS),
        }
    }
}

fn rv(out: &Instance) -> u32 {
    out.get_text("ReturnValue").unwrap().parse().unwrap()
}

fn fault_subcode(b: &ResponseBody) -> Subcode {
    match b {
        ResponseBody::Fault(f) => f.subcode.clone().unwrap(),
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// (app, event, initiator user) of every audit record.
fn audit_records(d: &mut Dev) -> Vec<(u16, u16, String)> {
    let mut out = Vec::new();
    let mut start = 1;
    loop {
        let o = ReadRecordsOutput::from_instance(&d.call(&ReadRecordsInput {
            start_index: Some(start),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(o.return_value, Some(PtStatus::Success));
        for r in o.records().unwrap() {
            let user = if r[4] == 0 {
                String::from_utf8(r[6..6 + r[5] as usize].to_vec()).unwrap()
            } else {
                String::new()
            };
            out.push((
                u16::from_be_bytes([r[0], r[1]]),
                u16::from_be_bytes([r[2], r[3]]),
                user,
            ));
        }
        let total = o.total_record_count.unwrap();
        start += o.records_returned.unwrap();
        if o.records_returned == Some(0) || start > total {
            return out;
        }
    }
}

fn event_records(d: &mut Dev) -> Vec<EventRecord> {
    let first =
        PositionToFirstRecordOutput::from_instance(&d.call(&PositionToFirstRecordInput::default()))
            .unwrap();
    let mut iter = first.iteration_identifier.unwrap();
    let mut out = Vec::new();
    loop {
        let o = GetRecordsOutput::from_instance(&d.call(&GetRecordsInput {
            iteration_identifier: Some(iter.clone()),
            max_read_records: Some(390),
            ..Default::default()
        }))
        .unwrap();
        out.extend(o.records().unwrap());
        if o.no_more_records != Some(false) {
            return out;
        }
        iter = o.iteration_identifier.unwrap();
    }
}

#[test]
fn power_transitions_use_real_state_numbers_and_return_values() {
    let mut d = Dev::new("amt16");
    let (state, avail) = d.power_state();
    assert_eq!(state, 2);
    assert_eq!(
        avail,
        [10, 8, 5, 11, 4, 7, 14, 12],
        "the recorded list while on"
    );
    assert_eq!(d.power(PowerState::On), 2, "power on while on is not ready");
    assert_eq!(d.power(PowerState::OffHard), 0);
    assert!(d.fw.take_events().contains(&FirmwareEvent::PowerChanged(8)));
    assert_eq!(d.power_state(), (8, vec![2]));
    assert_eq!(d.power(PowerState::MasterBusReset), 2, "reset while off");
    assert_eq!(d.power(PowerState::PowerCycleOffHard), 2, "cycle while off");
    assert_eq!(d.power(PowerState::On), 0);
    assert!(d.fw.take_events().contains(&FirmwareEvent::PowerChanged(2)));
    assert_eq!(d.power(PowerState::MasterBusReset), 0);
    assert_eq!(d.power(PowerState::DiagnosticInterrupt), 0);
    assert_eq!(d.power_state().0, 2, "an NMI leaves the host on");
    assert_eq!(d.power(PowerState::OffSoftGraceful), 0);
    assert_eq!(d.power_state().0, 8);
}

#[test]
fn sleep_and_hibernate_offer_wake_off_and_cycle() {
    let mut d = Dev::new("amt16");
    assert_eq!(d.power(PowerState::SleepDeep), 0);
    assert_eq!(d.power_state(), (4, vec![8, 2, 5]));
    assert_eq!(d.power(PowerState::On), 0);
    assert_eq!(d.power(PowerState::Hibernate), 0);
    assert_eq!(d.power_state(), (7, vec![8, 2, 5]));
    assert_eq!(d.power(PowerState::PowerCycleOffHard), 0);
    assert_eq!(d.power_state().0, 2);
}

#[test]
fn available_power_states_follow_the_persona() {
    let mut d11 = Dev::new("amt11");
    assert_eq!(d11.power_state().1, [10, 8, 5, 11]);
    assert_eq!(d11.fw.available_power_states(), [10, 8, 5, 11]);
    assert_eq!(
        d11.power(PowerState::OffSoftGraceful),
        2,
        "no graceful states on amt11"
    );
    assert_eq!(d11.power(PowerState::SleepDeep), 2);
    let mut d16 = Dev::new("amt16");
    assert_eq!(d16.power(PowerState::MasterBusResetGraceful), 0);
    assert_eq!(d16.power(PowerState::OffSoftGraceful), 0);
    assert_eq!(d16.power_state().0, 8);
}

#[test]
fn power_request_without_state_or_for_another_system_is_invalid() {
    let mut d = Dev::new("amt16");
    let out = d.call(&RequestPowerStateChangeInput::default());
    assert_eq!(rv(&out), 5);
    let other = EndpointReference::to_class(
        "CIM_ComputerSystem",
        SelectorSet::new()
            .with("CreationClassName", "CIM_ComputerSystem")
            .with("Name", "SomeOtherSystem"),
    );
    let out = d.call(&RequestPowerStateChangeInput {
        power_state: Some(PowerState::OffHard),
        managed_element: Some(other),
        ..Default::default()
    });
    assert_eq!(rv(&out), 5);
    assert_eq!(d.power_state().0, 2);
}

#[test]
fn os_power_saving_state_is_reported_only_while_on() {
    let mut d = Dev::new("amt16");
    let out = d.call(&RequestOsPowerSavingStateChangeInput {
        os_power_saving_state: Some(OsPowerSavingState::PowerSaving),
        ..Default::default()
    });
    assert_eq!(rv(&out), 0);
    let i = d.get("IPS_PowerManagementService");
    assert_eq!(i.get_text("OSPowerSavingState"), Some("3"));
    d.power(PowerState::OffHard);
    assert!(d
        .get("IPS_PowerManagementService")
        .get("OSPowerSavingState")
        .is_none());
}

#[test]
fn user_without_remote_control_realm_gets_access_denied_on_power() {
    let mut d = Dev::new("amt16");
    for (name, realms) in [("asset", vec![4u32]), ("operator", vec![4, 5])] {
        let h = d.fw.state.next_user_handle;
        d.fw.state.users.push(AclUser {
            handle: h,
            name: name.into(),
            ha1_hex: "11".repeat(16),
            kerberos_sid: None,
            access: 2,
            realms,
        });
        d.fw.state.next_user_handle += 1;
    }
    let req = RequestPowerStateChangeInput {
        power_state: Some(PowerState::OffHard),
        managed_element: Some(managed_system()),
        ..Default::default()
    };
    let body = d.send_as(req.request(1, SelectorSet::new()), &caller("asset"));
    assert_eq!(fault_subcode(&body), Subcode::AccessDenied);
    assert_eq!(d.power_state().0, 2, "nothing happened");
    let chassis = d.send_as(CimChassis::get(2, SelectorSet::new()), &caller("asset"));
    assert!(
        matches!(chassis, ResponseBody::Get(_)),
        "HardwareAsset reads inventory"
    );
    let ok = d.send_as(req.request(3, SelectorSet::new()), &caller("operator"));
    let ResponseBody::Invoke { output, .. } = ok else {
        panic!("operator power: {ok:?}");
    };
    assert_eq!(rv(&output), 0);
    let audit = audit_records(&mut d);
    assert!(audit.contains(&(17, 1, "operator".into())), "{audit:?}");
}

#[test]
fn inventory_comes_from_the_persona_and_the_device_identity() {
    let mut d = Dev::new("amt11");
    let pkg = CimComputerSystemPackage::from_instance(&d.get("CIM_ComputerSystemPackage")).unwrap();
    assert_eq!(
        pkg.platform_guid.as_deref(),
        Some("44454C4C330010318052B3C04F4B4D32")
    );
    let ids = d.all("CIM_SoftwareIdentity");
    assert_eq!(ids.len(), 11);
    let amt = ids
        .iter()
        .map(|i| CimSoftwareIdentity::from_instance(i).unwrap())
        .find(|s| s.instance_id.as_deref() == Some("AMT"))
        .unwrap();
    assert_eq!(
        amt.version_string.as_deref(),
        Some(persona::AMT11.amt_version)
    );
    let chassis = CimChassis::from_instance(&d.get("CIM_Chassis")).unwrap();
    assert_eq!(chassis.chassis_package_type, Some(3));
    assert!(chassis.serial_number.unwrap().starts_with("EMU"));
    assert_eq!(d.all("CIM_PhysicalMemory").len(), 2);
    let cpu = CimProcessor::from_instance(&d.all("CIM_Processor")[0]).unwrap();
    assert_eq!(cpu.max_clock_speed, Some(4000));
    let disk = CimMediaAccessDevice::from_instance(&d.all("CIM_MediaAccessDevice")[0]).unwrap();
    assert_eq!(disk.max_media_size, Some(250_059_096));
    CimBiosElement::from_instance(&d.get("CIM_BIOSElement")).unwrap();
    CimCard::from_instance(&d.get("CIM_Card")).unwrap();
    CimChip::from_instance(&d.all("CIM_Chip")[0]).unwrap();
}

#[test]
fn management_state_survives_a_restart() {
    let mut d = Dev::new("amt16");
    d.create(&ssh_drop_filter());
    armed_boot(&mut d, None, Some(BOOT_SOURCE_CD_DVD));
    d.power(PowerState::OffHard);
    let json = d.fw.state.to_json();
    let back = DeviceState::from_json(&json).unwrap();
    assert_eq!(back, d.fw.state);
    let mut fw = Firmware::new(back, &persona::AMT16);
    let mut r = |_: &mut [u8]| {};
    let req = RequestPowerStateChangeInput {
        power_state: Some(PowerState::On),
        ..Default::default()
    };
    let resp = fw.handle(
        &req.request(1, SelectorSet::new()),
        &caller("admin"),
        &mut Env {
            now: NOW,
            random: &mut r,
        },
    );
    assert!(matches!(resp.body, ResponseBody::Invoke { .. }));
    assert_eq!(
        fw.last_host_boot(),
        Some(HostBoot::CdDvd),
        "the armed boot survived"
    );
}
