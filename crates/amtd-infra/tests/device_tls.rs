//! `device_tls`: what a console call to a provisioned device is built from. The admin password
//! in force follows an unfinished rotation's step (the old one until the device answered, then
//! the new one, the other as fallback), and the TLS options check the CA root and the FQDN and
//! offer the console certificate. `Debug` shows no password.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[allow(dead_code)]
mod store_support;

use std::time::SystemTime;

use amt_wsman::secret::SecretString;
use amtd_infra::device_tls::{admin_password_versions, device_access, ConsoleTls, DeviceTlsError};
use amtd_infra::store::{DeviceUpsert, NewMaintenanceOp, SecretKind};
use amtd_infra::transport::{CertificateDer, ClientIdentity, PrivateKeyDer, ServerVerification};
use serde_json::json;
use store_support::TestDb;

const UUID: &str = "8086e000-0000-4000-8000-0000000000aa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_in_force_follows_an_unfinished_rotation() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let identity = ClientIdentity::new(
        vec![CertificateDer::from(vec![0x30, 0x00])],
        PrivateKeyDer::Pkcs8(vec![1, 2, 3].into()),
    );
    let tls = ConsoleTls::new(&[0x30, 0x01], Some(identity));

    // Not known, then known but not provisioned: typed errors.
    let e = device_access(&store, &tls, UUID).await.unwrap_err();
    assert!(matches!(e, DeviceTlsError::UnknownDevice { .. }), "{e}");
    let mut up = DeviceUpsert::new(UUID);
    up.state = Some("provisioning".into());
    up.address = Some("127.9.9.9".into());
    up.fqdn = Some("amt9.amt.test".into());
    store.upsert_device(&up).await.unwrap();
    let e = device_access(&store, &tls, UUID).await.unwrap_err();
    assert!(matches!(e, DeviceTlsError::NotProvisioned { .. }), "{e}");
    up.state = Some("provisioned".into());
    store.upsert_device(&up).await.unwrap();
    let e = device_access(&store, &tls, UUID).await.unwrap_err();
    assert!(matches!(e, DeviceTlsError::Missing { .. }), "{e}");

    let old = SecretString::from("Old-Passw0rd!".to_owned());
    let new = SecretString::from("New-Passw0rd!".to_owned());
    assert_eq!(
        store
            .put_secret(UUID, SecretKind::Admin, &old)
            .await
            .unwrap(),
        1
    );
    let a = device_access(&store, &tls, UUID).await.unwrap();
    assert_eq!(a.password.expose(), old.expose());
    assert!(a.fallback_password.is_none());
    assert_eq!(
        (a.address.as_str(), a.fqdn.as_str(), a.port),
        ("127.9.9.9", "amt9.amt.test", 16993)
    );
    match &a.tls.verification {
        ServerVerification::RootCerts(roots) => assert_eq!(roots.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.tls.server_name.as_deref(), Some("amt9.amt.test"));
    assert!(
        a.tls.client_identity.is_some(),
        "the console certificate is offered"
    );

    // A rotation stored its new version and is about to send it: the old one is in force.
    let op = store
        .start_maintenance(&NewMaintenanceOp {
            device_uuid: UUID.into(),
            task: "rotate-admin-password".into(),
            phase: "storing-new-password".into(),
            payload: json!({ "old_version": 1 }),
            at: SystemTime::now(),
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .put_secret(UUID, SecretKind::Admin, &new)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        admin_password_versions(&store, UUID).await.unwrap(),
        Some((1, None))
    );
    let payload = json!({ "old_version": 1, "new_version": 2 });
    store
        .update_maintenance(&op, "sending-new-password", &payload, SystemTime::now())
        .await
        .unwrap();
    let a = device_access(&store, &tls, UUID).await.unwrap();
    assert_eq!(a.password.expose(), old.expose());
    assert_eq!(a.fallback_password.as_ref().unwrap().expose(), new.expose());

    // The device answered: the new one first, the old one as fallback.
    store
        .update_maintenance(&op, "verifying-new-password", &payload, SystemTime::now())
        .await
        .unwrap();
    let a = device_access(&store, &tls, UUID).await.unwrap();
    assert_eq!(a.password.expose(), new.expose());
    assert_eq!(a.fallback_password.as_ref().unwrap().expose(), old.expose());
    let shown = format!("{a:?}");
    assert!(
        !shown.contains("Passw0rd") && !shown.contains("[1, 2, 3]"),
        "{shown}"
    );

    // Settled: the newest version, no fallback.
    store
        .finish_maintenance(&op, "rotated", None, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        admin_password_versions(&store, UUID).await.unwrap(),
        Some((2, None))
    );
    let a = device_access(&store, &tls, UUID).await.unwrap();
    assert_eq!(a.password.expose(), new.expose());
    assert!(a.fallback_password.is_none());

    // Pinned options: exactly that certificate, the console certificate still offered.
    let pinned = tls.pinned(&[0x30, 0x02]);
    assert!(matches!(
        pinned.verification,
        ServerVerification::PinnedSha256(_)
    ));
    assert!(pinned.client_identity.is_some());
}
