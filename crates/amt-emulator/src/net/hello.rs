//! The hello sender of a device in setup mode (D3, D4).
//!
//! 1. Find the provisioning server: the address configured into the device (MEBx
//!    pre-configuration) if any; else resolve `ProvisionServer`; else
//!    `ProvisionServer.<domain>`. Names resolve through `--resolver IP:PORT` (a small UDP DNS
//!    client, queried from the device's own address) or the system resolver.
//! 2. Open TCP from the device's own address to the server's hello port (9971 unless
//!    configured) and write the PKI hello (version 3, UUID, trusted root hashes, retry count).
//!    The server never answers; a written hello is a delivered hello.
//! 3. Follow `amt_wire::backoff::HelloSchedule` (5 × 1 min, 5 × 10 min, 5 × 1 h, then give
//!    up), divided by the time scale.
//!
//! The `lost-hellos[:N]` fault makes the first `N` attempts vanish on the way: nothing is
//! sent and the device backs off as though the server were unreachable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use amt_wire::backoff::{HelloSchedule, Next};
use amt_wire::hello::{Hello, RootHash, RootHashList, Uuid16, HELLO_PORT};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

use super::device::{Device, HelloState};

/// Hello sender settings shared by a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloOptions {
    /// Send hellos at all (devices in setup mode).
    pub enabled: bool,
    /// Port of the provisioning server when the configured address has none.
    pub port: u16,
    /// DNS server to ask instead of the system resolver.
    pub resolver: Option<SocketAddr>,
    /// Divides every back-off wait (3600: an hour becomes a second).
    pub time_scale: u32,
    /// TCP connect timeout (not scaled).
    pub connect_timeout: Duration,
}

impl Default for HelloOptions {
    fn default() -> Self {
        HelloOptions {
            enabled: true,
            port: HELLO_PORT,
            resolver: None,
            time_scale: 1,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Splits a configured provisioning-server address (`host`, `host:port`, `ip`, `ip:port`).
pub fn parse_server_address(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(sa) = SocketAddr::from_str(s) {
        return Some((sa.ip().to_string(), Some(sa.port())));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
        None => (s, None),
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    ok.then(|| (host.to_owned(), port))
}

/// The hello the device sends on attempt `retry_count`.
pub fn build_hello(dev: &Device, retry_count: u32) -> Option<Hello> {
    let uuid = Uuid16::from_str(&dev.uuid).ok()?;
    let mut list = RootHashList::new();
    for h in dev.trusted_root_hashes() {
        let hash = match h.algorithm() {
            amt_pki::HashAlgorithm::Sha1 => h.bytes().try_into().ok().map(RootHash::Sha1),
            amt_pki::HashAlgorithm::Sha256 => h.bytes().try_into().ok().map(RootHash::Sha256),
            amt_pki::HashAlgorithm::Sha384 => h.bytes().try_into().ok().map(RootHash::Sha384),
        };
        if let Some(hash) = hash {
            if list.push(hash).is_err() {
                break;
            }
        }
    }
    let admin_set = dev.with_firmware(|fw| fw.state.mebx_password_set);
    Some(Hello::pki(admin_set, retry_count, uuid, list))
}

/// Resolves `name` the way the device does.
async fn resolve(dev: &Device, name: &str) -> Result<Vec<Ipv4Addr>, String> {
    if let Ok(ip) = Ipv4Addr::from_str(name) {
        return Ok(vec![ip]);
    }
    let _permit = dev
        .ctx
        .resolver_slots
        .acquire()
        .await
        .map_err(|e| e.to_string())?;
    match dev.resolver.or(dev.ctx.options.hello.resolver) {
        Some(server) => {
            let bind = SocketAddr::from((dev.ip, 0));
            super::dns::resolve_a(server, bind, name, Duration::from_secs(2))
                .await
                .map_err(|e| e.to_string())
        }
        None => match tokio::net::lookup_host((name, 0)).await {
            Ok(addrs) => {
                let v: Vec<Ipv4Addr> = addrs
                    .filter_map(|a| match a.ip() {
                        IpAddr::V4(ip) => Some(ip),
                        IpAddr::V6(_) => None,
                    })
                    .collect();
                if v.is_empty() {
                    Err(format!("{name} has no IPv4 address"))
                } else {
                    Ok(v)
                }
            }
            Err(e) => Err(format!("{name}: {e}")),
        },
    }
}

/// Finds the provisioning server (D3).
pub async fn locate_server(dev: &Device) -> Result<SocketAddr, String> {
    let config = dev.config();
    let default_port = dev.ctx.options.hello.port;
    if let Some(configured) = &config.provisioning_server {
        let (host, port) =
            parse_server_address(configured).ok_or_else(|| format!("bad address {configured}"))?;
        let ip = resolve(dev, &host).await?;
        let ip = ip.first().ok_or("no address")?;
        return Ok(SocketAddr::from((*ip, port.unwrap_or(default_port))));
    }
    let mut errors = Vec::new();
    let mut names = vec!["ProvisionServer".to_owned()];
    if !config.domain.is_empty() {
        names.push(format!("ProvisionServer.{}", config.domain));
    }
    for name in names {
        match resolve(dev, &name).await {
            Ok(ips) => {
                if let Some(ip) = ips.first() {
                    return Ok(SocketAddr::from((*ip, default_port)));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    Err(errors.join("; "))
}

/// One attempt: locate, connect from the device's address, write. True when delivered.
async fn send_once(dev: &Device, retry_count: u32) -> bool {
    let server = match locate_server(dev).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(device.uuid = %dev.uuid, retry_count, error = %e, "provisioning server not found");
            return false;
        }
    };
    let Some(hello) = build_hello(dev, retry_count) else {
        tracing::error!(device.uuid = %dev.uuid, "UUID cannot go into a hello");
        return false;
    };
    let bytes = hello.encode();
    let attempt = async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((dev.ip, 0)))?;
        let mut stream = socket.connect(server).await?;
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(dev.ctx.options.hello.connect_timeout, attempt).await {
        Ok(Ok(())) => {
            dev.stats.hellos_sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(device.uuid = %dev.uuid, %server, retry_count, "hello sent");
            true
        }
        Ok(Err(e)) => {
            tracing::debug!(device.uuid = %dev.uuid, %server, retry_count, error = %e, "hello not delivered");
            false
        }
        Err(_) => {
            tracing::debug!(device.uuid = %dev.uuid, %server, retry_count, "hello connect timed out");
            false
        }
    }
}

/// The hello sender of one device; runs until a hello is delivered or the device gives up
/// (or the task is aborted when the device leaves setup mode).
pub(crate) async fn run(dev: Arc<Device>) {
    let mut schedule = HelloSchedule::new(dev.ctx.options.hello.time_scale);
    let start = tokio::time::Instant::now();
    let mut lost = 0u32;
    loop {
        let now = start.elapsed();
        match schedule.next(now) {
            Next::SendNow { retry_count } => {
                dev.stats.hello_attempts.fetch_add(1, Ordering::Relaxed);
                let ok = match dev.faults.lost_hellos {
                    Some(n) if lost < n => {
                        lost += 1;
                        tracing::info!(device.uuid = %dev.uuid, retry_count, "fault injection: hello lost");
                        false
                    }
                    _ => send_once(&dev, retry_count).await,
                };
                schedule.on_result(ok, start.elapsed());
            }
            Next::WaitUntil(t) => {
                tokio::time::sleep_until(start + t).await;
            }
            Next::AwaitingResult { .. } => {
                // Cannot happen: results are reported at once. Do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Next::Delivered { .. } => {
                dev.set_hello_state(HelloState::Delivered);
                return;
            }
            Next::GaveUp => {
                tracing::info!(device.uuid = %dev.uuid, "no provisioning server reached; stopped sending hellos");
                dev.set_hello_state(HelloState::GaveUp);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(
            parse_server_address("10.0.0.1"),
            Some(("10.0.0.1".into(), None))
        );
        assert_eq!(
            parse_server_address("10.0.0.1:9999"),
            Some(("10.0.0.1".into(), Some(9999)))
        );
        assert_eq!(
            parse_server_address("prov.amt.test:9971"),
            Some(("prov.amt.test".into(), Some(9971)))
        );
        assert_eq!(parse_server_address("prov:x"), None);
        assert_eq!(parse_server_address(""), None);
        assert_eq!(parse_server_address("a b"), None);
    }
}
