//! The emulator's HTTP front over real sockets: digest challenges (with curl as the client),
//! routing, bounds, bad input on every port, restart persistence and fault injection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_support;

use std::time::Duration;

use amt_emulator::fleet::FleetFlags;
use amt_emulator::net::client;
use amt_emulator::net::faults::Fault;
use amt_emulator::net::Fleet;
use amt_emulator::state::Phase;
use amt_wsman::{Response, ResponseBody};
use net_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    out
}

fn status_of(resp: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(resp);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_digest_gets_401_with_the_realm_then_a_valid_response() {
    let Some(curl) = on_path("curl") else { return };
    let fleet = start(2, FleetFlags::default(), provisioned_options()).await;
    let dev = dev(&fleet, 1);
    let realm = dev.realm();
    let body = String::from_utf8(get_xml("AMT_GeneralSettings")).unwrap();
    let mut cmd = std::process::Command::new(curl);
    cmd.args(["-sS", "-v", "--digest", "-u"])
        .arg(format!("admin:{PASSWORD}"))
        .args([
            "-H",
            "Content-Type: application/soap+xml;charset=UTF-8",
            "--data-binary",
        ])
        .arg(&body)
        .arg(format!("http://{}/wsman", dev.addr(16992)));
    let (ok, stdout, stderr) = run(cmd).await;
    assert!(ok, "curl failed: {stderr}");
    assert!(stderr.contains("< HTTP/1.1 401 Unauthorized"), "{stderr}");
    let expected = format!("< WWW-Authenticate: Digest realm=\"{realm}\", nonce=\"");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("stale=\"false\", qop=\"auth\""), "{stderr}");
    assert!(stderr.contains("< HTTP/1.1 200 OK"), "{stderr}");
    assert!(
        stderr.contains("< Content-Type: application/soap+xml;charset=UTF-8"),
        "{stderr}"
    );
    let resp = Response::parse(stdout.as_bytes()).expect("SOAP response");
    let ResponseBody::Get(instance) = resp.body else {
        panic!("not a Get response: {stdout}");
    };
    assert_eq!(instance.get_text("DigestRealm"), Some(realm.as_str()));
    assert_eq!(fleet.summary().requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_with_a_fresh_challenge() {
    let fleet = start(1, FleetFlags::default(), provisioned_options()).await;
    let mut s = plain_session(&fleet, 0, "Wr0ng-Passw0rd!").await;
    let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
    assert_eq!(r.status, 401);
    let www = r.header("WWW-Authenticate").unwrap();
    assert!(www.contains("stale=\"false\""), "{www}");
    assert!(fleet.summary().auth_failures >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_session_reuses_the_nonce_for_many_requests() {
    let fleet = start(1, FleetFlags::default(), provisioned_options()).await;
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    for _ in 0..20 {
        let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(fleet.summary().requests, 20);
    // One challenge at the start, then preemptive authentication on the same connection.
    assert_eq!(fleet.summary().auth_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_and_bounds_give_http_errors() {
    let fleet = start(1, FleetFlags::default(), provisioned_options()).await;
    let addr = dev(&fleet, 0).addr(16992);
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 404),
        (b"GET /wsman HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405),
        (
            b"POST /wsman HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            411,
        ),
        (
            b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n".to_vec(),
            413,
        ),
        (b"\x16\x03\x01\x00\x05hello\r\n\r\n".to_vec(), 400),
    ];
    for (req, want) in cases {
        let resp = raw_exchange(addr, &req).await;
        assert_eq!(
            status_of(&resp),
            Some(want),
            "{}",
            String::from_utf8_lossy(&resp)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_every_port_gets_a_clean_error_and_other_devices_are_unaffected() {
    let fleet = start(2, FleetFlags::default(), provisioned_options()).await;
    let victim = dev(&fleet, 0);
    // Make the victim serve TLS too, so 16993 is tested in setup mode as well.
    let setup = start(1, FleetFlags::default(), options()).await;
    let setup_dev = dev(&setup, 0);
    let mut junk = vec![0u8; 4096];
    amt_emulator::net::random_fill(&mut junk);
    let mut huge = b"POST /wsman HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let inputs: Vec<Vec<u8>> = vec![
        junk.clone(),
        b"POST /wsman HTTP/1.1\r\nContent-Le".to_vec(),
        b"POST /wsman HTTP/1.1\r\nContent-Length: 100\r\n\r\n<Envel".to_vec(),
        huge,
        b"POST /wsman HTTP/1.1\r\nContent-Length: 9\r\nAuthorization: Digest username=\"admin\", response=\"\"\r\n\r\n<garbage>".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
    ];
    let targets = [
        victim.addr(16992),
        setup_dev.addr(16992),
        setup_dev.addr(16993),
    ];
    for addr in targets {
        for input in &inputs {
            let resp = raw_exchange(addr, input).await;
            if let Some(status) = status_of(&resp) {
                assert!(
                    matches!(status, 400 | 401 | 411 | 413 | 431),
                    "{addr}: {status}"
                );
            }
        }
    }
    // Many half-open connections at once: the victim caps them, others do not notice.
    let mut idle = Vec::new();
    for _ in 0..40 {
        if let Ok(s) = TcpStream::connect(victim.addr(16992)).await {
            idle.push(s);
        }
    }
    let mut s = plain_session(&fleet, 1, PASSWORD).await;
    let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
    assert_eq!(r.status, 200);
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // And the victim itself still works.
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
    assert_eq!(r.status, 200);
    // A garbled but authenticated body gets a SOAP fault, not a crash.
    let r = s.post(b"<Envelope><Header>").await.unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Fault"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_state_survives_a_restart_and_corrupt_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = provisioned_options();
    opts.state_dir = Some(dir.path().to_path_buf());
    let fleet = start(3, FleetFlags::default(), opts.clone()).await;
    let first_ip = dev(&fleet, 0).ip;
    let realms: Vec<String> = fleet.devices().iter().map(|d| d.realm()).collect();
    let uuid2 = dev(&fleet, 2).uuid.clone();
    // Change something the firmware keeps: the power state, then persist as the front does.
    dev(&fleet, 1).with_firmware(|fw| fw.state.power_state = 8);
    dev(&fleet, 1).persist();
    fleet.shutdown();
    drop(fleet);
    std::fs::write(dir.path().join(format!("{uuid2}.json")), b"{ broken").unwrap();

    // Restart on the same addresses, now without --provisioned: the state files decide.
    opts.provisioned_admin_password = None;
    let flags = FleetFlags {
        count: 3,
        first_ip,
        ..FleetFlags::default()
    };
    let spec = amt_emulator::fleet::FleetSpec::from_flags(&flags).unwrap();
    let fleet = Fleet::start(spec, opts, |_, _| {}).await.unwrap();
    assert_eq!(fleet.devices().len(), 2);
    assert_eq!(fleet.failures().len(), 1);
    let (idx, why) = &fleet.failures()[0];
    assert_eq!(*idx, 2);
    assert!(why.contains("corrupt") && why.contains(&uuid2), "{why}");
    for (i, realm) in realms.iter().enumerate().take(2) {
        let d = dev(&fleet, i);
        assert_eq!(&d.realm(), realm);
        assert_eq!(d.phase(), Phase::Provisioned);
    }
    assert_eq!(dev(&fleet, 1).with_firmware(|fw| fw.state.power_state), 8);
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
    assert_eq!(r.status, 200);
    // The corrupt file was left as it was.
    assert_eq!(
        std::fs::read(dir.path().join(format!("{uuid2}.json"))).unwrap(),
        b"{ broken"
    );
}

async fn fault_fleet(fault: Fault) -> Fleet {
    let flags = FleetFlags {
        faults: vec![(None, fault)],
        ..FleetFlags::default()
    };
    start(1, flags, provisioned_options()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_connection_close_ends_every_session() {
    let fleet = fault_fleet(Fault::ConnectionClose).await;
    let addr = dev(&fleet, 0).addr(16992);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let r = client::post(
        &mut stream,
        &mut buf,
        "x",
        &get_xml("AMT_GeneralSettings"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_bad_xml_and_slow_replies() {
    let fleet = fault_fleet(Fault::MalformedXml).await;
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(Response::parse(&r.body).is_err(), "{}", r.text());

    let fleet = fault_fleet(Fault::SlowReplies { ms: 300 }).await;
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    let t = std::time::Instant::now();
    let r = s.post(&get_xml("AMT_GeneralSettings")).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_drop_after_apply_closes_without_a_reply() {
    let fleet = fault_fleet(Fault::DropAfterApply).await;
    let mut s = plain_session(&fleet, 0, PASSWORD).await;
    // Authenticate first with an ordinary request.
    assert_eq!(
        s.post(&get_xml("AMT_GeneralSettings"))
            .await
            .unwrap()
            .status,
        200
    );
    let commit = amt_wsman::Request::new(
        "AMT_SetupAndConfigurationService",
        2,
        amt_wsman::Operation::Invoke {
            method: "CommitChanges".into(),
            input: amt_wsman::Instance {
                name: "CommitChanges_INPUT".into(),
                namespace: amt_wsman::ns::resource_uri("AMT_SetupAndConfigurationService"),
                properties: vec![],
            },
        },
    )
    .to_xml();
    let err = s.post(commit.as_bytes()).await.unwrap_err();
    assert!(matches!(err, client::ClientError::Io(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_digest_on_an_unknown_nonce_gets_stale_true() {
    let fleet = start(1, FleetFlags::default(), provisioned_options()).await;
    let dev = dev(&fleet, 0);
    let mut digest = amt_wsman::digest::DigestClient::new("admin", PASSWORD.into());
    let forged = format!(
        "Digest realm=\"{}\", nonce=\"{}\", stale=\"false\", qop=\"auth\"",
        dev.realm(),
        "0".repeat(32)
    );
    digest.on_unauthorized(&forged).unwrap();
    let auth = digest
        .authorization("POST", "/wsman", "abcdef0123456789")
        .unwrap();
    let mut stream = TcpStream::connect(dev.addr(16992)).await.unwrap();
    let mut buf = Vec::new();
    let r = client::post(
        &mut stream,
        &mut buf,
        "x",
        &get_xml("AMT_GeneralSettings"),
        Some(&auth),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    let www = r.header("WWW-Authenticate").unwrap();
    assert!(www.contains("stale=\"true\""), "{www}");
    assert!(www.contains(&dev.realm()), "{www}");
}
