//! The provisioning machine against the emulator's firmware, in memory (see `sim/mod.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sim;

use amt_emulator::state::Phase as DevicePhase;
use amt_pki::{Cert, RevocationReason};
use amt_wsman::classes::amt::{AccessPermission, Realm};
use amt_wsman::classes::ips::OptInRequired;
use amtd_core::provisioning::{FailureKind, Outcome, Phase, Provisioning};
use amtd_core::{DigestUserSpec, ProvisioningProfile, RedirectionPolicy};
use proptest::prelude::*;
use sim::*;

fn full_profile() -> ProvisioningProfile {
    let p = pki();
    let mut profile = ProvisioningProfile::new("lab");
    profile.trusted_roots = vec![p.root_der.clone()];
    profile.intermediates = vec![p.issuing_der.clone()];
    profile.digest_users = vec![DigestUserSpec {
        name: "operator".into(),
        password: "Op3rator!pw".into(),
        access: AccessPermission::NetworkOnly,
        realms: vec![Realm::HardwareAsset, Realm::RemoteControl],
    }];
    profile.crl_serials = vec![vec![0x01, 0x02, 0x03]];
    profile.crl_url = Some("http://ca.amt.test/issuing.crl".into());
    profile.redirection = Some(RedirectionPolicy {
        sol: true,
        ider: true,
    });
    profile.user_consent = Some(OptInRequired::None);
    profile
}

fn failure(m: &Provisioning) -> &amtd_core::provisioning::Failure {
    match m {
        Provisioning::Failed(f) => f,
        other => panic!("expected a failure, got {:?}", other.phase()),
    }
}

/// Every network request is preceded by the persisted transition into the phase it belongs
/// to: the last Persist before the request names the machine's phase.
fn assert_persisted_before_send(s: &Sim) {
    let mut last = None;
    for (phase, persisted) in &s.send_phases {
        if persisted.is_some() {
            last = *persisted;
        }
        assert_eq!(
            last,
            Some(*phase),
            "a request of {phase} went out unrecorded"
        );
    }
}

#[test]
fn device_is_provisioned_with_the_exact_certificate_and_a_working_password() {
    let mut s = Sim::new();
    let m = s.run(full_profile(), FQDN);
    let Provisioning::Done(done) = &m else {
        panic!("not provisioned: {:?} / {:?}", s.outcome, s.phases())
    };

    // The device is provisioned in Admin Control Mode and presents the issued certificate.
    assert_eq!(s.fw.state.phase, DevicePhase::Provisioned);
    assert_eq!(s.fw.state.control_mode, 2);
    let (chain, _) = s.fw.tls_identity().expect("TLS identity");
    let cert = Cert::from_der(&chain[0]).unwrap();
    assert_eq!(chain[1], pki().issuing_der);
    assert_eq!(cert.serial(), done.cert_serial);
    assert_eq!(
        cert.common_names(),
        [FQDN.to_owned(), format!("Device (UUID: {UUID})")]
    );
    assert!(cert
        .subject()
        .contains("Intel® Active Management Technology"));
    assert_eq!(cert.dns_names(), [FQDN]);
    assert!(s.revoked.is_empty());

    // The persisted admin password is the device's, through its digest realm.
    let pw = s.admin_password.clone().expect("persisted password");
    amt_wsman::password::validate_admin_password(pw.expose()).unwrap();
    let realm = s.fw.state.digest_realm.clone();
    assert_eq!(
        s.fw.ha1_for("admin"),
        Some(amt_wsman::digest::ha1("admin", &realm, pw.expose()))
    );
    assert_eq!(
        s.fw.ha1_for("operator"),
        Some(amt_wsman::digest::ha1("operator", &realm, "Op3rator!pw"))
    );
    assert!(s.fw.is_serial_revoked(&[1, 2, 3]));
    let policy = s.fw.tls_policy();
    assert!(policy.enabled && !policy.mutual_authentication && !policy.accept_non_secure);
    assert!(s.fw.trusted_root_certs().contains(&pki().root_der));

    // Every step is in the log, in order, and stored before its request went out.
    let want = [
        "checking-fit",
        "connecting",
        "reading-setup-state",
        "reading-firmware-version",
        "reading-keys",
        "setting-mebx-password",
        "setting-admin-acl",
        "reading-clock",
        "setting-clock",
        "adding-trusted-roots",
        "generating-key",
        "reading-key",
        "requesting-csr",
        "issuing-certificate",
        "adding-certificate",
        "adding-certificate",
        "creating-credential-context",
        "putting-tls-settings",
        "adding-users",
        "adding-crl",
        "committing",
        "verifying",
        "applying-user-consent",
        "applying-redirection",
        "done",
    ];
    let phases = s.phases();
    let phases: Vec<&str> = phases.iter().map(String::as_str).skip(1).collect();
    assert_eq!(phases, want);
    assert_persisted_before_send(&s);
    let seqs: Vec<u64> = s.transitions.iter().map(|t| t.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    // The password was persisted before the device first saw it.
    let with_secrets: Vec<_> = s
        .transitions
        .iter()
        .filter(|t| t.secrets.is_some())
        .collect();
    assert_eq!(with_secrets.len(), 1);
    assert_eq!(with_secrets[0].to, Phase::Connecting);
    assert!(matches!(s.outcome, Some(Outcome::Provisioned(_))));
    assert_eq!(s.delivered_count("/CommitChanges"), 1);
    // The transition log never prints a password.
    let log = format!("{:?}", s.transitions);
    assert!(!log.contains(pw.expose()));
}

#[test]
fn commit_changes_eof_polls_the_device_and_finishes_without_a_second_commit() {
    let mut s = Sim::new();
    s.fault = Some((FaultAt::Action("/CommitChanges"), FaultKind::EofAfterApply));
    let m = s.run(full_profile(), FQDN);
    assert!(matches!(m, Provisioning::Done(_)), "{:?}", s.outcome);
    assert_eq!(s.delivered_count("/CommitChanges"), 1);
    assert!(s
        .transitions
        .iter()
        .any(|t| t.note.as_deref() == Some("CommitChanges had taken effect")));
    assert_persisted_before_send(&s);
}

#[test]
fn commit_changes_lost_before_the_device_is_sent_again_after_the_poll() {
    let mut s = Sim::new();
    s.fault = Some((FaultAt::Action("/CommitChanges"), FaultKind::EofBeforeApply));
    let m = s.run(full_profile(), FQDN);
    assert!(matches!(m, Provisioning::Done(_)), "{:?}", s.outcome);
    // The first commit never arrived; the poll showed it, so one commit reached the device.
    assert_eq!(s.delivered_count("/CommitChanges"), 1);
    assert_eq!(s.fw.state.phase, DevicePhase::Provisioned);
}

#[test]
fn generate_key_pair_eof_adopts_the_new_key_instead_of_generating_another() {
    let mut s = Sim::new();
    s.fault = Some((
        FaultAt::Action("/GenerateKeyPair"),
        FaultKind::EofAfterApply,
    ));
    let m = s.run(full_profile(), FQDN);
    assert!(matches!(m, Provisioning::Done(_)), "{:?}", s.outcome);
    assert_eq!(s.delivered_count("/GenerateKeyPair"), 1);
    assert_eq!(s.fw.state.keys.len(), 1);
    assert!(s
        .transitions
        .iter()
        .any(|t| t.note.as_deref() == Some("the key pair had been generated")));
}

#[test]
fn generate_key_pair_timeout_before_delivery_is_sent_again_once() {
    let mut s = Sim::new();
    s.fault = Some((FaultAt::Action("/GenerateKeyPair"), FaultKind::Timeout));
    let m = s.run(full_profile(), FQDN);
    assert!(matches!(m, Provisioning::Done(_)), "{:?}", s.outcome);
    assert_eq!(s.delivered_count("/GenerateKeyPair"), 1);
    assert_eq!(s.fw.state.keys.len(), 1);
}

#[test]
fn wrong_domain_is_refused_before_connecting_with_a_plain_reason() {
    let mut s = Sim::new();
    let m = s.run(full_profile(), "amtdev01.corp.example");
    let f = failure(&m);
    assert_eq!(
        f.reason,
        "device domain corp.example does not match provisioning certificate suffix amt.test"
    );
    assert_eq!((f.kind, f.retryable), (FailureKind::Refused, false));
    assert_eq!(f.step, Phase::CheckingFit);
    assert_eq!(s.requests, 0);
    assert!(s.delivered.is_empty());
    assert!(s.admin_password.is_none());
}

#[test]
fn certificate_issued_then_provisioning_failed_is_revoked() {
    let mut s = Sim::new();
    s.fault = Some((FaultAt::Action("/AddCertificate"), FaultKind::DeviceFault));
    let m = s.run(full_profile(), FQDN);
    let f = failure(&m);
    assert_eq!(f.step, Phase::AddingCertificate { index: 0 });
    assert!(f.reason.contains("fault"), "{}", f.reason);
    assert_eq!(s.issued.len(), 1);
    assert_eq!(s.revoked, s.issued);
    let _ = RevocationReason::ProvisioningFailed;
}

#[test]
fn deadline_expiry_fails_retryably() {
    let mut s = Sim::new();
    s.latency = 45;
    let mut profile = full_profile();
    profile.deadline_secs = 300;
    let m = s.run(profile, FQDN);
    let f = failure(&m);
    assert_eq!((f.kind, f.retryable), (FailureKind::Deadline, true));
    assert!(f.reason.contains("deadline of 300 s"), "{}", f.reason);
    assert!(matches!(s.outcome, Some(Outcome::Failed(_))));
}

#[test]
fn tls_refusal_is_not_retried() {
    let mut s = Sim::new();
    s.fault = Some((FaultAt::Index(0), FaultKind::TlsRefused));
    let m = s.run(full_profile(), FQDN);
    let f = failure(&m);
    assert_eq!((f.kind, f.retryable), (FailureKind::Transport, false));
    assert_eq!(s.requests, 1);
}

#[test]
fn connection_refused_is_retried_with_bounds() {
    let mut s = Sim::new();
    s.fault = Some((FaultAt::Index(0), FaultKind::Refused));
    let m = s.run(full_profile(), FQDN);
    assert!(matches!(m, Provisioning::Done(_)), "{:?}", s.outcome);
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        Just(FaultKind::EofAfterApply),
        Just(FaultKind::EofBeforeApply),
        Just(FaultKind::Timeout),
        Just(FaultKind::Refused),
        Just(FaultKind::DeviceFault),
        Just(FaultKind::TlsRefused),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever request breaks and however, the machine ends provisioned or failed with a
    /// reason, an issued certificate is installed or revoked, and nothing goes out unrecorded.
    #[test]
    fn any_single_fault_ends_in_done_or_a_reasoned_failure(at in 0usize..40, kind in fault_kind()) {
        let mut s = Sim::new();
        s.fault = Some((FaultAt::Index(at), kind));
        let m = s.run(full_profile(), FQDN);
        assert_persisted_before_send(&s);
        match &m {
            Provisioning::Done(d) => {
                prop_assert_eq!(s.fw.state.phase, DevicePhase::Provisioned);
                prop_assert!(s.revoked.is_empty());
                prop_assert_eq!(s.issued.last(), Some(&d.cert_serial));
            }
            Provisioning::Failed(f) => {
                prop_assert!(!f.reason.is_empty());
                prop_assert_eq!(&s.revoked, &s.issued);
            }
            Provisioning::Running(_) => prop_assert!(false, "still running"),
        }
        prop_assert!(s.delivered_count("/CommitChanges") <= 1);
        prop_assert!(s.fw.state.keys.len() <= 1);
    }
}
