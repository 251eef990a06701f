//! Crash safety of the machine itself (P6), in memory against the emulator's firmware: a
//! full-profile run is stopped after every persisted transition, and after every request the
//! device handled but whose answer was lost with the server; the run is then resumed from the
//! last stored transition (as a restarted server does) and must end provisioned, with the
//! stored password working on the device, the device presenting the one certificate the run
//! kept, and every other certificate the CA signed revoked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sim;

use amt_emulator::state::Phase as DevicePhase;
use amt_pki::Cert;
use amt_wsman::classes::amt::{AccessPermission, Realm};
use amt_wsman::classes::ips::OptInRequired;
use amtd_core::provisioning::{Phase, Provisioning, Resume};
use amtd_core::{DigestUserSpec, ProvisioningProfile, RedirectionPolicy};
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
        ider: false,
    });
    profile.user_consent = Some(OptInRequired::None);
    profile
}

/// Kills the run at `kill`, resumes it from the last stored transition, drives it to the end
/// and checks the outcome. Returns the phase the run was stored at when it died.
fn kill_and_resume(kill: Kill) -> Option<Phase> {
    let mut s = Sim::new();
    s.kill = Some(kill);
    let m = match s.start(full_profile(), FQDN) {
        Driven::Finished(m) => {
            // The kill point lies beyond the end of the run.
            assert!(matches!(m, Provisioning::Done(_)));
            return None;
        }
        Driven::Killed => {
            s.kill = None;
            let last = s.transitions.last().cloned().expect("a stored transition");
            let candidates = [pki().prov.clone()];
            let (m, actions) = Provisioning::resume(Resume {
                device: record(FQDN),
                profile: full_profile(),
                phase: last.to,
                checkpoint: last.checkpoint.clone(),
                secrets: s.secrets.clone(),
                candidates: &candidates,
                now: s.now + 5,
                seq: last.seq,
            });
            match m {
                // Stored before any secret: a server starts such a run again from the hello.
                Provisioning::Failed(f)
                    if matches!(last.to, Phase::Discovered | Phase::CheckingFit) =>
                {
                    assert!(f.retryable, "{f:?}");
                    assert_eq!(s.fw.state.phase, DevicePhase::Setup, "{kill:?}");
                    return Some(last.to);
                }
                m => {
                    let phase = last.to;
                    match s.drive(m, actions) {
                        Driven::Finished(m) => {
                            check_provisioned(&s, &m, kill, phase);
                            Some(phase)
                        }
                        Driven::Killed => unreachable!(),
                    }
                }
            }
        }
    };
    m
}

fn check_provisioned(s: &Sim, m: &Provisioning, kill: Kill, phase: Phase) {
    let Provisioning::Done(done) = m else {
        panic!(
            "{kill:?} (stored at {phase}): not provisioned after resuming: {:?}\n{:?}",
            s.outcome,
            s.phases()
        )
    };
    assert_eq!(s.fw.state.phase, DevicePhase::Provisioned, "{kill:?}");
    // The stored password is the device's.
    let pw = s.secrets.as_ref().unwrap().admin_password.clone();
    let realm = s.fw.state.digest_realm.clone();
    assert_eq!(
        s.fw.ha1_for("admin"),
        Some(amt_wsman::digest::ha1("admin", &realm, pw.expose())),
        "{kill:?} (stored at {phase})"
    );
    assert_eq!(
        s.fw.ha1_for("operator"),
        Some(amt_wsman::digest::ha1("operator", &realm, "Op3rator!pw")),
        "{kill:?} (stored at {phase})"
    );
    // The device presents the certificate the run kept; every other one signed is revoked.
    let (chain, _) = s.fw.tls_identity().expect("TLS identity");
    assert_eq!(
        Cert::from_der(&chain[0]).unwrap().serial(),
        done.cert_serial
    );
    for serial in &s.issued {
        if *serial != done.cert_serial {
            assert!(
                s.revoked.contains(serial),
                "{kill:?} (stored at {phase}): {serial} neither installed nor revoked"
            );
        }
    }
    assert!(!s.revoked.contains(&done.cert_serial));
    // The resumption is in the timeline.
    assert!(
        s.transitions.iter().any(|t| t
            .note
            .as_deref()
            .is_some_and(|n| n.contains("resumed after a server restart"))),
        "{kill:?}"
    );
}

#[test]
fn a_run_stopped_after_any_stored_transition_resumes_to_provisioned() {
    let mut stored_at = Vec::new();
    for n in 1.. {
        match kill_and_resume(Kill::AfterPersist(n)) {
            Some(p) => stored_at.push(p.name()),
            None => break,
        }
    }
    // Every phase of the full profile was a kill point.
    for p in [
        "discovered",
        "connecting",
        "setting-admin-acl",
        "adding-trusted-roots",
        "generating-key",
        "issuing-certificate",
        "adding-certificate",
        "creating-credential-context",
        "adding-users",
        "adding-crl",
        "committing",
        "verifying",
        "applying-user-consent",
        "applying-redirection",
        "done",
    ] {
        assert!(stored_at.contains(&p), "{p} never killed: {stored_at:?}");
    }
}

#[test]
fn a_run_stopped_after_the_device_applied_any_call_resumes_to_provisioned() {
    let mut n = 1;
    while kill_and_resume(Kill::AfterApply(n)).is_some() {
        n += 1;
    }
    assert!(n > 20, "only {n} requests in a full-profile run");
}
