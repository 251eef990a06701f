//! User consent: `IPS_OptInService` (Get, Put `OptInRequired`, `StartOptIn`, `SendOptInCode`,
//! `CancelOptIn`).
//!
//! The rules the emulator follows (return values as `OptInReturn`: 0 success, 2 invalid state,
//! 3 blocked):
//! - In client control mode consent is always required for everything (`OptInRequired`
//!   4294967295) and the policy cannot be changed (`CanModifyOptInPolicy` 0); a Put there is
//!   refused with `wsman:AccessDenied`. In admin control mode the console sets 0 (none), 1 (KVM)
//!   or 4294967295 (all) with Put; the change is audited (3000).
//! - `StartOptIn` with no consent required answers 2 (the recorded `startoptin.xml` answers 2 on
//!   a device whose `OptInRequired` is 0). Otherwise it shows a new 6-digit code (state 2,
//!   "displayed") valid for `OptInCodeTimeout` (120 s); after that the code expires and the state
//!   reads 0 again. [`Firmware::current_opt_in_code`] reads the code "off the host screen".
//! - `SendOptInCode` with the right code gives consent (state 3) and audits 3001 "success". A
//!   wrong code answers 2. **The third wrong code in a row** answers 3 (blocked), ends the opt-in
//!   (state 0, code discarded), audits 3001 "failed 3 times", and blocks `StartOptIn` for
//!   [`OPT_IN_LOCKOUT_SECS`]: it answers 3 and audits 3002 until then.
//! - `CancelOptIn` with nothing started answers 2 (as recorded in `canceloptin.xml`); otherwise
//!   it withdraws the code or the consent (state 0).

use amt_wsman::classes::cim::{EnabledState, RequestedState};
use amt_wsman::classes::ips::{
    CancelOptInOutput, IpsOptInService, OptInRequired, OptInReturn, OptInState, SendOptInCodeInput,
    SendOptInCodeOutput, StartOptInOutput,
};
use amt_wsman::classes::Typed;
use amt_wsman::{Fault, Instance, ResponseBody};

use super::logs::{self, audit_events};
use super::reply;
use crate::firmware::{Caller, Env, Firmware};

/// Seconds a consent code stays valid (`OptInCodeTimeout`).
pub const OPT_IN_CODE_TIMEOUT_SECS: u64 = 120;
/// Seconds `StartOptIn` stays blocked after three wrong codes.
pub const OPT_IN_LOCKOUT_SECS: u64 = 120;
/// Wrong codes that end an opt-in.
pub const OPT_IN_MAX_FAILURES: u8 = 3;

/// The consent policy in force.
pub fn effective_required(fw: &Firmware) -> OptInRequired {
    if fw.state.control_mode != 2 {
        return OptInRequired::All;
    }
    OptInRequired::try_from(fw.state.opt_in_required).unwrap_or(OptInRequired::All)
}

/// Expires a displayed code whose time is up.
fn expire(fw: &mut Firmware, env: &Env<'_>) {
    let now = fw.device_time(env);
    let o = &mut fw.state.manage.opt_in;
    if o.state == OptInState::Displayed.value()
        && now.saturating_sub(o.code_shown_at) > OPT_IN_CODE_TIMEOUT_SECS
    {
        o.state = OptInState::NotStarted.value();
        o.code = None;
        o.failures = 0;
        fw.changed();
    }
}

/// The `IPS_OptInService` instance (fixture `ips/optin/get.xml`).
pub(super) fn instances(fw: &Firmware, env: &Env<'_>) -> Vec<Instance> {
    let o = &fw.state.manage.opt_in;
    let expired = o.state == OptInState::Displayed.value()
        && fw.device_time(env).saturating_sub(o.code_shown_at) > OPT_IN_CODE_TIMEOUT_SECS;
    let state = if expired {
        OptInState::NotStarted
    } else {
        OptInState::try_from(o.state).unwrap_or(OptInState::NotStarted)
    };
    let s = IpsOptInService {
        can_modify_opt_in_policy: Some(u8::from(fw.state.control_mode == 2)),
        creation_class_name: Some("IPS_OptInService".into()),
        element_name: Some("Intel(r) AMT OptIn Service".into()),
        enabled_state: None::<EnabledState>,
        name: Some("Intel(r) AMT OptIn Service".into()),
        opt_in_code_timeout: Some(OPT_IN_CODE_TIMEOUT_SECS as u32),
        opt_in_display_timeout: Some(300),
        opt_in_required: Some(effective_required(fw)),
        opt_in_state: Some(state),
        requested_state: None::<RequestedState>,
        system_creation_class_name: Some("CIM_ComputerSystem".into()),
        system_name: Some("Intel(r) AMT".into()),
        extra: Vec::new(),
    };
    vec![s.to_instance()]
}

fn policy_byte(p: OptInRequired) -> u8 {
    match p {
        OptInRequired::None => 0,
        OptInRequired::Kvm => 1,
        OptInRequired::All => 2,
    }
}

/// Put `IPS_OptInService`: `OptInRequired`, admin control mode only.
pub(super) fn put(
    fw: &mut Firmware,
    s: &IpsOptInService,
    caller: &Caller,
    env: &mut Env<'_>,
) -> ResponseBody {
    if fw.state.control_mode != 2 {
        return ResponseBody::Fault(Fault::access_denied());
    }
    if let Some(new) = s.opt_in_required {
        let old = effective_required(fw);
        if new != old {
            fw.state.opt_in_required = new.value();
            logs::audit(
                fw,
                Some(caller),
                env,
                audit_events::OPT_IN_POLICY_CHANGE,
                &[policy_byte(old), policy_byte(new)],
            );
        }
    }
    fw.changed();
    ResponseBody::Put(instances(fw, env).into_iter().next())
}

/// `StartOptIn`.
pub(super) fn start(fw: &mut Firmware, caller: &Caller, env: &mut Env<'_>) -> ResponseBody {
    expire(fw, env);
    let now = fw.device_time(env);
    let o = &fw.state.manage.opt_in;
    let rv = if effective_required(fw) == OptInRequired::None {
        OptInReturn::InvalidState
    } else if now < o.blocked_until {
        logs::audit(
            fw,
            Some(caller),
            env,
            audit_events::START_OPT_IN_BLOCKED,
            &[],
        );
        OptInReturn::Blocked
    } else if o.state >= OptInState::Received.value() {
        OptInReturn::InvalidState
    } else {
        let b = env.bytes::<4>();
        let code = u32::from_le_bytes(b) % 1_000_000;
        let o = &mut fw.state.manage.opt_in;
        o.state = OptInState::Displayed.value();
        o.code = Some(code);
        o.code_shown_at = now;
        o.failures = 0;
        fw.changed();
        OptInReturn::Success
    };
    reply(StartOptInOutput {
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// `SendOptInCode`.
pub(super) fn send_code(
    fw: &mut Firmware,
    input: &SendOptInCodeInput,
    caller: &Caller,
    env: &mut Env<'_>,
) -> ResponseBody {
    expire(fw, env);
    let now = fw.device_time(env);
    let o = &mut fw.state.manage.opt_in;
    let rv = if o.state != OptInState::Displayed.value() || o.code.is_none() {
        OptInReturn::InvalidState
    } else if input.opt_in_code.is_some() && input.opt_in_code == o.code {
        o.state = OptInState::Received.value();
        o.code = None;
        o.failures = 0;
        o.received_at = now;
        logs::audit(fw, Some(caller), env, audit_events::SEND_CONSENT_CODE, &[0]);
        OptInReturn::Success
    } else {
        o.failures = o.failures.saturating_add(1);
        if o.failures >= OPT_IN_MAX_FAILURES {
            o.state = OptInState::NotStarted.value();
            o.code = None;
            o.failures = 0;
            o.blocked_until = now + OPT_IN_LOCKOUT_SECS;
            logs::audit(fw, Some(caller), env, audit_events::SEND_CONSENT_CODE, &[1]);
            OptInReturn::Blocked
        } else {
            OptInReturn::InvalidState
        }
    };
    fw.changed();
    reply(SendOptInCodeOutput {
        return_value: Some(rv),
        extra: Vec::new(),
    })
}

/// `CancelOptIn`.
pub(super) fn cancel(fw: &mut Firmware, env: &mut Env<'_>) -> ResponseBody {
    expire(fw, env);
    let o = &mut fw.state.manage.opt_in;
    let rv = if o.state == OptInState::NotStarted.value() {
        OptInReturn::InvalidState
    } else {
        o.state = OptInState::NotStarted.value();
        o.code = None;
        o.failures = 0;
        fw.changed();
        OptInReturn::Success
    };
    reply(CancelOptInOutput {
        return_value: Some(rv),
        extra: Vec::new(),
    })
}
