//! The hello sender over real sockets: server discovery (configured address, then
//! `ProvisionServer`, then `ProvisionServer.<domain>` through a resolver given by address),
//! the hello bytes, the back-off with lost hellos, and the give-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod net_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use amt_emulator::fleet::FleetFlags;
use amt_emulator::net::device::HelloState;
use amt_emulator::net::faults::Fault;
use amt_emulator::persona::FACTORY_ROOT_HASHES_SHA256;
use amt_wire::hello::{Hello, RootHash};
use net_support::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

/// A provisioning server's hello listener on a random loopback address: returns its address
/// and a receiver of every hello's bytes (read to EOF, as servers do).
async fn hello_listener() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
) {
    let ip = random_base();
    let listener = TcpListener::bind((
        Ipv4Addr::new(ip.octets()[0], ip.octets()[1], ip.octets()[2], 250),
        0,
    ))
    .await
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                let _ = tx.send((peer, buf));
            });
        }
    });
    (addr, rx)
}

fn hello_options(time_scale: u32) -> amt_emulator::net::NetOptions {
    let mut o = options();
    o.hello.enabled = true;
    o.hello.time_scale = time_scale;
    o.hello.connect_timeout = Duration::from_secs(2);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_goes_to_the_configured_server_after_lost_attempts() {
    let (server, mut rx) = hello_listener().await;
    let flags = FleetFlags {
        provisioning_server: Some(server.to_string()),
        faults: vec![(None, Fault::LostHellos { count: Some(2) })],
        ..FleetFlags::default()
    };
    // 3600×: the one-minute waits become 17 ms.
    let fleet = start(1, flags, hello_options(3600)).await;
    let dev = dev(&fleet, 0);
    let (peer, bytes) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("hello in time")
        .unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(dev.ip),
        "sent from the device's own address"
    );
    let hello = Hello::decode(&bytes).expect("valid hello");
    assert_eq!(hello.retry_count, 2, "two hellos were lost first");
    assert_eq!(hello.uuid.to_string(), dev.uuid);
    assert_eq!(hello.hashes().len(), FACTORY_ROOT_HASHES_SHA256.len());
    let RootHash::Sha256(first) = hello.hashes()[0] else {
        panic!("first hash is not SHA-256");
    };
    assert_eq!(hex::encode(first), FACTORY_ROOT_HASHES_SHA256[0]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(dev.hello_state(), HelloState::Delivered);
    let s = fleet.summary();
    assert_eq!(
        (s.hellos_sent, s.hello_attempts, s.hello_delivered),
        (1, 3, 1),
        "{s}"
    );
}

/// A DNS server answering `ProvisionServer.amt.test` with `answer` and NXDOMAIN otherwise;
/// it reports every name asked.
async fn dns_server(
    answer: Ipv4Addr,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let ip = random_base();
    let sock = UdpSocket::bind((
        Ipv4Addr::new(ip.octets()[0], ip.octets()[1], ip.octets()[2], 253),
        0,
    ))
    .await
    .unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let q = &buf[..n];
            // Decode the question name.
            let mut pos = 12;
            let mut labels = Vec::new();
            while pos < q.len() && q[pos] != 0 {
                let l = q[pos] as usize;
                labels.push(String::from_utf8_lossy(&q[pos + 1..pos + 1 + l]).into_owned());
                pos += 1 + l;
            }
            let name = labels.join(".");
            let _ = tx.send(name.clone());
            let question_end = pos + 5;
            let mut r = q[..question_end].to_vec();
            r[2] = 0x81;
            if name.eq_ignore_ascii_case("ProvisionServer.amt.test") {
                r[3] = 0x80;
                r[7] = 1;
                r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                r.extend_from_slice(&answer.octets());
            } else {
                r[3] = 0x83;
            }
            let _ = sock.send_to(&r, from).await;
        }
    });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_finds_provision_server_dot_domain_through_the_resolver() {
    let (server, mut hellos) = hello_listener().await;
    let SocketAddr::V4(server4) = server else {
        unreachable!()
    };
    let (dns, mut asked) = dns_server(*server4.ip()).await;
    let mut opts = hello_options(3600);
    opts.hello.resolver = Some(dns);
    opts.hello.port = server.port();
    let fleet = start(1, FleetFlags::default(), opts).await;
    let (_, bytes) = tokio::time::timeout(Duration::from_secs(20), hellos.recv())
        .await
        .expect("hello in time")
        .unwrap();
    let hello = Hello::decode(&bytes).unwrap();
    assert_eq!(hello.retry_count, 0);
    assert_eq!(asked.recv().await.unwrap(), "ProvisionServer");
    assert_eq!(asked.recv().await.unwrap(), "ProvisionServer.amt.test");
    drop(fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_gives_up_after_fifteen_unanswered_hellos() {
    let flags = FleetFlags {
        provisioning_server: Some("127.0.0.1:9".into()),
        faults: vec![(None, Fault::LostHellos { count: None })],
        ..FleetFlags::default()
    };
    // 36000×: the whole 5 h 55 min schedule takes under 0.6 s.
    let fleet = start(1, flags, hello_options(36_000)).await;
    let dev = dev(&fleet, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dev.hello_state() != HelloState::GaveUp && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dev.hello_state(), HelloState::GaveUp);
    let s = fleet.summary();
    assert_eq!(
        (s.hello_attempts, s.hellos_sent, s.hello_gave_up),
        (15, 0, 1),
        "{s}"
    );
}

/// D4: the device's hello matches the hello recorded from a real AMT device byte for byte when
/// the device has the same UUID, the same (factory) root hash list and the MEBx password set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_matches_the_recorded_real_hello_byte_for_byte() {
    let path = workspace().join("../shared/fixtures/hello/pki-v3-24-hashes.hex");
    let Ok(hex_text) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} is absent", path.display());
        return;
    };
    let recorded = hex::decode(hex_text.trim()).unwrap();
    let real = Hello::decode(&recorded).unwrap();
    let flags = FleetFlags {
        count: 1,
        first_ip: random_base(),
        ..FleetFlags::default()
    };
    let toml = format!("[[device]]\nuuid = \"{}\"\n", real.uuid);
    let spec = amt_emulator::fleet::FleetSpec::from_toml(&toml, &flags).unwrap();
    let fleet = amt_emulator::net::Fleet::start(spec, options(), |_, _| {})
        .await
        .unwrap();
    let dev = dev(&fleet, 0);
    dev.with_firmware(|fw| fw.state.mebx_password_set = true);
    let ours = amt_emulator::net::hello::build_hello(&dev, 0)
        .unwrap()
        .encode();
    assert_eq!(hex::encode(&ours), hex::encode(&recorded));
    fleet.shutdown();
}
