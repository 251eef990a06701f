//! `amtd lab`'s DNS zone seen by a real DNS client, BIND's `dig` (Debian `bind9-dnsutils`,
//! installed by scripts/install-peers; the test skips with a message when it is absent): the
//! lab publishes `ProvisionServer.<domain>` at the hello listener's address and A + PTR records
//! for its devices, and moves to a free port when `--dns-bind` is taken.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn random_octets() -> (u8, u8) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761);
    (100 + (n % 100) as u8, 1 + ((n >> 8) % 250) as u8)
}

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

/// Stops the lab we started (SIGINT, as Ctrl-C; SIGKILL if it lingers).
struct Lab(Child);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dig_finds_the_provisioning_server_and_device_names_in_the_lab_zone() {
    if Command::new("dig").arg("-v").output().is_err() {
        eprintln!(
            "SKIPPED: dig is not installed (apt-get install bind9-dnsutils; scripts/install-peers)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = random_octets();
    // Take the requested DNS port first: the lab must fall back to a free one.
    let wanted = format!("127.{a}.{b}.253:9953");
    let _taken = std::net::UdpSocket::bind(&wanted).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_amtd"))
        .current_dir(dir.path())
        .args(["lab", "--count", "2", "--data-dir", "lab-data"])
        .args(["--first-ip", &format!("127.{a}.{b}.1")])
        .args(["--hello-bind", &format!("127.{a}.{b}.250:9971")])
        .args(["--api-bind", &format!("127.{a}.{b}.252:9972")])
        .args(["--dns-bind", &wanted])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start amtd lab");
    let mut lab = Lab(child);
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        Box::new(lab.0.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(lab.0.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let dns: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no start-up line from amtd lab:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if let Some(rest) = line.split("DNS (zone amt.test) on ").nth(1) {
            break rest.split(',').next().unwrap().parse().unwrap();
        }
    };
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("DNS address {wanted} unavailable"))),
        "{seen:?}"
    );
    assert_eq!(dns.ip().to_string(), format!("127.{a}.{b}.253"));
    assert_ne!(dns.port(), 9953);

    let out = dig(dns, &["ProvisionServer.amt.test", "A"]).unwrap();
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains(" aa "), "authoritative answer: {out}");
    assert!(
        out.contains(&format!(
            "ProvisionServer.amt.test. 60\tIN\tA\t127.{a}.{b}.250"
        )),
        "{out}"
    );
    let out = dig(dns, &["+short", "-x", &format!("127.{a}.{b}.2")]).unwrap();
    assert_eq!(out.trim(), "amtdev00002.amt.test.");
    let out = dig(dns, &["+short", "amtdev00001.amt.test", "A"]).unwrap();
    assert_eq!(out.trim(), format!("127.{a}.{b}.1"));
    let out = dig(dns, &["amtdev00099.amt.test", "A"]).unwrap();
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    let out = dig(dns, &["example.com", "A"]).unwrap();
    assert!(out.contains("status: REFUSED"), "{out}");
}
