//! CRL push (M10): a device has no room for CRL files, so it holds lists of revoked serial
//! numbers (`AMT_PublicKeyManagementService.AddCRL`, read back as `AMT_CRL` instances) and checks
//! client certificates against them. The console computes the serials relevant to the device
//! (amt-pki's `cas_trusted_by_device` + `serials_for_device`: entries of the verified CRLs of
//! the CAs the device's trust reaches) and pushes them whenever the device holds something
//! else: `ResetCRLList`, then one `AddCRL` per list of at most [`MAX_SERIALS_PER_LIST`].

use std::collections::BTreeSet;

use amt_pki::Serial;
use base64::Engine as _;

/// Most serials one `AddCRL` list holds (AMT firmware keeps about a thousand per list).
pub const MAX_SERIALS_PER_LIST: usize = 1024;

/// Most lists a device keeps.
pub const MAX_LISTS: usize = 16;

/// What to do with one device's CRL lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlPlan {
    /// The device already holds exactly the wanted serials: nothing to send.
    UpToDate,
    /// `ResetCRLList`, then one `AddCRL` per list (none when nothing is revoked).
    Push {
        /// The lists, each serial base64 as `AddCRL` takes it.
        lists: Vec<Vec<String>>,
        /// Serials left out because the device cannot hold more.
        dropped: usize,
    },
}

/// The serials a device holds now, from its `AMT_CRL` instances' `SerialNumbers` (base64).
/// Entries that do not decode are kept as unreadable, so the sets differ and the device gets a
/// clean list.
pub fn held_serials<'a>(lists: impl IntoIterator<Item = &'a [String]>) -> (BTreeSet<Serial>, bool) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = BTreeSet::new();
    let mut unreadable = false;
    for list in lists {
        for s in list {
            match b64.decode(s.trim()) {
                Ok(bytes) if !bytes.is_empty() => {
                    out.insert(Serial::from_bytes(&bytes));
                }
                _ => unreadable = true,
            }
        }
    }
    (out, unreadable)
}

/// Decides whether to push: compares what the device holds (`held`: its `AMT_CRL` lists) with
/// the serials it should hold (`wanted`). Order and list boundaries do not matter; a device
/// that holds the same set is left alone.
pub fn plan(held: &[Vec<String>], wanted: &[Serial]) -> CrlPlan {
    let (have, unreadable) = held_serials(held.iter().map(Vec::as_slice));
    let want: BTreeSet<Serial> = wanted.iter().cloned().collect();
    let capacity = MAX_LISTS * MAX_SERIALS_PER_LIST;
    let dropped = want.len().saturating_sub(capacity);
    let kept: Vec<String> = want.iter().take(capacity).map(Serial::to_base64).collect();
    let kept_set: BTreeSet<Serial> = want.iter().take(capacity).cloned().collect();
    if !unreadable && have == kept_set {
        return CrlPlan::UpToDate;
    }
    CrlPlan::Push {
        lists: kept
            .chunks(MAX_SERIALS_PER_LIST)
            .map(<[String]>::to_vec)
            .collect(),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> Serial {
        Serial::from_bytes(&n.to_be_bytes())
    }

    fn b64(n: u32) -> String {
        s(n).to_base64()
    }

    #[test]
    fn a_device_holding_the_wanted_serials_is_left_alone_whatever_their_order() {
        let held = vec![vec![b64(3), b64(1)], vec![b64(2)]];
        assert_eq!(plan(&held, &[s(1), s(2), s(3)]), CrlPlan::UpToDate);
    }

    #[test]
    fn a_new_revocation_is_pushed_as_the_whole_list() {
        let held = vec![vec![b64(1)]];
        assert_eq!(
            plan(&held, &[s(1), s(2)]),
            CrlPlan::Push {
                lists: vec![vec![b64(1), b64(2)]],
                dropped: 0
            }
        );
    }

    #[test]
    fn nothing_revoked_and_nothing_held_is_up_to_date_but_stale_lists_are_reset() {
        assert_eq!(plan(&[], &[]), CrlPlan::UpToDate);
        assert_eq!(
            plan(&[vec![b64(9)]], &[]),
            CrlPlan::Push {
                lists: vec![],
                dropped: 0
            }
        );
        // An empty list left on the device (an earlier AddCRL of nothing) needs no reset.
        assert_eq!(plan(&[vec![]], &[]), CrlPlan::UpToDate);
    }

    #[test]
    fn unreadable_entries_on_the_device_force_a_clean_push() {
        let held = vec![vec![b64(1), "***".into()]];
        assert!(matches!(plan(&held, &[s(1)]), CrlPlan::Push { .. }));
    }

    #[test]
    fn leading_zero_bytes_do_not_make_a_difference() {
        // The device may echo a serial with a sign byte.
        let padded = base64::engine::general_purpose::STANDARD.encode([0u8, 0x80, 0x01]);
        let wanted = Serial::from_bytes(&[0x80, 0x01]);
        assert_eq!(plan(&[vec![padded]], &[wanted]), CrlPlan::UpToDate);
    }

    #[test]
    fn long_lists_are_split_and_capped_at_what_the_device_holds() {
        let wanted: Vec<Serial> = (1..=(MAX_LISTS * MAX_SERIALS_PER_LIST + 5) as u32)
            .map(s)
            .collect();
        let CrlPlan::Push { lists, dropped } = plan(&[], &wanted) else {
            panic!("expected a push");
        };
        assert_eq!(lists.len(), MAX_LISTS);
        assert!(lists.iter().all(|l| l.len() == MAX_SERIALS_PER_LIST));
        assert_eq!(dropped, 5);
        let small = plan(&[], &(1..=1500).map(s).collect::<Vec<_>>());
        let CrlPlan::Push { lists, .. } = small else {
            panic!("expected a push");
        };
        assert_eq!(
            lists.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1024, 476]
        );
    }
}
