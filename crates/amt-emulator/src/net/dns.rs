//! A small DNS client: one `A` query over UDP to a resolver given on the command line
//! (`--resolver IP:PORT`), the way the device's firmware asks its DHCP-supplied DNS server.
//! Bounded parsing; nothing a server sends can make it panic.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The server said the name does not exist (NXDOMAIN) or has no `A` record.
    #[error("{0} does not resolve")]
    NotFound(String),
    /// No usable answer in time.
    #[error("DNS query for {0} failed: {1}")]
    Failed(String, String),
}

/// Encodes an `A`/`IN` query with recursion desired.
pub fn encode_query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    Some(q)
}

/// Skips a (possibly compressed) name at `pos`; returns the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            l if l & 0xC0 == 0xC0 => {
                msg.get(pos + 1)?;
                return Some(pos + 2);
            }
            l if l & 0xC0 == 0 => pos += 1 + usize::from(l),
            _ => return None,
        }
    }
    None
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// Decodes the `A` records of a response to query `id`. `Ok(vec![])` for NXDOMAIN or no
/// `A` record; `Err(())` for anything malformed or unrelated.
#[allow(clippy::result_unit_err)]
pub fn decode_response(id: u16, msg: &[u8]) -> Result<Vec<Ipv4Addr>, ()> {
    if u16_at(msg, 0) != Some(id) {
        return Err(());
    }
    let flags = u16_at(msg, 2).ok_or(())?;
    if flags & 0x8000 == 0 {
        return Err(());
    }
    let rcode = flags & 0x000F;
    if rcode == 3 {
        return Ok(Vec::new());
    }
    if rcode != 0 {
        return Err(());
    }
    let qd = u16_at(msg, 4).ok_or(())?;
    let an = u16_at(msg, 6).ok_or(())?;
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(msg, pos).ok_or(())? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        pos = skip_name(msg, pos).ok_or(())?;
        let rtype = u16_at(msg, pos).ok_or(())?;
        let class = u16_at(msg, pos + 2).ok_or(())?;
        let rdlen = usize::from(u16_at(msg, pos + 8).ok_or(())?);
        let rdata = msg.get(pos + 10..pos + 10 + rdlen).ok_or(())?;
        if rtype == 1 && class == 1 && rdlen == 4 {
            out.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        pos += 10 + rdlen;
    }
    Ok(out)
}

/// Resolves `name` to IPv4 addresses by asking `server`, from local address `bind`
/// (two tries, `timeout` each).
///
/// # Errors
/// [`DnsError`].
pub async fn resolve_a(
    server: SocketAddr,
    bind: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<Ipv4Addr>, DnsError> {
    let failed = |why: String| DnsError::Failed(name.to_owned(), why);
    let sock = UdpSocket::bind(bind)
        .await
        .map_err(|e| failed(e.to_string()))?;
    sock.connect(server)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut idb = [0u8; 2];
    super::random_fill(&mut idb);
    let id = u16::from_be_bytes(idb);
    let query = encode_query(id, name).ok_or_else(|| failed("not a DNS name".into()))?;
    let mut buf = vec![0u8; 1500];
    for _ in 0..2 {
        sock.send(&query).await.map_err(|e| failed(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(wait, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(failed(e.to_string())),
                Ok(Ok(n)) => match decode_response(id, buf.get(..n).unwrap_or_default()) {
                    Ok(v) if v.is_empty() => return Err(DnsError::NotFound(name.to_owned())),
                    Ok(v) => return Ok(v),
                    Err(()) => continue,
                },
            }
        }
    }
    Err(failed("no answer".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: u16, name: &str, ip: [u8; 4]) -> Vec<u8> {
        let q = encode_query(id, name).unwrap();
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1;
        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip);
        r
    }

    #[test]
    fn a_record_is_decoded() {
        let r = answer(7, "ProvisionServer.amt.test", [127, 0, 0, 9]);
        assert_eq!(
            decode_response(7, &r),
            Ok(vec![Ipv4Addr::new(127, 0, 0, 9)])
        );
        assert_eq!(decode_response(8, &r), Err(()));
    }

    #[test]
    fn nxdomain_is_empty() {
        let mut r = encode_query(9, "ProvisionServer").unwrap();
        r[2] = 0x81;
        r[3] = 0x83;
        assert_eq!(decode_response(9, &r), Ok(vec![]));
    }

    #[test]
    fn truncated_answers_never_panic() {
        let r = answer(7, "a.b", [1, 2, 3, 4]);
        for cut in 0..r.len() {
            let _ = decode_response(7, &r[..cut]);
        }
        let mut looped = answer(7, "a.b", [1, 2, 3, 4]);
        looped[12] = 0xC0;
        looped[13] = 12;
        let _ = decode_response(7, &looped);
    }

    #[test]
    fn bad_names_are_not_encoded() {
        assert!(encode_query(1, "a..b").is_none());
        assert!(encode_query(1, &"x".repeat(64)).is_none());
    }
}
