//! Shared by the provisioning tests: a simulated device driven through XML with a virtual
//! clock and seeded randomness, and the console side's in-test PKI (amt-pki).
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use std::str::FromStr;
pub use std::sync::OnceLock;
pub use std::time::{Duration, SystemTime};

pub use amt_emulator::firmware::{Caller, Channel, Env, Firmware, FirmwareEvent};
pub use amt_emulator::persona;
pub use amt_emulator::state::{DeviceConfig, DeviceState, Phase};
pub use amt_pki::{CaSettings, EmbeddedCa, LeafRequest, RsaKey, SetupMarker, VerifiedCsr};
pub use amt_wsman::classes::amt::*;
pub use amt_wsman::classes::cim::{PowerState, RequestPowerStateChangeInput};
pub use amt_wsman::classes::ips::*;
pub use amt_wsman::classes::{MethodInput, MethodOutput, Typed, WsmanClass};
pub use amt_wsman::fault::Subcode;
pub use amt_wsman::{Instance, Item, Request, Response, ResponseBody, SelectorSet};
pub use base64::Engine as _;
pub use chacha20::ChaCha20Rng;
pub use der::asn1::{Any, BitString};
pub use der::{Decode, Encode};
pub use rand_core::{Rng, SeedableRng};
pub use rsa::pkcs1::DecodeRsaPublicKey;
pub use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
pub use rsa::Pkcs1v15Sign;
pub use sha2::{Digest, Sha256};
pub use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
pub use x509_cert::name::Name;
pub use x509_cert::request::{CertReq, CertReqInfo, Version};

pub const NOW: u64 = 1_750_000_000;
pub const DOMAIN: &str = "amt.test";
pub const UUID: &str = "4c4c4544-0033-3110-8052-b3c04f4b4d32";
pub const ADMIN_PW: &str = "Adm1n!Passw0rd";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .expect("base64 from the device")
}

pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// The console side's PKI, made once per test binary (RSA key generation is slow unoptimised):
/// one key serves as root, issuing CA and provisioning leaf key.
pub struct Pki {
    pub ca: EmbeddedCa,
    pub key: RsaKey,
    /// Provisioning chain: leaf, issuing CA, root.
    pub chain: Vec<Vec<u8>>,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut r = rng(1);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        let key = RsaKey::generate(&mut r, 2048).expect("key");
        let (ca, _) = EmbeddedCa::create_with_keys(
            CaSettings::default(),
            key.clone(),
            key.clone(),
            &mut r,
            now,
        )
        .expect("CA");
        let leaf = ca
            .issue(
                &LeafRequest::Provisioning {
                    fqdn: "prov.amt.test",
                    marker: SetupMarker::Oid,
                },
                key.public_key_info().expect("spki"),
                &mut r,
                now,
            )
            .expect("provisioning certificate");
        let chain = vec![
            leaf.cert.der().to_vec(),
            ca.issuing().cert().der().to_vec(),
            ca.root().cert().der().to_vec(),
        ];
        Pki { ca, key, chain }
    })
}

/// A leaf certificate from the in-test CA for `request`, with the shared key.
pub fn leaf_cert(request: &LeafRequest<'_>) -> Vec<u8> {
    let p = pki();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    let spki = p.key.public_key_info().expect("spki");
    p.ca.issue(request, spki, &mut rng(9), now)
        .expect("leaf")
        .cert
        .der()
        .to_vec()
}

pub fn sign_sha256(key: &RsaKey, data: &[u8]) -> Vec<u8> {
    let der = key.to_pkcs8_der().expect("pkcs8");
    let k = rsa::PrivateKey::from_pkcs8_der(&der).expect("key");
    k.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
        .expect("sign")
}

/// One emulated device and a console talking to it through XML.
pub struct Sim {
    pub fw: Firmware,
    pub rng: ChaCha20Rng,
    pub now: u64,
    pub msg: u64,
}

pub fn admin_tls() -> Caller {
    Caller {
        user: "admin".into(),
        channel: Channel::TlsProvisioning {
            cn: "prov.amt.test".into(),
        },
    }
}

pub fn admin() -> Caller {
    Caller {
        user: "admin".into(),
        channel: Channel::Plain,
    }
}

pub fn user(name: &str) -> Caller {
    Caller {
        user: name.into(),
        channel: Channel::Tls,
    }
}

impl Sim {
    pub fn new(trust_test_root: bool) -> Sim {
        let config = DeviceConfig {
            uuid: UUID.into(),
            hostname: "amtdev01".into(),
            domain: DOMAIN.into(),
            mac: "00:16:3e:00:00:01".into(),
            persona: "amt16".into(),
            provisioning_server: None,
            extra_root_hashes: if trust_test_root {
                vec![sha256_hex(&pki().chain[2])]
            } else {
                vec![]
            },
        };
        let state = DeviceState::new(config, [0x5A; 16]);
        let persona = persona::by_name("amt16").expect("persona");
        Sim {
            fw: Firmware::new(state, persona),
            rng: rng(3),
            now: NOW,
            msg: 0,
        }
    }

    /// Sends a request as XML, returns the parsed XML response.
    pub fn send(&mut self, req: Request, caller: &Caller) -> Response {
        self.now += 1;
        let req = Request::parse(req.to_xml().as_bytes()).expect("request XML");
        let rng = &mut self.rng;
        let mut fill = |b: &mut [u8]| rng.fill_bytes(b);
        let mut env = Env {
            now: self.now,
            random: &mut fill,
        };
        let resp = self.fw.handle(&req, caller, &mut env);
        Response::parse(resp.to_xml().as_bytes()).expect("response XML")
    }

    pub fn id(&mut self) -> u64 {
        self.msg += 1;
        self.msg
    }

    /// Invokes a method and decodes its output; panics on a fault.
    pub fn invoke<I: MethodInput, O: MethodOutput>(&mut self, input: &I, caller: &Caller) -> O {
        let id = self.id();
        match self
            .send(input.request(id, SelectorSet::new()), caller)
            .body
        {
            ResponseBody::Invoke { method, output } => {
                assert_eq!(method, I::METHOD);
                O::from_instance(&output).expect("typed output")
            }
            other => panic!("{}: expected an output, got {other:?}", I::METHOD),
        }
    }

    pub fn get<C: WsmanClass>(&mut self, selectors: SelectorSet, caller: &Caller) -> C {
        let id = self.id();
        match self.send(C::get(id, selectors), caller).body {
            ResponseBody::Get(i) => C::from_instance(&i).expect("typed instance"),
            other => panic!("Get {}: {other:?}", C::CLASS),
        }
    }

    pub fn enumerate<C: WsmanClass>(&mut self, caller: &Caller) -> Vec<C> {
        let id = self.id();
        let ctx = match self.send(C::enumerate(id), caller).body {
            ResponseBody::Enumerate {
                context: Some(c), ..
            } => c,
            other => panic!("Enumerate {}: {other:?}", C::CLASS),
        };
        let id = self.id();
        match self.send(C::pull(id, &ctx), caller).body {
            ResponseBody::Pull { items, .. } => items
                .iter()
                .map(|it| match it {
                    Item::Instance(i) => C::from_instance(i).expect("typed item"),
                    other => panic!("unexpected item {other:?}"),
                })
                .collect(),
            other => panic!("Pull {}: {other:?}", C::CLASS),
        }
    }

    pub fn fault(&mut self, req: Request, caller: &Caller) -> Subcode {
        match self.send(req, caller).body {
            ResponseBody::Fault(f) => f.subcode.expect("subcode"),
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    pub fn realm(&mut self) -> String {
        self.get::<AmtGeneralSettings>(SelectorSet::new(), &admin_tls())
            .digest_realm
            .expect("realm")
    }

    /// Activates in Client Control Mode with `ADMIN_PW`.
    pub fn activate_ccm(&mut self) {
        let realm = self.realm();
        let out: SetupOutput = self.invoke(
            &SetupInput {
                net_admin_pass_encryption_type: Some(AdminPassEncryptionType::HttpDigestMd5A1),
                network_admin_password: Some(amt_wsman::password::setup_password_hash_hex(
                    &realm, ADMIN_PW,
                )),
                ..Default::default()
            },
            &admin(),
        );
        assert_eq!(out.return_value, Some(HostBasedSetupReturn::Success));
    }

    pub fn add_chain_cert(
        &mut self,
        der: &[u8],
        leaf: bool,
        root: bool,
    ) -> AddNextCertInChainReturn {
        let out: AddNextCertInChainOutput =
            self.invoke(&AddNextCertInChainInput::new(der, leaf, root), &admin());
        out.return_value.expect("return value")
    }

    pub fn add_provisioning_chain(&mut self) {
        let chain = pki().chain.clone();
        assert_eq!(
            self.add_chain_cert(&chain[0], true, false),
            AddNextCertInChainReturn::Success
        );
        assert_eq!(
            self.add_chain_cert(&chain[1], false, false),
            AddNextCertInChainReturn::Success
        );
        assert_eq!(
            self.add_chain_cert(&chain[2], false, true),
            AddNextCertInChainReturn::Success
        );
    }

    pub fn hbs(&mut self) -> IpsHostBasedSetupService {
        self.get(SelectorSet::new(), &admin())
    }

    pub fn add_user(&mut self, input: &AddUserAclEntryExInput) -> AddUserAclEntryExOutput {
        self.invoke(input, &admin())
    }
}

pub fn admin_ha1(realm: &str) -> [u8; 16] {
    amt_wsman::digest::ha1("admin", realm, ADMIN_PW)
}

/// A 2048-bit RSA public key (PKCS#1) that is not the test PKI's: the `DERKey` of the recorded
/// device (`amt/publicprivate/get.xml`).
pub const FOREIGN_KEY: &str = "MIIBCgKCAQEA4y00wezZ1XwsSITMvqeYf61tgfVhlGbBVwq9Au0BaEgofPFCLuWMnKaTnMhUlJEGaeB2y6F8qjId0xMwLtNY6XWhmMoCP0R+ymgClT0treqtYp2zL1QPK1R04KTgF0KZh247oQpPGnB2nIe7PKCjPaY8BfOyBC6eNLeWUVIOA5TLL0gSTuk8y3iaadKo+LoWBaH/WDrIJ21Dzn6yU3zGueA8tphPH7yXaOJuNiijOUYZjVT7J0Ia8qMxUv1CrbfL2+N0lrcCG/E4f0QF1XgoCJnwIHdYaNhWzKVhfh2TTZIxJo8bXngckNOLzdYM35hUq98CxPiMSO8+G7J8RZaobQIDAQAB";

/// A PKCS#10 request for `spki` with a dummy signature, as consoles send it.
pub fn null_signed_csr(device_pkcs1: &[u8], cn: &str) -> Vec<u8> {
    let public = rsa::PublicKey::from_pkcs1_der(device_pkcs1).expect("DERKey");
    let spki_der = public.to_public_key_der().expect("spki");
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::from_str(&format!("CN={cn}")).expect("name"),
        public_key: SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).expect("spki"),
        attributes: Default::default(),
    };
    CertReq {
        info,
        algorithm: AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: BitString::from_bytes(&[0u8; 256]).expect("bits"),
    }
    .to_der()
    .expect("csr")
}

/// Property names of the first instance in a recorded response (Get, method output, or the
/// first Pull item).
pub fn fixture_names(path: &str) -> Option<Vec<String>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/wsman-responses");
    let Ok(bytes) = std::fs::read(root.join(path)) else {
        eprintln!("skipping: fixture {path} not found (../shared/fixtures is absent)");
        return None;
    };
    let r = Response::parse(&bytes).expect("fixture parses");
    Some(names(&match r.body {
        ResponseBody::Get(i) => i,
        ResponseBody::Invoke { output, .. } => output,
        ResponseBody::Pull { items, .. } => match items.into_iter().next() {
            Some(Item::Instance(i)) => i,
            other => panic!("{path}: {other:?}"),
        },
        other => panic!("{path}: {other:?}"),
    }))
}

pub fn names(i: &Instance) -> Vec<String> {
    i.properties.iter().map(|p| p.name.clone()).collect()
}
