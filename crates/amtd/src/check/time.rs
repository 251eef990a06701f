//! Clock checks: Kerberos (and the devices' certificates) need the clocks of this machine, the
//! DNS server and the NTP servers to agree within `[check] max_clock_skew` (default 5 min).
//!
//! Two sources: the DNS server's "time signed" from the TSIG-signed answer to a query signed
//! with `[dns.tsig]` (RFC 8945), and SNTP (RFC 4330) against each `[check] time_servers` entry.
//! The SNTP request and the reply's parsing are written here, sans-IO: [`sntp_request`],
//! [`parse_sntp_reply`] (bounded, never panics) and [`clock_offset`]; [`sntp_offset`] sends one
//! request over UDP within a time budget.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use super::report::{Check, Team};

/// Length of an SNTP message without extensions or authenticator.
pub const SNTP_LEN: usize = 48;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Time budget of one SNTP exchange (the request is sent again once halfway).
pub const SNTP_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an SNTP reply is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SntpError {
    /// Fewer than 48 bytes.
    #[error("reply of {len} bytes is shorter than an SNTP message (48)")]
    Short {
        /// Bytes received.
        len: usize,
    },
    /// Not a server reply (mode 4).
    #[error("reply has mode {mode}, not 4 (server)")]
    NotServer {
        /// The mode field.
        mode: u8,
    },
    /// A version SNTP does not know (RFC 4330 accepts 1 to 4).
    #[error("reply has NTP version {version}")]
    Version {
        /// The version field.
        version: u8,
    },
    /// Stratum 0: the server refuses to serve (kiss-o'-death, RFC 4330 §8).
    #[error("the server sent a kiss-o'-death ({code:?}): it refuses to give the time")]
    KissOfDeath {
        /// The four-letter kiss code (printable ASCII only).
        code: String,
    },
    /// Leap indicator 3 or stratum above 15: the server's clock is not synchronised.
    #[error("the server says its own clock is not synchronised")]
    Unsynchronised,
    /// The originate timestamp is not the one the request carried (a stray or spoofed reply).
    #[error("reply does not answer our request (originate timestamp differs)")]
    OriginMismatch,
    /// The transmit timestamp is zero.
    #[error("reply carries no transmit timestamp")]
    NoTransmitTime,
}

/// An NTP timestamp: seconds since 1900 in the upper 32 bits, fraction in the lower 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The NTP timestamp of a Unix time.
    pub fn from_unix(since_epoch: Duration) -> NtpTimestamp {
        let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET) & 0xFFFF_FFFF;
        let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// Nanoseconds since the Unix epoch. Seconds values with the top bit clear are read in era
    /// 1 (from 2036-02-07 on), as RFC 4330 §3 says.
    pub fn unix_nanos(self) -> i128 {
        let secs = self.0 >> 32;
        let frac = self.0 & 0xFFFF_FFFF;
        let era_secs = if secs & 0x8000_0000 == 0 {
            secs + (1 << 32)
        } else {
            secs
        };
        let nanos = (i128::from(frac) * 1_000_000_000) >> 32;
        (i128::from(era_secs) - i128::from(NTP_UNIX_OFFSET)) * 1_000_000_000 + nanos
    }
}

/// What a usable reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpReply {
    /// The server's stratum (1 to 15).
    pub stratum: u8,
    /// When the server received the request (T2).
    pub receive: NtpTimestamp,
    /// When the server sent the reply (T3).
    pub transmit: NtpTimestamp,
}

/// The client request: LI 0, version 4, mode 3, everything zero except the transmit timestamp
/// (which the server echoes as the originate timestamp).
pub fn sntp_request(transmit: NtpTimestamp) -> [u8; SNTP_LEN] {
    let mut p = [0u8; SNTP_LEN];
    p[0] = 4 << 3 | 3;
    p[40..48].copy_from_slice(&transmit.0.to_be_bytes());
    p
}

fn timestamp_at(buf: &[u8], at: usize) -> NtpTimestamp {
    let mut b = [0u8; 8];
    if let Some(s) = buf.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    NtpTimestamp(u64::from_be_bytes(b))
}

/// Parses and checks a reply to the request that carried `sent` as transmit timestamp.
///
/// # Errors
/// [`SntpError`] for anything but a synchronised server's answer to that request.
pub fn parse_sntp_reply(buf: &[u8], sent: NtpTimestamp) -> Result<SntpReply, SntpError> {
    if buf.len() < SNTP_LEN {
        return Err(SntpError::Short { len: buf.len() });
    }
    let leap = buf[0] >> 6;
    let version = (buf[0] >> 3) & 7;
    let mode = buf[0] & 7;
    let stratum = buf[1];
    if mode != 4 {
        return Err(SntpError::NotServer { mode });
    }
    if !(1..=4).contains(&version) {
        return Err(SntpError::Version { version });
    }
    if stratum == 0 {
        let code = buf[12..16]
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() {
                    char::from(b)
                } else {
                    '?'
                }
            })
            .collect();
        return Err(SntpError::KissOfDeath { code });
    }
    if leap == 3 || stratum > 15 {
        return Err(SntpError::Unsynchronised);
    }
    if timestamp_at(buf, 24) != sent {
        return Err(SntpError::OriginMismatch);
    }
    let transmit = timestamp_at(buf, 40);
    if transmit.0 == 0 {
        return Err(SntpError::NoTransmitTime);
    }
    Ok(SntpReply {
        stratum,
        receive: timestamp_at(buf, 32),
        transmit,
    })
}

/// The server's clock minus ours, in nanoseconds: ((T2 − T1) + (T3 − T4)) / 2 (RFC 4330 §5).
pub fn clock_offset(t1: NtpTimestamp, reply: &SntpReply, t4: NtpTimestamp) -> i128 {
    ((reply.receive.unix_nanos() - t1.unix_nanos())
        + (reply.transmit.unix_nanos() - t4.unix_nanos()))
        / 2
}

fn now_ntp() -> NtpTimestamp {
    NtpTimestamp::from_unix(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Asks `server` for the time over SNTP; the offset of its clock from ours in nanoseconds.
/// Datagrams that are not a reply to the request are ignored until the budget is spent.
///
/// # Errors
/// In words: a socket error, no answer in time, or the last unusable reply's problem.
pub async fn sntp_offset(server: SocketAddr, timeout: Duration) -> Result<i128, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_problem: Option<String> = None;
    for attempt in 0..2u32 {
        let t1 = now_ntp();
        sock.send(&sntp_request(t1))
            .await
            .map_err(|e| e.to_string())?;
        let until = if attempt == 0 {
            tokio::time::Instant::now() + timeout / 2
        } else {
            deadline
        };
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    // ICMP port unreachable surfaces here on a connected socket.
                    return Err(format!("no SNTP service at {server}: {e}"));
                }
                Ok(Ok(n)) => {
                    let t4 = now_ntp();
                    match parse_sntp_reply(&buf[..n], t1) {
                        Ok(reply) => return Ok(clock_offset(t1, &reply, t4)),
                        Err(e @ (SntpError::KissOfDeath { .. } | SntpError::Unsynchronised)) => {
                            return Err(e.to_string())
                        }
                        Err(e) => last_problem = Some(e.to_string()),
                    }
                }
            }
        }
    }
    Err(match last_problem {
        Some(p) => format!("no usable SNTP reply from {server} within {timeout:?} ({p})"),
        None => format!("no SNTP reply from {server} within {timeout:?}"),
    })
}

/// `10 min 3 s ahead of`, `2.1 s behind` — a clock offset in words (positive: the other clock
/// is ahead of ours).
pub fn offset_words(offset_nanos: i128) -> String {
    let abs = offset_nanos.unsigned_abs();
    // Whole seconds (rounded) from a minute on; tenths below.
    let secs = (abs + 500_000_000) / 1_000_000_000;
    let amount = if secs >= 3600 {
        format!("{} h {} min", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        let tenths = (abs + 50_000_000) / 100_000_000;
        format!("{}.{} s", tenths / 10, tenths % 10)
    };
    let way = if offset_nanos >= 0 {
        "ahead of"
    } else {
        "behind"
    };
    format!("{amount} {way}")
}

/// The check for one measured clock (`what`: "NTP server 10.0.0.1:123").
pub fn skew_check(
    id: &str,
    title: &str,
    what: &str,
    offset: Result<i128, String>,
    max: Duration,
    fix_team: &str,
    unreadable_fix: &str,
) -> Check {
    match offset {
        Err(e) => Check::fail(
            Team::Time,
            id,
            title,
            format!("could not read the clock of {what}: {e}"),
            unreadable_fix,
        ),
        Ok(off) => {
            let words = offset_words(off);
            let max_nanos = i128::try_from(max.as_nanos()).unwrap_or(i128::MAX);
            if off.abs() > max_nanos {
                Check::fail(
                    Team::Time,
                    id,
                    title,
                    format!(
                        "the clock of {what} is {words} this machine's (more than the {} \
                         Kerberos and certificate checks allow)",
                        duration_words(max)
                    ),
                    format!(
                        "{fix_team}: synchronise {what} with the same NTP source as this server \
                         (skew must stay under {})",
                        duration_words(max)
                    ),
                )
            } else {
                Check::pass(
                    Team::Time,
                    id,
                    title,
                    format!("the clock of {what} is {words} this machine's"),
                )
            }
        }
    }
}

/// `5 min`, `90 s`.
pub fn duration_words(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// Time budget of the TSIG-signed query to the DNS server.
pub const TSIG_TIMEOUT: Duration = Duration::from_secs(3);

/// The DNS server's clock against ours: the "time signed" of the TSIG-signed answer to a
/// TSIG-signed query (RFC 8945 §5.2), with the `[dns.tsig]` key.
pub async fn dns_server_clock(
    tsig: &super::TsigInputs,
    dns_server: Option<&super::dns::DnsServer>,
    domain: Option<&str>,
    max: Duration,
) -> Check {
    const ID: &str = "time.dns_server";
    const TITLE: &str = "DNS server clock (TSIG)";
    let Some(server) = tsig.server.or(dns_server.map(|s| s.addr)) else {
        return Check::skipped(Team::Time, ID, TITLE, "no DNS server known");
    };
    let what = format!("DNS server {server}");
    let offset = tsig_offset(tsig, server, domain).await;
    let unreadable = format!(
        "DNS team: answer queries signed with TSIG key {} ({}) from this server; operator: \
         check [dns.tsig] and its secret variable {}",
        tsig.key.name,
        tsig.key.algorithm.name(),
        tsig.key.secret_env
    );
    skew_check(ID, TITLE, &what, offset, max, "DNS team", &unreadable)
}

/// The zone the signed SOA question is about (any answer, even REFUSED, is signed with the
/// server's time; a zone the server holds is the least surprising question).
fn tsig_zone(domain: Option<&str>) -> &str {
    domain.unwrap_or("invalid")
}

async fn tsig_offset(
    tsig: &super::TsigInputs,
    server: SocketAddr,
    domain: Option<&str>,
) -> Result<i128, String> {
    let secret = tsig.key.secret_env.read().map_err(|e| e.to_string())?;
    let key =
        amtd_infra::dns::TsigKey::new(&tsig.key.name, tsig.key.algorithm.name(), secret.expose())
            .map_err(|e| e.to_string())?;
    let before = unix_nanos_now();
    let server_secs =
        amtd_infra::dns::tsig_server_time(server, &key, tsig_zone(domain), TSIG_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
    let after = unix_nanos_now();
    // "Time signed" has whole seconds: compare it with the middle of the exchange, and call
    // anything within a second no offset at all.
    let ours = (before + after) / 2;
    let offset = i128::from(server_secs) * 1_000_000_000 - ours;
    Ok(if offset.abs() < 1_000_000_000 {
        0
    } else {
        offset
    })
}

fn unix_nanos_now() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply(t1: NtpTimestamp, receive: NtpTimestamp, transmit: NtpTimestamp) -> [u8; 48] {
        let mut p = [0u8; 48];
        p[0] = 4 << 3 | 4;
        p[1] = 2;
        p[24..32].copy_from_slice(&t1.0.to_be_bytes());
        p[32..40].copy_from_slice(&receive.0.to_be_bytes());
        p[40..48].copy_from_slice(&transmit.0.to_be_bytes());
        p
    }

    #[test]
    fn request_is_version_4_client_mode_with_our_transmit_time() {
        let t = NtpTimestamp(0x0123_4567_89ab_cdef);
        let p = sntp_request(t);
        assert_eq!(p[0], 0x23);
        assert!(p[1..40].iter().all(|&b| b == 0));
        assert_eq!(&p[40..], &t.0.to_be_bytes());
    }

    #[test]
    fn unix_time_round_trips_through_ntp_timestamps() {
        for secs in [
            0u64,
            1_700_000_000,
            2_085_978_495,
            2_085_978_497,
            3_000_000_000,
        ] {
            let d = Duration::new(secs, 500_000_000);
            let back = NtpTimestamp::from_unix(d).unix_nanos();
            let want = i128::from(secs) * 1_000_000_000 + 500_000_000;
            assert!((back - want).abs() < 2, "{secs}: {back} vs {want}");
        }
    }

    #[test]
    fn reply_ten_minutes_ahead_gives_a_ten_minute_offset() {
        let t1 = NtpTimestamp::from_unix(Duration::from_secs(1_700_000_000));
        let t4 = NtpTimestamp::from_unix(Duration::from_millis(1_700_000_000_200));
        let ahead = |ms: u64| NtpTimestamp::from_unix(Duration::from_millis(ms + 600_000));
        let buf = reply(t1, ahead(1_700_000_000_100), ahead(1_700_000_000_100));
        let r = parse_sntp_reply(&buf, t1).unwrap();
        let off = clock_offset(t1, &r, t4);
        assert!((off - 600_000_000_000).abs() < 1_000_000, "{off}");
        assert_eq!(offset_words(off), "10 min 0 s ahead of");
        assert_eq!(offset_words(-2_100_000_000), "2.1 s behind");
    }

    #[test]
    fn reply_to_another_request_is_rejected() {
        let t1 = NtpTimestamp(5 << 32);
        let buf = reply(NtpTimestamp(6 << 32), t1, t1);
        assert_eq!(parse_sntp_reply(&buf, t1), Err(SntpError::OriginMismatch));
    }

    #[test]
    fn kiss_of_death_names_its_code() {
        let t1 = NtpTimestamp(5 << 32);
        let mut buf = reply(t1, t1, t1);
        buf[1] = 0;
        buf[12..16].copy_from_slice(b"RATE");
        assert_eq!(
            parse_sntp_reply(&buf, t1),
            Err(SntpError::KissOfDeath {
                code: "RATE".into()
            })
        );
    }

    #[test]
    fn short_client_and_unsynchronised_replies_are_rejected() {
        let t1 = NtpTimestamp(5 << 32);
        assert_eq!(
            parse_sntp_reply(&[0x24; 47], t1),
            Err(SntpError::Short { len: 47 })
        );
        assert_eq!(
            parse_sntp_reply(&sntp_request(t1), t1),
            Err(SntpError::NotServer { mode: 3 })
        );
        let mut buf = reply(t1, t1, t1);
        buf[0] |= 0xC0;
        assert_eq!(parse_sntp_reply(&buf, t1), Err(SntpError::Unsynchronised));
        let mut buf = reply(t1, t1, NtpTimestamp(0));
        buf[0] = 4 << 3 | 4;
        assert_eq!(parse_sntp_reply(&buf, t1), Err(SntpError::NoTransmitTime));
    }

    #[test]
    fn skew_beyond_the_limit_fails_and_names_the_clock() {
        let c = skew_check(
            "time.ntp.10.0.0.1:123",
            "NTP server clock",
            "NTP server 10.0.0.1:123",
            Ok(-600_000_000_000),
            Duration::from_secs(300),
            "Time team",
            "unused",
        );
        assert_eq!(c.status, super::super::report::Status::Fail);
        assert!(c.detail.contains("10 min 0 s behind"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("under 5 min"));
    }

    #[tokio::test]
    async fn sntp_offset_is_measured_against_a_server_on_loopback() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            // First a stray datagram, then the real reply (10 minutes ahead).
            let (n, peer) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, 48);
            server.send_to(b"garbage", peer).await.unwrap();
            let t1 = NtpTimestamp(u64::from_be_bytes(buf[40..48].try_into().unwrap()));
            let ahead = NtpTimestamp::from_unix(
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(600),
            );
            server
                .send_to(&reply(t1, ahead, ahead), peer)
                .await
                .unwrap();
        });
        let off = sntp_offset(addr, Duration::from_secs(2)).await.unwrap();
        assert!((off - 600_000_000_000).abs() < 1_000_000_000, "{off}");
    }

    #[tokio::test]
    async fn silent_sntp_server_is_a_bounded_error() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let started = std::time::Instant::now();
        let err = sntp_offset(addr, Duration::from_millis(400))
            .await
            .unwrap_err();
        assert!(err.contains("no SNTP reply"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(server);
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_garbage(buf in proptest::collection::vec(any::<u8>(), 0..200),
                                         sent in any::<u64>()) {
            let _ = parse_sntp_reply(&buf, NtpTimestamp(sent));
        }

        #[test]
        fn offset_never_panics(t1 in any::<u64>(), t2 in any::<u64>(), t3 in any::<u64>(),
                               t4 in any::<u64>()) {
            let r = SntpReply { stratum: 1, receive: NtpTimestamp(t2), transmit: NtpTimestamp(t3) };
            let _ = offset_words(clock_offset(NtpTimestamp(t1), &r, NtpTimestamp(t4)));
        }

        #[test]
        fn well_formed_replies_parse(t1 in 1u64.., t2 in any::<u64>(), t3 in 1u64..) {
            let buf = reply(NtpTimestamp(t1), NtpTimestamp(t2), NtpTimestamp(t3));
            let r = parse_sntp_reply(&buf, NtpTimestamp(t1)).unwrap();
            prop_assert_eq!(r.transmit, NtpTimestamp(t3));
        }
    }
}
