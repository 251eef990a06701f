//! Clock sync and user consent.
use super::*;

#[test]
fn time_sync_sets_the_device_clock_to_console_time() {
    let mut d = Dev::new("amt16");
    let console_offset = 86_400 * 3 + 17;
    let ta0 = GetLowAccuracyTimeSynchOutput::from_instance(
        &d.call(&GetLowAccuracyTimeSynchInput::default()),
    )
    .unwrap()
    .ta0
    .unwrap();
    assert_eq!(u64::from(ta0), NOW);
    d.now += 1;
    let tm1 = (d.now + console_offset) as u32;
    d.now += 2;
    let tm2 = (d.now + console_offset) as u32;
    d.now += 1; // in flight
    let out = d.call(&SetHighAccuracyTimeSynchInput::new(ta0, tm1, tm2));
    assert_eq!(rv(&out), 0);
    // Round trip seen by the device 4 s, 2 s held by the console: 1 s each way.
    let device_now = u64::from(
        GetLowAccuracyTimeSynchOutput::from_instance(
            &d.call(&GetLowAccuracyTimeSynchInput::default()),
        )
        .unwrap()
        .ta0
        .unwrap(),
    );
    assert_eq!(device_now, d.now + console_offset);
    let svc =
        AmtTimeSynchronizationService::from_instance(&d.get("AMT_TimeSynchronizationService"))
            .unwrap();
    assert_eq!(svc.time_source, Some(TimeSource::Configured));
    assert!(audit_records(&mut d).iter().any(|r| (r.0, r.1) == (21, 0)));
}

#[test]
fn time_sync_rejects_a_ta0_the_device_did_not_hand_out() {
    let mut d = Dev::new("amt11");
    let out = d.call(&SetHighAccuracyTimeSynchInput::new(12345, 1, 2));
    assert_eq!(
        rv(&out),
        36,
        "PT_STATUS_INVALID_PARAMETER without GetLowAccuracyTimeSynch"
    );
    let ta0 = GetLowAccuracyTimeSynchOutput::from_instance(
        &d.call(&GetLowAccuracyTimeSynchInput::default()),
    )
    .unwrap()
    .ta0
    .unwrap();
    assert_eq!(
        rv(&d.call(&SetHighAccuracyTimeSynchInput::new(ta0 - 1, ta0, ta0))),
        36
    );
    assert_eq!(
        rv(&d.call(&SetHighAccuracyTimeSynchInput::new(ta0, ta0 + 5, ta0))),
        36,
        "Tm2 < Tm1"
    );
    assert_eq!(
        rv(&d.call(&SetHighAccuracyTimeSynchInput::new(ta0, ta0, ta0))),
        0
    );
    assert_eq!(
        rv(&d.call(&SetHighAccuracyTimeSynchInput::new(ta0, ta0, ta0))),
        36,
        "Ta0 is single-use"
    );
}

fn opt_in_state(d: &mut Dev) -> IpsOptInService {
    IpsOptInService::from_instance(&d.get("IPS_OptInService")).unwrap()
}

fn send_code(d: &mut Dev, code: u32) -> u32 {
    rv(&d.call(&SendOptInCodeInput {
        opt_in_code: Some(code),
        ..Default::default()
    }))
}

#[test]
fn opt_in_code_gives_consent_and_three_wrong_codes_lock_out() {
    let mut d = Dev::new("amt16");
    assert_eq!(
        rv(&d.call(&StartOptInInput::default())),
        2,
        "no consent required yet"
    );
    let put = IpsOptInService {
        opt_in_required: Some(OptInRequired::All),
        ..opt_in_state(&mut d)
    };
    assert!(matches!(
        d.put(&put, SelectorSet::new()),
        ResponseBody::Put(Some(_))
    ));
    assert_eq!(rv(&d.call(&StartOptInInput::default())), 0);
    let code = d.fw.current_opt_in_code().expect("code on screen");
    assert!(code < 1_000_000);
    assert_eq!(
        opt_in_state(&mut d).opt_in_state,
        Some(OptInState::Displayed)
    );
    let wrong = (code + 1) % 1_000_000;
    assert_eq!(send_code(&mut d, wrong), 2);
    assert_eq!(send_code(&mut d, wrong), 2);
    assert_eq!(send_code(&mut d, wrong), 3, "third wrong code blocks");
    assert_eq!(
        opt_in_state(&mut d).opt_in_state,
        Some(OptInState::NotStarted)
    );
    assert_eq!(d.fw.current_opt_in_code(), None);
    assert_eq!(send_code(&mut d, code), 2, "the old code is gone");
    assert_eq!(rv(&d.call(&StartOptInInput::default())), 3, "locked out");
    d.now += 121;
    assert_eq!(rv(&d.call(&StartOptInInput::default())), 0);
    let code = d.fw.current_opt_in_code().unwrap();
    assert_eq!(send_code(&mut d, code), 0);
    assert_eq!(
        opt_in_state(&mut d).opt_in_state,
        Some(OptInState::Received)
    );
    assert!(d.fw.consent_given());
    assert!(d.fw.consent_required(false));
    assert_eq!(rv(&d.call(&CancelOptInInput::default())), 0);
    assert_eq!(
        rv(&d.call(&CancelOptInInput::default())),
        2,
        "nothing to cancel"
    );
    let audit = audit_records(&mut d);
    assert!(audit.iter().any(|r| (r.0, r.1) == (30, 0)), "policy change");
    assert!(audit.iter().any(|r| (r.0, r.1) == (30, 2)), "start blocked");
    assert_eq!(audit.iter().filter(|r| (r.0, r.1) == (30, 1)).count(), 2);
}

#[test]
fn opt_in_code_expires_after_its_timeout() {
    let mut d = Dev::new("amt11");
    d.fw.state.control_mode = 1;
    assert_eq!(rv(&d.call(&StartOptInInput::default())), 0);
    let code = d.fw.current_opt_in_code().unwrap();
    d.now += 121;
    assert_eq!(send_code(&mut d, code), 2);
    assert_eq!(
        opt_in_state(&mut d).opt_in_state,
        Some(OptInState::NotStarted)
    );
}

#[test]
fn client_control_mode_always_requires_consent_and_refuses_policy_changes() {
    let mut d = Dev::new("amt11");
    d.fw.state.control_mode = 1;
    let s = opt_in_state(&mut d);
    assert_eq!(s.opt_in_required, Some(OptInRequired::All));
    assert_eq!(s.can_modify_opt_in_policy, Some(0));
    let put = IpsOptInService {
        opt_in_required: Some(OptInRequired::None),
        ..s
    };
    assert_eq!(
        fault_subcode(&d.put(&put, SelectorSet::new())),
        Subcode::AccessDenied
    );
}
