//! The device's firmware: a sans-IO state machine answering WS-Management requests.
//!
//! [`Firmware::handle`] takes a parsed request, who sent it over which channel, and the
//! environment (time, randomness); it returns the response and records [`FirmwareEvent`]s the
//! network front must act on (restart listeners after CommitChanges, drop the session, persist).
//! No sockets, no clock reads, no tokio.
//!
//! Requests are routed by resource family to the modules below. Each module answers the classes
//! and methods it owns and hands everything else back, so families can grow independently:
//! - [`views`]: read-only and configuration views (Get/Enumerate/Pull) of every class.
//! - [`setup`]: AMT_SetupAndConfigurationService, IPS_HostBasedSetupService, AMT_GeneralSettings.
//! - [`auth`]: AMT_AuthorizationService (admin and ACL users, realms).
//! - [`certs`]: AMT_PublicKeyManagementService, certificates, keys, TLS settings, CRLs.
//! - [`manage`]: power, time, logs, boot, redirection, opt-in, System Defense, Kerberos.

use std::collections::{HashMap, VecDeque};

use amt_wsman::classes::{Call, KnownClass, MethodCall};
use amt_wsman::envelope::{Enumerate, Pull};
use amt_wsman::fault::{FaultCode, Subcode};
use amt_wsman::{Fault, Instance, Item, Request, Response, ResponseBody, SelectorSet};

use crate::persona::Persona;
use crate::state::{DeviceState, Phase};

pub mod auth;
pub mod certs;
pub mod manage;
pub mod setup;
pub mod views;

/// Most enumerations a device keeps open at once (real firmware has a small fixed table).
pub const MAX_OPEN_ENUMERATIONS: usize = 16;
/// Seconds an unused enumeration context lives.
pub const ENUMERATION_TTL_SECS: u64 = 60;

/// How the request reached the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Plain HTTP (16992).
    Plain,
    /// TLS (16993) without a client certificate, or with one that is only authenticated.
    Tls,
    /// TLS in setup mode with an admitted provisioning certificate (remote configuration).
    TlsProvisioning {
        /// The provisioning certificate's leaf subject CN.
        cn: String,
    },
}

/// Who sent the request (after authentication by the network front).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Authenticated user name (`admin` for the administrator).
    pub user: String,
    /// The channel.
    pub channel: Channel,
}

impl Caller {
    /// True for the administrator account (all realms).
    pub fn is_admin(&self) -> bool {
        self.user == "admin"
    }
}

/// What the firmware needs from the world: the host clock and randomness.
pub struct Env<'a> {
    /// Host time, seconds since the Unix epoch.
    pub now: u64,
    /// Fills a buffer with random bytes.
    pub random: &'a mut dyn FnMut(&mut [u8]),
}

impl Env<'_> {
    /// `N` random bytes.
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        (self.random)(&mut b);
        b
    }
}

/// Something the network front must do after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareEvent {
    /// The state changed: persist it.
    StateChanged,
    /// CommitChanges succeeded: restart the listeners in the provisioned configuration
    /// (installed TLS certificate, TLS mode, plain port open or closed).
    Committed,
    /// The device went back to setup mode (Unprovision): restart listeners, resume hellos.
    Unprovisioned,
    /// Close the TCP session after sending the response (firmware quirk or fault injection).
    DropSession,
    /// The host power state changed to this CIM value.
    PowerChanged(u16),
}

struct OpenEnumeration {
    class: KnownClass,
    items: VecDeque<Instance>,
    last_used: u64,
}

/// One device's firmware.
pub struct Firmware {
    /// The persisted state.
    pub state: DeviceState,
    /// The firmware generation.
    pub persona: &'static Persona,
    counter: u64,
    next_context: u64,
    enumerations: HashMap<String, OpenEnumeration>,
    events: Vec<FirmwareEvent>,
    /// Pre-generated keys for `GenerateKeyPair` (see [`certs::KeySource`]); `None`: inline.
    key_source: Option<std::sync::Arc<dyn certs::KeySource>>,
}

/// The answer of a family module: handled, or not this module's business.
pub(crate) enum Routed<T, R> {
    /// The module produced a response body.
    Done(R),
    /// Not handled; the input is handed back for the next module.
    Pass(T),
}

impl Firmware {
    /// Firmware over a loaded or fresh state.
    pub fn new(state: DeviceState, persona: &'static Persona) -> Self {
        Firmware {
            state,
            persona,
            counter: 0x100,
            next_context: 1,
            enumerations: HashMap::new(),
            events: Vec::new(),
            key_source: None,
        }
    }

    /// Lets `GenerateKeyPair` take ready-made keys from `source` (falling back to inline
    /// generation when it has none); `None` restores inline generation. Not persisted.
    pub fn set_key_source(&mut self, source: Option<std::sync::Arc<dyn certs::KeySource>>) {
        self.key_source = source;
    }

    /// The key source, if any (for `GenerateKeyPair`).
    pub(crate) fn key_source(&self) -> Option<&dyn certs::KeySource> {
        self.key_source.as_deref()
    }

    /// Events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<FirmwareEvent> {
        std::mem::take(&mut self.events)
    }

    /// Records an event for the network front.
    pub fn emit(&mut self, e: FirmwareEvent) {
        if !self.events.contains(&e) {
            self.events.push(e);
        }
    }

    /// Marks the state as changed (to be persisted).
    pub fn changed(&mut self) {
        self.emit(FirmwareEvent::StateChanged);
    }

    /// The device clock (host clock plus the offset clock sync set).
    pub fn device_time(&self, env: &Env<'_>) -> u64 {
        (env.now as i64)
            .saturating_add(self.state.clock_offset_secs)
            .max(0) as u64
    }

    /// The HA1 (MD5 of `user:realm:password`) the digest verifier needs for `user`.
    pub fn ha1_for(&self, user: &str) -> Option<[u8; 16]> {
        let hex_ha1 = if user == "admin" {
            self.state.admin_ha1_hex.clone()
        } else {
            self.state
                .users
                .iter()
                .find(|u| {
                    u.name == user
                        && !u.name.is_empty()
                        && !self.state.acl_disabled.contains(&u.handle)
                })
                .map(|u| u.ha1_hex.clone())
        }?;
        let bytes = hex::decode(hex_ha1).ok()?;
        bytes.try_into().ok()
    }

    /// Handles one request.
    pub fn handle(&mut self, req: &Request, caller: &Caller, env: &mut Env<'_>) -> Response {
        self.counter = self.counter.wrapping_add(1);
        setup::prepare(self, env);
        let body = match Call::from_request(req) {
            Err(e) => ResponseBody::Fault(Fault::from(&e)),
            Ok(call) => match self.authorize(&call, caller) {
                Err(f) => ResponseBody::Fault(f),
                Ok(()) => self.dispatch(call, req, caller, env),
            },
        };
        Response::to_request(req, body, self.counter)
    }

    fn authorize(&self, call: &Call, caller: &Caller) -> Result<(), Fault> {
        if caller.is_admin() {
            return Ok(());
        }
        let class = match call {
            Call::Get { class, .. }
            | Call::Delete { class, .. }
            | Call::Enumerate { class, .. }
            | Call::Pull { class, .. }
            | Call::Release { class, .. } => *class,
            Call::Put { instance, .. } | Call::Create(instance) => instance.class(),
            Call::Invoke { method, .. } => match KnownClass::from_name(method.names().0) {
                Some(c) => c,
                None => return Err(Fault::access_denied()),
            },
        };
        let writes = !matches!(
            call,
            Call::Get { .. } | Call::Enumerate { .. } | Call::Pull { .. } | Call::Release { .. }
        );
        let needed = auth::required_realm(class, writes);
        if auth::user_may(&self.state, &caller.user, needed) {
            Ok(())
        } else {
            Err(Fault::access_denied())
        }
    }

    fn dispatch(
        &mut self,
        call: Call,
        req: &Request,
        caller: &Caller,
        env: &mut Env<'_>,
    ) -> ResponseBody {
        match call {
            Call::Get { class, selectors } => match views::instances(self, class, env) {
                None => ResponseBody::Fault(Fault::destination_unreachable()),
                Some(all) => match select(all, &selectors) {
                    Ok(i) => ResponseBody::Get(i),
                    Err(f) => ResponseBody::Fault(f),
                },
            },
            Call::Enumerate { class, options } => self.enumerate(class, &options, env),
            Call::Pull { class, pull } => self.pull(class, &pull, env),
            Call::Release { context, .. } => {
                if self.enumerations.remove(&context).is_some() {
                    ResponseBody::Release
                } else {
                    ResponseBody::Fault(Fault::invalid_enumeration_context())
                }
            }
            Call::Put {
                instance,
                selectors,
            } => match setup::put(self, instance, &selectors, caller, env) {
                Routed::Done(b) => b,
                Routed::Pass(instance) => {
                    match certs::put(self, instance, &selectors, caller, env) {
                        Routed::Done(b) => b,
                        Routed::Pass(instance) => {
                            match manage::put(self, instance, &selectors, caller, env) {
                                Routed::Done(b) => b,
                                Routed::Pass(_) => {
                                    ResponseBody::Fault(Fault::action_not_supported(&req.action()))
                                }
                            }
                        }
                    }
                }
            },
            Call::Create(instance) => match certs::create(self, instance, caller, env) {
                Routed::Done(b) => b,
                Routed::Pass(instance) => match manage::create(self, instance, caller, env) {
                    Routed::Done(b) => b,
                    Routed::Pass(_) => {
                        ResponseBody::Fault(Fault::action_not_supported(&req.action()))
                    }
                },
            },
            Call::Delete { class, selectors } => {
                match certs::delete(self, class, &selectors, caller, env) {
                    Routed::Done(b) => b,
                    Routed::Pass(class) => {
                        match manage::delete(self, class, &selectors, caller, env) {
                            Routed::Done(b) => b,
                            Routed::Pass(_) => {
                                ResponseBody::Fault(Fault::action_not_supported(&req.action()))
                            }
                        }
                    }
                }
            }
            Call::Invoke { method, selectors } => self.invoke(method, &selectors, caller, env, req),
        }
    }

    fn invoke(
        &mut self,
        method: MethodCall,
        selectors: &SelectorSet,
        caller: &Caller,
        env: &mut Env<'_>,
        req: &Request,
    ) -> ResponseBody {
        let method = match setup::invoke(self, method, selectors, caller, env) {
            Routed::Done(b) => return b,
            Routed::Pass(m) => m,
        };
        let method = match auth::invoke(self, method, selectors, caller, env) {
            Routed::Done(b) => return b,
            Routed::Pass(m) => m,
        };
        let method = match certs::invoke(self, method, selectors, caller, env) {
            Routed::Done(b) => return b,
            Routed::Pass(m) => m,
        };
        match manage::invoke(self, method, selectors, caller, env) {
            Routed::Done(b) => b,
            Routed::Pass(_) => ResponseBody::Fault(Fault::action_not_supported(&req.action())),
        }
    }

    fn enumerate(
        &mut self,
        class: KnownClass,
        options: &Enumerate,
        env: &mut Env<'_>,
    ) -> ResponseBody {
        let Some(items) = views::instances(self, class, env) else {
            return ResponseBody::Fault(Fault::destination_unreachable());
        };
        if options.filter.is_some() {
            return ResponseBody::Fault(Fault::new(
                FaultCode::Sender,
                Subcode::CannotProcessFilter,
                "The requested filtering is not supported.",
            ));
        }
        self.expire_enumerations(env.now);
        if self.enumerations.len() >= MAX_OPEN_ENUMERATIONS {
            // Real firmware runs out of enumeration slots; the oldest is dropped.
            if let Some(oldest) = self
                .enumerations
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            {
                self.enumerations.remove(&oldest);
            }
        }
        let context = format!("{:08X}-0000-0000-0000-000000000000", self.next_context);
        self.next_context = self.next_context.wrapping_add(1);
        self.enumerations.insert(
            context.clone(),
            OpenEnumeration {
                class,
                items: items.into(),
                last_used: env.now,
            },
        );
        ResponseBody::Enumerate {
            context: Some(context),
            items: vec![],
            end_of_sequence: false,
        }
    }

    fn pull(&mut self, class: KnownClass, pull: &Pull, env: &mut Env<'_>) -> ResponseBody {
        self.expire_enumerations(env.now);
        let Some(open) = self.enumerations.get_mut(&pull.context) else {
            return ResponseBody::Fault(Fault::invalid_enumeration_context());
        };
        if open.class != class {
            return ResponseBody::Fault(Fault::invalid_enumeration_context());
        }
        open.last_used = env.now;
        let max = pull.max_elements.unwrap_or(1).clamp(1, 999) as usize;
        let mut items = Vec::new();
        while items.len() < max {
            match open.items.pop_front() {
                Some(i) => items.push(Item::Instance(i)),
                None => break,
            }
        }
        if open.items.is_empty() {
            self.enumerations.remove(&pull.context);
            ResponseBody::Pull {
                items,
                context: None,
                end_of_sequence: true,
            }
        } else {
            ResponseBody::Pull {
                items,
                context: Some(pull.context.clone()),
                end_of_sequence: false,
            }
        }
    }

    fn expire_enumerations(&mut self, now: u64) {
        self.enumerations
            .retain(|_, e| now.saturating_sub(e.last_used) <= ENUMERATION_TTL_SECS);
    }

    /// True while the device is waiting for provisioning.
    pub fn in_setup(&self) -> bool {
        self.state.phase == Phase::Setup
    }
}

/// Picks the instance `selectors` name: every selector must equal the instance's property of
/// the same name. No selectors picks the first (singletons).
fn select(all: Vec<Instance>, selectors: &SelectorSet) -> Result<Instance, Fault> {
    if selectors.is_empty() {
        return all.into_iter().next().ok_or_else(Fault::invalid_selectors);
    }
    all.into_iter()
        .find(|i| {
            selectors.0.iter().all(|s| match &s.value {
                amt_wsman::value::SelectorValue::Text(t) => {
                    i.get_text(&s.name).is_some_and(|v| v == t)
                        // Keys AMT accepts that are not properties of the instance.
                        || matches!(s.name.as_str(), "CreationClassName" | "SystemCreationClassName" | "SystemName")
                }
                amt_wsman::value::SelectorValue::Epr(_) => true,
            })
        })
        .ok_or_else(Fault::invalid_selectors)
}
