//! Read-only queries over the ledger for the API's certificate list: search, status filter and
//! paging. Pure functions of the ledger and `now`; nothing here changes the store.

use std::time::SystemTime;

use amt_pki::ledger::unix;
use amt_pki::{CertState, Ledger, LedgerEntry, PkiError, Purpose, Serial};

use super::{PkiStore, PkiStoreError};

/// Longest search text accepted (the API refuses longer ones before asking).
pub const MAX_QUERY_LEN: usize = 256;

/// Most entries one page holds.
pub const MAX_PAGE: usize = 500;

/// Where a certificate stands, as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertStatus {
    /// In force: within its validity, not revoked (a superseded certificate that is not
    /// revoked yet still counts).
    Valid,
    /// On its CA's CRL.
    Revoked,
    /// Past its end of validity, not revoked.
    Expired,
    /// A device certificate signed but not (yet) confirmed installed on the device.
    Pending,
}

impl CertStatus {
    /// Every status.
    pub const ALL: [CertStatus; 4] = [
        CertStatus::Valid,
        CertStatus::Revoked,
        CertStatus::Expired,
        CertStatus::Pending,
    ];

    /// The name in the API (`valid`, `revoked`, `expired`, `pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Valid => "valid",
            CertStatus::Revoked => "revoked",
            CertStatus::Expired => "expired",
            CertStatus::Pending => "pending",
        }
    }

    /// The status a name stands for.
    pub fn parse(s: &str) -> Option<CertStatus> {
        CertStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The status of a ledger entry at `now` (seconds since the Unix epoch). Revocation wins
    /// over expiry; only device certificates can be pending (other certificates are never
    /// confirmed installed by a device).
    pub fn of(entry: &LedgerEntry, now: u64) -> CertStatus {
        match entry.state {
            CertState::Revoked { .. } => CertStatus::Revoked,
            _ if entry.not_after <= now => CertStatus::Expired,
            CertState::Issued if entry.purpose == Purpose::DeviceTls => CertStatus::Pending,
            _ => CertStatus::Valid,
        }
    }
}

/// A search of the ledger.
#[derive(Debug, Clone, Default)]
pub struct CertQuery<'a> {
    /// Case-insensitive text looked for in the subject, the SAN DNS names, the serial (hex,
    /// colons ignored) and the device UUID.
    pub text: Option<&'a str>,
    /// Only certificates with this status.
    pub status: Option<CertStatus>,
    /// Page size (at most [`MAX_PAGE`]; 0 counts as 1).
    pub limit: usize,
    /// The serial of the last entry of the previous page: the page starts after it.
    pub after: Option<&'a Serial>,
}

/// One page of a search, newest certificate first.
#[derive(Debug, Clone)]
pub struct CertPage<'a> {
    /// The entries with their status.
    pub entries: Vec<(&'a LedgerEntry, CertStatus)>,
    /// How many entries match the search (on every page).
    pub total: usize,
    /// The cursor for the next page (`after`), when there is one.
    pub next: Option<Serial>,
}

/// The lower-cased search text, with colons dropped when it looks like a serial written
/// `AB:CD:…`.
struct Needle {
    text: String,
    serial: String,
}

impl Needle {
    fn new(text: &str) -> Needle {
        let text = text.trim().to_ascii_lowercase();
        let serial = text.chars().filter(|c| *c != ':').collect();
        Needle { text, serial }
    }

    fn matches(&self, e: &LedgerEntry) -> bool {
        contains_ci(e.subject.as_bytes(), self.text.as_bytes())
            || e.sans
                .iter()
                .any(|s| contains_ci(s.as_bytes(), self.text.as_bytes()))
            || (!self.serial.is_empty() && self.serial_matches(&e.serial))
            || e.device
                .as_deref()
                .is_some_and(|d| contains_ci(d.as_bytes(), self.text.as_bytes()))
    }

    /// The serial in hex (written on the stack: a search visits every entry).
    fn serial_matches(&self, serial: &Serial) -> bool {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = serial.as_bytes();
        let mut buf = [0u8; 2 * MAX_SERIAL];
        let n = bytes.len().min(MAX_SERIAL);
        for (i, b) in bytes[..n].iter().enumerate() {
            buf[2 * i] = HEX[usize::from(b >> 4)];
            buf[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        contains_ci(&buf[..2 * n], self.serial.as_bytes())
    }
}

/// Longest serial RFC 5280 allows (20 octets).
const MAX_SERIAL: usize = 20;

/// Whether `hay` contains `needle` (already lower case), ignoring ASCII case. Candidates are
/// found by the first byte before the rest is compared.
fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let upper = first.to_ascii_uppercase();
    hay[..=hay.len() - needle.len()]
        .iter()
        .enumerate()
        .any(|(i, &b)| {
            (b == first || b == upper) && hay[i + 1..i + needle.len()].eq_ignore_ascii_case(rest)
        })
}

/// Searches `ledger` at `now`: the matching entries newest first, one page of them.
///
/// An `after` serial that is not in the ledger is [`PkiError::UnknownSerial`].
pub fn search<'a>(
    ledger: &'a Ledger,
    query: &CertQuery<'_>,
    now: SystemTime,
) -> Result<CertPage<'a>, PkiError> {
    let now = unix(now);
    let limit = query.limit.clamp(1, MAX_PAGE);
    let needle = query.text.filter(|t| !t.trim().is_empty()).map(Needle::new);
    // Newest first; with a cursor, start after the cursor's position.
    let start = match query.after {
        None => 0,
        Some(after) => {
            let pos = ledger
                .entries
                .iter()
                .rposition(|e| &e.serial == after)
                .ok_or_else(|| PkiError::UnknownSerial {
                    serial: after.to_hex(),
                })?;
            ledger.entries.len() - pos
        }
    };
    let matching = |e: &&'a LedgerEntry| -> Option<(&'a LedgerEntry, CertStatus)> {
        let status = CertStatus::of(e, now);
        let wanted = query.status.is_none_or(|s| s == status)
            && needle.as_ref().is_none_or(|n| n.matches(e));
        wanted.then_some((*e, status))
    };
    let mut total = 0;
    let mut entries = Vec::new();
    let mut more = false;
    for (i, e) in ledger.entries.iter().rev().enumerate() {
        let Some(hit) = matching(&e) else {
            continue;
        };
        total += 1;
        if i < start {
            continue;
        }
        if entries.len() < limit {
            entries.push(hit);
        } else {
            more = true;
        }
    }
    let next = if more {
        entries.last().map(|(e, _)| e.serial.clone())
    } else {
        None
    };
    Ok(CertPage {
        entries,
        total,
        next,
    })
}

impl PkiStore {
    /// Searches the ledger (see [`search`]).
    pub fn search_certificates(
        &self,
        query: &CertQuery<'_>,
        now: SystemTime,
    ) -> Result<CertPage<'_>, PkiStoreError> {
        Ok(search(&self.ledger, query, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amt_pki::ledger::from_unix;
    use amt_pki::{CaRole, RevocationReason};

    fn entry(n: u8, subject: &str, state: CertState, not_after: u64) -> LedgerEntry {
        LedgerEntry {
            serial: Serial::from_bytes(&[0x10, n]),
            subject: subject.to_owned(),
            purpose: Purpose::DeviceTls,
            issuer: CaRole::Issuing,
            device: Some(format!("8086e000-0000-4000-8000-0000000000{n:02x}")),
            issued_at: 100,
            not_before: Some(100),
            not_after,
            sans: vec![format!("dev{n}.amt.test")],
            state,
            superseded_by: None,
        }
    }

    fn ledger() -> Ledger {
        Ledger {
            entries: vec![
                entry(1, "CN=dev1.amt.test", CertState::Installed { at: 5 }, 1000),
                entry(2, "CN=dev2.amt.test", CertState::Issued, 1000),
                entry(
                    3,
                    "CN=dev3.amt.test",
                    CertState::Revoked {
                        at: 7,
                        reason: RevocationReason::KeyCompromise,
                    },
                    1000,
                ),
                entry(4, "CN=dev4.amt.test", CertState::Installed { at: 5 }, 50),
                entry(
                    0x11,
                    "CN=Dev11.AMT.test",
                    CertState::Installed { at: 5 },
                    1000,
                ),
            ],
        }
    }

    fn serials(p: &CertPage<'_>) -> Vec<String> {
        p.entries.iter().map(|(e, _)| e.serial.to_hex()).collect()
    }

    #[test]
    fn statuses_follow_state_and_expiry() {
        let l = ledger();
        let got: Vec<CertStatus> = l.entries.iter().map(|e| CertStatus::of(e, 500)).collect();
        assert_eq!(
            got,
            [
                CertStatus::Valid,
                CertStatus::Pending,
                CertStatus::Revoked,
                CertStatus::Expired,
                CertStatus::Valid
            ]
        );
        for s in CertStatus::ALL {
            assert_eq!(CertStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CertStatus::parse("VALID"), None);
    }

    #[test]
    fn search_matches_subject_san_serial_and_uuid_ignoring_case() {
        let l = ledger();
        let q = |t| CertQuery {
            text: Some(t),
            limit: 100,
            ..CertQuery::default()
        };
        let now = from_unix(500);
        assert_eq!(serials(&search(&l, &q("DEV2.amt"), now).unwrap()), ["1002"]);
        assert_eq!(
            serials(&search(&l, &q("dev11.amt"), now).unwrap()),
            ["1011"]
        );
        assert_eq!(serials(&search(&l, &q("10:03"), now).unwrap()), ["1003"]);
        assert_eq!(
            serials(&search(&l, &q("000000000004"), now).unwrap()),
            ["1004"]
        );
        assert_eq!(search(&l, &q("nowhere"), now).unwrap().total, 0);
    }

    #[test]
    fn pages_are_newest_first_and_follow_the_cursor() {
        let l = ledger();
        let now = from_unix(500);
        let mut q = CertQuery {
            limit: 2,
            ..CertQuery::default()
        };
        let p1 = search(&l, &q, now).unwrap();
        assert_eq!(serials(&p1), ["1011", "1004"]);
        assert_eq!(p1.total, 5);
        let next = p1.next.clone().unwrap();
        q.after = Some(&next);
        let p2 = search(&l, &q, now).unwrap();
        assert_eq!(serials(&p2), ["1003", "1002"]);
        let next2 = p2.next.clone().unwrap();
        q.after = Some(&next2);
        let p3 = search(&l, &q, now).unwrap();
        assert_eq!(serials(&p3), ["1001"]);
        assert!(p3.next.is_none());
        let unknown = Serial::from_bytes(&[0xff]);
        q.after = Some(&unknown);
        assert!(search(&l, &q, now).is_err());
    }

    #[test]
    fn status_filter_and_cursor_combine() {
        let l = ledger();
        let now = from_unix(500);
        let q = CertQuery {
            status: Some(CertStatus::Valid),
            limit: 1,
            ..CertQuery::default()
        };
        let p1 = search(&l, &q, now).unwrap();
        assert_eq!(serials(&p1), ["1011"]);
        assert_eq!(p1.total, 2);
        let next = p1.next.clone().unwrap();
        let p2 = search(
            &l,
            &CertQuery {
                after: Some(&next),
                ..q.clone()
            },
            now,
        )
        .unwrap();
        assert_eq!(serials(&p2), ["1001"]);
        assert!(p2.next.is_none());
    }
}
