//! FQDN discovery (P2): ordered, pluggable strategies with conflicts recorded.
//!
//! The I/O (a PTR lookup and its forward confirmation, a Get of `AMT_GeneralSettings`, the
//! operator's mapping table) happens outside; [`FqdnDiscovery`] takes each strategy's result
//! and decides. The first strategy in the configured order that produced a name wins; every
//! other strategy that produced a *different* name is recorded as a [`Conflict`] for the
//! operator. A reverse-DNS name that the forward lookup does not confirm is not a name at all
//! (it is recorded as unconfirmed, never chosen).

use std::collections::BTreeMap;

use crate::domain::Fqdn;

/// A discovery strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// PTR of the hello's source address, confirmed by A/AAAA of the result.
    ReverseDns,
    /// `AMT_GeneralSettings` HostName + DomainName read from the device.
    DeviceSettings,
    /// An operator-supplied mapping by UUID.
    OperatorMapping,
    /// The DHCP server's lease (host name + domain).
    DhcpLease,
}

impl Strategy {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::ReverseDns => "reverse DNS",
            Strategy::DeviceSettings => "device settings",
            Strategy::OperatorMapping => "operator mapping",
            Strategy::DhcpLease => "DHCP lease",
        }
    }
}

/// What one strategy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A name.
    Name(Fqdn),
    /// Reverse DNS found `ptr` but the forward lookup of `ptr` did not return the address.
    Unconfirmed {
        /// The PTR name.
        ptr: String,
    },
    /// Nothing (no PTR, empty settings, no mapping).
    Nothing,
    /// The strategy failed (lookup error, device unreachable); the reason in words.
    Failed(String),
}

/// Two strategies that named the device differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The strategy whose name was chosen.
    pub chosen_by: Strategy,
    /// The chosen name.
    pub chosen: Fqdn,
    /// The strategy that disagrees.
    pub other: Strategy,
    /// Its name.
    pub other_name: Fqdn,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} says {} but {} says {}",
            self.chosen_by.name(),
            self.chosen,
            self.other.name(),
            self.other_name
        )
    }
}

/// The result of discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The chosen name and the strategy that gave it, if any strategy found one.
    pub chosen: Option<(Strategy, Fqdn)>,
    /// Disagreements with the chosen name.
    pub conflicts: Vec<Conflict>,
    /// Notes on strategies that found nothing usable (unconfirmed PTR, failures).
    pub notes: Vec<String>,
}

impl Discovery {
    /// A reason in words when nothing was found.
    pub fn failure_reason(&self) -> Option<String> {
        match self.chosen {
            Some(_) => None,
            None if self.notes.is_empty() => Some("no strategy found an FQDN".into()),
            None => Some(format!(
                "no strategy found an FQDN: {}",
                self.notes.join("; ")
            )),
        }
    }
}

/// Collects strategy findings and decides in the configured order.
#[derive(Debug, Clone)]
pub struct FqdnDiscovery {
    order: Vec<Strategy>,
    findings: BTreeMap<Strategy, Finding>,
}

impl FqdnDiscovery {
    /// Discovery with strategies tried in `order` (duplicates are ignored).
    pub fn new(order: &[Strategy]) -> Self {
        let mut o = Vec::new();
        for s in order {
            if !o.contains(s) {
                o.push(*s);
            }
        }
        FqdnDiscovery {
            order: o,
            findings: BTreeMap::new(),
        }
    }

    /// The strategies in order.
    pub fn order(&self) -> &[Strategy] {
        &self.order
    }

    /// The strategies still without a finding, in order (what the caller should run next).
    pub fn pending(&self) -> Vec<Strategy> {
        self.order
            .iter()
            .copied()
            .filter(|s| !self.findings.contains_key(s))
            .collect()
    }

    /// Records a strategy's finding (replacing an earlier one). Findings of strategies not
    /// in the order are kept for conflict reporting only.
    pub fn record(&mut self, strategy: Strategy, finding: Finding) {
        self.findings.insert(strategy, finding);
    }

    /// Reverse DNS with forward confirmation: `ptr` is the PTR answer, `forward_confirms`
    /// whether its A/AAAA records include the source address.
    pub fn record_reverse_dns(&mut self, ptr: Option<&str>, forward_confirms: bool) {
        let finding = match ptr {
            None => Finding::Nothing,
            Some(p) if !forward_confirms => Finding::Unconfirmed { ptr: p.to_owned() },
            Some(p) => match Fqdn::new(p) {
                Ok(f) => Finding::Name(f),
                Err(e) => Finding::Failed(e.to_string()),
            },
        };
        self.record(Strategy::ReverseDns, finding);
    }

    /// `AMT_GeneralSettings` HostName and DomainName (either may be empty).
    pub fn record_device_settings(&mut self, host: &str, domain: &str) {
        let finding = if host.trim().is_empty() || domain.trim().is_empty() {
            Finding::Nothing
        } else {
            match Fqdn::from_parts(host.trim(), domain.trim()) {
                Ok(f) => Finding::Name(f),
                Err(e) => Finding::Failed(e.to_string()),
            }
        };
        self.record(Strategy::DeviceSettings, finding);
    }

    /// The operator's mapping for this UUID, if any.
    pub fn record_operator_mapping(&mut self, name: Option<&str>) {
        let finding = match name {
            None => Finding::Nothing,
            Some(n) => match Fqdn::new(n) {
                Ok(f) => Finding::Name(f),
                Err(e) => Finding::Failed(e.to_string()),
            },
        };
        self.record(Strategy::OperatorMapping, finding);
    }

    /// Decides: the first name in order wins; other names that differ are conflicts.
    pub fn decide(&self) -> Discovery {
        let mut chosen: Option<(Strategy, Fqdn)> = None;
        let mut conflicts = Vec::new();
        let mut notes = Vec::new();
        let rest = self
            .findings
            .keys()
            .filter(|s| !self.order.contains(s))
            .copied();
        for s in self.order.iter().copied().chain(rest) {
            match self.findings.get(&s) {
                Some(Finding::Name(f)) => match &chosen {
                    None if self.order.contains(&s) => chosen = Some((s, f.clone())),
                    Some((by, c)) if c != f => conflicts.push(Conflict {
                        chosen_by: *by,
                        chosen: c.clone(),
                        other: s,
                        other_name: f.clone(),
                    }),
                    _ => {}
                },
                Some(Finding::Unconfirmed { ptr }) => notes.push(format!(
                    "{}: {ptr} is not confirmed by its forward lookup",
                    s.name()
                )),
                Some(Finding::Failed(why)) => notes.push(format!("{}: {why}", s.name())),
                Some(Finding::Nothing) | None => {}
            }
        }
        Discovery {
            chosen,
            conflicts,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Fqdn {
        Fqdn::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn first_strategy_in_order_wins_and_disagreement_is_recorded() {
        let mut d = FqdnDiscovery::new(&[
            Strategy::OperatorMapping,
            Strategy::ReverseDns,
            Strategy::DeviceSettings,
        ]);
        d.record_operator_mapping(None);
        d.record_reverse_dns(Some("pc7.corp.example"), true);
        d.record_device_settings("pc7", "lab.example");
        let r = d.decide();
        assert_eq!(
            r.chosen,
            Some((Strategy::ReverseDns, f("pc7.corp.example")))
        );
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(
            r.conflicts[0].to_string(),
            "reverse DNS says pc7.corp.example but device settings says pc7.lab.example"
        );
    }

    #[test]
    fn unconfirmed_ptr_is_never_chosen() {
        let mut d = FqdnDiscovery::new(&[Strategy::ReverseDns, Strategy::DeviceSettings]);
        d.record_reverse_dns(Some("spoofed.evil.example"), false);
        d.record_device_settings("", "");
        let r = d.decide();
        assert_eq!(r.chosen, None);
        assert!(r
            .failure_reason()
            .is_some_and(|m| m.contains("spoofed.evil.example is not confirmed")));
        assert_eq!(d.pending(), Vec::<Strategy>::new());
    }

    #[test]
    fn same_name_from_two_strategies_is_no_conflict() {
        let mut d = FqdnDiscovery::new(&[Strategy::DeviceSettings, Strategy::OperatorMapping]);
        d.record_device_settings("pc7", "corp.example");
        assert_eq!(d.pending(), vec![Strategy::OperatorMapping]);
        d.record_operator_mapping(Some("PC7.corp.example."));
        let r = d.decide();
        assert!(r.conflicts.is_empty());
        assert_eq!(r.chosen.map(|c| c.0), Some(Strategy::DeviceSettings));
    }
}
