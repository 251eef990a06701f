//! What to send a device to apply or remove a policy, decided from what it holds.
//!
//! Apply is idempotent: the caller reads the device first, and the plan keeps what already
//! matches. A filter identical to an intended one (same name and headers) that the policy
//! already uses, or that no policy uses (left over by an interrupted apply), is reused; the rest
//! are created. The policy is created, replaced (Put) when its properties or filter list differ,
//! or kept. Duplicate policies of the same name and associations with ports the intent does not
//! name are removed, missing associations created and disabled ones enabled. Filters the policy
//! no longer uses (and no other policy uses) are deleted last, once nothing references them.
//!
//! The caller performs the steps in this order:
//! 1. create the filters marked [`FilterSource::Create`] (their handles come back in the
//!    `InstanceID` of the answer);
//! 2. [`PolicyStep`]: create or Put the policy over the handles, in filter order;
//! 3. delete the associations in [`ApplyPlan::unbind`];
//! 4. delete the policies in [`ApplyPlan::delete_policies`];
//! 5. [`BindingStep`]s;
//! 6. delete the filters in [`ApplyPlan::delete_filters`].

use super::wire::{DeviceBinding, DeviceDefense, DevicePolicy, FilterClass};
use super::{DefensePolicy, Port};

/// Where the device filter for one intended filter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterSource {
    /// An identical filter is on the device: use its handle.
    Reuse {
        /// Its handle.
        handle: u32,
    },
    /// Create it.
    Create,
}

/// What to do with the policy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyStep {
    /// Create it.
    Create,
    /// Replace it (Put) by `InstanceID`.
    Update {
        /// The policy's `InstanceID`.
        instance_id: String,
    },
    /// It already matches.
    Keep {
        /// The policy's `InstanceID`.
        instance_id: String,
    },
}

/// One change to the policy's port associations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingStep {
    /// Create the association with this port (enabled).
    Create {
        /// The port.
        port: Port,
    },
    /// Enable an existing, disabled association (Put).
    Enable {
        /// The association as read.
        binding: DeviceBinding,
    },
}

/// The steps that make a device hold a policy (see the module docs for their order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyPlan {
    /// Per intended filter, in order.
    pub filters: Vec<FilterSource>,
    /// The policy.
    pub policy: PolicyStep,
    /// Associations to delete: with ports the intent does not name, and those of duplicate
    /// policies.
    pub unbind: Vec<DeviceBinding>,
    /// Duplicate policies of the same name to delete (`InstanceID`s).
    pub delete_policies: Vec<String>,
    /// Associations to create or enable.
    pub bind: Vec<BindingStep>,
    /// Filters to delete once no policy uses them: (class, `InstanceID`).
    pub delete_filters: Vec<(FilterClass, String)>,
}

impl ApplyPlan {
    /// Plans applying `intent` (validated) to a device holding `device`.
    pub fn new(intent: &DefensePolicy, device: &DeviceDefense) -> ApplyPlan {
        let named: Vec<&DevicePolicy> = device.policies_named(&intent.name).collect();
        let kept = named.first().copied();
        let ours: Vec<&str> = named.iter().map(|p| p.instance_id.as_str()).collect();

        // Reuse identical filters: first those the kept policy uses, then unused ones.
        let kept_handles: &[u32] = kept.map_or(&[], |p| &p.filter_handles);
        let unused = |h: u32| {
            !device
                .policies
                .iter()
                .any(|p| p.filter_handles.contains(&h))
        };
        let mut taken: Vec<u32> = Vec::new();
        let mut filters = Vec::with_capacity(intent.filters.len());
        for want in &intent.filters {
            let fits = |h: u32| {
                !taken.contains(&h)
                    && device
                        .filter(h)
                        .is_some_and(|f| f.filter.as_ref().is_ok_and(|f| f == want))
            };
            let found = kept_handles.iter().copied().find(|h| fits(*h)).or_else(|| {
                device
                    .filters
                    .iter()
                    .filter_map(|f| f.handle)
                    .find(|h| unused(*h) && fits(*h))
            });
            match found {
                Some(handle) => {
                    taken.push(handle);
                    filters.push(FilterSource::Reuse { handle });
                }
                None => filters.push(FilterSource::Create),
            }
        }

        let policy = match kept {
            None => PolicyStep::Create,
            Some(p) => {
                let all_reused = filters
                    .iter()
                    .all(|f| matches!(f, FilterSource::Reuse { .. }));
                let same = all_reused
                    && p.filter_handles == taken
                    && p.precedence == intent.precedence
                    && p.rx_default == intent.rx_default
                    && p.tx_default == intent.tx_default
                    && p.anti_spoofing == intent.anti_spoofing;
                if same {
                    PolicyStep::Keep {
                        instance_id: p.instance_id.clone(),
                    }
                } else {
                    PolicyStep::Update {
                        instance_id: p.instance_id.clone(),
                    }
                }
            }
        };

        let mut unbind = Vec::new();
        let mut bind = Vec::new();
        match kept {
            None => bind.extend(
                intent
                    .ports
                    .iter()
                    .map(|p| BindingStep::Create { port: *p }),
            ),
            Some(p) => {
                let mine: Vec<&DeviceBinding> = device.bindings_of(&p.instance_id).collect();
                for b in &mine {
                    if !b.port.is_some_and(|port| intent.ports.contains(&port)) {
                        unbind.push((*b).clone());
                    }
                }
                for port in &intent.ports {
                    match mine.iter().find(|b| b.port == Some(*port)) {
                        None => bind.push(BindingStep::Create { port: *port }),
                        Some(b) if !b.enabled => bind.push(BindingStep::Enable {
                            binding: (*b).clone(),
                        }),
                        Some(_) => {}
                    }
                }
            }
        }
        let duplicates: Vec<&DevicePolicy> = named.iter().skip(1).copied().collect();
        for d in &duplicates {
            unbind.extend(device.bindings_of(&d.instance_id).cloned());
        }

        // Filters our policies used that the new list does not: delete when no other policy
        // uses them.
        let mut delete_filters = Vec::new();
        for p in &named {
            for h in &p.filter_handles {
                if taken.contains(h) || device.used_by_other(*h, &ours) {
                    continue;
                }
                if let Some(f) = device.filter(*h) {
                    let key = (f.class, f.instance_id.clone());
                    if !delete_filters.contains(&key) {
                        delete_filters.push(key);
                    }
                }
            }
        }

        ApplyPlan {
            filters,
            policy,
            unbind,
            delete_policies: duplicates.iter().map(|p| p.instance_id.clone()).collect(),
            bind,
            delete_filters,
        }
    }

    /// Nothing to send: the device already holds the policy as intended.
    pub fn is_empty(&self) -> bool {
        self.filters
            .iter()
            .all(|f| matches!(f, FilterSource::Reuse { .. }))
            && matches!(self.policy, PolicyStep::Keep { .. })
            && self.unbind.is_empty()
            && self.delete_policies.is_empty()
            && self.bind.is_empty()
            && self.delete_filters.is_empty()
    }

    /// How many filters it creates.
    pub fn creates(&self) -> usize {
        self.filters
            .iter()
            .filter(|f| matches!(f, FilterSource::Create))
            .count()
    }
}

/// The steps that take a policy off a device: delete its associations (disable), the policies
/// of that name, then the filters only they used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovePlan {
    /// Associations to delete first.
    pub unbind: Vec<DeviceBinding>,
    /// Policies to delete (`InstanceID`s).
    pub delete_policies: Vec<String>,
    /// Filters to delete last: (class, `InstanceID`).
    pub delete_filters: Vec<(FilterClass, String)>,
}

impl RemovePlan {
    /// Plans removing every policy named `name` from a device holding `device`.
    pub fn new(name: &str, device: &DeviceDefense) -> RemovePlan {
        let named: Vec<&DevicePolicy> = device.policies_named(name).collect();
        let ours: Vec<&str> = named.iter().map(|p| p.instance_id.as_str()).collect();
        let mut plan = RemovePlan {
            unbind: Vec::new(),
            delete_policies: ours.iter().map(|s| (*s).to_owned()).collect(),
            delete_filters: Vec::new(),
        };
        for p in &named {
            plan.unbind
                .extend(device.bindings_of(&p.instance_id).cloned());
            for h in &p.filter_handles {
                if device.used_by_other(*h, &ours) {
                    continue;
                }
                if let Some(f) = device.filter(*h) {
                    let key = (f.class, f.instance_id.clone());
                    if !plan.delete_filters.contains(&key) {
                        plan.delete_filters.push(key);
                    }
                }
            }
        }
        plan
    }

    /// Nothing to remove: no policy of that name is on the device.
    pub fn is_empty(&self) -> bool {
        self.delete_policies.is_empty()
    }
}
