//! Console operations against emulated devices over real sockets, checking the effect on the
//! device (its firmware state, its logs), not only what the console was told:
//! power off and on, an unavailable state refused before anything is sent, boot to PXE armed and
//! taken on the next reset, inventory read and compared between two platforms, event and audit
//! logs decoded, TLS verified against the CA root with the FQDN, and the fleet executor never
//! sending two requests at once to one device (a counting proxy sees every request).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod console_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amt_emulator::net::faults::Fault;
use amt_wsman::classes::cim::PowerState;
use amt_wsman::secret::SecretString;
use amtd_infra::console::boot::boot_settings;
use amtd_infra::console::{
    change_power, power_status, read_audit_log, read_event_log, read_inventory, run_fleet,
    set_next_boot, ConsoleError, DeviceGate, DeviceSession, FleetOptions, InventoryDiff, NextBoot,
    PowerAction,
};
use amtd_infra::transport::CertificateDer;
use console_support::{plain_fleet, CountingProxy, TestPki, PASSWORD};

const T: Duration = Duration::from_secs(20);

fn pw() -> SecretString {
    SecretString::new(PASSWORD.into())
}

fn session(fleet: &amt_emulator::net::Fleet, i: usize) -> DeviceSession {
    let d = fleet.device(i).unwrap();
    let uuid = d.config().uuid;
    DeviceSession::plain(uuid, d.ip.to_string(), pw())
}

fn power_of(fleet: &amt_emulator::net::Fleet, i: usize) -> u16 {
    fleet
        .device(i)
        .unwrap()
        .with_firmware(|fw| fw.state.power_state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_off_then_on_changes_the_device_and_is_logged() {
    let fleet = plain_fleet(1, "amt16", Vec::new()).await;
    let client = session(&fleet, 0).connect().unwrap();

    let s = power_status(&client).await.unwrap();
    assert_eq!(s.state, Some(PowerState::On));
    assert!(s.actions().contains(&PowerAction::Off));

    let change = change_power(&client, PowerAction::Off, T).await.unwrap();
    assert!(change.sent);
    assert_eq!(change.after, Some(PowerState::OffHard));
    assert_eq!(power_of(&fleet, 0), 8, "the emulated host is off");
    assert_eq!(
        power_status(&client).await.unwrap().state,
        Some(PowerState::OffHard)
    );
    // Off again: nothing to send.
    let again = change_power(&client, PowerAction::Off, T).await.unwrap();
    assert!(!again.sent);

    let on = change_power(&client, PowerAction::On, T).await.unwrap();
    assert_eq!(on.after, Some(PowerState::On));
    assert_eq!(power_of(&fleet, 0), 2);

    // The host booted: the BIOS's records are in the event log, newest first.
    let events = read_event_log(&client, 100, T).await.unwrap();
    let words: Vec<&str> = events.iter().map(|e| e.description.as_str()).collect();
    assert!(
        words.contains(&"System boot initiated by power up"),
        "{words:?}"
    );
    assert_eq!(words.first(), Some(&"Boot completed: C: (hard drive)"));
    let boot = events
        .iter()
        .find(|e| e.sensor == "System Boot / Restart Initiated")
        .unwrap();
    assert_eq!(boot.entity, "System firmware (BIOS)");
    assert_eq!(boot.severity, "Information");

    // The audit log names the admin for both changes, newest first.
    let audit = read_audit_log(&client, 100, T).await.unwrap();
    assert_eq!(audit[0].event, "Performed Power Up");
    assert_eq!(audit[0].code, 1700);
    assert_eq!(audit[0].initiator, "admin");
    assert_eq!(audit[0].initiator_type, "digest");
    assert_eq!(audit[1].event, "Performed Power Down");
    assert_eq!(audit[1].application, "Remote Control");
    let oldest = audit.last().unwrap();
    assert_eq!(
        oldest.details.as_deref(),
        Some("Provisioned by the emulator (--provisioned)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_power_state_is_refused_before_sending() {
    let fleet = plain_fleet(1, "amt16", Vec::new()).await;
    let proxy = CountingProxy::default();
    let d = fleet.device(0).unwrap();
    let uuid = d.config().uuid;
    let port = proxy.add(&uuid, SocketAddr::from((d.ip, 16992))).await;
    let client = DeviceSession::plain(&uuid, "127.0.0.1", pw())
        .with_port(port)
        .connect()
        .unwrap();
    change_power(&client, PowerAction::Off, T).await.unwrap();
    let before = proxy.seen(&uuid);
    assert_eq!(count(&before.bodies, "<h:RequestPowerStateChange_INPUT"), 1);

    // Off: only "on" is offered; a reset is refused here.
    let err = change_power(&client, PowerAction::Reset, T)
        .await
        .unwrap_err();
    match &err {
        ConsoleError::PowerStateUnavailable {
            requested,
            current,
            available,
        } => {
            assert_eq!(*requested, PowerState::MasterBusReset);
            assert_eq!(*current, Some(PowerState::OffHard));
            assert_eq!(available, &[PowerState::On]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "reset is not available on this device now (it is off; it offers on (2))"
    );
    let after = proxy.seen(&uuid);
    assert_eq!(
        count(&after.bodies, "<h:RequestPowerStateChange_INPUT"),
        1,
        "no second power request reached the device"
    );
    assert!(after.requests > before.requests, "the state was read");
    assert_eq!(power_of(&fleet, 0), 8);
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_to_pxe_is_armed_and_taken_on_the_next_reset() {
    let fleet = plain_fleet(1, "amt16", Vec::new()).await;
    let client = session(&fleet, 0).connect().unwrap();
    assert!(boot_settings(&client).await.unwrap().options_cleared);

    let armed = set_next_boot(&client, NextBoot::Pxe, T).await.unwrap();
    assert_eq!(armed.next_boot, NextBoot::Pxe);
    let settings = armed.settings;
    assert!(!settings.options_cleared);
    assert!(!settings.bios_setup && !settings.use_ider);
    let (armed, source) = fleet.device(0).unwrap().with_firmware(|fw| {
        let b = &fw.state.manage.boot;
        (b.role_armed, b.forced_source.clone())
    });
    assert!(armed, "SetBootConfigRole armed the configuration");
    assert_eq!(source.as_deref(), Some("Intel(r) AMT: Force PXE Boot"));

    change_power(&client, PowerAction::Reset, T).await.unwrap();
    let events = read_event_log(&client, 10, T).await.unwrap();
    assert_eq!(events[0].description, "Boot completed: PXE");
    assert!(events
        .iter()
        .any(|e| e.description == "User requested PXE boot"));
    assert!(
        boot_settings(&client).await.unwrap().options_cleared,
        "AMT clears one-shot options after the boot"
    );
    let audit = read_audit_log(&client, 3, T).await.unwrap();
    let names: Vec<&str> = audit.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(names[..2], ["Performed Reset", "Set Boot Options"]);

    // BIOS setup and IDE-R CD set their own options.
    let bios = set_next_boot(&client, NextBoot::Bios, T)
        .await
        .unwrap()
        .settings;
    assert!(bios.bios_setup && !bios.use_ider);
    let ider = set_next_boot(&client, NextBoot::IderCd, T)
        .await
        .unwrap()
        .settings;
    assert!(ider.use_ider && !ider.bios_setup);
    assert_eq!(ider.ider_boot_device, "cd");
    let source = fleet
        .device(0)
        .unwrap()
        .with_firmware(|fw| fw.state.manage.boot.forced_source.clone());
    assert_eq!(source, None, "no forced source for an IDE-R boot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_reads_the_platform_and_diffs_two_generations() {
    let notebook = plain_fleet(1, "amt16", Vec::new()).await;
    let desktop = plain_fleet(1, "amt11", Vec::new()).await;
    let a = read_inventory(&session(&notebook, 0).connect().unwrap())
        .await
        .unwrap();
    assert!(a.unreadable.is_empty(), "{:?}", a.unreadable);
    assert_eq!(a.amt_version(), Some("16.1.27"));
    let chassis = a.chassis.as_ref().unwrap();
    assert_eq!(chassis.model.as_deref(), Some("vPro Notebook 12"));
    assert!(!a.processors.is_empty() && a.processors[0].model.is_some());
    assert!(!a.memory.is_empty() && a.memory[0].capacity_bytes.unwrap() > 0);
    assert_eq!(a.disks.len(), 1);
    assert!(a.nics[0].mac.is_some());
    assert!(a.platform_guid.is_some());

    // The same device read twice is unchanged; another platform differs item by item.
    let again = read_inventory(&session(&notebook, 0).connect().unwrap())
        .await
        .unwrap();
    assert!(InventoryDiff::between(&a, &again).is_empty());
    let b = read_inventory(&session(&desktop, 0).connect().unwrap())
        .await
        .unwrap();
    let d = InventoryDiff::between(&a, &b);
    assert!(d
        .changed
        .iter()
        .any(|c| c.item == "firmware" && c.field == "AMT" && c.new.as_deref() == Some("11.8.50")));
    assert!(d
        .changed
        .iter()
        .any(|c| c.item == "chassis" && c.field == "model"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_against_the_ca_root_and_the_fqdn() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let spec = console_support::spec(1, console_support::random_first_ip(), "amt16", Vec::new());
    let devices = console_support::write_tls_states(&spec, dir.path(), &pki, PASSWORD);
    let fleet = amt_emulator::net::Fleet::start(
        spec,
        console_support::options(Some(dir.path()), None),
        |_, _| {},
    )
    .await
    .unwrap();
    assert!(fleet.failures().is_empty(), "{:?}", fleet.failures());
    let d = &devices[0];
    let root = vec![CertificateDer::from(pki.root_der())];

    let good = DeviceSession::tls_verified(&d.uuid, d.ip.to_string(), &d.fqdn, root.clone(), pw());
    let s = power_status(&good.connect().unwrap()).await.unwrap();
    assert_eq!(s.state, Some(PowerState::On));

    // Another name, or another root: the handshake fails and nothing is asked.
    let wrong_name = good.clone().with_fqdn("other.amt.test");
    let e = power_status(&wrong_name.connect().unwrap())
        .await
        .unwrap_err();
    assert!(e.in_words().contains("TLS handshake"), "{}", e.in_words());
    let other = TestPki::new();
    let wrong_root = DeviceSession::tls_verified(
        &d.uuid,
        d.ip.to_string(),
        &d.fqdn,
        vec![CertificateDer::from(other.root_der())],
        pw(),
    );
    let e = power_status(&wrong_root.connect().unwrap())
        .await
        .unwrap_err();
    assert!(
        e.in_words().contains("invalid peer certificate"),
        "{}",
        e.in_words()
    );
    // Plain 16992 is closed on a TLS-only device.
    let plain = DeviceSession::plain(&d.uuid, d.ip.to_string(), pw());
    assert!(power_status(&plain.connect().unwrap()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_executor_never_sends_two_requests_at_once_to_a_device() {
    // Every answer 30 ms late, so overlapping requests would overlap for sure.
    let fleet = plain_fleet(6, "amt16", vec![(None, Fault::SlowReplies { ms: 30 })]).await;
    let proxy = CountingProxy::default();
    let mut sessions = Vec::new();
    for d in fleet.devices() {
        let uuid = d.config().uuid;
        let port = proxy.add(&uuid, SocketAddr::from((d.ip, 16992))).await;
        sessions.push(DeviceSession::plain(&uuid, "127.0.0.1", pw()).with_port(port));
    }

    // The proxy can see overlap: two clients at once on device 0 without the executor.
    let (a, b) = (
        sessions[0].connect().unwrap(),
        sessions[0].connect().unwrap(),
    );
    let (x, y) = tokio::join!(power_status(&a), power_status(&b));
    x.unwrap();
    y.unwrap();
    assert_eq!(
        proxy.seen(&sessions[0].uuid).max_in_flight,
        2,
        "control: the proxy detects concurrent requests"
    );
    a.connection().close().await;
    b.connection().close().await;

    // Two fleet runs at once over the same devices (each listed twice), sharing the gate,
    // with more workers than devices: inventory (about 20 requests each) and power status.
    let gate = DeviceGate::new();
    let targets = |s: &[DeviceSession]| -> Vec<(String, Result<DeviceSession, String>)> {
        s.iter()
            .chain(s.iter())
            .map(|d| (d.uuid.clone(), Ok(d.clone())))
            .collect()
    };
    let options = FleetOptions {
        concurrency: 16,
        device_timeout: Duration::from_secs(60),
    };
    let mut last = (0, 0);
    let inventory = run_fleet(
        targets(&sessions[1..]),
        options,
        &gate,
        |s: Arc<DeviceSession>| async move { s.run(async |c| read_inventory(c).await).await },
        |p| last = (p.done, p.total),
    );
    let power = run_fleet(
        targets(&sessions[1..]),
        options,
        &gate,
        |s: Arc<DeviceSession>| async move { s.run(async |c| power_status(c).await).await },
        |_| {},
    );
    let (inventory, power) = tokio::join!(inventory, power);
    assert_eq!(last, (5, 5), "duplicates dropped, progress to the end");
    assert_eq!(inventory.len(), 5);
    assert_eq!(power.len(), 5);
    for o in inventory.iter() {
        assert!(
            o.result.as_ref().is_ok_and(|i| i.unreadable.is_empty()),
            "{o:?}"
        );
    }
    for o in power.iter() {
        assert!(o.result.is_ok(), "{o:?}");
    }
    for s in &sessions[1..] {
        let seen = proxy.seen(&s.uuid);
        assert!(
            seen.requests >= 20,
            "device {}: {} requests",
            s.uuid,
            seen.requests
        );
        assert_eq!(
            seen.max_in_flight, 1,
            "device {} saw {} requests at once",
            s.uuid, seen.max_in_flight
        );
    }
}
