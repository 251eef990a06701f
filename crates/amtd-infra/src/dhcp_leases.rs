//! The DHCP server's leases, for FQDN discovery (SPEC P2 "the DHCP lease", H1): which name
//! the DHCP server leased an address to, read from ISC Kea.
//!
//! Two sources, either or both:
//! - Kea's **control socket** (`"control-socket": {"socket-type": "unix", ...}` of
//!   kea-dhcp4): the command `lease4-get` by address. Live, authoritative; asked first.
//! - Kea's **memfile lease file** (CSV, `lease-database.name`). Kea appends a row for every
//!   change, so the last row for an address wins; rows whose lifetime is over, or whose state
//!   is declined (1) or expired-reclaimed (2), are not leases.
//!
//! The name is the lease's `hostname`: with DDNS, Kea stores the client FQDN (option 81, or
//! option 12 qualified with `ddns-qualifying-suffix`) there. Everything read is bounded
//! (file and answer sizes, field lengths) and a malformed row is skipped, never a panic.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest lease file read (Kea's lease file cleanup keeps it near the live lease count).
pub const MAX_LEASE_FILE: u64 = 256 * 1024 * 1024;

/// Largest control-socket answer read.
const MAX_ANSWER: usize = 1024 * 1024;

/// Budget of one control-socket exchange.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a lease could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The lease file or socket could not be opened or read.
    #[error("{path}: {reason}")]
    Io {
        /// The file or socket.
        path: PathBuf,
        /// The OS error in words.
        reason: String,
    },
    /// The lease file is larger than [`MAX_LEASE_FILE`].
    #[error("{path}: lease file of {size} bytes is larger than {MAX_LEASE_FILE}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The lease file has no header naming the `address` and `hostname` columns.
    #[error("{path}: not a Kea DHCPv4 lease file (no address/hostname header)")]
    NotALeaseFile {
        /// The file.
        path: PathBuf,
    },
    /// Kea's answer is not what the control protocol describes.
    #[error("{path}: unexpected answer from Kea: {reason}")]
    BadAnswer {
        /// The socket.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// Kea answered with an error result.
    #[error("{path}: Kea refused lease4-get: {text}")]
    Refused {
        /// The socket.
        path: PathBuf,
        /// Kea's text.
        text: String,
    },
    /// The control socket did not answer in time.
    #[error("{path}: no answer within {SOCKET_TIMEOUT:?}")]
    Timeout {
        /// The socket.
        path: PathBuf,
    },
    /// No source is configured.
    #[error("no DHCP lease source configured ([dhcp] kea_lease_file or kea_control_socket)")]
    NotConfigured,
}

/// A DHCPv4 lease as Kea records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The leased address.
    pub address: Ipv4Addr,
    /// The client's hardware address (`aa:bb:...`), as Kea prints it.
    pub hw_address: String,
    /// The host name or FQDN the lease carries (lowercase, no trailing dot), if any.
    pub hostname: Option<String>,
    /// When it expires (Unix seconds), if known.
    pub expires: Option<u64>,
}

impl Lease {
    /// The lease's name when it is fully qualified (has a dot).
    pub fn fqdn(&self) -> Option<&str> {
        self.hostname.as_deref().filter(|h| h.contains('.'))
    }
}

/// Where Kea's leases are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeaLeases {
    /// The memfile lease file.
    pub lease_file: Option<PathBuf>,
    /// The unix control socket of kea-dhcp4.
    pub control_socket: Option<PathBuf>,
}

impl KeaLeases {
    /// The active lease of `address`: asked of the control socket first, then read from the
    /// lease file (also when the socket fails). `Ok(None)`: no active lease.
    ///
    /// # Errors
    /// [`LeaseError`] from the last source tried; [`LeaseError::NotConfigured`] without any.
    pub async fn lookup(&self, address: Ipv4Addr) -> Result<Option<Lease>, LeaseError> {
        let mut last = LeaseError::NotConfigured;
        if let Some(socket) = &self.control_socket {
            match lease4_get(socket, address).await {
                Ok(l) => return Ok(l),
                Err(e) => {
                    tracing::debug!(socket = %socket.display(), error = %e, "Kea control socket");
                    last = e;
                }
            }
        }
        if let Some(file) = &self.lease_file {
            let file = file.clone();
            let now = unix_now();
            return tokio::task::spawn_blocking(move || read_lease_file(&file, address, now))
                .await
                .map_err(|e| LeaseError::Io {
                    path: PathBuf::new(),
                    reason: e.to_string(),
                })?;
        }
        Err(last)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A host name as stored: lowercase, no trailing dot; `None` when empty or not a DNS name.
fn clean_hostname(raw: &str) -> Option<String> {
    // Kea escapes commas in CSV fields as "&#x2c"; a name never contains one.
    let h = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(h)
}

/// The active lease of `address` in Kea's CSV lease file at time `now`.
///
/// # Errors
/// [`LeaseError`].
pub fn read_lease_file(
    path: &Path,
    address: Ipv4Addr,
    now: u64,
) -> Result<Option<Lease>, LeaseError> {
    let io = |e: std::io::Error| LeaseError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_LEASE_FILE {
        return Err(LeaseError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let text = std::fs::read(path).map_err(io)?;
    let text = String::from_utf8_lossy(&text);
    parse_lease_csv(&text, address, now).ok_or_else(|| LeaseError::NotALeaseFile {
        path: path.to_owned(),
    })
}

/// Parses Kea's DHCPv4 lease CSV; `None` when there is no usable header.
pub fn parse_lease_csv(text: &str, address: Ipv4Addr, now: u64) -> Option<Option<Lease>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (a, host) = (col("address")?, col("hostname")?);
    let (hw, valid, expire, state) = (
        col("hwaddr"),
        col("valid_lifetime"),
        col("expire"),
        col("state"),
    );
    let want = address.to_string();
    // A row must reach every column this reader uses (a truncated row is skipped).
    let needed = [Some(a), Some(host), hw, valid, expire, state]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    let mut found: Option<Option<Lease>> = None;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() <= needed || f.get(a).map(|s| s.trim()) != Some(want.as_str()) {
            continue;
        }
        let num = |i: Option<usize>| {
            i.and_then(|i| f.get(i))
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let lifetime = num(valid);
        let expires = num(expire);
        let st = num(state).unwrap_or(0);
        let active = st == 0 && lifetime != Some(0) && expires.is_none_or(|e| e > now);
        // The last row for the address is its current state.
        found = Some(active.then(|| {
            Lease {
                address,
                hw_address: hw
                    .and_then(|i| f.get(i))
                    .map(|s| s.trim().to_owned())
                    .unwrap_or_default(),
                hostname: f.get(host).and_then(|h| clean_hostname(h)),
                expires,
            }
        }));
    }
    Some(found.flatten())
}

/// `lease4-get` over kea-dhcp4's unix control socket.
async fn lease4_get(socket: &Path, address: Ipv4Addr) -> Result<Option<Lease>, LeaseError> {
    let command = serde_json::json!({
        "command": "lease4-get",
        "arguments": { "ip-address": address.to_string() }
    })
    .to_string();
    let exchange = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        stream.write_all(command.as_bytes()).await?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            if answer.len() > MAX_ANSWER {
                return Err(std::io::Error::other("answer too large"));
            }
            // Kea closes after the answer; stop as soon as the JSON is complete.
            if serde_json::from_slice::<serde_json::Value>(&answer).is_ok() {
                break;
            }
        }
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout(SOCKET_TIMEOUT, exchange).await {
        Err(_) => {
            return Err(LeaseError::Timeout {
                path: socket.to_owned(),
            })
        }
        Ok(Err(e)) => {
            return Err(LeaseError::Io {
                path: socket.to_owned(),
                reason: e.to_string(),
            })
        }
        Ok(Ok(a)) => a,
    };
    parse_lease4_get(&answer, address).map_err(|reason| match reason {
        AnswerProblem::Refused(text) => LeaseError::Refused {
            path: socket.to_owned(),
            text,
        },
        AnswerProblem::Bad(reason) => LeaseError::BadAnswer {
            path: socket.to_owned(),
            reason,
        },
    })
}

/// What is wrong with a control-socket answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerProblem {
    /// Kea's result was an error; its text.
    Refused(String),
    /// The answer is not the documented shape.
    Bad(String),
}

/// Parses kea-dhcp4's answer to `lease4-get` (an object, or a one-element list through the
/// Control Agent). Result 0: the lease; 3: no lease; 1/2: an error.
///
/// # Errors
/// [`AnswerProblem`].
pub fn parse_lease4_get(answer: &[u8], address: Ipv4Addr) -> Result<Option<Lease>, AnswerProblem> {
    let v: serde_json::Value =
        serde_json::from_slice(answer).map_err(|e| AnswerProblem::Bad(e.to_string()))?;
    let v = match &v {
        serde_json::Value::Array(list) => list
            .first()
            .ok_or_else(|| AnswerProblem::Bad("empty list".into()))?,
        other => other,
    };
    let result = v
        .get("result")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| AnswerProblem::Bad("no result".into()))?;
    let text = v
        .get("text")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    match result {
        0 => {}
        3 => return Ok(None),
        _ => return Err(AnswerProblem::Refused(text)),
    }
    let args = v
        .get("arguments")
        .ok_or_else(|| AnswerProblem::Bad("no arguments".into()))?;
    let ip = args
        .get("ip-address")
        .and_then(serde_json::Value::as_str)
        .and_then(|s| s.parse::<Ipv4Addr>().ok());
    if ip != Some(address) {
        return Err(AnswerProblem::Bad(format!(
            "asked for {address}, the answer is for {ip:?}"
        )));
    }
    // Declined (1) and expired-reclaimed (2) leases are not leases.
    if args
        .get("state")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
        != 0
    {
        return Ok(None);
    }
    let str_of = |k: &str| args.get(k).and_then(serde_json::Value::as_str);
    let num_of = |k: &str| args.get(k).and_then(serde_json::Value::as_u64);
    Ok(Some(Lease {
        address,
        hw_address: str_of("hw-address")
            .unwrap_or("")
            .chars()
            .take(64)
            .collect(),
        hostname: str_of("hostname").and_then(clean_hostname),
        expires: num_of("cltt").zip(num_of("valid-lft")).map(|(c, v)| c + v),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n\
10.99.0.100,02:80:86:00:00:01,,3600,2000,1,1,1,amtdev01.amt.test.,0,\n\
10.99.0.101,02:80:86:00:00:02,,3600,2000,1,1,1,amtdev02.amt.test.,0,\n\
10.99.0.101,02:80:86:00:00:02,,0,1500,1,1,1,amtdev02.amt.test.,0,\n\
10.99.0.102,02:80:86:00:00:03,,3600,2000,1,0,0,plainhost,0,\n\
10.99.0.103,02:80:86:00:00:04,,3600,2000,1,0,0,x.amt.test,2,\n\
10.99.0.104,garbage\n";

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, last)
    }

    #[test]
    fn last_row_wins_and_inactive_rows_are_no_lease() {
        let l = parse_lease_csv(CSV, ip(100), 1000).flatten();
        assert_eq!(l.as_ref().and_then(Lease::fqdn), Some("amtdev01.amt.test"));
        assert_eq!(l.map(|l| l.hw_address), Some("02:80:86:00:00:01".into()));
        // Released (lifetime 0) after being leased.
        assert_eq!(parse_lease_csv(CSV, ip(101), 1000), Some(None));
        // Unqualified host name: a lease, but no FQDN.
        let l = parse_lease_csv(CSV, ip(102), 1000).flatten();
        assert_eq!(
            l.as_ref().and_then(|l| l.hostname.as_deref()),
            Some("plainhost")
        );
        assert_eq!(l.as_ref().and_then(Lease::fqdn), None);
        // Expired-reclaimed, expired by time, truncated row, absent address.
        assert_eq!(parse_lease_csv(CSV, ip(103), 1000), Some(None));
        assert_eq!(parse_lease_csv(CSV, ip(100), 2001), Some(None));
        assert_eq!(parse_lease_csv(CSV, ip(104), 1000), Some(None));
        assert_eq!(parse_lease_csv(CSV, ip(105), 1000), Some(None));
        assert_eq!(parse_lease_csv("not,a,lease,file\n", ip(100), 0), None);
        assert_eq!(parse_lease_csv("", ip(100), 0), None);
    }

    #[test]
    fn control_socket_answers() {
        let ok = br#"{"result":0,"text":"IPv4 lease found.","arguments":{"ip-address":"10.99.0.100","hw-address":"02:80:86:00:00:01","hostname":"AMTdev01.amt.test.","cltt":1000,"valid-lft":3600,"state":0}}"#;
        let l = parse_lease4_get(ok, ip(100));
        assert_eq!(
            l.clone().ok().flatten().and_then(|l| l.hostname),
            Some("amtdev01.amt.test".into())
        );
        assert_eq!(l.ok().flatten().and_then(|l| l.expires), Some(4600));
        let listed = br#"[{"result":3,"text":"Lease not found."}]"#;
        assert_eq!(parse_lease4_get(listed, ip(100)), Ok(None));
        let err = br#"{"result":1,"text":"bad"}"#;
        assert_eq!(
            parse_lease4_get(err, ip(100)),
            Err(AnswerProblem::Refused("bad".into()))
        );
        let other = br#"{"result":0,"arguments":{"ip-address":"10.99.0.7"}}"#;
        assert!(matches!(
            parse_lease4_get(other, ip(100)),
            Err(AnswerProblem::Bad(_))
        ));
        assert!(matches!(
            parse_lease4_get(b"\xff{", ip(100)),
            Err(AnswerProblem::Bad(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,400}", answer in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_lease_csv(&text, ip(100), 0);
            let _ = parse_lease4_get(&answer, ip(100));
        }
    }
}
