//! The lab DNS server over real loopback sockets: answered by our own resolver client (UDP,
//! and TCP after truncation) and by a real peer, BIND's `dig` (Debian `bind9-dnsutils`,
//! installed by scripts/install-peers; the dig tests skip with a message when it is absent).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use amtd_infra::dns::{DnsServer, DnsServerHandle, ResolveError, Resolver, ReverseLookup, Zone};

async fn lab_dns() -> DnsServerHandle {
    let mut z = Zone::new("amt.test").unwrap();
    z.add_reverse_zone("127.in-addr.arpa").unwrap();
    z.add_address("ProvisionServer.amt.test", [127, 0, 0, 9].into())
        .unwrap();
    for i in 1..=3u8 {
        z.add_host(&format!("amt-dev0000{i}.amt.test"), [127, 77, 0, i].into())
            .unwrap();
    }
    let dns = DnsServer::start("127.0.0.1:0".parse().unwrap(), z)
        .await
        .unwrap();
    let ns = dns.local_addr().ip();
    dns.update(|z| z.set_name_server_address(ns)).unwrap();
    dns
}

#[tokio::test]
async fn resolver_reverse_confirms_a_device_and_sees_runtime_changes() {
    let dns = lab_dns().await;
    let r = Resolver::new(dns.local_addr());
    assert_eq!(
        r.reverse_confirmed([127, 77, 0, 2].into()).await.unwrap(),
        ReverseLookup::Confirmed {
            name: "amt-dev00002.amt.test".into()
        }
    );
    assert_eq!(
        r.addresses("provisionserver.AMT.test", false)
            .await
            .unwrap(),
        vec![IpAddr::from([127, 0, 0, 9])]
    );
    // Records change while the server runs.
    dns.update(|z| z.remove_host("amt-dev00002.amt.test"))
        .unwrap();
    assert_eq!(
        r.reverse_confirmed([127, 77, 0, 2].into()).await.unwrap(),
        ReverseLookup::NoPtr
    );
    dns.update(|z| {
        z.add_ptr([127, 77, 0, 2].into(), "amt-dev00003.amt.test")
            .unwrap()
    });
    assert_eq!(
        r.reverse_confirmed([127, 77, 0, 2].into()).await.unwrap(),
        ReverseLookup::Unconfirmed {
            ptr: "amt-dev00003.amt.test".into(),
            forward: vec![IpAddr::from([127, 77, 0, 3])]
        }
    );
    // A name outside the zone is refused, not resolved upstream.
    let e = r.addresses("example.com", false).await.unwrap_err();
    assert!(
        matches!(&e, ResolveError::Rcode { rcode, .. } if rcode.contains("Refused")),
        "{e}"
    );
    let st = dns.stats();
    assert!(
        st.ptr >= 2 && st.provision_server == 1 && st.refused == 1,
        "{st:?}"
    );
    dns.shutdown().await;
}

#[tokio::test]
async fn truncated_udp_answer_is_fetched_again_over_tcp() {
    let dns = lab_dns().await;
    dns.update(|z| {
        for i in 1..=100u8 {
            z.add_address("many.amt.test", [127, 1, 0, i].into())
                .unwrap();
        }
    });
    let got = Resolver::new(dns.local_addr())
        .addresses("many.amt.test", false)
        .await
        .unwrap();
    assert_eq!(got.len(), 100);
    dns.shutdown().await;
}

#[tokio::test]
async fn silent_server_times_out_within_the_budget() {
    // A UDP socket that never answers.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let r = Resolver::new(silent.local_addr().unwrap()).with_timeout(Duration::from_millis(400));
    let started = std::time::Instant::now();
    let e = r.ptr([127, 77, 0, 1].into()).await.unwrap_err();
    assert!(matches!(e, ResolveError::Timeout { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // It did receive the query and its retry.
    let mut buf = [0u8; 512];
    let (n, _) = silent.recv_from(&mut buf).await.unwrap();
    assert!(n > 12);
}

#[tokio::test]
async fn answers_with_the_wrong_id_are_ignored() {
    // A fake server that first answers with another ID and another address, then properly.
    let fake = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = fake.local_addr().unwrap();
    let zone = |ip: [u8; 4]| {
        let mut z = Zone::new("amt.test").unwrap();
        z.add_address("pc.amt.test", ip.into()).unwrap();
        z
    };
    let (right, wrong) = (zone([127, 5, 5, 5]), zone([127, 6, 6, 6]));
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = fake.recv_from(&mut buf).await else {
                return;
            };
            let udp = amtd_infra::dns::Transport::Udp;
            let mut forged = wrong.respond(&buf[..n], udp).unwrap().bytes;
            forged[1] = forged[1].wrapping_add(1);
            let _ = fake.send_to(&forged, peer).await;
            let good = right.respond(&buf[..n], udp).unwrap().bytes;
            let _ = fake.send_to(&good, peer).await;
        }
    });
    let got = Resolver::new(addr)
        .addresses("pc.amt.test", false)
        .await
        .unwrap();
    assert_eq!(got, vec![IpAddr::from([127, 5, 5, 5])]);
}

/// `dig` with `args` against `server`; `None` when dig is not installed.
fn dig(server: SocketAddr, args: &[&str]) -> Option<String> {
    let out = match Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("running dig: {e}"),
    };
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn skip() {
    eprintln!(
        "SKIPPED: dig is not installed (apt-get install bind9-dnsutils; scripts/install-peers)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_provision_server_device_ptr_and_errors() {
    let dns = lab_dns().await;
    let at = dns.local_addr();
    let run = |args: Vec<&'static str>| tokio::task::spawn_blocking(move || dig(at, &args));
    let Some(out) = run(vec!["ProvisionServer.amt.test", "A"]).await.unwrap() else {
        return skip();
    };
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(
        out.contains("flags: qr aa rd;"),
        "authoritative, no recursion: {out}"
    );
    assert!(
        out.contains("ProvisionServer.amt.test. 60\tIN\tA\t127.0.0.9"),
        "{out}"
    );
    let out = run(vec!["+short", "-x", "127.77.0.3"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.trim(), "amt-dev00003.amt.test.");
    let out = run(vec!["+short", "+tcp", "amt-dev00001.amt.test"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.trim(), "127.77.0.1");
    let out = run(vec!["nope.amt.test", "A"]).await.unwrap().unwrap();
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(
        out.contains("amt.test.\t\t60\tIN\tSOA\tns.amt.test. hostmaster.amt.test."),
        "{out}"
    );
    let out = run(vec!["example.com", "A"]).await.unwrap().unwrap();
    assert!(out.contains("status: REFUSED"), "{out}");
    let out = run(vec!["amt.test", "NS"]).await.unwrap().unwrap();
    assert!(
        out.contains("ns.amt.test.\t\t60\tIN\tA\t127.0.0.1"),
        "glue: {out}"
    );
    let out = run(vec!["+short", "ProvisionServer"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.trim(), "127.0.0.9", "the bare name a device asks first");
    let st = dns.stats();
    assert_eq!(
        (st.provision_server, st.ptr, st.nxdomain, st.refused),
        (2, 1, 1, 1)
    );
    dns.shutdown().await;
}
