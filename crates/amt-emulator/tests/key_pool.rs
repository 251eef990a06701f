//! The key pool seen from the firmware and the network front: `GenerateKeyPair` takes a
//! ready-made key from the device's key source (once; never the TLS identity's), falls back to
//! inline generation when the source is empty or hands out junk, and the key it stored still
//! signs a PKCS#10 request that verifies. The pool itself (distinct, valid, bounded, never
//! blocking) is tested in `src/keypool.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod provisioning_support;
use provisioning_support::*;

use std::sync::{Arc, Mutex};

use amt_emulator::firmware::certs::KeySource;
use amt_emulator::net::tls;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::EncodePrivateKey;

/// A scripted source: hands out its keys in order, then `None`; counts the takes.
struct Scripted {
    keys: Mutex<Vec<Vec<u8>>>,
    takes: Mutex<usize>,
}

impl Scripted {
    fn new(keys: Vec<Vec<u8>>) -> Arc<Scripted> {
        let mut keys = keys;
        keys.reverse();
        Arc::new(Scripted {
            keys: Mutex::new(keys),
            takes: Mutex::new(0),
        })
    }
}

impl KeySource for Scripted {
    fn take_key(&self) -> Option<Vec<u8>> {
        *self.takes.lock().unwrap() += 1;
        self.keys.lock().unwrap().pop()
    }
}

fn pkcs8_key(seed: u8) -> (Vec<u8>, Vec<u8>) {
    let key = rsa::PrivateKey::new(&mut rng(seed), 2048).expect("key");
    let pkcs8 = key.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec();
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .expect("pkcs1")
        .into_vec();
    (pkcs8, public)
}

/// GenerateKeyPair, then the key's `DERKey`.
fn generate(sim: &mut Sim, c: &Caller) -> (String, Vec<u8>) {
    let kp: GenerateKeyPairOutput = sim.invoke(&GenerateKeyPairInput::rsa_2048(), c);
    assert_eq!(kp.return_value, Some(PtStatus::Success));
    let key_id = kp
        .key_pair
        .as_ref()
        .and_then(|e| e.selectors.get("InstanceID"))
        .expect("KeyPair InstanceID")
        .to_owned();
    let got: AmtPublicPrivateKeyPair = sim.get(SelectorSet::one("InstanceID", &key_id), c);
    let der = got.public_key_der().expect("b64").expect("DERKey");
    (key_id, der)
}

/// The device signs a CSR with the key; the signature verifies and names that key.
fn csr_verifies(sim: &mut Sim, c: &Caller, key_id: &str, der_key: &[u8]) {
    let out: GeneratePkcs10RequestExOutput = sim.invoke(
        &GeneratePkcs10RequestExInput {
            key_pair: Some(key_pair_reference(key_id)),
            signing_algorithm: Some(CsrSigningAlgorithm::Sha256Rsa),
            null_signed_certificate_request: Some(b64(&null_signed_csr(
                der_key,
                "amtdev01.amt.test",
            ))),
            ..Default::default()
        },
        c,
    );
    assert_eq!(out.return_value, Some(PtStatus::Success));
    let csr = VerifiedCsr::from_der(&out.request_der().expect("b64").expect("csr"))
        .expect("the device's signature verifies");
    let csr_key =
        rsa::PublicKey::from_public_key_der(&csr.public_key().to_der().expect("der")).expect("rsa");
    assert_eq!(
        csr_key,
        rsa::PublicKey::from_pkcs1_der(der_key).expect("rsa")
    );
}

#[test]
fn generate_key_pair_takes_pooled_keys_once_then_falls_back_inline() {
    let mut sim = Sim::new(false);
    let c = admin_tls();
    let (k1, pub1) = pkcs8_key(41);
    let (k2, pub2) = pkcs8_key(42);
    let source = Scripted::new(vec![k1, k2]);
    sim.fw
        .set_key_source(Some(Arc::clone(&source) as Arc<dyn KeySource>));

    let (id1, der1) = generate(&mut sim, &c);
    assert_eq!(
        der1, pub1,
        "first GenerateKeyPair uses the first pooled key"
    );
    csr_verifies(&mut sim, &c, &id1, &der1);
    let (id2, der2) = generate(&mut sim, &c);
    assert_eq!(
        der2, pub2,
        "second GenerateKeyPair uses the next key, not the first again"
    );
    csr_verifies(&mut sim, &c, &id2, &der2);
    // Source empty: inline generation, a third distinct key.
    let (id3, der3) = generate(&mut sim, &c);
    assert!(der3 != der1 && der3 != der2);
    csr_verifies(&mut sim, &c, &id3, &der3);
    assert_eq!(
        *source.takes.lock().unwrap(),
        3,
        "one take per GenerateKeyPair"
    );
    assert!(source.keys.lock().unwrap().is_empty());
}

#[test]
fn unusable_pooled_material_is_replaced_inline() {
    let mut sim = Sim::new(false);
    let c = admin_tls();
    let source = Scripted::new(vec![b"not a key".to_vec()]);
    sim.fw
        .set_key_source(Some(Arc::clone(&source) as Arc<dyn KeySource>));
    let (id, der) = generate(&mut sim, &c);
    csr_verifies(&mut sim, &c, &id, &der);
    assert_eq!(*source.takes.lock().unwrap(), 1);
}

#[test]
fn setup_identity_uses_the_given_key_else_a_fresh_one() {
    let config = DeviceConfig {
        uuid: UUID.into(),
        hostname: "amtdev01".into(),
        domain: DOMAIN.into(),
        mac: "00:16:3e:00:00:01".into(),
        persona: "amt16".into(),
        provisioning_server: None,
        extra_root_hashes: vec![],
    };
    let (k1, _) = pkcs8_key(43);
    let with = tls::generate_setup_identity_with_key(&config, Some(k1.clone())).expect("identity");
    assert_eq!(with.key_pkcs8, k1);
    let junk =
        tls::generate_setup_identity_with_key(&config, Some(b"junk".to_vec())).expect("identity");
    assert_ne!(junk.key_pkcs8, b"junk".to_vec());
    assert!(RsaKey::from_pkcs8_der(&junk.key_pkcs8).is_ok_and(|k| k.bits() == 2048));
    // The certificate carries the key's public half.
    let cert = x509_cert::Certificate::from_der(&with.chain[0]).expect("certificate");
    let key = RsaKey::from_pkcs8_der(&k1).expect("key");
    assert!(key.matches(&cert.tbs_certificate().subject_public_key_info().clone()));
}

mod net_support;

/// A fleet started with a pre-filled pool: the setup-mode TLS identity takes a pooled key (and
/// only one), and the device's `GenerateKeyPair` would take another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefilled_fleet_pool_serves_the_setup_identity() {
    let mut options = net_support::options();
    options.key_pool.capacity = 2;
    options.key_pool.threads = 2;
    options.key_pool.prefill = true;
    let fleet = net_support::start(1, Default::default(), options).await;
    let pool = fleet.context().key_pool.clone().expect("pool on");
    let before = pool.stats();
    assert_eq!(before.ready, 2, "Fleet::start waited for the fill");
    let dev = fleet.device(0).expect("device");
    let identity = dev.setup_identity().await.expect("identity");
    let again = dev.setup_identity().await.expect("identity");
    assert_eq!(identity, again, "one identity per device");
    let after = pool.stats();
    assert_eq!(
        after.taken,
        before.taken + 1,
        "one key taken for the identity"
    );
    assert_eq!(after.misses, 0);
    assert!(RsaKey::from_pkcs8_der(&identity.key_pkcs8).is_ok_and(|k| k.bits() == 2048));
    fleet.shutdown();
}

#[test]
fn key_pool_is_on_by_default_and_can_be_turned_off() {
    let options = amt_emulator::net::NetOptions::default();
    assert!(options.key_pool.enabled);
    assert!(options.key_pool.capacity > 0);
    assert!(
        amt_emulator::keypool::KeyPool::start(&amt_emulator::keypool::PoolOptions {
            enabled: false,
            ..options.key_pool
        })
        .is_none()
    );
}
