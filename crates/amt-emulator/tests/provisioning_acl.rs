//! The user ACL of the firmware core (AMT-PROTOCOLS §2.6, §7): realms enforced per caller,
//! Digest and Kerberos entries, AMT's naming rules and limits. In memory, through XML.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod provisioning_support;
use provisioning_support::*;

#[test]
fn acl_realms_limit_what_users_may_do() {
    let mut sim = Sim::new(false);
    sim.activate_ccm();
    let realm = sim.realm();
    let digest = |name: &str| amt_wsman::digest::ha1(name, &realm, "Us3r!pass");
    let asset = sim.add_user(&AddUserAclEntryExInput::digest(
        "asset",
        &digest("asset"),
        AccessPermission::NetworkOnly,
        [Realm::HardwareAsset],
    ));
    assert_eq!(asset.return_value, Some(PtStatus::Success));
    let info = sim.add_user(&AddUserAclEntryExInput::digest(
        "info",
        &digest("info"),
        AccessPermission::LocalAndNetwork,
        [Realm::GeneralInfo],
    ));
    let padmin = sim.add_user(&AddUserAclEntryExInput::digest(
        "padmin",
        &digest("padmin"),
        AccessPermission::LocalAndNetwork,
        [Realm::PtAdministration],
    ));
    let local = sim.add_user(&AddUserAclEntryExInput::digest(
        "local",
        &digest("local"),
        AccessPermission::LocalOnly,
        [Realm::GeneralInfo],
    ));
    assert_eq!(sim.fw.ha1_for("asset"), Some(digest("asset")));

    // HardwareAsset only: no power control, no setup, no ACL changes, no general settings.
    let power = RequestPowerStateChangeInput {
        power_state: Some(PowerState::OffHard),
        ..Default::default()
    };
    let id = sim.id();
    assert_eq!(
        sim.fault(power.request(id, SelectorSet::new()), &user("asset")),
        Subcode::AccessDenied
    );
    let id = sim.id();
    assert_eq!(
        sim.fault(
            CommitChangesInput::default().request(id, SelectorSet::new()),
            &user("asset")
        ),
        Subcode::AccessDenied
    );
    let id = sim.id();
    let add = AddUserAclEntryExInput::digest(
        "x",
        &[0; 16],
        AccessPermission::NetworkOnly,
        [Realm::Storage],
    );
    assert_eq!(
        sim.fault(add.request(id, SelectorSet::new()), &user("asset")),
        Subcode::AccessDenied
    );
    let id = sim.id();
    assert_eq!(
        sim.fault(
            AmtGeneralSettings::get(id, SelectorSet::new()),
            &user("asset")
        ),
        Subcode::AccessDenied
    );
    // GeneralInfo reads general settings but may not write them.
    let g: AmtGeneralSettings = sim.get(SelectorSet::new(), &user("info"));
    assert_eq!(g.host_name.as_deref(), Some("amtdev01"));
    let id = sim.id();
    assert_eq!(
        sim.fault(g.put(id, SelectorSet::new()), &user("info")),
        Subcode::AccessDenied
    );
    // Local-only entries cannot use the network.
    let id = sim.id();
    assert_eq!(
        sim.fault(
            AmtGeneralSettings::get(id, SelectorSet::new()),
            &user("local")
        ),
        Subcode::AccessDenied
    );
    // PT Administration grants every realm.
    let commit: CommitChangesOutput = sim.invoke(&CommitChangesInput::default(), &user("padmin"));
    assert_eq!(commit.return_value, Some(PtStatus::Success));

    // A disabled entry can do nothing and has no digest credential.
    let h = info.handle.expect("handle");
    let dis: SetAclEnabledStateOutput = sim.invoke(
        &SetAclEnabledStateInput {
            handle: Some(h),
            enabled: Some(false),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(dis.return_value, Some(PtStatus::Success));
    assert_eq!(sim.fw.ha1_for("info"), None);
    let id = sim.id();
    assert_eq!(
        sim.fault(
            AmtGeneralSettings::get(id, SelectorSet::new()),
            &user("info")
        ),
        Subcode::AccessDenied
    );
    let st: GetAclEnabledStateOutput = sim.invoke(
        &GetAclEnabledStateInput {
            handle: Some(h),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(st.enabled, Some(false));

    // A Kerberos entry is found by its SID's text form.
    let sid = unb64("AQUAAAAAAAUVAAAAVcoTQfagZTk1F8IXVgQAAA==");
    let text = amt_emulator::firmware::auth::sid_to_string(&sid).expect("SID");
    assert!(text.starts_with("S-1-5-21-"));
    sim.add_user(&AddUserAclEntryExInput::kerberos(
        &sid,
        AccessPermission::NetworkOnly,
        [Realm::GeneralInfo],
    ));
    let _: AmtGeneralSettings = sim.get(SelectorSet::new(), &user(&text));
    assert!(sim.fw.kerberos_entry(&sid).is_some());

    // Enumerate, read, update, remove.
    let all: EnumerateUserAclEntriesOutput = sim.invoke(
        &EnumerateUserAclEntriesInput {
            start_index: Some(1),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(all.total_count, Some(5));
    assert_eq!(all.handles_count, Some(5));
    let a = asset.handle.expect("handle");
    assert_eq!(all.handles[0], a);
    let second: EnumerateUserAclEntriesOutput = sim.invoke(
        &EnumerateUserAclEntriesInput {
            start_index: Some(5),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(second.handles.len(), 1);
    let got: GetUserAclEntryExOutput = sim.invoke(
        &GetUserAclEntryExInput {
            handle: Some(a),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(got.digest_username.as_deref(), Some("asset"));
    assert_eq!(got.digest_password, None);
    assert_eq!(got.realms, [Realm::HardwareAsset]);
    let upd: UpdateUserAclEntryExOutput = sim.invoke(
        &UpdateUserAclEntryExInput {
            handle: Some(a),
            digest_username: Some("asset".into()),
            access_permission: Some(AccessPermission::NetworkOnly),
            realms: vec![Realm::HardwareAsset, Realm::RemoteControl],
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(upd.return_value, Some(PtStatus::Success));
    let power_ok = sim.send(power.request(99, SelectorSet::new()), &user("asset"));
    assert!(!matches!(
        power_ok.body,
        ResponseBody::Fault(ref f) if f.subcode == Some(Subcode::AccessDenied)
    ));
    for h in [a, padmin.handle.expect("h"), local.handle.expect("h")] {
        let rm: RemoveUserAclEntryOutput = sim.invoke(
            &RemoveUserAclEntryInput {
                handle: Some(h),
                ..Default::default()
            },
            &admin(),
        );
        assert_eq!(rm.return_value, Some(PtStatus::Success));
    }
    assert_eq!(sim.fw.ha1_for("asset"), None);
}

#[test]
fn acl_entries_follow_amt_naming_and_limits() {
    let mut sim = Sim::new(false);
    sim.activate_ccm();
    let add = |sim: &mut Sim, name: &str, realms: &[Realm]| -> PtStatus {
        sim.add_user(&AddUserAclEntryExInput::digest(
            name,
            &[1; 16],
            AccessPermission::NetworkOnly,
            realms.iter().copied(),
        ))
        .return_value
        .expect("return value")
    };
    assert_eq!(
        add(&mut sim, "admin", &[Realm::Storage]),
        PtStatus::InvalidName
    );
    assert_eq!(
        add(&mut sim, "$$uns", &[Realm::Storage]),
        PtStatus::InvalidName
    );
    assert_eq!(
        add(&mut sim, "a:b", &[Realm::Storage]),
        PtStatus::InvalidName
    );
    assert_eq!(
        add(&mut sim, &"x".repeat(17), &[Realm::Storage]),
        PtStatus::InvalidName
    );
    assert_eq!(
        add(&mut sim, "u0", &[Realm::LocalSystem]),
        PtStatus::InvalidRealm
    );
    assert_eq!(add(&mut sim, "u0", &[]), PtStatus::InvalidParameter);
    for i in 0..7 {
        assert_eq!(
            add(&mut sim, &format!("u{i}"), &[Realm::Storage]),
            PtStatus::Success
        );
    }
    assert_eq!(
        add(&mut sim, "u7", &[Realm::Storage]),
        PtStatus::MaxLimitReached
    );
    let rm: RemoveUserAclEntryOutput = sim.invoke(
        &RemoveUserAclEntryInput {
            handle: Some(1),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(rm.return_value, Some(PtStatus::Success));
    assert_eq!(add(&mut sim, "u3", &[Realm::Storage]), PtStatus::Duplicate);
    let bad_sid = sim.add_user(&AddUserAclEntryExInput::kerberos(
        &[1, 2, 3],
        AccessPermission::NetworkOnly,
        [Realm::Storage],
    ));
    assert_eq!(bad_sid.return_value, Some(PtStatus::InvalidParameter));
    let both = AddUserAclEntryExInput {
        kerberos_user_sid: Some(b64(&[1; 8])),
        ..AddUserAclEntryExInput::digest(
            "both",
            &[1; 16],
            AccessPermission::NetworkOnly,
            [Realm::Storage],
        )
    };
    assert_eq!(
        sim.add_user(&both).return_value,
        Some(PtStatus::InvalidParameter)
    );
    let missing: GetUserAclEntryExOutput = sim.invoke(
        &GetUserAclEntryExInput {
            handle: Some(999),
            ..Default::default()
        },
        &admin(),
    );
    assert_eq!(missing.return_value, Some(PtStatus::InvalidHandle));
    let st: GetAdminAclEntryStatusOutput =
        sim.invoke(&GetAdminAclEntryStatusInput::default(), &admin());
    assert_eq!(st.is_default, Some(false));
    let name: GetAdminAclEntryOutput = sim.invoke(&GetAdminAclEntryInput::default(), &admin());
    assert_eq!(name.username.as_deref(), Some("admin"));
}
