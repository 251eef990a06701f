//! Real AMT clients against emulated devices over the network: the PyPI `amt` package's
//! `amtctrl` (python-requests with Digest) and requests built by Intel's
//! `@device-management-toolkit/wsman-messages`. Missing peers skip the test with a message,
//! except under ./scripts/test (AMTD_NODE_DIR set), where they fail it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_support;

use std::path::PathBuf;

use amt_emulator::fleet::FleetFlags;
use amt_wsman::{Response, ResponseBody};
use net_support::*;

async fn run_amtctrl(bin: &PathBuf, home: &std::path::Path, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args).env("HOME", home);
    let (ok, stdout, stderr) = run(cmd).await;
    assert!(ok, "amtctrl {args:?} failed: {stdout}{stderr}");
    // amtctrl reports HTTP errors on stdout and still exits 0.
    assert!(!stdout.contains("Error"), "amtctrl {args:?}: {stdout}");
    stdout.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtctrl_reads_power_status_and_powers_on_off_and_reboots() {
    let Some(bin) = amtctrl() else { return };
    let fleet = start(2, FleetFlags::default(), provisioned_options()).await;
    let dev = dev(&fleet, 1);
    let home = tempfile::tempdir().unwrap();
    run_amtctrl(
        &bin,
        home.path(),
        &["add", "emu", &dev.ip.to_string(), PASSWORD],
    )
    .await;
    assert_eq!(
        run_amtctrl(&bin, home.path(), &["emu", "status"]).await,
        "on"
    );

    assert_eq!(run_amtctrl(&bin, home.path(), &["emu", "off"]).await, "");
    assert_eq!(dev.with_firmware(|fw| fw.state.power_state), 8);
    assert_eq!(
        run_amtctrl(&bin, home.path(), &["emu", "status"]).await,
        "off"
    );

    assert_eq!(run_amtctrl(&bin, home.path(), &["emu", "on"]).await, "");
    assert_eq!(
        run_amtctrl(&bin, home.path(), &["emu", "status"]).await,
        "on"
    );

    assert_eq!(run_amtctrl(&bin, home.path(), &["emu", "reboot"]).await, "");
    assert_eq!(
        run_amtctrl(&bin, home.path(), &["emu", "status"]).await,
        "on"
    );
    // The other device was not touched.
    assert_eq!(
        fleet
            .device(0)
            .unwrap()
            .with_firmware(|fw| fw.state.power_state),
        2
    );
}

fn node_dir() -> PathBuf {
    std::env::var_os("AMTD_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tests/node"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intel_wsman_messages_requests_are_answered_over_http() {
    let dir = node_dir();
    let lib = dir.join("node_modules/@device-management-toolkit/wsman-messages");
    if peer(
        lib.exists().then_some(lib),
        "npm @device-management-toolkit/wsman-messages",
    )
    .is_none()
    {
        return;
    }
    let Some(node) = on_path("node") else { return };
    let mut cmd = std::process::Command::new(node);
    cmd.arg(dir.join("emulator-requests.js")).current_dir(&dir);
    let (ok, stdout, stderr) = run(cmd).await;
    assert!(ok, "node failed: {stderr}");
    let requests: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("JSON");
    assert!(requests.len() >= 5);

    let fleet = start(1, FleetFlags::default(), provisioned_options()).await;
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    let mut context = String::new();
    for r in &requests {
        let name = r["name"].as_str().unwrap();
        let xml = r["xml"].as_str().unwrap().replace("__CONTEXT__", &context);
        let resp = s.post(xml.as_bytes()).await.expect("post");
        assert_eq!(resp.status, 200, "{name}: {}", resp.text());
        let parsed = Response::parse(&resp.body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let class = r["class"].as_str().unwrap();
        assert!(
            parsed
                .header
                .resource_uri
                .as_deref()
                .unwrap_or("")
                .ends_with(class),
            "{name}: {:?}",
            parsed.header.resource_uri
        );
        match parsed.body {
            ResponseBody::Get(i) => assert_eq!(i.name, class, "{name}"),
            ResponseBody::Enumerate { context: c, .. } => {
                context = c.expect("enumeration context");
            }
            ResponseBody::Pull {
                items,
                end_of_sequence,
                ..
            } => {
                assert!(!items.is_empty(), "{name}: no items");
                assert!(end_of_sequence, "{name}");
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
}
