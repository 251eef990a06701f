//! System Defense on one device (M3): read back, apply and remove a named policy over a
//! [`WsmanClient`]. What to send is decided by `amtd_core::defense` ([`ApplyPlan`],
//! [`RemovePlan`]); this module sends it, one request at a time, and checks the result by
//! reading the device again.
//!
//! - [`read_back`] enumerates `AMT_SystemDefensePolicy`, `AMT_Hdr8021Filter`,
//!   `AMT_IPHeadersFilter` and `AMT_NetworkPortSystemDefensePolicy` into a [`DeviceDefense`].
//! - [`apply`] is idempotent: it reads first, sends only what the plan asks for (nothing when
//!   the device already matches), then reads again and compares with the intent; a device
//!   that reads back differently is an error ([`DefenseError::NotApplied`]). An apply cut off
//!   half-way leaves at worst unused filters, which the next apply reuses.
//! - [`remove`] deletes the policy's port associations, the policy (every policy of that name)
//!   and the filters only it used, then reads again to check they are gone.
//!
//! The operations take one client, so the console's fleet executor drives them with its own
//! per-device bound and timeout.

use std::time::Duration;

use amt_wsman::classes::amt::{
    AmtHdr8021Filter, AmtIpHeadersFilter, AmtNetworkPortSystemDefensePolicy, AmtSystemDefensePolicy,
};
use amt_wsman::fault::Subcode;
use amt_wsman::{EndpointReference, SelectorSet};
use amtd_core::defense::{
    binding_to_amt, compare, handle_of, ApplyPlan, BindingStep, DefensePolicy, DeviceDefense,
    Difference, FilterClass, FilterInstance, FilterSource, InvalidPolicy, PolicyStep, RemovePlan,
};

use crate::client::{WsmanClient, WsmanError};
use crate::transport::Blame;

/// Why a System Defense operation on one device failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DefenseError {
    /// The policy is invalid; nothing was sent.
    #[error(transparent)]
    Invalid(#[from] InvalidPolicy),
    /// A WS-Management exchange failed (see [`WsmanError`] for who failed).
    #[error("{step}: {}", explain(source))]
    Wsman {
        /// What was being done, in words.
        step: String,
        /// The failure.
        #[source]
        source: Box<WsmanError>,
    },
    /// The device answered a Create without a usable `InstanceID`.
    #[error("{step}: the device's answer names no handle")]
    NoHandle {
        /// What was being created.
        step: String,
    },
    /// Everything was sent, but the device reads back differently from the intent.
    #[error("the device reads back differently: {}", words(differences))]
    NotApplied {
        /// How it differs.
        differences: Vec<Difference>,
    },
    /// Everything was sent, but a policy of that name is still on the device.
    #[error("policy {name} is still on the device after removal")]
    NotRemoved {
        /// The policy's name.
        name: String,
    },
}

fn words(d: &[Difference]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn explain(e: &WsmanError) -> String {
    match e {
        WsmanError::Fault(f) if f.subcode == Some(Subcode::AccessDenied) => {
            format!("{e} (System Defense needs the device in admin control mode and an admin user)")
        }
        _ => e.to_string(),
    }
}

impl DefenseError {
    fn wsman(step: impl Into<String>) -> impl FnOnce(WsmanError) -> DefenseError {
        let step = step.into();
        move |source| DefenseError::Wsman {
            step,
            source: Box::new(source),
        }
    }

    /// Who most likely failed.
    pub fn blame(&self) -> Blame {
        match self {
            DefenseError::Invalid(_) => Blame::Caller,
            DefenseError::Wsman { source, .. } => match &**source {
                WsmanError::Transport(t) => t.blame(),
                _ => Blame::Device,
            },
            _ => Blame::Device,
        }
    }

    /// Whether trying again later can help (the device was unreachable or slow).
    pub fn is_retryable(&self) -> bool {
        match self {
            DefenseError::Wsman { source, .. } => match &**source {
                WsmanError::Transport(t) => t.is_retryable() || t.request_may_have_been_processed(),
                _ => false,
            },
            _ => false,
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Whether anything was sent (false: the device already held the policy).
    pub changed: bool,
    /// Filters created.
    pub filters_created: usize,
    /// Filters deleted (replaced or no longer in the policy).
    pub filters_deleted: usize,
    /// `created`, `updated` or `unchanged`.
    pub policy: &'static str,
    /// The device's state afterwards (it matches the intent).
    pub device: DeviceDefense,
}

/// What [`remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveOutcome {
    /// Whether a policy of that name was on the device.
    pub found: bool,
    /// Policies deleted.
    pub policies_deleted: usize,
    /// Filters deleted.
    pub filters_deleted: usize,
    /// Port associations deleted.
    pub ports_disabled: usize,
}

/// Reads the device's System Defense state.
pub async fn read_back(client: &WsmanClient) -> Result<DeviceDefense, DefenseError> {
    let mut all = Vec::with_capacity(4);
    for class in [
        "AMT_SystemDefensePolicy",
        "AMT_Hdr8021Filter",
        "AMT_IPHeadersFilter",
        "AMT_NetworkPortSystemDefensePolicy",
    ] {
        all.push(
            client
                .enumerate_instances(class)
                .await
                .map_err(DefenseError::wsman(format!("reading {class}")))?,
        );
    }
    Ok(DeviceDefense::from_amt(&all[0], &all[1], &all[2], &all[3]))
}

/// Reads the device and compares it with `intent`.
pub async fn check(
    client: &WsmanClient,
    intent: &DefensePolicy,
) -> Result<(DeviceDefense, Vec<Difference>), DefenseError> {
    let device = read_back(client).await?;
    let differences = compare(intent, &device);
    Ok((device, differences))
}

fn timeout(client: &WsmanClient) -> Duration {
    client.connection().config().request_timeout
}

async fn delete_filter(
    client: &WsmanClient,
    class: FilterClass,
    instance_id: &str,
) -> Result<(), DefenseError> {
    let sel = SelectorSet::one("InstanceID", instance_id);
    let step = format!("deleting {} {instance_id}", class.class_name());
    match class {
        FilterClass::Ethernet => client.delete::<AmtHdr8021Filter>(sel).await,
        FilterClass::Ip => client.delete::<AmtIpHeadersFilter>(sel).await,
    }
    .map_err(DefenseError::wsman(step))
}

fn created_handle(epr: &EndpointReference, step: &str) -> Result<u32, DefenseError> {
    epr.selectors
        .get("InstanceID")
        .and_then(handle_of)
        .ok_or_else(|| DefenseError::NoHandle { step: step.into() })
}

/// Makes the device hold `intent` (validated first), enabled and active on its ports. Sends
/// nothing when it already does.
pub async fn apply(
    client: &WsmanClient,
    intent: &DefensePolicy,
) -> Result<ApplyOutcome, DefenseError> {
    let intent = intent.clone().validated()?;
    let before = read_back(client).await?;
    let plan = ApplyPlan::new(&intent, &before);
    if plan.is_empty() {
        return Ok(ApplyOutcome {
            changed: false,
            filters_created: 0,
            filters_deleted: 0,
            policy: "unchanged",
            device: before,
        });
    }
    tracing::debug!(policy = %intent.name, creates = plan.creates(), "applying System Defense policy");

    // 1. Filters.
    let mut handles = Vec::with_capacity(intent.filters.len());
    for (f, source) in intent.filters.iter().zip(&plan.filters) {
        match source {
            FilterSource::Reuse { handle } => handles.push(*handle),
            FilterSource::Create => {
                let step = format!("creating filter {}", f.name);
                let epr = match f.to_amt() {
                    FilterInstance::Ethernet(e) => client.create(&e).await,
                    FilterInstance::Ip(i) => client.create(&i).await,
                }
                .map_err(DefenseError::wsman(step.clone()))?;
                handles.push(created_handle(&epr, &step)?);
            }
        }
    }

    // 2. The policy.
    let (policy_ref, policy_word) = match &plan.policy {
        PolicyStep::Create => {
            let step = format!("creating policy {}", intent.name);
            let epr = client
                .create(&intent.to_amt(&handles, None))
                .await
                .map_err(DefenseError::wsman(step.clone()))?;
            let id = epr
                .selectors
                .get("InstanceID")
                .ok_or_else(|| DefenseError::NoHandle { step })?
                .to_owned();
            (policy_epr(&id), "created")
        }
        PolicyStep::Update { instance_id } => {
            client
                .put(
                    &intent.to_amt(&handles, Some(instance_id.clone())),
                    SelectorSet::one("InstanceID", instance_id),
                    timeout(client),
                )
                .await
                .map_err(DefenseError::wsman(format!(
                    "updating policy {}",
                    intent.name
                )))?;
            (policy_epr(instance_id), "updated")
        }
        PolicyStep::Keep { instance_id } => (policy_epr(instance_id), "unchanged"),
    };

    // 3–4. Associations that must go, then duplicate policies.
    for b in &plan.unbind {
        client
            .delete::<AmtNetworkPortSystemDefensePolicy>(b.selectors())
            .await
            .map_err(DefenseError::wsman(format!(
                "disabling a policy on port {}",
                b.port_id
            )))?;
    }
    for id in &plan.delete_policies {
        client
            .delete::<AmtSystemDefensePolicy>(SelectorSet::one("InstanceID", id))
            .await
            .map_err(DefenseError::wsman(format!(
                "deleting duplicate policy {id}"
            )))?;
    }

    // 5. Enable on the ports.
    for step in &plan.bind {
        match step {
            BindingStep::Create { port } => {
                client
                    .create(&binding_to_amt(*port, policy_ref.clone()))
                    .await
                    .map_err(DefenseError::wsman(format!(
                        "enabling policy {} on the {port} port",
                        intent.name
                    )))?;
            }
            BindingStep::Enable { binding } => {
                client
                    .put(
                        &binding.with_enabled(true),
                        binding.selectors(),
                        timeout(client),
                    )
                    .await
                    .map_err(DefenseError::wsman(format!(
                        "enabling policy {} on port {}",
                        intent.name, binding.port_id
                    )))?;
            }
        }
    }

    // 6. Filters nothing uses any more.
    for (class, id) in &plan.delete_filters {
        delete_filter(client, *class, id).await?;
    }

    let (after, differences) = check(client, &intent).await?;
    if !differences.is_empty() {
        return Err(DefenseError::NotApplied { differences });
    }
    Ok(ApplyOutcome {
        changed: true,
        filters_created: plan.creates(),
        filters_deleted: plan.delete_filters.len(),
        policy: policy_word,
        device: after,
    })
}

fn policy_epr(instance_id: &str) -> EndpointReference {
    EndpointReference::to_class(
        "AMT_SystemDefensePolicy",
        SelectorSet::one("InstanceID", instance_id),
    )
}

/// Takes every policy named `name` off the device: its port associations, the policy and the
/// filters no other policy uses. Nothing to remove is not an error ([`RemoveOutcome::found`]).
pub async fn remove(client: &WsmanClient, name: &str) -> Result<RemoveOutcome, DefenseError> {
    let before = read_back(client).await?;
    let plan = RemovePlan::new(name, &before);
    if plan.is_empty() {
        return Ok(RemoveOutcome {
            found: false,
            policies_deleted: 0,
            filters_deleted: 0,
            ports_disabled: 0,
        });
    }
    for b in &plan.unbind {
        client
            .delete::<AmtNetworkPortSystemDefensePolicy>(b.selectors())
            .await
            .map_err(DefenseError::wsman(format!(
                "disabling policy {name} on port {}",
                b.port_id
            )))?;
    }
    for id in &plan.delete_policies {
        client
            .delete::<AmtSystemDefensePolicy>(SelectorSet::one("InstanceID", id))
            .await
            .map_err(DefenseError::wsman(format!(
                "deleting policy {name} ({id})"
            )))?;
    }
    for (class, id) in &plan.delete_filters {
        delete_filter(client, *class, id).await?;
    }
    let after = read_back(client).await?;
    if after.policies_named(name).next().is_some() {
        return Err(DefenseError::NotRemoved { name: name.into() });
    }
    Ok(RemoveOutcome {
        found: true,
        policies_deleted: plan.delete_policies.len(),
        filters_deleted: plan.delete_filters.len(),
        ports_disabled: plan.unbind.len(),
    })
}
